"""A record type as its designer edits it: a list of fields, each with a plain type name (text,
money, people, table of rows...) instead of its JSON Schema spelling, its titles and help in
both languages, limits, choices with both labels; the type's own settings beside them.

Each plain type has one spelling in the engine's JSON Schema (`SPELLINGS`); a field written
otherwise keeps its schema as JSON (`"type": "json"`), edited in the JSON tab.
"""

from __future__ import annotations

from typing import Any

#: Plain type -> the keys that spell it ("ref" and "options" are filled from the field's model).
SPELLINGS: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},  # with a maxLength of 300 at most; longer or unlimited is long text
    "long_text": {"type": "string"},
    "rich_text": {"type": "string", "contentMediaType": "text/html"},
    "number": {"type": "number"},
    "whole_number": {"type": "integer"},
    "money": {"type": "number", "format": "money"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "choice": {},  # {"type": value_type, "enum": [...], "x-enum-titles": {...}}
    "multiple_choice": {"type": "array"},  # items: a choice
    "yes_no": {"type": "boolean"},
    "person": {"type": "integer", "x-ref": "user"},
    "people": {"type": "array", "items": {"type": "integer", "x-ref": "user"}},
    "reference": {"type": "integer"},  # x-ref: the record type
    "references": {"type": "array"},  # items: {"type": "integer", "x-ref": the record type}
    "file": {"type": "integer", "x-ref": "file"},
    "files": {"type": "array", "items": {"type": "integer", "x-ref": "file"}},
    "table": {"type": "array"},  # items: {"type": "object", "properties": {...columns}}
}
#: Field keys the designer shows as its own inputs.
LIMITS = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern")
TEXT_UP_TO = 300  # a longer text is edited in a text area (records.forms)


def model(body: dict[str, Any]) -> dict[str, Any]:
    schema = dict(body.get("schema") or {})
    properties = schema.pop("properties", {}) or {}
    return {
        "kind": "record_type",
        "settings": {k: v for k, v in body.items() if k not in ("kind", "schema")},
        "fields": [field_model(name, field) for name, field in properties.items()],
        "schema_json": schema,  # the type's other keywords: type, required, if/then, $defs...
    }


def document(model: dict[str, Any]) -> dict[str, Any]:
    schema = {**model["schema_json"], "properties": {f["name"]: field_schema(f) for f in model["fields"]}}
    return {**model["settings"], "kind": "record_type", "schema": schema}


