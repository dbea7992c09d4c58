"""What a new user hit in their first hour (issue 12, item 5): each as that user sees it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from conftest import csrf_token, login
from itpm.access import Actor
from itpm.models import Department, Team
from itpm.records.service import Records

PASSWORD = "first-hour-password-1"


def add_person(app: Any, username: str, role: str) -> int:
    """A person in the delivery department and its team (made with the first person)."""
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        session = sm.session
        department = session.scalar(select(Department).where(Department.name == "delivery"))
        if department is None:
            department = Department(name="delivery", title_en="Delivery", title_zh="交付部")
            session.add(department)
            session.flush()
            session.add(Team(name="team1", title_en="Team 1", title_zh="一组", department_id=department.id))
            session.flush()
        team = session.scalar(select(Team).where(Team.name == "team1"))
        person = sm.add_user(
            username, username.title(), "Tester", f"{username}@itpm.invalid", [sm.find_role(role)], PASSWORD
        )
        person.department_id, person.team_id = department.id, team.id
        session.commit()
        return person.id


def department_id(runtime: Any) -> int:
    with runtime.session() as session:
        return session.scalar(select(Department.id).where(Department.name == "delivery"))


def client_of(app: Any, username: str, language: str = "en") -> Any:
    client = app.test_client()
    login(client, username, PASSWORD)
    client.get(f"/lang/{language}")
    return client


def system(runtime: Any, session: Any) -> Records:
    return Records(session, runtime.catalog(), Actor.system())


def test_the_customer_page_opens_for_everyone_who_reads_customers(
    app: Any, runtime: Any, admin_client: Any
) -> None:
    with runtime.session() as session:
        customer = system(runtime, session).create("customer", {"name": "East China Bank"})
        session.commit()
        customer_id = customer.id
    add_person(app, "li.engineer", "engineer")
    for client in (admin_client, client_of(app, "li.engineer")):
        page = client.get(f"/records/customer/show/{customer_id}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "East China Bank" in html
        assert f'href="/records/customer/show/{customer_id}"' in html  # its client is itself


def test_the_profile_link_opens_for_staff(app: Any) -> None:
    add_person(app, "wang.engineer", "engineer")
    client = client_of(app, "wang.engineer")
    home = client.get("/", follow_redirects=True).get_data(as_text=True)  # staff land on My work
    profile = re.search(r'href="([^"]+)"><span class="fa fa-fw fa-user"></span>', home).group(1)
    page = client.get(profile)
    assert page.status_code == 200
    assert "wang.engineer" in page.get_data(as_text=True)


PROJECT = {
    "name": "Core banking",
    "project_type": "implementation",
    "phase": "planning",
    "start_date": "2026-01-05",
    "due_date": "2026-06-30",
}


def test_a_field_a_transition_needs_is_named_with_the_transitions_title(app: Any, runtime: Any) -> None:
    manager = add_person(app, "sun.manager", "project_manager")
    with runtime.session() as session:
        records = system(runtime, session)
        place = {"owner": manager, "department": department_id(runtime)}
        project = records.create("project", PROJECT, place)
        risk = records.create(
            "risk",
            {"title": "Vendor late", "project": project.id, "probability": "high", "impact": "high"},
            place,
        )
        session.commit()
        risk_id = risk.id
    client = client_of(app, "sun.manager", "zh")
    path = f"/records/risk/transition/{risk_id}/mitigate"
    html = client.post(
        path, data={"mitigation": "", "version": "1", "csrf_token": csrf_token(client, path)}
    ).get_data(as_text=True)
    assert "执行 开始应对 时为必填项" in html
    assert "mitigate" not in re.sub(r'(href|action|src)="[^"]*"', "", html).replace("itpm-", "")


def test_a_pattern_says_what_it_expects_not_its_regular_expression(runtime: Any, admin_api: Any) -> None:
    response = admin_api.post("/api/v1/records/client_feedback/", json={"data": {"period": "March"}})
    errors = {e["path"]: e["message"] for e in response.get_json()["errors"]}
    assert errors["/data/period"] == '"March" is not valid: a month as YYYY-MM, e.g. 2026-03'
    zh = admin_api.post(
        "/api/v1/records/client_feedback/",
        json={"data": {"period": "March"}},
        headers={"Accept-Language": "zh"},
    )
    assert "月份,格式为 YYYY-MM" in {e["path"]: e["message"] for e in zh.get_json()["errors"]}["/data/period"]


@pytest.mark.parametrize("type_name", ["task", "project"])
def test_a_due_date_before_the_start_is_refused(runtime: Any, admin_api: Any, type_name: str) -> None:
    with runtime.session() as session:
        project = system(runtime, session).create("project", PROJECT)
        session.commit()
        project_id = project.id
    data = (
        {**PROJECT, "start_date": "2026-05-01", "due_date": "2026-04-01"}
        if type_name == "project"
        else {"title": "Cable", "project": project_id, "start_date": "2026-05-01", "due_date": "2026-04-01"}
    )
    response = admin_api.post(f"/api/v1/records/{type_name}/", json={"data": data})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"path": "/data/due_date", "message": "must be on or after the start date"}
    ]
    same_day = {**data, "due_date": "2026-05-01"}
    assert admin_api.post(f"/api/v1/records/{type_name}/", json={"data": same_day}).status_code == 201
    without_start = {k: v for k, v in data.items() if k != "start_date"}
    if type_name == "task":  # a rule compares values that are there
        assert (
            admin_api.post(f"/api/v1/records/{type_name}/", json={"data": without_start}).status_code == 201
        )


def test_the_rule_is_told_in_chinese_on_the_form(admin_client: Any) -> None:
    admin_client.get("/lang/zh")
    form = {**PROJECT, "start_date": "2026-05-01", "due_date": "2026-04-01"}
    html = admin_client.post(
        "/records/project/add/",
        data={**form, "csrf_token": csrf_token(admin_client, "/records/project/add/")},
    ).get_data(as_text=True)
    assert re.search(r'data-field="due_date".*?不能早于开始日期', html, re.S)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_page_not_found_is_themed_and_in_the_readers_language(admin_client: Any, language: str) -> None:
    admin_client.get(f"/lang/{language}")
    response = admin_client.get("/records/nothing/here")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert 'class="navbar' in html  # the app's own frame, with its menu
    assert ("页面不存在" if language == "zh" else "Page not found") in html
    missing = admin_client.get("/records/incident/show/999999")
    assert missing.status_code == 404 and 'class="navbar' in missing.get_data(as_text=True)


@pytest.mark.server_error
def test_a_server_error_page_is_themed_and_in_the_readers_language(app: Any, admin_client: Any) -> None:
    admin_client.get("/lang/zh")
    flask_app = app.dispatcher.app

    def boom(**_: Any) -> None:
        raise RuntimeError("boom")

    flask_app.view_functions["records_incident.list"] = boom  # a page that fails
    response = admin_client.get("/records/incident/list/")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "出错" in html and 'class="navbar' in html and "boom" not in html


def test_the_api_answers_json_for_an_unknown_address(admin_api: Any) -> None:
    response = admin_api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.get_json() == {"message": "Page not found"}
