"""An admin adds a field to `customer` in the definition editor, previews and publishes it, and a
member of staff fills it in at once, in the form's last section (issue 12, item 3)."""

from __future__ import annotations

import json
from typing import Any

from browser.conftest import log_in, screenshot
from conftest import ADMIN
from itpm.access import Actor
from itpm.records.service import Records

PASSWORD = "new-field-password-1"
REGION = {"type": "string", "title": "Region", "x-title-zh": "区域", "maxLength": 40}


def test_a_field_added_in_the_editor_is_filled_in_by_staff_at_once(
    sqlite_app: Any, live_server: str, browser: Any, page: Any
) -> None:
    runtime = sqlite_app.extensions["itpm"]
    with runtime.session() as session:  # a client already there: the preview reads its record
        Records(session, runtime.catalog(), Actor(1, "admin", frozenset({"admin"}))).create(
            "customer", {"name": "Acme Trading"}
        )
        session.commit()
    flask_app = sqlite_app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        sm.add_user("amy", "Amy", "Account", "amy@itpm.invalid", [sm.find_role("account_manager")], PASSWORD)

    log_in(page, live_server, *ADMIN)
    page.goto(f"{live_server}/lang/en")
    page.goto(f"{live_server}/definitions/list/?_flt_0_kind=record_type&_flt_0_name=customer")
    page.locator("a[href*='/definitions/show/']").first.click()
    page.get_by_role("link", name="Edit draft").click()
    page.wait_for_selector(".CodeMirror")
    body = json.loads(page.evaluate("ItpmJson.current.getValue()"))
    body["schema"]["properties"]["region"] = REGION
    page.evaluate("text => ItpmJson.current.setValue(text)", json.dumps(body, indent=2, ensure_ascii=False))
    page.get_by_role("button", name="Validate").click()
    page.wait_for_selector("#itpm-problems .alert-success")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_selector(".label-state-changed")

    page.locator("#itpm-preview").click()
    page.wait_for_selector("#itpm-publish")
    preview = page.locator(".itpm-publish").inner_text()
    assert "add the field region" in preview
    assert "Every existing record meets the new rules." in preview
    page.fill("input[name=comment]", "where the client is")
    screenshot(page, "new-field-preview-en")
    page.locator("#itpm-publish").click()
    page.wait_for_selector(".label-state-published")

    staff = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    amy = staff.new_page()
    try:
        log_in(amy, live_server, "amy", PASSWORD)
        amy.goto(f"{live_server}/lang/zh")
        amy.goto(f"{live_server}/records/customer/add/")
        other = amy.locator("fieldset, .panel, section").filter(has_text="其他字段").last
        assert other.locator("[name=region]").count() == 1
        amy.fill("[name=name]", "Blue Harbour Logistics")
        amy.fill("[name=region]", "华东")
        screenshot(amy, "new-field-staff-form-zh")
        amy.locator("#itpm-save").click()
        amy.wait_for_load_state()
        assert "/records/customer/show/" in amy.url, amy.locator("body").inner_text()[:2000]
        shown = amy.locator("body").inner_text()
        assert "区域" in shown and "华东" in shown and "其他字段" in shown
        screenshot(amy, "new-field-staff-record-zh")
    finally:
        staff.close()
