"""The client portal (issue 14): what a client organisation's people see and do at /portal/, and what the
record types declare clients may never see (deliverables not for the client, internal comments and fields),
on every path. Both databases; read as the least-privileged people (a client contact of Acme beside Globex).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from conftest import ADMIN, api_token, csrf_token, login
from itpm.access import Actor
from itpm.models import Person, StoredFile
from itpm.records.service import Records
from itpm.workflows.engine import Workflows

PASSWORD = "lantern-harbour-quietly-42"


@dataclass
class World:
    acme: int
    globex: int
    project: int
    other_project: int
    shown: int  # a deliverable for the client, waiting for sign-off
    second: int  # another one waiting
    kept: int  # a deliverable not for the client (with a file)
    kept_file: int
    shown_file: int
    incident: int
    people: dict[str, int]


def add_person(app: Any, username: str, roles: list[str], client: int | None = None) -> int:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        user = sm.add_user(
            username,
            username.title(),
            "Test",
            f"{username}@itpm.invalid",
            [sm.find_role(r) for r in roles],
            PASSWORD,
        )
        assert user, username
        user.client_id = client
        sm.session.commit()
        return user.id


def upload(runtime: Any, session: Any, records: Records, name: str) -> int:
    from itpm.files import store_file

    stored = store_file(
        session, runtime.settings.instance_path, io.BytesIO(b"%PDF-1.4 " + name.encode()), name,
        "application/pdf", records.actor, "deliverable", "files",
    )  # fmt: skip
    return stored.id


@pytest.fixture
def world(app: Any, runtime: Any) -> World:
    return build_world(app, runtime)


def build_world(app: Any, runtime: Any) -> World:
    """Acme and Globex, their people, a project each with milestones, deliverables and an incident."""
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        acme = system.create("customer", {"name": "Acme Bank"}).id
        globex = system.create("customer", {"name": "Globex"}).id
        session.commit()
    people = {
        "pete": add_person(app, "pete", ["project_manager"]),
        "ann": add_person(app, "ann", ["account_manager"]),
        "eve": add_person(app, "eve", ["engineer"]),
        "cora": add_person(app, "cora", ["client"], acme),  # a contact
        "max": add_person(app, "max", ["client", "client_manager", "client_approver"], acme),
        "gina": add_person(app, "gina", ["client", "client_manager", "client_approver"], globex),
    }
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        system.update(
            "customer", acme, {"account_manager": people["ann"]}, system.get("customer", acme).version
        )

        def project(name: str, client: int) -> int:
            data = {
                "name": name, "project_type": "implementation", "phase": "execution", "manager": people["pete"],
                "start_date": "2026-01-05", "due_date": "2026-12-20", "progress": 40, "health": "red",
                "client_status": "at_risk",
            }  # fmt: skip
            return system.create("project", data, {"client": client}).id

        acme_project = project("Acme core banking", acme)
        globex_project = project("Globex rollout", globex)
        for title, due in (("Design signed off", "2026-03-01"), ("Go-live", "2026-11-30")):
            system.create(
                "task", {"title": title, "project": acme_project, "milestone": True, "due_date": due}
            )
        system.create(
            "task", {"title": "Globex secret milestone", "project": globex_project, "milestone": True}
        )
        flow = Workflows(system)

        def deliverable(
            name: str, project_id: int, visible: bool, file: str | None = None
        ) -> tuple[int, int]:
            files = [upload(runtime, session, system, file)] if file else []
            data = {"name": name, "project": project_id, "client_visible": visible, "files": files}
            record = system.create("deliverable", data)
            flow.take("deliverable", record.id, "submit", {"delivered_on": "2026-11-20"})
            return record.id, (files[0] if files else 0)

        shown, shown_file = deliverable("Design document", acme_project, True, "design.pdf")
        second, _ = deliverable("Test report", acme_project, True)
        kept, kept_file = deliverable("Internal cost sheet KEPTMARKER", acme_project, False, "costs.pdf")
        deliverable("Globex design GLOBEXMARKER", globex_project, True)
        incident = system.create(
            "incident",
            {"title": "Branch VPN down", "priority": "P2", "category": "network", "project": acme_project},
            {"assignee": people["pete"]},
        ).id
        system.add_comment("incident", incident, "We are looking at the router.")
        system.add_comment("incident", incident, "INTERNALMARKER: the vendor's fault", internal=True)
        session.commit()
    return World(
        acme,
        globex,
        acme_project,
        globex_project,
        shown,
        second,
        kept,
        kept_file,
        shown_file,
        incident,
        people,
    )


def signed_in(app: Any, username: str, lang: str = "en") -> Any:
    client = app.test_client()
    login(client, username, PASSWORD)
    client.get(f"/lang/{lang}")
    return client


def page(client: Any, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def test_clients_land_on_the_portal_and_staff_on_my_work(app: Any, world: World) -> None:
    assert signed_in(app, "cora").get("/").headers["Location"].endswith("/portal/")
    assert signed_in(app, "pete").get("/").headers["Location"].endswith("/my/work/")


def test_the_home_shows_the_organisations_projects_as_cards(app: Any, world: World) -> None:
    html = page(signed_in(app, "max"), "/portal/")
    assert "Acme core banking" in html and "Globex" not in html
    assert "Needs attention" in html  # the client-facing status, worded by the admin
    assert "Off track" not in html  # never the internal health
    for phase in ("Initiation", "Planning", "Execution", "Monitoring", "Closing"):
        assert phase in html
    assert 'aria-current="step">Execution' in html
    assert "Design signed off · 2026-03-01" in html  # the next milestone (not reached yet) and its date
    assert re.search(r"Waiting for your sign-off</dt>\s*<dd>2</dd>", html)  # the hidden one is not counted
    zh = page(signed_in(app, "max", "zh"), "/portal/")
    assert "立项" in zh and "收尾" in zh and "需要关注" in zh


def test_projects_under_way_come_first_and_a_closed_ones_card_tells_no_status(
    app: Any, runtime: Any, world: World
) -> None:
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        data = {"name": "Acme archive move", "project_type": "implementation", "phase": "closing",
                "manager": world.people["pete"], "start_date": "2025-01-05", "due_date": "2025-12-20",
                "progress": 100, "health": "green", "client_status": "late"}  # fmt: skip
        archive = system.create("project", data, {"client": world.acme})
        system.move(archive, "closed", {}, "transition close")
        session.commit()
    html = page(signed_in(app, "max"), "/portal/")
    cards = html.split('class="portal-card"')[1:]
    assert ["Acme core banking" in cards[0], "Acme archive move" in cards[1]] == [True, True]  # newer, closed
    assert "Needs attention" in cards[0]
    assert (
        "portal-status" not in cards[1] and "Behind schedule" not in html
    )  # a closed one's lifecycle says it
    assert cards[1].count('class="done"') == 5


def test_the_project_page_lists_milestones_deliverables_tickets_and_contacts(app: Any, world: World) -> None:
    html = page(signed_in(app, "max"), f"/portal/project/{world.project}")
    assert "Design signed off" in html and "Planned 2026-03-01" in html
    assert re.search(r"Design signed off</strong> <span [^>]*>Overdue<", html)  # not reached, its day passed
    assert "Design document" in html and "Test report" in html
    assert "KEPTMARKER" not in html and "GLOBEXMARKER" not in html
    assert "Branch VPN down" in html
    assert "Ann Test" in html and "Account manager" in html and "Pete Test" in html
    assert signed_in(app, "max").get(f"/portal/project/{world.other_project}").status_code == 404


def test_a_client_asks_for_this_months_status_report_and_downloads_it_from_the_project_page(
    app: Any, runtime: Any, world: World
) -> None:
    from itpm.reports.jobs import run_pending_requests

    client = signed_in(app, "max")
    path = f"/portal/project/{world.project}"
    html = page(client, path)
    assert (
        "Ask for this month&#39;s report: Client project status report" in html and "No reports yet." in html
    )
    asked = client.post(path + "/report/client_status", data={"csrf_token": csrf_token(client, path)})
    assert asked.status_code == 302
    html = page(client, path)
    assert "The report is being prepared" in html and "Being prepared: 20" in html  # this month's
    assert "No reports yet." not in html
    assert run_pending_requests(runtime) == 1  # the jobs render it as the person who asked
    html = page(client, path)
    [(link, name)] = re.findall(r'href="(/portal/file/project/\d+/\d+)">(client_status-[^<]+\.pdf)<', html)
    assert "Being prepared" not in html
    download = client.get(link)
    assert download.status_code == 200
    assert "Acme core banking" in PdfReader(io.BytesIO(download.data)).pages[0].extract_text()
    # a person of another organisation may not ask about it, nor anyone for a report not about a project
    gina = signed_in(app, "gina")
    token = csrf_token(gina, "/portal/")
    assert gina.post(path + "/report/client_status", data={"csrf_token": token}).status_code == 404
    mine = csrf_token(client, path)
    assert client.post(path + "/report/department_health", data={"csrf_token": mine}).status_code == 404
    zh = page(signed_in(app, "max", "zh"), path)
    assert "申请本月报告：客户项目状态报告" in zh and name in zh


def test_a_deliverable_not_for_the_client_is_nowhere_for_them(app: Any, world: World) -> None:
    for username in ("cora", "max"):
        client = signed_in(app, username)
        assert client.get(f"/portal/deliverable/{world.kept}").status_code == 404
        assert client.get(f"/portal/file/deliverable/{world.kept}/{world.kept_file}").status_code == 404
        assert client.get(f"/records/deliverable/download/{world.kept}/{world.kept_file}").status_code == 404
        assert client.get(f"/records/deliverable/show/{world.kept}").status_code == 404
        listing = page(client, "/records/deliverable/list/")
        assert "KEPTMARKER" not in listing and "Design document" in listing
        token = api_token(app.test_client(), username, PASSWORD)
        api = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        assert api.get(f"/api/v1/records/deliverable/{world.kept}", headers=headers).status_code == 404
        found = api.get("/api/v1/records/deliverable/", headers=headers).get_json()
        assert found["count"] == 2 and "KEPTMARKER" not in str(found)
    staff = app.test_client()
    login(staff, *ADMIN)
    assert staff.get(f"/records/deliverable/download/{world.kept}/{world.kept_file}").status_code == 200


def test_a_visible_deliverables_file_downloads(app: Any, world: World) -> None:
    response = signed_in(app, "cora").get(f"/portal/file/deliverable/{world.shown}/{world.shown_file}")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")


def test_internal_comments_and_fields_are_never_shown_to_a_client(app: Any, world: World) -> None:
    client = signed_in(app, "max")
    html = page(client, f"/portal/ticket/incident/{world.incident}")
    assert "looking at the router" in html and "INTERNALMARKER" not in html
    token = api_token(app.test_client(), "max", PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    comments = app.test_client().get(f"/api/v1/records/incident/{world.incident}/comments", headers=headers)
    assert comments.status_code == 200 and "INTERNALMARKER" not in comments.get_data(as_text=True)
    project = app.test_client().get(f"/api/v1/records/project/{world.project}", headers=headers).get_json()
    assert "health" not in project["data"] and project["data"]["client_status"] == "at_risk"
    refused = app.test_client().post(
        f"/api/v1/records/incident/{world.incident}/comments",
        json={"body": "psst", "internal": True},
        headers=headers,
    )
    assert refused.status_code == 403
    admin = app.test_client()
    login(admin, *ADMIN)
    staff = page(admin, f"/records/incident/show/{world.incident}")
    assert "INTERNALMARKER" in staff


def test_an_approver_rejects_with_reasons_and_accepts_with_a_certificate(
    app: Any, runtime: Any, world: World
) -> None:
    client = signed_in(app, "max")
    html = page(client, f"/portal/deliverable/{world.second}")
    assert 'value="accept"' in html and 'value="reject"' in html
    token = csrf_token(client, f"/portal/deliverable/{world.second}")
    # a rejection without reasons is refused, and changes nothing
    client.post(
        f"/portal/deliverable/{world.second}/decide", data={"decision": "reject", "csrf_token": token}
    )
    refused = page(client, f"/portal/deliverable/{world.second}")
    assert "portal-flash-danger" in refused and "Awaiting acceptance" in refused
    assert "Client&#39;s acceptance notes: is required to Reject" in refused
    client.post(
        f"/portal/deliverable/{world.second}/decide",
        data={"decision": "reject", "comment": "Section 4 is missing", "csrf_token": token},
    )
    html = page(client, f"/portal/deliverable/{world.second}")
    assert "Section 4 is missing" in html
    history = html.split('id="history"', 1)[1]
    assert "Max Test" in history and "Record created" in history  # people by name, not their logins
    assert " · max<" not in history
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        assert system.get("deliverable", world.second).state == "draft"
    client.post(
        f"/portal/deliverable/{world.shown}/decide",
        data={"decision": "accept", "comment": "Looks good", "csrf_token": token},
    )
    html = page(client, f"/portal/deliverable/{world.shown}")
    assert "Accepted" in html and "acceptance-certificate.pdf" in html
    with runtime.session() as session:
        stored = session.scalar(
            select(StoredFile).where(
                StoredFile.record_id == world.shown, StoredFile.field == "acceptance_certificate"
            )
        )
        assert stored is not None
        certificate = stored.id
    pdf = client.get(f"/portal/file/deliverable/{world.shown}/{certificate}")
    assert pdf.status_code == 200
    words = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "交付物验收证书" in words and "Design document" in words and "Looks good" in words
    # the organisation's contact downloads it too; Globex does not
    assert (
        signed_in(app, "cora").get(f"/portal/file/deliverable/{world.shown}/{certificate}").status_code == 200
    )
    assert (
        signed_in(app, "gina").get(f"/portal/file/deliverable/{world.shown}/{certificate}").status_code == 404
    )


def test_a_contact_without_the_approver_right_cannot_sign_off(app: Any, runtime: Any, world: World) -> None:
    client = signed_in(app, "cora")
    html = page(client, f"/portal/deliverable/{world.shown}")
    assert 'value="accept"' not in html
    token = csrf_token(client, f"/portal/deliverable/{world.shown}")
    client.post(f"/portal/deliverable/{world.shown}/decide", data={"decision": "accept", "csrf_token": token})
    with runtime.session() as session:
        assert (
            Records(session, runtime.catalog(), Actor.system()).get("deliverable", world.shown).state
            == "submitted"
        )


def test_a_client_files_an_incident_with_the_admins_form_and_replies(app: Any, world: World) -> None:
    client = signed_in(app, "cora")
    form = page(client, "/portal/new/incident")
    assert 'name="title"' in form and 'name="support_group"' not in form and 'name="root_cause"' not in form
    assert f'<option value="{world.project}"' in form  # the client's projects to file it under
    token = csrf_token(client, "/portal/new/incident")
    bad = client.post("/portal/new/incident", data={"csrf_token": token, "title": ""})
    assert bad.status_code == 200 and "portal-error" in bad.get_data(as_text=True)
    made = client.post(
        "/portal/new/incident",
        data={"csrf_token": token, "title": "Printer on fire", "priority": "P3", "category": "desktop",
              "project": str(world.project)},
    )  # fmt: skip
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    ticket = made.headers["Location"]
    html = page(client, ticket)
    assert "Printer on fire" in html
    client.post(ticket + "/reply", data={"csrf_token": token, "body": "It is smoking now"})
    assert "It is smoking now" in page(client, ticket)
    assert "Printer on fire" in page(client, "/portal/tickets/")
    # a contact follows their own tickets; the manager the organisation's
    assert "Branch VPN down" not in page(client, "/portal/tickets/")
    assert "Printer on fire" in page(signed_in(app, "max"), "/portal/tickets/")
    assert "Printer on fire" not in page(signed_in(app, "gina"), "/portal/tickets/")


def test_staff_with_the_ability_look_as_a_client_and_change_nothing(app: Any, world: World) -> None:
    staff = signed_in(app, "ann")
    choose = page(staff, "/portal/")
    assert "Acme Bank" in choose and "Globex" in choose
    token = csrf_token(staff, "/portal/")
    staff.post(f"/portal/as/{world.acme}", data={"csrf_token": token})
    html = page(staff, "/portal/")
    assert "Acme core banking" in html and "Globex rollout" not in html and "read-only" in html
    project = page(staff, f"/portal/project/{world.project}")
    assert "KEPTMARKER" not in project and "Ask for this month" not in project
    assert 'value="accept"' not in page(staff, f"/portal/deliverable/{world.shown}")
    refused = staff.post(
        f"/portal/deliverable/{world.shown}/decide", data={"decision": "accept", "csrf_token": token}
    )
    assert refused.status_code == 403
    asked = staff.post(f"/portal/project/{world.project}/report/client_status", data={"csrf_token": token})
    assert asked.status_code == 403
    engineer = signed_in(app, "eve")
    assert engineer.get("/portal/").status_code == 403
    token = csrf_token(engineer, "/my/work/")
    assert engineer.post(f"/portal/as/{world.acme}", data={"csrf_token": token}).status_code == 403


def close(runtime: Any, type_name: str, record_id: int) -> None:
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        system.move(system.get(type_name, record_id), "resolved", {}, "transition resolve")
        session.commit()


def feedback_of(runtime: Any, incident: int) -> list[dict[str, Any]]:
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        model = system.model("client_feedback")
        rows = session.scalars(system.query("client_feedback").where(model.incident_id == incident))
        return [system.data(r) for r in rows]


def test_a_closed_ticket_asks_for_stars_once_on_its_page(app: Any, runtime: Any, world: World) -> None:
    client = signed_in(app, "max")
    path = f"/portal/ticket/incident/{world.incident}"
    assert 'id="survey"' not in page(client, path)  # not closed yet
    close(runtime, "incident", world.incident)
    assert 'id="survey"' in page(client, path)
    token = csrf_token(client, path)
    client.post(path + "/survey", data={"csrf_token": token, "stars": "2", "comment": "Too slow"})
    assert feedback_of(runtime, world.incident)[0]["satisfaction"] == 2
    assert 'id="survey"' not in page(client, path)  # answered: not asked again
    client.post(path + "/survey", data={"csrf_token": token, "stars": "5"})
    assert len(feedback_of(runtime, world.incident)) == 1
    with runtime.session() as session:
        from itpm.portal.surveys import response_rate

        assert response_rate(Records(session, runtime.catalog(), Actor.system()), "incident") == (1, 1)


def test_a_low_closing_score_alerts_the_account_and_project_managers_and_a_good_one_does_not(
    app: Any, runtime: Any, world: World
) -> None:
    from itpm.automations.jobs import drain
    from itpm.models import Notification

    def alerts(username: str) -> list[str]:
        with runtime.session() as session:
            subjects = session.scalars(
                select(Notification.subject).where(Notification.person_id == world.people[username])
            )
            return [s for s in subjects if "Unhappy client" in s or "客户不满意" in s]

    with runtime.session() as session:
        mine = Records(session, runtime.catalog(), Actor.of(session.get(Person, world.people["max"])))
        happy = mine.create(
            "incident",
            {"title": "Scanner jammed", "priority": "P4", "category": "desktop", "project": world.project},
        ).id
        session.commit()
    client = signed_in(app, "max")
    for incident, stars in ((happy, "4"), (world.incident, "2")):
        close(runtime, "incident", incident)
        path = f"/portal/ticket/incident/{incident}"
        client.post(path + "/survey", data={"csrf_token": csrf_token(client, path), "stars": stars})
        drain(runtime)
        if stars == "4":
            assert alerts("ann") == [] and alerts("pete") == []
    assert len(alerts("ann")) == 1 and len(alerts("pete")) == 1  # Acme's account manager, the project's
    assert alerts("eve") == [] and alerts("gina") == []


def test_a_tickets_times_read_as_the_persons_clock(app: Any, runtime: Any, world: World) -> None:
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        incident = system.get("incident", world.incident)
        system.update("incident", world.incident, {"occurred_at": "2026-11-30T02:13:00Z"}, incident.version)
        session.commit()
    html = page(signed_in(app, "max"), f"/portal/ticket/incident/{world.incident}")
    assert (
        "2026-11-30 10:13" in html and "02:13:00Z" not in html
    )  # Shanghai's wall clock, not the stored text


def test_the_emailed_survey_link_works_without_signing_in_and_once(
    app: Any, runtime: Any, world: World
) -> None:
    from itpm.portal.surveys import survey_token

    close(runtime, "incident", world.incident)
    secret = app.dispatcher.app.config["SECRET_KEY"]
    link = f"/portal/survey/{survey_token(secret, world.people['max'], 'incident', world.incident)}"
    anonymous = app.test_client()
    anonymous.get("/lang/en")
    html = page(anonymous, link)
    assert "Branch VPN down" in html and 'name="stars"' in html
    assert "Sign out" not in html and "/portal/tickets/" not in html  # nothing that needs a sign-in
    token = csrf_token(anonymous, link)
    anonymous.post(link, data={"csrf_token": token, "stars": "5", "comment": "Quick fix"})
    assert [f["satisfaction"] for f in feedback_of(runtime, world.incident)] == [5]
    again = page(anonymous, link)
    assert 'name="stars"' not in again and "answered" in again
    anonymous.post(link, data={"csrf_token": token, "stars": "1"})
    assert len(feedback_of(runtime, world.incident)) == 1
    assert anonymous.get(link[:-3] + "xyz").status_code == 404  # a token not signed here
    other = survey_token(secret, world.people["gina"], "incident", world.incident)
    assert anonymous.get(f"/portal/survey/{other}").status_code == 404  # Globex's person: not their ticket


def test_a_closed_ticket_mails_its_client_the_one_click_survey(app: Any, runtime: Any, world: World) -> None:
    from itpm.automations.jobs import drain
    from itpm.models import Notification, Person

    with runtime.session() as session:
        person = session.get(Person, world.people["max"])
        mine = Records(session, runtime.catalog(), Actor.of(person))
        incident = mine.create(
            "incident",
            {"title": "Scanner jammed", "priority": "P4", "category": "desktop", "project": world.project},
        ).id
        session.commit()
    close(runtime, "incident", incident)
    drain(runtime)
    with runtime.session() as session:
        links = session.scalars(
            select(Notification.link).where(
                Notification.person_id == world.people["max"], Notification.link.startswith("/portal/survey/")
            )
        ).all()
        assert len(links) == 1  # once, to the person who filed it
    anonymous = app.test_client()
    html = page(anonymous, links[0])
    assert "Scanner jammed" in html and 'name="stars"' in html
    token = csrf_token(anonymous, links[0])
    anonymous.post(links[0], data={"csrf_token": token, "stars": "4"})
    assert [f["satisfaction"] for f in feedback_of(runtime, incident)] == [4]


def test_a_client_attaches_files_to_a_new_ticket_and_a_reply_and_only_they_read_them(
    app: Any, runtime: Any, world: World
) -> None:
    client = signed_in(app, "cora")
    token = csrf_token(client, "/portal/new/incident")
    made = client.post(
        "/portal/new/incident",
        data={
            "csrf_token": token, "title": "Screen flickers", "priority": "P3", "category": "desktop",
            "project": str(world.project), "attachments": [(io.BytesIO(b"flicker log"), "flicker.log")],
        },
        content_type="multipart/form-data",
    )  # fmt: skip
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    ticket = made.headers["Location"]
    incident = int(ticket.rstrip("/").rsplit("/", 1)[-1])
    client.post(
        ticket + "/reply",
        data={"csrf_token": token, "body": "A photo of it", "attachments": [(io.BytesIO(b"\x89PNG..."), "photo.png")]},
        content_type="multipart/form-data",
    )  # fmt: skip
    html = page(client, ticket)
    assert "flicker.log" in html and "photo.png" in html and "A photo of it" in html
    with runtime.session() as session:
        files = {
            f.filename: f.id
            for f in session.scalars(
                select(StoredFile).where(
                    StoredFile.record_type == "incident", StoredFile.record_id == incident
                )
            )
        }
        history = Records(session, runtime.catalog(), Actor.system()).history("incident", incident)
    assert set(files) == {"flicker.log", "photo.png"}
    assert sorted(e["note"] for e in history if e["action"] == "attached") == ["flicker.log", "photo.png"]
    path = f"/portal/file/incident/{incident}/{files['photo.png']}"
    assert client.get(path).data == b"\x89PNG..."
    assert signed_in(app, "max").get(path).status_code == 200  # the organisation's manager
    staff = app.test_client()
    login(staff, *ADMIN)
    assert staff.get(f"/records/incident/download/{incident}/{files['photo.png']}").status_code == 200
    # another organisation reads nothing of it, through its own records neither
    gina = signed_in(app, "gina")
    assert gina.get(path).status_code == 404
    assert gina.get(f"/records/incident/download/{incident}/{files['photo.png']}").status_code == 404
    assert "flicker.log" not in page(gina, "/portal/tickets/")


def test_a_refused_file_writes_nothing_and_says_which(app: Any, runtime: Any, world: World) -> None:
    from itpm import files as files_layer

    client = signed_in(app, "cora")
    token = csrf_token(client, "/portal/new/incident")
    made = client.post(
        "/portal/new/incident",
        data={
            "csrf_token": token, "title": "Empty file", "priority": "P3", "category": "desktop",
            "attachments": [(io.BytesIO(b""), "nothing.txt")],
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )  # fmt: skip
    assert made.status_code == 200 and "nothing.txt is empty" in made.get_data(as_text=True)
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        titles = [system.data(r)["title"] for r in session.scalars(system.query("incident"))]
        assert "Empty file" not in titles
        assert session.scalar(select(StoredFile).where(StoredFile.filename == "nothing.txt")) is None
    assert files_layer.MAX_FILE_BYTES == 20 * 1024 * 1024  # the app's one size rule, told on the form
    assert "Up to 20 MB each." in page(client, "/portal/new/incident")


def test_attach_takes_only_the_persons_own_new_uploads(app: Any, runtime: Any, world: World) -> None:
    """Records.attach refuses a file another record holds, or someone else's upload, and moves nothing."""
    from itpm.models import Person
    from itpm.records.service import Invalid

    with runtime.session() as session:
        cora = Records(session, runtime.catalog(), Actor.of(session.get(Person, world.people["cora"])))
        gina = Records(session, runtime.catalog(), Actor.of(session.get(Person, world.people["gina"])))
        mine = cora.create("incident", {"title": "Mine", "priority": "P4", "category": "desktop"}).id
        from itpm.files import store_file

        theirs = store_file(
            session,
            runtime.settings.instance_path,
            io.BytesIO(b"x"),
            "theirs.txt",
            None,
            gina.actor,
            "incident",
        ).id
        with pytest.raises(Invalid, match="could not be attached"):
            cora.attach("incident", mine, [world.shown_file])  # a deliverable's file
        with pytest.raises(Invalid):
            cora.attach("incident", mine, [theirs])  # Globex's person's upload for an incident
        assert session.get(StoredFile, world.shown_file).record_id == world.shown
        assert session.get(StoredFile, theirs).record_id is None


