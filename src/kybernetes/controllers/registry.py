"""The controllers the manager knows: name → module (each module has `new(ctx) -> Controller`)."""

CONTROLLERS: dict[str, str] = {
    "job": "kybernetes.controllers.job",
    "cronjob": "kybernetes.controllers.cronjob",
    "daemonset": "kybernetes.controllers.daemonset",
    "statefulset": "kybernetes.controllers.statefulset",
}
