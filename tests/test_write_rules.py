"""What a person may write into a record, on every path (form, API, transition), tried as a client user.

Files: a file field takes the files it holds and the person's new uploads, never another record's file
(issue 13, finding 1). People: owner, assignee and person fields take only people the person may see
(finding 7). Field rules hold for the system references owner, assignee, client and department
(finding 8) and for the fields a person fills in on a transition (finding 12).
"""

from __future__ import annotations

import copy
import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import api_token, csrf_token, login
from itpm.access import Actor
from itpm.models import Department, Person, StoredFile
from itpm.records.service import Records

PASSWORD = "lantern-harbour-quietly-42"


@dataclass
class World:
    acme: int  # client organisations (customer records)
    globex: int
    people: dict[str, int]


def add_person(app: Any, username: str, role: str, client: int | None = None) -> int:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        user = sm.add_user(
            username, username.title(), "Test", f"{username}@itpm.invalid", [sm.find_role(role)], PASSWORD
        )
        assert user, username
        user.client_id = client
        sm.session.commit()
        return user.id


def add_department(app: Any, name: str) -> int:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        session = flask_app.appbuilder.sm.session
        department = Department(name=name, title_en=name.title(), title_zh=name)
        session.add(department)
        session.commit()
        return department.id


def publish(runtime: Any, *changes: tuple[str, str, Any]) -> None:
    """Publish changed definitions: each (kind, name, function changing its published body)."""
    with runtime.session() as session:
        registry = runtime.registry(session)
        for kind, name, change in changes:
            body = copy.deepcopy(registry.published_body(registry.get(kind, name)))
            change(body)
            registry.save_draft(body, "admin")
        registry.publish([(kind, name) for kind, name, _ in changes], "admin")


def with_evidence_and_watchers(body: dict[str, Any]) -> None:
    body["schema"]["properties"]["evidence"] = {
        "type": "array",
        "items": {"type": "integer", "x-ref": "file"},
        "title": "Evidence",
        "x-title-zh": "证据",
    }
    body["schema"]["properties"]["watchers"] = {
        "type": "array",
        "items": {"type": "integer", "x-ref": "user"},
        "title": "Watchers",
        "x-title-zh": "关注人",
    }


def on_the_form(body: dict[str, Any]) -> None:
    body["sections"][0]["fields"] += ["evidence", "watchers"]


@pytest.fixture
def world(app: Any, runtime: Any) -> World:
    publish(
        runtime,
        ("record_type", "incident", with_evidence_and_watchers),
        ("form", "incident_form", on_the_form),
    )
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        acme = system.create("customer", {"name": "Acme Bank"}).id
        globex = system.create("customer", {"name": "Globex"}).id
        session.commit()
    people = {
        "alice": add_person(app, "alice", "client", acme),
        "amy": add_person(app, "amy", "client", acme),
        "gina": add_person(app, "gina", "client", globex),
        "sam": add_person(app, "sam", "support_agent"),
        "fay": add_person(app, "fay", "finance"),
        "pete": add_person(app, "pete", "project_manager"),
    }
    return World(acme, globex, people)


def signed_in(app: Any, username: str) -> Any:
    client = app.test_client()
    login(client, username, PASSWORD)
    client.get("/lang/en")
    return client


class Api:
    """A person's API calls with their bearer token, in English."""

    def __init__(self, app: Any, username: str) -> None:
        self.client = app.test_client()
        self.token = api_token(self.client, username, PASSWORD)

    def __getattr__(self, method: str) -> Any:
        call = getattr(self.client, method)

        def send(path: str, **kwargs: Any) -> Any:
            headers = kwargs.setdefault("headers", {})
            headers["Authorization"] = f"Bearer {self.token}"
            headers["Accept-Language"] = "en"
            return call(path, **kwargs)

        return send


INCIDENT = {"title": "Printer on fire", "priority": "P3", "category": "desktop"}


PROJECT = {
    "name": "Core banking",
    "project_type": "implementation",
    "phase": "initiation",
    "start_date": "2026-01-05",
    "due_date": "2026-09-30",
}


def acme_incident(world: World, **fields: Any) -> dict[str, Any]:
    """An incident's form fields as Acme's people send them (the form asks for the client too)."""
    return {**INCIDENT, "client": str(world.acme), **fields}


def post_form(client: Any, path: str, fields: dict[str, Any]) -> Any:
    return client.post(
        path,
        data={**fields, "csrf_token": csrf_token(client, path)},
        content_type="multipart/form-data",
    )


def created_id(response: Any) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def errors(response: Any) -> dict[str, str]:
    return {e["path"]: e["message"] for e in response.get_json().get("errors", [])}


