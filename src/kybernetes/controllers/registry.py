"""The controllers the manager knows: name → module (each module has `new(ctx) -> Controller`)."""

CONTROLLERS: dict[str, str] = {
    "node-lifecycle": "kybernetes.controllers.nodelifecycle",
    "node-ipam": "kybernetes.controllers.nodeipam",
    "horizontal-pod-autoscaler": "kybernetes.controllers.podautoscaler",
    "disruption": "kybernetes.controllers.disruption",
    "resourcequota": "kybernetes.controllers.resourcequota",
    "replicaset": "kybernetes.controllers.replicaset",
    "replicationcontroller": "kybernetes.controllers.replicaset.rc",
    "deployment": "kybernetes.controllers.deployment",
    "namespace": "kybernetes.controllers.namespace",
    "serviceaccount": "kybernetes.controllers.serviceaccount",
    "root-ca-cert-publisher": "kybernetes.controllers.serviceaccount.rootca",
    "garbage-collector": "kybernetes.controllers.garbagecollector",
    "endpoints": "kybernetes.controllers.endpoints",
    "endpointslice": "kybernetes.controllers.endpointslice",
    "pod-garbage-collector": "kybernetes.controllers.podgc",
    "job": "kybernetes.controllers.job",
    "cronjob": "kybernetes.controllers.cronjob",
    "daemonset": "kybernetes.controllers.daemonset",
    "statefulset": "kybernetes.controllers.statefulset",
    "persistentvolume-binder": "kybernetes.controllers.persistentvolume",
}
