"""The shape of a printer: the columns a kind shows and the function that fills one row.

A printer is data plus one pure function, so the table builder can treat every kind alike. Like the Kubernetes
API server, a printer always fills every column, including the wide ones (priority > 0): the client decides
which of them to show (`kubectl get -o wide` shows them all).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kybernetes.apiserver.printers.format import doc

Cell = str | int | bool | None
CellsFn = Callable[[Mapping[str, Any], datetime.datetime], list[Cell]]
ConditionsFn = Callable[[Mapping[str, Any]], list[dict[str, str]]]


@dataclass(frozen=True, slots=True)
class Column:
    """One meta.k8s.io/v1 TableColumnDefinition."""

    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        # All five keys are always present on the wire (none of them is omitempty in Kubernetes).
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def _no_conditions(obj: Mapping[str, Any]) -> list[dict[str, str]]:
    return []


@dataclass(frozen=True, slots=True)
class Printer:
    """Columns of one kind, the function computing a row's cells, and optional row conditions."""

    columns: tuple[Column, ...]
    cells: CellsFn
    conditions: ConditionsFn = field(default=_no_conditions)


NAME_COLUMN = Column("Name", format="name", description=doc("meta.v1.ObjectMeta.name"))
AGE_COLUMN = Column("Age", description=doc("meta.v1.ObjectMeta.creationTimestamp"))
CONTAINERS_COLUMN = Column("Containers", description="Names of each container in the template.", priority=1)
IMAGES_COLUMN = Column(
    "Images", description="Images referenced by each container in the template.", priority=1
)
