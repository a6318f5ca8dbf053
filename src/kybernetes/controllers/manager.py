"""The controller-manager: builds the enabled controllers over shared informers and runs them, under
leader election so that only one of several controller-managers acts.

    async with Client(load_config(component="controller-manager")) as client:
        await run_controller_manager(client=client, identity=hostname)

Beside other components in one process (`kyb components`) it takes their shared informer factory
(`informers=`), which the caller runs, and keeps its own client for writes and its own Lease.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Sequence

from kybernetes.client import Client, LeaderElector, SharedInformerFactory
from kybernetes.controllers.base import ControllerContext, ControllerFactory
from kybernetes.controllers.registry import CONTROLLERS

log = logging.getLogger("kybernetes.controller-manager")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"


def factories(names: Sequence[str] | None) -> dict[str, ControllerFactory]:
    """The `new` functions of the named controllers (all registered ones by default)."""
    wanted = list(CONTROLLERS) if not names else list(names)
    out: dict[str, ControllerFactory] = {}
    for name in wanted:
        module_name = CONTROLLERS.get(name)
        if module_name is None:
            raise ValueError(f"unknown controller {name!r}; known: {', '.join(sorted(CONTROLLERS))}")
        out[name] = importlib.import_module(module_name).new
    return out


async def run_controllers(*, ctx: ControllerContext, names: Sequence[str] | None = None, workers: int = 5,
                          run_informers: bool = True) -> None:
    """Build and run the controllers until cancelled (no leader election). With `run_informers=False` the
    caller runs `ctx.informers` (a factory shared with other components); informers the controllers ask
    for are started by that running factory."""
    controllers = [factory(ctx) for factory in factories(names).values()]
    async with asyncio.TaskGroup() as tg:
        if run_informers:
            tg.create_task(ctx.informers.run(), name="informers")
        await ctx.informers.wait_synced()
        for recorder in ctx.recorders.values():
            tg.create_task(recorder.run(), name=f"events {recorder.component}")
        for controller in controllers:
            tg.create_task(controller.run(workers=workers), name=controller.name)
        log.info("controllers running: %s", ", ".join(c.name for c in controllers))


async def run_controller_manager(
    *, client: Client, identity: str, names: Sequence[str] | None = None, leader_elect: bool = True,
    workers: int = 5, options: dict[str, str] | None = None, informers: SharedInformerFactory | None = None,
) -> None:
    """The controllers as the controller-manager runs them: over `informers` if given (run by the caller) or
    a factory of their own on `client`, only while holding the Lease with `leader_elect`. A lost lease
    raises `LeadershipLost` (the process exits and its supervisor restarts it, as kube-controller-manager
    does)."""
    ctx = ControllerContext(client=client, informers=informers or SharedInformerFactory(client=client),
                            options=options or {})
    own = informers is None
    if not leader_elect:
        await run_controllers(ctx=ctx, names=names, workers=workers, run_informers=own)
        return
    elector = LeaderElector(client=client, namespace=LEASE_NAMESPACE, name=LEASE_NAME, identity=identity)
    async with elector.leading():
        log.info("leading as %s", identity)
        await run_controllers(ctx=ctx, names=names, workers=workers, run_informers=own)
