"""Report PDFs asked for in the web: checked and queued at once, rendered by the jobs as the person who
asked, kept on the project with them as who asked, and the person told in their language (in the app,
and by e-mail with the PDF attached). Refusals are shown before anything is queued; a rendering that
fails fails its request, visibly. One request goes end to end through a real `itpm worker` on Redis
and PostgreSQL."""

from __future__ import annotations

import copy
import datetime as dt
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select, update
from test_digest_and_report_actions import mailed, people  # noqa: F401 - fixtures
from test_notifications import Inbox, inbox  # noqa: F401 - the SMTP server fixture
from test_reports import Demo, build_demo
from test_worker import (  # noqa: F401 - fixtures
    Processes,
    all_handled,
    database,
    processes,
    wait_until,
)
from test_workflows import Cast

from conftest import csrf_token, login, settings_for
from itpm.access import Actor
from itpm.automations.queue import rq_queue
from itpm.automations.scheduler import tick
from itpm.db import utcnow, will_write
from itpm.models import Notification, Person, ReportRequest, StoredFile
from itpm.records.service import Records
from itpm.reports import service
from itpm.reports.jobs import dispatch_requests, job_id, resend_lost_requests, run_pending_requests
from itpm.web.app import create_app

PASSWORD = "report-request-password-1"


@pytest.fixture
def demo(runtime: Any) -> Demo:
    return build_demo(runtime)


def client_user(app: Any, username: str, customer: int, locale: str | None = None) -> FlaskClient:
    """A client organisation's user of the portal, logged in, reading the screens in English."""
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        # as a request that writes does: on SQLite, the write lock first, or a commit of the jobs thread
        # between the role's read and the user's insert fails the insert at once ("database is locked")
        will_write(app.extensions["itpm"].sessions())
        person = sm.add_user(
            username, "Chen", "Client", f"{username}@itpm.invalid", [sm.find_role("client")], PASSWORD
        )
        person.client_id, person.locale = customer, locale
        sm.session.commit()
    client = app.test_client()
    login(client, username, PASSWORD)
    client.get("/lang/en")
    return client


def ask(client: FlaskClient, project: int, **form: str) -> Any:
    token = csrf_token(client, "/reports/client_status/")
    return client.post(
        "/reports/client_status/render",
        data={"csrf_token": token, "project": str(project), "month": "2026-03", "lang": "en", **form},
    )


def requests(runtime: Any) -> list[ReportRequest]:
    with runtime.session() as session:
        return list(session.scalars(select(ReportRequest).order_by(ReportRequest.id)))


def kept_pdfs(runtime: Any) -> list[StoredFile]:
    with runtime.session() as session:
        return list(session.scalars(select(StoredFile).where(StoredFile.field.startswith("report:"))))