def file_row(runtime: Any, file_id: int) -> tuple[str, int | None]:
    with runtime.session() as session:
        row = session.get(StoredFile, file_id)
        return row.record_type, row.record_id


def incident_count(runtime: Any) -> int:
    with runtime.session() as session:
        model = runtime.catalog().models.models["incident"]
        return session.scalar(select(func.count()).select_from(model))


def globex_secret(app: Any, world: World) -> tuple[Any, int, int]:
    """Gina (Globex) files an incident with an attachment: her client, the incident and the file id."""
    gina = signed_in(app, "gina")
    response = post_form(
        gina,
        "/records/incident/add/",
        {
            **INCIDENT,
            "client": str(world.globex),
            "evidence": [(io.BytesIO(b"globex payroll\n"), "globex-payroll.csv", "text/csv")],
        },
    )
    record_id = created_id(response)
    html = gina.get(f"/records/incident/show/{record_id}").get_data(as_text=True)
    file_id = int(re.search(rf"/records/incident/download/{record_id}/(\d+)", html).group(1))
    return gina, record_id, file_id


# --- files (finding 1) ------------------------------------------------------------


def test_another_organisations_file_cannot_be_taken_with_a_form_upload(
    app: Any, runtime: Any, world: World
) -> None:
    gina, secret_record, secret = globex_secret(app, world)
    alice = signed_in(app, "alice")
    before = incident_count(runtime)

    taken = post_form(
        alice,
        "/records/incident/add/",
        {
            **acme_incident(world),
            "evidence": [str(secret), (io.BytesIO(b"mine\n"), "mine.txt", "text/plain")],
        },
    )
    page = taken.get_data(as_text=True)
    assert taken.status_code == 200
    assert "is neither in this field nor a new upload of yours" in page
    assert "globex-payroll.csv" not in page  # the form names no file she may not read
    assert incident_count(runtime) == before
    assert file_row(runtime, secret) == ("incident", secret_record)

    own = created_id(
        post_form(
            alice,
            "/records/incident/add/",
            {**acme_incident(world), "evidence": [(io.BytesIO(b"mine\n"), "mine.txt", "text/plain")]},
        )
    )
    edit = post_form(
        alice,
        f"/records/incident/edit/{own}",
        {
            **acme_incident(world),
            "version": "1",
            "evidence": [str(secret), (io.BytesIO(b"more\n"), "more.txt", "text/plain")],
        },
    )
    page = edit.get_data(as_text=True)
    assert edit.status_code == 200 and "is neither in this field nor a new upload of yours" in page
    assert "globex-payroll.csv" not in page
    assert file_row(runtime, secret) == ("incident", secret_record)
    assert alice.get(f"/records/incident/download/{own}/{secret}").status_code == 404
    assert gina.get(f"/records/incident/download/{secret_record}/{secret}").data == b"globex payroll\n"

    # Her own file and a new upload are kept together.
    show = alice.get(f"/records/incident/show/{own}").get_data(as_text=True)
    mine = int(re.search(rf"/records/incident/download/{own}/(\d+)", show).group(1))
    kept = post_form(
        alice,
        f"/records/incident/edit/{own}",
        {
            **acme_incident(world),
            "version": "1",
            "evidence": [str(mine), (io.BytesIO(b"more\n"), "more.txt", "text/plain")],
        },
    )
    assert kept.status_code == 302, kept.get_data(as_text=True)[:2000]
    show = alice.get(f"/records/incident/show/{own}").get_data(as_text=True)
    assert "mine.txt" in show and "more.txt" in show and "globex-payroll.csv" not in show


def test_another_organisations_file_cannot_be_named_through_the_api(
    app: Any, runtime: Any, world: World
) -> None:
    _gina, secret_record, secret = globex_secret(app, world)
    alice = Api(app, "alice")
    before = incident_count(runtime)

    created = alice.post("/api/v1/records/incident/", json={"data": {**INCIDENT, "evidence": [secret]}})
    assert created.status_code == 422, created.get_json()
    assert "/data/evidence" in errors(created)
    assert incident_count(runtime) == before

    own = alice.post("/api/v1/records/incident/", json={"data": INCIDENT}).get_json()
    changed = alice.put(
        f"/api/v1/records/incident/{own['id']}", json={"version": 1, "data": {"evidence": [secret]}}
    )
    assert changed.status_code == 422 and "/data/evidence" in errors(changed)
    assert alice.get(f"/api/v1/records/incident/{own['id']}").get_json()["data"].get("evidence") is None
    assert file_row(runtime, secret) == ("incident", secret_record)


# --- people (finding 7) -------------------------------------------------------------


