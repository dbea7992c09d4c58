"""Every starter role × record type × action × row, through the screens and the API.

The expected answers come from the role definitions read with the documented
meaning of each row scope (the table `COVERS` below, written out by hand for
the people of this test), not from the code under test. Rows a role may not
see answer 404 (their ids are guessed); actions it may not take on rows it
sees answer 403.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update

from conftest import BACKENDS, api_token, databases, login, settings_for
from itpm.access import Actor
from itpm.config import ROOT
from itpm.models import Department, Person, Team
from itpm.records.service import Records
from itpm.web.app import create_app

ROLES = ["admin", "project_manager", "engineer", "support_agent", "account_manager", "finance", "client"]
TYPES = [
    "customer",
    "project",
    "task",
    "incident",
    "change_request",
    "deliverable",
    "risk",
    "timesheet",
    "service_request",
    "client_feedback",
    "expense",
    "cost_rate",
]
RELATIONS = ["own", "assigned", "same_team", "same_department", "other_department", "other_client"]
PASSWORD = "matrix-password-1"

# Which rows each scope covers, for a staff member of team T1 in department D1 (no client
# organisation) and for a client user of organisation C1 (also placed in D1/T1 here).
COVERS = {
    "staff": {
        "all": set(RELATIONS),
        "own": {"own"},
        "assigned": {"assigned"},
        "team": {"own", "assigned", "same_team"},
        "department": {"own", "same_team", "same_department"},
        "client": set(),
    },
    "client": {
        "all": set(RELATIONS),
        "own": {"own"},
        "assigned": {"assigned"},
        "team": {"own", "assigned", "same_team"},
        "department": {"own", "same_team", "same_department"},
        "client": {"own", "same_team", "same_department", "other_department"},
    },
}


def role_rules(role: str) -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / "roles" / f"{role}.json").read_text("utf-8"))


def expected(role: str, type_name: str, action: str, relation: str) -> bool:
    records = role_rules(role).get("records", {})
    entry = records.get(type_name, records.get("*", {}))
    rows = entry.get(action)
    if rows is None:
        return False
    scopes = [rows] if isinstance(rows, str) else rows
    covers = COVERS["client" if role == "client" else "staff"]
    return any(relation in covers[s] for s in scopes)


@dataclass
class World:
    users: dict[str, int]
    records: dict[tuple[str, str, str], int]  # (actor role, type, relation) -> record id
    places: dict[str, int]  # department and team ids: d1, d2, t1, t2, t3
    numbers: dict[tuple[str, int], str]  # (type, record id) -> record number


def _user(
    sm: Any, session: Any, username: str, role: str, department: int, team: int, client: int | None = None
) -> int:
    user = sm.add_user(username, username, "Test", f"{username}@itpm.invalid", [sm.find_role(role)], PASSWORD)
    assert user, username
    user.department_id, user.team_id, user.client_id = department, team, client
    session.commit()
    return user.id


def build_world(app: Any, runtime: Any) -> World:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        session = sm.session
        d1, d2 = (
            Department(name="delivery", title_en="Delivery", title_zh="交付部"),
            Department(name="support", title_en="Support", title_zh="运维部"),
        )
        session.add_all([d1, d2])
        session.flush()
        t1, t2, t3 = (
            Team(name=n, title_en=n, title_zh=n, department_id=d)
            for n, d in (("t1", d1.id), ("t2", d1.id), ("t3", d2.id))
        )
        session.add_all([t1, t2, t3])
        session.commit()
        ids = {"d1": d1.id, "d2": d2.id, "t1": t1.id, "t2": t2.id, "t3": t3.id}

    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        c1 = system.create("customer", {"name": "Acme Bank"}).id
        c2 = system.create("customer", {"name": "Globex"}).id
        session.commit()

    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        session = sm.session
        users = {
            role: _user(
                sm, session, f"m_{role}", role, ids["d1"], ids["t1"], c1 if role == "client" else None
            )
            for role in ROLES
        }
        peers = {
            "same_team": _user(sm, session, "m_peer_team", "engineer", ids["d1"], ids["t1"]),
            "same_department": _user(sm, session, "m_peer_dept", "engineer", ids["d1"], ids["t2"]),
            "other_department": _user(sm, session, "m_other_dept", "engineer", ids["d2"], ids["t3"]),
        }

    placement = {  # relation -> (creator, department, client, assignee)
        "same_team": (peers["same_team"], ids["d1"], c1, None),
        "same_department": (peers["same_department"], ids["d1"], c1, None),
        "other_department": (peers["other_department"], ids["d2"], c1, None),
        "other_client": (peers["other_department"], ids["d2"], c2, None),
    }
    records: dict[tuple[str, str, str], int] = {}
    numbers: dict[tuple[str, int], str] = {}
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        base = system.create(
            "project",
            {
                "name": "Base",
                "project_type": "outsourcing",
                "phase": "execution",
                "start_date": "2026-01-01",
                "due_date": "2026-12-31",
            },
        ).id
        data = {
            "customer": lambda: {"name": "Initech"},
            "project": lambda: {
                "name": "Rollout",
                "project_type": "implementation",
                "phase": "execution",
                "start_date": "2026-01-01",
                "due_date": "2026-12-31",
            },
            "task": lambda: {"title": "Install", "project": base},
            "incident": lambda: {"title": "VPN down", "priority": "P3", "category": "network"},
            "change_request": lambda: {
                "title": "Add SSO",
                "impact": "low",
                "urgency": "normal",
                "project": base,
            },
            "deliverable": lambda: {"name": "Design document", "project": base, "client_visible": True},
            "risk": lambda: {
                "title": "Key engineer leaves",
                "project": base,
                "probability": "medium",
                "impact": "high",
            },
            "timesheet": lambda: {"project": base, "work_date": "2026-03-02", "hours": 7.5},
            "expense": lambda: {"project": base, "spent_on": "2026-03-02", "amount": 1_200},
            "cost_rate": lambda: {"person": peers["same_team"], "hourly_rate": 300},
            "service_request": lambda: {"title": "VPN account", "priority": "P3", "category": "access"},
            "client_feedback": lambda: {"project": base, "satisfaction": 4, "nps": 9},
        }

        def make(type_name: str, creator: int, department: int, client: int, assignee: int | None) -> int:
            record = system.create(type_name, data[type_name]())
            numbers[(type_name, record.id)] = record.number
            model = system.model(type_name)
            values = {
                "created_by_id": creator,
                "owner_id": creator,
                "department_id": department,
                "client_id": client,
                "assignee_id": assignee,
            }
            session.execute(update(model).where(model.id == record.id).values(**values))
            return record.id

        for type_name in TYPES:
            shared = {relation: make(type_name, *placement[relation]) for relation in placement}
            for role in ROLES:
                for relation, record_id in shared.items():
                    records[(role, type_name, relation)] = record_id
                records[(role, type_name, "own")] = make(type_name, users[role], ids["d1"], c1, None)
                records[(role, type_name, "assigned")] = make(
                    type_name, peers["other_department"], ids["d2"], c2, users[role]
                )
        session.commit()
    return World(users, records, ids, numbers)


def sign_in(app: Any) -> dict[str, tuple[Any, dict[str, str]]]:
    """Per role: a logged-in browser session, and API headers with the role's token."""
    found = {}
    for role in ROLES:
        client = app.test_client()
        login(client, f"m_{role}", PASSWORD)
        token = api_token(app.test_client(), f"m_{role}", PASSWORD)
        found[role] = (client, {"Authorization": f"Bearer {token}", "Accept-Language": "en"})
    return found


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest,
    template_databases: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[World, dict[str, Any]]]:
    """One world per backend for the tests that only read, or write nothing the others count on."""
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    folder = tmp_path_factory.mktemp("matrix")
    with databases(template_databases, folder) as make:
        app = create_app(settings_for(make(request.param), folder))
        try:
            world = build_world(app, app.extensions["itpm"])
            yield world, sign_in(app)
        finally:
            app.extensions["itpm"].dispose()


