"""A workflow as its designer edits it: the states and transitions as written (the canvas lays
them out; positions are not part of the definition), each transition's and approval step's
`when` as picked clauses when it is a JSON Schema condition in the pickers' spellings."""

from __future__ import annotations

import copy
from typing import Any

from itpm.designers.conditions import condition_model, condition_schema


def _map_conditions(body: dict[str, Any], convert: Any, is_condition: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for transition in body.get("transitions") or []:
        holders = [transition, *((transition.get("approval") or {}).get("steps") or [])]
        for holder in holders:
            if isinstance(holder, dict) and is_condition(holder.get("when")):
                holder["when"] = convert(holder["when"])
    return body


def model(body: dict[str, Any]) -> dict[str, Any]:
    return _map_conditions(body, condition_model, lambda w: isinstance(w, dict) and set(w) != {"expression"})


def document(model: dict[str, Any]) -> dict[str, Any]:
    return _map_conditions(
        model, condition_schema, lambda w: isinstance(w, dict) and ("all" in w or "json" in w)
    )
