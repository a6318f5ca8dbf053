"""`kyb exec POD|TYPE/NAME [-c C] [-i] [-t] -- COMMAND [ARG...]`: a command in a container, over a WebSocket.

The protocol is `v5.channel.k8s.io` (v4 when the server offers only that): every binary message starts with
its channel, 0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 terminal size (`{"Width": w, "Height": h}`),
and, in v5, 255 "close" whose payload names the channel the client is done with (0: end of stdin).

With `-i` our stdin is sent as it is read (an event-loop reader, so nothing blocks and nothing is left
hanging at exit) and its end closes the command's stdin. With `-t` on a terminal, the local terminal is put
in raw mode for the session (restored on the way out) and its size is sent at the start and on SIGWINCH;
`-t` without a terminal on stdin is refused with kubectl's warning and the session runs without one.

The exit status is the command's: Success is 0; `NonZeroExitCode` gives the code from its `ExitCode` cause
(after kubectl's `command terminated with exit code N` on stderr); any other failure is one `error:` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import tty
from typing import Any

import aiohttp

from kybernetes.cli.context import CliContext, CliError, add_connection_flags, auth_headers
from kybernetes.cli.logs import choose_container, pod_for

__all__ = ["EXEC_PROTOCOLS", "add_arguments", "exit_code_of", "run", "run_exec"]

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def _flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--container", default="", help="the container (default: the pod's default)")
    parser.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the command")
    parser.add_argument("-t", "--tty", action="store_true", help="allocate a terminal for the command")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the command's own output")
    add_connection_flags(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Everything from the pod on is taken as it is and split at `--` by `split_words`: argparse cannot
    # parse flags between the pod and `--` (`kyb exec web -c app -- ls`) next to a free-form command.
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="POD [flags] -- COMMAND [ARG...]",
                        help="the pod (or deploy/web), then the command after --")
    _flags(parser)


def split_words(args: argparse.Namespace) -> argparse.Namespace:
    """Fill `args.pod` and `args.command` from `args.words`, applying flags given between them."""
    words = list(args.words)
    if not words:
        raise CliError("expected 'exec POD_NAME COMMAND [ARG1] [ARG2] ... [ARGN]'.\n"
                       "POD or TYPE/NAME is a required argument for the exec command")
    if "--" in words:
        cut = words.index("--")
        before, command = words[:cut], words[cut + 1:]
    else:
        before, command = words[:1], words[1:]
    late = argparse.ArgumentParser(add_help=False)
    _flags(late)
    late.add_argument("pod")
    # Defaults are only set for attributes the namespace lacks, so flags given before the pod stay.
    late.parse_args(before, namespace=args)
    args.command = command
    return args


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli import context

    try:
        split_words(args)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return context.run(args, lambda ctx: run_exec(ctx, args=args))


def exit_code_of(status: dict[str, Any]) -> tuple[int, str]:
    """(exit code, message for stderr) from the Status on the error channel."""
    if status.get("status") == "Success":
        return 0, ""
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    code = int(cause.get("message", "1"))
                except ValueError:
                    code = 1
                return code, f"command terminated with exit code {code}"
    return 1, f"error: {status.get('message') or 'exec failed'}"


class _Terminal:
    """Raw mode for the session's duration, and the window size."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> _Terminal:
        self.saved = termios.tcgetattr(self.fd)
        tty.setraw(self.fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    @staticmethod
    def size() -> bytes:
        columns, lines = shutil.get_terminal_size()
        return json.dumps({"Width": columns, "Height": lines}).encode()


async def _pump_stdin(ws: aiohttp.ClientWebSocketResponse, *, v5: bool) -> None:
    """Send stdin as it is read; at its end, close the command's stdin (v5)."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(fd, 32 * 1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
        queue.put_nowait(data)

    try:
        loop.add_reader(fd, readable)
    except PermissionError:
        # A regular file cannot be polled; it never blocks either, so it is read in one go.
        queue.put_nowait(sys.stdin.buffer.read())
        queue.put_nowait(b"")
    try:
        while data := await queue.get():
            await ws.send_bytes(bytes([STDIN]) + data)
        if v5:
            await ws.send_bytes(bytes([CLOSE, STDIN]))
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(fd)


async def run_exec(ctx: CliContext, *, args: argparse.Namespace) -> int:
    command = list(args.command)
    if not command:
        raise CliError("you must specify at least one command for the container")
    use_tty = args.tty
    if use_tty and not (args.stdin and sys.stdin.isatty()):
        if not args.quiet:
            print("Unable to use a TTY - input is not a terminal or the right kind of file", file=sys.stderr)
        use_tty = False
    pod = await pod_for(ctx, target=args.pod)
    name, namespace = pod["metadata"]["name"], pod["metadata"].get("namespace", ctx.namespace)
    container = choose_container(pod, requested=args.container)
    spec = pod.get("spec") or {}
    known = {c.get("name") for key in ("containers", "initContainers", "ephemeralContainers")
             for c in spec.get(key) or []}
    if container and container not in known:
        raise CliError(f"container {container} not found in pod {name}")
    params: list[tuple[str, str]] = [("command", word) for word in command]
    if container:
        params.append(("container", container))
    params += [("stdout", "true"), ("stderr", "false" if use_tty else "true")]
    if args.stdin:
        params.append(("stdin", "true"))
    if use_tty:
        params.append(("tty", "true"))
    url = f"{ctx.config.server}/api/v1/namespaces/{namespace}/pods/{name}/exec"
    try:
        ws = await ctx.client.session.ws_connect(
            url, params=params, protocols=EXEC_PROTOCOLS, headers=auth_headers(ctx.config), max_msg_size=0,
            server_hostname=ctx.config.tls_server_name, autoping=True,
        )
    except aiohttp.WSServerHandshakeError as e:
        raise CliError(f"unable to upgrade connection: {e.message} ({e.status})") from None
    v5 = ws.protocol == EXEC_PROTOCOLS[0]
    status: dict[str, Any] = {}
    terminal = _Terminal(sys.stdin.fileno()) if use_tty else None
    loop = asyncio.get_running_loop()
    with terminal if terminal is not None else contextlib.nullcontext():
        if terminal is not None:
            await ws.send_bytes(bytes([RESIZE]) + terminal.size())
            loop.add_signal_handler(
                signal.SIGWINCH, lambda: loop.create_task(ws.send_bytes(bytes([RESIZE]) + _Terminal.size()))
            )
        stdin_task = asyncio.create_task(_pump_stdin(ws, v5=v5)) if args.stdin else None
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                channel, data = msg.data[0], msg.data[1:]
                if channel == STDOUT:
                    sys.stdout.buffer.write(data)
                    sys.stdout.buffer.flush()
                elif channel == STDERR:
                    sys.stderr.buffer.write(data)
                    sys.stderr.buffer.flush()
                elif channel == ERROR:
                    with contextlib.suppress(ValueError):
                        status = json.loads(data)
        finally:
            if terminal is not None:
                loop.remove_signal_handler(signal.SIGWINCH)
            if stdin_task is not None:
                stdin_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, ConnectionError):
                    await stdin_task
            await ws.close()
    if not status:
        return 0  # v4 servers end a successful session without a Status
    code, message = exit_code_of(status)
    if message and not (args.quiet and code):
        print(message, file=sys.stderr)
    return code