def notices(runtime: Any, username: str) -> list[Notification]:
    with runtime.session() as session:
        person = session.scalar(select(Person).where(Person.username == username))
        return list(session.scalars(select(Notification).where(Notification.person_id == person.id)))


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_client_asks_for_their_report_and_gets_it_once_the_jobs_have_rendered_it(
    app: Any,
    runtime: Any,
    demo: Demo,
    inbox: tuple[Inbox, int],  # noqa: F811
) -> None:
    mailbox, port = inbox
    runtime.settings = replace(
        runtime.settings, smtp_host="127.0.0.1", smtp_port=port, base_url="https://itpm.example.com"
    )
    bank = client_user(app, "bank_client", demo.customer)
    response = ask(bank, demo.project)
    assert response.status_code == 302
    [asked] = requests(runtime)
    assert (asked.status, asked.arguments, asked.lang) == (
        "queued",
        {"month": "2026-03", "project": demo.project},
        "en",
    )
    assert kept_pdfs(runtime) == []  # the web request rendered nothing
    page = bank.get(response.headers["Location"]).get_data(as_text=True)
    assert "The report is being rendered; you will be notified when it is ready." in page
    assert f'id="report-request-{asked.id}"' in page and "queued" in page
    assert "data-refresh=" in page  # the page follows the request until it is done

    assert run_pending_requests(runtime) == 1

    [done] = requests(runtime)
    [kept] = kept_pdfs(runtime)
    assert done.status == "done" and done.file_id == kept.id and done.error == ""
    assert (kept.record_type, kept.record_id, kept.uploaded_by) == ("project", demo.project, "bank_client")
    assert kept.filename == f"client_status-2026-03-{demo.project}-en-v1.pdf"
    [notice] = notices(runtime, "bank_client")  # in the client's language: Chinese, the default
    assert notice.subject == "报告已生成：客户项目状态报告"
    assert notice.link == f"/reports/file/{kept.id}"
    [mail] = mailbox.to("bank_client@itpm.invalid")
    assert mail["Subject"] == "报告已生成：客户项目状态报告"
    assert f"https://itpm.example.com/reports/file/{kept.id}" in mail.get_body(("plain",)).get_content()
    [attached] = list(mail.iter_attachments())
    assert attached.get_filename() == kept.filename and attached.get_content_type() == "application/pdf"

    page = bank.get(response.headers["Location"]).get_data(as_text=True)
    assert f'href="/reports/file/{kept.id}"' in page and "data-refresh=" not in page
    download = bank.get(f"/reports/file/{kept.id}")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert download.data == attached.get_content()
    text = pdf_text(download.data)
    assert "Client project status report" in text and "核心银行系统升级" in text
    assert "Key engineer leaves" not in text  # rendered with the client's rights: no risk register

    stranger = client_user(app, "northwind_client", demo.other_customer)
    assert stranger.get(f"/reports/file/{kept.id}").status_code == 404
    assert "report-request-" not in stranger.get(f"/reports/client_status/?project={demo.project}").get_data(
        as_text=True
    )


def test_bad_parameters_are_shown_on_the_form_and_nothing_is_queued(
    sqlite_app: Any, demo_on_sqlite: Demo
) -> None:
    runtime = sqlite_app.extensions["itpm"]
    bank = client_user(sqlite_app, "bank_client", demo_on_sqlite.customer)
    response = ask(bank, demo_on_sqlite.project, month="March")
    assert response.status_code == 302
    page = bank.get(response.headers["Location"]).get_data(as_text=True)
    assert "The report could not be rendered: The report&#39;s parameters have problems." in page
    assert "/parameters/month: must be a month (YYYY-MM)" in page
    assert ask(bank, demo_on_sqlite.other_project).status_code == 404  # another client's project
    assert requests(runtime) == []


@pytest.fixture
def demo_on_sqlite(sqlite_app: Any) -> Demo:
    return build_demo(sqlite_app.extensions["itpm"])


def publish_report(runtime: Any, name: str, change: Any) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        body = copy.deepcopy(registry.published_body(registry.get("report", name)))
        change(body)
        registry.save_draft(body, "admin")
        registry.publish([("report", name)], "admin")


def test_a_report_that_fails_to_render_fails_its_request_and_tells_who_asked(
    sqlite_app: Any, demo_on_sqlite: Demo
) -> None:
    runtime = sqlite_app.extensions["itpm"]
    bank = client_user(sqlite_app, "bank_client", demo_on_sqlite.customer, locale="en")
    response = ask(bank, demo_on_sqlite.project)
    assert response.status_code == 302

    def broken(body: dict[str, Any]) -> None:  # published after the request, before the job runs
        body["files"]["template.html"] = "{{ 1 // 0 }}\n" + body["files"]["template.html"]

    publish_report(runtime, "client_status", broken)
    assert run_pending_requests(runtime) == 1

    [failed] = requests(runtime)
    assert failed.status == "failed" and failed.file_id is None
    assert failed.error == "template.html, line 1: ZeroDivisionError: integer division or modulo by zero"
    assert kept_pdfs(runtime) == []
    [notice] = notices(runtime, "bank_client")  # in English, as this client reads
    assert notice.subject == "Report not rendered: Client project status report"
    assert failed.error in notice.body
    assert notice.link == f"/reports/client_status/?month=2026-03&project={demo_on_sqlite.project}&lang=en"
    page = bank.get(response.headers["Location"]).get_data(as_text=True)
    assert "failed" in page and "ZeroDivisionError: integer division or modulo by zero" in page
    assert "data-refresh=" not in page
    assert run_pending_requests(runtime) == 0  # failed for good: not tried again, not told twice
    assert len(notices(runtime, "bank_client")) == 1