def test_a_client_names_only_people_they_may_see(app: Any, runtime: Any, world: World) -> None:
    alice = Api(app, "alice")
    gina, sam, amy = world.people["gina"], world.people["sam"], world.people["amy"]
    before = incident_count(runtime)
    for system in ({"assignee": gina}, {"owner": gina}):
        refused = alice.post("/api/v1/records/incident/", json={"data": INCIDENT, **system})
        assert refused.status_code == 422, refused.get_json()
        (name,) = system
        assert errors(refused) == {f"/{name}": f"there is no active user with id {gina}"}
    refused = alice.post("/api/v1/records/incident/", json={"data": {**INCIDENT, "watchers": [amy, gina]}})
    assert refused.status_code == 422 and errors(refused) == {
        "/data/watchers": f"there is no active user with id {gina}"
    }
    assert incident_count(runtime) == before

    own = alice.post(
        "/api/v1/records/incident/", json={"data": {**INCIDENT, "watchers": [amy]}, "assignee": sam}
    )
    assert own.status_code == 201, own.get_json()  # her colleague and the company's staff
    record = own.get_json()
    changed = alice.put(f"/api/v1/records/incident/{record['id']}", json={"version": 1, "assignee": gina})
    assert changed.status_code == 422 and "/assignee" in errors(changed)
    assert alice.get(f"/api/v1/records/incident/{record['id']}").get_json()["assignee"] == sam

    form = signed_in(app, "alice")
    edit = post_form(
        form,
        f"/records/incident/edit/{record['id']}",
        {**acme_incident(world), "version": "1", "assignee": str(gina), "watchers": [str(amy), str(gina)]},
    )
    page = edit.get_data(as_text=True)
    assert edit.status_code == 200 and f"there is no active user with id {gina}" in page
    assert "Gina" not in page  # the picker shows no name of another organisation's people
    found = form.get("/people/lookup/?q=gina").get_json()["results"]
    assert found == []
    assert form.get("/people/lookup/?q=sam").get_json()["results"][0]["id"] == sam
    assert form.get("/people/lookup/?q=gina@itpm").get_json()["results"] == []


def test_a_client_organisations_user_is_named_only_on_their_organisations_records(
    app: Any, runtime: Any, world: World, admin_api: Any
) -> None:
    """Even staff who see everyone: an automation would write to Globex's user about Acme's record."""
    gina = world.people["gina"]
    refused = admin_api.post(
        "/api/v1/records/incident/",
        json={"data": {**INCIDENT, "watchers": [gina]}, "client": world.acme, "assignee": gina},
    )
    assert refused.status_code == 422, refused.get_json()
    message = f"user {gina} belongs to another client organisation than this record"
    assert errors(refused) == {"/assignee": message, "/data/watchers": message}

    theirs = admin_api.post(
        "/api/v1/records/incident/", json={"data": INCIDENT, "client": world.globex, "assignee": gina}
    )
    assert theirs.status_code == 201, theirs.get_json()
    moved = admin_api.put(
        f"/api/v1/records/incident/{theirs.get_json()['id']}", json={"version": 1, "client": world.acme}
    )
    assert moved.status_code == 422 and errors(moved) == {"/assignee": message}


# --- system references under field rules (finding 8) -----------------------------------


def department_read_only_for_clients(body: dict[str, Any]) -> None:
    body["records"]["incident"].setdefault("fields", {})["department"] = "read_only"
    body["records"]["incident"]["fields"]["client"] = "read_only"