def test_a_client_approver_signs_a_change_request_off_in_the_portal_and_nobody_else(
    app: Any, runtime: Any
) -> None:
    """A high-impact change request waits for the client's sign-off step (the pack's flow): its tasks go to
    the organisation's client approvers, who decide in the portal; a contact without the right, and another
    organisation's people, are refused; the decision is a line of the request's history."""
    from test_workflows import PASSWORD as FLOW_PASSWORD
    from test_workflows import ask_approval, cast, change_request, decide, state_of

    people = cast(app, runtime)
    add_person(app, "carl", ["client", "client_manager"], people.client_org)
    with runtime.session() as session:
        other = Records(session, runtime.catalog(), Actor.system()).create("customer", {"name": "Globex"}).id
        session.commit()
    add_person(app, "gina", ["client", "client_manager", "client_approver"], other)
    record_id = change_request(runtime, people, impact="high", cost=10)
    approval_id = ask_approval(runtime, people, record_id)
    for who in ("pm", "lead"):
        decide(runtime, people, who, approval_id)
    path = f"/portal/ticket/change_request/{record_id}"
    decide_path = f"{path}/approval/{approval_id}"
    with runtime.session() as session:
        from itpm.models import ApprovalTask

        waiting = session.scalars(
            select(ApprovalTask.approver_id).where(
                ApprovalTask.approval_id == approval_id, ApprovalTask.step_name == "client_signoff"
            )
        ).all()
    assert waiting == [people.ids["buyer"]]  # not the contact, nor Globex's approver
    carl = signed_in(app, "carl")
    html = page(carl, path)
    assert "Waiting for approval: Client sign-off" in html and 'value="approve"' not in html
    token = csrf_token(carl, path)
    assert carl.post(decide_path, data={"csrf_token": token, "decision": "approve"}).status_code == 403
    gina = signed_in(app, "gina")
    assert gina.get(path).status_code == 404
    theirs = csrf_token(gina, "/portal/")
    assert gina.post(decide_path, data={"csrf_token": theirs, "decision": "approve"}).status_code == 404
    buyer = app.test_client()
    login(buyer, "buyer", FLOW_PASSWORD)
    buyer.get("/lang/en")
    html = page(buyer, path)
    assert 'value="approve"' in html and 'value="reject"' in html
    home = page(buyer, "/portal/")  # the home asks for it first
    assert f'href="{path}"' in home.split('id="approvals"', 1)[1].split("</section>", 1)[0]
    assert 'id="approvals"' not in page(carl, "/portal/") and 'id="approvals"' not in page(gina, "/portal/")
    token = csrf_token(buyer, path)
    buyer.post(decide_path, data={"csrf_token": token, "decision": "reject"})  # no reason: refused
    assert "A rejection needs a reason" in page(buyer, path)
    assert state_of(runtime, "change_request", record_id) == "assessed"
    buyer.post(decide_path, data={"csrf_token": token, "decision": "approve", "comment": "Go ahead"})
    assert state_of(runtime, "change_request", record_id) == "approved"
    assert "Waiting for approval" not in page(buyer, path)
    assert 'id="approvals"' not in page(buyer, "/portal/")  # decided: no longer asked
    with runtime.session() as session:
        history = Records(session, runtime.catalog(), Actor.system()).history("change_request", record_id)
    assert any(
        e["action"] == "approved" and e["actor"] == "buyer" and "Go ahead" in e["note"] for e in history
    )


