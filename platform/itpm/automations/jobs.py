"""Who runs automations: RQ workers on Redis, or (the embedded default) this very process.

Either way the outbox is the source: an event is saved with the change that
caused it, then handed over. With Redis, each committed event is enqueued at
once and, if Redis is down, later by the worker's dispatcher (nothing is
lost); each job runs with retries. Without Redis, a thread of this process
handles events after each commit and runs the scheduler's ticks.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from rq import Queue
from sqlalchemy import select, update

from itpm.db import utcnow
from itpm.models import OutboxEvent

log = logging.getLogger(__name__)

QUEUE = "itpm"
#: Job retries: after 2 s, 10 s, 1 min, 5 min (a job runs at least once, its actions once).
RETRY_INTERVALS = [2, 10, 60, 300]
#: A job's time limit; a worker that stops beating for a minute past its last heartbeat is presumed dead.
JOB_TIMEOUT = 600
RESULT_TTL = 60
FAILURE_TTL = 7 * 24 * 3600


#: How long the app's dispatcher lets events gather while the queue is not empty (the workers are busy).
GATHER_SECONDS = 0.05
#: Events a job handles at most: one job per event costs more in RQ and in reading the definitions than the event.
BATCH = 50


def run_events(event_ids: list[int]) -> None:
    """The RQ job of a batch of outbox events, oldest first (in a worker process)."""
    from itpm.automations.engine import Automations

    Automations(worker_runtime()).handle_many(event_ids)


def run_event(event_id: int) -> None:
    """The job of one event, as versions before batches enqueued it (such jobs may still wait in Redis)."""
    run_events([event_id])


_worker_runtime: Any = None


def worker_runtime() -> Any:
    """The runtime of a worker process, from its environment (one per process)."""
    global _worker_runtime
    if _worker_runtime is None:
        from itpm.config import Settings
        from itpm.runtime import Runtime

        _worker_runtime = Runtime(Settings.from_env(), jobs="none")
    return _worker_runtime


class NoJobs:
    """Events stay in the outbox until someone drains them (tests, and commands that exit at once)."""

    def wake(self) -> None:
        return

    def stop(self) -> None:
        return


class Background:
    """A thread of this process that does its `work` when woken (after a commit with events) or every `every` s."""

    name = "itpm-jobs"

    def __init__(self, every: float) -> None:
        self.every = every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._wake.set()  # what an earlier run (or a command) left waiting is done at once
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def work(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.every)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.work()
            except Exception:  # noqa: BLE001 - the thread must outlive one bad round (Redis or the database away)
                log.exception("%s: this round failed; the next one tries again", self.name)


class RedisJobs(Background):
    """Committed events go to the RQ queue from a thread of this process, so no request waits on Redis.

    What cannot go (Redis down) waits in the outbox; the next commit, or a
    worker's dispatcher, sends it once Redis is back.
    """

    name = "itpm-dispatch"

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.queue = rq_queue(runtime.settings.redis_url)
        super().__init__(every=60)

    def work(self) -> None:
        from itpm.reports.jobs import dispatch_requests

        if self.queue.count:  # the workers are behind: let a few more commits gather, to go in fewer jobs
            self._stop.wait(GATHER_SECONDS)
        dispatch(self.runtime, self.queue)
        dispatch_requests(self.runtime, self.queue)  # report PDFs people asked for, rendered by a worker

    def stop(self) -> None:
        super().stop()
        self.queue.connection.close()


def rq_queue(redis_url: str) -> Any:
    from redis import Redis
    from rq import Queue

    redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)
    return Queue(QUEUE, connection=redis)


def dispatch(runtime: Any, queue: Any, limit: int = 500) -> int:
    """Enqueue outbox events not sent yet, oldest first, in batches; how many were sent."""
    from itpm.automations.engine import undispatched_events

    sent = 0
    while True:
        with runtime.session() as session:
            ids = undispatched_events(session, limit)
        if not ids:
            return sent
        sent += len(
            enqueue_claimed(
                runtime,
                queue,
                OutboxEvent,
                ids,
                lambda mine, claimed_at: [
                    job(run_events, batch, f"itpm-events-{batch[0]}-{batch[-1]}-{claimed_at:%H%M%S%f}")
                    for batch in batches(mine)
                ],
            )
        )
        if len(ids) < limit:
            return sent


def job(function: Callable[..., Any], argument: Any, job_id: str) -> Any:
    """An itpm job on the queue: retried with backoff, within its time limit, its failure kept a week."""
    from rq import Retry

    return Queue.prepare_data(
        function,
        (argument,),
        job_id=job_id,
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


#: An event sent (or claimed by a job) this long ago and still not handled is looked for in Redis.
STALE = dt.timedelta(minutes=5)
_JOB_EVENTS = re.compile(r"^itpm-events?-(\d+)(?:-(\d+))?(?:-\d+)?$")


def resend_lost(runtime: Any, queue: Any, now: dt.datetime) -> int:
    """Events sent long ago, still not handled, whose job Redis no longer has: released to be sent again.

    Redis may lose jobs (restarted without persistence, flushed); a worker
    killed after claiming the events its actions caused leaves them claimed.
    A job still waiting, running, retrying or failed (shown on the Jobs page)
    keeps its events. Handling twice does nothing twice (keys), so a doubt
    costs a little work, never a duplicate.
    """
    with runtime.session() as session:
        stale = list(
            session.scalars(
                select(OutboxEvent.id)
                .where(OutboxEvent.handled_at.is_(None), OutboxEvent.dispatched_at < now - STALE)
                .order_by(OutboxEvent.id)
                .limit(5000)
            )
        )
    if not stale:
        return 0
    spans = _job_spans(queue)
    lost = [event_id for event_id in stale if not any(first <= event_id <= last for first, last in spans)]
    if lost:
        log.warning("%d events were sent but their jobs are gone; sending them again", len(lost))
        with runtime.session() as session:
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(lost), OutboxEvent.handled_at.is_(None))
                .values(dispatched_at=None)
            )
            session.commit()
    return len(lost)


def _job_spans(queue: Any) -> list[tuple[int, int]]:
    """The event ids (first, last) of every itpm job Redis still holds, in any state."""
    from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    ids = list(queue.get_job_ids())
    for registry in (StartedJobRegistry, ScheduledJobRegistry, DeferredJobRegistry, FailedJobRegistry):
        ids += registry(queue=queue).get_job_ids(cleanup=False)
    spans = []
    for job_id in ids:
        match = _JOB_EVENTS.match(job_id)
        if match:
            first = int(match.group(1))
            spans.append((first, int(match.group(2) or first)))
    return spans


def batches(event_ids: list[int], size: int = BATCH) -> list[list[int]]:
    """The events in jobs of at most `size`, spread evenly so that two workers share a small backlog too."""
    if not event_ids:
        return []
    count = -(-len(event_ids) // size)
    share = -(-len(event_ids) // count)
    return [event_ids[n : n + share] for n in range(0, len(event_ids), share)]


class ThreadJobs(Background):
    """The embedded default: one thread of this process handles events and runs the scheduler's ticks."""

    def __init__(
        self, runtime: Any, clock: Callable[[], dt.datetime] = utcnow, tick_seconds: float = 30
    ) -> None:
        self.runtime = runtime
        self.clock = clock
        self._lock = threading.Lock()
        self._last_tick = clock() - dt.timedelta(minutes=5)
        super().__init__(every=tick_seconds)

    def work(self) -> None:
        from itpm.reports.jobs import run_pending_requests

        self.drain()
        run_pending_requests(self.runtime)  # report PDFs people asked for, rendered here without Redis
        now = self.clock()
        if (now - self._last_tick).total_seconds() >= self.every:
            from itpm.automations.scheduler import tick

            tick(self.runtime, self._last_tick, now)
            self._last_tick = now

    def drain(self) -> int:
        """Handle every event not handled yet (also what tests and commands call to finish the work)."""
        return drain(self.runtime, self._lock)


def drain(runtime: Any, lock: threading.Lock | None = None, clock: Callable[[], dt.datetime] = utcnow) -> int:
    """Handle events until none is left unhandled (those the handling makes included); how many."""
    from itpm.automations.engine import Automations, unhandled_events

    lock = lock or threading.Lock()
    handled = 0
    with lock:
        while True:
            with runtime.session() as session:
                ids = unhandled_events(session)
            if not ids:
                return handled
            automations = Automations(runtime, clock)
            for batch in batches(ids):
                handled += automations.handle_many(batch)
