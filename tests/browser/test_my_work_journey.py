"""My work in Chromium (issue 16, Done when): an engineer logs in, sees only their open work in urgency
order, starts and finishes a task from it; an approver receives the in-app and e-mail notification of
a request and decides from the e-mail's link. Screenshots at desktop and 375 px, in Chinese and English.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from test_notifications import Inbox, LoopbackController
from test_workflows import PASSWORD, act, cast, change_request
from werkzeug.serving import make_server

from browser.conftest import log_in
from conftest import settings_for
from itpm.access import Actor
from itpm.automations.jobs import drain
from itpm.models import ApprovalRequest
from itpm.records.service import Records
from itpm.web.app import create_app

SHOTS = Path(__file__).parents[2] / "shots"
PHONE = {"width": 375, "height": 812}


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def served(fresh_database: Any, tmp_path: Path) -> Iterator[tuple[Any, str, Inbox]]:
    inbox = Inbox()
    smtp = LoopbackController(inbox, hostname="127.0.0.1", port=0)
    smtp.start()
    app = create_app(
        settings_for(fresh_database("sqlite"), tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    runtime = app.extensions["itpm"]
    runtime.settings = dataclasses.replace(runtime.settings, base_url=base)  # e-mails link where it serves
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, base, inbox
    server.shutdown()
    thread.join(timeout=5)
    runtime.dispose()
    smtp.stop()


def numbers(page: Any) -> list[str]:
    return page.locator(".itpm-work-item").evaluate_all("items => items.map(i => i.dataset.number)")


def test_an_engineer_works_from_my_work_and_an_approver_decides_from_the_email(
    served: tuple[Any, str, Inbox], browser: Any
) -> None:
    app, base, inbox = served
    runtime = app.extensions["itpm"]
    people = cast(app, runtime)
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    made: dict[str, str] = {}
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        for key, who, days, priority, title in (
            ("later", "dev", 6, "low", "更新运维手册 Update the runbook"),
            ("overdue", "dev", -2, "medium", "核心交换机固件升级 Upgrade the core switch firmware"),
            ("today", "dev", 0, "high", "割接演练 Rehearse the cut-over"),
            ("theirs", "lead", -1, "high", "Someone else's task"),
        ):
            task = records.create(
                "task",
                {
                    "title": title,
                    "project": people.project,
                    "due_date": (today + dt.timedelta(days=days)).isoformat(),
                    "priority": priority,
                },
                {"assignee": people.ids[who]},
            )
            made[key] = task.number
        incident = records.create(
            "incident",
            {"title": "网银登录缓慢 Online banking slow", "priority": "P2", "category": "application"},
            {"assignee": people.ids["dev"]},
        )
        made["incident"] = incident.number
        session.commit()
    drain(runtime)

    for lang, width in (("zh", None), ("en", None), ("zh", PHONE), ("en", PHONE)):
        context = browser.new_context(
            viewport=width or {"width": 1280, "height": 900}, locale="zh-CN" if lang == "zh" else "en-US"
        )
        page = context.new_page()
        log_in(page, base, "dev", PASSWORD)
        page.goto(f"{base}/lang/{lang}")
        page.goto(f"{base}/")  # staff land on their work
        page.wait_for_url("**/my/work/")
        found = numbers(page)
        assert found[0] == made["overdue"] and made["theirs"] not in found
        assert found.index(made["today"]) < found.index(made["later"])
        assert set(found) == {made["overdue"], made["today"], made["later"], made["incident"]}
        assert page.locator(".itpm-overdue-count").inner_text() == "1"
        if width:  # on a phone nothing runs off the screen
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, f"my-work-{lang}-{'375' if width else 'desktop'}")
        context.close()

    # start, then finish, the overdue task with one click each
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    log_in(page, base, "dev", PASSWORD)
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/my/work/")
    row = page.locator(f'.itpm-work-item[data-number="{made["overdue"]}"]')
    row.get_by_role("button", name="Start").click()
    page.wait_for_url("**/my/work/")
    row = page.locator(f'.itpm-work-item[data-number="{made["overdue"]}"]')
    assert "Doing" in row.inner_text()
    shot(page, "my-work-en-started")
    row.get_by_role("button", name="Finish").click()
    page.wait_for_url("**/my/work/")
    assert made["overdue"] not in numbers(page)
    expect(page.locator(".itpm-work-counts")).to_have_attribute("data-filled", "1")  # counted anew
    expect(page.locator(".itpm-overdue-count")).to_be_hidden()  # nothing overdue any more
    context.close()

    # the engineer asks for approval of a change: the project manager is told in the app and by e-mail
    record_id = change_request(runtime, people)
    session, _records, workflows = act(runtime, people.actor(runtime, "dev"), dt.datetime.now(dt.UTC))
    approval_id = workflows.take(
        "change_request", record_id, "approve", comment="请审批 Please approve"
    ).approval.id
    session.commit()
    session.close()
    drain(runtime)
    [mail] = [m for m in inbox.to("pm@itpm.invalid") if "审批" in m["Subject"]]
    link = re.search(
        rf"{re.escape(base)}/records/change_request/show/\d+", mail.get_body(("plain",)).get_content()
    )
    assert link, "the e-mail links to the change request on this server"

    for lang, viewport in (("zh", {"width": 1280, "height": 900}), ("en", PHONE)):
        context = browser.new_context(viewport=viewport, locale="zh-CN")
        page = context.new_page()
        log_in(page, base, "pm", PASSWORD)
        page.goto(f"{base}/lang/{lang}")
        page.goto(f"{base}/my/work/")
        assert page.locator(".itpm-bell .badge").inner_text() != ""
        expect(page.locator(".itpm-approvals-count")).to_have_text("1")  # filled after the page is shown
        shot(page, f"my-work-approver-{lang}-{'desktop' if viewport['width'] > 400 else '375'}")
        if lang == "en":
            break
        context.close()
    page.goto(link.group(0))
    shot(page, "approver-from-email-en-375")
    page.locator("form.itpm-decide button[value=approve]").click()
    page.wait_for_load_state()
    context.close()
    with runtime.session() as session:
        approval = session.get(ApprovalRequest, approval_id)
        decided = [(t.step_name, t.decided_by) for t in approval.tasks if t.decided_by]
        assert decided == [("project_manager", "pm")] and approval.step == 1  # on to the technical lead
