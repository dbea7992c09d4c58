"""The integration tokens page in Chromium: the admin makes a token, copies it from the one page
that shows it, sees it listed by its prefix only, and revokes it (Chinese and English, desktop
and a 375 px phone)."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import log_in, screenshot
from tests.conftest import ADMIN


def test_an_admin_makes_and_revokes_an_integration_token(live_server: str, page: Any, browser: Any) -> None:
    log_in(page, live_server, *ADMIN)
    page.goto(f"{live_server}/integrations/")
    assert page.locator("h2").inner_text() == "集成令牌"
    screenshot(page, "integration-tokens-zh")
    page.select_option("#itpm-integration", "alertmanager")
    page.click("button:has-text('生成令牌')")
    page.locator("#itpm-new-token").wait_for()
    token = page.input_value("#itpm-new-token")
    assert token.startswith("itpm_") and page.locator("pre").inner_text().count(token) == 1
    screenshot(page, "integration-token-made-zh")
    page.goto(f"{live_server}/lang/en")
    page.goto(f"{live_server}/integrations/")
    assert token not in page.content() and token[:11] in page.content()
    screenshot(page, "integration-tokens-en")
    page.set_viewport_size({"width": 375, "height": 800})
    screenshot(page, "integration-tokens-en-375")
    page.click("button:has-text('Revoke')")
    page.locator("text=is revoked").wait_for()
    assert page.locator("button:has-text('Revoke')").count() == 0
    page.goto(f"{live_server}/lang/zh")
    page.goto(f"{live_server}/integrations/")
    screenshot(page, "integration-tokens-zh-375")
