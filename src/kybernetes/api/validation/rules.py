"""The per-kind rule record the dispatch table holds.

Each kind contributes a `Rules`: how its names are checked, what its body must satisfy (run on create
and again on update), extra update-only checks (immutable fields) and status-update checks. Metadata
checks are common and run by the dispatcher, so rule functions only look at the rest of the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kybernetes.machinery.errors import FieldError
from kybernetes.machinery.validation import NameFn, name_is_dns_subdomain

Obj = dict[str, Any]
BodyFn = Callable[[Obj, str], list[FieldError]]  # (obj, version)
PairFn = Callable[[Obj, Obj, str], list[FieldError]]  # (new, old, version)


@dataclass(frozen=True, slots=True)
class Rules:
    name: NameFn = name_is_dns_subdomain
    body: BodyFn | None = None
    update: PairFn | None = None
    status: PairFn | None = None
    # Whether `body` also runs on update (false where Kubernetes replaces the check by an immutability rule).
    body_on_update: bool = True


def spec_of(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}
