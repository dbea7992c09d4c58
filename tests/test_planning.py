"""Planning: the schedule logic (moves, critical path), the load figure, and the screens and API over them.

The pure parts are tested by example; one SQLite world (a project with a chain of tasks, people
with capacity and leave, timesheets) serves the API, the screens, access and the shared load figure.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from test_workflows import PASSWORD, Cast, cast

from conftest import csrf_token, databases, login, settings_for
from itpm.access import Actor
from itpm.automations.assignment import LEAST_WORK, next_assignee
from itpm.db import utcnow
from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import Document
from itpm.models import Person, RecordEvent
from itpm.planning.schedule import ScheduleError, Task, TooEarly, critical_path, move
from itpm.planning.service import candidates, current_week, members_of_team, team_weeks
from itpm.planning.workload import (
    Capacity,
    Load,
    PlannedWork,
    load_between,
    parse_leave,
    planned_by_day,
    weeks_from,
)
from itpm.records.fields import RecordTypeSpec
from itpm.records.service import Records
from itpm.web.app import create_app
from itpm.workflows.engine import company_calendar

D = dt.date
DAY = dt.timedelta(days=1)
SHANGHAI = company_calendar("Asia/Shanghai")


# --- the schedule -------------------------------------------------------------------------------


def chain() -> list[Task]:
    """Design (1) → Build (2) → Test (3) → Go-live milestone (4); Docs (5) beside, after Design."""
    return [
        Task(1, D(2026, 3, 2), D(2026, 3, 6)),
        Task(2, D(2026, 3, 9), D(2026, 3, 20), (1,)),
        Task(3, D(2026, 3, 23), D(2026, 3, 27), (2,)),
        Task(4, D(2026, 3, 27), D(2026, 3, 27), (3,), milestone=True),
        Task(5, D(2026, 3, 9), D(2026, 3, 10), (1,)),
    ]


def test_moving_a_task_later_pushes_its_dependants_to_working_days_keeping_their_work() -> None:
    moved = move(chain(), 2, D(2026, 3, 11), D(2026, 3, 24))  # Build starts 2 days late, lasts 2 more
    assert moved == {
        2: Task(2, D(2026, 3, 11), D(2026, 3, 24), (1,)),
        3: Task(3, D(2026, 3, 25), D(2026, 3, 31), (2,)),  # Wednesday: five working days to Tuesday
        4: Task(
            4, D(2026, 3, 31), D(2026, 3, 31), (3,), milestone=True
        ),  # a milestone: the day its task ends
    }
    # National Day: pushed from 30 September, the next working day is 8 October
    holidays = company_calendar("Asia/Shanghai")
    plan = [Task(1, D(2026, 9, 28), D(2026, 9, 29)), Task(2, D(2026, 9, 30), D(2026, 9, 30), (1,))]
    assert move(plan, 1, D(2026, 9, 29), D(2026, 9, 30), lambda d: bool(holidays.hours_on(d)))[2].start == D(
        2026, 10, 8
    )


def test_a_dependant_with_room_stays_and_moving_earlier_moves_nobody_else() -> None:
    roomy = [
        *chain()[:2],
        Task(3, D(2026, 3, 25), D(2026, 3, 31), (2,)),
        Task(4, D(2026, 3, 31), D(2026, 3, 31), (3,), True),
    ]
    assert set(move(roomy, 2, D(2026, 3, 9), D(2026, 3, 23))) == {2}  # Test starts the 25th: room enough
    assert set(move(chain(), 1, D(2026, 3, 2), D(2026, 3, 5))) == {1}
    assert move(chain(), 5, D(2026, 3, 11), D(2026, 3, 12)) == {
        5: Task(5, D(2026, 3, 11), D(2026, 3, 12), (1,))
    }
    assert move(chain(), 3, D(2026, 3, 23), D(2026, 3, 27)) == {}


def test_bad_moves_and_loops_are_refused_naming_the_tasks() -> None:
    with pytest.raises(ScheduleError, match="task 2 would be due"):
        move(chain(), 2, D(2026, 3, 9), D(2026, 3, 8))
    with pytest.raises(ScheduleError, match="no task 99"):
        move(chain(), 99, D(2026, 3, 9), D(2026, 3, 9))
    loop = [
        Task(1, D(2026, 1, 1), D(2026, 1, 2), (2,)),
        Task(2, D(2026, 1, 3), D(2026, 1, 4), (1,)),
        Task(3, D(2026, 1, 1), D(2026, 1, 1)),
    ]
    with pytest.raises(ScheduleError, match=r"loop: \[1, 2\]"):
        critical_path(loop)


def test_the_critical_path_is_the_chain_without_slack() -> None:
    assert critical_path(chain()) == {1, 2, 3, 4}
    after = {t.id: t for t in chain()} | move(chain(), 5, D(2026, 3, 9), D(2026, 4, 2))  # Docs now ends last
    assert critical_path(after.values()) == {1, 5}
    assert critical_path([]) == set()


@st.composite
def plans(draw: Any) -> tuple[list[Task], int, int, int]:
    """A plan whose dependencies hold, a task of it and how far to move and stretch it."""
    count = draw(st.integers(2, 12))
    tasks: list[Task] = []
    for n in range(1, count + 1):
        before = draw(st.lists(st.sampled_from(range(1, n)), unique=True, max_size=3)) if n > 1 else []
        earliest = max((tasks[b - 1].due + DAY for b in before), default=D(2026, 3, 2))
        start = earliest + draw(st.integers(0, 5)) * DAY
        tasks.append(Task(n, start, start + draw(st.integers(0, 6)) * DAY, tuple(before)))
    return tasks, draw(st.integers(1, count)), draw(st.integers(-5, 15)), draw(st.integers(0, 5))


@settings(max_examples=150, deadline=None)
@given(plans())
def test_after_a_move_every_dependency_holds_and_only_dependants_moved(
    case: tuple[list[Task], int, int, int],
) -> None:
    tasks, moved, shift, stretch = case
    task = tasks[moved - 1]
    start = task.start + shift * DAY
    try:
        changes = move(tasks, moved, start, task.due + (shift + stretch) * DAY)
    except TooEarly as early:  # refused only when it would start before what it waits for is done
        assert early.task == moved and start < early.earliest == tasks[early.waits_for - 1].due + DAY
        return
    after = {t.id: t for t in tasks} | changes
    downstream = {moved}
    for t in tasks:  # ids ascend with the order of dependencies
        if downstream & set(t.depends_on):
            downstream.add(t.id)
    assert set(changes) <= downstream
    for t in after.values():
        if t.id in downstream:
            assert all(t.start >= after[b].due + DAY for b in t.depends_on), t
    for t_id, t in changes.items():
        if t_id != moved:
            assert t.start.weekday() < 5 and t.start > {x.id: x for x in tasks}[t_id].start


# --- the load figure ----------------------------------------------------------------------------


def test_capacity_follows_the_chinese_calendar_and_leave() -> None:
    capacity = Capacity(SHANGHAI, 40.0)
    assert capacity.hours_between(D(2026, 3, 16), D(2026, 3, 22)) == 40.0
    # National Day 2026: 1-7 October are holidays
    assert capacity.hours_between(D(2026, 9, 28), D(2026, 10, 4)) == 24.0
    assert capacity.hours_between(D(2026, 10, 5), D(2026, 10, 11)) == 24.0  # Saturday 10 October is worked
    on_leave = Capacity(SHANGHAI, 30.0, parse_leave("2026-03-17..2026-03-18; 2026-03-20"))
    assert on_leave.hours_between(D(2026, 3, 16), D(2026, 3, 22)) == 12.0


def test_an_estimate_is_spread_over_the_working_days_of_its_dates() -> None:
    work = PlannedWork(30.0, D(2026, 3, 19), D(2026, 3, 25))  # Thu..Wed: 5 working days, 6 h each
    spread = planned_by_day(work, Capacity(SHANGHAI))
    assert sorted(spread) == [D(2026, 3, 19), D(2026, 3, 20), D(2026, 3, 23), D(2026, 3, 24), D(2026, 3, 25)]
    load = load_between(
        D(2026, 3, 16), D(2026, 3, 22), Capacity(SHANGHAI, 10.0), [work], 3, [(D(2026, 3, 16), 7.5)]
    )
    assert load == Load(open_items=3, planned_hours=12.0, capacity_hours=10.0, actual_hours=7.5)
    assert load.over and load.share == pytest.approx(1.2)
    assert planned_by_day(PlannedWork(8.0, None, D(2026, 3, 21)), Capacity(SHANGHAI)) == {D(2026, 3, 21): 8.0}
    assert Load(planned_hours=1.0).share == float("inf") and Load().share == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-13-01", "'2026-13-01' is not a day"),
        ("2026-03-10..2026-03-01", "ends before it begins"),
        ("next week", "is not a day"),
    ],
)
def test_leave_that_does_not_read_is_refused_naming_the_part(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_leave(f"2026-03-02, {text}")


def test_least_work_prefers_the_smaller_share_of_capacity_then_fewer_items() -> None:
    now = dt.datetime(2026, 3, 16, 2, tzinfo=dt.UTC)
    from itpm.automations.assignment import Candidate

    busy = Candidate(1, SHANGHAI, Load(open_items=1, planned_hours=36, capacity_hours=40))
    free = Candidate(2, SHANGHAI, Load(open_items=5, planned_hours=10, capacity_hours=40))
    part_time = Candidate(3, SHANGHAI, Load(open_items=0, planned_hours=10, capacity_hours=20))
    assert next_assignee([busy, free, part_time], LEAST_WORK, now=now).id == 2


# --- definitions --------------------------------------------------------------------------------


def test_planning_names_fields_of_the_right_kind_or_the_definition_is_refused() -> None:
    from itpm.definitions.documents import read_documents
    from itpm.definitions.meta import MetaSchemas
    from itpm.installation import STARTER_PACK

    documents, _ = read_documents(STARTER_PACK)
    task = next(d for d in documents if d.kind == "record_type" and d.name == "task")
    project = next(d for d in documents if d.kind == "record_type" and d.name == "project")
    bad_task = Document(
        task.file, {**task.body, "planning": {"start": "title", "due": "nowhere", "depends_on": "parent"}}
    )
    bad_project = Document(
        project.file,
        {
            **project.body,
            "planning": {
                "baseline_state": "approved",
                "phase": "phase",
                "phase_ends": {"launch": "initiation_end", "planning": "name", "closing": "nowhere"},
            },
        },
    )
    others = [d for d in documents if d not in (task, project)]
    found = check_configuration([*others, bad_task, bad_project], MetaSchemas(), only=[bad_task, bad_project])
    problems = {(p.path, str(p.message)) for p in found}
    assert ("/planning/start", "'title' must be a date") in problems
    assert ("/planning/due", "names no field: 'nowhere'") in problems
    assert ("/planning/depends_on", "'parent' must be a list of references to this record type") in problems
    assert ("/planning/baseline_state", "names no state of this type's workflow: 'approved'") in problems
    assert ("/planning/phase_ends/launch", "'launch' is no choice of the phase field") in problems
    assert ("/planning/phase_ends/planning", "'name' must be a date") in problems
    assert ("/planning/phase_ends/closing", "names no field: 'nowhere'") in problems
    assert check_configuration(documents, MetaSchemas()) == []
    # the task names its due date once (`due`, as My work and the digest read it); planning reads it too
    assert "due" not in task.body["planning"] and RecordTypeSpec(task.body).planning["due"] == "due_date"
    assert {"start", "due"}.isdisjoint(RecordTypeSpec(project.body).planning)  # not planned work
    properties = task.body["schema"]["properties"]
    timed = {"type": "string", "format": "date-time", "title": "Due at", "x-title-zh": "截止时间"}
    timed_task = Document(
        task.file,
        {
            **task.body,
            "due": "due_at",
            "schema": {**task.body["schema"], "properties": {**properties, "due_at": timed}},
        },
    )
    found = check_configuration([*others, project, timed_task], MetaSchemas(), only=[timed_task])
    assert [(p.path, str(p.message)) for p in found] == [
        (
            "/due",
            "'due_at' must be a date: planning reads it as the day the work is due (or name a date in planning's due)",
        )
    ]


# --- the world: a project, its people and their work -------------------------------------------

ZONE = "Asia/Shanghai"


@pytest.fixture(scope="module")
def world(
    template_databases: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The cast of tests/test_workflows.py, and on their project: Design (dev) → Build and Docs (lead);
    dev works 20 h a week and is on leave one day of this week; dev booked 3 h today."""
    folder = tmp_path_factory.mktemp("planning")
    with databases(template_databases, folder) as make:
        app = create_app(settings_for(make("sqlite"), folder))
        runtime = app.extensions["itpm"]
        people: Cast = cast(app, runtime)
        today = utcnow().astimezone(ZoneInfo(ZONE)).date()
        monday = today - dt.timedelta(days=today.weekday())
        with runtime.session() as session:
            dev = session.get(Person, people.ids["dev"])
            dev.weekly_hours = 20.0
            dev.leave = f"{monday + dt.timedelta(days=2)}"
            session.commit()
            records = Records(session, runtime.catalog(), Actor.system())

            def task(
                title: str, start: dt.date, due: dt.date, who: str, hours: float, after: list[int] = ()
            ) -> int:
                data = {
                    "title": title,
                    "project": people.project,
                    "start_date": start.isoformat(),
                    "due_date": due.isoformat(),
                    "estimate_hours": hours,
                }
                if after:
                    data["depends_on"] = list(after)
                return records.create("task", data, {"assignee": people.ids[who]}).id

            design = task("Design", monday, monday + dt.timedelta(days=4), "dev", 40)
            build = task(
                "Build", monday + dt.timedelta(days=7), monday + dt.timedelta(days=11), "lead", 30, [design]
            )
            docs = task(
                "Docs", monday + dt.timedelta(days=7), monday + dt.timedelta(days=8), "lead", 8, [design]
            )
            records.create(
                "timesheet",
                {"project": people.project, "task": design, "work_date": today.isoformat(), "hours": 3},
                {"owner": people.ids["dev"]},
            )
            session.commit()
        yield {
            "app": app,
            "runtime": runtime,
            "people": people,
            "tasks": (design, build, docs),
            "monday": monday,
        }
        runtime.dispose()