def test_read_only_system_fields_keep_their_value(app: Any, runtime: Any, world: World) -> None:
    publish(runtime, ("role", "client", department_read_only_for_clients))
    department_id = add_department(app, "network")
    alice = Api(app, "alice")
    refused = alice.post("/api/v1/records/incident/", json={"data": INCIDENT, "department": department_id})
    assert refused.status_code == 403 and errors(refused) == {"/department": "is read-only for you"}
    created = alice.post("/api/v1/records/incident/", json={"data": INCIDENT, "client": world.acme})
    assert created.status_code == 201, created.get_json()  # repeating the value it gets is no change
    record = created.get_json()
    moved = alice.put(
        f"/api/v1/records/incident/{record['id']}", json={"version": 1, "department": department_id}
    )
    assert moved.status_code == 403 and errors(moved) == {"/department": "is read-only for you"}

    form = signed_in(app, "alice")
    page = form.get(f"/records/incident/edit/{record['id']}").get_data(as_text=True)
    assert 'name="department"' not in page and 'name="client"' not in page and "Acme Bank" in page
    saved = post_form(
        form,
        f"/records/incident/edit/{record['id']}",
        {**INCIDENT, "title": "Printer still on fire", "version": "1", "department": str(department_id)},
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    after = alice.get(f"/api/v1/records/incident/{record['id']}").get_json()
    assert after["data"]["title"] == "Printer still on fire" and after["department"] is None


def test_finance_cannot_move_a_project_to_another_client(app: Any, runtime: Any, world: World) -> None:
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        project = system.create("project", PROJECT, {"client": world.acme})
        session.commit()
        project_id = project.id
    finance = Api(app, "fay")
    moved = finance.put(f"/api/v1/records/project/{project_id}", json={"version": 1, "client": world.globex})
    assert moved.status_code == 403 and errors(moved) == {"/client": "is read-only for you"}
    budget = finance.put(
        f"/api/v1/records/project/{project_id}", json={"version": 1, "data": {"budget_plan": 1000}}
    )
    assert budget.status_code == 200, budget.get_json()
    assert budget.get_json()["client"] == world.acme


def test_a_role_may_make_a_system_field_read_only_but_not_hidden(runtime: Any) -> None:
    from itpm.definitions.registry import DefinitionError

    def hides_the_owner(body: dict[str, Any]) -> None:
        body["records"]["incident"]["fields"] = {"owner": "hidden"}

    with pytest.raises(DefinitionError) as refused:
        publish(runtime, ("role", "client", hides_the_owner))
    assert [(p.path, str(p.message)) for p in refused.value.problems] == [
        ("/records/incident/fields/owner", "a system field can be read_only, not hidden")
    ]


# --- transitions (finding 12) -------------------------------------------------------


def description_read_only_for_clients(body: dict[str, Any]) -> None:
    body["records"]["change_request"]["fields"] = {"description": "read_only"}


def test_a_transition_form_obeys_read_only_fields(app: Any, runtime: Any, world: World) -> None:
    publish(runtime, ("role", "client", description_read_only_for_clients))
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        project = system.create("project", PROJECT, {"client": world.acme}).id
        session.commit()
    alice = Api(app, "alice")
    change = alice.post(
        "/api/v1/records/change_request/",
        json={"data": {"title": "More reports", "project": project, "impact": "low", "urgency": "normal"}},
    )
    assert change.status_code == 201, change.get_json()
    change_id = change.get_json()["id"]
    taken = alice.post(
        f"/api/v1/records/change_request/{change_id}/transitions/submit",
        json={"version": 1, "data": {"description": "Ten new reports, at no cost"}},
    )
    assert taken.status_code == 403, taken.get_json()
    assert errors(taken) == {"/data/description": "is read-only for you"}
    after = alice.get(f"/api/v1/records/change_request/{change_id}").get_json()
    assert after["state"] == "draft" and after["data"].get("description") is None

    form = signed_in(app, "alice")
    path = f"/records/change_request/transition/{change_id}/submit"
    assert 'id="field-description"' not in form.get(path).get_data(as_text=True)
    posted = post_form(form, path, {"version": "1", "description": "Ten new reports, at no cost"})
    assert posted.status_code == 200 and "is required to Submit" in posted.get_data(as_text=True)
    after = alice.get(f"/api/v1/records/change_request/{change_id}").get_json()
    assert after["state"] == "draft" and after["data"].get("description") is None


def progress_read_only_for_project_managers(body: dict[str, Any]) -> None:
    body["records"]["task"]["fields"] = {"progress": "read_only"}


def test_what_a_transition_sets_by_its_definition_is_written_whatever_the_field_rules(
    app: Any, runtime: Any, world: World
) -> None:
    """Finishing a task sets its progress to 100 (the workflow's `set`): the definition's act, which the
    transition's roles allow, even for a project manager who may not type a progress in."""
    publish(runtime, ("role", "project_manager", progress_read_only_for_project_managers))
    delivery = add_department(app, "delivery")
    with runtime.session() as session:
        session.get(Person, world.people["pete"]).department_id = delivery
        system = Records(session, runtime.catalog(), Actor.system())
        project = system.create("project", PROJECT, {"department": delivery}).id
        task = system.create("task", {"title": "Migrate ledgers", "project": project}).id
        session.commit()
    pete = Api(app, "pete")
    started = pete.post(f"/api/v1/records/task/{task}/transitions/start", json={"version": 1})
    assert started.status_code == 200, started.get_json()
    finished = pete.post(f"/api/v1/records/task/{task}/transitions/finish", json={"version": 2})
    assert finished.status_code == 200, finished.get_json()
    assert finished.get_json()["data"]["progress"] == 100
    refused = pete.put(f"/api/v1/records/task/{task}", json={"version": 3, "data": {"progress": 50}})
    assert refused.status_code == 403 and "/data/progress" in errors(refused)
