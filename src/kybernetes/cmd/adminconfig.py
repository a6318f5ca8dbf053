"""The admin connection of the operator commands (`kyb token`, `kyb node`): which kubeconfig, and errors as
one line.

`--kubeconfig FILE` wins; else `$KUBECONFIG`, else `~/.kube/config`, else the admin kubeconfig a
`kyb server --data-dir /var/lib/kybernetes/server` writes. `run_admin(main)` runs the command's coroutine and
turns what can go wrong into one line on stderr and exit status 1: no kubeconfig, the server unreachable,
an error Status from the server (kubectl's `Error from server (Reason): message`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from kybernetes.client import APIConnectionError, ClientConfig, KubeConfigError, load_config
from kybernetes.client.kubeconfig import default_kubeconfig_paths
from kybernetes.machinery.errors import StatusError

SERVER_ADMIN_KUBECONFIG = Path("/var/lib/kybernetes/server/admin.kubeconfig")


class CommandError(Exception):
    """A failure the user can act on; printed as `error: <message>`."""


def add_kubeconfig_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None,
                        help=f"admin kubeconfig (default: $KUBECONFIG, ~/.kube/config, {SERVER_ADMIN_KUBECONFIG})")


def admin_config(kubeconfig: str | None, *, component: str) -> ClientConfig:
    if kubeconfig is None and not any(p.exists() for p in default_kubeconfig_paths()):
        if SERVER_ADMIN_KUBECONFIG.exists():
            kubeconfig = str(SERVER_ADMIN_KUBECONFIG)
    try:
        return load_config(kubeconfig=kubeconfig, component=component)
    except (KubeConfigError, OSError) as e:
        raise CommandError(f"no admin kubeconfig: {e} (pass --kubeconfig)") from None


def run_admin(main: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run(main)
    except CommandError as e:
        print(f"error: {e}", file=sys.stderr)
    except StatusError as e:
        print(f"Error from server ({e.reason}): {e.message}", file=sys.stderr)
    except APIConnectionError as e:
        print(f"error: cannot reach the API server: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    return 1
