#!/usr/bin/env python3
"""Build the guestbook's images from this machine's own Python and load them into a `kyb up` node.

    examples/build-images.py [--out DIR] [--data-dir /var/lib/kybernetes/agent] [--no-import]

Writes three OCI image layouts under DIR (default /tmp/kyb-example-images), with no docker and no registry:

    example.local/guestbook-backend:v1     example.local/guestbook-frontend:v1     ...frontend:v2

Each is the Python base image the tests use (tests/imagebuild.py: static busybox plus the machine's python3,
its libraries and standard library; built once per Python version and cached under /tmp) with one small
layer on top: /app/<program>.py and /app/VERSION. The two front-end images differ only in VERSION, which
the page shows, so an update and a rollback are visible. Then `kyb image import` loads each layout into the
node's image store (`--data-dir` is the node's data directory: `kyb up --data-dir D` keeps it in D/agent),
where pods with `imagePullPolicy: IfNotPresent` find them. Run it as root from anywhere in the checkout.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
sys.path.insert(0, str(EXAMPLES.parent / "tests"))  # the image builder the test suite uses

from imagebuild import LayerBuilder, OciLayout, build_image, build_python_image  # noqa: E402

REPOSITORY = "example.local"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# (image name, program, version)
IMAGES = [("guestbook-backend", "backend.py", "v1"), ("guestbook-frontend", "frontend.py", "v1"),
          ("guestbook-frontend", "frontend.py", "v2")]


def build_app_image(*, out: Path, base: OciLayout, name: str, program: str, version: str) -> OciLayout:
    """The base image's layers plus one with the program and its VERSION, as an OCI layout in `out`."""
    app = LayerBuilder()
    app.file(f"app/{program}", source=EXAMPLES / "guestbook" / program, mode=0o644)
    app.file("app/VERSION", f"{version}\n".encode())
    if out.exists():
        shutil.rmtree(out)
    return build_image(out, [*base.layers, app], name=name, cmd=["python3", "-u", f"/app/{program}"],
                       env=[PATH_ENV, "PYTHONDONTWRITEBYTECODE=1"], working_dir="/app")


def kyb() -> list[str]:
    """The `kyb` beside this Python (the checkout's venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("kyb")
    return [str(beside)] if beside.exists() else ["kyb"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/kyb-example-images"), help="where the layouts go")
    parser.add_argument("--data-dir", type=Path, default=Path("/var/lib/kybernetes/agent"),
                        help="the node's data directory to import into (kyb up --data-dir D: D/agent)")
    parser.add_argument("--no-import", dest="load", action="store_false", help="only build the layouts")
    args = parser.parse_args()

    base = build_python_image()
    for image, program, version in IMAGES:
        name = f"{REPOSITORY}/{image}:{version}"
        layout = build_app_image(out=args.out / f"{image}-{version}", base=base, name=name, program=program,
                                 version=version)
        print(f"built {name} in {layout.path}", flush=True)
        if args.load:
            done = subprocess.run([*kyb(), "image", "import", "--data-dir", str(args.data_dir), str(layout.path)])
            if done.returncode != 0:
                return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
