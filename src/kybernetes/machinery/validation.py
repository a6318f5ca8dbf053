"""Generic validation primitives shared by every kind, in Kubernetes' words.

Two layers, as in Kubernetes' apimachinery:

* `is_*` predicates take a value and return a list of human messages (empty when valid). They know
  nothing of field paths, so one rule (say "DNS-1123 label") serves names, ports and hostnames alike.
* `validate_*` functions take a wire-form value plus its field path (a plain string such as
  `spec.containers[0].name`) and return `FieldError`s, all of them at once, never raising.

Object metadata lives here too (`validate_object_meta`, `validate_object_meta_update`) because every
kind shares it; kind-specific rules live in `kybernetes.api.validation`. Messages and regexes are the
ones Kubernetes prints so that clients that match on them (and humans used to them) see the same text.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from kybernetes.machinery.errors import FieldError, duplicate, forbidden, invalid, required, too_long

NameFn = Callable[[str, bool], list[str]]
"""A name rule: (name, is_generate_name_prefix) -> messages."""

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


# ---------------------------------------------------------------- paths


def child(path: str, *names: str) -> str:
    """`child("spec", "template", "metadata")` -> `spec.template.metadata`; a root path of "" is elided."""
    parts = [path] if path else []
    parts.extend(names)
    return ".".join(parts)


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    """A map entry, printed like Kubernetes' `Path.Key`: `metadata.annotations[foo]`."""
    return f"{path}[{k}]"


# ---------------------------------------------------------------- message helpers


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {shown}, regex used for validation is '{fmt}')"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def _full(fmt: str) -> re.Pattern[str]:
    return re.compile("^(?:" + fmt + ")$")


