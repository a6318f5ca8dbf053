"""The runc container runtime: pod sandboxes as pinned namespaces on the node bridge, containers as OCI
bundles on overlayfs run by runc under conmon. `runtime.RuncRuntime` is the entry point; `spec` builds
config.json, `cgroups` handles pod cgroups and stats, `podfiles` the per-pod files and namespaces,
`monitor` runc and conmon, `execs` exec and exec sessions, `records` the on-disk state."""

from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime

__all__ = ["RuncRuntime"]
