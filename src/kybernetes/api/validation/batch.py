"""Validation of batch/v1: Job and CronJob, including a standard 5-field cron parser.

The cron check follows the standard parser Kubernetes uses (5 fields, names for months and weekdays,
`*`, ranges, steps, lists, `?`, and the `@hourly`-style descriptors) and reports its errors in that
parser's words; `is_valid_schedule` is exported for the CronJob controller to share.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from kybernetes.api.validation.pod import validate_pod_template
from kybernetes.api.validation.rules import Obj, Rules, spec_of
from kybernetes.machinery.errors import FieldError, invalid, not_supported, required
from kybernetes.machinery.validation import (
    child,
    selector_is_empty,
    selector_matches,
    validate_immutable,
    validate_label_selector,
    validate_nonnegative,
)

CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _DAYS),
)


def _parse_number(text: str, names: dict[str, int], expr: str) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.lstrip("-").isdigit():
        raise ValueError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if value < 0:
        raise ValueError(f"negative number ({value}) not allowed: {expr}")
    return value


def _check_range(expr: str, lo: int, hi: int, names: dict[str, int], allow_question: bool) -> None:
    range_and_step = expr.split("/")
    if len(range_and_step) > 2:
        raise ValueError(f"too many slashes: {expr}")
    low_and_high = range_and_step[0].split("-")
    if len(low_and_high) > 2:
        raise ValueError(f"too many hyphens: {expr}")
    if low_and_high[0] in ("*", "?"):
        if low_and_high[0] == "?" and not allow_question:
            raise ValueError('failed to parse int from ?: strconv.Atoi: parsing "?": invalid syntax')
        start, end = lo, hi
    else:
        start = _parse_number(low_and_high[0], names, expr)
        end = _parse_number(low_and_high[1], names, expr) if len(low_and_high) == 2 else start
    if len(range_and_step) == 2:
        step = _parse_number(range_and_step[1], {}, expr)
        if step == 0:
            raise ValueError(f"step of range should be a positive number: {expr}")
        if len(low_and_high) == 1 and low_and_high[0] not in ("*", "?"):
            end = hi
    if start < lo:
        raise ValueError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ValueError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")


def schedule_error(schedule: str) -> str | None:
    """None if `schedule` is a valid standard cron schedule, else the parser's message."""
    spec = schedule.strip()
    if spec.startswith("@"):
        if spec in CRON_DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            return None if _valid_go_duration(spec[len("@every "):]) else f"failed to parse duration {spec}"
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    try:
        for i, (text, (lo, hi, names)) in enumerate(zip(fields, _FIELDS, strict=True)):
            for expr in text.split(","):
                _check_range(expr, lo, hi, names, allow_question=i in (2, 4))
    except ValueError as exc:
        return str(exc)
    return None


def _valid_go_duration(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", text.strip()))


def is_valid_schedule(schedule: str) -> bool:
    return schedule_error(schedule) is None


# ---------------------------------------------------------------- Job


def validate_job_spec(spec: dict[str, Any], path: str, *, selector_required: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished",
              "maxFailedIndexes", "backoffLimitPerIndex"):
        errs.extend(validate_nonnegative(spec.get(f), child(path, f)))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        errs.append(not_supported(child(path, "completionMode"), mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed" and spec.get("completions") is None:
        errs.append(required(child(path, "completions"), "when completion mode is Indexed"))
    prp = spec.get("podReplacementPolicy")
    if prp is not None and prp not in ("Failed", "TerminatingOrFailed"):
        errs.append(not_supported(child(path, "podReplacementPolicy"), prp, ["Failed", "TerminatingOrFailed"]))
    selector = spec.get("selector")
    template = spec.get("template")
    if selector is None:
        if selector_required:
            errs.append(required(child(path, "selector")))
    else:
        errs.extend(validate_label_selector(selector, child(path, "selector")))
    if template is None:
        errs.append(required(child(path, "template")))
        return errs
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector is not None and not selector_is_empty(selector) and not selector_matches(selector, labels):
        errs.append(invalid(child(path, "template", "metadata", "labels"), labels,
                            "`selector` does not match template `labels`"))
    errs.extend(validate_pod_template(template, child(path, "template")))
    rp = (template.get("spec") or {}).get("restartPolicy") or ""
    if rp not in ("OnFailure", "Never"):
        errs.append(not_supported(child(path, "template", "spec", "restartPolicy"), rp, ["OnFailure", "Never"]))
    return errs


def _job(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    # Without manualSelector the registry generates the selector from the uid (see defaults.batch).
    return validate_job_spec(spec, "spec", selector_required=spec.get("manualSelector") is True)


def _job_update(new: Obj, old: Obj, version: str) -> list[FieldError]:
    ns, os_ = spec_of(new), spec_of(old)
    errs: list[FieldError] = []
    if os_.get("selector") is not None or ns.get("selector") is not None:
        errs.extend(validate_immutable(ns.get("selector"), os_.get("selector"), "spec.selector"))
    # A suspended job's template may change (Kubernetes allows scheduling directives before it starts).
    if not os_.get("suspend"):
        errs.extend(validate_immutable(ns.get("template"), os_.get("template"), "spec.template"))
    errs.extend(validate_immutable(ns.get("completionMode"), os_.get("completionMode"), "spec.completionMode"))
    if ns.get("completionMode") != "Indexed" or ns.get("completions") != ns.get("parallelism"):
        errs.extend(validate_immutable(ns.get("completions"), os_.get("completions"), "spec.completions"))
    return errs


def _job_status(new: Obj, old: Obj, version: str) -> list[FieldError]:
    status = new.get("status") or {}
    errs: list[FieldError] = []
    for f in ("active", "succeeded", "failed", "ready", "terminating"):
        errs.extend(validate_nonnegative(status.get(f), child("status", f)))
    return errs


# ---------------------------------------------------------------- CronJob


def _cronjob(obj: Obj, version: str) -> list[FieldError]:
    spec = spec_of(obj)
    errs: list[FieldError] = []
    name = (obj.get("metadata") or {}).get("name") or ""
    if len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    schedule = spec.get("schedule") or ""
    if not schedule:
        errs.append(required("spec.schedule"))
    else:
        message = schedule_error(schedule)
        if message:
            errs.append(invalid("spec.schedule", schedule, message))
        if "TZ" in schedule:
            errs.append(invalid("spec.schedule", schedule,
                                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    tz = spec.get("timeZone")
    if tz is not None:
        errs.extend(_validate_time_zone(tz))
    policy = spec.get("concurrencyPolicy")
    if policy is not None and policy not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]))
    for f in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs.extend(validate_nonnegative(spec.get(f), child("spec", f)))
    job_template = spec.get("jobTemplate")
    if job_template is None:
        errs.append(required("spec.jobTemplate"))
    else:
        errs.extend(validate_job_spec(job_template.get("spec") or {}, "spec.jobTemplate.spec", selector_required=False))
    return errs


def _validate_time_zone(tz: str) -> list[FieldError]:
    if tz == "":
        return []
    if tz.lower() == "local" or " " in tz:
        return [invalid("spec.timeZone", tz, "unknown time zone " + tz)]
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return [invalid("spec.timeZone", tz, "unknown time zone " + tz)]
    return []


RULES: dict[str, Rules] = {
    "Job": Rules(body=_job, update=_job_update, status=_job_status),
    "CronJob": Rules(body=_cronjob),
}