# ---------------------------------------------------------------- DNS names

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_ERR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_ERR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_DNS1123_LABEL = _full(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = _full(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = _full(DNS1035_LABEL_FMT)


def is_dns1123_label(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _DNS1123_LABEL.match(value):
        if _DNS1123_SUBDOMAIN.match(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _DNS1035_LABEL.match(value):
        errs.append(regex_error(DNS1035_LABEL_ERR, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def _mask_trailing_dash(name: str) -> str:
    # A generateName prefix may end in '-' because random characters follow it.
    if name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def is_path_segment_name(name: str, prefix: bool = False) -> list[str]:
    """Names that only have to be safe as one URL path segment (RBAC objects and a few others)."""
    if not prefix:
        for bad in (".", ".."):
            if name == bad:
                return [f"may not be '{bad}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name]


# ---------------------------------------------------------------- labels, qualified names

_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_ERR = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
_LABEL_KEY = _full(_LABEL_KEY_FMT)
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE = _full(_LABEL_VALUE_FMT)


def is_qualified_name(value: str) -> list[str]:
    """Label keys, annotation keys, finalizers: `[prefix/]name` with a DNS subdomain prefix."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_LABEL_KEY_ERR, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _LABEL_KEY.match(name):
        errs.append("name part " + regex_error(_LABEL_KEY_ERR, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_label_value(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _LABEL_VALUE.match(value):
        errs.append(regex_error(_LABEL_VALUE_ERR, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


# ---------------------------------------------------------------- ports, IPs, misc formats

_PORT_NAME_CHARSET = re.compile(r"^[-a-z0-9]+$")


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def is_in_range(value: int, lo: int, hi: int) -> list[str]:
    return [] if lo <= value <= hi else [inclusive_range_error(lo, hi)]


def is_valid_port_name(port: str) -> list[str]:
    """IANA_SVC_NAME: at most 15 chars of [-a-z0-9], at least one letter, no '--', no edge hyphen."""
    errs: list[str] = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.match(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_valid_ip(value: str) -> list[str]:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


def is_valid_ipv4(value: str) -> list[str]:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return ["must be a valid IPv4 address"]
    return []


def is_valid_ipv6(value: str) -> list[str]:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return ["must be a valid IPv6 address"]
    return []


def is_valid_cidr(value: str) -> list[str]:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    if "/" not in value:
        return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    return []


_C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"
_C_IDENTIFIER = _full(_C_IDENTIFIER_FMT)


def is_c_identifier(value: str) -> list[str]:
    if _C_IDENTIFIER.match(value):
        return []
    return [
        regex_error(
            "a valid C identifier must start with alphabetic character or '_', followed by a string of "
            "alphanumeric characters or '_'",
            _C_IDENTIFIER_FMT, "my_name", "MY_NAME", "MyName",
        )
    ]


def is_env_var_name(value: str) -> list[str]:
    """Kubernetes' relaxed rule (GA since 1.34): any printable ASCII except '='."""
    errs: list[str] = []
    if not value:
        errs.append("environment variable name must be non-empty")
    if any(ord(c) > 126 or ord(c) < 32 or c == "=" for c in value):
        errs.append("a valid environment variable name must consist only of printable ASCII characters other than '='")
    return errs


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY = _full(_CONFIG_KEY_FMT)


def is_config_map_key(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _CONFIG_KEY.match(value):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                                _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    errs.extend(_chdir_prefix(value))
    return errs


_PERCENT_FMT = "[0-9]+%"
_PERCENT = _full(_PERCENT_FMT)


def is_valid_percent(value: str) -> list[str]:
    if _PERCENT.match(value):
        return []
    return [regex_error("a valid percent string must be a numeric string followed by an ending '%'",
                        _PERCENT_FMT, "1%", "93%")]


_HEADER_FMT = "[-A-Za-z0-9]+"
_HEADER = _full(_HEADER_FMT)


def is_http_header_name(value: str) -> list[str]:
    if _HEADER.match(value):
        return []
    return [regex_error("a valid HTTP header must consist of alphanumeric characters or '-'", _HEADER_FMT,
                        "X-Header-Name")]


# ---------------------------------------------------------------- quantities

QUANTITY_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}


def parse_quantity(value: Any) -> Fraction | None:
    """The exact value of a resource quantity (`500m`, `1Gi`, `1e3`, 2), or None if it is not one.

    Kept private to validation (comparisons such as requests <= limits); the canonical quantity type with
    formatting lives in `kybernetes.machinery.quantity`.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value)
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value.strip())
    if not m:
        return None
    number, suffix = m.groups()
    if number.count(".") > 1 or number in {".", "+.", "-.", "+", "-"}:
        return None
    try:
        base = Fraction(number)
    except ValueError:
        return None
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    em = re.fullmatch(r"[eE]([-+]?[0-9]+)", suffix)
    if em:
        return base * Fraction(10) ** int(em.group(1))
    return None


def validate_quantity(value: Any, path: str) -> list[FieldError]:
    if parse_quantity(value) is None:
        return [invalid(path, value, QUANTITY_ERROR)]
    return []


def validate_nonnegative_quantity(value: Any, path: str) -> list[FieldError]:
    q = parse_quantity(value)
    if q is None:
        return [invalid(path, value, QUANTITY_ERROR)]
    if q < 0:
        return [invalid(path, value, IS_NEGATIVE)]
    return []


# ---------------------------------------------------------------- generic field helpers


def validate_nonnegative(value: int | None, path: str) -> list[FieldError]:
    if value is not None and value < 0:
        return [invalid(path, value, IS_NEGATIVE)]
    return []


def validate_positive(value: int | None, path: str) -> list[FieldError]:
    if value is not None and value <= 0:
        return [invalid(path, value, "must be greater than 0")]
    return []


def validate_immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    if new != old:
        return [invalid(path, new, FIELD_IMMUTABLE)]
    return []


def validate_dns1123_label(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_dns1123_label(value)]


def validate_dns1123_subdomain(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_dns1123_subdomain(value)]


def validate_qualified_name(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_qualified_name(value)]


def validate_port_num_or_name(value: Any, path: str) -> list[FieldError]:
    """An IntOrString port: numbers 1-65535, names IANA_SVC_NAME."""
    if isinstance(value, int):
        return [invalid(path, value, m) for m in is_valid_port_num(value)]
    if isinstance(value, str):
        if value.isdigit():
            return [invalid(path, int(value), m) for m in is_valid_port_num(int(value))]
        return [invalid(path, value, m) for m in is_valid_port_name(value)]
    return [invalid(path, value, "must be an int or a string")]


def validate_int_or_percent(value: Any, path: str) -> list[FieldError]:
    """Non-negative int, or a percent string (`25%`)."""
    if isinstance(value, str):
        return [invalid(path, value, m) for m in is_valid_percent(value)]
    if isinstance(value, int):
        return validate_nonnegative(value, path)
    return []


def percent_value(value: Any) -> int | None:
    if isinstance(value, str) and _PERCENT.match(value):
        return int(value[:-1])
    return None


def validate_not_over_100_percent(value: Any, path: str) -> list[FieldError]:
    p = percent_value(value)
    if p is not None and p > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []


# ---------------------------------------------------------------- labels, annotations, selectors


def validate_label_name(name: str, path: str) -> list[FieldError]:
    return [invalid(path, name, m) for m in is_qualified_name(name)]


def validate_labels(labels: Mapping[str, Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for k, v in (labels or {}).items():
        errs.extend(validate_label_name(k, path))
        if isinstance(v, str):
            errs.extend(invalid(path, v, m) for m in is_label_value(v))
    return errs


def validate_annotations(annotations: Mapping[str, Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for k, v in (annotations or {}).items():
        # Qualified-name rule, but case-insensitive.
        errs.extend(invalid(path, k, m) for m in is_qualified_name(k.lower()))
        total += len(k.encode()) + len(str(v).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Mapping[str, Any] | None, path: str) -> list[FieldError]:
    """A metav1.LabelSelector in API form (`matchLabels` + `matchExpressions`)."""
    if selector is None:
        return []
    errs = validate_labels(selector.get("matchLabels"), child(path, "matchLabels"))
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        p = index(child(path, "matchExpressions"), i)
        op = expr.get("operator", "")
        values = expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(required(child(p, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(forbidden(child(p, "values"),
                                      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(invalid(child(p, "operator"), op, "not a valid selector operator"))
        errs.extend(validate_label_name(expr.get("key", ""), child(p, "key")))
    return errs


def selector_is_empty(selector: Mapping[str, Any] | None) -> bool:
    return not selector or (not selector.get("matchLabels") and not selector.get("matchExpressions"))


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether an API-form label selector matches a label set (an empty selector matches everything)."""
    labels = labels or {}
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and k in labels and labels[k] in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


# ---------------------------------------------------------------- object metadata


def validate_owner_references(refs: list[dict[str, Any]] | None, path: str) -> list[FieldError]:
    # Kubernetes reports owner reference fields without the list index (`metadata.ownerReferences.uid`).
    errs: list[FieldError] = []
    controller = ""
    for ref in refs or []:
        api_version = ref.get("apiVersion", "")
        version = api_version.rsplit("/", 1)[-1] if api_version else ""
        if not version:
            errs.append(invalid(child(path, "apiVersion"), api_version, "version must not be empty"))
        for f in ("kind", "name", "uid"):
            if not ref.get(f):
                errs.append(invalid(child(path, f), ref.get(f, ""), "must not be empty"))
        if ref.get("kind") == "Event" and api_version == "v1":
            errs.append(invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller"):
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if controller:
                errs.append(invalid(path, refs, "Only one reference can have Controller set to true. "
                                                f'Found "true" in references for {controller} and {current}'))
            else:
                controller = current
    return errs


def validate_finalizers(finalizers: list[str] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names = finalizers or []
    for f in names:
        errs.extend(invalid(path, f, m) for m in is_qualified_name(f))
    if "orphan" in names and "foregroundDeletion" in names:
        errs.append(invalid(path, names, "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs


def validate_object_meta(
    *, meta: Mapping[str, Any] | None, namespaced: bool, name_fn: NameFn, path: str = "metadata"
) -> list[FieldError]:
    """Metadata rules on create: name (or generateName), namespace scope, labels, annotations, owners, finalizers."""
    meta = meta or {}
    errs: list[FieldError] = []
    name = meta.get("name") or ""
    generate_name = meta.get("generateName") or ""
    if generate_name:
        errs.extend(invalid(child(path, "generateName"), generate_name, m) for m in name_fn(generate_name, True))
    if not name:
        # The registry fills the name from generateName before storing; accept either being given here.
        if not generate_name:
            errs.append(required(child(path, "name"), "name or generateName is required"))
    else:
        errs.extend(invalid(child(path, "name"), name, m) for m in name_fn(name, False))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errs.append(required(child(path, "namespace")))
        else:
            errs.extend(invalid(child(path, "namespace"), namespace, m) for m in name_is_dns_label(namespace, False))
    elif namespace:
        errs.append(forbidden(child(path, "namespace"), "not allowed on this type"))
    errs.extend(_validate_meta_common(meta, path))
    return errs


def _validate_meta_common(meta: Mapping[str, Any], path: str) -> list[FieldError]:
    errs = validate_nonnegative(meta.get("generation"), child(path, "generation"))
    errs.extend(validate_labels(meta.get("labels"), child(path, "labels")))
    errs.extend(validate_annotations(meta.get("annotations"), child(path, "annotations")))
    errs.extend(validate_owner_references(meta.get("ownerReferences"), child(path, "ownerReferences")))
    errs.extend(validate_finalizers(meta.get("finalizers"), child(path, "finalizers")))
    for i, entry in enumerate(meta.get("managedFields") or []):
        op = entry.get("operation", "")
        if op not in ("Apply", "Update"):
            errs.append(invalid(child(index(child(path, "managedFields"), i), "operation"), op,
                                "must be `Apply` or `Update`"))
    return errs


def validate_object_meta_update(
    *, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None, path: str = "metadata"
) -> list[FieldError]:
    """Metadata rules on update: identity fields are immutable; labels etc. must still be valid.

    An absent `uid` / `creationTimestamp` on the new object means "keep the stored one" (the registry
    copies them over, as Kubernetes' BeforeUpdate does), so only a different non-empty value is an error.
    """
    new = new or {}
    old = old or {}
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        extra = sorted(set(new.get("finalizers") or []) - set(old.get("finalizers") or []))
        if extra:
            listed = ", ".join(f'"{f}"' for f in extra)
            errs.append(forbidden(child(path, "finalizers"),
                                  "no new finalizers can be added if the object is being deleted, "
                                  f"found new finalizers []string{{{listed}}}"))
    if (new.get("generation") or 0) < (old.get("generation") or 0):
        errs.append(invalid(child(path, "generation"), new.get("generation") or 0, "must not be decremented"))
    errs.extend(validate_immutable(new.get("name") or "", old.get("name") or "", child(path, "name")))
    errs.extend(validate_immutable(new.get("namespace") or "", old.get("namespace") or "", child(path, "namespace")))
    for f in ("uid", "creationTimestamp"):
        if new.get(f):
            errs.extend(validate_immutable(new.get(f), old.get(f), child(path, f)))
    errs.extend(_validate_meta_common(new, path))
    return errs


def unique_names(items: list[dict[str, Any]], path: str, field: str = "name") -> list[FieldError]:
    """Duplicate-value errors for repeated `field` values across a list (`path[i].field`)."""
    seen: set[Any] = set()
    errs: list[FieldError] = []
    for i, item in enumerate(items):
        value = item.get(field)
        if value is None or value == "":
            continue
        if value in seen:
            errs.append(duplicate(child(index(path, i), field), value))
        seen.add(value)
    return errs
