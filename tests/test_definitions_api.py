"""The definitions REST API: /api/v1/definitions/, with JWT from /api/v1/security/login."""

from __future__ import annotations

import json
from typing import Any

import prison

from itpm.config import ROOT


def body(name: str = "incident") -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / f"{name}.json").read_text("utf-8"))


def test_requests_without_a_token_are_refused(app: Any) -> None:
    response = app.test_client().get("/api/v1/definitions/")
    assert response.status_code == 401


def test_list_filters_by_kind_and_pages(admin_api: Any) -> None:
    q = prison.dumps({"filters": [{"col": "kind", "opr": "eq", "value": "role"}], "page": 0, "page_size": 5})
    data = admin_api.get(f"/api/v1/definitions/?q={q}").get_json()
    pack_roles = sorted(path.stem for path in (ROOT / "schemas" / "roles").glob("*.json"))
    assert data["count"] == len(pack_roles)
    assert [d["name"] for d in data["result"]] == pack_roles[:5]  # in name order, the first page of 5
    assert data["result"][1]["title"] == {"en": "Administrator", "zh": "系统管理员"}


def test_list_with_malformed_rison_is_400(admin_api: Any) -> None:
    response = admin_api.get("/api/v1/definitions/?q=(filters:!((col:kind")
    assert response.status_code == 400


def test_get_one_definition(admin_api: Any) -> None:
    data = admin_api.get("/api/v1/definitions/record_type/incident").get_json()
    assert data["state"] == "published" and data["published_version"] == 1
    assert data["published"]["numbering"] == "INC-{YYYY}-{seq:05}"
    assert data["draft"] is None
    assert admin_api.get("/api/v1/definitions/record_type/nothing").status_code == 404


def test_put_publish_versions_diff_restore(admin_api: Any) -> None:
    draft = body()
    draft["schema"]["properties"]["vendor"] = {"type": "string", "title": "Vendor", "x-title-zh": "厂商"}
    response = admin_api.put("/api/v1/definitions/record_type/incident", json=draft)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "changed"

    response = admin_api.post("/api/v1/definitions/record_type/incident/publish", json={"comment": "vendor"})
    assert response.status_code == 200
    assert response.get_json() == {"version": 2, "revision": 2, "changed": True}

    versions = admin_api.get("/api/v1/definitions/record_type/incident/versions").get_json()
    assert versions["count"] == 2
    assert [(v["version"], v["comment"]) for v in versions["result"]] == [(2, "vendor"), (1, "starter pack")]

    diff = admin_api.get("/api/v1/definitions/record_type/incident/diff?from=1&to=2").get_json()["diff"]
    assert '+        "title": "Vendor",' in diff
    assert admin_api.get("/api/v1/definitions/record_type/incident/diff?from=one").status_code == 400

    old = admin_api.get("/api/v1/definitions/record_type/incident/versions/1").get_json()
    assert old["body"] == body()

    restored = admin_api.post("/api/v1/definitions/record_type/incident/versions/1/restore", json={})
    assert restored.status_code == 200
    assert restored.get_json()["version"] == 3 and restored.get_json()["restored_from"] == 1


def test_put_invalid_draft_is_422_with_every_error_by_path(admin_api: Any) -> None:
    draft = body()
    draft["title"] = {"en": "Incident"}
    draft["schema"]["properties"]["priority"]["type"] = "strin"
    response = admin_api.put("/api/v1/definitions/record_type/incident", json=draft)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert {e["path"] for e in errors} == {"/title/zh", "/schema/properties/priority/type"}
    assert admin_api.get("/api/v1/definitions/record_type/incident").get_json()["draft"] is None


def test_put_with_a_name_other_than_the_url_is_422(admin_api: Any) -> None:
    response = admin_api.put("/api/v1/definitions/record_type/ticket", json=body())
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"path": "/name", "message": "must be 'ticket', as in the URL"}]


def test_put_with_a_body_that_is_not_an_object_is_422(admin_api: Any) -> None:
    response = admin_api.put(
        "/api/v1/definitions/record_type/incident", data="[1]", content_type="application/json"
    )
    assert response.status_code == 422
    response = admin_api.put(
        "/api/v1/definitions/record_type/incident", data="{oops", content_type="application/json"
    )
    assert response.status_code == 422


def test_validate_without_saving(admin_api: Any) -> None:
    ok = admin_api.post("/api/v1/definitions/validate", json=body()).get_json()
    assert ok == {"valid": True, "errors": []}
    broken = body()
    broken["columns"].append("nothing")
    bad = admin_api.post("/api/v1/definitions/validate", json=broken).get_json()
    assert bad["valid"] is False
    assert bad["errors"] == [
        {"path": f"/columns/{len(broken['columns']) - 1}", "message": "names no field: 'nothing'"}
    ]


def test_publish_without_a_draft_is_422(admin_api: Any) -> None:
    response = admin_api.post("/api/v1/definitions/record_type/incident/publish", json={})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["message"] == "has no draft to publish"


def test_a_new_definition_is_created_as_a_draft_and_discarded(admin_api: Any) -> None:
    auditor = {
        "kind": "role",
        "name": "auditor",
        "title": {"en": "Auditor", "zh": "审计员"},
        "abilities": ["read_audit"],
    }
    assert admin_api.put("/api/v1/definitions/role/auditor", json=auditor).get_json()["state"] == "draft"
    assert admin_api.delete("/api/v1/definitions/role/auditor/draft").status_code == 200
    assert admin_api.get("/api/v1/definitions/role/auditor").status_code == 404


def test_the_openapi_document_describes_the_definitions_api(admin_api: Any) -> None:
    spec = admin_api.get("/api/v1/_openapi").get_json()
    paths = spec["paths"]
    assert "/api/v1/definitions/{kind}/{name}/publish" in paths
    assert "put" in paths["/api/v1/definitions/{kind}/{name}"]
    assert paths["/api/v1/definitions/"]["get"]["tags"] == ["Definitions"]


def test_errors_are_given_in_the_language_asked_for(admin_api: Any) -> None:
    draft = body()
    draft["title"] = {"en": "Incident"}
    zh = admin_api.put("/api/v1/definitions/record_type/incident?_l_=zh", json=draft).get_json()["errors"]
    en = admin_api.put("/api/v1/definitions/record_type/incident?_l_=en", json=draft).get_json()["errors"]
    assert zh == [{"path": "/title/zh", "message": "必填"}]
    assert en == [{"path": "/title/zh", "message": "is required"}]
