"""Kybernetes: a container orchestrator that speaks the Kubernetes API on the wire."""

__version__ = "0.1.0"

# The Kubernetes API level this release implements (reported by /version).
KUBE_MAJOR = "1"
KUBE_MINOR = "36"
KUBE_GIT_VERSION = f"v{KUBE_MAJOR}.{KUBE_MINOR}.0+kyb.{__version__}"
