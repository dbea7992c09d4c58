"""A department pilots a record type: it exists for that department only (menu, screens, API, pickers)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from conftest import api_token, login
from itpm.cli import main
from itpm.config import ROOT
from itpm.models import Department, Person


def make_people(app: Any) -> None:
    """Two departments and a project manager in each."""
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        session = sm.session
        admin_role = sm.find_role("admin")
        for name, en, zh in (("delivery", "Delivery", "交付部"), ("support", "Support", "运维部")):
            department = Department(name=name, title_en=en, title_zh=zh)
            session.add(department)
            session.flush()
            user = sm.add_user(
                f"{name}_eng", "Eng", name.title(), f"{name}@itpm.invalid", [admin_role], "password-123"
            )
            user.department_id = department.id
        session.commit()
        # Both manage projects (not definitions, whose managers see every pilot).
        for name in ("delivery", "support"):
            user = session.scalar(select(Person).where(Person.username == f"{name}_eng"))
            user.roles = [sm.find_role("project_manager")]
        session.commit()


def pilot(runtime: Any, departments: list[str]) -> None:
    body = json.loads((ROOT / "schemas" / "change_request.json").read_text("utf-8"))
    body["departments"] = departments
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.save_draft(body, "admin")
        registry.publish([("record_type", "change_request")], "admin", "pilot in delivery")


def test_a_pilot_is_invisible_outside_its_department(app: Any, runtime: Any) -> None:
    make_people(app)
    pilot(runtime, ["delivery"])
    inside, outside = app.test_client(), app.test_client()
    login(inside, "delivery_eng", "password-123")
    login(outside, "support_eng", "password-123")

    assert 'href="/records/change_request/list/"' in inside.get("/records/incident/list/").get_data(
        as_text=True
    )
    assert inside.get("/records/change_request/list/").status_code == 200

    listing = outside.get("/records/incident/list/")
    assert listing.status_code == 200
    assert 'href="/records/change_request/list/"' not in listing.get_data(as_text=True)
    assert outside.get("/records/change_request/list/").status_code == 404
    assert outside.get("/records/change_request/add/").status_code == 404
    assert outside.get("/records/change_request/lookup/?q=").status_code == 404

    token_in = api_token(inside, "delivery_eng", "password-123")
    token_out = api_token(outside, "support_eng", "password-123")
    listed = inside.get("/api/v1/records/change_request/", headers={"Authorization": f"Bearer {token_in}"})
    assert listed.status_code == 200
    refused = outside.get("/api/v1/records/change_request/", headers={"Authorization": f"Bearer {token_out}"})
    assert refused.status_code == 404


def test_a_pilot_widened_to_everyone_appears_for_all(app: Any, runtime: Any) -> None:
    make_people(app)
    pilot(runtime, ["delivery"])
    pilot(runtime, ["delivery", "support"])
    outside = app.test_client()
    login(outside, "support_eng", "password-123")
    assert outside.get("/records/change_request/list/").status_code == 200


PACK = [str(ROOT / folder) for folder in ("schemas", "forms", "workflows", "reports")]


def test_the_whole_starter_pack_piloted_in_one_department(
    app: Any, runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_people(app)
    monkeypatch.setenv("ITPM_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("ITPM_INSTANCE_PATH", str(runtime.settings.instance_path))

    refused = CliRunner().invoke(main, ["defs", "import", *PACK, "--publish", "--pilot", "sales"])
    assert refused.exit_code == 1
    assert (
        "there is no department sales (there are: delivery, support); nothing was changed" in refused.output
    )

    result = CliRunner().invoke(main, ["defs", "import", *PACK, "--publish", "--pilot", "delivery"])
    assert result.exit_code == 0, result.output
    types = sorted(runtime.catalog().record_types)
    assert len(types) >= 10 and all(
        runtime.catalog().record_types[t].departments == ["delivery"] for t in types
    )

    inside, outside = app.test_client(), app.test_client()
    login(inside, "delivery_eng", "password-123")
    login(outside, "support_eng", "password-123")
    token_in = api_token(inside, "delivery_eng", "password-123")
    token_out = api_token(outside, "support_eng", "password-123")
    menu_in = inside.get("/", follow_redirects=True).get_data(as_text=True)  # staff land on My work
    menu_out = outside.get("/", follow_redirects=True).get_data(as_text=True)
    for type_name in types:
        link = f'href="/records/{type_name}/list/"'
        assert link in menu_in, type_name
        assert inside.get(f"/records/{type_name}/list/").status_code == 200, type_name
        assert link not in menu_out, type_name
        assert outside.get(f"/records/{type_name}/list/").status_code == 404, type_name
        api = f"/api/v1/records/{type_name}/"
        assert inside.get(api, headers={"Authorization": f"Bearer {token_in}"}).status_code == 200
        assert outside.get(api, headers={"Authorization": f"Bearer {token_out}"}).status_code == 404