@pytest.fixture
def world(shared: tuple[World, dict[str, Any]]) -> World:
    return shared[0]


@pytest.fixture
def clients(shared: tuple[World, dict[str, Any]]) -> dict[str, Any]:
    return shared[1]


@pytest.fixture
def own_world(app: Any, runtime: Any) -> tuple[World, dict[str, Any]]:
    """A world of its own, for a test that changes roles or records."""
    return build_world(app, runtime), sign_in(app)


@pytest.mark.parametrize("role", ROLES)
def test_reading_through_the_api_and_the_screens(role: str, world: World, clients: dict[str, Any]) -> None:
    browser, headers = clients[role]
    wrong = []
    for type_name in TYPES:
        can_read_type = any(expected(role, type_name, "read", r) for r in RELATIONS) or bool(
            role_rules(role)
            .get("records", {})
            .get(type_name, role_rules(role).get("records", {}).get("*", {}))
            .get("read")
        )
        for relation in RELATIONS:
            record_id = world.records[(role, type_name, relation)]
            visible = expected(role, type_name, "read", relation)
            api = browser.get(f"/api/v1/records/{type_name}/{record_id}", headers=headers).status_code
            html = browser.get(f"/records/{type_name}/show/{record_id}").status_code
            want_api = 200 if visible else (404 if can_read_type else 403)
            want_html = 200 if visible else (404 if can_read_type else 403)
            if (api, html) != (want_api, want_html):
                wrong.append((type_name, relation, "read", (api, html), (want_api, want_html)))
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_lists_count_only_visible_rows(role: str, world: World, clients: dict[str, Any]) -> None:
    browser, headers = clients[role]
    for type_name in TYPES:
        response = browser.get(f"/api/v1/records/{type_name}/?q=(page_size:100)", headers=headers)
        if response.status_code == 403:
            assert (
                not role_rules(role)
                .get("records", {})
                .get(type_name, role_rules(role).get("records", {}).get("*", {}))
                .get("read")
            )
            continue
        ids = {r["id"] for r in response.get_json()["result"]}
        mine = {
            world.records[(role, type_name, r)] for r in RELATIONS if expected(role, type_name, "read", r)
        }
        others = {
            world.records[(role, type_name, r)] for r in RELATIONS if not expected(role, type_name, "read", r)
        }
        assert mine <= ids, (type_name, "missing visible rows")
        assert not (others & ids), (type_name, "shows rows it must not")
        assert response.get_json()["count"] == len(ids)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ["write", "delete"])
