"""Staff create an incident through the generated form in Chromium, on a desktop and on a phone."""

from __future__ import annotations

from typing import Any

import pytest

from browser.conftest import log_in, screenshot
from conftest import ADMIN

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_create_an_incident_with_a_conditional_field_an_error_and_the_fix(
    live_server: str, browser: Any, device: str
) -> None:
    context = browser.new_context(viewport=VIEWPORTS[device], locale="en-GB")
    page = context.new_page()
    try:
        log_in(page, live_server, *ADMIN)
        page.goto(f"{live_server}/lang/en")
        page.goto(f"{live_server}/records/incident/add/")
        root_cause = page.locator(".itpm-entry[data-field=root_cause]")
        assert root_cause.is_hidden()

        page.fill("#field-title", "VPN gateway down for all users")
        page.select_option("#field-priority", "P1")
        assert root_cause.is_visible()  # shown for P1 and P2
        assert "itpm-required" not in (root_cause.get_attribute("class") or "")
        page.fill("#field-resolved_at", "2026-03-14T09:30")
        page.locator("#field-title").click()
        assert "itpm-required" in (root_cause.get_attribute("class") or "")  # required once resolved
        screenshot(page, f"incident-form-conditional-{device}")

        page.locator("#itpm-save").click()
        page.wait_for_selector("#itpm-form-errors")
        category = page.locator(".itpm-entry[data-field=category]")
        assert "is required" in category.inner_text()
        assert "is required" in page.locator(".itpm-entry[data-field=root_cause]").inner_text()
        assert page.locator("#field-title").input_value() == "VPN gateway down for all users"
        screenshot(page, f"incident-form-errors-{device}")

        page.select_option("#field-category", "network")
        page.fill("#field-root_cause", "Expired certificate on the gateway")
        page.locator("#itpm-save").click()
        page.wait_for_url("**/records/incident/show/**")
        assert "VPN gateway down for all users" in page.locator("h2").inner_text()
        assert "Expired certificate on the gateway" in page.content()
        screenshot(page, f"incident-created-{device}")

        page.goto(f"{live_server}/records/incident/list/?_flt_0_priority=P1")
        assert page.get_by_text("VPN gateway down for all users").filter(visible=True).count() == 1
        page.fill("input[name=q]", "gateway")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_by_text("VPN gateway down for all users").filter(visible=True).count() == 1
        screenshot(page, f"incident-list-filtered-{device}")
        page.fill("input[name=q]", "printer")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_by_text("VPN gateway down for all users").count() == 0
    finally:
        context.close()


def test_a_reference_is_picked_by_typing(live_server: str, browser: Any, sqlite_app: Any) -> None:
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="zh-CN")
    page = context.new_page()
    try:
        log_in(page, live_server, *ADMIN)
        page.goto(f"{live_server}/lang/zh")
        page.goto(f"{live_server}/records/project/add/")
        page.fill("#field-name", "核心银行系统升级")
        page.select_option("#field-project_type", "implementation")
        page.select_option("#field-phase", "planning")
        page.fill("#field-start_date", "2026-01-05")
        page.fill("#field-due_date", "2026-09-30")
        page.fill("#field-budget_plan", "1200000")
        page.locator("#itpm-save").click()
        page.wait_for_url("**/records/project/show/**")
        assert "¥1,200,000.00" in page.content()

        page.goto(f"{live_server}/records/task/add/")
        page.fill("#field-title", "安装服务器")
        page.locator(".itpm-entry[data-field=project] .select2-selection").click()
        page.keyboard.type("核心")
        page.wait_for_selector(".select2-results__option:has-text('核心银行系统升级')")
        page.locator(".select2-results__option:has-text('核心银行系统升级')").click()
        screenshot(page, "task-form-reference-zh")
        page.locator("#itpm-save").click()
        page.wait_for_url("**/records/task/show/**")
        assert "核心银行系统升级" in page.content()
        screenshot(page, "task-created-zh")
    finally:
        context.close()
