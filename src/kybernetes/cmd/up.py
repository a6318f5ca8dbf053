"""`kyb up`: a whole cluster on this machine in one command — the control plane and one node, one supervisor.

    kyb up [--data-dir /var/lib/kybernetes] [--kubeconfig ~/.kube/config] [--node-name HOST]
           [--listen 0.0.0.0:6443] [--advertise-address IP] [--dns-listen HOST:PORT] [--name-prefix kyb]
           [--registry-mirror REGISTRY=URL]... [--insecure-registry HOST[:PORT]]...

How: the checks come first and leave nothing behind when one fails (root, runc/conmon/nft, a data dir from a
newer kyb, another `kyb up` on the data dir, ports in use). Then this process supervises two children:
`kyb server` (API server, with the scheduler, controller-manager and DNS as its own children; data in
DIR/server) and, once the API server answers /readyz, `kyb agent --runtime runc` for this host (DIR/agent),
with its netns/veth prefix, bridge, cgroup root and nft tables named after `--name-prefix`. A child that
exits is restarted with back-off; SIGTERM/SIGINT stop the agent first, then the server. The children get
SIGTERM when this process dies (parent-death signal), so a `kyb up` killed with SIGKILL stops them too.
Containers outlive all of it: the next `kyb up` re-adopts them (same containers). After a reboot (the boot
id recorded in DIR differs) their runtime state is stale and is cleared first, and the agent recreates them.

The admin credentials are merged into `--kubeconfig` (context "kybernetes"), progress is shown as it starts
(a spinner on a terminal, plain lines when piped), then what to do next. This process stays small: it
imports neither the API server nor the kubelet (see `up_state`, `up_kubeconfig`; `kyb down` is `down`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kybernetes.cmd.supervisor import kyb_argv, stop_process
from kybernetes.cmd.up_kubeconfig import KubeconfigError, merge_kubeconfig
from kybernetes.cmd.up_state import (
    UpError,
    UpSettings,
    acquire_lock,
    boot_id,
    check_version,
    stop_processes,
    stray_processes,
    validate_prefix,
    write_version,
)

RUNC, CONMON = "/usr/sbin/runc", "/usr/bin/conmon"  # where the runc runtime looks for them
DEFAULT_DATA_DIR = Path("/var/lib/kybernetes")
START_TIMEOUT = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where the cluster lives")
    parser.add_argument("--kubeconfig", type=Path, default=Path("~/.kube/config"),
                        help="kubeconfig to merge the admin credentials into (context 'kybernetes')")
    parser.add_argument("--node-name", default=socket.gethostname(), help="this node's name (default: hostname)")
    parser.add_argument("--listen", default="0.0.0.0:6443", help="HOST:PORT the API server serves HTTPS on")
    parser.add_argument("--advertise-address", default="",
                        help="address of this machine for pods and other machines (default: the --listen "
                             "host, or if that is 0.0.0.0 the source address of the default route)")
    parser.add_argument("--dns-listen", default="", help="HOST:PORT of the cluster DNS (default: advertise address:53)")
    parser.add_argument("--name-prefix", default=None,
                        help="prefix of everything made on the host: netns/veths, bridge PREFIX0, cgroup "
                             "/PREFIX, nft tables PREFIX-node/-proxy (default: kyb, or what DIR was made with)")
    parser.add_argument("--kubelet-port", type=int, default=10250, help="the kubelet's HTTPS port (0: any free one)")
    parser.add_argument("--registry-mirror", action="append", default=[], metavar="REGISTRY=URL",
                        help="pull REGISTRY's images from URL first; repeatable")
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                        help="speak plain HTTP to this registry; repeatable")


# ---- output -------------------------------------------------------------------------------------------


class Progress:
    """Steps as they happen: a rich spinner and ticks on a terminal, plain lines otherwise."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.console: Any = None
        if sys.stdout.isatty():
            from rich.console import Console

            self.console = Console(highlight=False)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        if self.console is None:
            yield
            return
        with self.console.status(text):
            yield

    def done(self, text: str) -> None:
        if self.console is not None:
            self.console.print(f"[green]✓[/green] {text}")
        else:
            print(text, flush=True)

    def note(self, text: str) -> None:
        if self.console is not None:
            self.console.print(f"[yellow]![/yellow] {text}")
        else:
            print(text, flush=True)


