"""Printers for workload controllers: apps (deployments, replica sets, stateful sets, daemon sets, controller
revisions), batch (jobs, cron jobs), autoscaling (horizontal pod autoscalers) and policy (disruption budgets).

Replica counts come from spec (desired, defaulting to 1 as the API does) and status (observed); the wide
columns list the pod template's containers, images and the selector.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from kybernetes.apiserver.printers.format import (
    NONE,
    UNKNOWN,
    Obj,
    age,
    between,
    bool_text,
    containers_and_images,
    doc,
    format_labels,
    format_selector,
    int_or_string,
    items,
    meta,
    name,
    num,
    parse_time,
    quantity,
    selector_string,
    since,
    spec,
    status,
    sub,
    text,
)
from kybernetes.apiserver.printers.model import (
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    NAME_COLUMN,
    Cell,
    Column,
    Printer,
)

Wire = Mapping[str, Any]


def _template_containers(obj: Wire) -> tuple[str, str]:
    return containers_and_images(sub(obj, "spec", "template", "spec").get("containers"))


# --- apps ---------------------------------------------------------------------------------------------------


def _deployment_cells(deployment: Wire, now: datetime.datetime) -> list[Cell]:
    dep_spec, dep_status = spec(deployment), status(deployment)
    names, images = _template_containers(deployment)
    return [
        name(deployment),
        f"{num(dep_status.get('readyReplicas'))}/{num(dep_spec.get('replicas'), 1)}",
        num(dep_status.get("updatedReplicas")),
        num(dep_status.get("availableReplicas")),
        age(deployment, now),
        names,
        images,
        # Unlike the other workloads, the deployment printer does not turn an empty selector into "<none>".
        selector_string(dep_spec.get("selector")),
    ]


DEPLOYMENT = Printer(
    columns=(
        NAME_COLUMN,
        Column("Ready", description="Number of the pod with ready state"),
        Column("Up-to-date", description=doc("apps.v1.DeploymentStatus.updatedReplicas")),
        Column("Available", description=doc("apps.v1.DeploymentStatus.availableReplicas")),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        Column("Selector", description=doc("apps.v1.DeploymentSpec.selector"), priority=1),
    ),
    cells=_deployment_cells,
)


def _replica_set_cells(rs: Wire, now: datetime.datetime) -> list[Cell]:
    names, images = _template_containers(rs)
    return [
        name(rs),
        num(spec(rs).get("replicas"), 1),
        num(status(rs).get("replicas")),
        num(status(rs).get("readyReplicas")),
        age(rs, now),
        names,
        images,
        format_selector(spec(rs).get("selector")),
    ]


REPLICA_SET = Printer(
    columns=(
        NAME_COLUMN,
        Column("Desired", "integer", doc("apps.v1.ReplicaSetSpec.replicas")),
        Column("Current", "integer", doc("apps.v1.ReplicaSetStatus.replicas")),
        Column("Ready", "integer", doc("apps.v1.ReplicaSetStatus.readyReplicas")),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        Column("Selector", description=doc("apps.v1.ReplicaSetSpec.selector"), priority=1),
    ),
    cells=_replica_set_cells,
)


def _stateful_set_cells(sts: Wire, now: datetime.datetime) -> list[Cell]:
    names, images = _template_containers(sts)
    ready = f"{num(status(sts).get('readyReplicas'))}/{num(spec(sts).get('replicas'), 1)}"
    return [name(sts), ready, age(sts, now), names, images]


STATEFUL_SET = Printer(
    columns=(
        NAME_COLUMN,
        Column("Ready", description="Number of the pod with ready state"),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
    ),
    cells=_stateful_set_cells,
)


def _daemon_set_cells(ds: Wire, now: datetime.datetime) -> list[Cell]:
    ds_status = status(ds)
    names, images = _template_containers(ds)
    return [
        name(ds),
        num(ds_status.get("desiredNumberScheduled")),
        num(ds_status.get("currentNumberScheduled")),
        num(ds_status.get("numberReady")),
        num(ds_status.get("updatedNumberScheduled")),
        num(ds_status.get("numberAvailable")),
        format_labels(sub(ds, "spec", "template", "spec").get("nodeSelector")),
        age(ds, now),
        names,
        images,
        format_selector(spec(ds).get("selector")),
    ]


DAEMON_SET = Printer(
    columns=(
        NAME_COLUMN,
        Column("Desired", "integer", doc("apps.v1.DaemonSetStatus.desiredNumberScheduled")),
        Column("Current", "integer", doc("apps.v1.DaemonSetStatus.currentNumberScheduled")),
        Column("Ready", "integer", doc("apps.v1.DaemonSetStatus.numberReady")),
        Column("Up-to-date", "integer", doc("apps.v1.DaemonSetStatus.updatedNumberScheduled")),
        Column("Available", "integer", doc("apps.v1.DaemonSetStatus.numberAvailable")),
        Column("Node Selector", description=doc("core.v1.PodSpec.nodeSelector")),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        Column("Selector", description=doc("apps.v1.DaemonSetSpec.selector"), priority=1),
    ),
    cells=_daemon_set_cells,
)


def controller_name(obj: Wire) -> str:
    """The controlling owner as "kind.group/name" in lower case ("statefulset.apps/web"), or "<none>"."""
    for ref in items(meta(obj).get("ownerReferences")):
        if ref.get("controller") is not True:
            continue
        api_version = text(ref.get("apiVersion"))
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        kind = text(ref.get("kind"))
        group_kind = f"{kind}.{group}" if group else kind
        if not group_kind:
            return text(ref.get("name"))
        return f"{group_kind.lower()}/{text(ref.get('name'))}"
    return NONE


CONTROLLER_REVISION = Printer(
    columns=(
        NAME_COLUMN,
        Column("Controller", description="Controller of the object"),
        Column("Revision", description=doc("apps.v1.ControllerRevision.revision")),
        AGE_COLUMN,
    ),
    cells=lambda obj, now: [name(obj), controller_name(obj), num(obj.get("revision")), age(obj, now)],
)

# --- batch --------------------------------------------------------------------------------------------------


def _job_condition(job: Wire, condition_type: str) -> bool:
    for condition in items(status(job).get("conditions")):
        if condition.get("type") == condition_type:
            return condition.get("status") == "True"
    return False


def job_status(job: Wire) -> str:
    """The STATUS cell: terminal conditions first, then deletion, then the transient conditions."""
    if _job_condition(job, "Complete"):
        return "Complete"
    if _job_condition(job, "Failed"):
        return "Failed"
    if meta(job).get("deletionTimestamp") is not None:
        return "Terminating"
    for condition_type in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _job_condition(job, condition_type):
            return condition_type
    return "Running"


def _job_cells(job: Wire, now: datetime.datetime) -> list[Cell]:
    job_spec, job_status_ = spec(job), status(job)
    succeeded = num(job_status_.get("succeeded"))
    completions = job_spec.get("completions")
    if isinstance(completions, int) and not isinstance(completions, bool):
        progress = f"{succeeded}/{completions}"
    elif num(job_spec.get("parallelism")) > 1:
        progress = f"{succeeded}/1 of {num(job_spec.get('parallelism'))}"
    else:
        progress = f"{succeeded}/1"
    started = parse_time(job_status_.get("startTime"))
    finished = parse_time(job_status_.get("completionTime"))
    duration = ""
    if started is not None:
        duration = between(started, finished if finished is not None else now)
    names, images = _template_containers(job)
    return [
        name(job),
        job_status(job),
        progress,
        duration,
        age(job, now),
        names,
        images,
        format_selector(job_spec.get("selector")),
    ]


JOB = Printer(
    columns=(
        NAME_COLUMN,
        Column("Status", description="Status of the job."),
        Column("Completions", description=doc("batch.v1.JobStatus.succeeded")),
        Column("Duration", description="Time required to complete the job."),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        Column("Selector", description=doc("batch.v1.JobSpec.selector"), priority=1),
    ),
    cells=_job_cells,
)


def _cron_job_cells(cron: Wire, now: datetime.datetime) -> list[Cell]:
    cron_spec = spec(cron)
    last = status(cron).get("lastScheduleTime")
    job_spec = sub(cron_spec, "jobTemplate", "spec")
    names, images = containers_and_images(sub(job_spec, "template", "spec").get("containers"))
    return [
        name(cron),
        text(cron_spec.get("schedule")),
        text(cron_spec.get("timeZone")) or NONE,
        bool_text(cron_spec.get("suspend")),
        len(items(status(cron).get("active"))),
        since(last, now) if last else NONE,
        age(cron, now),
        names,
        images,
        format_selector(job_spec.get("selector")),
    ]


CRON_JOB = Printer(
    columns=(
        NAME_COLUMN,
        Column("Schedule", description=doc("batch.v1.CronJobSpec.schedule")),
        Column("Timezone", description=doc("batch.v1.CronJobSpec.timeZone")),
        Column("Suspend", "boolean", doc("batch.v1.CronJobSpec.suspend")),
        Column("Active", "integer", doc("batch.v1.CronJobStatus.active")),
        Column("Last Schedule", description=doc("batch.v1.CronJobStatus.lastScheduleTime")),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        Column("Selector", description=doc("batch.v1.JobSpec.selector"), priority=1),
    ),
    cells=_cron_job_cells,
)

# --- autoscaling --------------------------------------------------------------------------------------------

DEFAULT_CPU_UTILIZATION = 80  # what the API fills in for an autoscaler created without any metric


def _hpa_metrics(hpa: Wire) -> tuple[list[Obj], list[Obj]]:
    """Spec metrics and current metric statuses in the autoscaling/v2 shape, whatever version `hpa` is in."""
    if text(hpa.get("apiVersion")) == "autoscaling/v1":
        target = spec(hpa).get("targetCPUUtilizationPercentage")
        target_pct = num(target, DEFAULT_CPU_UTILIZATION)
        specs: list[Obj] = [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": target_pct}}}
        ]
        current = status(hpa).get("currentCPUUtilizationPercentage")
        statuses: list[Obj] = []
        if isinstance(current, int):
            cpu = {"name": "cpu", "current": {"averageUtilization": current}}
            statuses = [{"type": "Resource", "resource": cpu}]
        return specs, statuses
    specs = items(spec(hpa).get("metrics"))
    if not specs:
        specs = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"averageUtilization": DEFAULT_CPU_UTILIZATION}},
            }
        ]
    return specs, items(status(hpa).get("currentMetrics"))


def _metric_status(statuses: list[Obj], index: int, field: str) -> Obj | None:
    if index < len(statuses) and isinstance(statuses[index].get(field), Mapping):
        return sub(statuses[index], field)
    return None


def _nil(value: object) -> str:
    """A metric quantity; an absent one prints as Go prints a nil *Quantity."""
    return quantity(value, absent="<nil>")


def _current(status_source: Obj | None, field: str) -> str:
    """A current metric value; "<unknown>" without a status, Go's "<nil>" for an absent quantity in one."""
    if status_source is None:
        return UNKNOWN
    return _nil(sub(status_source, "current").get(field))


