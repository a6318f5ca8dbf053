"""The error tree shared by server and client, and its `kind: Status` wire form.

Every error a client can cause maps to one `StatusError` subclass carrying the HTTP code, the `reason`
Kubernetes uses, and (for 422) the field causes. The API server renders them with `to_status()`; the
client rebuilds the same class from a Status body with `from_status()`, so callers on both sides
catch `NotFoundError`, `ConflictError`, ... rather than numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: `type` is Kubernetes' cause type, e.g. FieldValueRequired."""

    path: str
    type: str
    message: str
    value: Any = None

    # Cause types as Kubernetes names them (metav1.CauseType).
    REQUIRED: ClassVar[str] = "FieldValueRequired"
    INVALID: ClassVar[str] = "FieldValueInvalid"
    NOT_SUPPORTED: ClassVar[str] = "FieldValueNotSupported"
    DUPLICATE: ClassVar[str] = "FieldValueDuplicate"
    FORBIDDEN: ClassVar[str] = "FieldValueForbidden"
    TOO_LONG: ClassVar[str] = "FieldValueTooLong"
    TOO_MANY: ClassVar[str] = "FieldValueTooMany"
    NOT_FOUND: ClassVar[str] = "FieldValueNotFound"

    def describe(self) -> str:
        """The one-line form Kubernetes prints, e.g. `spec.containers[0].name: Required value`."""
        if self.type == self.REQUIRED:
            text = "Required value"
            if self.message:
                text += ": " + self.message
        elif self.type == self.FORBIDDEN:
            text = "Forbidden: " + self.message
        elif self.type == self.TOO_LONG:
            text = "Too long: " + self.message
        elif self.type == self.TOO_MANY:
            text = "Too many: " + self.message
        elif self.type == self.DUPLICATE:
            text = f"Duplicate value: {_render_value(self.value)}"
        elif self.type == self.NOT_FOUND:
            text = f"Not found: {_render_value(self.value)}"
        elif self.type == self.NOT_SUPPORTED:
            text = f"Unsupported value: {_render_value(self.value)}"
            if self.message:
                text += ": " + self.message
        elif self.type == self.INVALID:
            text = f"Invalid value: {_render_value(self.value)}"
            if self.message:
                text += ": " + self.message
        else:
            # A cause type of its own (e.g. FieldManagerConflict): its message stands as given.
            text = self.message
        return f"{self.path}: {text}"


def required(path: str, message: str = "") -> FieldError:
    return FieldError(path, FieldError.REQUIRED, message)


def invalid(path: str, value: Any, message: str) -> FieldError:
    return FieldError(path, FieldError.INVALID, message, value)


def not_supported(path: str, value: Any, supported: list[str]) -> FieldError:
    msg = "supported values: " + ", ".join(f'"{s}"' for s in supported) if supported else ""
    return FieldError(path, FieldError.NOT_SUPPORTED, msg, value)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, FieldError.DUPLICATE, "", value)


def forbidden(path: str, message: str) -> FieldError:
    return FieldError(path, FieldError.FORBIDDEN, message)


def too_long(path: str, value: Any, max_length: int) -> FieldError:
    return FieldError(path, FieldError.TOO_LONG, f"may not be more than {max_length} bytes", value)


def _go_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render_value(value: Any) -> str:
    """A value as Kubernetes prints it in a field error (Go's %#v for maps and slices)."""
    if isinstance(value, dict):
        if value and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            inner = ", ".join(f"{_go_string(k)}:{_go_string(v)}" for k, v in sorted(value.items()))
            return "map[string]string{" + inner + "}"
        import json

        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return "[]string{" + ", ".join(_go_string(v) for v in value) + "}"
        import json

        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return repr(value)


