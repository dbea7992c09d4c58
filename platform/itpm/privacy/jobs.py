"""Who makes subject-access exports: an RQ worker when there is Redis, else a thread of this process,
beside the report requests (`itpm.reports.jobs`), on the same queue with the same retries."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import or_, select, update

from itpm.access import Actor
from itpm.audit import note
from itpm.audit.context import acting
from itpm.automations.queue import dispatch_queued, job, worker_runtime
from itpm.db import utcnow
from itpm.models import Person, PrivacyRequest
from itpm.privacy.erasure import PrivacyRefused
from itpm.privacy.export import export_zip, keep_export

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: A running export left this long was abandoned by a process that ended: the next one takes it over.
ABANDONED = dt.timedelta(minutes=30)
#: The session flag that wakes the jobs after the commit (`itpm.runtime.Runtime._after_commit`).
WAKE = "itpm_privacy_requests"


def request_export(session: Any, person_id: int, requester: Actor) -> PrivacyRequest:
    """Ask for a person's subject-access export; a job makes it."""
    if session.get(Person, person_id) is None:  # an erased person's export shows what remains: pseudonyms
        raise PrivacyRefused(_("No person #%(id)s.", id=person_id))
    request = PrivacyRequest(
        kind="export",
        person_id=person_id,
        status=QUEUED,
        requested_by_id=requester.id,
        requested_by=requester.username,
    )
    session.add(request)
    session.flush()
    session.info[WAKE] = True
    return request


def make_export(runtime: Any, request_id: int, clock: Callable[[], dt.datetime] = utcnow) -> str | None:
    """Make one export (taking it over if abandoned); its status after, None if another process has it."""
    now = clock()
    with runtime.session() as session:
        claimed = session.execute(
            update(PrivacyRequest)
            .where(
                PrivacyRequest.id == request_id,
                PrivacyRequest.kind == "export",
                or_(
                    PrivacyRequest.status == QUEUED,
                    (PrivacyRequest.status == RUNNING) & (PrivacyRequest.started_at < now - ABANDONED),
                ),
            )
            .values(status=RUNNING, started_at=now, attempts=PrivacyRequest.attempts + 1)
        ).rowcount
        session.commit()
        if not claimed:
            return None
        request = session.get(PrivacyRequest, request_id)
        root = runtime.settings.instance_path
        with acting("system", f"job:privacy-export-{request_id}"):
            try:
                content = export_zip(session, runtime.catalog(), request.person_id, root, now)
                stored = keep_export(session, root, request.person_id, content)
                request.file_id, request.status, request.finished_at = stored.id, DONE, clock()
                request.summary = {"bytes": len(content)}
                session.commit()
            except Exception as error:  # noqa: BLE001 - the request says what went wrong, for the admin
                session.rollback()
                log.exception("privacy export %s failed", request_id)
                request = session.get(PrivacyRequest, request_id)
                request.status, request.error, request.finished_at = FAILED, str(error)[:2000], clock()
                note(
                    session,
                    "privacy.export_failed",
                    f"privacy_request/{request_id}",
                    {"error": str(error)[:200]},
                )
                session.commit()
        return request.status


def export_job(request_id: int) -> str | None:
    """The RQ job of one export (in a worker process)."""
    return make_export(worker_runtime(), request_id)


def dispatch_exports(runtime: Any, queue: Any, limit: int = 100) -> int:
    """Put exports not on the queue yet there, oldest first; how many."""
    return dispatch_queued(
        runtime, queue, PrivacyRequest, lambda i: job(export_job, i, f"itpm-privacy-export-{i}"), limit
    )


def run_pending_exports(runtime: Any, clock: Callable[[], dt.datetime] = utcnow) -> int:
    """Make every export waiting, in this process (the embedded default; tests call it too); how many."""
    with runtime.session() as session:
        now = clock()
        ids = list(
            session.scalars(
                select(PrivacyRequest.id).where(
                    PrivacyRequest.kind == "export",
                    or_(
                        PrivacyRequest.status == QUEUED,
                        (PrivacyRequest.status == RUNNING) & (PrivacyRequest.started_at < now - ABANDONED),
                    ),
                )
            )
        )
    return sum(1 for i in ids if make_export(runtime, i, clock) is not None)
