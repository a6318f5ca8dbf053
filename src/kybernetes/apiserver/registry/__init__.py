"""Per-resource behaviour: strategies (`strategy.py`) and the subresources of pods, services,
namespaces and service accounts, plus the generic `status` and `scale` subresources."""