def signed_in(world: dict[str, Any], who: str, lang: str = "en") -> Any:
    client = world["app"].test_client()
    login(client, who, PASSWORD)
    client.get(f"/lang/{lang}")
    return client


def test_assignment_and_the_workload_view_read_the_same_load(world: dict[str, Any]) -> None:
    runtime = world["runtime"]
    now = utcnow()
    with runtime.session() as session:
        catalog = runtime.catalog()
        members = members_of_team(session, "core")
        chosen = candidates(session, catalog, members, now, ZONE)
        people = list(session.scalars(select(Person).where(Person.id.in_([m.id for m in members]))))
        week = current_week(now, ZONE)
        shown = {
            row.person.id: row.weeks[0]
            for row in team_weeks(session, catalog, people, weeks_from(week.start), ZONE)
        }
    assert {c.id: c.load for c in chosen} == shown
    dev = shown[world["people"].ids["dev"]]
    assert dev.planned_hours == 40.0 and dev.capacity_hours == 16.0 and dev.actual_hours == 3.0 and dev.over
    assert next_assignee(chosen, LEAST_WORK, now=now).load.key == min(c.load.key for c in chosen)
    assert next_assignee(chosen, LEAST_WORK, now=now).id != world["people"].ids["dev"]


def test_the_team_view_shows_eight_weeks_and_highlights_who_is_over(world: dict[str, Any]) -> None:
    client = signed_in(world, "pm")
    html = client.get("/planning/workload/?team=core").get_data(as_text=True)
    dev_row = html[html.index('data-person="dev"') :].split("</tr>")[0]
    assert (
        dev_row.count('<td class="itpm-load') == 8
        and "itpm-over" in dev_row
        and "40.0" in dev_row
        and "booked 3.0 h" in dev_row
    )
    assert 'data-person="buyer"' not in html  # the client's user is in no team
    preview = html[html.index("itpm-assignment-preview") :].split("</p>")[0]
    assert "next ticket to" in preview and "Dev T" not in preview  # dev is over capacity: someone else
    assert client.get("/planning/workload/?team=nope").status_code == 404
    client.get("/lang/zh")
    assert "工作负荷" in client.get("/planning/workload/").get_data(as_text=True)
    people = client.get(f"/planning/project/project/{world['people'].project}/").get_data(as_text=True)
    assert 'data-person="dev"' in people and 'data-person="lead"' in people


