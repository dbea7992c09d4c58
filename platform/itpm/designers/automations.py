"""An automation as its editor edits it ("when ... if ... then ..."): the definition as written,
its `condition` (a JSON Schema on the record) as picked clauses when the pickers can say it."""

from __future__ import annotations

from typing import Any

from itpm.designers.conditions import condition_model, condition_schema


def model(body: dict[str, Any]) -> dict[str, Any]:
    result = dict(body)
    if isinstance(body.get("condition"), dict):
        result["condition"] = condition_model(body["condition"])
    return result


def document(model: dict[str, Any]) -> dict[str, Any]:
    result = dict(model)
    if isinstance(model.get("condition"), dict):
        result["condition"] = condition_schema(model["condition"])
    return result
