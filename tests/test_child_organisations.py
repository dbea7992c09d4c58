"""Child organisations (issue 14, client roles): an admin links an organisation to its parent, and the
parent's client manager reads everything of the parent and of every organisation below it (the portal, the
API, exports); a client contact of the parent, and the people of a child, never read more than their own
organisation's. No organisation may lie below itself. Both databases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from test_portal import PASSWORD, add_person, page, signed_in

from conftest import api_token
from itpm.access import Actor
from itpm.records.service import Invalid, Records


@dataclass
class Group:
    orgs: dict[str, int]  # group, shanghai (child), pudong (grandchild), beijing (child), globex
    projects: dict[str, int]  # by organisation
    incidents: dict[str, int]


PROJECT_NAMES = {
    "group": "Acme group core banking",
    "shanghai": "Shanghai data centre move",
    "pudong": "Pudong branch network",
    "beijing": "Beijing help desk",
    "globex": "Globex rollout",
}


@pytest.fixture
def group(app: Any, runtime: Any) -> Group:
    return build_group(app, runtime)


def build_group(app: Any, runtime: Any) -> Group:
    """Acme Group, its children Shanghai (with Pudong below it) and Beijing, and Globex beside them."""
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        orgs = {"group": system.create("customer", {"name": "Acme Group"}).id}
        orgs["shanghai"] = system.create("customer", {"name": "Acme Shanghai", "parent": orgs["group"]}).id
        orgs["pudong"] = system.create("customer", {"name": "Acme Pudong", "parent": orgs["shanghai"]}).id
        orgs["beijing"] = system.create("customer", {"name": "Acme Beijing", "parent": orgs["group"]}).id
        orgs["globex"] = system.create("customer", {"name": "Globex"}).id
        session.commit()
    pm = add_person(app, "pete", ["project_manager"])
    add_person(app, "max", ["client", "client_manager"], orgs["group"])  # the group's client manager
    add_person(app, "cora", ["client"], orgs["group"])  # a contact of the group
    add_person(app, "sam", ["client", "client_manager"], orgs["shanghai"])  # a child's client manager
    add_person(app, "bea", ["client", "client_manager"], orgs["beijing"])
    projects, incidents = {}, {}
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        for key, name in PROJECT_NAMES.items():
            data = {
                "name": name, "project_type": "implementation", "phase": "execution", "manager": pm,
                "start_date": "2026-01-05", "due_date": "2026-12-20", "progress": 40, "client_status": "on_track",
            }  # fmt: skip
            projects[key] = system.create("project", data, {"client": orgs[key]}).id
            incidents[key] = system.create(
                "incident",
                {
                    "title": f"{name} incident",
                    "priority": "P3",
                    "category": "network",
                    "project": projects[key],
                },
            ).id
        session.commit()
    return Group(orgs, projects, incidents)


def api_names(app: Any, username: str, type_name: str, field: str) -> set[str]:
    token = api_token(app.test_client(), username, PASSWORD)
    found = app.test_client().get(
        f"/api/v1/records/{type_name}/?q=(page_size:100)", headers={"Authorization": f"Bearer {token}"}
    )
    assert found.status_code == 200
    body = found.get_json()
    assert body["count"] == len(body["result"])  # the count is of the same rows
    return {r["data"][field] for r in body["result"]}


SEES = {  # who reads which organisations' projects and tickets
    "max": {"group", "shanghai", "pudong", "beijing"},  # the group and every organisation below it
    "cora": {"group"},  # a contact: their own organisation only
    "sam": {"shanghai", "pudong"},  # a child: itself and below, never its parent or sibling
    "bea": {"beijing"},
}


@pytest.mark.parametrize("username", sorted(SEES))
def test_a_client_manager_reads_the_organisations_below_theirs_and_nobody_reads_above(
    app: Any, group: Group, username: str
) -> None:
    seen = SEES[username]
    expected = {PROJECT_NAMES[k] for k in seen}
    assert api_names(app, username, "project", "name") == expected
    tickets = api_names(app, username, "incident", "title")
    if username == "cora":  # a contact follows their own tickets only (none here)
        assert tickets == set()
    else:
        assert tickets == {f"{n} incident" for n in expected}
    home = page(signed_in(app, username), "/portal/")
    for key, name in PROJECT_NAMES.items():
        assert (name in home) == (key in seen), (username, name)
    listing = page(signed_in(app, username), "/records/project/list/")
    for key, name in PROJECT_NAMES.items():
        assert (name in listing) == (key in seen), (username, name)
    client = signed_in(app, username)
    for key, project in group.projects.items():
        status = client.get(f"/portal/project/{project}").status_code
        assert status == (200 if key in seen else 404), (username, key)


def test_the_parents_manager_sees_a_childs_project_on_its_portal_page_in_chinese(
    app: Any, group: Group
) -> None:
    html = page(signed_in(app, "max", "zh"), f"/portal/project/{group.projects['pudong']}")
    assert "Pudong branch network" in html and "Pudong branch network incident" in html
    home = page(signed_in(app, "max", "zh"), "/portal/")
    cards = dict(
        re.findall(
            r'<h2><a href="/portal/project/\d+">[^<]*? ([^<]+)</a></h2>\s*(<p class="portal-meta portal-org">[^<]*</p>)?',
            home,
        )
    )
    assert cards["Pudong branch network"] == '<p class="portal-meta portal-org">客户单位：Acme Pudong</p>'
    assert cards["Acme group core banking"] == ""  # their own organisation's cards say no name
    assert "portal-org" not in page(signed_in(app, "cora", "zh"), "/portal/")


def test_an_organisation_cannot_lie_below_itself_and_nothing_is_written(
    app: Any, runtime: Any, group: Group
) -> None:
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        for parent in (group.orgs["group"], group.orgs["pudong"]):  # itself; its grandchild
            record = system.get("customer", group.orgs["group"])
            with pytest.raises(Invalid) as refused:
                system.update("customer", record.id, {"parent": parent}, record.version)
            (problem,) = refused.value.problems
            assert problem.path == "/data/parent"
            assert "would be its own ancestor" in str(problem.message)
            session.rollback()
        assert system.data(system.get("customer", group.orgs["group"])).get("parent") is None
        sibling = system.get("customer", group.orgs["beijing"])  # moving under a sibling is fine
        system.update("customer", sibling.id, {"parent": group.orgs["shanghai"]}, sibling.version)
        session.commit()


def test_the_api_says_which_field_makes_the_circle_in_both_languages(
    app: Any, group: Group, admin_api: Any
) -> None:
    path = f"/api/v1/records/customer/{group.orgs['shanghai']}"
    version = admin_api.get(path).get_json()["version"]
    answer = admin_api.put(path, json={"version": version, "data": {"parent": group.orgs["pudong"]}})
    assert answer.status_code == 422
    assert answer.get_json()["errors"] == [
        {
            "path": "/data/parent",
            "message": "cannot be CUS-0002 itself or a record below it: CUS-0002 would be its own ancestor",
        }
    ]
    chinese = admin_api.put(
        path,
        json={"version": version, "data": {"parent": group.orgs["pudong"]}},
        headers={"Accept-Language": "zh"},
    )
    assert "自身的上级" in chinese.get_json()["errors"][0]["message"]
    assert admin_api.get(path).get_json()["data"]["parent"] == group.orgs["group"]  # unchanged
