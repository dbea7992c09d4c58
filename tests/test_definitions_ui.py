"""The definitions admin screens: lists by kind, a definition's page, the JSON editor, publish and restore."""

from __future__ import annotations

import json
import re
from typing import Any

from conftest import csrf_token
from itpm.config import ROOT


def incident_text(**field: Any) -> str:
    body = json.loads((ROOT / "schemas" / "incident.json").read_text("utf-8"))
    body["schema"]["properties"].update(field)
    return json.dumps(body, ensure_ascii=False, indent=2)


def definition_id(client: Any, kind: str, name: str) -> str:
    html = client.get(f"/definitions/list/?_flt_0_kind={kind}&_flt_0_name={name}").get_data(as_text=True)
    ids = re.findall(r"/definitions/show/(\d+)", html)
    assert ids, html[:2000]
    return ids[0]


def test_list_by_kind_shows_state_and_version(admin_client: Any) -> None:
    html = admin_client.get(
        "/definitions/list/?_flt_0_kind=record_type", headers={"Accept-Language": "en"}
    ).get_data(as_text=True)
    for name in ("customer", "project", "task", "incident", "change_request"):
        assert f">{name}<" in html.replace("\n", "").replace(" ", "") or name in html
    assert "label-state-published" in html
    assert "account_manager" not in html