def test_a_client_never_sees_workload_or_the_schedule_api(world: dict[str, Any]) -> None:
    client = signed_in(world, "buyer")
    project = world["people"].project
    assert client.get("/planning/workload/").status_code in (302, 403)
    assert client.get(f"/planning/project/project/{project}/").status_code in (302, 403)
    assert client.get(f"/api/v1/planning/project/{project}/schedule").status_code in (401, 403)


def api(client: Any, method: str, path: str, body: Any = None) -> Any:
    token = csrf_token(client, "/planning/workload/")
    return getattr(client, method)(path, json=body, headers={"X-CSRFToken": token})


def test_moving_a_task_moves_its_dependants_through_the_records_service(world: dict[str, Any]) -> None:
    client = signed_in(world, "pm")
    design, build, docs = world["tasks"]
    monday = world["monday"]
    url = f"/api/v1/planning/project/{world['people'].project}/schedule"
    schedule = client.get(url).get_json()
    assert schedule["baseline"] == "first"
    by_id = {t["id"]: t for t in schedule["tasks"]}
    assert by_id[build]["depends_on"] == [design] and by_id[design]["critical"] and by_id[build]["critical"]
    assert not by_id[docs]["critical"] and by_id[design]["writable"]
    later = {
        "task": design,
        "start": str(monday + dt.timedelta(days=2)),
        "due": str(monday + dt.timedelta(days=8)),
    }
    preview = api(client, "post", f"{url}/preview", later).get_json()
    assert [m["id"] for m in preview["moves"]] == [design, build, docs] or {
        m["id"] for m in preview["moves"]
    } == {design, build, docs}
    too_early = {"task": build, "start": str(monday), "due": str(monday + dt.timedelta(days=4))}
    refused = api(client, "post", f"{url}/preview", too_early).get_json()
    assert refused["errors"][0]["path"] == "/start" and "it waits for TSK-" in refused["message"]
    for bad, path in (
        ({**later, "due": "soon"}, "/due"),
        ({**later, "task": 999}, "/task"),
        ({**later, "due": str(monday)}, "/due"),
    ):
        answer = api(client, "post", f"{url}/preview", bad)
        assert answer.status_code == 422 and answer.get_json()["errors"][0]["path"] == path
    versions = {str(t["id"]): t["version"] for t in schedule["tasks"]}
    stale = api(client, "post", url, {**later, "versions": {str(design): by_id[design]["version"]}})
    assert stale.status_code == 409 and "would move too" in stale.get_json()["message"]
    saved = api(client, "post", url, {**later, "versions": versions})
    assert saved.status_code == 200, saved.get_json()
    after = {t["id"]: t for t in saved.get_json()["tasks"]}
    assert (
        after[build]["start"] == str(monday + dt.timedelta(days=9))
        and after[docs]["start"] == after[build]["start"]
    )
    assert after[design]["baseline_start"] == str(monday)  # the first dates saved
    with world["runtime"].session() as session:
        events = session.scalars(
            select(RecordEvent).where(
                RecordEvent.record_id.in_([design, build, docs]),
                RecordEvent.record_type == "task",
                RecordEvent.action == "updated",
            )
        ).all()
        assert {e.record_id for e in events} == {design, build, docs} and {e.actor for e in events} == {"pm"}
    again = api(
        client,
        "post",
        url,
        {
            **later,
            "start": str(monday + dt.timedelta(days=3)),
            "due": str(monday + dt.timedelta(days=9)),
            "versions": versions,
        },
    )
    assert again.status_code == 409 and "changed by someone else" in again.get_json()["message"]
    assert client.get(url).get_json()["tasks"] == saved.get_json()["tasks"]  # nothing of the refused save


