"""What a controller is, and what the controller-manager gives it.

A controller is built from a `ControllerContext` (shared client, shared informers, an event recorder per
controller, a clock) by its package's `new(ctx)` function; building it registers informer handlers, and
`run(workers=N)` processes its queue until cancelled. The manager starts the informers after every
controller is built, waits for them to sync, then runs the controllers in one TaskGroup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kybernetes.client import REAL_CLOCK, Client, Clock, EventRecorder, SharedInformerFactory


@dataclass
class ControllerContext:
    client: Client
    informers: SharedInformerFactory
    clock: Clock = REAL_CLOCK
    # One recorder per component name ("replicaset-controller", ...), created on demand and run by the
    # manager.
    recorders: dict[str, EventRecorder] = field(default_factory=dict)
    # Options a controller may read (e.g. "cluster-cidr", "node-monitor-grace-period"); strings by name.
    options: dict[str, str] = field(default_factory=dict)

    def recorder(self, component: str) -> EventRecorder:
        found = self.recorders.get(component)
        if found is None:
            found = EventRecorder(client=self.client, component=component, clock=self.clock)
            self.recorders[component] = found
        return found


class Controller(Protocol):
    name: str

    async def run(self, *, workers: int) -> None:
        """Process the queue with `workers` concurrent syncs until cancelled."""
        ...


ControllerFactory = Callable[[ControllerContext], Controller]
