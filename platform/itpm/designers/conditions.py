"""Conditions built by picking field, operator and value, written in the spellings the engine
already evaluates (JSON Schema on the record, as forms/ and workflows/ use them).

A condition is a list of clauses that must all hold; one clause reads
{"field": "impact", "op": "equals", "value": "high"}. A condition the pickers cannot express
stays JSON: {"json": {...}}.
"""

from __future__ import annotations

from typing import Any

#: Operator -> the JSON Schema a field's value must match (None: the field only has to be filled).
OPERATORS = ("equals", "not_equals", "one_of", "at_least", "at_most", "filled", "is_true", "is_false")


def _clause_schema(clause: dict[str, Any]) -> dict[str, Any]:
    field, op, value = clause["field"], clause["op"], clause.get("value")
    tests = {
        "equals": {"const": value},
        "not_equals": {"not": {"const": value}},
        "one_of": {"enum": value},
        "at_least": {"minimum": value},
        "at_most": {"maximum": value},
        "is_true": {"const": True},
        "is_false": {"const": False},
    }
    if op == "filled":
        return {"required": [field]}
    return {"properties": {field: tests[op]}, "required": [field]}


def _clause(schema: Any) -> dict[str, Any] | None:
    """The clause a JSON Schema condition is, or None."""
    if not isinstance(schema, dict):
        return None
    if set(schema) == {"required"} and isinstance(schema["required"], list) and len(schema["required"]) == 1:
        return {"field": schema["required"][0], "op": "filled"}
    props = schema.get("properties")
    if set(schema) != {"properties", "required"} or not isinstance(props, dict) or len(props) != 1:
        return None
    ((field, test),) = props.items()
    if schema["required"] != [field] or not isinstance(test, dict) or len(test) != 1:
        return None
    ((key, value),) = test.items()
    if key == "const":
        op = (
            {True: "is_true", False: "is_false"}.get(value, "equals") if isinstance(value, bool) else "equals"
        )
        return {"field": field, "op": op} if op != "equals" else {"field": field, "op": op, "value": value}
    if key == "not" and isinstance(value, dict) and set(value) == {"const"}:
        return {"field": field, "op": "not_equals", "value": value["const"]}
    ops = {"enum": "one_of", "minimum": "at_least", "maximum": "at_most"}
    return {"field": field, "op": ops[key], "value": value} if key in ops else None


def condition_schema(condition: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema a designer's condition stands for."""
    if "json" in condition:
        return condition["json"]
    schemas = [_clause_schema(c) for c in condition["all"]]
    return schemas[0] if len(schemas) == 1 else {"allOf": schemas}


def condition_model(schema: dict[str, Any]) -> dict[str, Any]:
    """Clauses for the pickers when `schema` is written in their spellings; else the JSON itself."""
    parts = (
        schema.get("allOf") if set(schema) == {"allOf"} and len(schema.get("allOf") or []) > 1 else [schema]
    )
    clauses = [_clause(part) for part in parts]
    if all(clauses):
        model = {"all": clauses}
        if condition_schema(model) == schema:
            return model
    return {"json": schema}
