"""The client portal in Chromium at phone (375 px) and desktop width (issue 14): a client manager reads
a project's milestones, downloads a deliverable, rejects one with a reason, accepts another (the
certificate PDF checked), raises an incident with a file and sees it assigned with its SLA due time,
replies on it with a photo, and answers the closing survey from its link (no sign-in). Screenshots in Chinese and English."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from test_automations import team
from test_portal import PASSWORD, build_world, close, feedback_of

from browser.conftest import log_in, screenshot
from itpm.automations.jobs import drain
from itpm.models import Notification


@pytest.mark.parametrize(("width", "lang"), [(375, "zh"), (1280, "en")])
def test_a_client_manager_follows_and_signs_off_in_the_portal(
    browser: Any, live_server: str, sqlite_app: Any, width: int, lang: str
) -> None:
    world = build_world(sqlite_app, sqlite_app.extensions["itpm"])
    team(sqlite_app, sqlite_app.extensions["itpm"], "service_desk", [("sam", "support_agent")])
    context = browser.new_context(
        viewport={"width": width, "height": 800},
        locale="zh-CN" if lang == "zh" else "en-US",
        accept_downloads=True,
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    log_in(page, live_server, "max", PASSWORD)
    page.goto(f"{live_server}/lang/{lang}")
    page.goto(f"{live_server}/")
    assert page.url.endswith("/portal/")
    assert page.locator(".portal-card").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the phone
    screenshot(page, f"portal-home-{lang}-{width}")

    page.click(".portal-card h2 a")
    assert page.locator(".portal-timeline li").count() == 2  # the milestones
    screenshot(page, f"portal-project-{lang}-{width}")

    page.goto(f"{live_server}/portal/deliverable/{world.shown}")
    with page.expect_download() as download:
        page.click("#files a")
    assert download.value.suggested_filename == "design.pdf"

    page.goto(f"{live_server}/portal/deliverable/{world.second}")
    page.fill("#signoff-comment", "第 4 节缺失 / Section 4 is missing")
    page.click("button[value=reject]")
    assert "Section 4 is missing" in page.inner_text("main")
    screenshot(page, f"portal-rejected-{lang}-{width}")

    page.goto(f"{live_server}/portal/deliverable/{world.shown}")
    page.fill("#signoff-comment", "Looks good")
    page.click("button[value=accept]")
    certificate = page.locator("#files a", has_text="acceptance-certificate")
    with page.expect_download() as download:
        certificate.click()
    pdf = PdfReader(io.BytesIO(open(download.value.path(), "rb").read()))
    assert "交付物验收证书" in pdf.pages[0].extract_text()
    screenshot(page, f"portal-accepted-{lang}-{width}")

    page.goto(f"{live_server}/portal/new/incident")
    page.fill("#f-title", "Printer on fire")
    page.select_option("#f-priority", "P2")
    page.select_option("#f-category", "desktop")
    page.select_option("#f-project", str(world.project))
    page.set_input_files(
        "#f-attachments", files=[{"name": "smoke.txt", "mimeType": "text/plain", "buffer": b"smoke"}]
    )
    page.click("main button[type=submit]")
    assert "Printer on fire" in page.inner_text("h1")
    # the pack's automation gives it to the service desk; the client sees who has it and its SLA due time
    runtime = sqlite_app.extensions["itpm"]
    drain(runtime)
    page.reload()
    assert "Sam" in page.inner_text(".portal-assignee")
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", page.inner_text(".portal-sla-due"))
    assert "smoke.txt" in page.inner_text("#files")
    page.fill("#reply-body", "It is smoking now")
    page.set_input_files(
        "#reply-files", files=[{"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89PNG"}]
    )
    page.click("#comments button[type=submit]")
    assert "It is smoking now" in page.inner_text("#comments")
    assert "photo.png" in page.inner_text("#files")
    screenshot(page, f"portal-ticket-{lang}-{width}")

    # the ticket is closed: the survey's link arrives (in the app and by e-mail) and works without signing in
    ticket = int(page.url.split("#")[0].rstrip("/").rsplit("/", 1)[-1])
    close(runtime, "incident", ticket)
    drain(runtime)
    with runtime.session() as session:
        link = session.scalar(
            select(Notification.link)
            .where(
                Notification.person_id == world.people["max"], Notification.link.startswith("/portal/survey/")
            )
            .order_by(Notification.id.desc())  # the incident's (the deliverable accepted above asked first)
            .limit(1)
        )
    assert link
    anonymous = browser.new_context(viewport={"width": width, "height": 800}, locale=context_locale(lang))
    survey = anonymous.new_page()
    survey.goto(f"{live_server}{link}")
    survey.click("label[for=stars-4]")
    survey.fill("#survey-comment", "快 / quick")
    screenshot(survey, f"portal-survey-{lang}-{width}")
    survey.click("main button[type=submit]")
    assert survey.locator("input[name=stars]").count() == 0  # answered, and only once
    assert [f["satisfaction"] for f in feedback_of(runtime, ticket)] == [4]
    anonymous.close()

    # this quarter's question, from the home page: 0-10 and overall stars, once; the figures below
    page.goto(f"{live_server}/portal/")
    page.click("#nps-prompt a")
    page.click("label[for=nps-9]")
    page.click("label[for=stars-5]")
    screenshot(page, f"portal-nps-{lang}-{width}")
    page.click("main button[type=submit]")
    assert page.locator("input[name=nps]").count() == 0
    page.goto(f"{live_server}/portal/")
    assert page.locator("#nps-prompt").count() == 0
    assert page.locator("#figures").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"portal-home-after-{lang}-{width}")
    assert not errors, errors
    context.close()


def context_locale(lang: str) -> str:
    return "zh-CN" if lang == "zh" else "en-US"


def test_a_parents_client_manager_finds_each_child_organisations_project_named_on_a_phone(
    browser: Any, live_server: str, sqlite_app: Any
) -> None:
    from test_child_organisations import build_group

    build_group(sqlite_app, sqlite_app.extensions["itpm"])
    context = browser.new_context(viewport={"width": 375, "height": 800}, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server, "max", PASSWORD)
    page.goto(f"{live_server}/lang/zh")
    page.goto(f"{live_server}/portal/")
    assert page.locator(".portal-card").count() == 4  # the group's, and of the three organisations below it
    assert page.locator(".portal-org").all_inner_texts() == [
        "客户单位：Acme Beijing",
        "客户单位：Acme Pudong",
        "客户单位：Acme Shanghai",
    ]  # newest first; the group's own card names no organisation
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "portal-home-parent-manager-zh-375")
    context.close()
