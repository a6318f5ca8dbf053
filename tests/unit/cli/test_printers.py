"""The CLI's output formats: kubectl's tabwriter layouts, Table rendering, yaml/json as kubectl prints them."""

from __future__ import annotations

import yaml

from kybernetes.cli.printers import (
    TableView,
    align,
    cell_text,
    dump_json,
    dump_yaml,
    for_output,
    list_document,
    tabwrite,
)

TABLE = {
    "kind": "Table",
    "columnDefinitions": [
        {"name": "Name", "type": "string", "format": "name", "priority": 0},
        {"name": "Ready", "type": "string", "format": "", "priority": 0},
        {"name": "Up-to-date", "type": "integer", "format": "", "priority": 0},
        {"name": "Images", "type": "string", "format": "", "priority": 1},
    ],
    "rows": [
        {"cells": ["web", "0/2", 2, "nginx"],
         "object": {"metadata": {"name": "web", "namespace": "default", "labels": {"b": "2", "a": "1"}}}},
        {"cells": ["a-much-longer-name", "1/1", 1, "busybox"],
         "object": {"metadata": {"name": "a-much-longer-name", "namespace": "kube-system"}}},
    ],
}


def test_align_pads_all_but_the_last_column_to_width_plus_three_at_least_six() -> None:
    assert align([["NAME", "AGE", "IP"], ["a", "5s", "10.0.0.1"]]) == (
        "NAME   AGE   IP\n"
        "a      5s    10.0.0.1\n"
    )


def test_table_view_priority_columns_only_unless_wide() -> None:
    assert TableView().render(TABLE) == (
        "NAME                 READY   UP-TO-DATE\n"
        "web                  0/2     2\n"
        "a-much-longer-name   1/1     1\n"
    )
    assert TableView(wide=True).header(TABLE) == ["NAME", "READY", "UP-TO-DATE", "IMAGES"]


def test_table_view_namespace_column_kind_prefix_and_labels() -> None:
    view = TableView(all_namespaces=True, prefix="deployment.apps/", show_labels=True, no_headers=True)
    rows = view.rows(TABLE)
    assert rows[0] == ["default", "deployment.apps/web", "0/2", "2", "a=1,b=2"]
    assert rows[1][0] == "kube-system" and rows[1][-1] == "<none>"
    assert view.render(TABLE).splitlines()[0].startswith("default       deployment.apps/web")


def test_cell_text_renders_json_values_as_go_prints_them() -> None:
    assert [cell_text(v) for v in (None, True, 3, 2.0, 1.5, ["a", "b"], "x")] == [
        "<none>", "true", "3", "2", "1.5", "[a b]", "x"]


def test_tabwrite_column_blocks_end_at_a_line_with_fewer_cells() -> None:
    text = ("Name:\tweb\nNamespace:\tdefault\nIPs:\n  IP:\t10.0.0.1\nControlled By:\tReplicaSet/web\n"
            "Conditions:\n  Type\tStatus\n  PodReadyToStartContainers \tTrue \nVolumes:\t<none>\n")
    assert tabwrite(text) == (
        "Name:       web\n"
        "Namespace:  default\n"
        "IPs:\n"
        "  IP:           10.0.0.1\n"
        "Controlled By:  ReplicaSet/web\n"
        "Conditions:\n"
        "  Type                        Status\n"
        "  PodReadyToStartContainers   True \n"
        "Volumes:                      <none>\n"
    )


def test_tabwrite_nested_columns_align_within_their_own_block() -> None:
    assert tabwrite("Port:\tweb\t80/TCP\nTargetPort:\t8080/TCP\n") == (
        "Port:        web  80/TCP\n"
        "TargetPort:  8080/TCP\n"
    )


def test_yaml_quotes_like_go_and_round_trips() -> None:
    obj = {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z", "resourceVersion": "50", "name": "x",
                        "empty": "", "flag": "true"}, "data": {"multi": "a\nb\n"}}
    text = dump_yaml(obj)
    assert 'creationTimestamp: "2026-01-01T00:00:00Z"' in text
    assert 'resourceVersion: "50"' in text and 'flag: "true"' in text and 'empty: ""' in text
    assert "name: x\n" in text and "multi: |" in text
    assert yaml.safe_load(text) == obj


def test_json_is_sorted_indented_by_four_and_escapes_html() -> None:
    assert dump_json({"b": "<a&b>", "a": 1}) == '{\n    "a": 1,\n    "b": "\\u003ca\\u0026b\\u003e"\n}\n'


def test_managed_fields_are_dropped_and_lists_wrapped() -> None:
    obj = {"metadata": {"name": "x", "managedFields": [{"manager": "m"}]}}
    assert for_output(obj) == {"metadata": {"name": "x"}}
    assert for_output(obj, show_managed_fields=True) == obj
    assert list_document([obj]) == {"apiVersion": "v1", "items": [obj], "kind": "List",
                                    "metadata": {"resourceVersion": ""}}
