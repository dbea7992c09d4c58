"""In Chromium: a record type whose titles carry a script and an onerror image runs neither, on any page."""

from __future__ import annotations

from typing import Any

from test_escaping import FLOW, FORM, HOSTILE, PAYLOAD, READER, definition_ids, pages
from test_schema_changes import publish

from browser.conftest import log_in, screenshot
from conftest import ADMIN
from itpm.access import Actor
from itpm.records.service import Records


def test_no_script_of_a_title_runs_in_the_browser(sqlite_app: Any, live_server: str, page: Any) -> None:
    runtime = sqlite_app.extensions["itpm"]
    publish(runtime, HOSTILE, [FORM, FLOW, READER])
    with runtime.session() as session:
        record = Records(session, runtime.catalog(), Actor.system()).create(
            "hostile", {"title": f"Record {PAYLOAD}", "level": "high", "notes": PAYLOAD}
        )
        session.commit()
        record_id = record.id
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, live_server, *ADMIN)
    for language in ("en", "zh"):
        page.goto(f"{live_server}/lang/{language}")
        for path in pages(record_id, definition_ids(runtime)):
            page.goto(f"{live_server}{path}")
            page.wait_for_load_state("load")
            assert page.evaluate("window.itpmXss") is None, path
    page.goto(f"{live_server}/records/hostile/show/{record_id}")
    page.locator(".navbar .dropdown-toggle").filter(has_text="Category").first.click()  # the menu, opened
    assert page.evaluate("window.itpmXss") is None
    assert "<script>" in page.locator(".navbar").inner_text()  # shown as the text it is
    screenshot(page, "escaped-titles-menu")
    assert dialogs == []
