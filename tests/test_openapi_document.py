"""The OpenAPI document at /api/v1/_openapi is valid OpenAPI 3.0 (openapi-spec-validator) for the
starter pack and for record types written as JSON Schema people write them: nested, `$ref`/`$defs`
(recursive too), `exclusiveMinimum`, `if/then`, `patternProperties`, `type: [..., "null"]`
(issue 12, item 6)."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import OpenAPIV30SpecValidator
from schema_samples import SAMPLES, field, record_type
from test_schema_forms import publish

from conftest import ADMIN, api_token

#: A type whose `$defs` refer to themselves: no resolving can put them in place.
RECURSIVE = record_type(
    "s_recursive",
    "Recursive",
    "递归",
    {
        "type": "object",
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
            }
        },
        "properties": {
            "root": field("Root", "根", **{"$ref": "#/$defs/node"}),
            "score": field("Score", "分数", type="number", exclusiveMinimum=0, maximum=10),
        },
    },
)


def document(app: Any) -> dict[str, Any]:
    client = app.test_client()
    token = api_token(client, *ADMIN)
    response = client.get("/api/v1/_openapi", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.get_json()


def problems(spec: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in OpenAPIV30SpecValidator(spec).iter_errors()
    ]


def test_the_starter_packs_document_is_valid_openapi(sqlite_app: Any) -> None:
    spec = document(sqlite_app)
    assert problems(spec) == []
    hours = spec["components"]["schemas"]["TimesheetRecordData"]["properties"]["hours"]
    assert (hours["minimum"], hours["exclusiveMinimum"]) == (0, True)  # 2020-12's exclusiveMinimum: 0
    delete = spec["paths"]["/api/v1/records/incident/{pk}"]["delete"]
    assert (
        delete["responses"]["409"]["description"]
        == "Changed since that version, or referred to by other records"
    )


def test_the_document_offers_no_sign_in_the_installation_does_not_take(sqlite_app: Any) -> None:
    """Integration tokens (the `api_key` scheme) are offered on the records API and the hooks only."""
    spec = document(sqlite_app)
    assert "integration token" in spec["components"]["securitySchemes"]["api_key"]["description"]
    offered = {
        path
        for path, operations in spec["paths"].items()
        for op in operations.values()
        for s in op.get("security", [])
        if "api_key" in s
    }
    assert offered and all(p.startswith(("/api/v1/records/", "/api/v1/hooks/")) for p in offered)
    assert "/api/v1/hooks/alertmanager/{name}" in offered
    securities = [
        s
        for path, operations in spec["paths"].items()
        for op in operations.values()
        for s in op.get("security", [])
        if path.startswith("/api/v1/definitions/")
    ]
    assert securities and all("api_key" not in s for s in securities)


def test_fields_that_may_be_empty_are_nullable(sqlite_app: Any) -> None:
    data = document(sqlite_app)["components"]["schemas"]["IncidentRecordData"]["properties"]
    assert data["affected_service"]["nullable"] is True
    assert data["priority"]["nullable"] is True and None in data["priority"]["enum"]


def test_a_pack_of_nested_and_referring_types_gives_a_valid_document(sqlite_app: Any) -> None:
    publish(sqlite_app.extensions["itpm"], *[definition for definition, _data in SAMPLES.values()], RECURSIVE)
    spec = document(sqlite_app)
    assert problems(spec) == []
    schemas = spec["components"]["schemas"]
    billing = schemas["SReferencesRecordData"]["properties"]["billing_address"]
    assert billing["properties"]["city"]["type"] == "string"  # the $ref put in place
    root = schemas["SRecursiveRecordData"]["properties"]["root"]
    node_ref = {"$ref": "#/components/schemas/SRecursiveRecordData.node"}
    assert root["properties"]["children"]["items"] == node_ref  # put in place once, then referred to
    node = schemas["SRecursiveRecordData.node"]
    assert node["properties"]["children"]["items"] == {
        "$ref": "#/components/schemas/SRecursiveRecordData.node"
    }
    maybe = schemas["SNamedRecordData"]["properties"]["maybe"]
    assert (maybe["type"], maybe["nullable"]) == ("string", True)
