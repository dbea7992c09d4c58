"""Personal data in Chromium, as an admin: the record designer marks a field as personal data
(`x-personal`), and the personal-data screen asks for an export and an erasure in Chinese."""

from __future__ import annotations

from typing import Any

from browser.conftest import screenshot
from browser.test_designers import draft_of, open_designer, saved


def test_the_record_designer_marks_a_field_as_personal_data(
    live_server: str, page: Any, sqlite_app: Any
) -> None:
    problems = open_designer(page, live_server, "record_type", "incident")
    page.click("text=Add field")
    row = page.locator(".itpm-d-field").last
    row.locator("input[name=title-en]").fill("Contact phone")
    row.locator("input[name=title-zh]").fill("联系电话")
    row.locator(".itpm-d-more").click()
    row.locator("input[name=personal]").check()
    saved(page)
    field = draft_of(sqlite_app, "record_type", "incident")["schema"]["properties"]["contact_phone"]
    assert field["x-personal"] is True and field["x-title-zh"] == "联系电话"
    page.goto(f"{live_server}/lang/zh")
    page.goto(f"{live_server}/privacy/")
    page.wait_for_selector("select[name=person]")
    screenshot(page, "privacy-zh")
    text = page.inner_text("body")
    assert "个人数据" in text and "删除个人数据" in text
    assert problems == [], problems