def test_changing_and_deleting(role: str, action: str, world: World, clients: dict[str, Any]) -> None:
    """A stale version (999) answers 409 only once the access checks have passed."""
    browser, headers = clients[role]
    wrong = []
    for type_name in TYPES:
        for relation in RELATIONS:
            record_id = world.records[(role, type_name, relation)]
            path = f"/api/v1/records/{type_name}/{record_id}"
            if action == "write":
                status = browser.put(path, json={"version": 999, "data": {}}, headers=headers).status_code
            else:
                status = browser.delete(f"{path}?version=999", headers=headers).status_code
            rules = role_rules(role).get("records", {})
            entry = rules.get(type_name, rules.get("*", {}))
            if not entry.get("read") and not entry.get(action):
                want = {403}
            elif expected(role, type_name, action, relation):
                want = {409}
            elif expected(role, type_name, "read", relation):
                want = {403}
            elif not entry.get(action):
                want = {403, 404}  # the role lacks the action entirely: refused before any row is looked at
            else:
                want = {404}
            if status not in want:
                wrong.append((type_name, relation, action, status, want))
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_creating(role: str, world: World, clients: dict[str, Any]) -> None:
    browser, headers = clients[role]
    own_project = world.records[(role, "project", "own")]
    payloads = {
        "customer": {"name": "Umbrella"},
        "project": {
            "name": "New",
            "project_type": "outsourcing",
            "phase": "initiation",
            "start_date": "2026-01-01",
            "due_date": "2026-06-30",
        },
        "task": {"title": "Plan", "project": own_project},
        "incident": {"title": "Printer", "priority": "P4", "category": "desktop"},
        "change_request": {
            "title": "More disk",
            "project": own_project,
            "impact": "low",
            "urgency": "normal",
        },
        "deliverable": {"name": "Test report", "project": own_project},
        "risk": {"title": "Late hardware", "project": own_project, "probability": "low", "impact": "medium"},
        "timesheet": {"project": own_project, "work_date": "2026-03-03", "hours": 4},
        "expense": {"project": own_project, "spent_on": "2026-03-03", "amount": 80},
        "cost_rate": {"person": world.users["engineer"], "hourly_rate": 250},
        "service_request": {"title": "New laptop", "priority": "P4", "category": "hardware"},
        "client_feedback": {"project": own_project, "satisfaction": 5},
    }
    for type_name in TYPES:
        rules = role_rules(role).get("records", {})
        allowed = rules.get(type_name, rules.get("*", {})).get("create") is not None
        response = browser.post(
            f"/api/v1/records/{type_name}/", json={"data": payloads[type_name]}, headers=headers
        )
        assert response.status_code == (201 if allowed else 403), (type_name, response.get_json())
        form = browser.get(f"/records/{type_name}/add/").status_code
        assert form == (200 if allowed else 403), type_name