def test_staff_who_may_look_as_a_client_find_the_portal_in_their_menu(app: Any, world: World) -> None:
    assert 'href="/portal/"' in page(signed_in(app, "ann"), "/my/work/")  # account manager: view_portal
    assert 'href="/portal/"' in page(signed_in(app, "pete", "zh"), "/my/work/")
    assert 'href="/portal/"' not in page(signed_in(app, "eve"), "/my/work/")  # an engineer may not


def test_the_home_shows_the_organisations_service_figures_and_no_one_elses(
    app: Any, runtime: Any, world: World
) -> None:
    from itpm.models import Person

    for username, project, stars, nps in (("max", world.project, 4, 9), ("gina", world.other_project, 1, 0)):
        with runtime.session() as session:
            person = session.get(Person, world.people[username])
            Records(session, runtime.catalog(), Actor.of(person)).create(
                "client_feedback", {"project": project, "satisfaction": stars, "nps": nps}
            )
            session.commit()
    html = page(signed_in(app, "cora"), "/portal/")
    figures = html.split('id="figures"', 1)[1].split("</section>", 1)[0]
    assert "Client satisfaction (CSAT)" in figures and "Net promoter score (NPS)" in figures
    assert re.search(r'portal-figure-csat"><strong>4\.00</strong>', figures)  # Acme's answer, not Globex's 1
    # one answer with a score: the NPS is too few to say (as on every dashboard: a rate of under 5 records)
    assert re.search(
        r'portal-figure-nps"><strong>too few to say</strong> <span class="portal-meta">[^<]* n=1<', figures
    )
    zh = page(signed_in(app, "cora", "zh"), "/portal/")
    assert "客户满意度" in zh and "近 6 个月" in zh


