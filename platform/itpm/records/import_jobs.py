"""Who runs queued imports: an RQ worker when there is Redis, else a thread of this process.

Beside report requests (`itpm.reports.jobs`), on the same queue with the same
time limit (`itpm.automations.queue`). The web process puts an import on the
queue right after the commit that saved it; without Redis the jobs' thread runs
it after the events. A run whose worker died (its last chunk's beat is older
than `ITPM_IMPORT_ABANDONED_AFTER`, 120 s by default) is taken over by the next round and goes on from its checkpoint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select

from itpm.automations.queue import enqueue_claimed, job, worker_runtime
from itpm.db import utcnow
from itpm.models import ImportRun
from itpm.records.imports import abandoned_after, run_import


def import_job(import_id: int) -> str | None:
    """The RQ job of one import (in a worker process); its status after."""
    runtime = worker_runtime()
    return run_import(runtime, import_id, take_over_before=utcnow() - abandoned_after(runtime))


def _waiting(session: Any, now: dt.datetime, abandoned: dt.timedelta, limit: int = 50) -> list[int]:
    return list(
        session.scalars(
            select(ImportRun.id)
            .where(
                or_(
                    ImportRun.status == "queued",
                    (ImportRun.status == "running") & (ImportRun.beat_at < now - abandoned),
                )
            )
            .order_by(ImportRun.id)
            .limit(limit)
        )
    )


def dispatch_imports(runtime: Any, queue: Any) -> int:
    """Put queued imports (and abandoned runs) on the RQ queue; how many."""
    now, abandoned = utcnow(), abandoned_after(runtime)
    with runtime.session() as session:
        ids = [
            i
            for i in _waiting(session, now, abandoned)
            if session.get(ImportRun, i).dispatched_at is None
            or session.get(ImportRun, i).dispatched_at < now - abandoned
        ]
        if ids:  # an abandoned run is sent again: released first, then claimed as any queued one
            session.execute(
                ImportRun.__table__.update().where(ImportRun.id.in_(ids)).values(dispatched_at=None)
            )
            session.commit()
    if not ids:
        return 0
    sent = enqueue_claimed(
        runtime,
        queue,
        ImportRun,
        ids,
        lambda mine, claimed_at: [job(import_job, i, f"itpm-import-{i}-{claimed_at:%H%M%S%f}") for i in mine],
    )
    return len(sent)


def run_pending_imports(runtime: Any, clock: Callable[[], dt.datetime] = utcnow) -> int:
    """Run every queued import in this process (the embedded default); how many were run."""
    done = 0
    now, abandoned = clock(), abandoned_after(runtime)
    with runtime.session() as session:
        ids = _waiting(session, now, abandoned)
    for import_id in ids:
        if run_import(runtime, import_id, take_over_before=now - abandoned):
            done += 1
    return done
