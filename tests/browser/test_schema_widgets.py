"""Forms of JSON Schemas in Chromium: rows added, removed and reordered, named values, and a field
the schema's if/then shows and requires, in Chinese and English."""

from __future__ import annotations

from typing import Any

import pytest
from schema_samples import SAMPLES
from test_schema_forms import publish

from browser.conftest import log_in, screenshot
from conftest import ADMIN


@pytest.mark.parametrize("language", ["zh", "en"])
def test_rows_are_added_removed_and_reordered_and_saved_in_that_order(
    live_server: str, browser: Any, sqlite_app: Any, language: str
) -> None:
    publish(sqlite_app.extensions["itpm"], SAMPLES["s_nested"][0], SAMPLES["s_named"][0])
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        log_in(page, live_server, *ADMIN)
        page.goto(f"{live_server}/lang/{language}")
        page.goto(f"{live_server}/records/s_nested/add/")
        page.fill("#field-title", "Moving house" if language == "en" else "搬家")
        tasks = page.locator(".itpm-entry[data-field=tasks]")
        for title in ("pack", "drive", "unpack"):
            tasks.locator(".itpm-row-add").last.click()
            page.locator(".itpm-entry[data-field=tasks] .itpm-row").last.locator(
                "input[type=text]"
            ).first.fill(title)
        rows = tasks.locator(".itpm-row-list > .itpm-row")
        assert rows.count() == 3
        rows.nth(1).locator("input[type=checkbox]").check()  # "drive" is done
        rows.nth(2).locator(".itpm-row-up").click()  # unpack before drive
        rows.nth(0).locator(".itpm-row-remove").click()  # pack removed
        assert rows.count() == 2
        screenshot(page, f"schema-rows-{language}")
        page.locator("#itpm-save").click()
        page.wait_for_url("**/records/s_nested/show/**")
        record_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        data = page.request.get(f"{live_server}/api/v1/records/s_nested/{record_id}").json()["data"]
        assert data["tasks"] == [{"title": "unpack", "done": False}, {"title": "drive", "done": True}]
        screenshot(page, f"schema-rows-saved-{language}")

        page.goto(f"{live_server}/records/s_named/add/")
        labels = page.locator(".itpm-entry[data-field=labels]")
        labels.locator(".itpm-row-add").click()
        labels.locator(".itpm-entry-key").last.fill("site")
        labels.locator(".itpm-row input[type=text]").last.fill("Pudong")
        page.fill("#field-anything", '{"free": [1, "two"]}')
        screenshot(page, f"schema-named-values-{language}")
        page.locator("#itpm-save").click()
        page.wait_for_url("**/records/s_named/show/**")
        record_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        data = page.request.get(f"{live_server}/api/v1/records/s_named/{record_id}").json()["data"]
        assert data["labels"] == {"site": "Pudong"} and data["anything"] == {"free": [1, "two"]}
    finally:
        context.close()


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_field_the_schemas_condition_needs_appears_and_is_required(
    live_server: str, browser: Any, sqlite_app: Any, language: str
) -> None:
    publish(sqlite_app.extensions["itpm"], SAMPLES["s_conditions"][0])
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        log_in(page, live_server, *ADMIN)
        page.goto(f"{live_server}/lang/{language}")
        page.goto(f"{live_server}/records/s_conditions/add/")
        food = page.locator(".itpm-entry[data-field=food]")
        water = page.locator(".itpm-entry[data-field=water]")
        city = page.locator(".itpm-entry[data-field=billing_city]")
        page.select_option("#field-animal", "cat")
        assert food.is_visible() and water.is_hidden()
        assert "itpm-required" in (food.get_attribute("class") or "")
        page.select_option("#field-animal", "fish")
        assert water.is_visible() and food.is_hidden()
        assert "itpm-required" not in (city.get_attribute("class") or "")
        page.fill("#field-credit_card", "4111")
        page.locator("#field-animal").click()
        assert "itpm-required" in (city.get_attribute("class") or "")  # dependentRequired
        screenshot(page, f"schema-conditions-{language}")
        page.locator("#itpm-save").click()
        page.wait_for_selector("#itpm-form-errors")
        assert ("必填" if language == "zh" else "is required") in water.inner_text()
        assert city.locator(".itpm-error").count() == 1
        screenshot(page, f"schema-conditions-errors-{language}")
        page.select_option("#field-water", "sea")
        page.fill("#field-billing_city", "Shanghai")
        page.locator("#itpm-save").click()
        page.wait_for_url("**/records/s_conditions/show/**")
    finally:
        context.close()


def test_nested_groups_read_and_edit_at_any_depth(live_server: str, browser: Any, sqlite_app: Any) -> None:
    from itpm.access import Actor
    from itpm.records.service import Records

    runtime = sqlite_app.extensions["itpm"]
    definition, data = SAMPLES["s_references"]
    publish(runtime, definition)
    with runtime.session() as session:
        record = Records(session, runtime.catalog(), Actor.system()).create("s_references", data)
        session.commit()
        record_id = record.id
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        log_in(page, live_server, *ADMIN)
        page.goto(f"{live_server}/lang/zh")
        page.goto(f"{live_server}/records/s_references/show/{record_id}")
        assert "Babel" in page.content()
        screenshot(page, "schema-nested-page-zh")
        page.goto(f"{live_server}/records/s_references/edit/{record_id}")
        leaves = page.locator("[data-name='tree.level_one.level_two.leaves'] .itpm-row-list > .itpm-row")
        assert leaves.count() == 2
        page.locator("[data-name='tree.level_one.level_two.leaves'] .itpm-row-add").click()
        leaves.last.locator("input[type=text]").fill("z")
        screenshot(page, "schema-nested-form-zh")
        page.locator("#itpm-save").click()
        page.wait_for_url("**/records/s_references/show/**")
        saved = page.request.get(f"{live_server}/api/v1/records/s_references/{record_id}").json()["data"]
        assert saved["tree"]["level_one"]["level_two"]["leaves"] == [
            {"label": "x"},
            {"label": "y"},
            {"label": "z"},
        ]
        assert saved["billing_address"] == data["billing_address"]
    finally:
        context.close()