def test_the_home_shows_the_satisfaction_of_each_of_the_last_six_months(
    app: Any, runtime: Any, world: World
) -> None:
    """The history of the scores: one column a month over the last six, of the organisation's answers only."""
    import datetime as dt

    from itpm.models import Person

    now = dt.datetime.now(dt.UTC)
    earlier = now - dt.timedelta(days=92)
    for username, project, stars, at in (
        ("max", world.project, 4, now),
        ("cora", world.project, 2, earlier),
        ("gina", world.other_project, 1, earlier),
    ):
        with runtime.session() as session:
            person = session.get(Person, world.people[username])
            answer = Records(session, runtime.catalog(), Actor.of(person)).create(
                "client_feedback", {"project": project, "satisfaction": stars}
            )
            answer.created_at = at  # answered then
            session.commit()
    html = page(signed_in(app, "cora"), "/portal/")
    csat = html.split('data-kpi="csat"', 1)[1].split("</svg>", 1)[0]
    assert re.search(r'portal-figure-csat"><strong>3\.00</strong>', csat)  # Acme's two answers
    zone = runtime.settings.timezone
    months = []
    day = now.astimezone(ZoneInfo(zone)).date().replace(day=1)
    for _n in range(6):
        months.insert(0, day.strftime("%Y-%m"))
        day = (day - dt.timedelta(days=1)).replace(day=1)
    chart = csat.split("<svg", 1)[1]
    labels = re.findall(r">(\d{4}-\d{2})<", chart)
    assert labels == months, labels  # the last six months, oldest first
    # a column a month with answers (under the target: marked), Globex's 1 none of theirs
    assert re.findall(r">(\d\.\d\d)(▼?)<", chart) == [("2.00", "▼"), ("4.00", "▼")]
    assert html.count("<svg") >= 2  # NPS, SLA compliance and first response time have theirs too
    assert "<a " not in html.split('id="figures"', 1)[1].split("</section>", 1)[0]  # no link to staff pages


