"""The client portal in Chromium at phone (375 px) and desktop width (issue 14): a client manager reads
a project's milestones, downloads a deliverable, rejects one with a reason, accepts another (the
certificate PDF checked), raises an incident and replies on it, and answers the closing survey from its link (no sign-in). Screenshots in Chinese and English."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from test_portal import PASSWORD, build_world, close, feedback_of

from browser.conftest import log_in, screenshot
from itpm.automations.jobs import drain
from itpm.models import Notification


@pytest.mark.parametrize(("width", "lang"), [(375, "zh"), (1280, "en")])
def test_a_client_manager_follows_and_signs_off_in_the_portal(
    browser: Any, live_server: str, sqlite_app: Any, width: int, lang: str
) -> None:
    world = build_world(sqlite_app, sqlite_app.extensions["itpm"])
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
    page.click("main button[type=submit]")
    assert "Printer on fire" in page.inner_text("h1")
    page.fill("#reply-body", "It is smoking now")
    page.click("#comments button[type=submit]")
    assert "It is smoking now" in page.inner_text("#comments")
    screenshot(page, f"portal-ticket-{lang}-{width}")

    # the ticket is closed: the survey's link arrives (in the app and by e-mail) and works without signing in
    ticket = int(page.url.split("#")[0].rstrip("/").rsplit("/", 1)[-1])
    runtime = sqlite_app.extensions["itpm"]
    close(runtime, "incident", ticket)
    drain(runtime)
    with runtime.session() as session:
        link = session.scalar(
            select(Notification.link).where(
                Notification.person_id == world.people["max"], Notification.link.startswith("/portal/survey/")
            )
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
    assert not errors, errors
    context.close()


def context_locale(lang: str) -> str:
    return "zh-CN" if lang == "zh" else "en-US"