class StatusError(Exception):
    """An error with a Kubernetes `Status` form. Subclasses fix `code` and `reason`."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        group: str = "",
        kind: str = "",
        name: str = "",
        causes: list[FieldError] | None = None,
        retry_after_seconds: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.group = group
        self.kind = kind
        self.name = name
        self.causes = causes or []
        self.retry_after_seconds = retry_after_seconds

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [
                {"reason": c.type, "message": c.describe().split(": ", 1)[1], **({"field": c.path} if c.path else {})}
                for c in self.causes
            ]
        if self.retry_after_seconds:
            details["retryAfterSeconds"] = self.retry_after_seconds
        if details:
            status["details"] = details
        return status

    @staticmethod
    def from_status(body: dict[str, Any], *, code: int | None = None) -> StatusError:
        reason = body.get("reason", "")
        status_code = code if code is not None else int(body.get("code") or 500)
        cls = _BY_REASON.get(reason) or _BY_CODE.get(status_code) or StatusError
        details = body.get("details") or {}
        causes = [
            FieldError(c.get("field", ""), c.get("reason", ""), c.get("message", ""))
            for c in details.get("causes") or []
        ]
        err = cls(
            body.get("message", ""),
            group=details.get("group", ""),
            kind=details.get("kind", ""),
            name=details.get("name", ""),
            causes=causes,
            retry_after_seconds=int(details.get("retryAfterSeconds") or 0),
        )
        if cls is StatusError:
            err.code = status_code  # type: ignore[misc]
        return err


def _qualified(kind_plural: str, group: str) -> str:
    return f"{kind_plural}.{group}" if group else kind_plural


class BadRequestError(StatusError):
    code = 400
    reason = "BadRequest"


class UnauthorizedError(StatusError):
    code = 401
    reason = "Unauthorized"


class ForbiddenError(StatusError):
    code = 403
    reason = "Forbidden"


class NotFoundError(StatusError):
    code = 404
    reason = "NotFound"

    @classmethod
    def of(cls, *, resource: str, group: str, name: str) -> NotFoundError:
        return cls(f'{_qualified(resource, group)} "{name}" not found', group=group, kind=resource, name=name)


class MethodNotAllowedError(StatusError):
    code = 405
    reason = "MethodNotAllowed"


class NotAcceptableError(StatusError):
    code = 406
    reason = "NotAcceptable"


class AlreadyExistsError(StatusError):
    code = 409
    reason = "AlreadyExists"

    @classmethod
    def of(cls, *, resource: str, group: str, name: str) -> AlreadyExistsError:
        return cls(f'{_qualified(resource, group)} "{name}" already exists', group=group, kind=resource, name=name)


class ConflictError(StatusError):
    code = 409
    reason = "Conflict"

    @classmethod
    def stale(cls, *, resource: str, group: str, name: str) -> ConflictError:
        return cls(
            f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": '
            "the object has been modified; please apply your changes to the latest version and try again",
            group=group,
            kind=resource,
            name=name,
        )


class GoneError(StatusError):
    code = 410
    reason = "Expired"


class RequestEntityTooLargeError(StatusError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaTypeError(StatusError):
    code = 415
    reason = "UnsupportedMediaType"


class InvalidError(StatusError):
    code = 422
    reason = "Invalid"

    @classmethod
    def of(cls, *, kind: str, group: str, name: str, causes: list[FieldError]) -> InvalidError:
        listed = ", ".join(c.describe() for c in causes)
        if len(causes) > 1:
            listed = "[" + listed + "]"
        return cls(f'{kind}{"." + group if group else ""} "{name}" is invalid: {listed}',
                   group=group, kind=kind, name=name, causes=causes)


class TooManyRequestsError(StatusError):
    code = 429
    reason = "TooManyRequests"


class InternalError(StatusError):
    code = 500
    reason = "InternalError"


class ServiceUnavailableError(StatusError):
    code = 503
    reason = "ServiceUnavailable"


class TimeoutError_(StatusError):
    code = 504
    reason = "Timeout"


_BY_REASON: dict[str, type[StatusError]] = {
    cls.reason: cls
    for cls in (
        BadRequestError, UnauthorizedError, ForbiddenError, NotFoundError, MethodNotAllowedError,
        NotAcceptableError, AlreadyExistsError, ConflictError, GoneError, RequestEntityTooLargeError,
        UnsupportedMediaTypeError, InvalidError, TooManyRequestsError, InternalError, ServiceUnavailableError,
        TimeoutError_,
    )
}
_BY_REASON["Gone"] = GoneError
_BY_CODE: dict[int, type[StatusError]] = {
    400: BadRequestError, 401: UnauthorizedError, 403: ForbiddenError, 404: NotFoundError,
    405: MethodNotAllowedError, 406: NotAcceptableError, 409: ConflictError, 410: GoneError,
    413: RequestEntityTooLargeError, 415: UnsupportedMediaTypeError, 422: InvalidError,
    429: TooManyRequestsError, 500: InternalError, 503: ServiceUnavailableError, 504: TimeoutError_,
}
