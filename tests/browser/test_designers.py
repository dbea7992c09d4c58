"""The visual designers in Chromium, as an admin: each opens a pack definition with no script
refused, edits it with pickers (no JSON typed), saves a draft that the JSON tab shows."""

from __future__ import annotations

import json
from typing import Any

from browser.conftest import log_in, screenshot
from browser.test_content_security_policy import watch
from conftest import ADMIN


def open_designer(page: Any, base: str, kind: str, name: str, lang: str = "en", new: str = "") -> list[str]:
    problems = watch(page)
    log_in(page, base, *ADMIN)
    page.goto(f"{base}/lang/{lang}")
    page.goto(f"{base}/designers/{kind}/{name}{new}")
    page.wait_for_selector("#itpm-designer-pane > *")
    return problems


def draft_of(app: Any, kind: str, name: str) -> dict:
    with app.app_context():
        registry = app.extensions["itpm"].registry()
        return registry.get(kind, name).draft


def test_record_type_designer_adds_a_choice_field_and_saves_a_draft(
    live_server: str, page: Any, sqlite_app: Any
) -> None:
    problems = open_designer(page, live_server, "record_type", "incident")
    page.click("text=Add field")
    row = page.locator(".itpm-d-field").last
    row.locator("input[name=title-en]").fill("Failure cause")
    row.locator("input[name=title-zh]").fill("根本原因")
    row.locator("select[name=type]").select_option("choice")
    row = page.locator(".itpm-d-field").last
    row.locator(".itpm-d-more").click()
    for value, en, zh in (("hardware", "Hardware", "硬件"), ("software", "Software", "软件")):
        row.locator(".itpm-d-add-option").click()
        option = row.locator(".itpm-d-option").last
        option.locator("input[name=option-value]").fill(value)
        option.locator("input[name=option-en]").fill(en)
        option.locator("input[name=option-zh]").fill(zh)
    row.locator("input[name=flag-filters]").check()
    screenshot(page, "designer-record-type-en")
    page.click("#itpm-designer-save")
    page.wait_for_selector(".alert-success")
    draft = draft_of(sqlite_app, "record_type", "incident")
    name = "failure_cause"
    assert draft["schema"]["properties"][name] == {
        "type": "string",
        "enum": ["hardware", "software"],
        "x-enum-titles": {
            "hardware": {"en": "Hardware", "zh": "硬件"},
            "software": {"en": "Software", "zh": "软件"},
        },
        "title": "Failure cause",
        "x-title-zh": "根本原因",
    }
    assert name in draft["filters"]
    page.click("#itpm-tab-json")
    page.wait_for_selector(".CodeMirror-linenumber")
    text = page.evaluate("window.ItpmDesigner.editor.getValue()")
    assert json.loads(text) == draft
    assert problems == [], problems
