"""The node simulator: many pretend kubelets in one process, in the spirit of Kubernetes' kwok.

It is only an API client (`kybernetes.client`), so it can be pointed at any Kubernetes-compatible server. It
registers Nodes with capacity and conditions, keeps their Leases in `kube-node-lease` fresh, and moves the
pods bound to them through Pending → Running (→ Succeeded / Failed when their containers end, by an
annotation or their command), confirming graceful deletions. No container ever runs; addresses are data.

    async with Client(load_config()) as client:
        sim = Simulator(client=client, nodes=node_specs(count=100, prefix="sim"))
        await sim.run()  # until cancelled

Module map: `nodes` (NodeSpec and the Node / Lease objects), `podrun` (a pod's pretend timeline and the
status it reports), `addresses` (pod IPs per node), `cluster` (the API seam and its client implementation),
`simulator` (queues, workers, the sync of nodes and pods). `kyb simulate` is `kybernetes.cmd.simulate`.
"""

from kybernetes.kubelet.simulator.cluster import ClientCluster, ClusterAPI, Source
from kybernetes.kubelet.simulator.nodes import (
    KUBELET_VERSION,
    LEASE_NAMESPACE,
    SIMULATED_LABEL,
    NodeSpec,
    node_specs,
    parse_labels,
    parse_taints,
)
from kybernetes.kubelet.simulator.podrun import (
    ANNOTATION_EXIT_CODE,
    ANNOTATION_READY_AFTER,
    ANNOTATION_RUN_SECONDS,
)
from kybernetes.kubelet.simulator.simulator import Simulator, SimulatorOptions, SimulatorStatistics

__all__ = [
    "ANNOTATION_EXIT_CODE",
    "ANNOTATION_READY_AFTER",
    "ANNOTATION_RUN_SECONDS",
    "KUBELET_VERSION",
    "LEASE_NAMESPACE",
    "SIMULATED_LABEL",
    "ClientCluster",
    "ClusterAPI",
    "NodeSpec",
    "Simulator",
    "SimulatorOptions",
    "SimulatorStatistics",
    "Source",
    "node_specs",
    "parse_labels",
    "parse_taints",
]