def _value_pair(source: Obj, current: Obj | None) -> str:
    """"current/target" for metrics with an absolute target, with " (avg)" for per-pod averages."""
    target = sub(source, "target")
    if target.get("averageValue") is not None:
        now = UNKNOWN
        if current is not None and sub(current, "current").get("averageValue") is not None:
            now = _nil(sub(current, "current").get("averageValue"))
        return f"{now}/{_nil(target.get('averageValue'))} (avg)"
    return f"{_current(current, 'value')}/{_nil(target.get('value'))}"


def _resource_pair(source: Obj, current: Obj | None) -> str:
    resource_name = text(source.get("name"))
    target = sub(source, "target")
    if target.get("averageValue") is not None:
        return f"{resource_name}: {_current(current, 'averageValue')}/{_nil(target.get('averageValue'))}"
    utilization = sub(current, "current").get("averageUtilization") if current is not None else None
    now = f"{utilization}%" if isinstance(utilization, int) else UNKNOWN
    wanted = target.get("averageUtilization")
    goal = f"{wanted}%" if isinstance(wanted, int) else "<auto>"
    return f"{resource_name}: {now}/{goal}"


def format_hpa_targets(hpa: Wire) -> str:
    """The TARGETS cell: up to two metrics as "cpu: 45%/80%", then "+ N more..."."""
    specs, statuses = _hpa_metrics(hpa)
    shown: list[str] = []
    for index, metric in enumerate(specs):
        metric_type = metric.get("type")
        if metric_type == "External":
            shown.append(_value_pair(sub(metric, "external"), _metric_status(statuses, index, "external")))
        elif metric_type == "Object":
            shown.append(_value_pair(sub(metric, "object"), _metric_status(statuses, index, "object")))
        elif metric_type == "Pods":
            current = _metric_status(statuses, index, "pods")
            target = _nil(sub(metric, "pods", "target").get("averageValue"))
            shown.append(f"{_current(current, 'averageValue')}/{target}")
        elif metric_type == "Resource":
            shown.append(_resource_pair(sub(metric, "resource"), _metric_status(statuses, index, "resource")))
        elif metric_type == "ContainerResource":
            current = _metric_status(statuses, index, "containerResource")
            shown.append(_resource_pair(sub(metric, "containerResource"), current))
        else:
            shown.append("<unknown type>")
    if len(shown) > 2:
        return f"{', '.join(shown[:2])} + {len(shown) - 2} more..."
    return ", ".join(shown)


