"""Report PDFs people ask for in the web: checked and queued at once, rendered later as the person who asked.

`request_report` checks the parameters and the person's right to the report
(what the rendering would refuse for them is refused before anything is
queued) and saves a `ReportRequest`; its commit wakes the jobs, which run
`render_requested_report`: an RQ worker when there is Redis, a thread of the
web process otherwise (`itpm.reports.jobs` says who and when). It renders as
the person who asked, in a child process within limits, keeps the PDF on the
record with them as who asked, and tells them, in their language, in the app
and by e-mail. However often a job runs it, a request is kept once and told once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from flask_babel import lazy_gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from itpm.access import Actor
from itpm.catalog import Catalog
from itpm.db import utcnow
from itpm.files import FileRefused
from itpm.models import Person, ReportRequest, StoredFile
from itpm.notifications import notify
from itpm.records.service import Forbidden, RecordError, Records
from itpm.reports.definition import report_definition
from itpm.reports.service import (
    checked_parameters,
    pdf_attachment,
    prepare_report,
    render_prepared,
    store_report,
)
from itpm.reports.templates import RenderError

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
PENDING = (QUEUED, RUNNING)
#: Set on a session that saved a request: its commit wakes whatever runs jobs (`itpm.runtime`).
WAKE_JOBS = "itpm_report_requests"
#: A request running this long without Redis was left by a process that ended: another takes it over.
ABANDONED = dt.timedelta(minutes=10)
#: The requests a person sees on a report's page, newest first.
SHOWN = 10
#: The notices, in the reader's language (`itpm.notifications.compose` fills the placeholders).
READY = (
    {"en": "Report ready: {report}", "zh": "报告已生成：{report}"},
    {"en": "{file} is ready to download: {link}", "zh": "{file} 已生成，可下载：{link}"},
)
REFUSED = (
    {"en": "Report not rendered: {report}", "zh": "报告未能生成：{report}"},
    {
        "en": "The report you asked for could not be rendered: {error}\n\n{link}",
        "zh": "您请求的报告未能生成：{error}\n\n{link}",
    },
)


def request_report(
    records: Records, name: str, given: Mapping[str, Any], lang: str, now: dt.datetime | None = None
) -> ReportRequest:
    """Ask for report `name` as the person of `records`: checked now, rendered by the jobs after the commit.

    NotFound (no such report, or a record the person may not see), Forbidden,
    Invalid (bad parameters): nothing is saved.
    """
    if records.actor.id is None:
        raise Forbidden(_("Only a person can ask for a report; commands render it at once."))
    definition = report_definition(records.catalog, name)
    now = now or records.clock()
    arguments, _subject = checked_parameters(
        records, definition, given, lang, now.astimezone(records.zone).date()
    )
    request = ReportRequest(
        report=name,
        arguments=arguments,
        lang=lang,
        requested_by_id=records.actor.id,
        status=QUEUED,
        created_at=now,
    )
    records.session.add(request)
    records.session.flush()
    records.session.info[WAKE_JOBS] = True
    return request


def requests_of(session: Session, person_id: int, report: str, limit: int = SHOWN) -> list[ReportRequest]:
    """The person's latest requests for a report, newest first."""
    return list(
        session.scalars(
            select(ReportRequest)
            .options(selectinload(ReportRequest.file))
            .where(ReportRequest.requested_by_id == person_id, ReportRequest.report == report)
            .order_by(ReportRequest.id.desc())
            .limit(limit)
        )
    )


