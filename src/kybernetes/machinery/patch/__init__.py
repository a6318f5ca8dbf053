"""Patches applied to wire-form documents: JSON patch, JSON merge patch and strategic merge patch.

Every function returns a new dict and leaves its inputs alone. Server-side apply is not here (it lives with
the API server); strategic merge patch learns list strategies through the `PatchSchema` protocol, with
`OpenAPIPatchSchema` reading them from Kubernetes' OpenAPI v2 definitions.
"""

from kybernetes.machinery.patch.json_patches import apply_json_patch, apply_merge_patch, merge_values
from kybernetes.machinery.patch.schema import OpenAPIPatchSchema, PatchSchema
from kybernetes.machinery.patch.strategic import apply_strategic_merge_patch

__all__ = [
    "OpenAPIPatchSchema",
    "PatchSchema",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "merge_values",
]