def test_a_client_cannot_file_for_another_client(world: World, clients: dict[str, Any], runtime: Any) -> None:
    browser, headers = clients["client"]
    other = world.records[("client", "customer", "other_client")]
    response = browser.post(
        "/api/v1/records/incident/",
        json={"data": {"title": "x", "priority": "P4", "category": "desktop"}, "client": other},
        headers=headers,
    )
    assert response.status_code == 422  # the other client is not even visible: no such client
    assert response.get_json()["errors"] == [
        {"path": "/client", "message": f"there is no client with id {other}"}
    ]


def test_a_client_cannot_move_a_ticket_to_another_project(world: World, clients: dict[str, Any]) -> None:
    browser, headers = clients["client"]
    mine = world.records[("client", "incident", "own")]
    theirs = world.records[("client", "project", "other_client")]
    response = browser.put(
        f"/api/v1/records/incident/{mine}", json={"version": 1, "data": {"project": theirs}}, headers=headers
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"path": "/data/project", "message": f"there is no project with id {theirs}"}
    ]


def test_type_ahead_offers_only_visible_records(world: World, clients: dict[str, Any]) -> None:
    browser, _headers = clients["client"]
    found = {r["id"] for r in browser.get("/records/project/lookup/?q=").get_json()["results"]}
    assert world.records[("client", "project", "other_client")] not in found
    assert world.records[("client", "project", "own")] in found
    guessed = browser.get(
        f"/records/project/lookup/?ids={world.records[('client', 'project', 'other_client')]}"
    ).get_json()
    assert guessed == {"results": []}


def test_hidden_fields_are_absent_everywhere(own_world: tuple[World, dict[str, Any]], runtime: Any) -> None:
    world, clients = own_world
    project_id = world.records[("client", "project", "own")]
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        system.update("project", project_id, {"budget_spent": 123456, "progress": 40}, 1)
        session.commit()
    browser, headers = clients["client"]
    record = browser.get(f"/api/v1/records/project/{project_id}", headers=headers).get_json()
    assert (
        "budget_spent" not in record["data"]
        and "budget_plan" not in record["data"]
        and record["data"]["progress"] == 40
    )
    listed = browser.get("/api/v1/records/project/?q=(page_size:100)", headers=headers).get_json()["result"]
    assert all("budget_spent" not in r["data"] for r in listed)
    history = browser.get(f"/api/v1/records/project/{project_id}/history", headers=headers).get_json()[
        "result"
    ]
    paths = [c["path"] for e in history for c in e["changes"]]
    assert "/data/progress" in paths and "/data/budget_spent" not in paths
    page = browser.get(f"/records/project/show/{project_id}").get_data(as_text=True)
    assert "123,456" not in page and "Spent (CNY)" not in page and "已花费" not in page
    manager_page = (
        clients["project_manager"][0].get(f"/records/project/show/{project_id}").get_data(as_text=True)
    )
    assert "123,456" in manager_page


def test_writing_a_read_only_field_is_403_naming_it(own_world: tuple[World, dict[str, Any]]) -> None:
    world, clients = own_world
    browser, headers = clients["finance"]
    project_id = world.records[("finance", "project", "same_department")]
    refused = browser.put(
        f"/api/v1/records/project/{project_id}",
        json={"version": 1, "data": {"name": "Renamed"}},
        headers=headers,
    )
    assert refused.status_code == 403
    assert refused.get_json()["errors"] == [{"path": "/data/name", "message": "is read-only for you"}]
    allowed = browser.put(
        f"/api/v1/records/project/{project_id}",
        json={"version": 1, "data": {"budget_spent": 1000}},
        headers=headers,
    )
    assert allowed.status_code == 200
    form = browser.get(f"/records/project/edit/{project_id}").get_data(as_text=True)
    assert 'name="name"' not in form and 'name="budget_spent"' in form