# ---- checks -------------------------------------------------------------------------------------------


def split_hostport(value: str, *, flag: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise UpError(f"{flag} must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def check_binaries() -> None:
    for path, package in ((RUNC, "runc"), (CONMON, "conmon")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise UpError(f"{package} not found at {path}: install {package} (apt-get install {package})")
    if shutil.which("nft") is None:
        raise UpError("nft not found: install nftables (apt-get install nftables)")


def check_port(host: str, port: int, *, kind: int = socket.SOCK_STREAM, flag: str = "--listen") -> None:
    """Fail when HOST:PORT cannot be bound (something listens there)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            proto = "tcp" if kind == socket.SOCK_STREAM else "udp"
            raise UpError(f"port {port} is in use: {host}:{port}/{proto}: {e.strerror} (see ss -lnp 'sport = :{port}'); "
                          f"stop what listens there or choose another with {flag}") from None


def primary_address() -> str:
    """The source address of the default route (no packet is sent), else loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))  # TEST-NET-2: only the default route leads there
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


# ---- children -----------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGTERM it when this process dies, even by SIGKILL.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One supervised `kyb` child: output appended to its log, restarted with back-off when it exits."""

    def __init__(self, *, name: str, argv: list[str], log_path: Path, progress: Progress) -> None:
        self.name, self.argv, self.log_path, self.progress = name, argv, log_path, progress
        self.proc: asyncio.subprocess.Process | None = None
        self.exits = 0
        self.last_code: int | None = None

    async def run(self, *, grace: float) -> None:
        """Until cancelled; cancelling stops the process (SIGTERM, then SIGKILL after `grace`)."""
        backoff = 0.5
        loop = asyncio.get_running_loop()
        while True:
            with self.log_path.open("ab") as log:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True, preexec_fn=_die_with_parent)
            started = loop.time()
            try:
                code = await self.proc.wait()
            except asyncio.CancelledError:
                await self._stop(grace)
                raise
            self.exits, self.last_code = self.exits + 1, code
            backoff = 0.5 if loop.time() - started > 60 else min(backoff * 2, 30.0)
            self.progress.note(f"kyb {self.name} exited with code {code}; restarting in {backoff:.1f} s "
                               f"(log: {self.log_path})")
            await asyncio.sleep(backoff)

    async def _stop(self, grace: float) -> None:
        if self.proc is not None:
            await stop_process(self.proc, grace=grace, group=True)

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])


# ---- readiness ----------------------------------------------------------------------------------------


