"""Typed objects per group/version, their defaults and validation, and the resource registry.

- `api.models.*`: msgspec Structs for every served kind, generated from the Kubernetes OpenAPI document
  (`scripts/gen_models.py`), wire names exactly as Kubernetes spells them.
- `api.resources`: what is served (group, version, kind, plural, scope, short names, subresources).
- `api.defaults` / `api.validation`: Kubernetes' defaulting and validation on the wire form.
"""