def test_a_role_change_takes_effect_on_the_next_request(
    own_world: tuple[World, dict[str, Any]], runtime: Any
) -> None:
    world, clients = own_world
    browser, headers = clients["engineer"]
    record_id = world.records[("engineer", "incident", "same_team")]
    assert browser.get(f"/api/v1/records/incident/{record_id}", headers=headers).status_code == 200
    body = role_rules("engineer")
    body["records"]["incident"]["read"] = "assigned"
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.save_draft(body, "admin")
        registry.publish([("role", "engineer")], "admin", "engineers see their own incidents only")
    assert browser.get(f"/api/v1/records/incident/{record_id}", headers=headers).status_code == 404
    del body["records"]["incident"]
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.save_draft(body, "admin")
        registry.publish([("role", "engineer")], "admin", "no incidents for engineers")
    assert browser.get(f"/api/v1/records/incident/{record_id}", headers=headers).status_code == 403
    assert browser.get("/records/incident/list/").status_code == 403


def test_a_users_new_role_takes_effect_on_the_next_request(
    app: Any, own_world: tuple[World, dict[str, Any]]
) -> None:
    world, clients = own_world
    browser, headers = clients["client"]
    record_id = world.records[("client", "incident", "other_client")]
    assert browser.get(f"/api/v1/records/incident/{record_id}", headers=headers).status_code == 404
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        user = sm.session.get(Person, world.users["client"])
        user.roles = [sm.find_role("support_agent")]
        user.client_id = None
        sm.session.commit()
    assert (
        browser.get(
            f"/records/incident/show/{world.records[('client', 'incident', 'same_department')]}"
        ).status_code
        == 200
    )


def test_a_record_cannot_be_created_outside_ones_own_rows(world: World, clients: dict[str, Any]) -> None:
    browser, headers = clients["client"]
    orphan = browser.post(
        "/api/v1/records/incident/",
        json={"data": {"title": "x", "priority": "P4", "category": "desktop"}, "client": None},
        headers=headers,
    )
    assert orphan.status_code == 403  # a client's ticket must belong to their organisation
    manager, manager_headers = clients["project_manager"]
    d2 = world.places["d2"]
    elsewhere = manager.post(
        "/api/v1/records/project/",
        json={
            "data": {
                "name": "Not mine",
                "project_type": "outsourcing",
                "phase": "initiation",
                "start_date": "2026-01-01",
                "due_date": "2026-02-01",
            },
            "department": d2,
        },
        headers=manager_headers,
    )
    assert elsewhere.status_code == 403


def table_of(text: str) -> list[list[str]]:
    """A CSV export's header and rows, without the notes below them (after a blank line)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    return rows[: rows.index([])] if [] in rows else rows


@pytest.mark.parametrize("role", ROLES)
def test_exporting(role: str, world: World, clients: dict[str, Any]) -> None:
    """A CSV export holds the rows the role may export, without its hidden fields; no export right, 403."""
    browser, headers = clients[role]
    for type_name in TYPES:
        rules = role_rules(role).get("records", {})
        entry = rules.get(type_name, rules.get("*", {}))
        response = browser.get(f"/api/v1/records/{type_name}/export.csv", headers=headers)
        page = browser.get(f"/records/{type_name}/export/")
        if entry.get("export") is None:
            assert (response.status_code, page.status_code) == (403, 403), type_name
            continue
        assert response.status_code == 200 and page.status_code == 200, type_name
        rows = table_of(response.get_data(as_text=True))
        numbers = {row[0] for row in rows[1:]}
        screen_rows = table_of(page.get_data(as_text=True))
        assert sorted(r[0] for r in screen_rows[1:]) == sorted(numbers), (
            type_name
        )  # the same rows, in Chinese
        for relation in RELATIONS:
            number = number_of(world, role, type_name, relation, browser)
            assert (number in numbers) == expected(role, type_name, "export", relation), (type_name, relation)
        hidden = [name for name, rule in entry.get("fields", {}).items() if rule == "hidden"]
        titles = json.loads((ROOT / "schemas" / f"{type_name}.json").read_text("utf-8"))["schema"][
            "properties"
        ]
        assert not any(titles[name]["title"] in rows[0] for name in hidden), type_name


def number_of(world: World, role: str, type_name: str, relation: str, browser: Any) -> str:
    """A record's number, read as the admin (the role may not see it)."""
    return world.numbers[(type_name, world.records[(role, type_name, relation)])]
