"""Validation of apps/v1 and batch/v1 workloads: selectors vs templates, strategies, immutability, cron."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.api.defaults import apply_defaults
from kybernetes.api.validation import validate_create, validate_status_update, validate_update
from kybernetes.api.validation.batch import schedule_error
from kybernetes.machinery.errors import InvalidError


def create(group: str, kind: str, obj: dict[str, Any]) -> list[str]:
    apply_defaults(group=group, version="v1", kind=kind, obj=obj)
    return [e.describe() for e in validate_create(group=group, version="v1", kind=kind, obj=obj, namespaced=True)]


def update(group: str, kind: str, new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    errs = validate_update(group=group, version="v1", kind=kind, new=new, old=old, namespaced=True)
    return [e.describe() for e in errs]


def workload(selector: dict[str, str] | None = None, labels: dict[str, str] | None = None,
             **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "selector": {"matchLabels": selector if selector is not None else {"app": "web"}},
        "template": {"metadata": {"labels": labels if labels is not None else {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}},
    }
    body.update(spec)
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": body}


MISMATCH = "`selector` does not match template `labels`"


class TestDeployment:
    def test_valid(self) -> None:
        assert create("apps", "Deployment", workload()) == []

    def test_selector_mismatch_message(self) -> None:
        obj = workload(labels={"app": "other"})
        apply_defaults(group="apps", version="v1", kind="Deployment", obj=obj)
        errs = validate_create(group="apps", version="v1", kind="Deployment", obj=obj, namespaced=True)
        assert [(e.path, e.message) for e in errs] == [("spec.template.metadata.labels", MISMATCH)]
        assert InvalidError.of(kind="Deployment", group="apps", name="web", causes=errs).message.startswith(
            'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: ')

    def test_selector_required_and_not_empty(self) -> None:
        obj = workload()
        del obj["spec"]["selector"]
        assert create("apps", "Deployment", obj) == ["spec.selector: Required value"]
        obj = workload()
        obj["spec"]["selector"] = {}
        assert create("apps", "Deployment", obj) == [
            "spec.selector: Invalid value: {}: empty selector is invalid for deployment"]

    def test_template_pod_spec_paths(self) -> None:
        obj = workload()
        obj["spec"]["template"]["spec"]["containers"] = [{"name": "web"}]
        assert create("apps", "Deployment", obj) == ["spec.template.spec.containers[0].image: Required value"]

    def test_restart_policy_and_replicas(self) -> None:
        obj = workload(replicas=-1)
        obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
        assert create("apps", "Deployment", obj) == [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
        ]

    def test_strategy(self) -> None:
        obj = workload(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}})
        assert create("apps", "Deployment", obj) == [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"]
        obj = workload(strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}})
        assert create("apps", "Deployment", obj) == [
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]
        obj = workload(strategy={"rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x"}})
        errs = create("apps", "Deployment", obj)
        assert errs[0].startswith('spec.strategy.rollingUpdate.maxSurge: Invalid value: "x": a valid percent string')
        assert errs[1] == ('spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "150%": must not be greater '
                           "than 100%")

    def test_progress_deadline(self) -> None:
        obj = workload(minReadySeconds=700)
        assert create("apps", "Deployment", obj) == [
            "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"]

    def test_selector_immutable(self) -> None:
        old = workload()
        apply_defaults(group="apps", version="v1", kind="Deployment", obj=old)
        new = copy.deepcopy(old)
        new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "fe"}}
        new["spec"]["template"]["metadata"]["labels"]["tier"] = "fe"
        assert update("apps", "Deployment", new, old) == [
            'spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"fe"}}: field is immutable']
        scaled = copy.deepcopy(old)
        scaled["spec"]["replicas"] = 5
        scaled["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
        assert update("apps", "Deployment", scaled, old) == []

    def test_status(self) -> None:
        old = workload()
        new = copy.deepcopy(old)
        new["status"] = {"replicas": 2, "readyReplicas": 3, "observedGeneration": -1}
        errs = validate_status_update(group="apps", version="v1", kind="Deployment", new=new, old=old,
                                      namespaced=True)
        assert [e.describe() for e in errs] == [
            "status.observedGeneration: Invalid value: -1: must be greater than or equal to 0",
            "status.readyReplicas: Invalid value: 3: cannot be greater than status.replicas",
        ]


class TestOtherApps:
    def test_replicaset(self) -> None:
        assert create("apps", "ReplicaSet", workload()) == []
        assert create("apps", "ReplicaSet", workload(labels={"app": "x"})) == [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: ' + MISMATCH]

    def test_statefulset(self) -> None:
        claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {"storage": "1Gi"}}}}
        obj = workload(serviceName="web", volumeClaimTemplates=[claim])
        obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/d"}]
        assert create("apps", "StatefulSet", obj) == []
        bad = workload(podManagementPolicy="Random")
        bad["spec"]["selector"] = {}
        assert create("apps", "StatefulSet", bad) == [
            "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
            "spec.selector: Invalid value: {}: empty selector is invalid for statefulset",
        ]

    def test_statefulset_update_forbidden_fields(self) -> None:
        old = workload(serviceName="web")
        apply_defaults(group="apps", version="v1", kind="StatefulSet", obj=old)
        new = copy.deepcopy(old)
        new["spec"]["replicas"] = 3
        assert update("apps", "StatefulSet", new, old) == []
        new["spec"]["serviceName"] = "other"
        assert update("apps", "StatefulSet", new, old) == [
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
            "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]

    def test_daemonset(self) -> None:
        assert create("apps", "DaemonSet", workload()) == []
        obj = workload(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}})
        assert create("apps", "DaemonSet", obj) == [
            "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is "
            "non-zero"]
        obj = workload(updateStrategy={"type": "Sometimes"})
        assert create("apps", "DaemonSet", obj) == [
            'spec.updateStrategy.type: Unsupported value: "Sometimes": supported values: "OnDelete", "RollingUpdate"']

    def test_controller_revision(self) -> None:
        rev = {"metadata": {"name": "web-1", "namespace": "d"}, "revision": 1, "data": {"spec": {}}}
        assert create("apps", "ControllerRevision", rev) == []
        assert create("apps", "ControllerRevision", {"metadata": {"name": "r", "namespace": "d"}, "revision": -1}) == [
            "data: Required value: data is mandatory",
            "revision: Invalid value: -1: must be greater than or equal to 0"]
        new = copy.deepcopy(rev)
        new["data"] = {"spec": {"x": 1}}
        errs = update("apps", "ControllerRevision", new, rev)
        assert len(errs) == 1 and errs[0].startswith("data: Invalid value:") and errs[0].endswith("field is immutable")


def job(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}],
                                                  "restartPolicy": "Never"}}}
    body.update(spec)
    return {"metadata": {"name": "pi", "namespace": "default"}, "spec": body}


class TestJob:
    def test_valid_without_selector(self) -> None:
        assert create("batch", "Job", job()) == []

    def test_generated_selector_validates(self) -> None:
        obj = job()
        obj["metadata"]["uid"] = "abc-123"
        assert create("batch", "Job", obj) == []
        assert obj["spec"]["selector"]["matchLabels"] == {"batch.kubernetes.io/controller-uid": "abc-123"}

    def test_restart_policy(self) -> None:
        obj = job()
        del obj["spec"]["template"]["spec"]["restartPolicy"]
        assert create("batch", "Job", obj) == [
            'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']

    def test_manual_selector(self) -> None:
        obj = job(manualSelector=True)
        assert create("batch", "Job", obj) == ["spec.selector: Required value"]
        obj = job(manualSelector=True, selector={"matchLabels": {"a": "b"}})
        assert create("batch", "Job", obj) == [
            "spec.template.metadata.labels: Invalid value: {}: " + MISMATCH]

    def test_counts_and_modes(self) -> None:
        obj = job(parallelism=-1, backoffLimit=-2, completionMode="Indexed")
        errs = create("batch", "Job", obj)
        assert errs == [
            "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
            "spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0",
            "spec.completions: Required value: when completion mode is Indexed",
        ]

    def test_template_and_selector_immutable(self) -> None:
        old = job()
        old["metadata"]["uid"] = "u1"
        apply_defaults(group="batch", version="v1", kind="Job", obj=old)
        new = copy.deepcopy(old)
        new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5"
        errs = update("batch", "Job", new, old)
        assert len(errs) == 1 and errs[0].startswith("spec.template: Invalid value:")
        assert errs[0].endswith("field is immutable")
        suspended = copy.deepcopy(old)
        suspended["spec"]["suspend"] = True
        changed = copy.deepcopy(suspended)
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5"
        assert update("batch", "Job", changed, suspended) == []


def cronjob(schedule: str = "*/5 * * * *", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schedule": schedule, "jobTemplate": {"spec": job()["spec"]}}
    body.update(spec)
    return {"metadata": {"name": "tick", "namespace": "default"}, "spec": body}


class TestCronJob:
    @pytest.mark.parametrize("schedule", [
        "*/5 * * * *", "0 0 * * *", "@hourly", "@daily", "@every 1h30m", "0 9-17/2 * * MON-FRI",
        "15,45 * 1 JAN,jul ?", "0 0 1 * 0-6",
    ])
    def test_valid_schedules(self, schedule: str) -> None:
        assert schedule_error(schedule) is None
        assert create("batch", "CronJob", cronjob(schedule)) == []

    @pytest.mark.parametrize(("schedule", "message"), [
        ("foo", "expected exactly 5 fields, found 1: [foo]"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        ("@sometimes", "unrecognized descriptor: @sometimes"),
    ])
    def test_invalid_schedules(self, schedule: str, message: str) -> None:
        assert schedule_error(schedule) == message
        assert create("batch", "CronJob", cronjob(schedule)) == [
            f"spec.schedule: Invalid value: {quoted(schedule)}: {message}"]

    def test_required_and_time_zone(self) -> None:
        assert create("batch", "CronJob", cronjob("")) == ["spec.schedule: Required value"]
        assert create("batch", "CronJob", cronjob(timeZone="Europe/Berlin")) == []
        assert create("batch", "CronJob", cronjob(timeZone="Mars/Olympus")) == [
            'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']
        assert create("batch", "CronJob", cronjob("TZ=UTC 0 * * * *"))[-1] == (
            'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone '
            "field instead")

    def test_name_length_and_policy(self) -> None:
        obj = cronjob(concurrencyPolicy="Sometimes")
        obj["metadata"]["name"] = "x" * 53
        assert create("batch", "CronJob", obj) == [
            f'metadata.name: Invalid value: "{"x" * 53}": must be no more than 52 characters',
            'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"',
        ]

    def test_job_template_paths(self) -> None:
        obj = cronjob()
        obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
        assert create("batch", "CronJob", obj) == [
            'spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
            '"OnFailure", "Never"']


def quoted(value: str) -> str:
    return '"' + value + '"'