def render_requested_report(
    runtime: Any,
    request_id: int,
    *,
    last_attempt: bool = True,
    take_over_before: dt.datetime | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> str | None:
    """Render request `request_id` as who asked, keep the PDF, tell them; its status after.

    None when there is no such request, or another job has it (one that runs,
    and started after `take_over_before` when that is given). A refused or
    failed rendering fails the request with its reason; any other error is
    raised for the job's retry, except on the `last_attempt`. A request done
    or failed before is only told again (which tells nobody twice).
    """
    catalog = runtime.catalog()  # before the session's first query: on SQLite, its transaction holds the lock
    with runtime.session() as session:
        request, attempt = _claim(session, request_id, clock(), take_over_before)
        if request is None:
            return None
        if attempt is not None:
            try:
                _render(runtime, catalog, session, request, attempt, clock)
            except (RecordError, RenderError, FileRefused) as error:
                session.rollback()
                _fail(session, request_id, attempt, _reason(error), clock())
            except Exception as error:
                session.rollback()
                if not last_attempt:
                    raise
                log.exception("report request %s failed", request_id)
                _fail(session, request_id, attempt, f"{type(error).__name__}: {error}", clock())
            session.refresh(request)
        if request.status in (DONE, FAILED):
            _tell(runtime, catalog, session, request, clock())
        return request.status


def fail_request(
    runtime: Any, request_id: int, error: str, clock: Callable[[], dt.datetime] = utcnow
) -> None:
    """A request whose job is gone for good (its worker died on the last try): failed, and its person told."""
    catalog = runtime.catalog()
    with runtime.session() as session:
        request = session.get(ReportRequest, request_id)
        if request is None or request.status not in PENDING:
            return
        _fail(session, request_id, request.attempts, error, clock())
        session.refresh(request)
        if request.status == FAILED:
            _tell(runtime, catalog, session, request, clock())


def _claim(
    session: Session, request_id: int, now: dt.datetime, take_over_before: dt.datetime | None
) -> tuple[ReportRequest | None, int | None]:
    """The request and the attempt this job took it with; or as it ended (no attempt); or None if someone has it.

    Taken by one conditional UPDATE, the transaction's first statement: on SQLite
    it waits for the write lock instead of failing on a snapshot that moved on.
    """
    running = ReportRequest.status == RUNNING
    if take_over_before is not None:
        running = running & (ReportRequest.started_at < take_over_before)
    taken = session.execute(
        update(ReportRequest)
        .where(ReportRequest.id == request_id, (ReportRequest.status == QUEUED) | running)
        .values(status=RUNNING, started_at=now, attempts=ReportRequest.attempts + 1)
        .returning(ReportRequest.attempts)
    )
    attempt = taken.scalar_one_or_none()
    session.commit()
    request = session.get(ReportRequest, request_id)
    if request is None or attempt is not None or request.status in (DONE, FAILED):
        return request, attempt
    return None, None


def _render(
    runtime: Any,
    catalog: Catalog,
    session: Session,
    request: ReportRequest,
    attempt: int,
    clock: Callable[[], dt.datetime],
) -> None:
    """The PDF rendered with the person's own rights, kept, and the request done: in one commit."""
    person = session.get(Person, request.requested_by_id)
    assert person is not None  # a person's requests go with them (ON DELETE CASCADE)
    records = Records(session, catalog, Actor.of(person), clock=clock, timezone=runtime.settings.timezone)
    prepared = prepare_report(records, request.report, request.arguments, request.lang, now=clock())
    session.commit()  # the data is read: no transaction stays open (SQLite's lock) while the PDF is made
    rendered = render_prepared(prepared)
    # Still ours? Asked first in the transaction that keeps the PDF, by a write (SQLite: it waits for the lock).
    ours = session.execute(
        update(ReportRequest)
        .where(
            ReportRequest.id == request.id,
            ReportRequest.status == RUNNING,
            ReportRequest.attempts == attempt,
        )
        .values(finished_at=clock())
    )
    if ours.rowcount != 1:  # another job took it over meanwhile: its PDF is the one kept
        session.rollback()
        return
    stored = store_report(records, rendered, runtime.settings.instance_path)
    session.execute(
        update(ReportRequest)
        .where(ReportRequest.id == request.id)
        .values(status=DONE, file_id=stored.id, error="")
    )
    session.commit()


def _fail(session: Session, request_id: int, attempt: int, error: str, now: dt.datetime) -> None:
    session.execute(
        update(ReportRequest)
        .where(
            ReportRequest.id == request_id,
            ReportRequest.status.in_(PENDING),
            ReportRequest.attempts == attempt,
        )
        .values(status=FAILED, error=error[:4000], finished_at=now)
    )
    session.commit()


def _reason(error: Exception) -> str:
    """Why a rendering was refused, in words for the person who asked (every bad parameter named)."""
    if isinstance(error, RecordError):
        return "; ".join([str(error.message), *(str(p) for p in error.problems)])
    return str(error)


def _tell(runtime: Any, catalog: Catalog, session: Session, request: ReportRequest, now: dt.datetime) -> None:
    """The person who asked hears how it went: in the app and (with SMTP) by e-mail, once per request."""
    person = session.get(Person, request.requested_by_id)
    if person is None:
        return
    document = catalog.configuration.get("report", request.report)
    title: Any = document.body["title"] if document is not None else request.report
    key = f"report-request:{request.id}"
    page = f"/reports/{request.report}/?{urlencode({**request.arguments, 'lang': request.lang})}"
    if request.status == DONE:
        stored = session.get(StoredFile, request.file_id) if request.file_id else None
        attachment = pdf_attachment(stored, runtime.settings.instance_path) if stored else None
        subject, body = READY
        context = {"report": title, "file": stored.filename if stored else request.report}
        link = f"/reports/file/{stored.id}" if stored else page
    else:
        attachment = None
        subject, body = REFUSED
        context = {"report": title, "error": request.error}
        link = page
    notify(
        session,
        runtime.settings,
        [person],
        key,
        subject,
        body,
        context,
        link,
        now=now,
        automation="reports",
        attachments={person.id: [attachment]} if attachment else None,
    )
