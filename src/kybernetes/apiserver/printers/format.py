"""Cell formatting shared by the printers: ages, timestamps, label sets, selectors, container lists.

Every function takes wire-form values (camelCase JSON dicts, RFC 3339 strings) and returns exactly the text
the Kubernetes API server puts into a table cell, so that kubectl prints the same thing against either server.
Absent or malformed input never raises: a printer must still produce a row for a half-written object.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from kybernetes.apiserver.printers.descriptions import DESCRIPTIONS
from kybernetes.machinery.quantity import canonical
from kybernetes.machinery.timefmt import human_duration, parse_rfc3339

UNKNOWN = "<unknown>"
NONE = "<none>"
UNSET = "<unset>"

Obj = Mapping[str, Any]


def doc(key: str) -> str:
    """The API documentation text for `key` ("core.v1.PodStatus.podIP"), or "" if it is not known."""
    return DESCRIPTIONS.get(key, "")


def parse_time(value: object) -> datetime.datetime | None:
    """An RFC 3339 timestamp (with or without fractional seconds) as an aware datetime; None if absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def since(value: object, now: datetime.datetime) -> str:
    """Human age of a timestamp relative to `now`; "<unknown>" when the timestamp is absent."""
    then = parse_time(value)
    if then is None:
        return UNKNOWN
    return human_duration((now - then).total_seconds())


def between(start: datetime.datetime, end: datetime.datetime) -> str:
    return human_duration((end - start).total_seconds())


def rfc3339(value: object) -> str:
    """A timestamp re-rendered in UTC with second precision, as Go's time.RFC3339 prints it."""
    parsed = parse_time(value)
    if parsed is None:
        return "0001-01-01T00:00:00Z"  # Go's zero time.Time, which is what an unset timestamp prints as
    return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: Obj) -> Obj:
    return _mapping(obj.get("metadata"))


def spec(obj: Obj) -> Obj:
    return _mapping(obj.get("spec"))


def status(obj: Obj) -> Obj:
    return _mapping(obj.get("status"))


def sub(obj: object, *path: str) -> Obj:
    """The mapping at `path` below `obj`, or an empty mapping if any step is absent."""
    current: object = obj
    for key in path:
        current = current.get(key) if isinstance(current, Mapping) else None
    return _mapping(current)


def items(value: object) -> list[Obj]:
    """The mappings in a list field, skipping anything that is not a mapping."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def num(value: object, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def name(obj: Obj) -> str:
    return text(meta(obj).get("name"))


def age(obj: Obj, now: datetime.datetime) -> str:
    return since(meta(obj).get("creationTimestamp"), now)


def format_labels(labels: object) -> str:
    """A label map as "a=1,b=2" sorted by key, or "<none>"; Go's labels.FormatLabels."""
    mapping = _mapping(labels)
    if not mapping:
        return NONE
    return ",".join(f"{key}={mapping[key]}" for key in sorted(mapping))


def selector_string(selector: object) -> str:
    """A metav1.LabelSelector in selector syntax ("app=web,tier in (a,b),!legacy"); "" if it selects all."""
    requirements: list[tuple[str, str]] = []
    mapping = _mapping(selector)
    for key, value in _mapping(mapping.get("matchLabels")).items():
        requirements.append((key, f"{key}={value}"))
    for expr in items(mapping.get("matchExpressions")):
        key = text(expr.get("key"))
        values = ",".join(sorted(v for v in expr.get("values") or [] if isinstance(v, str)))
        operator = expr.get("operator")
        if operator == "In":
            requirements.append((key, f"{key} in ({values})"))
        elif operator == "NotIn":
            requirements.append((key, f"{key} notin ({values})"))
        elif operator == "Exists":
            requirements.append((key, key))
        elif operator == "DoesNotExist":
            requirements.append((key, f"!{key}"))
    requirements.sort(key=lambda pair: pair[0])
    return ",".join(rendered for _, rendered in requirements)


def format_selector(selector: object) -> str:
    """Like selector_string, but "<none>" for an empty or absent selector; Go's metav1.FormatLabelSelector."""
    return selector_string(selector) or NONE


def containers_and_images(containers: object) -> tuple[str, str]:
    """Comma-joined container names and images, as the CONTAINERS and IMAGES wide columns show them."""
    listed = items(containers)
    return (
        ",".join(text(c.get("name")) for c in listed),
        ",".join(text(c.get("image")) for c in listed),
    )


def quantity(value: object, *, absent: str = "0") -> str:
    """A resource quantity in Kubernetes' canonical form ("1000m" prints as "1", "1024Mi" as "1Gi").

    `absent` is what the server prints for a missing one: "0" for a zero value, "<nil>" for a nil pointer.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        return absent
    try:
        return canonical(value)
    except ValueError:
        return str(value)


def int_or_string(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | str):
        return str(value)
    return ""


def join_host_port(host: str, port: int) -> str:
    """host:port, with brackets around IPv6 hosts (Go's net.JoinHostPort)."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def list_with_more(values: Iterable[str], *, limit: int = 3, empty: str = UNSET) -> str:
    """The first `limit` values joined with commas, then " + N more..." for the rest."""
    listed = list(values)
    shown = ",".join(listed[:limit])
    if len(listed) > limit:
        return f"{shown} + {len(listed) - limit} more..."
    return shown or empty


def bool_text(value: object) -> str:
    """A *bool as the server prints it into a string cell: "True", "False" or "<unset>"."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return UNSET


def _mapping(value: object) -> Obj:
    return value if isinstance(value, Mapping) else {}
