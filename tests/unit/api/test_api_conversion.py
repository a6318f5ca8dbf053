"""Conversion of HPAs (autoscaling v1 <-> v2) and Events (core/v1 <-> events.k8s.io/v1)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.api.conversion import METRICS_ANNOTATION, convert
from kybernetes.api.models import autoscaling_v1, autoscaling_v2, core_v1, events_v1
from kybernetes.api.schema import decode_object

HPA_V2: dict[str, Any] = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
            },
            {
                "type": "Pods",
                "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}},
            },
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
    },
    "status": {
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 70}}}
        ],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z"}
        ],
    },
}


def test_hpa_v2_to_v1_and_back() -> None:
    original = copy.deepcopy(HPA_V2)
    v1 = convert(obj=HPA_V2, group="autoscaling", to_version="v1")
    assert HPA_V2 == original  # input untouched
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert v1["status"]["currentCPUUtilizationPercentage"] == 70
    assert METRICS_ANNOTATION in v1["metadata"]["annotations"]
    _, unknown = decode_object(v1, autoscaling_v1.HorizontalPodAutoscaler)
    assert unknown == []
    back = convert(obj=v1, group="autoscaling", to_version="v2")
    assert back == HPA_V2
    _, unknown = decode_object(back, autoscaling_v2.HorizontalPodAutoscaler)
    assert unknown == []


def test_hpa_v1_to_v2() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 80,
        },
    }
    v2 = convert(obj=v1, group="autoscaling", to_version="v2")
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
        }
    ]
    assert "targetCPUUtilizationPercentage" not in v2["spec"]
    assert convert(obj=v2, group="autoscaling", to_version="v1") == v1


CORE_EVENT: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web.17a", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u"},
    "reason": "Started",
    "message": "Started container web",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": "2024-05-01T10:00:00Z",
    "lastTimestamp": "2024-05-01T10:00:05Z",
    "count": 2,
    "type": "Normal",
    "eventTime": None,
    "reportingComponent": "kubelet",
    "reportingInstance": "node-1",
    "action": "Start",
    "related": {"kind": "Node", "name": "node-1"},
    "series": {"count": 2, "lastObservedTime": "2024-05-01T10:00:05.000000Z"},
}


def test_event_core_to_events_and_back() -> None:
    new = convert(obj=CORE_EVENT, group="events.k8s.io", to_version="v1")
    assert new["apiVersion"] == "events.k8s.io/v1"
    assert new["regarding"]["name"] == "web" and new["note"] == "Started container web"
    assert new["deprecatedSource"] == {"component": "kubelet", "host": "node-1"}
    assert new["deprecatedCount"] == 2 and new["deprecatedFirstTimestamp"] == "2024-05-01T10:00:00Z"
    assert new["reportingController"] == "kubelet" and new["reportingInstance"] == "node-1"
    assert decode_object(new, events_v1.Event)[1] == []
    assert decode_object(CORE_EVENT, core_v1.Event)[1] == []
    assert convert(obj=new, group="", to_version="v1") == CORE_EVENT


def test_same_version_is_a_copy_and_unknown_pairs_fail() -> None:
    same = convert(obj=CORE_EVENT, group="", to_version="v1")
    assert same == CORE_EVENT and same is not CORE_EVENT
    with pytest.raises(ValueError, match="cannot convert"):
        convert(obj={"apiVersion": "v1", "kind": "Pod"}, group="apps", to_version="v1")