def test_editor_refuses_invalid_json_naming_line_and_keeps_the_text(admin_client: Any) -> None:
    pk = definition_id(admin_client, "record_type", "incident")
    token = csrf_token(admin_client, f"/definitions/edit/{pk}")
    broken = '{"kind": "record_type",\n "name": "incident",\n "title": }'
    response = admin_client.post(f"/definitions/edit/{pk}", data={"body": broken, "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "invalid JSON at line 3, column 11" in html
    assert "&#34;title&#34;: }" in html or '"title": }' in html


def test_editor_shows_errors_by_path_and_saves_nothing(admin_client: Any) -> None:
    pk = definition_id(admin_client, "record_type", "incident")
    token = csrf_token(admin_client, f"/definitions/edit/{pk}")
    text = incident_text(vendor={"type": "string", "title": "Vendor"})
    html = admin_client.post(f"/definitions/edit/{pk}", data={"body": text, "csrf_token": token}).get_data(
        as_text=True
    )
    assert "<code>/schema/properties/vendor/x-title-zh</code> is required" in html
    show = admin_client.get(f"/definitions/show/{pk}").get_data(as_text=True)
    assert "label-state-published" in show


def test_editor_live_validation_endpoint(admin_client: Any) -> None:
    token = csrf_token(admin_client, "/definitions/list/")
    text = incident_text(vendor={"type": "string", "title": "Vendor"})
    response = admin_client.post(
        "/definitions/validate/", json={"text": text}, headers={"X-CSRFToken": token}
    )
    assert response.get_json() == {
        "problems": [{"path": "/schema/properties/vendor/x-title-zh", "message": "is required"}]
    }


def test_save_publish_and_restore_from_the_screens(admin_client: Any) -> None:
    pk = definition_id(admin_client, "record_type", "incident")
    token = csrf_token(admin_client, f"/definitions/edit/{pk}")
    text = incident_text(vendor={"type": "string", "title": "Vendor", "x-title-zh": "厂商"})
    saved = admin_client.post(f"/definitions/edit/{pk}", data={"body": text, "csrf_token": token})
    assert saved.status_code == 302
    show = admin_client.get(f"/definitions/show/{pk}").get_data(as_text=True)
    assert "label-state-changed" in show
    assert '<span class="add">+        &#34;x-title-zh&#34;: &#34;厂商&#34;</span>' in show

    published = admin_client.post(
        f"/definitions/publish/{pk}", data={"comment": "vendor", "csrf_token": token}
    )
    assert published.status_code == 302
    show = admin_client.get(f"/definitions/show/{pk}", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "v2" in show and "vendor" in show and "label-state-published" in show

    diff = admin_client.get(f"/definitions/diff/{pk}?from=1&to=2").get_data(as_text=True)
    assert "厂商" in diff

    restored = admin_client.post(f"/definitions/restore/{pk}/1", data={"csrf_token": token})
    assert restored.status_code == 302
    show = admin_client.get(f"/definitions/show/{pk}").get_data(as_text=True)
    assert "v3" in show


def test_publish_without_csrf_token_is_refused(admin_client: Any) -> None:
    pk = definition_id(admin_client, "record_type", "incident")
    response = admin_client.post(f"/definitions/publish/{pk}", data={"comment": "x"})
    assert response.status_code == 400


def test_a_new_definition_from_the_add_screen(admin_client: Any) -> None:
    token = csrf_token(admin_client, "/definitions/add/?kind=role")
    text = json.dumps({"kind": "role", "name": "auditor", "title": {"en": "Auditor", "zh": "审计员"}})
    response = admin_client.post("/definitions/add/?kind=role", data={"body": text, "csrf_token": token})
    assert response.status_code == 302
    show = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "审计员" in show and "label-state-draft" in show


def test_text_in_definitions_is_escaped(admin_client: Any) -> None:
    token = csrf_token(admin_client, "/definitions/add/?kind=role")
    text = json.dumps(
        {"kind": "role", "name": "sneaky", "title": {"en": "<script>alert(1)</script>", "zh": "<b>x</b>"}}
    )
    response = admin_client.post("/definitions/add/?kind=role", data={"body": text, "csrf_token": token})
    listing = admin_client.get(
        "/definitions/list/?_flt_0_kind=role", headers={"Accept-Language": "en"}
    ).get_data(as_text=True)
    assert response.status_code == 302
    assert "<script>alert(1)</script>" not in listing
    assert "&lt;script&gt;" in listing or "&lt;b&gt;" in listing


def test_publishing_a_stricter_record_type_previews_the_records_it_would_flag(
    admin_client: Any, admin_api: Any
) -> None:
    admin_api.post(
        "/api/v1/records/incident/",
        json={"data": {"title": "VPN down", "priority": "P3", "category": "network"}},
    )
    body = json.loads((ROOT / "schemas" / "incident.json").read_text("utf-8"))
    body["schema"]["required"].append("affected_service")
    assert admin_api.put("/api/v1/definitions/record_type/incident", json=body).status_code == 200
    pk = definition_id(admin_client, "record_type", "incident")
    html = admin_client.get(f"/definitions/publish/{pk}").get_data(as_text=True)
    assert "1 existing records would break the new rules." in html
    assert "<code>/data/affected_service</code> is required" in html
    token = csrf_token(admin_client, f"/definitions/publish/{pk}")
    assert (
        admin_client.post(
            f"/definitions/publish/{pk}", data={"comment": "service required", "csrf_token": token}
        ).status_code
        == 302
    )
    listing = admin_api.get("/api/v1/records/incident/").get_json()
    assert listing["result"][0]["flags"] == [{"path": "/data/affected_service", "message": "is required"}]


def test_publish_preview_of_a_workflow_shows_the_designers_check(admin_client: Any) -> None:
    """A draft whose new state nothing leaves, reached only through an approval by a role nobody holds
    and by the requester's manager (the admin, the only one who may ask, has none): the publish page
    warns of each, naming the state and the steps (publishing stays allowed)."""
    body = json.loads((ROOT / "workflows" / "risk_flow.json").read_text("utf-8"))
    body["states"].append(
        {"name": "escalated", "title": {"en": "Escalated", "zh": "已升级"}, "category": "waiting"}
    )
    step = {"name": "boss", "title": {"en": "Boss", "zh": "老板"}, "approvers": {"role": "finance"}}
    body["transitions"].append(
        {
            "name": "escalate",
            "title": {"en": "Escalate", "zh": "升级"},
            "from": ["open"],
            "to": "escalated",
            "roles": ["admin"],
            "approval": {
                "steps": [step, {**step, "name": "manager", "approvers": {"requester_manager": True}}]
            },
        }
    )
    pk = definition_id(admin_client, "workflow", "risk_flow")
    token = csrf_token(admin_client, f"/definitions/edit/{pk}")
    admin_client.post(f"/definitions/edit/{pk}", data={"body": json.dumps(body), "csrf_token": token})
    html = admin_client.get(f"/definitions/publish/{pk}").get_data(as_text=True)
    warnings = html[html.index('id="itpm-workflow-warnings"') :].split("</div>")[0]
    assert "state &#39;escalated&#39; is a dead end" in warnings
    assert "transition &#39;escalate&#39;, step &#39;boss&#39; has no possible approver" in warnings
    assert (
        "step &#39;manager&#39; has no possible approver: none of the people who may ask (admin) has an active manager"
        in warnings
    )
    assert 'id="itpm-publish" disabled' not in html
    admin_client.get("/lang/zh")
    html = admin_client.get(f"/definitions/publish/{pk}").get_data(as_text=True)
    assert "状态 &#39;escalated&#39; 是死胡同" in html
