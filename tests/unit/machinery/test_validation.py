"""Generic validation primitives: name formats, labels, selectors, ports, IPs, quantities, metadata."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kybernetes.machinery.errors import FieldError
from kybernetes.machinery.validation import (
    is_c_identifier,
    is_config_map_key,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_label_value,
    is_path_segment_name,
    is_qualified_name,
    is_valid_cidr,
    is_valid_ip,
    is_valid_percent,
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns_subdomain,
    parse_quantity,
    selector_matches,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
    validate_port_num_or_name,
)

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name' or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def describe(errs: list[FieldError]) -> list[str]:
    return [e.describe() for e in errs]


class TestNames:
    @pytest.mark.parametrize("value", ["a", "abc", "a-b", "a.b.c", "0", "x" * 253])
    def test_subdomain_ok(self, value: str) -> None:
        assert is_dns1123_subdomain(value) == []

    def test_subdomain_bad(self) -> None:
        assert is_dns1123_subdomain("Bad_Name") == [SUBDOMAIN_MSG]
        assert is_dns1123_subdomain("x" * 254) == ["must be no more than 253 characters"]

    def test_label(self) -> None:
        assert is_dns1123_label("my-name") == []
        assert is_dns1123_label("a.b") == ["must not contain dots"]
        assert is_dns1123_label("-a") == [LABEL_MSG]
        assert is_dns1123_label("x" * 64) == ["must be no more than 63 characters"]

    def test_dns1035(self) -> None:
        assert is_dns1035_label("svc-1") == []
        msgs = is_dns1035_label("1svc")
        assert len(msgs) == 1 and msgs[0].startswith("a DNS-1035 label must consist of lower case alphanumeric")
        assert "'[a-z]([-a-z0-9]*[a-z0-9])?'" in msgs[0]

    def test_generate_name_prefix_may_end_with_dash(self) -> None:
        assert name_is_dns_subdomain("web-", True) == []
        assert name_is_dns_subdomain("web-", False) != []

    def test_path_segment(self) -> None:
        assert is_path_segment_name("system:admin") == []
        assert is_path_segment_name("..") == ["may not be '..'"]
        assert is_path_segment_name("a/b%c") == ["may not contain '/'", "may not contain '%'"]


class TestLabelsAndKeys:
    def test_qualified_name(self) -> None:
        assert is_qualified_name("app") == []
        assert is_qualified_name("example.com/app.name_1") == []
        assert is_qualified_name("/app") == ["prefix part must be non-empty"]
        assert is_qualified_name("a/b/c")[0].startswith("a qualified name must consist of alphanumeric")
        msgs = is_qualified_name("Bad_Prefix/x")
        assert msgs and msgs[0].startswith("prefix part a lowercase RFC 1123 subdomain")
        assert is_qualified_name("-x") == [
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName' or 'my.name' or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        ]
        assert is_qualified_name("x" * 64) == ["name part must be no more than 63 characters"]

    def test_label_value(self) -> None:
        assert is_label_value("") == []
        assert is_label_value("v1.2_3") == []
        assert is_label_value("-bad")[0].startswith("a valid label must be an empty string or consist of")

    def test_validate_labels_paths(self) -> None:
        errs = validate_labels({"ok": "fine", "bad key": "x", "k": "bad value"}, "metadata.labels")
        assert [e.path for e in errs] == ["metadata.labels", "metadata.labels"]
        assert [e.value for e in errs] == ["bad key", "bad value"]

    def test_annotations_case_insensitive_and_size(self) -> None:
        assert validate_annotations({"Example.COM/Key": "v"}, "metadata.annotations") == []
        errs = validate_annotations({"a": "x" * (256 * 1024)}, "metadata.annotations")
        assert describe(errs) == ["metadata.annotations: Too long: may not be more than 262144 bytes"]

    def test_selector_validation(self) -> None:
        sel = {"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In"},
            {"key": "env", "operator": "Exists", "values": ["x"]},
            {"key": "x", "operator": "Bogus"},
        ]}
        assert describe(validate_label_selector(sel, "spec.selector")) == [
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is "
            "'In' or 'NotIn'",
            "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is "
            "'Exists' or 'DoesNotExist'",
            'spec.selector.matchExpressions[2].operator: Invalid value: "Bogus": not a valid selector operator',
        ]

    def test_selector_matching(self) -> None:
        sel = {"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ]}
        assert selector_matches(sel, {"app": "web", "tier": "fe"})
        assert not selector_matches(sel, {"app": "web", "tier": "db"})
        assert not selector_matches(sel, {"app": "web", "tier": "fe", "canary": "1"})
        assert selector_matches({}, {"anything": "x"})
        assert selector_matches({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}, {})


class TestFormats:
    def test_ports(self) -> None:
        assert is_valid_port_num(80) == []
        assert is_valid_port_num(0) == ["must be between 1 and 65535, inclusive"]
        assert is_valid_port_num(65536) == ["must be between 1 and 65535, inclusive"]
        assert is_valid_port_name("http") == []
        assert is_valid_port_name("80") == ["must contain at least one letter (a-z)"]
        assert is_valid_port_name("a--b") == ["must not contain consecutive hyphens"]
        assert is_valid_port_name("-ab") == ["must not begin or end with a hyphen"]
        assert is_valid_port_name("a" * 16) == ["must be no more than 15 characters"]
        assert "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)" in is_valid_port_name("HTTP")

    def test_port_num_or_name(self) -> None:
        assert validate_port_num_or_name(8080, "p") == []
        assert validate_port_num_or_name("http", "p") == []
        assert describe(validate_port_num_or_name(0, "p")) == ["p: Invalid value: 0: must be between 1 and 65535, "
                                                               "inclusive"]

    def test_ip_and_cidr(self) -> None:
        assert is_valid_ip("10.0.0.1") == [] and is_valid_ip("2001:db8::1") == []
        assert is_valid_ip("10.0.0") == ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
        assert is_valid_cidr("10.0.0.0/24") == []
        assert is_valid_cidr("10.0.0.0") != []

    def test_env_and_identifiers(self) -> None:
        assert is_env_var_name("MY_VAR") == [] and is_env_var_name("1.weird-but:ok") == []
        assert is_env_var_name("A=B") == [
            "a valid environment variable name must consist only of printable ASCII characters other than '='"]
        assert is_env_var_name("") == ["environment variable name must be non-empty"]
        assert is_c_identifier("_x1") == [] and is_c_identifier("1x") != []

    def test_config_key_and_percent(self) -> None:
        assert is_config_map_key("app.properties") == []
        assert is_config_map_key("..x") == ["must not start with '..'"]
        assert is_config_map_key("a/b")[0].startswith("a valid config key must consist of alphanumeric characters")
        assert is_valid_percent("25%") == [] and is_valid_percent("25") != []

    @pytest.mark.parametrize(("text", "value"), [
        ("500m", Fraction(1, 2)), ("1Gi", Fraction(2**30)), ("1e3", Fraction(1000)), ("2", Fraction(2)),
        ("1.5", Fraction(3, 2)), ("128974848", Fraction(128974848)), ("129M", Fraction(129_000_000)),
        (3, Fraction(3)),
    ])
    def test_quantity(self, text: str | int, value: Fraction) -> None:
        assert parse_quantity(text) == value

    @pytest.mark.parametrize("text", ["", "abc", "1.2.3", "1Qi", "--1", None])
    def test_bad_quantity(self, text: str | None) -> None:
        assert parse_quantity(text) is None


class TestObjectMeta:
    def test_name_required(self) -> None:
        errs = validate_object_meta(meta={"namespace": "default"}, namespaced=True, name_fn=name_is_dns_subdomain)
        assert describe(errs) == ["metadata.name: Required value: name or generateName is required"]

    def test_generate_name_accepted(self) -> None:
        errs = validate_object_meta(meta={"generateName": "web-", "namespace": "default"}, namespaced=True,
                                    name_fn=name_is_dns_subdomain)
        assert errs == []

    def test_namespace_scope(self) -> None:
        errs = validate_object_meta(meta={"name": "x"}, namespaced=True, name_fn=name_is_dns_subdomain)
        assert describe(errs) == ["metadata.namespace: Required value"]
        errs = validate_object_meta(meta={"name": "x", "namespace": "ns"}, namespaced=False,
                                    name_fn=name_is_dns_subdomain)
        assert describe(errs) == ["metadata.namespace: Forbidden: not allowed on this type"]
        errs = validate_object_meta(meta={"name": "x", "namespace": "Bad.NS"}, namespaced=True,
                                    name_fn=name_is_dns_subdomain)
        assert [e.path for e in errs] == ["metadata.namespace"]

    def test_owner_references_and_finalizers(self) -> None:
        meta = {
            "name": "x", "namespace": "d",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1", "controller": True},
                {"apiVersion": "", "kind": "", "name": "", "uid": "", "controller": True},
            ],
            "finalizers": ["example.com/cleanup", "bad finalizer"],
        }
        errs = validate_object_meta(meta=meta, namespaced=True, name_fn=name_is_dns_subdomain)
        paths = [e.path for e in errs]
        assert paths == [
            "metadata.ownerReferences.apiVersion", "metadata.ownerReferences.kind",
            "metadata.ownerReferences.name", "metadata.ownerReferences.uid", "metadata.ownerReferences",
            "metadata.finalizers",
        ]
        assert errs[0].describe() == 'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty'
        assert errs[3].describe() == 'metadata.ownerReferences.uid: Invalid value: "": must not be empty'
        assert "Only one reference can have Controller set to true" in errs[4].message

    def test_update_immutables(self) -> None:
        old = {"name": "a", "namespace": "ns", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z",
               "resourceVersion": "5", "generation": 2}
        new = {"name": "b", "namespace": "other", "uid": "u2", "creationTimestamp": "2025-01-01T00:00:00Z",
               "resourceVersion": "5", "generation": 1}
        assert describe(validate_object_meta_update(new=new, old=old)) == [
            "metadata.generation: Invalid value: 1: must not be decremented",
            'metadata.name: Invalid value: "b": field is immutable',
            'metadata.namespace: Invalid value: "other": field is immutable',
            'metadata.uid: Invalid value: "u2": field is immutable',
            'metadata.creationTimestamp: Invalid value: "2025-01-01T00:00:00Z": field is immutable',
        ]

    def test_update_absent_identity_means_keep(self) -> None:
        old = {"name": "a", "namespace": "ns", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z"}
        assert validate_object_meta_update(new={"name": "a", "namespace": "ns"}, old=old) == []

    def test_no_new_finalizers_while_deleting(self) -> None:
        old = {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x"]}
        new = {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x", "b.io/y"]}
        assert describe(validate_object_meta_update(new=new, old=old)) == [
            'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, '
            'found new finalizers []string{"b.io/y"}'
        ]
