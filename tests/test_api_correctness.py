"""What schemathesis found in the REST API: every bad request is a 4xx that says what is wrong,
in JSON, and writes nothing (issue 12, item 6). On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import prison
import pytest

#: One past the largest signed 64-bit integer: no column (and no SQLite integer) holds it.
TOO_BIG = 2**63


def create_incident(api: Any) -> dict[str, Any]:
    response = api.post(
        "/api/v1/records/incident/",
        json={"data": {"title": "VPN down", "priority": "P3", "category": "network"}},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


PROJECT = {
    "name": "Rollout",
    "project_type": "implementation",
    "phase": "planning",
    "start_date": "2026-01-05",
    "due_date": "2026-06-30",
}


@pytest.mark.parametrize("body", ["[1]", '"comment"', "5", "null", "{not json"])
def test_publishing_purging_or_restoring_with_a_body_that_is_not_an_object_is_422(
    admin_api: Any, body: str
) -> None:
    before = admin_api.get("/api/v1/definitions/record_type/incident").get_json()
    for path in (
        "/api/v1/definitions/record_type/incident/publish",
        "/api/v1/definitions/record_type/incident/purge",
        "/api/v1/definitions/record_type/incident/versions/1/restore",
    ):
        response = admin_api.post(path, data=body, content_type="application/json")
        assert response.status_code == 422, (path, response.get_json())
        assert response.get_json()["errors"][0]["path"] in ("/", "/columns")
    after = admin_api.get("/api/v1/definitions/record_type/incident").get_json()
    assert after["published_version"] == before["published_version"]


def test_a_delete_whose_version_is_not_a_number_is_422_and_deletes_nothing(admin_api: Any) -> None:
    record = create_incident(admin_api)
    path = f"/api/v1/records/incident/{record['id']}"
    response = admin_api.delete(f"{path}?version=abc")
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"path": "?version", "message": "must be an integer"}]
    assert admin_api.get(path).status_code == 200


def test_a_malformed_or_foreign_token_is_401(app: Any) -> None:
    client = app.test_client()
    for token in ("abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"):
        response = client.get("/api/v1/records/incident/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (token, response.get_json())
        assert "sign in again" in response.get_json()["msg"]


def test_a_malformed_item_in_a_user_list_is_422_naming_it(admin_api: Any) -> None:
    for team, path in (([{}], "/data/team/0"), ([[1]], "/data/team/0"), ([1, "x"], "/data/team/1")):
        response = admin_api.post("/api/v1/records/project/", json={"data": {**PROJECT, "team": team}})
        assert response.status_code == 422, response.get_json()
        assert path in [e["path"] for e in response.get_json()["errors"]]
    assert admin_api.get("/api/v1/records/project/").get_json()["count"] == 0


def test_ids_beyond_any_column_are_404(admin_api: Any) -> None:
    for big in (2**31, 2**63 - 1, TOO_BIG, 10**30):
        for path in (
            f"/api/v1/records/incident/{big}",
            f"/api/v1/records/incident/{big}/history",
            f"/api/v1/records/incident/{big}/transitions",
            f"/api/v1/definitions/record_type/incident/versions/{big}",
        ):
            response = admin_api.get(path)
            assert response.status_code == 404, (path, response.get_data(as_text=True)[:300])
            assert response.is_json


def test_integers_beyond_any_column_in_a_body_or_query_are_422_or_400(admin_api: Any) -> None:
    record = create_incident(admin_api)
    for big in (2**31, TOO_BIG, -TOO_BIG - 1):
        created = admin_api.post(
            "/api/v1/records/incident/",
            json={"data": {"title": "x", "priority": "P3", "category": "network"}, "assignee": big},
        )
        assert created.status_code == 422 and created.get_json()["errors"][0]["path"] == "/assignee"
        changed = admin_api.put(
            f"/api/v1/records/incident/{record['id']}", json={"version": big, "data": {"project": big}}
        )
        assert changed.status_code in (409, 422), changed.get_json()
    for big in (TOO_BIG, -TOO_BIG, 10.0**20):
        for field, value in (("budget_plan", big), ("progress", big)):
            planned = admin_api.post("/api/v1/records/project/", json={"data": {**PROJECT, field: value}})
            assert planned.status_code == 422, (field, value, planned.get_json())
            assert [e["path"] for e in planned.get_json()["errors"]] == [f"/data/{field}"]
        for args in (
            {"filters": [{"col": "id", "opr": "eq", "value": big}]},
            {"filters": [{"col": "assignee", "opr": "in", "value": [1, big]}]},
            {"page": big},
        ):
            listed = admin_api.get(f"/api/v1/records/incident/?q={prison.dumps(args)}")
            assert listed.status_code == 400, (args, listed.get_data(as_text=True)[:300])
    assert admin_api.get("/api/v1/records/incident/").get_json()["count"] == 1
    assert admin_api.get("/api/v1/records/project/").get_json()["count"] == 0


def test_unknown_paths_and_methods_under_the_api_answer_json(admin_api: Any) -> None:
    for method, path, status in (
        ("get", "/api/v1/records/nonesuch/1", 404),
        ("get", "/api/v1/records/incident/abc", 404),
        ("get", "/api/v1/nothing", 404),
        ("patch", "/api/v1/records/incident/1", 405),
    ):
        response = getattr(admin_api, method)(path)
        assert response.status_code == status, (path, response.get_data(as_text=True)[:300])
        assert response.is_json and response.get_json()["message"]


def test_text_with_a_nul_character_is_refused_naming_where_and_writes_nothing(admin_api: Any) -> None:
    """PostgreSQL's text cannot hold U+0000: it was a 500 there (schemathesis on PostgreSQL)."""
    created = admin_api.post(
        "/api/v1/records/incident/",
        json={"data": {"title": "VPN\x00down", "priority": "P3", "category": "network"}},
    )
    assert created.status_code == 422
    assert created.get_json()["errors"] == [
        {"path": "/data/title", "message": "must not hold the NUL character (U+0000)"}
    ]
    draft = admin_api.put(
        "/api/v1/definitions/record_type/zz",
        json={"kind": "record_type", "name": "zz", "title": {"en": "Z", "zh": "Z\x00"}, "schema": {}},
    )
    assert draft.status_code == 422 and draft.get_json()["errors"][0]["path"] == "/title/zh"
    listed = admin_api.get(f"/api/v1/records/incident/?q={prison.dumps({'search': 'a' + chr(0)})}")
    assert listed.status_code == 400 and listed.is_json
    assert admin_api.get("/api/v1/definitions/record_type/a%00b").status_code == 404
    assert admin_api.get("/api/v1/records/incident/").get_json()["count"] == 0
    assert admin_api.get("/api/v1/definitions/record_type/zz").status_code == 404


def test_a_transition_whose_version_is_not_a_number_is_422_not_a_conflict(admin_api: Any) -> None:
    record = create_incident(admin_api)
    path = f"/api/v1/records/incident/{record['id']}"
    response = admin_api.post(f"{path}/transitions/assign", json={"version": "1"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"path": "/version", "message": "must be an integer"}]
    assert admin_api.get(path).get_json()["state"] == record["state"]


def test_a_page_whose_address_holds_an_id_beyond_any_column_is_404(admin_client: Any) -> None:
    for path in (
        "/users/show/99999999999999999999",
        "/roles/show/99999999999999999999",
        "/definitions/publish/99999999999999999999",
        "/records/incident/show/99999999999999999999",
    ):
        assert admin_client.get(path).status_code == 404, path
