"""A field hidden from a person is, for them, no column, filter, sort key, search target or export
column, on the screens and in the API (issue 13, finding 2): asking for one is the same 400 as
asking for a field that does not exist, so that no list answers one guess at a time.

People: a client's user (the starter `client` role hides a project's health and a client
organisation's tier and notes) and an engineer (hides a project's contract value and a client
organisation's notes). The definitions are widened so that each hidden field is listed as a
column, filter and search field, as an admin might do.
"""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from conftest import api_token, login
from itpm.access import Access, Actor
from itpm.records.service import Records

PASSWORD = "hidden-fields-password-1"
SECRET_WORD = "zebracorn"


def _publish(runtime: Any) -> None:
    """Hidden fields as columns, filters and search fields; exports for the client and the engineer."""
    with runtime.session() as session:
        registry = runtime.registry(session)
        project = copy.deepcopy(registry.published_body(registry.get("record_type", "project")))
        project["columns"].append("contract_value")
        project["filters"].append("contract_value")
        customer = copy.deepcopy(registry.published_body(registry.get("record_type", "customer")))
        customer["search"].append("notes")
        client = copy.deepcopy(registry.published_body(registry.get("role", "client")))
        client["records"]["project"]["export"] = "client"
        engineer = copy.deepcopy(registry.published_body(registry.get("role", "engineer")))
        engineer["records"]["project"]["export"] = ["team", "assigned"]
        for body in (project, customer, client, engineer):
            registry.save_draft(body, "admin")
        registry.publish(
            [
                ("record_type", "project"),
                ("record_type", "customer"),
                ("role", "client"),
                ("role", "engineer"),
            ],
            "admin",
            "hidden fields listed everywhere",
        )


def _user(app: Any, username: str, role: str, client_id: int | None = None) -> int:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        user = sm.add_user(
            username, username, "Test", f"{username}@itpm.invalid", [sm.find_role(role)], PASSWORD
        )
        user.client_id = client_id
        sm.session.commit()
        return user.id


class Person:
    """A signed-in browser and the same person's API token."""

    def __init__(self, app: Any, username: str) -> None:
        self.browser: FlaskClient = app.test_client()
        login(self.browser, username, PASSWORD)
        self.browser.get("/lang/en")
        self.headers = {
            "Authorization": f"Bearer {api_token(app.test_client(), username, PASSWORD)}",
            "Accept-Language": "en",
        }

    def page(self, path: str) -> Any:
        return self.browser.get(path)

    def api(self, path: str) -> Any:
        return self.browser.get(path, headers=self.headers)


@pytest.fixture
def people(app: Any, runtime: Any) -> dict[str, Person]:
    _publish(runtime)
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        acme = system.create("customer", {"name": "Acme Bank", "tier": "strategic", "notes": SECRET_WORD}).id
        session.commit()
    engineer = _user(app, "h_engineer", "engineer")
    _user(app, "h_client", "client", acme)
    _user(app, "h_admin", "admin")
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        for name, health, value in (("Alpha", "red", 987654), ("Beta", "green", 5)):
            system.create(
                "project",
                {
                    "name": name,
                    "project_type": "implementation",
                    "phase": "execution",
                    "start_date": "2026-01-01",
                    "due_date": "2026-12-31",
                    "health": health,
                    "contract_value": value,
                },
                {"client": acme, "assignee": engineer},
            )
        session.commit()
    return {name: Person(app, f"h_{name}") for name in ("client", "engineer", "admin")}


# Per person: (record type, hidden field, its title, a value it shows as) they must never meet.
HIDDEN = {
    "client": [("project", "health", "Health", "Off track"), ("customer", "tier", "Tier", "Strategic")],
    "engineer": [("project", "contract_value", "Contract value (CNY)", "987,654")],
}
CASES = [(person, *case) for person, cases in HIDDEN.items() for case in cases]


@pytest.mark.parametrize(("person", "type_name", "field", "title", "shown"), CASES)
def test_a_hidden_field_is_no_column_and_no_filter_on_the_list_screen(
    people: dict[str, Person], person: str, type_name: str, field: str, title: str, shown: str
) -> None:
    page = people[person].page(f"/records/{type_name}/list/").get_data(as_text=True)
    assert "Acme Bank" in page or "Alpha" in page  # the list itself is there
    assert title not in page and shown not in page  # neither a column nor a filter to add
    admin_page = people["admin"].page(f"/records/{type_name}/list/").get_data(as_text=True)
    assert title in admin_page and shown in admin_page


