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
    page.wait_for_selector(".CodeMirror-linenumber")  # the vendored CodeMirror, with line numbers
    text = page.evaluate("ItpmJson.current.getValue()")
    broken = text.replace('"zh": "客户经理"', '"zh": ""', 1)
    page.evaluate("text => ItpmJson.current.setValue(text)", broken)
    page.get_by_role("button", name="Validate").click()
    page.wait_for_selector("#itpm-problems .alert-danger")
    assert "/title/zh" in page.locator("#itpm-problems").inner_text()
    # the problem is marked at its line: the gutter's marker sits on the line of "zh": ""
    page.wait_for_selector(".CodeMirror-lint-marker-error")
    line = [n for n, row in enumerate(broken.split("\n"), 1) if '"zh": ""' in row][0]
    marked = page.evaluate(
        "() => [...document.querySelectorAll('.CodeMirror-lint-marker-error')].map("
        "m => m.closest('.CodeMirror-gutter-wrapper').querySelector('.CodeMirror-linenumber').textContent)"
    )
    assert marked == [str(line)], (marked, line)
    screenshot(page, "definition-editor-problems-en")

    unreadable = text.replace('"en": "Account manager"', '"en": "Account manager",,', 1)  # not JSON
    page.evaluate("text => ItpmJson.current.setValue(text)", unreadable)
    page.get_by_role("button", name="Validate").click()
    page.wait_for_function("document.querySelectorAll('.CodeMirror-lint-marker-error').length === 1")
    line = [n for n, row in enumerate(unreadable.split("\n"), 1) if ",," in row][0]
    marked = page.evaluate(
        "() => [...document.querySelectorAll('.CodeMirror-lint-marker-error')].map("
        "m => m.closest('.CodeMirror-gutter-wrapper').querySelector('.CodeMirror-linenumber').textContent)"
    )
    assert marked in ([str(line)], [str(line + 1)]), (marked, line)  # where reading stopped

    page.evaluate(
        "text => ItpmJson.current.setValue(text)",
        text.replace('"en": "Account manager"', '"en": "Client account manager"', 1),
    )
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
