"""Secrets: `stringData` is a write-only convenience; its entries are merged into `data` (base64) and it
is never stored, as Kubernetes does on every create and update."""

from __future__ import annotations

import base64
from typing import Any

from kybernetes.apiserver.registry.strategy import Strategy


def merge_string_data(obj: dict[str, Any]) -> None:
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


class SecretStrategy(Strategy):
    def prepare_for_create(self, *, obj: dict[str, Any]) -> None:
        super().prepare_for_create(obj=obj)
        merge_string_data(obj)

    def prepare_for_update(self, *, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_for_update(new=new, old=old)
        merge_string_data(new)
