"""The two kinds one replica controller serves: apps/v1 ReplicaSet and core/v1 ReplicationController.

They differ only in how the selector is written (a LabelSelector object vs. a plain label map), in the
status and condition types, and in names (queue, event source). `ReplicaKind` captures exactly that, so
the controller logic is written once, as Kubernetes does by running the ReplicaSet controller over
converted ReplicationControllers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from kybernetes.api.models import Model
from kybernetes.api.models.apps_v1 import ReplicaSet, ReplicaSetCondition, ReplicaSetStatus
from kybernetes.api.models.core_v1 import (
    ReplicationController,
    ReplicationControllerCondition,
    ReplicationControllerStatus,
)
from kybernetes.machinery.errors import BadRequestError
from kybernetes.machinery.labels import LabelSelector, selector_from_api, selector_from_set

T = TypeVar("T", bound=Model)


@dataclass(frozen=True)
class ReplicaKind(Generic[T]):
    model: type[T]
    kind: str
    api_version: str
    name: str  # the controller's (and its queue's) name
    component: str  # the event source
    status_model: type[Any]
    condition_model: type[Any]
    selector_of: Callable[[T], LabelSelector]


def _rs_selector(rs: ReplicaSet) -> LabelSelector:
    spec = rs.spec
    if spec is None or spec.selector is None:
        raise BadRequestError("spec.selector: Required value")
    selector = selector_from_api(msgspec.to_builtins(spec.selector))
    if selector.empty:
        # An empty selector would select (and adopt) every pod of the namespace.
        raise BadRequestError("spec.selector: Invalid value: empty selector is invalid for replicaset")
    return selector


def _rc_selector(rc: ReplicationController) -> LabelSelector:
    spec = rc.spec
    labels = (spec.selector if spec is not None else None) or None
    if not labels and spec is not None and spec.template is not None and spec.template.metadata is not None:
        labels = spec.template.metadata.labels  # the API defaults an empty selector to the template's labels
    if not labels:
        raise BadRequestError("spec.selector: Required value")
    return selector_from_set(labels)


REPLICA_SET: ReplicaKind[ReplicaSet] = ReplicaKind(
    model=ReplicaSet, kind="ReplicaSet", api_version="apps/v1", name="replicaset",
    component="replicaset-controller", status_model=ReplicaSetStatus, condition_model=ReplicaSetCondition,
    selector_of=_rs_selector,
)

REPLICATION_CONTROLLER: ReplicaKind[ReplicationController] = ReplicaKind(
    model=ReplicationController, kind="ReplicationController", api_version="v1", name="replicationcontroller",
    component="replication-controller", status_model=ReplicationControllerStatus,
    condition_model=ReplicationControllerCondition, selector_of=_rc_selector,
)
