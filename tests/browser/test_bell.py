"""The bell in Chromium: the unread count in the navigation bar, the list behind it, a click to the record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from browser.conftest import log_in, screenshot
from conftest import ADMIN
from itpm.models import Person
from itpm.notifications import notify

NOW = dt.datetime(2026, 3, 16, 2, 0, tzinfo=dt.UTC)


def test_the_bell_shows_the_unread_count_and_leads_to_the_record(
    live_server: str, page: Any, sqlite_app: Any
) -> None:
    runtime = sqlite_app.extensions["itpm"]
    with runtime.session() as session:
        admin = session.scalar(select(Person).where(Person.username == ADMIN[0]))
        for number, state in (
            (1, {"en": "assigned to you", "zh": "已分派给你"}),
            (2, {"en": "breached", "zh": "已超时"}),
        ):
            notify(
                session,
                runtime.settings,
                [admin],
                f"event-{number}:browser:0",
                {"en": "INC-2026-0000{number} {state}", "zh": "INC-2026-0000{number} {state}"},
                {"en": "Priority P1, network.", "zh": "优先级 P1，网络故障。\n请尽快处理。"},
                {"number": number, "state": state},
                "/records/incident/list/",
                now=NOW + dt.timedelta(minutes=number),
            )

    log_in(page, live_server, *ADMIN)
    bell = page.locator("li.itpm-bell")
    assert bell.locator(".badge").inner_text() == "2"
    screenshot(page, "bell-unread")

    bell.locator("a").click()
    page.wait_for_url("**/notifications/")
    items = page.locator(".itpm-notification")
    assert items.count() == 2
    assert "INC-2026-00002 已超时" in items.nth(0).inner_text()  # newest first, in the admin's language
    assert page.locator(".itpm-unread").count() == 2
    screenshot(page, "bell-list")

    items.nth(0).click()
    page.wait_for_url("**/records/incident/list/")
    assert page.locator("li.itpm-bell .badge").inner_text() == "1"

    page.goto(f"{live_server}/notifications/")
    page.locator("form[action$='/notifications/read'] button").click()
    page.wait_for_url("**/notifications/")
    assert page.locator("li.itpm-bell .badge").count() == 0
    assert page.locator(".itpm-unread").count() == 0
    screenshot(page, "bell-all-read")
