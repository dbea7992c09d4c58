"""The Gantt chart in Chromium: a project manager drags a task, sees its two dependants named, saves;
the three tasks' dates change in the database with their history; a save that meets another person's
change is shown, not lost. Also: 500 tasks are drawn, and screenshots of the chart, the team workload
and a list on a phone (375 px), in English and Chinese, go to shots/ to be looked at.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from test_workflows import PASSWORD, Cast, cast
from werkzeug.serving import make_server

from browser.conftest import log_in
from conftest import settings_for
from itpm.access import Actor
from itpm.config import ROOT
from itpm.db import utcnow
from itpm.models import Person, RecordEvent
from itpm.records.service import Records
from itpm.web.app import create_app

SHOTS = ROOT / "shots"
DAY = dt.timedelta(days=1)


#: How far a page scrolls sideways when asked to (0: it fits the phone; wide tables scroll in their own box).
SIDEWAYS = "() => { window.scrollTo(500, 0); const x = window.scrollX; window.scrollTo(0, 0); return x; }"


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def company(fresh_database: Any, tmp_path: Any) -> Iterator[dict[str, Any]]:
    """The cast's project with Design → Build and Docs (tight: they start the day after Design), and a
    second project of 500 tasks in chains; served on a loopback port."""
    app = create_app(settings_for(fresh_database("sqlite"), tmp_path))
    runtime = app.extensions["itpm"]
    people: Cast = cast(app, runtime)
    today = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date()
    monday = today - dt.timedelta(days=today.weekday())
    with runtime.session() as session:
        session.get(Person, people.ids["dev"]).weekly_hours = 20.0
        records = Records(session, runtime.catalog(), Actor.system())

        def task(
            project: int, title: str, start: dt.date, days: int, who: str, hours: float, after: Any = ()
        ) -> int:
            data = {
                "title": title,
                "project": project,
                "start_date": str(start),
                "due_date": str(start + (days - 1) * DAY),
                "estimate_hours": hours,
            }
            if after:
                data["depends_on"] = list(after)
            return records.create("task", data, {"assignee": people.ids[who]}).id

        design = task(people.project, "Design", monday, 3, "dev", 24)
        build = task(people.project, "Build", monday + 3 * DAY, 5, "lead", 30, [design])
        docs = task(people.project, "Docs", monday + 3 * DAY, 2, "dev", 12, [design])
        task(people.project, "Go-live", monday + 7 * DAY, 1, "lead", 0)  # the day Build ends
        big = records.create(
            "project",
            {
                "name": "Data centre move",
                "project_type": "implementation",
                "phase": "planning",
                "start_date": str(monday),
                "due_date": str(monday + 400 * DAY),
                "manager": people.ids["pm"],
            },
            {"department": session.get(Person, people.ids["pm"]).department_id, "owner": people.ids["pm"]},
        ).id
        previous: int | None = None
        for n in range(500):
            start = monday + (n % 50) * 2 * DAY + (n // 50) * DAY
            previous = task(
                big,
                f"Step {n + 1}",
                start,
                2,
                "lead" if n % 2 else "dev",
                8,
                [previous] if previous and n % 50 else (),
            )
        session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {
        "runtime": runtime,
        "people": people,
        "base": f"http://127.0.0.1:{server.server_port}",
        "tasks": (design, build, docs),
        "big": big,
        "monday": monday,
    }
    server.shutdown()
    thread.join(timeout=5)
    runtime.dispose()


def dates(runtime: Any, ids: tuple[int, ...]) -> dict[int, tuple[str, str]]:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        return {i: (str(r.start_date), str(r.due_date)) for i in ids for r in [records.get("task", i)]}


def drag(page: Any, task: int, days: int) -> None:
    bar = page.locator(f'#itpm-gantt g[data-task="{task}"] rect.itpm-g-bar')
    box = bar.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + days * 24, y, steps=6)
    page.mouse.up()


def test_a_project_manager_drags_a_task_and_its_two_dependants_move(
    browser: Any, company: dict[str, Any]
) -> None:
    base, runtime, (design, build, docs) = company["base"], company["runtime"], company["tasks"]
    project = company["people"].project
    before = dates(runtime, (design, build, docs))
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    log_in(page, base, "pm", PASSWORD)
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/records/project/show/{project}")
    page.wait_for_selector("#itpm-gantt svg")
    page.click('[data-gantt-scale="24"]')
    assert page.locator("#itpm-gantt g.itpm-g-critical").count() >= 3  # Design, Build, Go-live
    drag(page, design, 2)
    page.wait_for_selector(".itpm-gantt-pending")
    named = page.locator(".itpm-gantt-dependants li").all_inner_texts()
    assert len(named) == 2 and any("Build" in n for n in named) and any("Docs" in n for n in named)
    assert dates(runtime, (design, build, docs)) == before  # nothing written before Save
    shot(page, "gantt-pending-en")
    page.click("#itpm-gantt-save")
    page.wait_for_selector(".itpm-gantt-message.alert-success")
    after = dates(runtime, (design, build, docs))
    assert all(after[i] != before[i] for i in (design, build, docs))
    assert after[design][0] == str(company["monday"] + 2 * DAY)
    assert after[build][0] > after[design][1] and after[docs][0] > after[design][1]
    with runtime.session() as session:
        changed = session.scalars(
            select(RecordEvent.record_id).where(
                RecordEvent.record_type == "task", RecordEvent.action == "updated", RecordEvent.actor == "pm"
            )
        ).all()
    assert set(changed) == {design, build, docs}
    shot(page, "gantt-desktop-en")

    # another person changes Design meanwhile: the next save is refused and says so, nothing is lost
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        record = records.get("task", design)
        records.update("task", design, {"title": "Design (reviewed)"}, record.version)
        session.commit()
    drag(page, design, 1)
    page.wait_for_selector(".itpm-gantt-pending")
    page.click("#itpm-gantt-save")
    page.wait_for_selector(".itpm-gantt-message.alert-warning")
    message = page.locator(".itpm-gantt-message").inner_text()
    assert "someone changed the plan" in message and "changed by someone else" in message
    assert dates(runtime, (design, build, docs)) == after
    shot(page, "gantt-conflict-en")
    page.click("#itpm-gantt-reload")
    page.locator("#itpm-gantt text", has_text="Design (reviewed)").wait_for()

    page.goto(f"{base}/lang/zh")
    page.goto(f"{base}/records/project/show/{project}")
    page.wait_for_selector("#itpm-gantt svg")
    shot(page, "gantt-desktop-zh")
    page.goto(f"{base}/planning/workload/")
    shot(page, "workload-desktop-zh")

    # 500 tasks
    began = time.monotonic()
    page.goto(f"{base}/records/project/show/{company['big']}")
    page.locator("#itpm-gantt g.itpm-g-row").nth(499).wait_for(state="attached", timeout=20000)
    assert page.locator("#itpm-gantt g.itpm-g-row").count() == 500
    seconds = time.monotonic() - began
    drawn = int(page.get_attribute("#itpm-gantt", "data-drawn-ms"))
    print(f"500 tasks: page and chart in {seconds:.2f} s, drawn in {drawn} ms")
    assert drawn < 2000 and seconds < 10
    shot(page, "gantt-500-zh")
    context.close()

    for lang in ("en", "zh"):
        phone = browser.new_context(
            viewport={"width": 375, "height": 812},
            locale="zh-CN",
            is_mobile=True,
            has_touch=True,
            reduced_motion="reduce",
        )
        page = phone.new_page()
        log_in(page, base, "pm", PASSWORD)
        page.goto(f"{base}/lang/{lang}")
        page.goto(f"{base}/records/task/list/")
        assert (
            page.locator(".itpm-card").first.is_visible()
            and not page.locator("table.table-bordered.table-hover").is_visible()
        )
        assert page.evaluate(SIDEWAYS) == 0
        shot(page, f"list-375-{lang}")
        page.click(".itpm-drawer-open")
        page.wait_for_selector("#itpm-filters.itpm-open")
        shot(page, f"list-375-filters-{lang}")
        page.goto(f"{base}/planning/workload/")
        assert page.evaluate(SIDEWAYS) == 0
        shot(page, f"workload-375-{lang}")
        page.goto(f"{base}/records/project/show/{project}")
        page.wait_for_selector("#itpm-gantt svg")
        assert page.evaluate(SIDEWAYS) == 0
        shot(page, f"gantt-375-{lang}")
        phone.close()
