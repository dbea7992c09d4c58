"""The OpenAPI document of a record type's API: its paths, and schemas made from the type's own fields."""

from __future__ import annotations

import json
import re
from typing import Any

from apispec import APISpec

from itpm.records.fields import EDITABLE_SYSTEM, RecordTypeSpec
from itpm.web.api.records.base import RecordApiBase
from itpm.web.context import current_catalog

#: The SLA of a record whose type has a policy: each clock's target, time used and left, in business minutes.
SLA_SCHEMA = {
    "type": "object",
    "nullable": True,
    "properties": {
        "status": {"type": "string", "enum": ["on_track", "at_risk", "paused", "breached", "met"]},
        "due": {"type": "string", "format": "date-time", "nullable": True},
        "breached": {"type": "boolean"},
        "clocks": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "target_minutes": {"type": "integer"},
                    "elapsed_minutes": {"type": "integer"},
                    "paused_minutes": {"type": "integer"},
                    "due": {"type": "string", "format": "date-time", "nullable": True},
                    "minutes_left": {"type": "integer", "nullable": True},
                    "overdue": {"type": "boolean"},
                    "status": {"type": "string"},
                },
            },
        },
    },
}


class RecordApiDocs(RecordApiBase):
    """The record type's part of the OpenAPI document."""

    def add_api_spec(self, api_spec: APISpec) -> None:
        """The OpenAPI paths of this type, with the schemas of its own fields."""
        super().add_api_spec(api_spec)
        name = _component(self.type_name)
        for path, operations in api_spec._paths.items():
            if path.startswith(self.route_base):
                api_spec._paths[path] = json.loads(json.dumps(operations).replace("RecordTemplate", name))

    def add_apispec_components(self, api_spec: APISpec) -> None:
        super().add_apispec_components(api_spec)
        spec = current_catalog().record_types[self.type_name]
        name = _component(self.type_name)
        system = {k: {"type": "integer", "nullable": True} for k in EDITABLE_SYSTEM}
        for component, schema in openapi_data_schemas(spec, f"{name}Data").items():
            api_spec.components.schema(component, component=schema)
        api_spec.components.schema(
            name,
            component={
                "type": "object",
                "description": spec.title["en"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"type": "string", "enum": [spec.name]},
                    "number": {"type": "string"},
                    "state": {"type": "string"},
                    "version": {"type": "integer"},
                    **system,
                    "created_by": {"type": "integer", "nullable": True},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_by": {"type": "integer", "nullable": True},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "flags": {"type": "array", "items": {"type": "object"}},
                    "data": {"$ref": f"#/components/schemas/{name}Data"},
                    **({"sla": SLA_SCHEMA} if spec.name in current_catalog().sla_policies else {}),
                },
            },
        )
        api_spec.components.schema(
            f"{name}Create",
            component={
                "type": "object",
                "properties": {"data": {"$ref": f"#/components/schemas/{name}Data"}, **system},
                "required": ["data"],
            },
        )
        api_spec.components.schema(
            f"{name}Update",
            component={
                "type": "object",
                "properties": {
                    "version": {"type": "integer"},
                    "data": {"$ref": f"#/components/schemas/{name}Data"},
                    **system,
                },
                "required": ["version"],
            },
        )


def _component(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.split("_")) + "Record"


#: The keywords of an OpenAPI 3.0 Schema Object; a record type's other keywords (if/then, patternProperties,
#: dependentRequired...) are kept as x- extensions, which the document allows and clients ignore.
OPENAPI_KEYWORDS = {
    "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties",
    "required", "enum", "type", "allOf", "oneOf", "anyOf", "not", "items", "properties",
    "additionalProperties", "description", "format", "default", "nullable", "readOnly", "writeOnly",
    "example", "deprecated", "$ref",
}  # fmt: skip
#: Keywords that only organise a JSON Schema document (its sub-schemas become components).
DROPPED = {"$schema", "$id", "$anchor", "$comment", "$defs", "definitions", "contentMediaType"}


