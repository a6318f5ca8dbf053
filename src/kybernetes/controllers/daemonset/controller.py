"""The DaemonSet controller: one pod on every eligible node, rolled to new templates node by node.

`sync(namespace/name)`:

1. The template's ControllerRevision is found or created (`common/revisions.py`); its hash labels new pods
   (`controller-revision-hash`, plus `pod-template-generation`).
2. Per node (`placement.py`): a node that should run the pod and has none gets one (created in slow-start
   batches, pinned by node affinity so the scheduler binds it there); failed pods are deleted to be
   replaced; extra pods are deleted (oldest kept); pods on nodes that should not run them are deleted.
3. Rolling update (`updateStrategy.type: RollingUpdate`): with `maxSurge` 0, old pods are deleted while no
   more than `maxUnavailable` nodes are unavailable (old unavailable pods go at once); with `maxSurge` > 0, a
   new pod is started beside the old one on up to `maxSurge` nodes and the old pod is deleted when the new one
   is available. `OnDelete` leaves old pods until someone deletes them.
4. Status is recomputed (desired/current/misscheduled/ready/available/updated/unavailable,
   observedGeneration) and written when it changed; unused revisions beyond revisionHistoryLimit are pruned.

Handlers only enqueue: DaemonSet changes, its pods' changes (by controller ownerReference), and any Node
change (all DaemonSets, since a label or taint can change where each belongs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from kybernetes.api.models.apps_v1 import ControllerRevision, DaemonSet, DaemonSetStatus
from kybernetes.api.models.core_v1 import Node, Pod
from kybernetes.client import INDEX_OWNER_UID, WorkQueue, object_key, owner_uid_index
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.common import (
    Expectations,
    WallClock,
    controller_key,
    from_wire,
    is_controlled_by,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    key_of,
    new_controller_ref,
    pod_from_template,
    pod_phase,
    scaled_value,
    slow_start_batch,
    wire,
)
from kybernetes.controllers.common import revisions as history
from kybernetes.controllers.common.queue import run_queue
from kybernetes.controllers.daemonset import placement
from kybernetes.machinery.errors import NotFoundError, StatusError

log = logging.getLogger(__name__)

TEMPLATE_GENERATION_LABEL = "pod-template-generation"


def scaled(value: int | str | None, *, total: int, default: int) -> int:
    """An int-or-percent against `total`, rounded up (as DaemonSet rolling updates round); `default` when
    unset or malformed."""
    try:
        return scaled_value(value, total=total, round_up=True, default=default)
    except ValueError:
        return default


class DaemonSetController:
    name = "daemonset-controller"

    def __init__(self, *, ctx: ControllerContext, wall: WallClock | None = None) -> None:
        self.wall = wall or WallClock(clock=ctx.clock)
        self.daemonsets = ctx.informers.informer(DaemonSet)
        self.pods = ctx.informers.informer(Pod, indexers={INDEX_OWNER_UID: owner_uid_index})
        self.nodes = ctx.informers.informer(Node)
        self.revisions = ctx.informers.informer(ControllerRevision, indexers={INDEX_OWNER_UID: owner_uid_index})
        self.ds_api = ctx.client.resource(DaemonSet)
        self.pod_api = ctx.client.resource(Pod)
        self.revision_api = ctx.client.resource(ControllerRevision)
        self.recorder = ctx.recorder("daemonset-controller")
        self.queue = WorkQueue(name="daemonset", clock=ctx.clock)
        self.expectations = Expectations(clock=ctx.clock)
        self.daemonsets.add_handler(on_add=self._enqueue, on_update=lambda _o, n: self._enqueue(n),
                                    on_delete=self._enqueue)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.nodes.add_handler(on_add=self._node_changed, on_update=lambda _o, n: self._node_changed(n),
                               on_delete=self._node_changed)

    # ---- handlers ------------------------------------------------------------------------------------

    def _enqueue(self, ds: DaemonSet) -> None:
        self.queue.add(object_key(ds))

    def _owner_key(self, pod: Pod) -> str | None:
        return controller_key(pod, kind="DaemonSet")

    def _pod_added(self, pod: Pod) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        key = self._owner_key(new)
        if key is not None:
            if is_terminating(new) and not is_terminating(old):
                self.expectations.deletion_observed(key, object_key(new))
            self.queue.add(key)

    def _pod_deleted(self, pod: Pod) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, object_key(pod))
            self.queue.add(key)

    def _node_changed(self, _node: Node) -> None:
        for ds in self.daemonsets.list():
            self._enqueue(ds)

    async def run(self, *, workers: int) -> None:
        await run_queue(queue=self.queue, sync=self.sync, workers=workers)

    # ---- sync ----------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ds = self.daemonsets.get(key)
        if ds is None or ds.metadata is None or ds.spec is None or ds.spec.template is None:
            self.expectations.forget(key)
            return
        if ds.metadata.deletion_timestamp:
            return
        status = msgspec.structs.replace(ds.status) if ds.status else DaemonSetStatus()
        revisions = await history.owner_revisions(
            api=self.revision_api, informer=self.revisions, owner=ds, kind="DaemonSet", status=status,
            update_status=self.ds_api.update_status,
        )
        current = revisions.current
        hash_ = ((current.metadata.labels if current.metadata else None) or {}).get(history.REVISION_HASH_LABEL, "")
        now = self.wall()
        nodes = {n.metadata.name or "": n for n in self.nodes.list() if n.metadata}
        pods = [p for p in self.pods.by_index(INDEX_OWNER_UID, ds.metadata.uid or "") if is_controlled_by(p, ds)]
        by_node: dict[str, list[Pod]] = {}
        for pod in pods:
            node = placement.target_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        for group in by_node.values():
            group.sort(key=lambda p: (p.metadata.creation_timestamp or "", p.metadata.name or "")
                       if p.metadata else ("", ""))
        places = {name: placement.should_run(node=node, template=ds.spec.template) for name, node in nodes.items()}
        if self.expectations.satisfied(key):
            await self._manage(ds, key, hash_, places, by_node, now)
        await self._write_status(ds, status, hash_, places, by_node, now)
        in_use = {f"{ds.metadata.name}-{(p.metadata.labels or {}).get(history.REVISION_HASH_LABEL, '')}"
                  for p in pods if p.metadata}
        await history.prune_revisions(
            api=self.revision_api, revisions=revisions.all,
            keep=in_use | {current.metadata.name or "" if current.metadata else ""},
            limit=ds.spec.revision_history_limit,
        )

    def _surge(self, ds: DaemonSet, desired: int) -> tuple[int, int]:
        """(maxSurge, maxUnavailable) resolved against the desired count; both 0 would stall: 1 unavailable."""
        strategy = ds.spec.update_strategy if ds.spec else None
        rolling = strategy.rolling_update if strategy else None
        surge = scaled(rolling.max_surge if rolling else None, total=desired, default=0)
        unavailable = scaled(rolling.max_unavailable if rolling else None, total=desired, default=1)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    async def _manage(self, ds: DaemonSet, key: str, hash_: str, places: dict[str, placement.Placement],
                      by_node: dict[str, list[Pod]], now: datetime) -> None:
        assert ds.spec is not None
        min_ready = ds.spec.min_ready_seconds or 0
        desired = sum(1 for p in places.values() if p.run)
        surge, max_unavailable = self._surge(ds, desired)
        rolling = (ds.spec.update_strategy.type if ds.spec.update_strategy else "RollingUpdate") != "OnDelete"
        create: list[str] = []
        delete: list[Pod] = []
        for name, place in places.items():
            live = [p for p in by_node.get(name, []) if not is_terminating(p)]
            failed = [p for p in live if pod_phase(p) == "Failed"]
            live = [p for p in live if p not in failed]
            if place.run and not live:
                if failed:
                    # Replace it on a later sync, after the failed pod is gone (no hot create/delete loop).
                    for pod in failed:
                        self.recorder.event(ds, type="Warning", reason="FailedDaemonPod",
                                            message=f"Found failed daemon pod {_name(pod)} on node {name}, "
                                                    "will try to kill it")
                else:
                    create.append(name)
            elif not place.keep and not place.run:
                delete.extend(live)  # misscheduled
            elif len(live) > 1:
                new = [p for p in live if _hash(p) == hash_]
                old = [p for p in live if _hash(p) != hash_]
                keep = new[:1]
                if surge > 0 and old and (not new or not is_pod_available(new[0], min_ready_seconds=min_ready, now=now)):
                    keep += old[:1]
                if not keep:
                    keep = live[:1]
                delete.extend(p for p in live if p not in keep)
            delete.extend(failed)
        if rolling and not create and not delete:
            if surge > 0:
                create, delete = self._surge_plan(by_node, places, hash_, surge, min_ready, now)
            else:
                delete = self._unavailable_plan(by_node, places, hash_, max_unavailable, min_ready, now)
        await self._apply(ds, key, hash_, create, delete)

    @staticmethod
    def _split(pods: Sequence[Pod], hash_: str) -> tuple[Pod | None, Pod | None, bool]:
        live = [p for p in pods if not is_terminating(p)]
        new = [p for p in live if _hash(p) == hash_]
        old = [p for p in live if _hash(p) != hash_]
        if len(new) > 1 or len(old) > 1:
            return None, None, False
        return (new[0] if new else None), (old[0] if old else None), True

    def _unavailable_plan(self, by_node: dict[str, list[Pod]], places: dict[str, placement.Placement],
                          hash_: str, max_unavailable: int, min_ready: int, now: datetime) -> list[Pod]:
        unavailable = 0
        replace: list[Pod] = []
        candidates: list[Pod] = []
        for name in sorted(by_node):
            place = places.get(name)
            if place is None or not (place.run or place.keep):
                continue
            new, old, ok = self._split(by_node[name], hash_)
            if not ok or (new is None) == (old is None):
                unavailable += 1
            elif new is not None:
                if not is_pod_available(new, min_ready_seconds=min_ready, now=now):
                    unavailable += 1
            elif old is not None:
                if not is_pod_available(old, min_ready_seconds=min_ready, now=now):
                    replace.append(old)
                elif unavailable < max_unavailable:
                    candidates.append(old)
        room = max(0, max_unavailable - unavailable)
        return replace + candidates[:room]

    def _surge_plan(self, by_node: dict[str, list[Pod]], places: dict[str, placement.Placement], hash_: str,
                    max_surge: int, min_ready: int, now: datetime) -> tuple[list[str], list[Pod]]:
        surging = 0
        allowed: list[str] = []
        candidates: list[str] = []
        delete: list[Pod] = []
        for name in sorted(by_node):
            place = places.get(name)
            if place is None or not place.run:
                continue
            new, old, ok = self._split(by_node[name], hash_)
            if not ok:
                surging += 1
            elif old is None:
                continue
            elif new is None:
                if not is_pod_available(old, min_ready_seconds=min_ready, now=now):
                    allowed.append(name)
                elif surging < max_surge:
                    candidates.append(name)
            elif not is_pod_available(new, min_ready_seconds=min_ready, now=now):
                surging += 1
            else:
                delete.append(old)
        room = max(0, max_surge - surging)
        return allowed + candidates[:room], delete

    async def _apply(self, ds: DaemonSet, key: str, hash_: str, create: list[str], delete: list[Pod]) -> None:
        if not create and not delete:
            return
        self.expectations.expect(key, adds=len(create), deletes=[object_key(p) for p in delete])

        async def delete_one(pod: Pod) -> None:
            assert pod.metadata is not None
            try:
                await self.pod_api.delete(name=pod.metadata.name or "", namespace=pod.metadata.namespace)
            except NotFoundError:
                self.expectations.deletion_observed(key, object_key(pod))
                return
            except StatusError:
                self.expectations.deletion_observed(key, object_key(pod))
                raise
            self.recorder.event(ds, reason="SuccessfulDelete", message=f"Deleted pod: {pod.metadata.name}")

        results = await asyncio.gather(*(delete_one(p) for p in delete), return_exceptions=True)
        error: BaseException | None = next((r for r in results if isinstance(r, BaseException)), None)

        async def create_one(i: int) -> None:
            pod = await self.pod_api.create(self._pod_for(ds, create[i], hash_))
            self.recorder.event(ds, reason="SuccessfulCreate",
                                message=f"Created pod: {pod.metadata.name if pod.metadata else ''}")

        successes, create_error = await slow_start_batch(count=len(create), action=create_one)
        # Not created (failed, or never attempted): no ADDED event will come for these.
        self.expectations.creation_observed(key, count=len(create) - successes)
        error = error or create_error
        if error is not None:
            if create_error is not None:
                self.recorder.event(ds, type="Warning", reason="FailedCreate", message=f"Error creating: {error}")
            raise error

    def _pod_for(self, ds: DaemonSet, node: str, hash_: str) -> Pod:
        assert ds.metadata is not None and ds.spec is not None and ds.spec.template is not None
        owner = new_controller_ref(ds, api_version="apps/v1", kind="DaemonSet")
        pod = wire(pod_from_template(template=ds.spec.template, owner_ref=owner, namespace=ds.metadata.namespace,
                                     owner_name=ds.metadata.name or ""))
        labels = pod["metadata"]["labels"] = dict(pod["metadata"].get("labels") or {})
        labels[history.REVISION_HASH_LABEL] = hash_
        labels[TEMPLATE_GENERATION_LABEL] = str(ds.metadata.generation or 1)
        spec: dict[str, Any] = pod.setdefault("spec", {})
        spec["tolerations"] = [wire(t) for t in placement.daemon_tolerations(ds.spec.template)]
        placement.pin_to_node(spec, node)
        return from_wire(pod, Pod)

    async def _write_status(self, ds: DaemonSet, status: DaemonSetStatus, hash_: str,
                            places: dict[str, placement.Placement], by_node: dict[str, list[Pod]],
                            now: datetime) -> None:
        assert ds.spec is not None and ds.metadata is not None
        min_ready = ds.spec.min_ready_seconds or 0
        desired = current = misscheduled = ready = available = updated = 0
        for name, place in places.items():
            live = [p for p in by_node.get(name, []) if not is_terminating(p)]
            if place.run:
                desired += 1
                if live:
                    current += 1
                    pod = live[0]
                    if is_pod_ready(pod):
                        ready += 1
                        if is_pod_available(pod, min_ready_seconds=min_ready, now=now):
                            available += 1
                    if any(_hash(p) == hash_ for p in live):
                        updated += 1
            elif live:
                misscheduled += 1
        status.desired_number_scheduled = desired
        status.current_number_scheduled = current
        status.number_misscheduled = misscheduled
        status.number_ready = ready
        status.number_available = available or None
        status.updated_number_scheduled = updated or None
        status.number_unavailable = (desired - available) or None
        status.observed_generation = ds.metadata.generation
        updated_ds = msgspec.structs.replace(ds, status=status)
        if updated_ds != ds:
            await self.ds_api.update_status(updated_ds)
        if min_ready > 0 and ready > available:
            # Pods become available minReadySeconds after turning ready: look again then.
            self.queue.add_after(key_of(ds.metadata.namespace, ds.metadata.name or ""), float(min_ready))


def _hash(pod: Pod) -> str:
    return ((pod.metadata.labels if pod.metadata else None) or {}).get(history.REVISION_HASH_LABEL, "")


def _name(pod: Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}" if pod.metadata else ""
