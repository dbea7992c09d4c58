"""The OpenAPI document of a record type's API: its paths, and schemas made from the type's own fields."""

from __future__ import annotations

import copy
import json
from typing import Any

from apispec import APISpec

from itpm.records.fields import EDITABLE_SYSTEM
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
        data = openapi_schema(spec.schema)
        system = {k: {"type": "integer", "nullable": True} for k in EDITABLE_SYSTEM}
        api_spec.components.schema(f"{name}Data", component=data)
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


def openapi_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A record type's JSON Schema as an OpenAPI 3.0 schema object (x- keys are allowed there)."""
    result = copy.deepcopy(schema)

    def convert(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("$schema", None)
            node.pop("contentMediaType", None)
            if "const" in node:
                node["enum"] = [node.pop("const")]
            for value in node.values():
                convert(value)
        elif isinstance(node, list):
            for value in node:
                convert(value)

    convert(result)
    return result