def test_a_report_about_no_record_is_kept_for_the_person_who_asked_alone(
    sqlite_app: Any, demo_on_sqlite: Demo
) -> None:
    runtime = sqlite_app.extensions["itpm"]

    def any_department(body: dict[str, Any]) -> None:
        body["parameters"]["required"] = []

    publish_report(runtime, "department_health", any_department)
    bank = client_user(sqlite_app, "bank_client", demo_on_sqlite.customer)
    token = csrf_token(bank, "/reports/department_health/")
    response = bank.post("/reports/department_health/render", data={"csrf_token": token, "lang": "en"})
    assert response.status_code == 302
    assert run_pending_requests(runtime) == 1
    [kept] = kept_pdfs(runtime)
    assert kept.record_type == "personal" and kept.uploaded_by == "bank_client"
    assert bank.get(f"/reports/file/{kept.id}").status_code == 200
    stranger = client_user(sqlite_app, "bank_colleague", demo_on_sqlite.customer)
    assert stranger.get(f"/reports/file/{kept.id}").status_code == 404


def test_a_pdf_too_big_for_an_e_mail_is_linked_and_not_attached(
    sqlite_app: Any,
    demo_on_sqlite: Demo,
    inbox: tuple[Inbox, int],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = sqlite_app.extensions["itpm"]
    mailbox, port = inbox
    runtime.settings = replace(runtime.settings, smtp_host="127.0.0.1", smtp_port=port)
    monkeypatch.setattr(service, "ATTACHMENT_LIMIT", 1024)
    bank = client_user(sqlite_app, "bank_client", demo_on_sqlite.customer)
    assert ask(bank, demo_on_sqlite.project).status_code == 302
    assert run_pending_requests(runtime) == 1
    [kept] = kept_pdfs(runtime)
    [mail] = mailbox.to("bank_client@itpm.invalid")
    assert list(mail.iter_attachments()) == []
    assert f"/reports/file/{kept.id}" in mail.get_body(("plain",)).get_content()


def test_without_redis_the_web_process_renders_requests_in_its_jobs_thread(
    fresh_database: Any, tmp_path: Path
) -> None:
    """The embedded default: no worker, no Redis; the request is rendered by a thread of the web process."""
    app = create_app(settings_for(fresh_database("sqlite"), tmp_path, jobs="thread"))
    runtime = app.extensions["itpm"]
    try:
        demo = build_demo(runtime)
        wait_until(lambda: all_handled(runtime), 60, "the demo's events were not handled")
        bank = client_user(app, "bank_client", demo.customer)
        assert ask(bank, demo.project).status_code == 302  # the commit wakes the jobs' thread
        done = wait_until(
            lambda: [r for r in requests(runtime) if r.status in ("done", "failed")], 120, "never rendered"
        )
        assert [(r.status, r.error) for r in done] == [("done", "")]
        assert [f.uploaded_by for f in kept_pdfs(runtime)] == ["bank_client"]
    finally:
        runtime.dispose()


def test_a_request_whose_job_redis_lost_is_sent_again(
    sqlite_app: Any,
    demo_on_sqlite: Demo,
    redis_url: str,  # noqa: F811
) -> None:
    runtime = sqlite_app.extensions["itpm"]
    queue = rq_queue(redis_url)
    bank = client_user(sqlite_app, "bank_client", demo_on_sqlite.customer)
    assert ask(bank, demo_on_sqlite.project).status_code == 302
    [asked] = requests(runtime)
    assert dispatch_requests(runtime, queue) == 1 and dispatch_requests(runtime, queue) == 0
    assert queue.fetch_job(job_id(asked.id)) is not None
    queue.connection.flushdb()  # Redis restarted without its data
    assert resend_lost_requests(runtime, queue, utcnow()) == 0  # too early to call it lost
    assert resend_lost_requests(runtime, queue, utcnow() + dt.timedelta(minutes=6)) == 1
    assert dispatch_requests(runtime, queue) == 1
    assert queue.fetch_job(job_id(asked.id)).func_name == "itpm.reports.jobs.render_request"
    queue.connection.close()


def test_an_automations_report_is_rendered_for_each_readers_rights_and_attached(
    runtime: Any,
    people: Cast,  # noqa: F811
    mailed: Inbox,  # noqa: F811
) -> None:
    """The monthly status report goes to the project's manager, and (by an admin's edit) to the
    client's users and to an outsider: each reader's PDF shows what they may read, no more."""

    def also_to_the_client_and_an_outsider(body: dict[str, Any]) -> None:
        body["actions"][0]["to"] += [{"role": "client"}, {"user": "outsider"}]

    with runtime.session() as session:
        session.add(Person(username="outsider", first_name="O", last_name="S", email="outsider@itpm.invalid"))
        session.execute(update(Person).where(Person.id == people.ids["pm"]).values(locale="en"))
        session.commit()
    with runtime.session() as session:
        registry = runtime.registry(session)
        body = copy.deepcopy(
            registry.published_body(registry.get("automation", "monthly_client_status_report"))
        )
        also_to_the_client_and_an_outsider(body)
        registry.save_draft(body, "admin")
        registry.publish([("automation", "monthly_client_status_report")], "admin")
    catalog = runtime.catalog()
    with runtime.session() as session:
        records = Records(session, catalog, Actor.system())
        project = records.get("project", people.project)
        records.update("project", people.project, {"phase": "execution"}, project.version)
        records.create(
            "risk",
            {"project": people.project, "title": "Vendor may slip", "probability": "high", "impact": "high"},
        )
        session.commit()
    first_of_april = dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai
    assert tick(runtime, first_of_april - dt.timedelta(minutes=1), first_of_april)["schedules"] == 1
    kept = {f.uploaded_by: f for f in kept_pdfs(runtime)}  # one per reader's rights and language
    assert sorted(kept) == ["buyer", "pm"]
    [to_manager] = mailed.to("pm@itpm.invalid")
    [attached] = list(to_manager.iter_attachments())
    assert attached.get_filename() == kept["pm"].filename
    assert "Core banking" in pdf_text(attached.get_content())
    assert "Vendor may slip" in pdf_text(attached.get_content())  # the manager reads the risk register
    [to_client] = mailed.to("buyer@itpm.invalid")
    [attached] = list(to_client.iter_attachments())
    assert attached.get_filename() == kept["buyer"].filename
    assert "Vendor may slip" not in pdf_text(attached.get_content())  # the client may not
    assert mailed.to("outsider@itpm.invalid") == []  # may not read the project: not told of it
    with runtime.session() as session:
        client = Records(session, runtime.catalog(), people.actor(runtime, "buyer"))
        assert [f.id for f in client.files("project", people.project)] == [kept["buyer"].id]
        manager = Records(session, runtime.catalog(), people.actor(runtime, "pm"))
        assert [f.id for f in manager.files("project", people.project)] == [kept["pm"].id]


@pytest.mark.postgres
def test_an_itpm_worker_renders_a_request_made_in_the_web_on_redis_and_postgresql(
    database: str,  # noqa: F811
    tmp_path: Path,
    redis_url: str,  # noqa: F811
    processes: Processes,  # noqa: F811
) -> None:
    app = create_app(settings_for(database, tmp_path, redis_url=redis_url, jobs="rq"))
    runtime = app.extensions["itpm"]
    try:
        demo = build_demo(runtime)
        bank = client_user(app, "bank_client", demo.customer)
        processes.worker(database, redis_url, "reports")
        response = ask(bank, demo.project)
        assert response.status_code == 302  # the commit hands the request to Redis at once

        def finished() -> ReportRequest | None:
            [found] = requests(runtime)
            return found if found.status in ("done", "failed") else None

        done = wait_until(finished, 120, "the worker never rendered the report")
        assert (done.status, done.error) == ("done", "")
        [kept] = kept_pdfs(runtime)
        assert (kept.id, kept.uploaded_by) == (done.file_id, "bank_client")
        download = bank.get(f"/reports/file/{kept.id}")
        assert download.status_code == 200
        assert "Client project status report" in pdf_text(download.data)
        [notice] = notices(runtime, "bank_client")
        assert notice.link == f"/reports/file/{kept.id}"
        with runtime.session() as session:
            assert session.scalar(select(func.count()).select_from(ReportRequest)) == 1
    finally:
        runtime.dispose()