def field_model(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The designer's view of one field, or its JSON when no plain type spells it."""
    model = _plain_model(name, schema) if isinstance(schema, dict) else None
    if model is not None and field_schema(model) == schema:
        return model
    return {"name": name, "type": "json", "json": schema}


def field_schema(field: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a field from its model."""
    if field["type"] == "json":
        return field["json"]
    schema: dict[str, Any] = {**field.get("json", {}), **SPELLINGS[field["type"]]}
    if field["type"] in ("choice", "multiple_choice"):
        choice = _choice_schema(field)
        if field["type"] == "choice":
            schema.update(choice)
        else:
            schema["items"] = {**field.get("items_json", {}), **choice}
    elif field["type"] in ("reference", "references"):
        ref = {"type": "integer", "x-ref": field["ref"]}
        if field["type"] == "reference":
            schema.update(ref)
        else:
            schema["items"] = {**field.get("items_json", {}), **ref}
    elif field["type"] == "table":
        columns = {c["name"]: field_schema(c) for c in field["columns"]}
        schema["items"] = {**field.get("items_json", {}), "type": "object", "properties": columns}
    elif field["type"] in ("people", "files"):
        schema["items"] = {**field.get("items_json", {}), **schema["items"]}
    for key, value in (
        ("title", field.get("title", {}).get("en")),
        ("x-title-zh", field.get("title", {}).get("zh")),
        ("description", (field.get("help") or {}).get("en")),
        ("x-description-zh", (field.get("help") or {}).get("zh")),
        ("x-renamed-from", field.get("renamed_from")),
        ("readOnly", field.get("read_only") or None),
        *((key, field.get("limits", {}).get(key)) for key in LIMITS),
    ):
        if value is not None and value != "":
            schema[key] = value
    if "default" in field:
        schema["default"] = field["default"]
    return schema


def _choice_schema(field: dict[str, Any]) -> dict[str, Any]:
    options = field["options"]
    choice: dict[str, Any] = {
        "type": field.get("value_type", "string"),
        "enum": [o["value"] for o in options],
    }
    labels = {str(o["value"]): {"en": o["en"], "zh": o["zh"]} for o in options if o.get("en") or o.get("zh")}
    if labels:
        choice["x-enum-titles"] = labels
    return choice


def _plain_type(schema: dict[str, Any]) -> str | None:
    """The plain type whose spelling `schema` uses, or None."""
    type_, items = schema.get("type"), schema.get("items")
    items = items if isinstance(items, dict) else {}
    if "enum" in schema:
        return "choice"
    if type_ == "string":
        for plain in ("rich_text", "date", "datetime"):
            if all(schema.get(k) == v for k, v in SPELLINGS[plain].items()):
                return plain
        if "format" in schema and schema["format"] in ("date", "date-time") or "contentMediaType" in schema:
            return None
        return "text" if schema.get("maxLength", TEXT_UP_TO + 1) <= TEXT_UP_TO else "long_text"
    if type_ == "number":
        return "money" if schema.get("format") == "money" else "number"
    if type_ == "integer":
        return {None: "whole_number", "user": "person", "file": "file"}.get(schema.get("x-ref"), "reference")
    if type_ == "boolean":
        return "yes_no"
    if type_ == "array":
        if "enum" in items:
            return "multiple_choice"
        if items.get("type") == "object":
            return "table"
        return {None: None, "user": "people", "file": "files"}.get(items.get("x-ref"), "references")
    return None


def _plain_model(name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    plain = _plain_type(schema)
    if plain is None:
        return None
    taken = {
        "title",
        "x-title-zh",
        "description",
        "x-description-zh",
        "x-renamed-from",
        "readOnly",
        "default",
    }
    taken |= set(LIMITS) | set(SPELLINGS[plain])
    if plain in ("choice", "multiple_choice", "reference", "references", "table", "people", "files"):
        taken |= {"items", "type", "enum", "x-enum-titles", "x-ref"}
    field: dict[str, Any] = {
        "name": name,
        "type": plain,
        "title": {"en": schema.get("title"), "zh": schema.get("x-title-zh")},
        "help": {"en": schema.get("description"), "zh": schema.get("x-description-zh")},
        "limits": {key: schema[key] for key in LIMITS if key in schema},
        "json": {k: v for k, v in schema.items() if k not in taken},
    }
    if "x-renamed-from" in schema:
        field["renamed_from"] = schema["x-renamed-from"]
    if schema.get("readOnly") is True:
        field["read_only"] = True
    if "default" in schema:
        field["default"] = schema["default"]
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    if plain in ("choice", "multiple_choice"):
        source = schema if plain == "choice" else items
        labels = source.get("x-enum-titles") or {}
        field["value_type"] = source.get("type", "string")
        field["options"] = [
            {
                "value": v,
                "en": (labels.get(str(v)) or {}).get("en"),
                "zh": (labels.get(str(v)) or {}).get("zh"),
            }
            for v in source.get("enum") or []
        ]
        if plain == "multiple_choice":
            field["items_json"] = {
                k: v for k, v in items.items() if k not in ("type", "enum", "x-enum-titles")
            }
    elif plain == "reference":
        field["ref"] = schema["x-ref"]
    elif plain == "references":
        field["ref"] = items.get("x-ref")
        field["items_json"] = {k: v for k, v in items.items() if k not in ("type", "x-ref")}
    elif plain == "table":
        field["columns"] = [field_model(n, s) for n, s in (items.get("properties") or {}).items()]
        field["items_json"] = {k: v for k, v in items.items() if k not in ("type", "properties")}
    elif plain in ("people", "files"):
        field["items_json"] = {k: v for k, v in items.items() if k not in ("type", "x-ref")}
    return field
