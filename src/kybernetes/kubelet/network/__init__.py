"""Pod networking for the kubelet: a node bridge, one network namespace and veth per pod sandbox, and a
file-backed host-local IPAM for the node's pod CIDR (`podnetwork.py`, `ipam.py`)."""

from kybernetes.kubelet.network.ipam import IPAM, IPAMExhausted
from kybernetes.kubelet.network.podnetwork import PodAttachment, PodNetwork, pod_cidr_gateway

__all__ = ["IPAM", "IPAMExhausted", "PodAttachment", "PodNetwork", "pod_cidr_gateway"]