def test_an_accepted_deliverable_asks_its_approver_for_stars_in_the_portal_and_by_link(
    app: Any, runtime: Any, world: World
) -> None:
    from itpm.automations.jobs import drain
    from itpm.models import Notification

    client = signed_in(app, "max")
    path = f"/portal/deliverable/{world.shown}"
    assert 'id="survey"' not in page(client, path)  # not accepted yet
    token = csrf_token(client, path)
    client.post(path + "/decide", data={"decision": "accept", "csrf_token": token})
    assert 'id="survey"' in page(client, path)
    drain(runtime)
    with runtime.session() as session:
        link = session.scalar(
            select(Notification.link).where(
                Notification.person_id == world.people["max"], Notification.link.startswith("/portal/survey/")
            )
        )
    assert link  # the e-mail's one-click link, to whoever accepted it
    anonymous = app.test_client()
    anonymous.get("/lang/en")
    assert "Design document" in page(anonymous, link)
    anonymous.post(link, data={"csrf_token": csrf_token(anonymous, link), "stars": "5", "comment": "Clear"})
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        model = system.model("client_feedback")
        answers = [system.data(r) for r in session.scalars(system.query("client_feedback"))]
        assert [(a["deliverable"], a["satisfaction"], a["project"]) for a in answers] == [
            (world.shown, 5, world.project)
        ]
        from itpm.portal.surveys import response_rate

        assert response_rate(system, "deliverable") == (1, 1)
        assert model is not None
    assert 'id="survey"' not in page(client, path)  # answered once: not asked again
    assert 'id="survey"' in page(signed_in(app, "cora"), path)  # the organisation's other people may say too
    assert signed_in(app, "gina").get(path).status_code == 404
    # staff see the response rates (of what they may read: the admin all of it)
    staff = app.test_client()
    login(staff, *ADMIN)
    staff.get("/lang/en")
    rates = page(staff, "/portal/")
    assert re.search(r"Deliverable</dt><dd>1 / 1 \(100%\)", rates)


