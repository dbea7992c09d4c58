"""The report screens: a person picks a report, previews it in the browser, asks for the PDF (the jobs
render and keep it), and downloads it again; what they may not see stays out of reach."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader
from test_reports import Demo, build_demo

from conftest import csrf_token
from itpm.reports.jobs import run_pending_requests


def test_the_reports_page_lists_the_starter_reports(admin_client: Any) -> None:
    html = admin_client.get("/reports/").get_data(as_text=True)
    assert "Client project status report" in html and "Monthly project health report" in html


def test_a_preview_shows_the_report_as_html_without_scripts(
    app: Any, admin_client: Any, runtime: Any
) -> None:
    demo: Demo = build_demo(runtime)
    form = admin_client.get(f"/reports/client_status/?project={demo.project}").get_data(as_text=True)
    assert "PRJ-2026-001 核心银行系统升级" in form  # the project picker offers it
    response = admin_client.get(
        f"/reports/client_status/preview/?project={demo.project}&month=2026-03&lang=zh"
    )
    assert response.status_code == 200
    assert "核心银行系统升级" in response.get_data(as_text=True)
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no script
    assert admin_client.get("/reports/client_status/preview/style.css").status_code == 200
    assert admin_client.get("/reports/client_status/preview/../../etc/passwd").status_code == 404


def test_a_rendered_report_is_kept_on_the_project_and_downloaded(admin_client: Any, runtime: Any) -> None:
    demo = build_demo(runtime)
    token = csrf_token(admin_client, f"/reports/client_status/?project={demo.project}")
    for _ in range(2):
        response = admin_client.post(
            "/reports/client_status/render",
            data={"csrf_token": token, "project": str(demo.project), "month": "2026-03", "lang": "en"},
        )
        assert response.status_code == 302
    assert run_pending_requests(runtime) == 2  # the jobs render what was asked for
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"client_status-2026-03-{demo.project}-en-v2.pdf" in page and "v1.pdf" in page
    link = page.split('href="/reports/file/', 1)[1].split('"', 1)[0]
    download = admin_client.get(f"/reports/file/{link}")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    text = PdfReader(io.BytesIO(download.data)).pages[0].extract_text()
    assert "Client project status report" in text
    assert admin_client.get("/reports/file/999999").status_code == 404


def test_a_report_on_a_missing_project_is_not_found(admin_client: Any) -> None:
    assert admin_client.get("/reports/client_status/preview/?project=999999").status_code == 404
    assert admin_client.get("/reports/no_such_report/").status_code == 404


def test_bad_parameters_are_shown_on_the_form(admin_client: Any) -> None:
    response = admin_client.get("/reports/client_status/preview/?month=March", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "/parameters/month: must be a month (YYYY-MM)" in html
    assert "/parameters/project: is required" in html


def test_previews_are_limited_per_person(fresh_database: Any, tmp_path: Any) -> None:
    """Each preview runs the admin's template for up to a minute: a person gets so many per period,
    and someone else still gets theirs."""
    from conftest import ADMIN, login, settings_for
    from itpm.web.app import create_app

    app = create_app(
        settings_for(fresh_database("sqlite"), tmp_path, extra={"ITPM_PREVIEW_LIMIT": "2 per hour"})
    )
    try:
        flask_app = app.dispatcher.app
        with flask_app.app_context():
            sm = flask_app.appbuilder.sm
            sm.add_user(
                "second", "Second", "Admin", "second@itpm.invalid", [sm.find_role("admin")], "pw-for-tests-2"
            )
        first, second = app.test_client(), app.test_client()
        login(first, *ADMIN)
        login(second, "second", "pw-for-tests-2")
        preview = "/reports/client_status/preview/?project=999999"
        assert [first.get(preview).status_code for _ in range(3)] == [404, 404, 429]
        assert second.get(preview).status_code == 404
        assert first.get("/reports/client_status/preview/style.css").status_code == 200  # only previews count
    finally:
        app.extensions["itpm"].dispose()