@pytest.mark.parametrize(("person", "type_name", "field", "title", "shown"), CASES)
def test_filtering_or_sorting_a_list_screen_by_a_hidden_field_is_refused_naming_it(
    people: dict[str, Person], person: str, type_name: str, field: str, title: str, shown: str
) -> None:
    view = f"records_{type_name}"
    value = "5" if field == "contract_value" else "x"
    for query in (f"_flt_0_{field}={value}", f"_oc_{view}={field}&_od_{view}=asc"):
        refused = people[person].page(f"/records/{type_name}/list/?{query}")
        assert refused.status_code == 400, query
        assert field in refused.get_data(as_text=True)
        unknown = people[person].page(f"/records/{type_name}/list/?{query.replace(field, 'no_such_field')}")
        assert unknown.status_code == 400  # a hidden field reads as one that does not exist
        assert people["admin"].page(f"/records/{type_name}/list/?{query}").status_code == 200
    if type_name == "project":  # the one they may export
        export = people[person].page(f"/records/{type_name}/export/?_flt_0_{field}={value}")
        assert export.status_code == 400 and field in export.get_data(as_text=True)


@pytest.mark.parametrize(("person", "type_name", "field", "title", "shown"), CASES)
def test_filtering_or_sorting_through_the_api_by_a_hidden_field_is_refused_naming_it(
    people: dict[str, Person], person: str, type_name: str, field: str, title: str, shown: str
) -> None:
    for query in (f"(filters:!((col:{field},opr:empty,value:!f)))", f"(order_column:{field})"):
        paths = [f"/api/v1/records/{type_name}/?q={query}"]
        if type_name == "project":  # the one they may export
            paths.append(f"/api/v1/records/{type_name}/export.csv?q={query}")
        for path in paths:
            refused = people[person].api(path)
            assert refused.status_code == 400, path
            message = refused.get_json()["message"]
            assert message.startswith(f"'{field}' is not a field this list can filter or order on")
            assert f", {field}," not in message and not message.endswith(f", {field}")  # nor offered
            assert people["admin"].api(path).status_code == 200, path
    listed = people[person].api(f"/api/v1/records/{type_name}/?q=(page_size:100)").get_json()
    assert listed["count"] >= 1 and all(field not in r["data"] for r in listed["result"])


def test_words_are_not_searched_in_hidden_fields(people: dict[str, Person]) -> None:
    """A client organisation's notes are hidden from its client and from engineers: searching
    their words finds nothing, on the screen, in the API and in the type-ahead."""
    for person in ("client", "engineer"):
        who = people[person]
        assert "Acme Bank" in who.page("/records/customer/list/").get_data(as_text=True)
        assert "Acme Bank" not in who.page(f"/records/customer/list/?q={SECRET_WORD}").get_data(as_text=True)
        assert who.api(f"/api/v1/records/customer/?q=(search:{SECRET_WORD})").get_json()["count"] == 0
        assert who.page(f"/records/customer/lookup/?q={SECRET_WORD}").get_json() == {"results": []}
    admin = people["admin"]
    assert "Acme Bank" in admin.page(f"/records/customer/list/?q={SECRET_WORD}").get_data(as_text=True)
    assert admin.api(f"/api/v1/records/customer/?q=(search:{SECRET_WORD})").get_json()["count"] == 1
    assert len(admin.page(f"/records/customer/lookup/?q={SECRET_WORD}").get_json()["results"]) == 1


@pytest.mark.parametrize("person", ["client", "engineer"])
def test_an_export_holds_no_hidden_column(people: dict[str, Person], person: str) -> None:
    for title, shown in [(t, s) for p, _f, t, s in HIDDEN[person] if p == "project"]:
        for response in (
            people[person].page("/records/project/export/"),
            people[person].api("/api/v1/records/project/export.csv"),
        ):
            assert response.status_code == 200
            rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
            assert "Alpha" in {cell for row in rows for cell in row}
            assert title not in rows[0]
            assert shown.replace(",", "") not in response.get_data(
                as_text=True
            )  # as a label, or a plain number


def test_a_client_users_internal_fields_stay_hidden_whoever_with_the_same_roles_asked_first(
    sqlite_app: Any,
) -> None:
    """A type's `x-internal` fields are hidden from a client organisation's user whatever their roles; the
    rules kept per set of roles must not hand a client user the rules worked out for a staff member with
    the same roles (or the other way round), in either order."""
    catalog = sqlite_app.extensions["itpm"].catalog()
    project = catalog.record_types["project"]
    assert "health" in project.internal_fields
    roles = frozenset({"account_manager"})
    staff = Actor(1, "ann", roles)
    client = Actor(2, "cora", roles, client_id=7)
    for first in (staff, client):
        access = Access(catalog.access.roles, catalog.access.approved)  # nothing kept yet
        access.field_rules(first, project)
        access.hidden_fields(first, project)
        assert access.field_rules(client, project).get("health") == "hidden"
        assert "health" in access.hidden_fields(client, project)
        assert "health" not in access.field_rules(staff, project)
        assert "health" not in access.hidden_fields(staff, project)
