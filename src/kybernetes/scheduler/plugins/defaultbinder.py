"""DefaultBinder: binds through the `pods/<name>/binding` subresource (the pod's UID as a precondition, so a
pod deleted and re-created under the same name is never bound by mistake)."""

from __future__ import annotations

from kybernetes.api.models.core_v1 import Pod
from kybernetes.client import Client
from kybernetes.scheduler.framework import Status
from kybernetes.scheduler.nodeinfo import PodInfo

NAME = "DefaultBinder"


class DefaultBinder:
    name = NAME

    def __init__(self, *, client: Client) -> None:
        self.pods = client.resource(Pod)

    async def bind(self, *, pod: PodInfo, node_name: str) -> Status | None:
        await self.pods.bind(name=pod.name, namespace=pod.namespace, node=node_name, uid=pod.uid or None)
        return None