def test_the_baseline_is_the_plan_when_the_project_passed_its_planning_gate(world: dict[str, Any]) -> None:
    runtime = world["runtime"]
    design = world["tasks"][0]
    project = world["people"].project
    with runtime.session() as session:
        last = session.scalars(
            select(RecordEvent)
            .where(RecordEvent.record_type == "task", RecordEvent.record_id == design)
            .order_by(RecordEvent.id.desc())
        ).first()
        gate = RecordEvent(
            record_type="project",
            record_id=project,
            actor="boss",
            action="transition to_execution",
            at=last.at,
            changes=[{"path": "/state", "old": "planning", "new": "execution"}],
        )
        session.add(gate)
        session.commit()
    client = signed_in(world, "pm")
    tasks = client.get(f"/api/v1/planning/project/{project}/schedule").get_json()
    assert tasks["baseline"] == "gate"
    design_now = next(t for t in tasks["tasks"] if t["id"] == design)
    assert design_now["baseline_start"] == design_now["start"]  # the moved dates were the plan at the gate
    page = client.get(f"/records/project/show/{project}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:300]
    assert 'id="itpm-gantt"' in html and "itpm-gantt.js" in html, html[html.find("<body") :][:3000]


def test_hours_a_week_and_leave_are_set_on_the_person_and_bad_leave_is_refused_at_the_field(
    world: dict[str, Any],
) -> None:
    client = signed_in(world, "root")
    lead = world["people"].ids["lead"]
    with world["runtime"].session() as session:
        person = session.get(Person, lead)
        form = {
            "first_name": person.first_name,
            "last_name": person.last_name,
            "username": person.username,
            "email": person.email,
            "active": "y",
            "roles": [str(r.id) for r in person.roles],
            "department": str(person.department_id),
            "team": str(person.team_id),
            "client_id": "",
            "manager_id": "",
            "locale": "",
            "timezone": "",
        }
    token = csrf_token(client, f"/users/edit/{lead}")
    refused = client.post(
        f"/users/edit/{lead}",
        data={**form, "csrf_token": token, "weekly_hours": "30", "leave": "2026-12-10..soon"},
    )
    assert refused.status_code == 200 and "&#39;2026-12-10..soon&#39; is not a day" in refused.get_data(
        as_text=True
    )
    saved = client.post(
        f"/users/edit/{lead}",
        data={**form, "csrf_token": token, "weekly_hours": "30", "leave": "2026-12-10..2026-12-14"},
    )
    assert saved.status_code == 302, re.findall(r"Not a valid[^<]*", saved.get_data(as_text=True))
    with world["runtime"].session() as session:
        person = session.get(Person, lead)
        assert (person.weekly_hours, person.leave) == (30.0, "2026-12-10..2026-12-14")
        person.weekly_hours, person.leave = None, None
        session.commit()


def test_a_list_on_a_phone_shows_each_record_as_a_card_and_its_filters_in_a_drawer(
    world: dict[str, Any],
) -> None:
    client = signed_in(world, "root")
    with world["runtime"].session() as session:
        records = Records(session, world["runtime"].catalog(), Actor.system())
        incident = records.create("incident", {"title": "VPN down", "priority": "P1", "category": "network"})
        session.commit()
        number = incident.number
    html = client.get("/records/incident/list/?_flt_0_priority=P1").get_data(as_text=True)
    card = html[html.index('<li class="itpm-card">') :].split("</li>")[0]
    assert number in card and "VPN down" in card and "itpm-card-state" in card
    assert "itpm-card-priority" in card and "P1" in card and "itpm-card-due" in card  # the SLA's due time
    assert 'id="itpm-filters" class="itpm-drawer"' in html and '<span class="badge">1</span>' in html
    tasks = client.get("/records/task/list/").get_data(as_text=True)
    assert tasks.count('<li class="itpm-card">') == 3 and "itpm-card-due" in tasks  # a task's due date


def test_a_schedule_drawn_around_a_field_hidden_from_the_reader_is_refused_naming_it(
    world: dict[str, Any],
) -> None:
    """Runs last: it publishes an engineer role that may not read a task's due date."""
    import copy

    runtime = world["runtime"]
    with runtime.session() as session:
        registry = runtime.registry(session)
        engineer = copy.deepcopy(registry.published_body(registry.get("role", "engineer")))
        entry = engineer["records"]["task"]
        entry["fields"] = {**entry.get("fields", {}), "due_date": "hidden"}
        registry.save_draft(engineer, "admin")
        registry.publish([("role", "engineer")], "admin", "engineers plan without due dates")
    client = signed_in(world, "lead")
    answer = client.get(f"/api/v1/planning/project/{world['people'].project}/schedule")
    assert answer.status_code == 403 and "due_date of task records" in answer.get_json()["message"]
    assert (
        signed_in(world, "pm").get(f"/api/v1/planning/project/{world['people'].project}/schedule").status_code
        == 200
    )
