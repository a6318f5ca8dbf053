"""The node agent (`kyb agent`): a kubelet that registers its Node, keeps its Lease fresh, and runs the pods
bound to it through a `Runtime` and an `ImageService` (`kybernetes.kubelet.runtime.protocol`).

Modules: `agent` (the whole, one TaskGroup), `node` (Node, Lease, status), `api` (every API call),
`pods` (per-pod level-triggered workers), `status` (pod status rendering), `podspec` (argv, env, DNS, QoS),
`volumes` (emptyDir, hostPath, configMap, secret, downwardAPI, projected, the service-account token),
`probes` (exec / httpGet / tcpSocket probes and hooks).
"""

from kybernetes.kubelet.agent.agent import Agent, AgentOptions
from kybernetes.kubelet.agent.node import NodeOptions
from kybernetes.kubelet.agent.pods import WorkerOptions

__all__ = ["Agent", "AgentOptions", "NodeOptions", "WorkerOptions"]
