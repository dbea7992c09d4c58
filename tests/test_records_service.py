"""The records service on SQLite and PostgreSQL: validation, references, numbering, locking, history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from itpm.access import Actor
from itpm.models import RecordEvent
from itpm.records.service import Conflict, Invalid, NotFound, Records

ADMIN = Actor(1, "admin", frozenset({"admin"}))
NOON = dt.datetime(2026, 3, 14, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai


@pytest.fixture
def records(runtime: Any) -> Iterator[Records]:
    with runtime.session() as session:
        yield Records(session, runtime.catalog(), ADMIN, clock=lambda: NOON)


def project(records: Records, **data: Any) -> Any:
    values = {
        "name": "Core banking upgrade",
        "project_type": "implementation",
        "phase": "planning",
        "start_date": "2026-01-05",
        "due_date": "2026-09-30",
        **data,
    }
    return records.create("project", values)


def incident(records: Records, **data: Any) -> Any:
    return records.create("incident", {"title": "VPN down", "priority": "P3", "category": "network", **data})


def problems(error: pytest.ExceptionInfo[Invalid]) -> dict[str, str]:
    return {p.path: str(p.message) for p in error.value.problems}


def test_a_record_is_numbered_by_its_pattern_and_period(records: Records) -> None:
    first, second = incident(records), incident(records)
    assert (first.number, second.number) == ("INC-2026-00001", "INC-2026-00002")
    assert project(records).number == "PRJ-2026-001"


def test_numbers_restart_each_year(runtime: Any) -> None:
    with runtime.session() as session:
        last_year = Records(
            session, runtime.catalog(), ADMIN, clock=lambda: dt.datetime(2025, 12, 31, 15, 59, tzinfo=dt.UTC)
        )
        this_year = Records(
            session, runtime.catalog(), ADMIN, clock=lambda: dt.datetime(2025, 12, 31, 16, 1, tzinfo=dt.UTC)
        )
        assert incident(last_year).number == "INC-2025-00001"
        assert incident(this_year).number == "INC-2026-00001"  # midnight in Shanghai has passed


def test_every_problem_is_reported_at_once_by_json_path(records: Records) -> None:
    with pytest.raises(Invalid) as refused:
        records.create(
            "incident",
            {
                "title": "x" * 201,
                "priority": "P9",
                "impact": 3,
                "occurred_at": "yesterday",
                "colour": "red",
            },
        )
    assert problems(refused) == {
        "/data/title": "must be at most 200 characters long",
        "/data/priority": 'must be one of "P1", "P2", "P3", "P4"; got "P9"',
        "/data/impact": "must be of type string; got 3",
        "/data/occurred_at": "must be a date and time with its offset, e.g. 2026-03-14T09:30:00+08:00",
        "/data/colour": "is not a field of incident",
        "/data/category": "is required",
    }
    assert records.session.scalar(select(func.count()).select_from(RecordEvent)) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("estimate_hours", "eight", "must be of type number"),
        ("estimate_hours", -1, "must be at least 0"),
        ("estimate_hours", 10001, "must be at most 10000"),
        ("progress", 50.5, "must be of type integer"),
        ("progress", True, "must be of type integer"),
        ("milestone", "yes", "must be of type boolean"),
        ("due_date", "2026-02-30", "must be a date (YYYY-MM-DD)"),
        ("due_date", "30/01/2026", "must be a date (YYYY-MM-DD)"),
        ("priority", "urgent", "must be one of"),
        ("depends_on", [1, 1], "must not repeat an item"),
        ("depends_on", "1,2", "must be of type array"),
    ],
)
def test_wrong_values_are_refused_with_the_field_named(
    records: Records, field: str, value: Any, message: str
) -> None:
    parent = project(records)
    with pytest.raises(Invalid) as refused:
        records.create("task", {"title": "Install", "project": parent.id, field: value})
    assert message in problems(refused)[f"/data/{field}"]


def test_references_must_name_existing_records(records: Records) -> None:
    with pytest.raises(Invalid) as refused:
        records.create("task", {"title": "Install", "project": 999, "depends_on": [998, 997]})
    assert problems(refused) == {
        "/data/project": "there is no project with id 999",
        "/data/depends_on": "there is no task with id 997, 998",
    }


def test_a_person_picked_must_be_an_active_user(records: Records) -> None:
    with pytest.raises(Invalid) as refused:
        records.create(
            "project",
            {
                "name": "P",
                "project_type": "outsourcing",
                "phase": "initiation",
                "start_date": "2026-01-01",
                "due_date": "2026-02-01",
                "manager": 4242,
            },
        )
    assert problems(refused) == {"/data/manager": "there is no active user with id 4242"}
    with pytest.raises(Invalid) as refused:
        incident(records) and records.create(
            "incident", {"title": "x", "priority": "P1", "category": "network"}, {"assignee": 4242}
        )
    assert problems(refused) == {"/assignee": "there is no active user with id 4242"}


def test_markup_in_text_is_kept_as_text(records: Records) -> None:
    record = incident(records, title="<script>alert('x')</script>", description="<b>bold</b> & <i>more</i>")
    assert records.data(record)["title"] == "<script>alert('x')</script>"
    assert records.data(record)["description"] == "<b>bold</b> & <i>more</i>"


def test_a_task_belongs_to_its_projects_client_and_department(records: Records) -> None:
    client = records.create("customer", {"name": "Acme Bank"})
    assert client.client_id == client.id
    parent = project(records)
    records.update("project", parent.id, {}, 1, {"client": client.id})
    task = records.create("task", {"title": "Install", "project": parent.id})
    assert task.client_id == client.id


def test_defaults_conditions_and_required_when(records: Records) -> None:
    # root_cause is shown for P1/P2 only, and required once such an incident is resolved
    open_p1 = incident(records, priority="P1")
    with pytest.raises(Invalid) as refused:
        records.update("incident", open_p1.id, {"resolved_at": "2026-03-14T09:00:00+08:00"}, 1)
    assert problems(refused) == {"/data/root_cause": "is required"}
    resolved = records.update(
        "incident",
        open_p1.id,
        {"resolved_at": "2026-03-14T09:00:00+08:00", "root_cause": "Expired certificate"},
        1,
    )
    assert records.data(resolved)["resolved_at"] == "2026-03-14T01:00:00Z"
    p3 = incident(records, priority="P3", resolved_at="2026-03-14T09:00:00Z")  # not required for P3
    assert records.data(p3)["root_cause"] is None


def test_a_stale_version_is_refused_and_nothing_is_overwritten(records: Records) -> None:
    record = incident(records)
    records.update("incident", record.id, {"priority": "P1"}, 1)
    with pytest.raises(Conflict) as conflict:
        records.update("incident", record.id, {"priority": "P4"}, 1)
    assert conflict.value.status == 409
    assert conflict.value.current["version"] == 2
    assert conflict.value.current["data"]["priority"] == "P1"
    assert records.data(records.get("incident", record.id))["priority"] == "P1"


def test_an_update_without_a_version_is_refused(records: Records) -> None:
    record = incident(records)
    with pytest.raises(Invalid) as refused:
        records.update("incident", record.id, {"priority": "P1"}, None)
    assert problems(refused) == {"/version": "is required"}


def test_history_records_who_changed_what(records: Records) -> None:
    record = incident(records)
    records.update("incident", record.id, {"priority": "P2", "affected_service": "VPN"}, 1)
    history = records.history("incident", record.id)
    assert [e["action"] for e in history] == ["updated", "created"]
    assert history[0]["actor"] == "admin"
    assert history[0]["changes"] == [
        {"path": "/data/affected_service", "old": None, "new": "VPN"},
        {"path": "/data/priority", "old": "P3", "new": "P2"},
    ]


def test_an_update_that_changes_nothing_makes_no_version(records: Records) -> None:
    record = incident(records)
    again = records.update("incident", record.id, {"priority": "P3"}, 1)
    assert again.version == 1
    assert len(records.history("incident", record.id)) == 1


def test_a_referenced_record_cannot_be_deleted(records: Records) -> None:
    parent = project(records)
    records.create("task", {"title": "Install", "project": parent.id})
    with pytest.raises(Conflict) as refused:
        records.delete("project", parent.id)
    assert "1 task record(s) refer to it" in str(refused.value.message)
    assert records.get("project", parent.id)


def test_deleting_keeps_the_history(records: Records) -> None:
    record = incident(records)
    records.delete("incident", record.id, 1)
    with pytest.raises(NotFound):
        records.get("incident", record.id)
    actions = records.session.scalars(
        select(RecordEvent.action).where(
            RecordEvent.record_id == record.id, RecordEvent.record_type == "incident"
        )
    )
    assert list(actions) == ["created", "deleted"]


def test_rich_text_is_sanitised(runtime: Any) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        body = registry.published_body(registry.get("record_type", "incident"))
        body["schema"]["properties"]["notes"] = {
            "type": "string",
            "contentMediaType": "text/html",
            "title": "Notes",
            "x-title-zh": "备注",
        }
        registry.save_draft(body, "admin")
        registry.publish([("record_type", "incident")], "admin")
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN)
        record = incident(
            records, notes='<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:x">l</a></p>'
        )
        assert records.data(record)["notes"] == '<p>Hi <a rel="noopener noreferrer">l</a></p>'


def test_page_with_count_search_and_order(records: Records) -> None:
    for title in ("Mail slow", "VPN down", "Mail bounced", "Printer jam"):
        incident(records, title=title)
    model = records.model("incident")
    count, rows = records.page(
        "incident", [records.search_condition("incident", "mail")], [model.title.asc()], 0, 1
    )
    assert count == 2
    assert [r.title for r in rows] == ["Mail bounced"]
    count, rows = records.page(
        "incident", [records.search_condition("incident", "INC-2026-0000")], page_size=10
    )
    assert count == 4


def test_search_text_is_not_a_pattern(records: Records) -> None:
    incident(records, title="100% down")
    incident(records, title="1000 errors")
    count, _rows = records.page("incident", [records.search_condition("incident", "100%")])
    assert count == 1
