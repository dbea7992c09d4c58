"""SLA clocks on tickets: kept on the record as it changes, escalated by the scheduler, shown everywhere.

The starter incident SLA: Monday to Friday 09:00-12:00 and 13:00-18:00 in
Shanghai, except P1 which runs around the clock (24×7); P1 answers in 30 minutes and resolves in 4 hours, P2 in 1 and 8,
P3 in 4 and 24; a warning at 80 %; the clocks stand still while waiting.
Monday 16 March 2026 is an ordinary working day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import prison
import pytest
from sqlalchemy import select
from test_automations import comments, notified, run
from test_workflows import Cast, cast

from itpm.access import Actor
from itpm.automations.scheduler import tick
from itpm.models import OutboxEvent, Person
from itpm.records.service import Records
from itpm.workflows.engine import Workflows

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of March 2026, Shanghai time."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def runtime(app: Any) -> Any:
    return app.extensions["itpm"]


@pytest.fixture
def people(app: Any, runtime: Any) -> Cast:
    return cast(app, runtime)


def records_at(runtime: Any, now: dt.datetime) -> tuple[Any, Records]:
    session = runtime.sessions.session_factory()
    return session, Records(session, runtime.catalog(), Actor.system(), clock=lambda: now)


def open_incident(runtime: Any, people: Cast, now: dt.datetime, priority: str) -> int:
    session, records = records_at(runtime, now)
    record = records.create(
        "incident",
        {
            "title": "Payments down",
            "priority": priority,
            "category": "application",
            "project": people.project,
        },
        {"assignee": people.ids["dev"], "owner": people.ids["lead"]},
    )
    session.commit()
    session.close()
    return record.id


def change(
    runtime: Any, record_id: int, now: dt.datetime, transition: str | None = None, **data: Any
) -> None:
    session, records = records_at(runtime, now)
    if transition:
        Workflows(records).take("incident", record_id, transition, data)
    elif data:
        records.update("incident", record_id, data, records.get("incident", record_id).version)
    session.commit()
    session.close()


def sla(runtime: Any, record_id: int, now: dt.datetime) -> dict[str, Any]:
    session, records = records_at(runtime, now)
    try:
        return records.as_json(records.get("incident", record_id))["sla"]
    finally:
        session.close()


def local(text: str | None) -> str | None:
    return dt.datetime.fromisoformat(text).astimezone(SHANGHAI).strftime("%a %d %H:%M") if text else None


def test_a_new_ticket_has_its_clocks_due_at_once(runtime: Any, people: Cast) -> None:
    record = open_incident(runtime, people, at(16, 10), "P1")
    found = sla(runtime, record, at(16, 10, 10))
    assert (found["status"], local(found["due"]), found["breached"]) == ("on_track", "Mon 16 10:30", False)
    assert {
        n: (c["target_minutes"], local(c["due"]), c["minutes_left"]) for n, c in found["clocks"].items()
    } == {
        "first_response": (30, "Mon 16 10:30", 20),
        "resolution": (240, "Mon 16 14:00", 230),  # P1 runs around the clock: the lunch hour counts
    }


def test_the_scheduler_warns_then_escalates_once_each(runtime: Any, people: Cast) -> None:
    record = open_incident(runtime, people, at(16, 10), "P1")
    run(runtime, at(16, 10))
    assert tick(runtime, at(16, 10), at(16, 10, 20))["sla_checks"] == 0  # nothing due yet
    assert tick(runtime, at(16, 10, 20), at(16, 10, 25))["sla_checks"] == 1  # 80 % of 30 minutes: 10:24
    run(runtime, at(16, 10, 25))
    assert notified(runtime, people.ids["dev"]) == [
        "分配给您：INC-2026-00001 Payments down",  # the platform's notice of the assignment
        "SLA 预警：INC-2026-00001 Payments down",
    ]
    assert sla(runtime, record, at(16, 10, 25))["status"] == "at_risk"
    tick(runtime, at(16, 10, 25), at(16, 10, 31))
    tick(runtime, at(16, 10, 31), at(16, 10, 40))  # a second look finds nothing new
    run(runtime, at(16, 10, 31))
    breached = "SLA 已超时：INC-2026-00001 Payments down"
    assert notified(runtime, people.ids["dev"])[2:] == [breached]
    assert notified(runtime, people.ids["lead"]) == [breached]  # the owner
    assert notified(runtime, people.ids["pm"]) == [breached]  # a project manager who sees the incident
    assert len(comments(runtime, "incident", record)) == 1  # the starter rule noting the breach
    with runtime.session() as session:
        kinds = session.scalars(
            select(OutboxEvent.kind).where(OutboxEvent.kind.like("sla_%")).order_by(OutboxEvent.id)
        ).all()
    assert kinds == ["sla_warning", "sla_breach"]
    found = sla(runtime, record, at(16, 10, 40))
    assert (found["status"], found["breached"], found["clocks"]["first_response"]["minutes_left"]) == (
        "breached",
        True,
        -10,
    )


def test_answering_stops_the_first_clock_and_resolving_the_second(runtime: Any, people: Cast) -> None:
    record = open_incident(runtime, people, at(16, 10), "P2")
    change(runtime, record, at(16, 10, 20), "take")
    found = sla(runtime, record, at(16, 10, 30))
    assert found["clocks"]["first_response"]["status"] == "met"
    assert local(found["due"]) == "Tue 17 10:00"  # now the resolution's: 8 business hours from Monday 10:00
    change(runtime, record, at(16, 15), root_cause="A full disk")
    change(
        runtime,
        record,
        at(16, 16),
        "resolve",
        resolution="Restarted the gateway",
        resolved_at="2026-03-16T16:00:00+08:00",
    )
    found = sla(runtime, record, at(17, 12))
    assert (found["status"], found["due"], found["breached"]) == ("met", None, False)
    assert found["clocks"]["resolution"]["elapsed_minutes"] == 300
    assert tick(runtime, at(16, 16), at(20, 18))["sla_checks"] == 0  # a met ticket is not looked at again


def test_waiting_for_the_client_pauses_and_a_new_priority_keeps_the_pause(runtime: Any, people: Cast) -> None:
    record = open_incident(runtime, people, at(16, 10), "P3")
    change(runtime, record, at(16, 10, 10), "take")
    change(runtime, record, at(16, 11), "wait")
    paused = sla(runtime, record, at(17, 15))
    assert (paused["status"], paused["due"]) == ("paused", None)
    assert paused["clocks"]["resolution"]["status"] == "paused"
    change(runtime, record, at(18, 10), priority="P2")  # raised while waiting
    change(runtime, record, at(18, 11), "resume")
    found = sla(runtime, record, at(18, 11))
    clock = found["clocks"]["resolution"]
    # waited Monday 11:00-18:00 less lunch (6 h), Tuesday (8 h) and Wednesday 09:00-11:00 (2 h): 16 hours
    assert clock["paused_minutes"] == 16 * 60
    # one hour counted before the pause; P2 resolves in 8: 7 more from Wednesday 11:00 is Thursday 10:00
    assert (clock["target_minutes"], local(clock["due"]), clock["elapsed_minutes"]) == (
        480,
        "Thu 19 10:00",
        60,
    )


def test_raising_a_ticket_to_p1_replans_its_clock_around_the_clock_keeping_the_pause(
    runtime: Any, people: Cast
) -> None:
    record = open_incident(runtime, people, at(16, 10), "P2")
    change(runtime, record, at(16, 10, 10), "take")
    change(runtime, record, at(16, 10, 30), "wait")
    change(runtime, record, at(16, 17), priority="P1")  # raised while waiting, late in the day
    change(runtime, record, at(16, 17, 30), "resume")
    clock = sla(runtime, record, at(16, 17, 30))["clocks"]["resolution"]
    # 30 minutes counted on business hours before the pause; the pause (10:30-17:00 less lunch, then
    # 17:00-17:30 around the clock) is kept; P1's 4 hours run on through the evening
    assert (clock["elapsed_minutes"], clock["paused_minutes"]) == (30, 330 + 30)
    assert (clock["target_minutes"], local(clock["due"]), clock["around_the_clock"]) == (
        240,
        "Mon 16 21:00",
        True,
    )
    assert clock["minutes_left"] == 210


def test_lists_filter_by_the_sla_and_the_page_shows_the_clocks(
    runtime: Any, people: Cast, admin_client: Any, admin_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    late = open_incident(runtime, people, at(16, 10), "P1")
    calm = open_incident(runtime, people, at(16, 10), "P4")
    now = dt.datetime.now(dt.UTC)
    tick(runtime, now - dt.timedelta(minutes=1), now)  # long after March: the P1 has breached, the P4 too
    change(runtime, calm, now, "take")
    listing = admin_client.get("/records/incident/list/").get_data(as_text=True)
    assert "SLA due" in listing and "itpm-sla-breached" in listing
    breached = admin_client.get("/records/incident/list/?_flt_0_sla_status=breached").get_data(as_text=True)
    assert "INC-2026-00001" in breached
    shown = admin_client.get(f"/records/incident/show/{late}")
    assert shown.status_code == 200, shown.status_code
    page = shown.get_data(as_text=True)
    assert 'id="sla"' in page and "Service level" in page and "First response" in page and "overdue" in page
    answer = admin_api.get(
        f"/api/v1/records/incident/?q={prison.dumps({'filters': [{'col': 'sla_breached', 'opr': 'eq', 'value': True}]})}"
    )
    assert answer.status_code == 200, answer.get_json()
    assert {r["number"] for r in answer.get_json()["result"]} == {"INC-2026-00001", "INC-2026-00002"}
    # a P1 at 02:44 at night: its clock runs around the clock, so the list (table and phone card) says
    # 30 min left, as the record page and the API do, not the 0 min of business time
    night = open_incident(runtime, people, at(17, 2, 44), "P1")
    monkeypatch.setattr("itpm.web.record_display.utcnow", lambda: at(17, 2, 44).astimezone(dt.UTC))
    minutes = sla(runtime, night, at(17, 2, 44))["clocks"]["first_response"]["minutes_left"]
    assert minutes == 30
    listing = admin_client.get("/records/incident/list/?_l_=en").get_data(as_text=True)
    row = listing[listing.index("INC-2026-00003", listing.index("<table")) :]
    card = listing[listing.index("INC-2026-00003") :]
    for shown in (row, card):
        assert f'2026-03-17 03:14 <small class="text-muted">{minutes} min left</small>' in shown[:3000]


def test_a_person_without_a_read_right_hears_nothing_of_a_breach(runtime: Any, people: Cast) -> None:
    with (
        runtime.session() as session
    ):  # the project manager leaves the department: the incident is not theirs to see
        session.get(Person, people.ids["pm"]).department_id = None
        session.commit()
    open_incident(runtime, people, at(16, 10), "P1")
    tick(runtime, at(16, 10), at(16, 10, 31))
    run(runtime, at(16, 10, 31))
    assert notified(runtime, people.ids["lead"]) != []
    assert notified(runtime, people.ids["pm"]) == []


def test_a_clock_read_again_is_no_change_of_the_record_in_the_audit_trail(runtime: Any, people: Cast) -> None:
    """The scheduler's SLA checks keep the record's SLA summary (status, due, breached) up to date; that
    writes no audit entry on either database (on PostgreSQL the triggers leave those columns out), while
    the record's own changes are entries as before."""
    from itpm.models import AuditEntry

    def logged() -> list[str]:
        with runtime.session() as session:
            return list(
                session.scalars(
                    select(AuditEntry.action)
                    .where(AuditEntry.target == f"incident/{record}")
                    .order_by(AuditEntry.id)
                )
            )

    record = open_incident(runtime, people, at(16, 10), "P1")
    before = logged()
    assert tick(runtime, at(16, 10, 20), at(16, 10, 25))["sla_checks"] == 1  # the warning: at_risk now
    assert sla(runtime, record, at(16, 10, 25))["status"] == "at_risk"
    assert logged() == before
    session, records = records_at(runtime, at(16, 10, 26))
    records.update("incident", record, {"impact": "high"}, records.get("incident", record).version)
    session.commit()
    session.close()
    assert len(logged()) == len(before) + 1
