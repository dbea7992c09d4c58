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


def run_event(event_id: int) -> None:
    """The RQ job of one outbox event (in a worker process)."""
    from itpm.automations.engine import Automations

    Automations(worker_runtime()).handle(event_id)


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
        dispatch(self.runtime, self.queue)

    def stop(self) -> None:
        super().stop()
        self.queue.connection.close()


def rq_queue(redis_url: str) -> Any:
    from redis import Redis
    from rq import Queue

    redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)
    return Queue(QUEUE, connection=redis)


def dispatch(runtime: Any, queue: Any, limit: int = 500) -> int:
    """Enqueue outbox events not sent yet, oldest first; how many were sent.

    Each event is claimed in the database before it is enqueued (two
    dispatchers never both send it) and released if Redis refuses it.
    """
    from rq import Retry

    from itpm.automations.engine import undispatched_events

    sent = 0
    while True:
        with runtime.session() as session:
            ids = undispatched_events(session, limit)
            if not ids:
                return sent
            claimed_at = utcnow()
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(ids), OutboxEvent.dispatched_at.is_(None))
                .values(dispatched_at=claimed_at)
            )
            session.commit()
            mine = list(
                session.scalars(
                    select(OutboxEvent.id).where(
                        OutboxEvent.id.in_(ids), OutboxEvent.dispatched_at == claimed_at
                    )
                )
            )
        try:
            with queue.connection.pipeline() as pipe:
                queue.enqueue_many(
                    [
                        Queue.prepare_data(
                            run_event,
                            (event_id,),
                            job_id=f"itpm-event-{event_id}",
                            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
                            timeout=JOB_TIMEOUT,
                            result_ttl=RESULT_TTL,
                            failure_ttl=FAILURE_TTL,
                        )
                        for event_id in mine
                    ],
                    pipeline=pipe,
                )
                pipe.execute()
        except Exception:
            with runtime.session() as session:  # not sent after all: the next dispatch sends them
                session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id.in_(mine), OutboxEvent.dispatched_at == claimed_at)
                    .values(dispatched_at=None)
                )
                session.commit()
            raise
        sent += len(mine)
        if len(ids) < limit:
            return sent


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
            for event_id in ids:
                automations.handle(event_id)
                handled += 1
