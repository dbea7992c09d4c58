"""The records REST API: /api/v1/records/<type>/, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import prison
import pytest


def create(api: Any, type_name: str = "incident", **data: Any) -> dict[str, Any]:
    values = {"title": "VPN down", "priority": "P3", "category": "network"} if type_name == "incident" else {}
    response = api.post(f"/api/v1/records/{type_name}/", json={"data": {**values, **data}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def q(**args: Any) -> str:
    return prison.dumps(args)


def test_create_get_and_the_record_shape(admin_api: Any) -> None:
    record = create(admin_api, affected_service="VPN")
    assert record["type"] == "incident" and record["version"] == 1 and record["state"] == "new"
    assert record["number"].startswith("INC-") and record["data"]["affected_service"] == "VPN"
    assert set(record) >= {
        "id",
        "type",
        "number",
        "state",
        "version",
        "data",
        "assignee",
        "client",
        "department",
        "owner",
        "created_at",
    }
    fetched = admin_api.get(f"/api/v1/records/incident/{record['id']}").get_json()
    assert fetched == record


def test_list_filters_orders_pages_and_counts(admin_api: Any) -> None:
    for priority, title in (("P1", "Core down"), ("P2", "Mail slow"), ("P1", "Disk full"), ("P3", "Printer")):
        create(admin_api, priority=priority, title=title)
    args = q(
        filters=[{"col": "priority", "opr": "eq", "value": "P1"}],
        order_column="title",
        order_direction="asc",
        page=0,
        page_size=1,
    )
    data = admin_api.get(f"/api/v1/records/incident/?q={args}").get_json()
    assert data["count"] == 2
    assert [r["data"]["title"] for r in data["result"]] == ["Core down"]
    args = q(filters=[{"col": "priority", "opr": "in", "value": ["P2", "P3"]}], search="mail")
    assert admin_api.get(f"/api/v1/records/incident/?q={args}").get_json()["count"] == 1


def test_filters_on_dates_and_system_fields(admin_api: Any) -> None:
    create(admin_api, occurred_at="2026-03-01T08:00:00+08:00")
    create(admin_api, occurred_at="2026-04-01T08:00:00+08:00")
    args = q(
        filters=[
            {"col": "created_at", "opr": "gte", "value": "2000-01-01"},
            {"col": "state", "opr": "eq", "value": "new"},
        ]
    )
    assert admin_api.get(f"/api/v1/records/incident/?q={args}").get_json()["count"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"filters": [{"col": "colour", "opr": "eq", "value": "red"}]},
            "'colour' is not a field this list can filter or order on",
        ),
        ({"filters": [{"col": "priority", "opr": "like", "value": "P1"}]}, "'like' is not a filter operator"),
        (
            {"filters": [{"col": "created_at", "opr": "gt", "value": "last week"}]},
            "'last week' is not a valid value for 'created_at'",
        ),
        ({"order_column": "colour"}, "'colour' is not a field this list can filter or order on"),
        ({"page_size": 1000}, "Not a valid rison"),
    ],
)
def test_bad_list_queries_are_400_naming_the_field(
    admin_api: Any, args: dict[str, Any], message: str
) -> None:
    response = admin_api.get(f"/api/v1/records/incident/?q={q(**args)}")
    assert response.status_code == 400
    assert message in response.get_json()["message"]


def test_malformed_rison_is_400(admin_api: Any) -> None:
    response = admin_api.get("/api/v1/records/incident/?q=(filters:!((col:priority")
    assert response.status_code == 400


def test_create_with_problems_is_422_with_every_path(admin_api: Any) -> None:
    response = admin_api.post(
        "/api/v1/records/incident/",
        json={"data": {"title": 5, "priority": "P9", "colour": "red"}, "state": "done"},
    )
    assert response.status_code == 422
    response = admin_api.post(
        "/api/v1/records/incident/", json={"data": {"title": 5, "priority": "P9", "colour": "red"}}
    )
    assert response.status_code == 422
    assert {e["path"] for e in response.get_json()["errors"]} == {
        "/data/title",
        "/data/priority",
        "/data/colour",
        "/data/category",
    }
    assert admin_api.get("/api/v1/records/incident/").get_json()["count"] == 0


def test_a_body_that_is_not_an_object_is_422(admin_api: Any) -> None:
    response = admin_api.post("/api/v1/records/incident/", data="[1]", content_type="application/json")
    assert response.status_code == 422
    response = admin_api.post("/api/v1/records/incident/", data="{not json", content_type="application/json")
    assert response.status_code == 422


def test_an_oversized_body_is_413(admin_api: Any) -> None:
    response = admin_api.post(
        "/api/v1/records/incident/", json={"data": {"title": "x", "description": "y" * (1024 * 1024)}}
    )
    assert response.status_code == 413


def test_update_with_version_and_409_on_a_stale_one(admin_api: Any) -> None:
    record = create(admin_api)
    path = f"/api/v1/records/incident/{record['id']}"
    changed = admin_api.put(path, json={"version": 1, "data": {"priority": "P1"}})
    assert changed.status_code == 200 and changed.get_json()["version"] == 2
    stale = admin_api.put(path, json={"version": 1, "data": {"priority": "P4"}})
    assert stale.status_code == 409
    assert stale.get_json()["current"]["data"]["priority"] == "P1"
    missing = admin_api.put(path, json={"data": {"priority": "P4"}})
    assert missing.status_code == 422 and missing.get_json()["errors"] == [
        {"path": "/version", "message": "is required"}
    ]
    assert admin_api.get(path).get_json()["data"]["priority"] == "P1"


def test_null_clears_a_field_and_absent_fields_are_kept(admin_api: Any) -> None:
    record = create(admin_api, affected_service="VPN", impact="high")
    changed = admin_api.put(
        f"/api/v1/records/incident/{record['id']}", json={"version": 1, "data": {"affected_service": None}}
    )
    data = changed.get_json()["data"]
    assert data["affected_service"] is None and data["impact"] == "high"


def test_unknown_records_are_404(admin_api: Any) -> None:
    assert admin_api.get("/api/v1/records/incident/999").status_code == 404
    assert admin_api.put("/api/v1/records/incident/999", json={"version": 1, "data": {}}).status_code == 404
    assert admin_api.delete("/api/v1/records/incident/999").status_code == 404


def test_references_to_missing_records_are_422(admin_api: Any) -> None:
    response = admin_api.post("/api/v1/records/task/", json={"data": {"title": "Install", "project": 4242}})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"path": "/data/project", "message": "there is no project with id 4242"}
    ]


def test_delete_history_and_comments(admin_api: Any) -> None:
    record = create(admin_api)
    path = f"/api/v1/records/incident/{record['id']}"
    assert admin_api.post(f"{path}/comments", json={"body": "Looking into it"}).status_code == 201
    assert admin_api.post(f"{path}/comments", json={"body": "   "}).status_code == 422
    assert admin_api.get(f"{path}/comments").get_json()["result"][0]["body"] == "Looking into it"
    admin_api.put(path, json={"version": 1, "data": {"priority": "P2"}})
    history = admin_api.get(f"{path}/history").get_json()
    assert [e["action"] for e in history["result"]] == ["updated", "created"]
    assert admin_api.delete(f"{path}?version=1").status_code == 409
    assert admin_api.delete(f"{path}?version=2").status_code == 200
    assert admin_api.get(path).status_code == 404


def test_markup_is_stored_as_text_and_returned_as_text(admin_api: Any) -> None:
    record = create(admin_api, title="<img src=x onerror=alert(1)>")
    assert record["data"]["title"] == "<img src=x onerror=alert(1)>"


def test_the_openapi_document_describes_each_types_fields(admin_api: Any) -> None:
    spec = admin_api.get("/api/v1/_openapi").get_json()
    assert "/api/v1/records/incident/" in spec["paths"]
    schemas = spec["components"]["schemas"]
    data = schemas["IncidentRecordData"]["properties"]
    assert data["priority"]["enum"] == ["P1", "P2", "P3", "P4", None]  # nullable: an empty field reads null
    assert data["project"]["x-ref"] == "project"
    listing = spec["paths"]["/api/v1/records/incident/"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    assert listing["properties"]["result"]["items"]["$ref"] == "#/components/schemas/IncidentRecord"
    assert schemas["ChangeRequestRecordData"]["properties"]["cost_impact"]["type"] == "number"
