"""Every kind of page works in Chromium under the Content-Security-Policy: no script, style or
handler is refused, the pages' scripts run (pickers, filters, Swagger UI), sign-out is a form."""

from __future__ import annotations

from typing import Any

from browser.conftest import log_in, screenshot
from conftest import ADMIN, api_token


def watch(page: Any) -> list[str]:
    """What the browser refused or failed at on this page: CSP violations, script errors."""
    problems: list[str] = []

    def failed(response: Any) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):  # no icon: not our concern
            problems.append(f"{response.status} {response.url}")

    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "status of" not in m.text else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", failed)
    return problems


def seed(app: Any) -> dict[str, int]:
    """An incident and a change request waiting for a decision, so that every page has content."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_token(client, *ADMIN)}"}
    incident = client.post(
        "/api/v1/records/incident/",
        json={"data": {"title": "Mail is down", "priority": "P2", "category": "network"}},
        headers=headers,
    ).get_json()
    customer = client.post("/api/v1/records/customer/", json={"data": {"name": "Acme Bank"}}, headers=headers)
    return {"incident": incident["id"], "customer": customer.get_json()["id"]}


PAGES = [
    "/",
    "/records/incident/list/",
    "/records/incident/add/",
    "/records/incident/show/{incident}",
    "/records/incident/edit/{incident}",
    "/records/project/list/",
    "/records/project/add/",
    "/records/customer/list/",
    "/definitions/list/",
    "/definitions/show/1",
    "/definitions/edit/1",
    "/approvals/",
    "/approvals/delegations",
    "/reports/",
    "/notifications/",
    "/jobs/",
    "/jobs/webhooks",
    "/users/list/",
    "/users/add",
    "/users/show/1",
    "/users/userinfo/",
    "/resetmypassword/form",
    "/roles/list/",
    "/audit/",
    "/departmentview/list/",
    # the visual designers (AntV X6, SortableJS, CodeMirror): every kind, and a new definition
    "/designers/",
    "/designers/record_type/incident",
    "/designers/form/incident_form",
    "/designers/workflow/incident_flow",
    "/designers/automation/assign_new_incidents",
    "/designers/role/support_agent",
    "/designers/workflow/new_flow?new=1&record_type=risk",
    "/logout/",
]


def test_every_page_type_renders_with_no_script_refused(live_server: str, page: Any, sqlite_app: Any) -> None:
    ids = seed(sqlite_app)
    problems = watch(page)
    page.goto(f"{live_server}/login/")
    assert problems == [], problems
    log_in(page, live_server, *ADMIN)
    page.goto(f"{live_server}/lang/en")
    refused: dict[str, list[str]] = {}
    for path in PAGES:
        url = live_server + path.format(**ids)
        response = page.goto(url)
        page.wait_for_load_state("networkidle")
        assert response is not None and response.status == 200, path
        assert "content-security-policy" in response.headers, path
        if problems:
            refused[path] = list(problems)
            problems.clear()
    assert refused == {}, refused


def test_scripts_run_under_the_policy(live_server: str, page: Any, sqlite_app: Any) -> None:
    """Select2 pickers, FAB's list filters, the delete confirmation and Swagger UI all work."""
    ids = seed(sqlite_app)
    problems = watch(page)
    log_in(page, live_server, *ADMIN)
    page.goto(f"{live_server}/lang/en")

    page.goto(f"{live_server}/records/project/add/")
    assert page.locator(".select2-container").count() > 0  # the reference pickers came alive

    page.goto(f"{live_server}/records/incident/list/?_flt_0_priority=P2")
    assert page.locator("table.filters tr").count() == 1  # FAB's filter script drew the active filter
    assert page.get_by_text("Mail is down").filter(visible=True).count() == 1  # a row, or a card on a phone

    page.goto(f"{live_server}/records/incident/show/{ids['incident']}")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.locator("form[data-confirm] button[type=submit]").first.click()
    page.wait_for_timeout(300)
    assert asked == ["Delete this record?"]
    assert "/records/incident/show/" in page.url  # dismissed: nothing deleted, still on the record

    page.goto(f"{live_server}/swagger/v1")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() > 10
    screenshot(page, "csp-swagger-ui")
    assert problems == [], problems
    # "Try it out" with the browser's session sends the CSRF token: the call reaches the endpoint
    operation = page.locator(".opblock-post").filter(has_text="/api/v1/approvals/{approval_id}/approve").first
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("input[placeholder='approval_id']").fill("999")
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    screenshot(page, "csp-swagger-try-it-out")
    status = status.inner_text().strip()
    assert status == "404"  # no such approval; without the token it would be 400


def test_signing_out_from_the_menu(live_server: str, page: Any) -> None:
    log_in(page, live_server, *ADMIN)
    page.goto(f"{live_server}/lang/en")
    page.goto(f"{live_server}/records/incident/list/")
    page.locator(".navbar-right a.dropdown-toggle:has(.fa-user)").click()
    screenshot(page, "csp-user-menu-sign-out")
    with page.expect_navigation():
        page.locator("form.itpm-logout-form button").click()
    assert "/login/" in page.url
    page.goto(f"{live_server}/records/incident/list/")
    assert "/login/" in page.url  # signed out