class Api:
    """Just enough HTTPS to see the cluster come up (urllib in threads: nothing heavy in this process)."""

    def __init__(self, *, url: str, pki: Path) -> None:
        self.url, self.pki = url, pki
        self._ctx: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext | None:
        # The server writes its kubeconfig once the PKI is complete: until then a file may be missing or half
        # written.
        if self._ctx is None and (self.pki.parent / "admin.kubeconfig").exists():
            try:
                ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
                ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
            except (OSError, ssl.SSLError):
                return None
            self._ctx = ctx
        return self._ctx

    def get(self, path: str) -> Any:
        ctx = self._context()
        if ctx is None:
            return None
        try:
            with urllib.request.urlopen(self.url + path, context=ctx, timeout=2) as r:
                body = r.read()
        except (OSError, ssl.SSLError):
            return None
        return json.loads(body) if body.startswith(b"{") else body.decode(errors="replace")

    def ready(self) -> bool:
        return self.get("/readyz") == "ok"

    def node_ready(self, name: str) -> bool:
        node = self.get(f"/api/v1/nodes/{name}")
        if not isinstance(node, dict):
            return False
        conditions = node.get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def wait_for(what: str, check: Callable[[], bool], *, child: Child, within: float = START_TIMEOUT) -> None:
    """Poll `check` (in a thread) until true; fail if `child` exits meanwhile or time runs out."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(check):
        if child.exits:
            raise UpError(f"kyb {child.name} exited with code {child.last_code} before {what}: "
                          f"{child.log_tail()} (log: {child.log_path})")
        if time.monotonic() > deadline:
            raise UpError(f"no {what} after {within:.0f} s: {child.log_tail()} (log: {child.log_path})")
        await asyncio.sleep(0.1)


# ---- the command --------------------------------------------------------------------------------------


class Up:
    def __init__(self, args: argparse.Namespace, *, data_dir: Path, settings: UpSettings, advertise: str) -> None:
        self.args, self.data_dir, self.settings, self.advertise = args, data_dir, settings, advertise
        self.progress = Progress()
        _, port = split_hostport(args.listen, flag="--listen")
        shown = f"[{advertise}]" if ":" in advertise else advertise
        self.api = Api(url=f"https://{shown}:{port}", pki=data_dir / "server" / "pki")
        logs = data_dir / "logs"
        logs.mkdir(exist_ok=True)
        server_argv = kyb_argv("server", "--data-dir", str(data_dir / "server"), "--listen", args.listen,
                               "--advertise-address", advertise,
                               *(["--dns-listen", args.dns_listen] if args.dns_listen else []))
        agent_argv = kyb_argv(
            "agent", "--kubeconfig", str(data_dir / "server" / "admin.kubeconfig"), "--node-name", args.node_name,
            "--data-dir", str(data_dir / "agent"), "--runtime", "runc", "--node-ip", advertise,
            "--kubelet-port", str(args.kubelet_port), "--bridge", settings.bridge, "--netns-prefix",
            settings.name_prefix, "--cgroup-root", settings.cgroup_root, "--cluster-cidr", settings.cluster_cidr,
            *[f"--registry-mirror={m}" for m in args.registry_mirror],
            *[f"--insecure-registry={r}" for r in args.insecure_registry])
        self.server = Child(name="server", argv=server_argv, log_path=logs / "server.log", progress=self.progress)
        self.agent = Child(name="agent", argv=agent_argv, log_path=logs / "agent.log", progress=self.progress)

    async def run(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        code = 0
        async with asyncio.TaskGroup() as tg:
            server = tg.create_task(self.server.run(grace=20), name="server")
            agent: asyncio.Task[None] | None = None

            def start_agent() -> None:
                nonlocal agent
                agent = tg.create_task(self.agent.run(grace=30), name="agent")

            startup = tg.create_task(self._start(start_agent), name="startup")
            stopped = tg.create_task(stop.wait(), name="signals")
            await asyncio.wait([startup, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not startup.done():
                startup.cancel()
            elif (failure := startup.result()) is not None:
                print(f"kyb up: error: {failure}", file=sys.stderr, flush=True)
                code = 1
                stop.set()
            await stopped
            self.progress.note("stopping: the node, then the control plane")
            for task in (agent, server):  # in this order: the node's last status reaches a live API server
                if task is not None:
                    task.cancel()
                    await asyncio.wait([task])
        if code == 0:
            self.progress.done("stopped; containers keep running until the next kyb up or kyb down")
        return code

    async def _start(self, start_agent: Callable[[], None]) -> UpError | None:
        """Bring the cluster up step by step; a failure is returned (raising would tear down the task group
        before the children are stopped in order)."""
        try:
            await self._steps(start_agent)
        except UpError as e:
            return e
        return None

    async def _steps(self, start_agent: Callable[[], None]) -> None:
        p, node = self.progress, self.args.node_name
        with p.step("starting the control plane"):
            await wait_for("a ready control plane", self.api.ready, child=self.server)
        p.done(f"control plane ready ({p.elapsed():.1f} s)")
        kubeconfig = self.args.kubeconfig.expanduser()
        try:
            await asyncio.to_thread(merge_kubeconfig, path=kubeconfig,
                                    source=self.data_dir / "server" / "admin.kubeconfig", name=self.settings.context)
        except KubeconfigError as e:
            raise UpError(f"{e}: fix it or pass another --kubeconfig") from None
        start_agent()
        with p.step(f"starting node {node}"):
            await wait_for(f"node {node} Ready", lambda: self.api.node_ready(node), child=self.agent)
        p.done(f"node {node} Ready ({p.elapsed():.1f} s)")
        self._next_steps(kubeconfig)

    def _next_steps(self, kubeconfig: Path) -> None:
        default = kubeconfig == Path("~/.kube/config").expanduser()
        env = "" if default else f"KUBECONFIG={kubeconfig} "
        down = "kyb down" + ("" if self.data_dir == DEFAULT_DATA_DIR else f" --data-dir {self.data_dir}")
        lines = [
            f"Kybernetes is up: context {self.settings.context!r} in {kubeconfig}, logs in {self.data_dir / 'logs'}",
            f"  {env}kubectl get nodes",
            f"  {env}kubectl run hello --image=busybox -- sleep 3600",
            f"  {down:<40} # stop it and remove everything (--keep-data: keep the cluster)",
            "Ctrl-C stops the control plane and the node; pods keep running until the next kyb up.",
        ]
        print("\n".join(lines), flush=True)


def prepare(args: argparse.Namespace) -> tuple[Path, UpSettings, str, int]:
    """Every check, then the data dir, its lock and records; nothing runs yet. Returns (data dir, settings,
    advertise address, lock fd)."""
    if os.geteuid() != 0:
        raise UpError("kyb up runs containers and must run as root: sudo kyb up")
    check_binaries()
    host, port = split_hostport(args.listen, flag="--listen")
    # A server bound to one address is reached there; one on every address by the machine's own.
    advertise = args.advertise_address or (host if host not in ("0.0.0.0", "::") else primary_address())
    dns_host, dns_port = (split_hostport(args.dns_listen, flag="--dns-listen") if args.dns_listen
                          else (advertise, 53))
    data_dir: Path = args.data_dir.resolve()
    check_version(data_dir=data_dir)
    recorded = UpSettings.load(data_dir=data_dir)
    prefix = validate_prefix(args.name_prefix or (recorded.name_prefix if recorded else "kyb"))
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = -1
    try:
        lock = acquire_lock(data_dir=data_dir)
        strays = stray_processes(data_dir=data_dir)
        if strays:  # left by a kyb up killed with SIGKILL
            print(f"kyb up: stopping {len(strays)} process(es) a previous kyb up left running", flush=True)
            stop_processes(strays, grace=20)
        check_port(host, port)
        check_port("0.0.0.0", args.kubelet_port, flag="--kubelet-port")  # the kubelet serves on every address
        check_port(dns_host, dns_port, kind=socket.SOCK_DGRAM, flag="--dns-listen")
        check_port(dns_host, dns_port, flag="--dns-listen")
    except BaseException:
        if lock >= 0:
            os.close(lock)
            (data_dir / "kyb-up.pid").unlink(missing_ok=True)
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    settings = UpSettings(name_prefix=prefix, node_name=args.node_name, kubeconfig=str(args.kubeconfig.expanduser()),
                          boot_id=boot_id())
    if recorded is not None and recorded.boot_id and recorded.boot_id != settings.boot_id:
        # The machine restarted: containers, mounts and namespaces are gone and the runtime's records of
        # them are stale. Clear them; the agent recreates every pod bound to this node.
        from kybernetes.kubelet.cleanup import clean_node

        clean_node(traces=recorded.traces(data_dir=data_dir), keep_data=True)
    write_version(data_dir=data_dir)
    settings.save(data_dir=data_dir)
    return data_dir, settings, advertise, lock


def run(args: argparse.Namespace) -> int:
    try:
        data_dir, settings, advertise, lock = prepare(args)
    except UpError as e:
        print(f"kyb up: error: {e}", file=sys.stderr)
        return 1
    try:
        print(f"kyb up: data in {data_dir}, node {args.node_name}, API server on {args.listen} "
              f"(advertised as {advertise})", flush=True)
        return asyncio.run(Up(args, data_dir=data_dir, settings=settings, advertise=advertise).run())
    finally:
        (data_dir / "kyb-up.pid").unlink(missing_ok=True)
        os.close(lock)
