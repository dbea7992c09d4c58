"""The visual designers' side of definitions: each designer edits a *model* of a definition
(a record type's fields as a list with plain type names, a form's conditions as picked
clauses, ...), and these functions turn a definition's JSON into that model and back.

One truth: the model is made from the JSON and saved as JSON through the definitions
registry (drafts, validation, diff, publish), so `document(model(body)) == body` for every
definition; what a designer cannot show as pickers it keeps as JSON, edited in the JSON tab.
"""

from __future__ import annotations

from typing import Any

from itpm.designers import automations, forms, record_types, roles, workflows

#: The kinds a visual designer edits, with the module that converts them.
CONVERTERS: dict[str, Any] = {
    "record_type": record_types,
    "form": forms,
    "workflow": workflows,
    "automation": automations,
    "role": roles,
}


def designer_model(body: dict[str, Any]) -> dict[str, Any]:
    """The model the designer of `body`'s kind edits."""
    return CONVERTERS[body["kind"]].model(body)


def designer_document(model: dict[str, Any]) -> dict[str, Any]:
    """The definition JSON a designer's model stands for."""
    return CONVERTERS[model["kind"]].document(model)
