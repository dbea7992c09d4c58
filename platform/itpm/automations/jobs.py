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
import time
from collections.abc import Callable
from typing import Any

from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import select, update

from itpm.automations.engine import Automations, undispatched_events, unhandled_events
from itpm.automations.queue import STALE, enqueue_claimed, job, rq_queue, worker_runtime
from itpm.automations.scheduler import tick
from itpm.db import utcnow
from itpm.models import OutboxEvent
from itpm.privacy.jobs import dispatch_exports, run_pending_exports
from itpm.records.import_jobs import dispatch_imports, run_pending_imports
from itpm.reports.jobs import dispatch_requests, run_pending_requests
from itpm.runtime import Jobs, NoJobs, Runtime

log = logging.getLogger(__name__)

#: How often the app's dispatcher looks whether the workers have taken the waiting jobs.
GATHER_SECONDS = 0.05
#: How long, at most, new events wait in the outbox while jobs wait on the queue (the workers are busy):
#: they go when a worker is free, together in one job, not in many small jobs that each pay a job's reads.
HOLD_SECONDS = 1.0
#: Events a job handles at most: one job per event costs more in RQ and in reading the definitions than the event.
BATCH = 50


def run_events(event_ids: list[int]) -> None:
    """The RQ job of a batch of outbox events, oldest first (in a worker process)."""
    Automations(worker_runtime()).handle_many(event_ids)


def run_event(event_id: int) -> None:
    """The job of one event, as versions before batches enqueued it (such jobs may still wait in Redis)."""
    run_events([event_id])


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
        retry = None  # after a failed round: seconds until the next try (2, 4, 8 ... up to `every`)
        while not self._stop.is_set():
            self._wake.wait(timeout=self.every if retry is None else retry)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.work()
                retry = None
            except Exception:  # noqa: BLE001 - the thread must outlive one bad round (Redis or the database away)
                retry = min(self.every, 2 * (retry or 1))
                log.exception("%s: this round failed; the next one tries again in %s s", self.name, retry)


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
        held = time.monotonic() + HOLD_SECONDS
        while self.queue.count and time.monotonic() < held:  # the workers are behind: the commits gather
            if self._stop.wait(GATHER_SECONDS):
                return
        dispatch(self.runtime, self.queue)
        dispatch_requests(self.runtime, self.queue)  # report PDFs people asked for, rendered by a worker
        dispatch_imports(self.runtime, self.queue)  # files people import, by a worker, chunk by chunk
        dispatch_exports(self.runtime, self.queue)  # subject-access exports admins asked for

    def stop(self) -> None:
        super().stop()
        self.queue.connection.close()


def dispatch(runtime: Any, queue: Any, limit: int = 500) -> int:
    """Enqueue outbox events not sent yet, oldest first, in batches; how many were sent."""
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
                    job(
                        run_events,
                        batch,
                        f"itpm-events-{batch[0]}-{batch[-1]}-{claimed_at:%H%M%S%f}",
                        requests_of(batch, requests),
                    )
                    for requests in [request_ids(runtime, mine)]
                    for batch in batches(mine)
                ],
            )
        )
        if len(ids) < limit:
            return sent


def request_ids(runtime: Any, event_ids: list[int]) -> dict[int, str]:
    """The request (X-Request-ID) that saved each of the events, where one did."""
    with runtime.session() as session:
        return dict(
            session.execute(
                select(OutboxEvent.id, OutboxEvent.request_id).where(
                    OutboxEvent.id.in_(event_ids), OutboxEvent.request_id.is_not(None)
                )
            ).all()
        )


def requests_of(batch: list[int], requests: dict[int, str]) -> dict[str, Any] | None:
    """The meta of a job of `batch`: the ids of the requests whose events it carries, in their order."""
    found = list(dict.fromkeys(requests[e] for e in batch if e in requests))
    return {"request_ids": found} if found else None


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
        self.drain()
        run_pending_requests(self.runtime)  # report PDFs people asked for, rendered here without Redis
        run_pending_imports(self.runtime)  # files people import, here without Redis
        run_pending_exports(self.runtime)  # subject-access exports, here without Redis
        now = self.clock()
        if (now - self._last_tick).total_seconds() >= self.every:
            tick(self.runtime, self._last_tick, now)
            self._last_tick = now

    def drain(self) -> int:
        """Handle every event not handled yet (also what tests and commands call to finish the work)."""
        return drain(self.runtime, self._lock)


def drain(runtime: Any, lock: threading.Lock | None = None, clock: Callable[[], dt.datetime] = utcnow) -> int:
    """Handle events until none is left unhandled (those the handling makes included); how many."""
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


def start_jobs(runtime: Runtime) -> Jobs:
    """What runs automations for `runtime`, by its settings: RQ workers fed from a thread (rq),
    a thread of this process (thread), or nobody (none: events wait in the outbox)."""
    mode = runtime.settings.jobs
    if mode == "auto":
        mode = "rq" if runtime.settings.redis_url else "thread"
    return {"rq": RedisJobs, "thread": ThreadJobs}.get(mode, lambda _runtime: NoJobs())(runtime)
