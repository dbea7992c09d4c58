"""Transitions and approval chains of the starter workflows, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import api_token, csrf_token, login
from itpm.access import Actor
from itpm.models import ApprovalRequest, AuditEntry, Delegation, Department, Person, RecordEvent, Team
from itpm.records.service import Conflict, Forbidden, Invalid, NotFound, Records
from itpm.workflows.engine import Workflows

PASSWORD = "workflow-password-1"
NOW = dt.datetime(2026, 3, 16, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Shanghai


@dataclass
class Cast:
    ids: dict[str, int]
    client_org: int
    project: int

    def actor(self, runtime: Any, name: str) -> Actor:
        with runtime.session() as session:
            return Actor.of(session.get(Person, self.ids[name]))


def cast(app: Any, runtime: Any, budget: float = 1_000_000) -> Cast:
    """A project with its manager and technical lead, a client user, finance, an engineer asking, an admin."""
    flask_app = app.dispatcher.app
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        client_org = system.create("customer", {"name": "Acme Bank"}).id
        session.commit()
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        session = sm.session
        delivery = Department(name="delivery", title_en="Delivery", title_zh="交付部")
        session.add(delivery)
        session.flush()
        team = Team(name="core", title_en="Core", title_zh="核心组", department_id=delivery.id)
        session.add(team)
        session.flush()
        ids = {}
        for name, role in (
            ("pm", "project_manager"),
            ("lead", "engineer"),
            ("dev", "engineer"),
            ("buyer", "client"),
            ("cfo", "finance"),
            ("boss", "department_admin"),
            ("root", "admin"),
        ):
            # the client's buyer also signs deliverables off (the client_approver role)
            roles = [sm.find_role(role), *([sm.find_role("client_approver")] if name == "buyer" else [])]
            person = sm.add_user(name, name.title(), "T", f"{name}@itpm.invalid", roles, PASSWORD)
            person.department_id, person.team_id = delivery.id, team.id
            if role == "client":
                person.client_id, person.team_id = client_org, None
            ids[name] = person.id
        session.commit()
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        project = system.create(
            "project",
            {
                "name": "Core banking",
                "project_type": "implementation",
                "phase": "initiation",
                "start_date": "2026-01-01",
                "due_date": "2026-12-31",
                "manager": ids["pm"],
                "technical_lead": ids["lead"],
                "budget_plan": budget,
            },
            {"client": client_org, "department": delivery.id, "owner": ids["pm"]},
        )
        session.commit()
        return Cast(ids, client_org, project.id)


def act(runtime: Any, actor: Actor, now: dt.datetime = NOW) -> tuple[Any, Records, Workflows]:
    session = runtime.sessions.session_factory()
    records = Records(session, runtime.catalog(), actor, clock=lambda: now)
    return session, records, Workflows(records)


def change_request(runtime: Any, people: Cast, impact: str = "low", cost: float = 1000) -> int:
    """A change request by the engineer, submitted and assessed, ready to ask for approval."""
    session, records, workflows = act(runtime, people.actor(runtime, "dev"))
    data = {
        "title": "Add SSO",
        "project": people.project,
        "impact": impact,
        "urgency": "urgent",
        "description": "Log in with the bank's SSO",
    }
    if impact == "high":
        data["rollback_plan"] = "Switch SSO off"  # the form requires it for high impact
    record = records.create("change_request", data)
    workflows.take("change_request", record.id, "submit")
    session.commit()
    session.close()
    session, records, workflows = act(runtime, people.actor(runtime, "pm"))
    workflows.take(
        "change_request",
        record.id,
        "assess",
        {"scope_impact": "One more login", "schedule_impact_days": 3, "cost_impact": cost},
    )
    session.commit()
    session.close()
    return record.id


def decide(
    runtime: Any, people: Cast, who: str, approval_id: int, approve: bool = True, comment: str = ""
) -> ApprovalRequest:
    session, _records, workflows = act(runtime, people.actor(runtime, who))
    try:
        approval = workflows.decide(approval_id, approve, comment)
        session.commit()
        return approval
    finally:
        session.close()


def state_of(runtime: Any, type_name: str, record_id: int) -> str:
    with runtime.session() as session:
        return Records(session, runtime.catalog(), Actor.system()).get(type_name, record_id).state


def ask_approval(runtime: Any, people: Cast, record_id: int, who: str = "dev") -> int:
    session, _records, workflows = act(runtime, people.actor(runtime, who))
    outcome = workflows.take("change_request", record_id, "approve", comment="Please approve")
    session.commit()
    approval_id = outcome.approval.id
    session.close()
    return approval_id


def test_a_new_record_starts_in_its_workflows_initial_state(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    assert state_of(runtime, "project", people.project) == "initiation"
    session, records, workflows = act(runtime, Actor.system())
    assert records.create("task", {"title": "Plan", "project": people.project}).state == "todo"
    assert records.create("incident", {"title": "x", "priority": "P3", "category": "network"}).state == "new"


def test_a_transition_moves_the_record_and_sets_fields_in_the_history_and_audit_log(
    app: Any, runtime: Any
) -> None:
    people = cast(app, runtime)
    session, records, workflows = act(runtime, people.actor(runtime, "dev"))
    task = records.create("task", {"title": "Install", "project": people.project})
    workflows.take("task", task.id, "start", comment="on it")
    workflows.take("task", task.id, "finish")
    session.commit()
    assert (task.state, records.data(task)["progress"]) == ("done", 100)
    events = records.history("task", task.id)
    assert [e["action"] for e in events[:2]] == ["transition finish", "transition start"]
    assert events[1]["note"] == "on it"
    assert {"path": "/state", "old": "doing", "new": "done"} in events[0]["changes"]
    audit = session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"task/{task.number}")).all()
    assert audit.count("transition") == 2
    session.close()


def test_refusals_change_nothing(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    session, records, workflows = act(runtime, people.actor(runtime, "dev"))
    record = records.create(
        "change_request",
        {"title": "Add SSO", "project": people.project, "impact": "low", "urgency": "normal"},
    )
    session.commit()
    version, record_id = record.version, record.id
    with pytest.raises(Conflict, match="leaves from .+ only"):  # states by their titles
        workflows.take("change_request", record_id, "approve")  # from the wrong state
    with pytest.raises(Invalid) as missing:
        workflows.take("change_request", record_id, "submit")  # the description is required
    assert [p.path for p in missing.value.problems] == ["/data/description"]
    with pytest.raises(Invalid) as extra:
        workflows.take("change_request", record_id, "submit", {"description": "x", "title": "sneaky"})
    assert [p.path for p in extra.value.problems] == ["/data/title"]
    with pytest.raises(NotFound):
        workflows.take("change_request", record_id, "teleport")
    session.rollback()
    session.close()
    session, records, workflows = act(runtime, people.actor(runtime, "cfo"))
    with pytest.raises(Forbidden):
        workflows.take("change_request", record_id, "submit", {"description": "x"})  # finance may not submit
    session.rollback()
    session.close()
    assert state_of(runtime, "change_request", record_id) == "draft"
    with runtime.session() as session:
        record = Records(session, runtime.catalog(), Actor.system()).get("change_request", record_id)
        assert record.version == version


def test_the_approval_chain_by_the_project_manager_then_the_technical_lead(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    approval_id = ask_approval(runtime, people, record_id)
    assert state_of(runtime, "change_request", record_id) == "assessed"
    with pytest.raises(Forbidden):
        decide(runtime, people, "lead", approval_id)  # not the technical lead's turn yet
    decide(runtime, people, "pm", approval_id, comment="fine")
    assert state_of(runtime, "change_request", record_id) == "assessed"
    approval = decide(runtime, people, "lead", approval_id)
    assert approval.state == "approved"
    assert (
        state_of(runtime, "change_request", record_id) == "approved"
    )  # low impact, small cost: two steps only


def test_an_approver_outside_their_roles_rows_reads_what_they_are_asked_to_decide(
    app: Any, runtime: Any
) -> None:
    people = cast(app, runtime)
    flask_app = app.dispatcher.app
    with flask_app.app_context():  # an account manager of the department, in no team
        sm = flask_app.appbuilder.sm
        am = sm.add_user("am", "Am", "T", "am@itpm.invalid", [sm.find_role("account_manager")], PASSWORD)
        am.department_id = sm.session.get(Person, people.ids["pm"]).department_id
        sm.session.commit()
        people.ids["am"] = am.id
    session, records, workflows = act(runtime, people.actor(runtime, "am"))
    record_id = records.create(
        "change_request",
        {
            "title": "Add SSO",
            "project": people.project,
            "description": "SSO",
            "impact": "low",
            "urgency": "normal",
        },
    ).id
    workflows.take("change_request", record_id, "submit")
    session.commit()
    session.close()
    session, records, workflows = act(runtime, people.actor(runtime, "pm"))
    workflows.take(
        "change_request",
        record_id,
        "assess",
        {"scope_impact": "One more login", "schedule_impact_days": 1, "cost_impact": 10},
    )
    session.commit()
    session.close()
    approval_id = ask_approval(runtime, people, record_id, who="am")

    def reads(who: str) -> bool:
        session, records, _ = act(runtime, people.actor(runtime, who))
        try:
            records.get("change_request", record_id)
            return True
        except NotFound:
            return False
        finally:
            session.close()

    assert not reads("lead") and not reads("dev")  # engineers read their team's requests; am has no team
    decide(runtime, people, "pm", approval_id)
    assert reads("lead") and not reads("dev")  # the technical lead is asked now, the other engineer is not
    session, _records, workflows = act(runtime, people.actor(runtime, "lead"))
    assert [task.approval_id for task in workflows.inbox()] == [approval_id]
    session.close()
    decide(runtime, people, "lead", approval_id)
    assert state_of(runtime, "change_request", record_id) == "approved"
    assert reads("lead")  # what they decided stays readable to them


def test_high_impact_needs_the_clients_sign_off_and_a_big_cost_finance(app: Any, runtime: Any) -> None:
    people = cast(app, runtime, budget=100_000)
    record_id = change_request(runtime, people, impact="high", cost=20_000)  # 20% of the plan
    approval_id = ask_approval(runtime, people, record_id)
    for who in ("pm", "lead", "buyer"):
        decide(runtime, people, who, approval_id)
        assert state_of(runtime, "change_request", record_id) == "assessed"
    approval = decide(runtime, people, "cfo", approval_id)
    assert approval.state == "approved" and state_of(runtime, "change_request", record_id) == "approved"
    steps = [(t.step_name, t.decision) for t in approval.tasks]
    assert steps == [
        ("project_manager", "approved"),
        ("technical_lead", "approved"),
        ("client_signoff", "approved"),
        ("finance", "approved"),
    ]


def test_a_rejection_needs_a_reason_and_returns_the_request_to_draft(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    approval_id = ask_approval(runtime, people, record_id)
    with pytest.raises(Invalid, match="A rejection needs a reason"):
        decide(runtime, people, "pm", approval_id, approve=False)
    approval = decide(runtime, people, "pm", approval_id, approve=False, comment="Too risky before go-live")
    assert (approval.state, approval.reason) == ("rejected", "Too risky before go-live")
    assert state_of(runtime, "change_request", record_id) == "draft"
    with pytest.raises(Conflict, match="already decided"):
        decide(runtime, people, "lead", approval_id)


def test_nobody_approves_their_own_request(app: Any, runtime: Any) -> None:
    """The project manager asks: by the starter flow's self-approval rule his own step goes to his
    manager (tests/test_self_approval.py has the other rules)."""
    people = cast(app, runtime)
    with runtime.session() as session:
        session.get(Person, people.ids["pm"]).manager_id = people.ids["root"]
        session.commit()
    record_id = change_request(runtime, people)
    approval_id = ask_approval(runtime, people, record_id, who="pm")
    with pytest.raises(Forbidden):
        decide(runtime, people, "pm", approval_id)
    decide(runtime, people, "root", approval_id)
    decide(runtime, people, "lead", approval_id)
    assert state_of(runtime, "change_request", record_id) == "approved"


def test_a_delegate_decides_while_the_approver_is_away(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    approval_id = ask_approval(runtime, people, record_id)
    session, _records, workflows = act(runtime, people.actor(runtime, "pm"))
    workflows.delegate(people.ids["cfo"], NOW.date(), NOW.date() + dt.timedelta(days=7))
    session.commit()
    session.close()
    session, _records, workflows = act(runtime, people.actor(runtime, "cfo"))
    assert [t.approval_id for t in workflows.inbox()] == [approval_id]
    session.close()
    approval = decide(runtime, people, "cfo", approval_id, comment="for the PM")
    assert approval.tasks[0].decided_by == "cfo" and approval.tasks[0].approver_id == people.ids["pm"]
    later = NOW + dt.timedelta(days=30)
    session, _records, workflows = act(runtime, people.actor(runtime, "cfo"), later)
    assert workflows.inbox() == []  # the delegation is over
    session.close()


def test_approvals_are_delegated_only_to_staff_who_could_decide_them(app: Any, runtime: Any) -> None:
    """Not to a client of another organisation, nor to staff whose roles approve nothing of the kind."""
    people = cast(app, runtime)
    with runtime.session() as session:
        other = Records(session, runtime.catalog(), Actor.system()).create("customer", {"name": "Rival"}).id
        session.commit()
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        stranger = sm.add_user("stranger", "S", "T", "s@itpm.invalid", [sm.find_role("client")], PASSWORD)
        stranger.client_id = other
        sm.session.commit()
        stranger_id = stranger.id
    record_id = change_request(runtime, people)
    approval_id = ask_approval(runtime, people, record_id)
    week = (NOW.date(), NOW.date() + dt.timedelta(days=7))
    for delegate, reason in ((stranger_id, "is a client's user"), (people.ids["boss"], "change_request")):
        session, _records, workflows = act(runtime, people.actor(runtime, "pm"))
        with pytest.raises(Invalid, match="could decide your approvals") as refused:
            workflows.delegate(delegate, *week)
        assert reason in " ".join(str(p.message) for p in refused.value.problems)
        session.close()
    # the same refusal on the page, and nothing delegated
    client = app.test_client()
    login(client, "pm", PASSWORD)
    client.get("/lang/en")
    token = csrf_token(client, "/approvals/delegations")
    page = client.post(
        "/approvals/delegations",
        data={"to": stranger_id, "starts_on": "2026-03-16", "ends_on": "2026-03-23", "csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Delegate to a colleague who could decide your approvals" in page
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Delegation)) == 0
    # a delegation to the stranger made before this rule (written straight to the table) gives them nothing
    with runtime.session() as session:
        session.add(
            Delegation(from_id=people.ids["pm"], to_id=stranger_id, starts_on=week[0], ends_on=week[1])
        )
        session.commit()
    people.ids["stranger"] = stranger_id
    session, records, workflows = act(runtime, people.actor(runtime, "stranger"))
    with pytest.raises(NotFound):
        records.get("change_request", record_id)
    assert workflows.inbox() == []
    session.close()
    with pytest.raises(NotFound):
        decide(runtime, people, "stranger", approval_id)


def test_an_undecided_step_escalates_after_its_business_hours(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    approval_id = ask_approval(runtime, people, record_id)
    session, _records, workflows = act(runtime, Actor.system())
    assert workflows.escalate_overdue(NOW + dt.timedelta(hours=7)) == 0  # 8 business hours not yet over
    assert (
        workflows.escalate_overdue(NOW + dt.timedelta(days=1)) == 1
    )  # Tuesday 10:00: 8 business hours passed
    session.commit()
    session.close()
    approval = decide(runtime, people, "root", approval_id, comment="escalated to me")
    via = [t.via for t in approval.tasks if t.step == 0]
    assert via[0] == "field" and set(via[1:]) == {"escalation"}  # the project manager, then every admin
    assert state_of(runtime, "change_request", record_id) == "assessed"  # the technical lead is next


def test_a_record_waiting_for_approval_takes_no_other_transition(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    ask_approval(runtime, people, record_id)
    session, _records, workflows = act(runtime, people.actor(runtime, "pm"))
    with pytest.raises(Conflict, match="waiting for an approval"):
        workflows.take("change_request", record_id, "cancel")
    session.close()


def test_an_edit_during_the_approval_is_kept_when_it_completes(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    approval_id = ask_approval(runtime, people, record_id)
    decide(runtime, people, "pm", approval_id)
    session, records, _workflows = act(runtime, people.actor(runtime, "pm"))
    record = records.get("change_request", record_id)
    records.update("change_request", record_id, {"reason": "The bank asked"}, record.version)
    session.commit()
    session.close()
    decide(runtime, people, "lead", approval_id)
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        record = records.get("change_request", record_id)
        assert (record.state, records.data(record)["reason"]) == ("approved", "The bank asked")


def test_project_gates_move_the_phase_with_the_departments_approval(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    session, _records, workflows = act(runtime, people.actor(runtime, "pm"))
    outcome = workflows.take("project", people.project, "to_planning", comment="charter signed")
    session.commit()
    approval_id = outcome.approval.id
    session.close()
    session, _records, workflows = act(runtime, people.actor(runtime, "boss"))
    approval = workflows.decide(approval_id, True)
    session.commit()
    session.close()
    assert approval.state == "approved"
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        project = records.get("project", people.project)
        assert (project.state, records.data(project)["phase"]) == ("planning", "planning")


@pytest.fixture
def postgres_app(fresh_database: Any, tmp_path: Any) -> Any:
    from conftest import settings_for
    from itpm.web.app import create_app

    app = create_app(settings_for(fresh_database("postgres"), tmp_path))
    yield app
    app.extensions["itpm"].dispose()


@pytest.mark.postgres
def test_two_approvers_at_the_same_moment_complete_the_transition_once(postgres_app: Any) -> None:
    """A triple click on PostgreSQL, whose sessions really run at once (SQLite serialises its writers)."""
    import threading

    app, runtime = postgres_app, postgres_app.extensions["itpm"]
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    approval_id = ask_approval(runtime, people, record_id)
    decide(runtime, people, "pm", approval_id)
    results: list[Any] = []
    barrier = threading.Barrier(3)

    def click() -> None:
        barrier.wait()
        try:
            results.append(decide(runtime, people, "lead", approval_id).state)
        except Exception as error:  # noqa: BLE001 - the loser's refusal is what is checked
            results.append(type(error).__name__)

    threads = [threading.Thread(target=click) for _ in range(3)]  # a triple click
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["Conflict", "Conflict", "approved"]
    with runtime.session() as session:
        moves = session.scalar(
            select(func.count())
            .select_from(RecordEvent)
            .where(RecordEvent.record_id == record_id, RecordEvent.action == "transition approve")
        )
        assert moves == 1
    assert state_of(runtime, "change_request", record_id) == "approved"


def test_transitions_and_approvals_through_the_api(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    client = app.test_client()
    dev = {"Authorization": f"Bearer {api_token(client, 'dev', PASSWORD)}", "Accept-Language": "en"}
    pm = {"Authorization": f"Bearer {api_token(client, 'pm', PASSWORD)}", "Accept-Language": "en"}
    lead = {"Authorization": f"Bearer {api_token(client, 'lead', PASSWORD)}", "Accept-Language": "en"}
    available = client.get(f"/api/v1/records/change_request/{record_id}/transitions", headers=dev).get_json()
    assert available["state"] == "assessed" and [t["name"] for t in available["result"]] == ["approve"]
    asked = client.post(
        f"/api/v1/records/change_request/{record_id}/transitions/approve",
        json={"comment": "please"},
        headers=dev,
    )
    assert asked.status_code == 202
    approval_id = asked.get_json()["approval"]["id"]
    waiting = client.get("/api/v1/approvals/", headers=pm).get_json()
    assert [a["id"] for a in waiting["result"]] == [approval_id]
    assert client.get("/api/v1/approvals/", headers=lead).get_json()["count"] == 0
    assert client.post(f"/api/v1/approvals/{approval_id}/reject", json={}, headers=pm).status_code == 422
    assert (
        client.post(
            f"/api/v1/approvals/{approval_id}/approve", json={"comment": "ok"}, headers=pm
        ).status_code
        == 200
    )
    assert client.post(f"/api/v1/approvals/{approval_id}/approve", json={}, headers=pm).status_code == 409
    done = client.post(f"/api/v1/approvals/{approval_id}/approve", json={}, headers=lead).get_json()
    assert done["state"] == "approved"
    record = client.get(f"/api/v1/records/change_request/{record_id}", headers=dev).get_json()
    assert record["state"] == "approved"
    wrong = client.post(
        f"/api/v1/records/change_request/{record_id}/transitions/submit", json={}, headers=dev
    )
    assert wrong.status_code == 409
    state = client.post(
        "/api/v1/records/change_request/",
        json={
            "data": {"title": "x", "project": people.project, "impact": "low", "urgency": "normal"},
            "state": "done",
        },
        headers=dev,
    )
    assert state.status_code == 422  # the state moves by transitions only


def test_the_record_page_offers_transitions_and_the_approval_panel(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    dev = app.test_client()
    login(dev, "dev", PASSWORD)
    dev.get("/lang/en")
    page = dev.get(f"/records/change_request/show/{record_id}").get_data(as_text=True)
    assert 'data-transition="approve"' in page and "Assessed" in page
    token = csrf_token(dev, f"/records/change_request/transition/{record_id}/approve")
    assert (
        dev.post(
            f"/records/change_request/transition/{record_id}/approve",
            data={"comment": "please", "csrf_token": token},
        ).status_code
        == 302
    )
    pm = app.test_client()
    login(pm, "pm", PASSWORD)
    pm.get("/lang/en")
    inbox = pm.get("/approvals/").get_data(as_text=True)
    assert "Add SSO" in inbox and "Project manager" in inbox
    page = pm.get(f"/records/change_request/show/{record_id}").get_data(as_text=True)
    assert 'id="itpm-approve"' in page and "Please approve" not in page and "please" in page


def test_a_client_accepts_a_deliverable_or_sends_it_back_with_their_reasons(app: Any, runtime: Any) -> None:
    people = cast(app, runtime)
    session, records, workflows = act(runtime, people.actor(runtime, "pm"))
    deliverable = records.create(
        "deliverable", {"name": "Design document", "project": people.project, "client_visible": True}
    )
    with pytest.raises(Invalid) as undated:
        workflows.take("deliverable", deliverable.id, "submit")
    assert [p.path for p in undated.value.problems] == ["/data/delivered_on"]
    workflows.take("deliverable", deliverable.id, "submit", {"delivered_on": "2026-03-16"})
    session.commit()
    deliverable_id = deliverable.id
    session.close()

    session, records, workflows = act(runtime, people.actor(runtime, "buyer"))
    with pytest.raises(Forbidden):
        workflows.take("deliverable", deliverable_id, "cancel")  # the project manager's, not the client's
    with pytest.raises(Invalid) as silent:
        workflows.take("deliverable", deliverable_id, "reject")
    assert [p.path for p in silent.value.problems] == ["/data/acceptance_note"]
    workflows.take("deliverable", deliverable_id, "reject", {"acceptance_note": "Chapter 3 is missing"})
    session.commit()
    assert state_of(runtime, "deliverable", deliverable_id) == "draft"
    session.close()

    session, records, workflows = act(runtime, people.actor(runtime, "pm"))
    workflows.take("deliverable", deliverable_id, "submit")  # delivered_on is kept from the first time
    session.commit()
    session.close()
    session, records, workflows = act(runtime, people.actor(runtime, "buyer"))
    workflows.take("deliverable", deliverable_id, "accept")
    session.commit()
    record = records.get("deliverable", deliverable_id)
    assert (record.state, records.data(record)["acceptance_note"]) == ("accepted", "Chapter 3 is missing")
    assert record.client_id == people.client_org  # from its project: the client sees it in the portal
    session.close()


def test_a_service_requests_clock_stands_still_once_fulfilled_until_the_client_closes_it(
    app: Any, runtime: Any
) -> None:
    people = cast(app, runtime)
    session, records, workflows = act(runtime, people.actor(runtime, "buyer"))
    request = records.create(
        "service_request", {"title": "VPN account for a new hire", "priority": "P3", "category": "access"}
    )
    session.commit()
    request_id = request.id
    assert (request.client_id, request.state) == (people.client_org, "new")
    session.close()
    session, records, _workflows = act(runtime, Actor.system())
    records.update("service_request", request_id, {}, 1, {"assignee": people.ids["dev"]})
    session.commit()
    session.close()

    session, records, workflows = act(runtime, people.actor(runtime, "dev"), NOW + dt.timedelta(hours=1))
    workflows.take("service_request", request_id, "take")
    session.commit()
    session.close()
    session, records, workflows = act(runtime, people.actor(runtime, "dev"), NOW + dt.timedelta(hours=3))
    workflows.take(
        "service_request",
        request_id,
        "fulfil",
        {"fulfilment": "Account created", "fulfilled_at": "2026-03-16T05:00:00Z"},
    )
    session.commit()
    assert records.get("service_request", request_id).sla_status == "paused"
    session.close()

    session, records, workflows = act(runtime, people.actor(runtime, "buyer"), NOW + dt.timedelta(days=8))
    workflows.take("service_request", request_id, "close")  # a week later: the clock stood still
    session.commit()
    record = records.get("service_request", request_id)
    assert (record.state, record.sla_status, record.sla_breached) == ("closed", "met", False)
    session.close()
