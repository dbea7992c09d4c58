"""My work (issue 16, item 1): everything assigned to me or waiting for me, the most urgent first, on
its page and at `GET /api/v1/my/work`; counts in the menu; one click to start, finish or decide.

One world for the module (SQLite: nothing here depends on the database): a project whose manager is
`pm` and technical lead `lead`, with tasks, an incident, a deliverable and a change request.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from test_workflows import PASSWORD, Cast, act, cast, change_request

from conftest import api_token, csrf_token, databases, login, settings_for
from itpm.access import Actor
from itpm.config import ROOT
from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import Document, read_documents
from itpm.definitions.meta import MetaSchemas
from itpm.models import RecordEvent
from itpm.my_work import MyWork
from itpm.records.service import Records
from itpm.web.app import create_app

SHANGHAI = ZoneInfo("Asia/Shanghai")


class World:
    def __init__(self, app: Any, runtime: Any, people: Cast) -> None:
        self.app, self.runtime, self.people = app, runtime, people
        self.numbers: dict[str, str] = {}
        self.ids: dict[str, int] = {}

    def client(self, who: str, lang: str = "en") -> Any:
        client = self.app.test_client()
        login(client, who, PASSWORD)
        client.get(f"/lang/{lang}")
        return client

    def api(self, who: str) -> list[dict[str, Any]]:
        client = self.app.test_client()
        token = api_token(client, who, PASSWORD)
        answer = client.get("/api/v1/my/work", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()


@pytest.fixture(scope="module")
def world(template_databases: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("my_work")
    with databases(template_databases, folder) as make:
        app = create_app(settings_for(make("sqlite"), folder))
        runtime = app.extensions["itpm"]
        people = cast(app, runtime)
        world = World(app, runtime, people)
        today = dt.datetime.now(SHANGHAI).date()
        with runtime.session() as session:
            records = Records(session, runtime.catalog(), Actor.system())

            def task(key: str, who: str, due: dt.date, priority: str, state: str | None = None) -> None:
                record = records.create(
                    "task",
                    {
                        "title": f"Task {key}",
                        "project": people.project,
                        "due_date": due.isoformat(),
                        "priority": priority,
                    },
                    {"assignee": people.ids[who]},
                )
                if state:
                    records.move(record, state, {}, f"transition {state}")
                world.numbers[key], world.ids[key] = record.number, record.id

            task("late", "dev", today - dt.timedelta(days=1), "low")
            task("today", "dev", today, "high")
            task("soon_high", "dev", today + dt.timedelta(days=5), "high")
            task("soon_low", "dev", today + dt.timedelta(days=5), "low")
            task("finished", "dev", today - dt.timedelta(days=3), "high", "done")
            task("theirs", "lead", today - dt.timedelta(days=1), "high")
            incident = records.create(
                "incident",
                {
                    "title": "Payments down",
                    "priority": "P1",
                    "category": "application",
                    "root_cause": "A full disk",  # a P1 is resolved with its root cause
                },
                {"assignee": people.ids["dev"]},
            )
            world.numbers["incident"], world.ids["incident"] = incident.number, incident.id
            deliverable = records.create(
                "deliverable",
                {"name": "Design document", "project": people.project, "due_date": today.isoformat()},
            )
            records.move(deliverable, "submitted", {}, "transition submit")
            world.numbers["deliverable"] = deliverable.number
            session.commit()
        world.ids["change"] = change_request(runtime, people)
        session, _records, workflows = act(runtime, people.actor(runtime, "dev"), dt.datetime.now(dt.UTC))
        workflows.take("change_request", world.ids["change"], "approve", comment="Please")
        session.commit()
        session.close()
        yield world
        runtime.dispose()


def test_an_engineer_gets_only_their_open_work_most_urgent_first(world: World) -> None:
    answer = world.api("dev")
    numbers = [(i["number"], i["group"]) for i in answer["result"]]
    n = world.numbers
    assert numbers == [
        (n["late"], "overdue"),
        (n["incident"], "today"),  # its SLA is due within the hour, before the end of the day
        (n["today"], "today"),
        (n["soon_high"], "later"),  # same day: the higher priority first
        (n["soon_low"], "later"),
    ]
    first = answer["result"][0]
    assert (first["kind"], first["type"], first["state"], first["due_from"], first["priority"]) == (
        "assigned",
        "task",
        "todo",
        "field",
        "low",
    )
    assert first["link"] == f"/records/task/show/{world.ids['late']}"
    assert first["transitions"] == ["start", "cancel"] or first["transitions"] == ["start"]
    assert answer["result"][1]["due_from"] == "sla"
    assert answer["counts"] == {"approvals": 0, "overdue": 1}


def test_the_project_manager_gets_the_approval_and_the_deliverable_to_review(world: World) -> None:
    answer = world.api("pm")
    kinds = {(i["kind"], i["type"], i["number"]) for i in answer["result"]}
    assert ("waiting", "deliverable", world.numbers["deliverable"]) in kinds
    approvals = [i for i in answer["result"] if i["kind"] == "approval"]
    assert [(a["type"], a["id"], a["approval"]["transition"]) for a in approvals] == [
        ("change_request", world.ids["change"], "approve")
    ]
    assert answer["counts"]["approvals"] == 1
    assert all(i["kind"] != "assigned" for i in answer["result"])  # tasks are the engineers'


def test_a_delegate_gets_the_approval_too_and_a_client_nothing_of_staffs(world: World) -> None:
    session, _records, workflows = act(
        world.runtime, world.people.actor(world.runtime, "pm"), dt.datetime.now(dt.UTC)
    )
    today = dt.datetime.now(SHANGHAI).date()
    delegation = workflows.delegate(world.people.ids["cfo"], today, today)
    session.commit()
    try:
        delegated = [i for i in world.api("cfo")["result"] if i["kind"] == "approval"]
        assert [(i["id"], i["approval"]["delegated"]) for i in delegated] == [(world.ids["change"], True)]
    finally:
        session.delete(delegation)
        session.commit()
        session.close()
    assert world.api("buyer")["result"] == []


def test_the_api_needs_a_login(world: World) -> None:
    assert world.app.test_client().get("/api/v1/my/work").status_code == 401


def test_the_page_groups_the_work_and_the_menu_counts_it(world: World) -> None:
    client = world.client("dev")
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/my/work/")
    page = client.get("/my/work/").get_data(as_text=True)
    n = world.numbers
    assert (
        page.index(n["late"]) < page.index(n["incident"]) < page.index(n["today"]) < page.index(n["soon_low"])
    )
    assert n["finished"] not in page and n["theirs"] not in page
    for words in ("Overdue", "Due today", "Later"):
        assert words in page
    # the menu's badges are filled after the page is shown, from the address the page names
    counts = client.get(counts_address(page))
    listed = client.get("/api/v1/my/work").get_json()["counts"]  # the list's own counts agree
    assert counts.get_json() == listed and listed["overdue"] > 0
    assert counts.cache_control.private and counts.cache_control.max_age == 30
    pm_client = world.client("pm", "zh")
    pm = pm_client.get("/my/work/").get_data(as_text=True)
    assert "待审批" in pm and "我的工作" in pm
    assert pm_client.get(counts_address(pm)).get_json()["approvals"] >= 1
    assert world.numbers["deliverable"] in pm


def counts_address(page: str) -> str:
    return html.unescape(re.search(r'class="itpm-nav-count itpm-work-counts" data-counts="([^"]+)"', page)[1])


def test_one_click_starts_and_finishes_a_task_through_the_workflow(world: World) -> None:
    client = world.client("dev")
    task = world.ids["soon_low"]
    before = client.get("/my/work/").get_data(as_text=True)
    for name, state in (("start", "doing"), ("finish", "done")):
        token = csrf_token(client, "/my/work/")
        page = client.get("/my/work/").get_data(as_text=True)
        version = re.search(
            rf'action="/records/task/transition/{task}/{name}".*?name="version" value="(\d+)"', page, re.S
        )
        assert version, f"no {name} button"
        answer = client.post(
            f"/records/task/transition/{task}/{name}",
            data={"csrf_token": token, "version": version.group(1), "next": "/my/work/"},
        )
        assert (answer.status_code, answer.headers["Location"]) == (302, "/my/work/")
        with world.runtime.session() as session:
            record = Records(session, world.runtime.catalog(), Actor.system()).get("task", task)
            assert record.state == state
            last = session.scalars(
                select(RecordEvent)
                .where(RecordEvent.record_id == task, RecordEvent.record_type == "task")
                .order_by(RecordEvent.id.desc())
            ).first()
            assert (last.action, last.actor) == (f"transition {name}", "dev")
    page = client.get("/my/work/").get_data(as_text=True)
    assert f'data-number="{world.numbers["soon_low"]}"' not in page  # done: off the list
    # each change of one's own moves the counts' address: the browser does not show counts kept from before
    assert counts_address(page) != counts_address(before)
    world.numbers.pop("soon_low")


def test_a_back_address_outside_the_app_is_not_followed(world: World) -> None:
    client = world.client("dev")
    token = csrf_token(client, "/my/work/")
    answer = client.post(
        f"/records/task/transition/{world.ids['soon_high']}/start",
        data={"csrf_token": token, "next": "//evil.example/"},
    )
    assert answer.headers["Location"] == f"/records/task/show/{world.ids['soon_high']}"


def test_the_counts_match_the_list(world: World) -> None:
    with world.runtime.session() as session:
        records = Records(session, world.runtime.catalog(), world.people.actor(world.runtime, "dev"))
        work = MyWork(records, dt.datetime.now(dt.UTC), SHANGHAI)
        overdue = [i for i in work.items() if i.group == "overdue"]
        assert work.counts() == {"approvals": 0, "overdue": len(overdue)}


META = MetaSchemas()
PACK, _unreadable = read_documents([ROOT / "schemas"])


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("due", "deadline", "names no field: 'deadline'"),
        ("due", "title", "'title' is not a date or date-time field"),
        ("priority", "progress", "'progress' has no list of choices (enum) to rank urgency by"),
        ("priority", "Priority!", "A field name: lower case letters"),
    ],
)
def test_a_record_types_due_and_priority_fields_are_checked(key: str, value: str, words: str) -> None:
    body = copy.deepcopy(json.loads((ROOT / "schemas" / "task.json").read_text("utf-8")))
    body[key] = value
    task = Document("schemas/task.json", body)
    others = [d for d in PACK if d.name != "task"]
    found = [(p.path, str(p.message)) for p in check_configuration([*others, task], META, only=[task])]
    assert any(path == f"/{key}" and words in message for path, message in found), found


def test_a_transition_that_needs_fields_opens_its_form_and_comes_back(world: World) -> None:
    client = world.client("dev")
    incident = world.ids["incident"]
    token = csrf_token(client, "/my/work/")
    taken = client.post(
        f"/records/incident/transition/{incident}/take", data={"csrf_token": token, "next": "/my/work/"}
    )
    assert taken.headers["Location"] == "/my/work/"
    page = client.get("/my/work/").get_data(as_text=True)
    link = f"/records/incident/transition/{incident}/resolve?next=/my/work/"
    assert f'href="{link}"' in page  # resolving asks for the resolution first
    form = client.get(link).get_data(as_text=True)
    assert 'name="next" value="/my/work/"' in form and 'href="/my/work/">Cancel' in form
    done = client.post(
        link,
        data={
            "csrf_token": csrf_token(client, link),
            "resolution": "Replaced the uplink module",
            "resolved_at": "2026-03-16T11:00",
            "next": "/my/work/",
        },
    )
    assert done.headers["Location"] == "/my/work/"
    assert f'data-number="{world.numbers["incident"]}"' not in client.get("/my/work/").get_data(as_text=True)
