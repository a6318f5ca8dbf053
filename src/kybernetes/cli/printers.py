"""Output the way kubectl prints it: aligned tables, `-o yaml|json|name`, and the terminal's colours.

Tables: kubectl writes cells separated by tabs through Go's tabwriter with a minimum cell width of 6 and a
padding of 3, so every column but the last is `max(widest cell + 3, 6)` wide and the last is not padded.
`align(rows)` does the same. `TableView` turns the server's `meta.k8s.io/v1` Table (what kubectl asks
for) into rows: the priority-0 columns (all with `-o wide`), upper-case headers, a NAMESPACE column first with
`-A`, `kind/` before names when several kinds are printed, and a LABELS column with `--show-labels`.

Objects: `-o yaml` and `-o json` print the object (several as a `kind: List`), keys sorted and managedFields
left out as kubectl does; YAML strings that would read as another type get double quotes (as Go's YAML
writer gives them), JSON is indented by four and escapes `<`, `>` and `&` (as Go's encoder does).

`console()` is a rich Console for stderr decorations: colour only on a terminal, plain when piped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from rich.console import Console

__all__ = [
    "TableView",
    "align",
    "cell_text",
    "console",
    "dump_json",
    "dump_yaml",
    "for_output",
    "list_document",
    "tabwrite",
]

MIN_WIDTH, PADDING = 6, 3


def align(rows: Sequence[Sequence[str]]) -> str:
    """Rows as Go's tabwriter lays them out for kubectl (see the module docstring); one line per row."""
    if not rows:
        return ""
    columns = max(len(r) for r in rows)
    widths = [0] * columns
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell) + PADDING, MIN_WIDTH)
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else ""))
    return "\n".join(lines) + "\n"


def tabwrite(text: str, *, minwidth: int = 0, padding: int = 2) -> str:
    """Go's tabwriter (left-aligned, space padding) over tab-separated `text`, as kubectl's describe uses it.

    A cell is text ended by a tab; the text after a line's last tab is not aligned. A column block is a run
    of consecutive lines that all have a cell in that column, and every cell of the block is padded to the
    block's widest cell plus `padding` (at least `minwidth`). A line with fewer cells ends the block, so
    `Containers:` breaks the alignment of the lines above it from those below it."""
    trailing = text.endswith("\n")
    lines = [line.split("\t") for line in (text[:-1] if trailing else text).split("\n")]
    out: list[str] = []

    def write(first: int, last: int, widths: list[int]) -> None:
        for cells in lines[first:last]:
            out.append("".join(
                cell.ljust(widths[j]) if j < len(widths) and j < len(cells) - 1 else cell
                for j, cell in enumerate(cells)
            ))

    def layout(first: int, last: int, widths: list[int]) -> None:
        column = len(widths)
        this = first
        while this < last:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(first, this, widths)
            first = this
            width = minwidth
            while this < last and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            layout(first, this, [*widths, width])
            first = this
        write(first, last, widths)

    layout(0, len(lines), [])
    return "\n".join(out) + ("\n" if trailing else "")


def cell_text(value: Any) -> str:
    """A Table cell as kubectl prints it (Go's `fmt` rendering of the decoded JSON value)."""
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(cell_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{cell_text(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _labels(obj: Mapping[str, Any] | None) -> str:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


@dataclass
class TableView:
    """How to print server Tables: which columns, and what goes before the name."""

    wide: bool = False
    all_namespaces: bool = False
    show_labels: bool = False
    prefix: str = ""  # "deployment.apps/" when several kinds are printed
    no_headers: bool = False

    def visible(self, table: Mapping[str, Any]) -> list[int]:
        return [
            i for i, column in enumerate(table.get("columnDefinitions") or [])
            if self.wide or not column.get("priority")
        ]

    def header(self, table: Mapping[str, Any]) -> list[str]:
        columns = table.get("columnDefinitions") or []
        names = [str(columns[i].get("name", "")).upper() for i in self.visible(table)]
        if self.all_namespaces:
            names.insert(0, "NAMESPACE")
        if self.show_labels:
            names.append("LABELS")
        return names

    def rows(self, table: Mapping[str, Any]) -> list[list[str]]:
        visible = self.visible(table)
        columns = table.get("columnDefinitions") or []
        name_index = next((i for i, c in enumerate(columns) if c.get("format") == "name"), 0)
        out = []
        for row in table.get("rows") or []:
            cells = row.get("cells") or []
            texts = []
            for i in visible:
                text = cell_text(cells[i]) if i < len(cells) else ""
                if i == name_index and self.prefix:
                    text = self.prefix + text
                texts.append(text)
            obj = row.get("object") or {}
            if self.all_namespaces:
                texts.insert(0, str((obj.get("metadata") or {}).get("namespace", "")))
            if self.show_labels:
                texts.append(_labels(obj))
            out.append(texts)
        return out

    def render(self, table: Mapping[str, Any]) -> str:
        rows = self.rows(table)
        return align(rows if self.no_headers else [self.header(table), *rows])


# ---- -o yaml / json ---------------------------------------------------------------------------------


def for_output(obj: Mapping[str, Any], *, show_managed_fields: bool = False) -> dict[str, Any]:
    """The object as `-o yaml|json` print it: without managedFields unless asked (kubectl's default)."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta and not show_managed_fields:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def list_document(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Several objects as kubectl prints them: a `v1 List` with an empty resourceVersion."""
    return {"apiVersion": "v1", "items": list(items), "kind": "List", "metadata": {"resourceVersion": ""}}


class _GoStyleDumper(yaml.SafeDumper):
    """PyYAML's safe dumper with Go YAML's habits: double quotes where quoting is needed, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    node = dumper.represent_scalar("tag:yaml.org,2002:str", value)
    # The resolver would read the plain scalar as something else (a number, a bool, a date, null):
    # quote it, with Go's double quotes rather than PyYAML's single ones.
    resolved = dumper.resolve(yaml.ScalarNode, value, (True, False))
    if value == "" or resolved != "tag:yaml.org,2002:str":
        node.style = '"'
    return node


_GoStyleDumper.add_representer(str, _str)


def dump_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_GoStyleDumper, default_flow_style=False, sort_keys=True, allow_unicode=True,
                     width=80)


def dump_json(obj: Any) -> str:
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def console(*, stderr: bool = True) -> Console:
    """A rich Console: colour and live displays on a terminal, plain text when piped."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, highlight=False, soft_wrap=True, force_terminal=None)