def _hpa_cells(hpa: Wire, now: datetime.datetime) -> list[Cell]:
    hpa_spec = spec(hpa)
    ref = sub(hpa_spec, "scaleTargetRef")
    min_replicas = hpa_spec.get("minReplicas")
    return [
        name(hpa),
        f"{text(ref.get('kind'))}/{text(ref.get('name'))}",
        format_hpa_targets(hpa),
        str(min_replicas) if isinstance(min_replicas, int) else "<unset>",
        num(hpa_spec.get("maxReplicas")),
        num(status(hpa).get("currentReplicas")),
        age(hpa, now),
    ]


HORIZONTAL_POD_AUTOSCALER = Printer(
    columns=(
        NAME_COLUMN,
        Column("Reference", description=doc("autoscaling.v2.HorizontalPodAutoscalerSpec.scaleTargetRef")),
        Column("Targets", description=doc("autoscaling.v2.HorizontalPodAutoscalerSpec.metrics")),
        Column("MinPods", description=doc("autoscaling.v2.HorizontalPodAutoscalerSpec.minReplicas")),
        Column("MaxPods", description=doc("autoscaling.v2.HorizontalPodAutoscalerSpec.maxReplicas")),
        Column("Replicas", description=doc("autoscaling.v2.HorizontalPodAutoscalerStatus.currentReplicas")),
        AGE_COLUMN,
    ),
    cells=_hpa_cells,
)

# --- policy -------------------------------------------------------------------------------------------------


def _pdb_cells(pdb: Wire, now: datetime.datetime) -> list[Cell]:
    pdb_spec = spec(pdb)
    min_available = pdb_spec.get("minAvailable")
    max_unavailable = pdb_spec.get("maxUnavailable")
    return [
        name(pdb),
        int_or_string(min_available) if min_available is not None else "N/A",
        int_or_string(max_unavailable) if max_unavailable is not None else "N/A",
        num(status(pdb).get("disruptionsAllowed")),
        age(pdb, now),
    ]


POD_DISRUPTION_BUDGET = Printer(
    columns=(
        NAME_COLUMN,
        Column("Min Available", description="The minimum number of pods that must be available."),
        Column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
        Column(
            "Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."
        ),
        AGE_COLUMN,
    ),
    cells=_pdb_cells,
)