def test_the_quarterly_nps_is_asked_once_by_link_and_in_the_portal_and_a_detractor_alerts(
    app: Any, runtime: Any, world: World
) -> None:
    import datetime as dt

    from itpm.automations.jobs import drain
    from itpm.automations.notices import send_nps_surveys
    from itpm.models import Notification, Person
    from itpm.portal.surveys import nps_response_rate

    start = dt.datetime(2027, 1, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai; the invitations go at 10:00
    assert send_nps_surveys(runtime, start, start + dt.timedelta(minutes=30)) == 0
    assert send_nps_surveys(runtime, start, start + dt.timedelta(hours=2)) == 3  # cora, max, gina
    assert send_nps_surveys(runtime, start, start + dt.timedelta(hours=2)) == 3  # notify: once per key
    with runtime.session() as session:
        links = dict(
            session.execute(
                select(Notification.person_id, Notification.link).where(
                    Notification.key.like("nps:2027-01:%")
                )
            ).all()
        )
    assert set(links) == {world.people[p] for p in ("cora", "max", "gina")}  # no staff
    anonymous = app.test_client()
    anonymous.get("/lang/en")
    link = links[world.people["cora"]]
    html = page(anonymous, link)
    assert 'name="nps"' in html and "2027 Q1" in html
    token = csrf_token(anonymous, link)
    anonymous.post(link, data={"csrf_token": token, "nps": "11", "stars": "3"})  # out of range: refused
    anonymous.post(link, data={"csrf_token": token, "nps": "3", "stars": "3", "comment": "Slow"})
    assert 'name="nps"' not in page(anonymous, link)
    anonymous.post(link, data={"csrf_token": token, "nps": "10", "stars": "5"})  # once only
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        answers = [system.data(r) for r in session.scalars(system.query("client_feedback"))]
        assert [(a["nps"], a["satisfaction"], a["period"]) for a in answers] == [(3, 3, "2027-01")]
        assert nps_response_rate(system, "2027-01") == (3, 1)
        gina = Records(session, runtime.catalog(), Actor.of(session.get(Person, world.people["gina"])))
        assert nps_response_rate(gina, "2027-01") == (1, 0)  # Globex's person reads only Globex
    drain(runtime)
    with runtime.session() as session:
        alerts = session.scalars(
            select(Notification.subject).where(Notification.person_id == world.people["ann"])
        ).all()
    assert any("A detractor" in s or "客户不愿推荐我们" in s for s in alerts), (
        alerts
    )  # the pack's automation tells Acme's account manager
    # in the portal: this quarter's question on the home page, answered once
    client = signed_in(app, "max")
    assert 'id="nps-prompt"' in page(client, "/portal/")
    token = csrf_token(client, "/portal/nps")
    client.post("/portal/nps", data={"csrf_token": token, "nps": "9", "stars": "5"})
    assert 'id="nps-prompt"' not in page(client, "/portal/")
    assert 'name="nps"' not in page(client, "/portal/nps")


def test_the_home_reads_every_card_in_the_same_statements_and_as_each_projects_own_page(
    app: Any, runtime: Any, world: World
) -> None:
    """The home page's cards are read for all the organisation's projects together: the statements it
    takes do not grow with the projects, and each card says what the project's own page says of it."""
    from sqlalchemy import event

    from itpm.db import utcnow
    from itpm.portal.service import Portal

    client = signed_in(app, "max")

    def statements() -> int:
        seen: list[str] = []
        event.listen(runtime.engine, "before_cursor_execute", note := lambda *a, **k: seen.append(a[2]))
        try:
            page(client, "/portal/")
        finally:
            event.remove(runtime.engine, "before_cursor_execute", note)
        return len(seen)

    statements()  # a first page reads what the next ones keep (the service figures, once the data changed)
    one = statements()
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        flow = Workflows(system)
        for n in range(3):
            data = {"name": f"Acme branch {n}", "project_type": "implementation", "phase": "planning",
                    "manager": world.people["pete"], "start_date": "2026-01-05", "due_date": "2027-12-20",
                    "progress": 10, "health": "green", "client_status": "on_track"}  # fmt: skip
            project = system.create("project", data, {"client": world.acme}).id
            system.create("task", {"title": f"Branch {n} live", "project": project, "milestone": True,
                                   "due_date": f"2027-0{n + 1}-15"})  # fmt: skip
            system.create("incident", {"title": f"Branch {n} slow", "priority": "P3", "category": "network",
                                       "project": project})  # fmt: skip
            delivered = system.create(
                "deliverable", {"name": f"Plan {n}", "project": project, "client_visible": True}
            )
            flow.take("deliverable", delivered.id, "submit", {"delivered_on": "2026-11-20"})
        session.commit()
    statements()
    assert statements() == one
    with runtime.session() as session:
        people = session.get(Person, world.people["max"])
        portal = Portal(Records(session, runtime.catalog(), Actor.of(people)), utcnow())
        cards = portal.projects()
        assert len(cards) == 4
        assert cards == [portal.card(p) for p in portal.project_records()]
        assert [(c.open_tickets, c.awaiting_signoff, c.next_milestone is not None) for c in cards] == [
            (1, 1, True)
        ] * 3 + [(1, 2, True)]
