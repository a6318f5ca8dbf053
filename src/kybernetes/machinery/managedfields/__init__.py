"""Server-side apply and `metadata.managedFields`, on wire-form dicts, with Kubernetes' semantics.

Every write records who set which field: `update()` for create/PUT/PATCH, `apply()` for
`application/apply-patch+yaml`. Field sets are tries of `f:`/`k:`/`v:`/`i:` path elements (`FieldSet`,
encoded as `fieldsV1`); which parts of an object are tracked separately comes from the type's schema
(`FieldSchema`, e.g. `OpenAPIFieldSchema.for_definition(definitions, "io.k8s.api.apps.v1.Deployment")`).

Modules: `schema` (structural view of OpenAPI), `fieldset` (paths and the FieldsV1 codec), `walk`
(schema-guided field sets, compare, merge, removal), `entries` (managedFields entries), `operations`
(apply and update).
"""

from kybernetes.machinery.managedfields.entries import (
    ANCIENT_CHANGES,
    MAX_UPDATE_ENTRIES,
    Entry,
    decode_entries,
    encode_entries,
    manager_from_user_agent,
)
from kybernetes.machinery.managedfields.fieldset import FieldSet, Path, path_string
from kybernetes.machinery.managedfields.operations import (
    FIELD_MANAGER_CONFLICT,
    LAST_APPLIED_ANNOTATION,
    ApplyConflictError,
    apply,
    update,
)
from kybernetes.machinery.managedfields.schema import UNTYPED, FieldSchema, OpenAPIFieldSchema
from kybernetes.machinery.managedfields.walk import InvalidObjectError, fieldset_of

__all__ = [
    "ANCIENT_CHANGES",
    "FIELD_MANAGER_CONFLICT",
    "LAST_APPLIED_ANNOTATION",
    "MAX_UPDATE_ENTRIES",
    "UNTYPED",
    "ApplyConflictError",
    "Entry",
    "FieldSchema",
    "FieldSet",
    "InvalidObjectError",
    "OpenAPIFieldSchema",
    "Path",
    "apply",
    "decode_entries",
    "encode_entries",
    "fieldset_of",
    "manager_from_user_agent",
    "path_string",
    "update",
]