def openapi_data_schemas(spec: RecordTypeSpec, name: str) -> dict[str, dict[str, Any]]:
    """The record type's data as OpenAPI 3.0 schema components: `name` itself and one for each of its
    `$defs` that a field still refers to (a recursive one). Each field reads as it is used (local `$ref`s
    put in place), within the range its column holds, and nullable: an empty field reads as null, and
    null clears one."""
    prefix = f"{name}."

    def ref(target: str) -> str:
        return "#/components/schemas/" + prefix + re.sub(r"[^A-Za-z0-9._-]", "_", target.rsplit("/", 1)[-1])

    properties = {}
    for field_name, field in spec.fields.items():
        schema = {**field.schema, **_tightest(field.schema, field.column_bounds or {})}
        properties[field_name] = _nullable(openapi_schema(schema, ref))
    components = {name: {"type": "object", "properties": properties}}
    for keyword in ("$defs", "definitions"):
        for key, sub in (spec.schema.get(keyword) or {}).items():
            components[ref(f"#/{keyword}/{key}").rsplit("/", 1)[-1]] = openapi_schema(sub, ref)
    return components


def openapi_schema(schema: Any, ref: Any = None) -> Any:
    """A JSON Schema (draft 2020-12) as an OpenAPI 3.0 Schema Object; `ref` maps a local `$ref`."""
    if not isinstance(schema, dict):
        return {} if schema is True else {"not": {}} if schema is False else schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED:
            continue
        if key == "const":
            result["enum"] = [value]
        elif key == "examples" and isinstance(value, list) and value:
            result["example"] = value[0]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) == 1:
                result["type"] = types[0]
            if "null" in value:
                result["nullable"] = True
        elif key == "type" and value == "null":
            result.update(nullable=True, enum=[None])
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            continue  # below, with minimum and maximum
        elif key == "$ref" and isinstance(value, str):
            result["$ref"] = ref(value) if ref and value.startswith("#/") else value
        elif key == "properties" and isinstance(value, dict):
            result[key] = {name: openapi_schema(sub, ref) for name, sub in value.items()}
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            result[key] = [openapi_schema(sub, ref) for sub in value]
        elif key in ("not", "additionalProperties") or (key == "items" and isinstance(value, dict)):
            result[key] = (
                value
                if key == "additionalProperties" and isinstance(value, bool)
                else openapi_schema(value, ref)
            )
        elif key == "items":
            result["x-items"] = value  # draft 4's list of item schemas: 3.0 has no such thing
        elif key == "required" and not value:
            continue  # 3.0 wants at least one name
        elif key in OPENAPI_KEYWORDS or key.startswith("x-"):
            result[key] = value
        else:
            result[f"x-{key}"] = value
    for side, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        exclusive = schema.get(side)
        if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
            bound = result.get(inclusive)
            tighter = bound is None or (
                exclusive >= bound if side == "exclusiveMinimum" else exclusive <= bound
            )
            if tighter:
                result[inclusive], result[side] = exclusive, True
    if "$ref" in result and len(result) > 1:  # 3.0 ignores a $ref's siblings: keep them beside it
        result = {"allOf": [{"$ref": result.pop("$ref")}], **result}
    return result


def _tightest(schema: dict[str, Any], bounds: dict[str, Any]) -> dict[str, Any]:
    """`bounds` (a column's) laid over a field's own schema; the items of a list of ids bounded too."""
    if "items" in bounds and isinstance(schema.get("items"), dict):
        return {"items": {**schema["items"], **bounds["items"]}}
    return {k: v for k, v in bounds.items() if k != "items"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    result = {**schema, "nullable": True}
    if isinstance(result.get("enum"), list) and None not in result["enum"]:
        result["enum"] = [*result["enum"], None]
    return result
