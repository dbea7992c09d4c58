"""An admin logs in and works with definitions in the browser, in Chinese and in English."""

from __future__ import annotations

from typing import Any

from browser.conftest import log_in, screenshot
from conftest import ADMIN


def test_admin_sees_definitions_in_chinese_and_english(live_server: str, page: Any) -> None:
    log_in(page, live_server, *ADMIN)
    page.goto(f"{live_server}/lang/zh")
    page.goto(f"{live_server}/definitions/list/?_flt_0_kind=record_type")
    assert page.locator("table").get_by_text("变更请求").count() == 1
    assert page.locator(".navbar").get_by_text("配置").count() >= 1
    screenshot(page, "definitions-list-zh")

    page.goto(f"{live_server}/lang/en")
    page.goto(f"{live_server}/definitions/list/?_flt_0_kind=record_type")
    assert page.locator("table").get_by_text("Change request").count() == 1
    screenshot(page, "definitions-list-en")


def test_editor_shows_problems_before_saving_then_publishes(live_server: str, page: Any) -> None:
    log_in(page, live_server, *ADMIN)
    page.goto(f"{live_server}/lang/en")
    page.goto(f"{live_server}/definitions/list/?_flt_0_kind=role")
    page.locator("a[href*='/definitions/show/']").first.click()
    page.get_by_role("link", name="Edit draft").click()
    editor = page.locator("#itpm-definition-body")
    text = editor.input_value()
    editor.fill(text.replace('"zh": "客户经理"', '"zh": ""', 1))
    page.get_by_role("button", name="Validate").click()
    page.wait_for_selector("#itpm-problems .alert-danger")
    assert "/title/zh" in page.locator("#itpm-problems").inner_text()
    screenshot(page, "definition-editor-problems-en")

    editor.fill(text.replace('"en": "Account manager"', '"en": "Client account manager"', 1))
    page.get_by_role("button", name="Validate").click()
    page.wait_for_selector("#itpm-problems .alert-success")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_selector(".label-state-changed")
    page.locator("#itpm-preview").click()
    page.fill("input[name=comment]", "clearer title")
    screenshot(page, "definition-publish-preview-en")
    page.locator("#itpm-publish").click()
    page.wait_for_selector(".label-state-published")
    assert page.locator("text=clearer title").count() >= 1
    screenshot(page, "definition-published-en")
