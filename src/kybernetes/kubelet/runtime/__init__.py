"""Container runtimes behind one protocol shaped after the Kubernetes CRI (`protocol.py`): `runc/` runs real
containers, `fake/` drives pod status for tests and the node simulator."""
