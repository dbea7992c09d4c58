"""The daily digest at each person's morning, and reports rendered and sent by the scheduler.

Mail goes to a real SMTP server on loopback (aiosmtpd).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update
from test_notifications import Inbox, inbox  # noqa: F401 - the SMTP server fixture
from test_workflows import Cast, cast

from itpm.access import Actor
from itpm.automations.digest import send_digests
from itpm.automations.scheduler import tick
from itpm.models import Notification, Person, StoredFile
from itpm.records.service import Records
from itpm.workflows.engine import Workflows


@pytest.fixture
def runtime(app: Any) -> Any:
    return app.extensions["itpm"]


@pytest.fixture
def people(app: Any, runtime: Any) -> Cast:
    return cast(app, runtime)


@pytest.fixture
def mailed(runtime: Any, inbox: tuple[Inbox, int]) -> Inbox:  # noqa: F811
    found, port = inbox
    runtime.settings = replace(
        runtime.settings, smtp_host="127.0.0.1", smtp_port=port, base_url="https://itpm.example.com"
    )
    return found


def work_for(runtime: Any, people: Cast) -> None:
    """The PM has two open tasks (one overdue) and a closed one; the engineer has an open incident."""
    session = runtime.sessions.session_factory()
    records = Records(
        session, runtime.catalog(), Actor.system(), clock=lambda: dt.datetime(2026, 3, 16, 1, tzinfo=dt.UTC)
    )
    pm, dev = {"assignee": people.ids["pm"]}, {"assignee": people.ids["dev"]}
    records.create(
        "task", {"title": "Write the charter", "project": people.project, "due_date": "2026-03-13"}, pm
    )
    records.create(
        "task", {"title": "Plan the cut-over", "project": people.project, "due_date": "2026-03-27"}, pm
    )
    done = records.create("task", {"title": "Kick-off", "project": people.project}, pm)
    Workflows(records).take("task", done.id, "start")
    Workflows(records).take("task", done.id, "finish")
    records.create("incident", {"title": "Payments down", "priority": "P2", "category": "application"}, dev)
    session.commit()
    session.close()
    with runtime.session() as session:  # the engineer works from Berlin, in English
        session.execute(
            update(Person).where(Person.id == people.ids["dev"]).values(timezone="Europe/Berlin", locale="en")
        )
        session.commit()


def test_each_member_gets_their_digest_at_eight_in_their_own_time_zone(
    runtime: Any, people: Cast, mailed: Inbox
) -> None:
    work_for(runtime, people)
    shanghai_eight = dt.datetime(2026, 3, 17, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai; 01:00 in Berlin
    assert send_digests(runtime, shanghai_eight - dt.timedelta(minutes=1), shanghai_eight) == 1
    [message] = mailed.to("pm@itpm.invalid")
    assert message["Subject"] == "今日待办：2 项，其中 1 项已逾期"
    body = message.get_body(("plain",)).get_content()
    assert body.index("Write the charter") < body.index("Plan the cut-over")  # the overdue one first
    assert "Kick-off" not in body and "https://itpm.example.com/records/task/show/1" in body
    assert mailed.to("dev@itpm.invalid") == []
    berlin_eight = dt.datetime(2026, 3, 17, 7, 0, tzinfo=dt.UTC)
    assert send_digests(runtime, shanghai_eight, berlin_eight) == 1
    [message] = mailed.to("dev@itpm.invalid")
    assert (
        message["Subject"] == "Your open work today: 1 item, 1 overdue"
    )  # its first response was due on Monday
    assert "Payments down" in message.get_body(("plain",)).get_content()
    send_digests(runtime, shanghai_eight - dt.timedelta(hours=1), berlin_eight)  # the same mornings again
    assert len(mailed.received) == 2
    with runtime.session() as session:  # the bell has them too
        assert (
            session.scalar(select(Notification.subject).where(Notification.person_id == people.ids["dev"]))
            == message["Subject"]
        )
    assert [mailed.to(f"{n}@itpm.invalid") for n in ("lead", "cfo", "boss")] == [
        [],
        [],
        [],
    ]  # nothing open: no digest


def test_the_monthly_status_report_is_rendered_kept_and_sent_per_language(
    runtime: Any, people: Cast, mailed: Inbox
) -> None:
    session = runtime.sessions.session_factory()
    records = Records(session, runtime.catalog(), Actor.system())
    project = records.get("project", people.project)
    records.update("project", people.project, {"phase": "execution"}, project.version)
    session.commit()
    session.close()
    with runtime.session() as session:  # the PM reads English
        session.execute(update(Person).where(Person.id == people.ids["pm"]).values(locale="en"))
        session.commit()
    first_of_april = dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai
    done = tick(runtime, first_of_april - dt.timedelta(minutes=1), first_of_april)
    assert done["schedules"] == 1
    with runtime.session() as session:
        files = session.scalars(
            select(StoredFile).where(StoredFile.record_type == "project").order_by(StoredFile.id)
        ).all()
        assert [f.filename for f in files] == [f"client_status-2026-03-{people.project}-en-v1.pdf"]
        path = runtime.settings.instance_path / "files" / files[0].sha256[:2] / files[0].sha256
    [message] = mailed.to("pm@itpm.invalid")
    assert message["Subject"] == "Report: Client project status report"
    assert f"/reports/file/{files[0].id}" in message.get_body(("plain",)).get_content()
    text = "".join(page.extract_text() for page in PdfReader(path).pages)
    assert "Core banking" in text and "2026-03" in text
    tick(
        runtime, first_of_april - dt.timedelta(minutes=1), first_of_april
    )  # a second scheduler: nothing more
    assert len(mailed.to("pm@itpm.invalid")) == 1
