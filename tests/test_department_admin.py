"""A department's admin switches pilots and gives roles, in their own department only."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from conftest import csrf_token, login
from itpm.config import ROOT
from itpm.models import Department, Person


def setup_people(app: Any) -> dict[str, int]:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        session = sm.session
        delivery = Department(name="delivery", title_en="Delivery", title_zh="交付部")
        support = Department(name="support", title_en="Support", title_zh="运维部")
        session.add_all([delivery, support])
        session.flush()
        ids = {}
        for username, role, department in (
            ("boss", "department_admin", delivery),
            ("dev", "engineer", delivery),
            ("ops", "engineer", support),
        ):
            person = sm.add_user(
                username, username, "T", f"{username}@itpm.invalid", [sm.find_role(role)], "password-123"
            )
            person.department_id = department.id
            ids[username] = person.id
        session.commit()
    return ids


def make_pilot(runtime: Any) -> None:
    body = json.loads((ROOT / "schemas" / "change_request.json").read_text("utf-8"))
    body["departments"] = ["support"]
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.save_draft(body, "admin")
        registry.publish([("record_type", "change_request")], "admin", "pilot in support")


def test_a_department_admin_runs_a_pilot_in_their_department(app: Any, runtime: Any) -> None:
    setup_people(app)
    make_pilot(runtime)
    boss = app.test_client()
    login(boss, "boss", "password-123")
    boss.get("/lang/en")
    page = boss.get("/my-department/").get_data(as_text=True)
    assert "Change request" in page and "Run the pilot here" in page
    token = csrf_token(boss, "/my-department/")
    assert (
        boss.post(
            "/my-department/pilot/change_request", data={"enabled": "1", "csrf_token": token}
        ).status_code
        == 302
    )
    with runtime.session() as session:
        registry = runtime.registry(session)
        assert registry.published_body(registry.get("record_type", "change_request"))["departments"] == [
            "delivery",
            "support",
        ]
    dev = app.test_client()
    login(dev, "dev", "password-123")
    assert dev.get("/records/change_request/list/").status_code == 200


def test_a_department_admin_gives_roles_to_their_people_only(app: Any, runtime: Any) -> None:
    ids = setup_people(app)
    boss = app.test_client()
    login(boss, "boss", "password-123")
    token = csrf_token(boss, "/my-department/")
    assert (
        boss.post(
            f"/my-department/roles/{ids['dev']}",
            data={"role": ["engineer", "support_agent"], "csrf_token": token},
        ).status_code
        == 302
    )
    boss.post(f"/my-department/roles/{ids['dev']}", data={"role": ["admin"], "csrf_token": token})
    boss.post(f"/my-department/roles/{ids['ops']}", data={"role": ["project_manager"], "csrf_token": token})
    with runtime.session() as session:
        dev = session.scalar(select(Person).where(Person.id == ids["dev"]))
        ops = session.scalar(select(Person).where(Person.id == ids["ops"]))
        assert sorted(r.name for r in dev.roles) == ["engineer", "support_agent"]
        assert [r.name for r in ops.roles] == ["engineer"]


def test_people_without_the_ability_cannot_open_the_page(app: Any) -> None:
    setup_people(app)
    dev = app.test_client()
    login(dev, "dev", "password-123")
    assert dev.get("/my-department/").status_code == 403


def test_a_department_admin_gives_only_roles_bounded_by_their_department_and_none_to_themselves(
    app: Any, runtime: Any
) -> None:
    ids = setup_people(app)
    boss = app.test_client()
    login(boss, "boss", "password-123")
    boss.get("/lang/en")
    page = boss.get("/my-department/").get_data(as_text=True)
    assert 'value="finance"' not in page and 'value="engineer"' in page
    assert f"/my-department/roles/{ids['boss']}" not in page  # no form for their own roles
    token = csrf_token(boss, "/my-department/")
    # finance reads every project of the company; a client reads a client organisation's rows
    for role in ("finance", "client", "account_manager", "department_admin"):
        answer = boss.post(
            f"/my-department/roles/{ids['dev']}",
            data={"role": [role], "csrf_token": token},
            follow_redirects=True,
        )
        assert "You may not give the roles" in answer.get_data(as_text=True)
    answer = boss.post(
        f"/my-department/roles/{ids['boss']}",
        data={"role": ["project_manager"], "csrf_token": token},
        follow_redirects=True,
    )
    assert "Your own roles are given by an admin." in answer.get_data(as_text=True)
    with runtime.session() as session:
        roles = {p.username: sorted(r.name for r in p.roles) for p in session.scalars(select(Person))}
    assert roles["dev"] == ["engineer"] and roles["boss"] == ["department_admin"]
