"""The pilot scenario in Chromium: a client's urgent change request, from filing to the client's report.

The client's account manager files it; the stakeholders hear of it at once;
the project manager records its impact on scope, schedule and cost; the
approval chain runs (project manager, technical lead, the client's sign-off
for a high impact); the work is done as a task; the client's status report
shows it. Automations run as in the embedded default: in a thread of the app,
after each commit. A screenshot at each step (test-artifacts/screenshots/pilot-*).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from test_workflows import PASSWORD, Cast, cast
from werkzeug.serving import make_server

from browser.conftest import log_in, screenshot
from conftest import settings_for
from itpm.access import Actor
from itpm.models import Notification, Person
from itpm.records.service import Records
from itpm.web.app import create_app

TITLE = "紧急：网银登录增加短信验证 / SMS check at online banking log-in"


@pytest.fixture
def company(fresh_database: Any, tmp_path: Any) -> Iterator[tuple[Any, Cast, str]]:
    """A company on the embedded default (automations in a thread of the app), served on a loopback port."""
    url = fresh_database("sqlite")
    # the people and the project first, by an app without automations (the setup is not the scenario)
    setup = create_app(settings_for(url, tmp_path))
    people = cast(setup, setup.extensions["itpm"])
    flask_app = setup.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        am = sm.add_user(
            "am", "Amy", "Account", "am@itpm.invalid", [sm.find_role("account_manager")], PASSWORD
        )
        am.department_id = sm.session.get(Person, people.ids["pm"]).department_id
        sm.session.commit()
        people.ids["am"] = am.id
    setup.extensions["itpm"].dispose()
    app = create_app(settings_for(url, tmp_path, jobs="thread"))
    runtime = app.extensions["itpm"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, people, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    runtime.dispose()


def wait_for(what: Callable[[], Any], seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def notifications_of(runtime: Any, person: int) -> list[str]:
    with runtime.session() as session:
        return list(session.scalars(select(Notification.subject).where(Notification.person_id == person)))


def take(page: Any, transition: str) -> None:
    page.locator(f".itpm-transition[data-transition={transition}]").click()
    page.wait_for_url(f"**/transition/*/{transition}")


def test_a_clients_urgent_change_request_from_filing_to_the_report(
    company: tuple[Any, Cast, str], browser: Any
) -> None:
    app, people, base = company
    runtime = app.extensions["itpm"]
    pages: dict[str, Any] = {}

    def as_user(name: str) -> Any:
        if name not in pages:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            pages[name] = context.new_page()
            log_in(pages[name], base, name, PASSWORD)
            pages[name].goto(f"{base}/lang/zh")
        return pages[name]

    try:
        # 1. The account manager files the client's urgent request, with a high impact.
        am = as_user("am")
        am.goto(f"{base}/records/change_request/add/")
        am.fill("#field-title", TITLE)
        am.locator(".itpm-entry[data-field=project] .select2-selection").click()
        am.keyboard.type("Core")
        am.locator(".select2-results__option:has-text('Core banking')").click()
        am.select_option("#field-urgency", "urgent")
        am.select_option("#field-impact", "high")
        am.fill("#field-reason", "监管要求：12 月底前网银登录须有第二因素。")
        am.fill("#field-description", "在网银登录流程中增加短信验证码校验。")
        am.fill("#field-rollback_plan", "关闭短信验证开关，恢复原登录流程。")
        screenshot(am, "pilot-01-filed-form")
        am.locator("#itpm-save").click()
        am.wait_for_url("**/records/change_request/show/**")
        number = am.locator("h2").inner_text().split()[0]
        assert number.startswith("CHG-")
        record_url = am.url
        screenshot(am, "pilot-02-filed")

        # 2. The stakeholders hear of it at once: the project manager's bell.
        wait_for(lambda: any(number in s for s in notifications_of(runtime, people.ids["pm"])))
        pm = as_user("pm")
        pm.goto(f"{base}/notifications/")
        assert number in pm.locator(".itpm-notification").first.inner_text()
        assert pm.locator("li.itpm-bell .badge").inner_text() != ""
        screenshot(pm, "pilot-03-manager-notified")

        # 3. Submitted; the project manager records its impact on scope, schedule and cost.
        am.goto(record_url)
        take(am, "submit")
        am.locator("#itpm-save").click()
        am.wait_for_url("**/records/change_request/show/**")
        pm.goto(record_url)
        take(pm, "assess")
        pm.fill("#field-scope_impact", "登录模块新增短信验证步骤，另需对接短信网关。")
        pm.fill("#field-schedule_impact_days", "5")
        pm.fill("#field-cost_impact", "48000")
        screenshot(pm, "pilot-04-impact")
        pm.locator("#itpm-save").click()
        pm.wait_for_url("**/records/change_request/show/**")
        assert "48,000" in pm.content()

        # 4. The account manager asks for approval: manager, technical lead, then the client's sign-off.
        am.goto(record_url)
        take(am, "approve")
        am.fill("#itpm-comment", "客户要求本月上线，请审批。")
        am.locator("#itpm-save").click()
        am.wait_for_url("**/records/change_request/show/**")
        panel = am.locator(".itpm-approval")
        assert "客户确认" in panel.inner_text()  # the client's step applies: the impact is high
        screenshot(am, "pilot-05-approval-asked")

        for who, comment in (
            ("pm", "同意，排入下周迭代。"),
            ("lead", "技术方案可行。"),
            ("buyer", "确认，请尽快实施。"),
        ):
            approver = as_user(who)
            approver.goto(f"{base}/approvals/")
            row = approver.locator(".itpm-inbox-item", has_text=number)
            row.locator("textarea[name=comment]").fill(comment)
            screenshot(approver, f"pilot-06-inbox-{who}")
            with approver.expect_navigation():
                row.locator("button[value=approve]").click()
            assert approver.locator(".itpm-inbox-item", has_text=number).count() == 0
        am.goto(record_url)
        assert am.locator("h2 .itpm-state").inner_text() == "已批准"
        screenshot(am, "pilot-07-approved")

        # 5. The approval makes an implementation task in the project; the engineer does it.
        task_number = wait_for(lambda: _implementation_task(runtime, number))
        pm.goto(record_url)
        take(pm, "start")
        pm.fill("#field-implementation_plan", "1. 对接短信网关 2. 改造登录页 3. 灰度发布")
        pm.locator("#itpm-save").click()
        pm.wait_for_url("**/records/change_request/show/**")
        task_id = _record_id(runtime, "task", task_number)
        pm.goto(f"{base}/records/task/edit/{task_id}")
        pm.locator(".itpm-entry[data-field=assignee] .select2-selection").click()
        pm.keyboard.type("dev")
        pm.locator(".select2-results__option:has-text('dev')").first.click()
        pm.locator("#itpm-save").click()
        pm.wait_for_url("**/records/task/show/**")
        dev = as_user("dev")
        dev.goto(f"{base}/records/task/show/{task_id}")
        take(dev, "start")
        dev.locator("#itpm-save").click()
        dev.wait_for_url("**/records/task/show/**")
        take(dev, "finish")
        dev.locator("#itpm-save").click()
        dev.wait_for_url("**/records/task/show/**")
        screenshot(dev, "pilot-08-task-done")
        pm.goto(record_url)
        take(pm, "complete")
        pm.locator("#itpm-save").click()
        pm.wait_for_url("**/records/change_request/show/**")
        history = pm.locator(".itpm-history").inner_text()
        for who in ("am", "pm", "lead", "buyer"):
            assert who in history
        assert "客户确认: 确认，请尽快实施。" in history  # each step by its title, in the reader's language
        assert "→ 完成" in history and "→ complete" not in history
        screenshot(pm, "pilot-09-done-with-history")

        # 6. The client reads the status report of their project, which shows the change.
        buyer = as_user("buyer")
        buyer.goto(f"{base}/reports/client_status/?project={people.project}")
        screenshot(buyer, "pilot-10-report-page")
        pdf = _render_report(buyer, runtime)
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        assert number in text and "网银登录增加短信验证" in text
        (screenshot.__globals__["ARTIFACTS"] / "pilot-11-client-report.pdf").write_bytes(pdf)
    finally:
        for page in pages.values():
            page.context.close()


def _implementation_task(runtime: Any, number: str) -> str | None:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        model = records.model("task")
        title = getattr(model, records.spec("task").fields["title"].column)
        task = session.scalar(select(model).where(title.contains(number)))
        return task.number if task is not None else None


def _record_id(runtime: Any, type_name: str, number: str) -> int:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        model = records.model(type_name)
        return session.scalar(select(model.id).where(model.number == number))


def _render_report(page: Any, runtime: Any) -> bytes:
    """Ask for the report on its page and download the PDF once it is kept."""
    page.locator("#itpm-render").click()
    page.wait_for_load_state()
    link = wait_for(lambda: _reload_for_download(page), 120)
    response = page.request.get(urljoin(page.url, link))
    assert response.ok and response.headers["content-type"] == "application/pdf"
    return response.body()


def _reload_for_download(page: Any) -> str | None:
    links = page.locator("a[href*='/reports/file/']")
    if links.count():
        return links.first.get_attribute("href")
    page.reload()
    return None
