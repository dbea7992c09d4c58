"""Who renders the report PDFs people request: an RQ worker when there is Redis, else a thread of this process.

Beside the automations' jobs (`itpm.automations.jobs`), on the same queue with
the same retries and time limit (`itpm.automations.queue`). A request goes on the queue from whichever
process sees it first: the web process right after its commit, or a worker's
dispatcher within a second (so one made while Redis was down goes once it is
back); one whose job Redis lost is put there again by the scheduler's tick.
Without Redis the jobs' thread renders waiting requests after the events.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select, update

from itpm.automations.queue import JOB_TIMEOUT, STALE, dispatch_queued, job, worker_runtime
from itpm.db import utcnow
from itpm.models import ReportRequest
from itpm.reports.requests import ABANDONED, PENDING, QUEUED, RUNNING, fail_request, render_requested_report

log = logging.getLogger(__name__)

#: A request running this long after its job started is past any job's time limit: its job is looked for.
OVERDUE = dt.timedelta(seconds=JOB_TIMEOUT) + STALE


def render_request(request_id: int) -> str | None:
    """The RQ job of one report request (in a worker process); its status after."""
    from rq import get_current_job

    job = get_current_job()
    return render_requested_report(
        worker_runtime(), request_id, last_attempt=job is None or not job.retries_left
    )


def job_id(request_id: int) -> str:
    return f"itpm-report-{request_id}"


def dispatch_requests(runtime: Any, queue: Any, limit: int = 500) -> int:
    """Put requests that are not on the queue yet there, oldest first; how many."""
    return dispatch_queued(runtime, queue, ReportRequest, lambda i: job(render_request, i, job_id(i)), limit)


def resend_lost_requests(runtime: Any, queue: Any, now: dt.datetime) -> int:
    """Requests long on the queue (or running past any time limit) whose job Redis no longer has: sent again.

    A job that failed for good (its worker died on the last try) fails its
    request, and the person is told. How many were sent again or failed.
    """
    with runtime.session() as session:
        stale = list(
            session.scalars(
                select(ReportRequest.id).where(
                    ReportRequest.status.in_(PENDING),
                    ReportRequest.dispatched_at < now - STALE,
                    or_(ReportRequest.status == QUEUED, ReportRequest.started_at < now - OVERDUE),
                )
            )
        )
    found = 0
    for request_id in stale:
        job = queue.fetch_job(job_id(request_id))
        if job is None:
            log.warning("report request %s was sent but its job is gone; sending it again", request_id)
            with runtime.session() as session:
                session.execute(
                    update(ReportRequest)
                    .where(ReportRequest.id == request_id, ReportRequest.status.in_(PENDING))
                    .values(status=QUEUED, dispatched_at=None)
                )
                session.commit()
            found += 1
        elif job.is_failed:
            fail_request(runtime, request_id, "the job rendering it failed and was not retried")
            found += 1
    return found


def run_pending_requests(runtime: Any, clock: Callable[[], dt.datetime] = utcnow) -> int:
    """Render every request waiting, in this process (the embedded default; tests and commands call it too).

    Also one that a process which ended left running. How many were rendered or failed.
    """
    done = 0
    seen: set[int] = set()
    while True:
        now = clock()
        with runtime.session() as session:
            ids = [
                i
                for i in session.scalars(
                    select(ReportRequest.id)
                    .where(
                        or_(
                            ReportRequest.status == QUEUED,
                            (ReportRequest.status == RUNNING) & (ReportRequest.started_at < now - ABANDONED),
                        )
                    )
                    .order_by(ReportRequest.id)
                    .limit(50)
                )
                if i not in seen
            ]
        if not ids:
            return done
        for request_id in ids:
            seen.add(request_id)
            if render_requested_report(runtime, request_id, take_over_before=now - ABANDONED, clock=clock):
                done += 1
