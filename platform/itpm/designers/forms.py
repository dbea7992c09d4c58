"""A form as its designer edits it: sections of entries, each entry an object (a field named
alone is `{"field": name}` marked `short`), its show/require-when conditions as picked clauses."""

from __future__ import annotations

from typing import Any

from itpm.designers.conditions import condition_model, condition_schema

CONDITIONS = ("when", "required_when")


def model(body: dict[str, Any]) -> dict[str, Any]:
    sections = (
        [
            {**section, "fields": [_entry_model(entry) for entry in section.get("fields", [])]}
            for section in body["sections"]
        ]
        if isinstance(body.get("sections"), list)
        else None
    )
    return {"kind": "form", "settings": {k: v for k, v in body.items() if k not in ("kind", "sections")},
            "sections": sections}  # fmt: skip


def document(model: dict[str, Any]) -> dict[str, Any]:
    body = {**model["settings"], "kind": "form"}
    if model["sections"] is not None:
        body["sections"] = [
            {
                **{k: v for k, v in section.items() if k != "keep"},  # "keep": a new section, still empty
                "fields": [_entry_document(entry) for entry in section["fields"]],
            }
            for section in model["sections"]
        ]
    return body


def _entry_model(entry: Any) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"field": entry, "short": True}
    if not isinstance(entry, dict):
        return {"json": entry}
    result = dict(entry)
    for key in CONDITIONS:
        if isinstance(entry.get(key), dict):
            result[key] = condition_model(entry[key])
    return result


def _entry_document(entry: dict[str, Any]) -> Any:
    if "json" in entry and "field" not in entry:
        return entry["json"]
    if entry.get("short"):
        return entry["field"]
    result = {k: v for k, v in entry.items() if k != "short"}
    for key in CONDITIONS:
        if isinstance(entry.get(key), dict) and ("all" in entry[key] or "json" in entry[key]):
            result[key] = condition_schema(entry[key])
    return result
