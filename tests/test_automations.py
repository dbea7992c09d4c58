"""Automations: each trigger and action of the engine, the starter rules, retries and idempotency.

The outbox is drained in the test (jobs "none"), with the clock passed in, on
SQLite and PostgreSQL; the worker processes on Redis are tested in
test_worker.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from test_schema_changes import publish
from test_workflows import NOW, PASSWORD, Cast, act, ask_approval, cast, change_request, decide

from conftest import csrf_token, login
from itpm.access import Actor
from itpm.automations.engine import MAX_DEPTH, Automations
from itpm.automations.jobs import drain
from itpm.automations.scheduler import tick
from itpm.models import (
    ActionRun,
    Comment,
    Department,
    Notification,
    OutboxEvent,
    Person,
    RecordEvent,
    Team,
    WebhookDelivery,
)
from itpm.records.service import Records
from itpm.webhooks import allow_list
from itpm.workflows.engine import Workflows


@pytest.fixture
def runtime(app: Any) -> Any:
    return app.extensions["itpm"]


@pytest.fixture
def people(app: Any, runtime: Any) -> Cast:
    return cast(app, runtime, budget=100_000)


def system(runtime: Any, now: dt.datetime = NOW) -> tuple[Any, Records]:
    session = runtime.sessions.session_factory()
    return session, Records(session, runtime.catalog(), Actor.system(), clock=lambda: now)


def run(runtime: Any, now: dt.datetime = NOW) -> int:
    """Handle every waiting event as a worker would, at `now`."""
    return drain(runtime, clock=lambda: now)


def statements_to_run(runtime: Any) -> int:
    """How many SQL statements handling every waiting event (`run`) sends (an executemany counts once)."""
    statements: list[str] = []

    def note(connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", note)
    try:
        run(runtime)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", note)
    return len(statements)


def notified(runtime: Any, person: int) -> list[str]:
    with runtime.session() as session:
        return list(
            session.scalars(
                select(Notification.subject).where(Notification.person_id == person).order_by(Notification.id)
            )
        )


def team(app: Any, runtime: Any, name: str, members: list[tuple[str, str]], **extra: Any) -> list[int]:
    """A team of people (name, role); returns their ids in order."""
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        session = sm.session
        group = Team(name=name, title_en=name.title(), title_zh=name)
        session.add(group)
        session.flush()
        ids = []
        for username, role in members:
            person = sm.add_user(
                username, username.title(), "T", f"{username}@itpm.invalid", [sm.find_role(role)], PASSWORD
            )
            person.team_id = group.id
            for key, value in extra.get(username, {}).items():
                setattr(person, key, value)
            ids.append(person.id)
        session.commit()
        return ids


def automation(
    name: str, record_type: str | None, trigger: dict[str, Any], actions: list[dict[str, Any]], **more: Any
) -> dict[str, Any]:
    return {
        "kind": "automation",
        "name": name,
        "title": {"en": name, "zh": name},
        **({"record_type": record_type} if record_type else {}),
        "trigger": trigger,
        "actions": actions,
        **more,
    }


def comment(text: str) -> dict[str, Any]:
    return {"do": "comment", "text": {"en": text, "zh": text}}


def comments(runtime: Any, type_name: str, record_id: int) -> list[str]:
    with runtime.session() as session:
        return list(
            session.scalars(
                select(Comment.body)
                .where(Comment.record_type == type_name, Comment.record_id == record_id)
                .order_by(Comment.id)
            )
        )


def incident(runtime: Any, now: dt.datetime = NOW, assignee: int | None = None, **data: Any) -> int:
    session, records = system(runtime, now)
    fields = {"title": "VPN down", "priority": "P3", "category": "network", **data}
    record = records.create("incident", fields, {"assignee": assignee} if assignee else {})
    session.commit()
    session.close()
    return record.id


def get(runtime: Any, type_name: str, record_id: int) -> Any:
    session, records = system(runtime)
    record = records.get(type_name, record_id)
    session.close()
    return record


# --- assignment ---------------------------------------------------------------------------------


def test_a_new_incident_goes_to_the_least_busy_member_of_its_support_group(app: Any, runtime: Any) -> None:
    busy, free = team(app, runtime, "network", [("nora", "support_agent"), ("ned", "support_agent")])
    (desk,) = team(app, runtime, "service_desk", [("sam", "support_agent")])
    for _ in range(2):
        incident(runtime, support_group="network", assignee=None)
    session, records = system(runtime)
    for record in session.scalars(records.query("incident")).all():
        records.update("incident", record.id, {}, record.version, {"assignee": busy})
    session.commit()
    run(runtime)
    new = incident(runtime, support_group="network")
    unsorted = incident(runtime)  # no support group: the service desk takes it
    run(runtime)
    assert get(runtime, "incident", new).assignee_id == free
    assert get(runtime, "incident", unsorted).assignee_id == desk
    with runtime.session() as session:
        changed = session.scalars(
            select(RecordEvent).where(
                RecordEvent.record_id == new,
                RecordEvent.record_type == "incident",
                RecordEvent.action == "updated",
            )
        ).all()
    assert [(e.actor, e.changes) for e in changed] == [
        ("system", [{"path": "/assignee", "old": None, "new": free}])
    ]


def test_nobody_away_is_given_work_and_a_team_with_nobody_left_fails_visibly(app: Any, runtime: Any) -> None:
    away, present = team(
        app,
        runtime,
        "network",
        [("ann", "support_agent"), ("bob", "support_agent")],
        ann={"away_until": dt.date(2026, 3, 20)},
    )
    first = incident(runtime, support_group="network")
    run(runtime)
    assert get(runtime, "incident", first).assignee_id == present
    with runtime.session() as session:
        session.execute(update(Person).where(Person.id == present).values(away_until=dt.date(2026, 3, 31)))
        session.commit()
    second = incident(runtime, support_group="network")
    run(runtime)
    assert get(runtime, "incident", second).assignee_id is None
    with runtime.session() as session:
        failed = session.scalars(select(ActionRun).where(ActionRun.status == "failed")).one()
    assert (
        failed.automation == "assign_new_incidents" and "nobody in the team can take it now" in failed.error
    )
    assert failed.due_at == NOW + dt.timedelta(minutes=1)  # the first retry, after a minute
    with runtime.session() as session:  # ann is back; the retry assigns her
        session.execute(update(Person).where(Person.id == away).values(away_until=None))
        session.commit()
    tick(runtime, NOW, NOW + dt.timedelta(minutes=2))
    assert get(runtime, "incident", second).assignee_id == away


def test_a_batch_of_new_incidents_is_shared_out_in_few_statements_and_one_that_fails_loses_no_other(
    app: Any, runtime: Any
) -> None:
    members = team(app, runtime, "network", [(f"agent{n}", "support_agent") for n in range(3)])
    team(app, runtime, "database", [("dora", "support_agent")], dora={"away_until": dt.date(2026, 3, 31)})

    def handle(count: int, failing: int | None = None) -> tuple[list[int], int]:
        made = [
            incident(runtime, support_group="database" if n == failing else "network") for n in range(count)
        ]
        return made, statements_to_run(runtime)

    few, few_statements = handle(6)
    many, many_statements = handle(24)
    # the team's loads are read once per batch and kept as work is given out: still least work first
    with runtime.session() as session:
        model = runtime.catalog().models.models["incident"]
        loads = dict(
            session.execute(
                select(model.assignee_id, func.count())
                .where(model.id.in_(few + many))
                .group_by(model.assignee_id)
            ).all()
        )
    assert loads == {person: 10 for person in members}
    # each more incident costs its UPDATE (and on SQLite its rows' INSERTs), not its own reads of the team,
    # their work and the record (it cost about 30 statements)
    each = 1 if runtime.engine.dialect.name == "postgresql" else 4
    assert many_statements - few_statements <= each * (len(many) - len(few)) + 2, (
        few_statements,
        many_statements,
    )

    # dora is away: the database incident's assignment fails, alone, and is kept for a retry
    batch, _ = handle(5, failing=2)
    assigned = {n: get(runtime, "incident", record).assignee_id for n, record in enumerate(batch)}
    assert assigned[2] is None and all(assigned[n] in members for n in (0, 1, 3, 4))
    with runtime.session() as session:
        runs = session.execute(
            select(ActionRun.key, ActionRun.status).where(ActionRun.automation == "assign_new_incidents")
        ).all()
        failed = [key for key, status in runs if status == "failed"]
        waiting = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.handled_at.is_(None))
        )
    assert len(runs) == len({key for key, _ in runs}) == 35  # one run per incident: none done twice
    assert len(failed) == 1 and waiting == 0


def test_assigning_twice_as_many_incidents_and_telling_their_assignees_costs_one_more_statement_each(
    app: Any, runtime: Any
) -> None:
    """The work of a job's events is done for all of them at once (the team's loads, the records, history,
    outbox, action runs, the assignees and their notices): an incident more adds its row's UPDATE (one per
    row, as the version check needs), never a query or a write of its own."""
    with runtime.session() as session:
        support = Department(name="support", title_en="Support", title_zh="支持")
        session.add(support)
        session.commit()
        department = support.id
    members = team(
        app,
        runtime,
        "network",
        [(f"agent{n}", "support_agent") for n in range(3)],
        **{f"agent{n}": {"department_id": department} for n in range(3)},
    )

    def handle(count: int) -> tuple[list[int], int]:
        session, records = system(runtime)
        made = [
            records.create(
                "incident",
                {
                    "title": f"VPN down {n}",
                    "priority": "P3",
                    "category": "network",
                    "support_group": "network",
                },
                {"department": department},
            ).id
            for n in range(count)
        ]
        session.commit()
        session.close()
        return made, statements_to_run(runtime)  # each batch in one job, as a worker runs it (`jobs.BATCH`)

    few, few_statements = handle(10)
    many, many_statements = handle(20)
    with runtime.session() as session:
        model = runtime.catalog().models.models["incident"]
        assignees = dict(session.execute(select(model.id, model.assignee_id)).all())
        told = session.execute(select(Notification.person_id, Notification.subject)).all()
    assert sorted(assignees) == sorted(few + many)
    assert sorted(Counter(assignees.values()).values()) == [10, 10, 10]  # least work first, still
    # each assignee is told of each incident they were given, once, with its title (they may read it)
    assert sorted(told) == sorted(
        (assignees[i], f"分配给您：{get(runtime, 'incident', i).number} VPN down {n}")
        for n, i in [*enumerate(few), *enumerate(many)]
    )
    assert set(assignees.values()) == set(members)
    # PostgreSQL: the UPDATE; SQLite (in process, no round trips): SQLAlchemy writes its history, outbox and
    # action run rows there one INSERT each too. A query of its own per event would add one more each.
    each = 1 if runtime.engine.dialect.name == "postgresql" else 4
    assert many_statements - few_statements <= each * (len(many) - len(few)) + 2, (
        few_statements,
        many_statements,
    )


def test_round_robin_and_skills_strategies(app: Any, runtime: Any) -> None:
    ids = team(
        app,
        runtime,
        "database",
        [("dba1", "engineer"), ("dba2", "engineer"), ("dba3", "engineer")],
        dba2={"skills": ["oracle"]},
        dba3={"skills": ["oracle", "postgres"]},
    )
    publish(
        runtime,
        automation(
            "rotate",
            "incident",
            {"on": "created"},
            [{"do": "assign", "team": "database", "strategy": "round_robin"}],
            condition={"properties": {"category": {"const": "database"}}},
        ),
    )
    publish(
        runtime,
        automation(
            "by_skill",
            "incident",
            {"on": "created"},
            [{"do": "assign", "team": "database", "strategy": "skills", "skills_from": "affected_service"}],
            condition={"properties": {"category": {"const": "security"}}},
        ),
    )
    rotated = []
    for _ in range(4):
        record = incident(
            runtime, category="database", assignee=ids[0]
        )  # already assigned: the starter rule leaves it
        run(runtime)
        rotated.append(get(runtime, "incident", record).assignee_id)
    assert rotated == [ids[0], ids[1], ids[2], ids[0]]
    postgres = incident(runtime, category="security", affected_service="postgres", assignee=ids[0])
    oracle = incident(runtime, category="security", affected_service="oracle", assignee=ids[0])
    run(runtime)
    assert get(runtime, "incident", postgres).assignee_id == ids[2]
    assert (
        get(runtime, "incident", oracle).assignee_id == ids[1]
    )  # dba2 and dba3 know it; dba2 has less open work


def test_a_new_service_request_goes_to_its_support_group_like_an_incident(app: Any, runtime: Any) -> None:
    (apps,) = team(app, runtime, "application", [("ada", "support_agent")])
    (desk,) = team(app, runtime, "service_desk", [("sam", "support_agent")])
    session, records = system(runtime)
    licence = records.create(
        "service_request",
        {"title": "Visio licence", "priority": "P4", "category": "software", "support_group": "application"},
    ).id
    laptop = records.create(
        "service_request", {"title": "New laptop", "priority": "P3", "category": "hardware"}
    ).id
    session.commit()
    session.close()
    run(runtime)
    assert get(runtime, "service_request", licence).assignee_id == apps
    assert get(runtime, "service_request", laptop).assignee_id == desk  # no support group: the service desk


# --- the starter rules --------------------------------------------------------------------------


def test_finance_hears_once_when_a_project_spends_over_105_percent(runtime: Any, people: Cast) -> None:
    def spend(amount: float) -> None:
        session, records = system(runtime)
        record = records.get("project", people.project)
        records.update("project", people.project, {"budget_spent": amount}, record.version)
        session.commit()
        session.close()
        run(runtime)

    spend(104_000)
    assert notified(runtime, people.ids["cfo"]) == []
    assert get(runtime, "project", people.project).health is None
    with runtime.session() as session:  # the CFO reads English; the PM the company's Chinese
        session.execute(update(Person).where(Person.id == people.ids["cfo"]).values(locale="en"))
        session.commit()
    spend(106_000)
    assert get(runtime, "project", people.project).health == "red"
    assert notified(runtime, people.ids["cfo"]) == ["Budget overrun: PRJ-2026-001 Core banking"]
    assert notified(runtime, people.ids["pm"]) == ["预算超支：PRJ-2026-001 Core banking"]
    spend(120_000)  # still over, already red: nobody is told again
    assert len(notified(runtime, people.ids["cfo"])) == 1


def test_stakeholders_hear_of_an_urgent_change_request_from_a_client(runtime: Any, people: Cast) -> None:
    session, records, _ = act(runtime, people.actor(runtime, "buyer"))
    urgent = records.create(
        "change_request",
        {"title": "Open a branch", "project": people.project, "impact": "medium", "urgency": "urgent"},
    )
    records.create(
        "change_request",
        {"title": "New logo", "project": people.project, "impact": "low", "urgency": "normal"},
    )
    session.commit()
    session.close()
    run(runtime)
    assert notified(runtime, people.ids["pm"]) == [f"紧急变更请求 {urgent.number}：Open a branch"]
    assert notified(runtime, people.ids["dev"]) == []


def test_an_approved_change_request_gets_an_implementation_task_in_its_project(
    runtime: Any, people: Cast
) -> None:
    request = change_request(runtime, people)
    approval = ask_approval(runtime, people, request)
    decide(runtime, people, "pm", approval)
    decide(runtime, people, "lead", approval)
    assert get(runtime, "change_request", request).state == "approved"
    run(runtime)
    session, records = system(runtime)
    tasks = session.scalars(records.query("task")).all()
    number = get(runtime, "change_request", request).number
    assert [
        (records.data(t)["title"], records.data(t)["project"], records.data(t)["priority"]) for t in tasks
    ] == [(f"Implement {number}: Add SSO", people.project, "high")]
    assert f"/records/change_request/show/{request}" in records.data(tasks[0])["description"]
    session.close()
    run(runtime)  # the task's own creation starts nothing more, and nothing runs twice
    with runtime.session() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(ActionRun)
                .where(ActionRun.automation == "implement_approved_change")
            )
            == 2
        )


def test_the_project_manager_hears_at_once_of_an_unhappy_client(runtime: Any, people: Cast) -> None:
    session, records, _ = act(runtime, people.actor(runtime, "buyer"))
    unhappy = records.create("client_feedback", {"project": people.project, "satisfaction": 2, "nps": 3})
    records.create("client_feedback", {"project": people.project, "satisfaction": 5, "nps": 10})
    session.commit()
    session.close()
    run(runtime)
    assert notified(runtime, people.ids["pm"]) == [f"客户不满意：{unhappy.number}"]


# --- triggers -----------------------------------------------------------------------------------


def test_field_changed_from_and_to_and_state_entered(app: Any, runtime: Any) -> None:
    publish(
        runtime,
        automation(
            "raised",
            "incident",
            {"on": "field_changed", "field": "priority", "from": "P3", "to": "P1"},
            [comment("raised")],
        ),
    )
    publish(
        runtime,
        automation(
            "in_work", "incident", {"on": "state_entered", "state": "in_progress"}, [comment("in work")]
        ),
    )
    publish(
        runtime,
        automation(
            "fields", "incident", {"on": "updated", "fields": ["impact"]}, [comment("impact changed")]
        ),
    )
    record = incident(runtime, assignee=None)
    session, records = system(runtime)
    for priority in ("P2", "P1"):  # P3 → P2 → P1: neither step is P3 → P1
        current = records.get("incident", record)
        records.update("incident", record, {"priority": priority}, current.version)
    session.commit()
    run(runtime)
    assert comments(runtime, "incident", record) == []
    current = records.get("incident", record)
    records.update("incident", record, {"priority": "P3"}, current.version)
    current = records.get("incident", record)
    records.update("incident", record, {"priority": "P1", "impact": "high"}, current.version)
    Workflows(records).take("incident", record, "take")
    session.commit()
    session.close()
    run(runtime)
    assert sorted(comments(runtime, "incident", record)) == [
        "impact changed\nimpact changed",
        "in work\nin work",
        "raised\nraised",
    ]


def test_an_action_after_a_delay_runs_when_its_time_comes(app: Any, runtime: Any) -> None:
    publish(
        runtime,
        automation(
            "later", "incident", {"on": "created"}, [{**comment("half an hour on"), "after": {"minutes": 30}}]
        ),
    )
    record = incident(runtime)
    run(runtime)
    assert comments(runtime, "incident", record) == []
    tick(runtime, NOW, NOW + dt.timedelta(minutes=29))
    assert comments(runtime, "incident", record) == []
    tick(runtime, NOW + dt.timedelta(minutes=29), NOW + dt.timedelta(minutes=31))
    tick(runtime, NOW + dt.timedelta(minutes=31), NOW + dt.timedelta(minutes=40))
    assert comments(runtime, "incident", record) == ["half an hour on\nhalf an hour on"]


def test_a_schedule_fires_at_its_time_in_its_time_zone_once(app: Any, runtime: Any) -> None:
    # Mondays at 09:00 in Shanghai are Mondays at 01:00 UTC
    publish(
        runtime,
        automation(
            "weekly",
            "incident",
            {"on": "schedule", "cron": "0 9 * * 1", "time_zone": "Asia/Shanghai"},
            [comment("weekly review")],
            condition={"properties": {"priority": {"const": "P1"}}},
        ),
    )
    urgent, minor = incident(runtime, priority="P1"), incident(runtime, priority="P4")
    monday = dt.datetime(2026, 3, 23, 0, 30, tzinfo=dt.UTC)
    assert tick(runtime, monday, monday + dt.timedelta(minutes=29))["schedules"] == 0
    assert (
        tick(runtime, monday + dt.timedelta(minutes=29), monday + dt.timedelta(minutes=31))["schedules"] == 1
    )
    tick(
        runtime, monday, monday + dt.timedelta(hours=1)
    )  # the same hour again (a second scheduler): no repeat
    assert comments(runtime, "incident", urgent) == ["weekly review\nweekly review"]
    assert comments(runtime, "incident", minor) == []


def test_a_cron_in_a_zone_with_summer_time_follows_the_wall_clock() -> None:
    from itpm.automations.spec import AutomationSpec

    daily = AutomationSpec(
        automation(
            "d", None, {"on": "schedule", "cron": "0 9 * * *", "time_zone": "Europe/Berlin"}, [comment("x")]
        )
    )
    moments = daily.fire_times(
        dt.datetime(2026, 3, 27, tzinfo=dt.UTC), dt.datetime(2026, 3, 31, tzinfo=dt.UTC)
    )
    # Berlin moves to summer time on Sunday 29 March 2026: 09:00 is 08:00 UTC before, 07:00 UTC after
    assert [m.strftime("%d %H:%M") for m in moments] == ["27 08:00", "28 08:00", "29 07:00", "30 07:00"]


# --- reliability --------------------------------------------------------------------------------


def test_an_event_handled_twice_acts_once(app: Any, runtime: Any) -> None:
    publish(
        runtime,
        automation(
            "once",
            "incident",
            {"on": "created"},
            [
                comment("hello"),
                {
                    "do": "notify",
                    "to": [{"user": "admin"}],
                    "subject": {"en": "New {number}", "zh": "新 {number}"},
                },
            ],
        ),
    )
    record = incident(runtime)
    run(runtime)
    with runtime.session() as session:
        event = session.scalars(
            select(OutboxEvent.id).where(OutboxEvent.record_id == record, OutboxEvent.kind == "created")
        ).one()
        session.execute(update(OutboxEvent).where(OutboxEvent.id == event).values(handled_at=None))
        session.commit()
    Automations(runtime, lambda: NOW).handle(
        event
    )  # a job run again (a worker died before it could say it was done)
    Automations(runtime, lambda: NOW).run_action(
        f"event:{event}:once:0", {"automation": "once", "index": 0, "record_id": record, "event_id": event}
    )
    assert comments(runtime, "incident", record) == ["hello\nhello"]
    assert len(notified(runtime, 1)) == 1


def test_automations_reacting_to_automations_stop_at_a_depth(app: Any, runtime: Any) -> None:
    # two rules undoing each other's change would run for ever
    publish(
        runtime,
        automation(
            "flip",
            "incident",
            {"on": "updated", "fields": ["impact"]},
            [{"do": "set", "fields": {"impact": "low"}}],
            condition={"properties": {"impact": {"const": "high"}}},
        ),
    )
    publish(
        runtime,
        automation(
            "flop",
            "incident",
            {"on": "updated", "fields": ["impact"]},
            [{"do": "set", "fields": {"impact": "high"}}],
            condition={"properties": {"impact": {"const": "low"}}},
        ),
    )
    record = incident(runtime, assignee=1)
    session, records = system(runtime)
    records.update("incident", record, {"impact": "high"}, records.get("incident", record).version)
    session.commit()
    session.close()
    run(runtime)
    with runtime.session() as session:
        depths = session.scalars(
            select(OutboxEvent.depth)
            .where(OutboxEvent.record_id == record, OutboxEvent.kind == "updated")
            .order_by(OutboxEvent.id)
        ).all()
        assert (
            session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.handled_at.is_(None))
            )
            == 0
        )
    assert depths[0] == 0 and max(depths) == MAX_DEPTH  # every event handled, none started past the limit


def test_the_events_an_automation_causes_are_handled_by_the_same_job(app: Any, runtime: Any) -> None:
    publish(
        runtime,
        automation("raise", "incident", {"on": "created"}, [{"do": "set", "fields": {"impact": "high"}}]),
    )
    publish(
        runtime, automation("tell", "incident", {"on": "updated", "fields": ["impact"]}, [comment("raised")])
    )
    record = incident(runtime)
    with runtime.session() as session:
        created = session.scalars(select(OutboxEvent.id).where(OutboxEvent.record_id == record)).one()
    # created, the change of impact, and the comment the second rule wrote (its mentions are told)
    assert Automations(runtime, lambda: NOW).handle_many([created]) == 3
    with runtime.session() as session:
        events = session.execute(
            select(OutboxEvent.kind, OutboxEvent.depth, OutboxEvent.dispatched_at, OutboxEvent.handled_at)
            .where(OutboxEvent.record_id == record)
            .order_by(OutboxEvent.id)
        ).all()
    assert [(kind, depth) for kind, depth, _, _ in events] == [
        ("created", 0),
        ("updated", 1),
        ("commented", 2),
    ]
    assert all(handled for *_, handled in events)
    assert events[1][2] is not None  # claimed by the job: no dispatcher sends them again
    assert comments(runtime, "incident", record) == ["raised\nraised"]


def test_a_failed_action_is_listed_with_its_error_and_retried_from_the_jobs_page(
    app: Any, runtime: Any, admin_client: Any
) -> None:
    publish(runtime, automation("ghost", "incident", {"on": "created"}, [{"do": "assign", "team": "ghosts"}]))
    record = incident(runtime, assignee=1)
    run(runtime)
    page = admin_client.get("/jobs/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "ghost" in text and "there is no team &#39;ghosts&#39;" in text
    team(app, runtime, "ghosts", [("casper", "support_agent")])
    with runtime.session() as session:
        key = session.scalars(select(ActionRun.key).where(ActionRun.automation == "ghost")).one()
    answer = admin_client.post(
        "/jobs/retry", data={"key": key, "csrf_token": csrf_token(admin_client, "/jobs/")}
    )
    assert answer.status_code == 302
    with runtime.session() as session:
        run_row = session.scalars(select(ActionRun).where(ActionRun.key == key)).one()
        assert (run_row.status, run_row.attempts, run_row.error) == ("done", 2, "")
    assert get(runtime, "incident", record).assignee_id is not None
    assert key in admin_client.get("/jobs/?status=done").get_data(as_text=True)


def test_the_jobs_page_is_for_admins_only(app: Any, runtime: Any, people: Cast) -> None:
    publish(runtime, automation("ghost", "incident", {"on": "created"}, [{"do": "assign", "team": "ghosts"}]))
    incident(runtime, assignee=1)
    run(runtime)
    client = app.test_client()
    login(client, "pm", PASSWORD)
    assert client.get("/jobs/").status_code == 403
    with runtime.session() as session:
        key = session.scalars(select(ActionRun.key).where(ActionRun.automation == "ghost")).one()
    answer = client.post("/jobs/retry", data={"key": key, "csrf_token": csrf_token(client, "/approvals/")})
    assert answer.status_code == 403
    with runtime.session() as session:
        assert session.scalars(select(ActionRun.attempts).where(ActionRun.key == key)).one() == 1


# --- webhooks -----------------------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    seen: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((dict(self.headers), body))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("Handler", (Receiver,), {"answers": [], "seen": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", handler
    server.shutdown()
    server.server_close()


def test_a_webhook_is_signed_retried_with_backoff_and_logged(
    app: Any, runtime: Any, receiver: Any, monkeypatch: Any
) -> None:
    url, handler = receiver
    runtime.settings = replace(runtime.settings, webhook_allow=allow_list("127.0.0.1"))  # the receiver's
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    handler.answers = [500]
    publish(
        runtime,
        automation(
            "hook",
            "incident",
            {"on": "created"},
            [{"do": "webhook", "url": url, "secret_env": "HOOK_SECRET"}],
        ),
    )
    record = incident(runtime)
    run(runtime)
    with runtime.session() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 1, 500)
    tick(runtime, NOW, NOW + dt.timedelta(seconds=30))  # too early for the retry
    assert len(handler.seen) == 1
    tick(runtime, NOW + dt.timedelta(seconds=30), NOW + dt.timedelta(minutes=2))
    with runtime.session() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert (delivery.status, delivery.attempts) == ("delivered", 2)
    headers, body = handler.seen[-1]
    expected = hmac.new(
        b"s3cret", headers["X-Itpm-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-Itpm-Signature"] == f"sha256={expected}"
    assert headers["X-Itpm-Event"] == "created"
    payload = json.loads(body)
    assert (
        payload["data"]["record"]["id"] == record and payload["data"]["record"]["data"]["title"] == "VPN down"
    )
    assert handler.seen[0][1] == body  # the same bytes on every attempt


# --- definitions --------------------------------------------------------------------------------

BAD = [
    ("a trigger nobody knows", {"trigger": {"on": "tuesday"}}, "/trigger/on", "must be one of"),
    ("a cron that is not one", {"trigger": {"on": "schedule", "cron": "every monday"}}, "/trigger/cron", "is not a cron schedule"),
    ("a time zone that is not one", {"trigger": {"on": "schedule", "cron": "0 9 * * 1", "time_zone": "Mars/Base"}},
     "/trigger/time_zone", "is not a time zone"),
    ("a field the record type lacks", {"trigger": {"on": "field_changed", "field": "colour"}}, "/trigger/field", "names no field: 'colour'"),
    ("a state the workflow lacks", {"trigger": {"on": "state_entered", "state": "frozen"}}, "/trigger/state", "names no state"),
    ("an action without what to do", {"actions": [{"team": "x"}]}, "/actions/0/do", "is required"),
    ("a notification to an unknown role", {"actions": [{"do": "notify", "to": [{"role": "king"}], "subject": {"en": "x", "zh": "x"}}]},
     "/actions/0/to/0/role", "names no role: 'king'"),
    ("a field to set that does not exist", {"actions": [{"do": "set", "fields": {"colour": "red"}}]}, "/actions/0/fields/colour", "names no field"),
    ("a record type to create that does not exist", {"actions": [{"do": "create", "record_type": "ghost", "data": {}}]},
     "/actions/0/record_type", "names no record type"),
    ("a report parameter the report lacks", {"actions": [{"do": "report", "report": "client_status", "params": {"year": 2026}}]},
     "/actions/0/params/year", "is not a parameter"),
    ("a transition the workflow lacks", {"actions": [{"do": "transition", "name": "teleport"}]}, "/actions/0/name", "names no transition"),
    ("an expression that calls eval", {"expression": "eval('1')"}, "/expression", ""),
    ("a webhook that is not http", {"actions": [{"do": "webhook", "url": "file:///etc/passwd"}]}, "/actions/0/url", ""),
    ("a delay of no time", {"actions": [{**comment("x"), "after": {"minutes": 0}}]}, "/actions/0/after/minutes", ""),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "path", "words"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_automation_is_refused_with_the_path_named(
    changes: dict[str, Any], path: str, words: str
) -> None:
    from itpm.definitions.checks import check_configuration
    from itpm.definitions.documents import Document, read_documents
    from itpm.definitions.meta import MetaSchemas
    from itpm.installation import STARTER_PACK

    pack, _ = read_documents(STARTER_PACK)
    body = {**automation("bad", "incident", {"on": "created"}, [comment("x")]), **changes}
    document = Document("workflows/automations/bad.json", body)
    found = check_configuration([*pack, document], MetaSchemas(), only=[document])
    assert any(p.path == path and words in str(p.message) for p in found), [
        (p.path, str(p.message)) for p in found
    ]
