"""The scheduler: places pending pods on nodes, talking to the cluster only through the API.

Pipeline (one pod at a time, Kubernetes' scheduling framework):

    informers ──► SchedulingQueue (activeQ by priority │ backoffQ │ unschedulable)
        │                      │ pop
        ▼                      ▼
    SchedulerCache ──► Snapshot ──► Profile: PreFilter → Filter (sampled nodes) → Score → pick
    (nodes, bound +                          │ no node fits: PostFilter = preemption
     assumed pods)                           ▼
        ▲ assume                       FitError message → event + PodScheduled=False
        └───────────── bind task (pods/binding, bounded concurrency) ──► Scheduled event

Module map: `framework` (result codes, plugin protocols, FitError wording), `nodeinfo` (PodInfo / NodeInfo
precomputations), `cache` (assume cache + snapshot), `queue`, `profile` (runs the plugins), `algorithm`
(sampling, scoring, selection), `preemption`, `plugins/` (one module per plugin, each with `NAME`),
`scheduler` (informer wiring, the loop, API writes). Glossary: *assumed* — placed by us, binding not yet
confirmed by the watch; *nominated* — preempted for, waiting for the victims to go; *feasible* — passed
every filter.
"""

from kybernetes.scheduler.cache import SchedulerCache, Snapshot
from kybernetes.scheduler.framework import Code, CycleState, FitError, Status
from kybernetes.scheduler.nodeinfo import NodeInfo, PodInfo
from kybernetes.scheduler.profile import DEFAULT_SCHEDULER_NAME, Profile
from kybernetes.scheduler.queue import SchedulingQueue
from kybernetes.scheduler.scheduler import Scheduler, SchedulerConfig, SchedulerStatistics

__all__ = [
    "DEFAULT_SCHEDULER_NAME",
    "Code",
    "CycleState",
    "FitError",
    "NodeInfo",
    "PodInfo",
    "Profile",
    "Scheduler",
    "SchedulerCache",
    "SchedulerConfig",
    "SchedulerStatistics",
    "SchedulingQueue",
    "Snapshot",
    "Status",
]
