"""The async client library: how every component other than the API server reaches the cluster.

Only HTTP, only the API: a `Client` (aiohttp, keep-alive, retries, typed errors) built from a `ClientConfig`
(`load_config()`: kubeconfig or in-cluster), typed verbs per resource over the msgspec Structs of
`kybernetes.api.models` (`client.resource(Pod).list(...)`), informers (list + watch into an indexed cache),
the rate-limited workqueue with its worker loop, leader election on Leases, and an Event recorder.

    async with Client(load_config(component="scheduler")) as client:
        factory = SharedInformerFactory(client=client)
        pods = factory.informer(Pod, indexers={INDEX_NODE_NAME: node_name_index})
        queue = WorkQueue(name="pods")
        pods.add_handler(on_add=lambda p: queue.add(object_key(p)))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(factory.run())
            await factory.wait_synced()
            tg.create_task(run_workers(queue=queue, sync=sync, workers=4))

Module map: `config` / `kubeconfig` (where the cluster is), `rest` (transport), `resource` (verbs),
`store` / `informer` (caches), `workqueue` + `ratelimit` (work scheduling), `leaderelection`, `events`,
`clock` (real and fake time).
"""

from kybernetes.client.clock import REAL_CLOCK, Clock, FakeClock, RealClock
from kybernetes.client.config import ClientConfig, ConfigError, load_config, load_incluster_config
from kybernetes.client.events import EventRecorder, object_reference
from kybernetes.client.informer import EventHandlers, Informer, SharedInformerFactory
from kybernetes.client.kubeconfig import KubeConfig, KubeConfigError, load_kubeconfig
from kybernetes.client.leaderelection import LeaderElector, LeadershipLost
from kybernetes.client.ratelimit import Backoff, ExponentialBackoff, TokenBucket, WorkqueueRateLimiter
from kybernetes.client.resource import DynamicResource, ObjectList, ResourceClient, TypedResource, WatchEvent
from kybernetes.client.rest import APIConnectionError, Client, Response
from kybernetes.client.store import (
    INDEX_NAMESPACE,
    INDEX_NODE_NAME,
    INDEX_OWNER_UID,
    Store,
    namespace_index,
    node_name_index,
    object_key,
    owner_uid_index,
    split_key,
    strip_managed_fields,
)
from kybernetes.client.workqueue import QueueShutDown, WorkQueue, run_workers

__all__ = [
    "INDEX_NAMESPACE",
    "INDEX_NODE_NAME",
    "INDEX_OWNER_UID",
    "REAL_CLOCK",
    "APIConnectionError",
    "Backoff",
    "Client",
    "ClientConfig",
    "Clock",
    "ConfigError",
    "DynamicResource",
    "EventHandlers",
    "EventRecorder",
    "ExponentialBackoff",
    "FakeClock",
    "Informer",
    "KubeConfig",
    "KubeConfigError",
    "LeaderElector",
    "LeadershipLost",
    "ObjectList",
    "QueueShutDown",
    "RealClock",
    "ResourceClient",
    "Response",
    "SharedInformerFactory",
    "Store",
    "TokenBucket",
    "TypedResource",
    "WatchEvent",
    "WorkQueue",
    "WorkqueueRateLimiter",
    "load_config",
    "load_incluster_config",
    "load_kubeconfig",
    "namespace_index",
    "node_name_index",
    "object_key",
    "object_reference",
    "owner_uid_index",
    "run_workers",
    "split_key",
    "strip_managed_fields",
]
