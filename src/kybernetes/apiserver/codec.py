"""Request bodies in, responses out: JSON and YAML, size limits, and the Status form of errors.

Kubernetes accepts JSON and YAML bodies (a client that sends no Content-Type, like the official Python
client, means JSON), answers JSON, and refuses bodies over 3 MiB with 413. Malformed input is a 400 Status
whose message names what could not be read; it never reaches a handler.
"""

from __future__ import annotations

from typing import Any

import msgspec
import yaml

from kybernetes.api.protobuf import MEDIA_TYPE as PROTOBUF
from kybernetes.api.protobuf import decode_protobuf
from kybernetes.machinery.errors import (
    BadRequestError,
    RequestEntityTooLargeError,
    StatusError,
    UnsupportedMediaTypeError,
)

MAX_BODY_BYTES = 3 * 1024 * 1024

JSON = "application/json"
YAML = "application/yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH_YAML = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH_YAML)

encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


def media_type(content_type: str | None) -> str:
    if not content_type:
        return JSON
    return content_type.split(";", 1)[0].strip().lower()


def _yaml_loader() -> type[yaml.SafeLoader]:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def decode_body(*, body: bytes, content_type: str | None, allow: tuple[str, ...] = (JSON, YAML, PROTOBUF)) -> Any:
    """Decode a request body. YAML is accepted wherever JSON is (YAML is a superset for our purposes);
    Kubernetes protobuf (what kubectl's typed commands send) wherever objects are accepted."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestEntityTooLargeError("the request body is too large: limit is 3 MiB")
    mt = media_type(content_type)
    if mt == PROTOBUF and PROTOBUF in allow:
        if not body:
            raise BadRequestError("the body of the request was empty")
        return decode_protobuf(body)
    if mt not in allow and not (mt in ("text/plain", "*/*", "application/octet-stream") and JSON in allow):
        raise UnsupportedMediaTypeError(
            f"the body of the request was in an unknown format - accepted media types include: {', '.join(allow)}"
        )
    if not body.strip():
        raise BadRequestError("the body of the request was empty")
    if mt in (YAML, APPLY_PATCH_YAML):
        try:
            return yaml.load(body, Loader=_yaml_loader())
        except yaml.YAMLError as e:
            raise BadRequestError(f"error converting YAML to JSON: {_one_line(str(e))}") from None
    try:
        return _json_decode(body)
    except msgspec.DecodeError as e:
        raise BadRequestError(f"the body of the request could not be decoded as JSON: {e}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def status_body(err: StatusError) -> bytes:
    return encode(err.to_status())


def success_status(*, details: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        status["details"] = details
    return status


def to_yaml(obj: Any) -> bytes:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(obj, Dumper=dumper, default_flow_style=False, sort_keys=False).encode()
