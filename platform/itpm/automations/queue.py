"""The RQ queue that automations' and reports' jobs share: its name, retries and time limits,
claiming rows before their jobs go on it, and the runtime a worker process runs jobs with.

Below both `itpm.automations.jobs` and `itpm.reports.jobs` (each puts its own jobs here).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from redis import Redis
from rq import Queue, Retry
from sqlalchemy import select, update

from itpm.config import Settings
from itpm.db import utcnow
from itpm.runtime import Runtime

QUEUE = "itpm"
#: Job retries: after 2 s, 10 s, 1 min, 5 min (a job runs at least once, its actions once).
RETRY_INTERVALS = [2, 10, 60, 300]
#: A job's time limit; a worker that stops beating for a minute past its last heartbeat is presumed dead.
JOB_TIMEOUT = 600
RESULT_TTL = 60
FAILURE_TTL = 7 * 24 * 3600
#: A row (event, report request) sent or claimed this long ago and still not done is looked for in Redis.
STALE = dt.timedelta(minutes=5)


_worker_runtime: Runtime | None = None


def worker_runtime() -> Runtime:
    """The runtime of a worker process, from its environment (one per process; it starts no jobs itself)."""
    global _worker_runtime
    if _worker_runtime is None:
        _worker_runtime = Runtime(Settings.from_env())
    return _worker_runtime


def rq_queue(redis_url: str) -> Any:
    redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)
    return Queue(QUEUE, connection=redis)


def job(function: Callable[..., Any], argument: Any, job_id: str, meta: dict[str, Any] | None = None) -> Any:
    """An itpm job on the queue: retried with backoff, within its time limit, its failure kept a week.

    `meta` (kept with the job in Redis): `request_ids`, the requests whose work it does (for the logs)."""
    return Queue.prepare_data(
        function,
        (argument,),
        job_id=job_id,
        meta=meta,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        timeout=JOB_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
    )


def enqueue_claimed(
    runtime: Any,
    queue: Any,
    model: Any,
    ids: list[int],
    jobs: Callable[[list[int], dt.datetime], list[Any]],
) -> list[int]:
    """Claim the rows `ids` of `model` (an outbox event, a report request) and put their `jobs` on the queue.

    Claimed in the database first (its `dispatched_at`), so two dispatchers
    never both send a row; released if Redis refuses them, for the next round.
    The rows this call claimed, oldest first.
    """
    with runtime.session() as session:
        claimed_at = utcnow()
        session.execute(
            update(model)
            .where(model.id.in_(ids), model.dispatched_at.is_(None))
            .values(dispatched_at=claimed_at)
        )
        session.commit()
        mine = list(
            session.scalars(
                select(model.id)
                .where(model.id.in_(ids), model.dispatched_at == claimed_at)
                .order_by(model.id)
            )
        )
    if not mine:
        return mine
    try:
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs(mine, claimed_at), pipeline=pipe)
            pipe.execute()
    except Exception:
        with runtime.session() as session:  # not sent after all: the next round sends them
            session.execute(
                update(model)
                .where(model.id.in_(mine), model.dispatched_at == claimed_at)
                .values(dispatched_at=None)
            )
            session.commit()
        raise
    return mine


def dispatch_queued(
    runtime: Any, queue: Any, model: Any, make_job: Callable[[int], Any], limit: int = 500
) -> int:
    """Put the rows of `model` (a report request, a personal-data export) queued and not yet sent on the
    queue, oldest first, one job each by `make_job(id)`; how many."""
    with runtime.session() as session:
        ids = list(
            session.scalars(
                select(model.id)
                .where(model.status == "queued", model.dispatched_at.is_(None))
                .order_by(model.id)
                .limit(limit)
            )
        )
    if not ids:
        return 0
    return len(
        enqueue_claimed(runtime, queue, model, ids, lambda mine, _claimed_at: [make_job(i) for i in mine])
    )
