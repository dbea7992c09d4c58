"""`itpm worker`: the RQ worker, its dispatcher and the automation scheduler, in one process.

The worker runs jobs in its own process (RQ's SimpleWorker: no fork per job,
its database connections pooled) and, while a job runs, keeps beating every
few seconds; a worker killed mid-job stops beating, and within about a
minute and a half another worker's maintenance finds the job abandoned and
runs it again (its actions are done once by their keys). RQ's defaults would
take over ten minutes.

Beside the worker, a thread sends outbox events that are not on the queue
yet (committed while Redis was down, or by a process without Redis) and
ticks the scheduler every `tick_seconds`, one worker at a time under a Redis
lock. SIGTERM or SIGINT stop the worker after its current job.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
from typing import Any

from redis.exceptions import ConnectionError as RedisUnreachable
from rq import SimpleWorker
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.scripts import release_lock
from rq.utils import now as rq_now
from rq.worker import BaseWorker, WorkerStatus

from itpm import logs
from itpm.automations.jobs import dispatch, resend_lost
from itpm.automations.queue import QUEUE, rq_queue, worker_runtime
from itpm.db import utcnow
from itpm.privacy.jobs import dispatch_exports
from itpm.reports.jobs import dispatch_requests, resend_lost_requests

log = logging.getLogger(__name__)

#: Seconds between heartbeats of a running job; it is abandoned ITPM_JOB_ABANDONED_AFTER (60) s after its last.
JOB_MONITORING_INTERVAL = 5
#: Seconds between RQ's maintenance rounds (which recover abandoned jobs).
MAINTENANCE_INTERVAL = 15
#: An idle worker wakes every WORKER_TTL - 15 seconds, so its maintenance runs even with no jobs.
WORKER_TTL = 30
SCHEDULER_LOCK = "itpm:scheduler:lock"
SCHEDULER_LAST = "itpm:scheduler:last"
#: The longest stretch a scheduler catches up on after being down (missed digests, schedules).
CATCH_UP = dt.timedelta(hours=6)


class ItpmWorker(SimpleWorker):
    """A SimpleWorker that keeps beating while its job runs, so a dead worker is noticed in a minute."""

    #: SIGTERM or SIGINT came: the process ends after the current job (not a worker restart).
    asked_to_stop = False
    #: Seconds after the last heartbeat before the job is presumed abandoned (RQ's own is a fixed 60).
    grace = 60

    def request_stop(self, signum: int, frame: Any) -> None:
        self.asked_to_stop = True
        super().request_stop(signum, frame)

    def _start_scheduler(self, *args: Any, **kwargs: Any) -> None:
        free_locks_of_dead_schedulers(self.connection, [queue.name for queue in self.queues])
        super()._start_scheduler(*args, **kwargs)

    def run_maintenance_tasks(self) -> None:
        free_locks_of_dead_schedulers(self.connection, [queue.name for queue in self.queues])
        super().run_maintenance_tasks()

    def unsubscribe(self) -> None:
        """RQ's unsubscribe, without a stop that can take a minute.

        RQ unsubscribes, then stops the thread that listens on the worker's channel. Since redis-py 8.2
        that stop waits for the thread, and a thread that has already read the unsubscribe reply is
        waiting up to a minute for a new subscription: `itpm worker` then took a minute to end after
        SIGTERM. Stopping the thread first lets the unsubscribe reply end its wait at once."""
        if not self.pubsub_thread:
            return
        log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        self.pubsub_thread.stop(timeout=0)  # the thread ends at its next loop: the reply below wakes it
        self.pubsub.unsubscribe()
        self.pubsub_thread.join(timeout=5)
        self.pubsub.close()

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        return BaseWorker.get_heartbeat_ttl(self, job, working_time) - 60 + self.grace

    def execute_job(self, job: Any, queue: Any) -> None:
        execution = self.prepare_execution(job)
        job.started_at = rq_now()
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.job_monitoring_interval):
                try:
                    self.maintain_heartbeats(job, execution)
                except Exception:  # noqa: BLE001 - a missed beat only risks a second (idempotent) run
                    log.warning("could not send a heartbeat for job %s", job.id, exc_info=True)

        beating = threading.Thread(target=beat, name="itpm-heartbeat", daemon=True)
        beating.start()
        requests = (job.meta or {}).get("request_ids") or []
        try:
            # the lines the job writes name the requests whose events it handles (`itpm.logs`)
            with logs.bound(request_id=",".join(requests) or None, job_id=job.id):
                log.info("job %s started (requests: %s)", job.id, ", ".join(requests) or "none")
                self.perform_job(job, queue, execution)
        finally:
            done.set()
            beating.join()
        self.set_state(WorkerStatus.IDLE)


def free_locks_of_dead_schedulers(connection: Any, queue_names: list[str]) -> list[str]:
    """Release the scheduler locks of queues whose holder ran on this host and whose process is gone.

    RQ's scheduler (a process beside each worker, one at a time per queue under a lock) moves jobs due
    later onto the queue: retries among them, such as the retry of a killed worker's abandoned job. A
    killed scheduler keeps its lock for its time to live, a minute past its last refresh, and every retry
    waits that long. A holder on this host whose process no longer runs is known dead, so its lock is
    released at once and this worker's scheduler takes over; a holder on another host is left to expire.
    Returns the queues whose lock was released."""
    host, released = socket.gethostname(), []
    for name in queue_names:
        lock = RQScheduler.get_locking_key(name)
        holder = connection.get(lock)
        if holder is None:
            continue
        holder = holder.decode() if isinstance(holder, bytes) else holder
        about = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in connection.hgetall(SCHEDULER_KEY_TEMPLATE % holder).items()
        }
        if about.get("hostname") != host or not str(about.get("pid", "")).isdigit():
            continue
        if not _runs(int(about["pid"])) and release_lock(connection, lock, holder):
            log.warning("released the scheduler lock of %s: its process %s is gone", name, about["pid"])
            released.append(name)
    return released


def _runs(pid: int) -> bool:
    """Whether a process of this host runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel instead
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Dispatcher:
    """Sends waiting outbox events to the queue every second and ticks the scheduler."""

    def __init__(self, runtime: Any, queue: Any, tick_seconds: float = 30, poll_seconds: float = 1) -> None:
        self.runtime = runtime
        self.queue = queue
        self.tick_seconds = tick_seconds
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="itpm-dispatcher", daemon=True)
        self._next_tick = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        import time

        while not self.stopping.is_set():
            try:
                dispatch(self.runtime, self.queue)
                dispatch_requests(self.runtime, self.queue)
                dispatch_exports(self.runtime, self.queue)
                if time.monotonic() >= self._next_tick:
                    self._next_tick = time.monotonic() + self.tick_seconds
                    self.tick()
            except Exception as error:  # noqa: BLE001 - Redis or the database away for a moment: try again
                log.warning("dispatcher: %s", error)
            self.stopping.wait(self.poll_seconds)

    def tick(self) -> dict[str, int] | None:
        """One scheduler tick, if no other worker is ticking; it covers the time since the last tick."""
        from itpm.automations.scheduler import tick

        redis = self.queue.connection
        lock = redis.lock(SCHEDULER_LOCK, timeout=max(self.tick_seconds * 10, 300), blocking=False)
        if not lock.acquire():
            return None
        try:
            now = utcnow()
            last = redis.get(SCHEDULER_LAST)
            since = dt.datetime.fromisoformat(last.decode()) if last else now - dt.timedelta(minutes=1)
            since = max(since, now - CATCH_UP)
            done = tick(self.runtime, since, now)
            redis.set(SCHEDULER_LAST, now.isoformat())
            done["resent"] = resend_lost(self.runtime, self.queue, now)
            done["report_requests_resent"] = resend_lost_requests(self.runtime, self.queue, now)
            return done
        finally:
            lock.release()


def _start_renderer() -> None:
    from itpm.reports.isolation import start_renderer

    try:
        outcome = start_renderer()
        log.info("report renderer ready in %.1f s", outcome.seconds)
    except Exception as error:  # noqa: BLE001 - reports then start it themselves, as without this
        log.warning("the report renderer did not start: %s", error)


def run_worker(burst: bool = False, tick_seconds: float = 30, name: str | None = None) -> None:
    """Run until SIGTERM or SIGINT (or, with `burst`, until the queue is empty)."""
    runtime = worker_runtime()
    logs.configure(runtime.settings)
    if not runtime.settings.redis_url:
        raise SystemExit(
            "itpm worker needs ITPM_REDIS_URL (without Redis, `itpm run` runs automations itself)"
        )
    if not burst:  # the report renderer starts while the catalog loads: it is ready about when the jobs begin
        threading.Thread(target=_start_renderer, name="itpm-renderer", daemon=True).start()
    queue = rq_queue(runtime.settings.redis_url)
    runtime.catalog()  # loaded once, before the first job
    dispatcher = Dispatcher(runtime, queue, tick_seconds)
    dispatcher.start()
    stopping = threading.Event()
    current: list[ItpmWorker] = []

    def early_stop(signum: int, frame: Any) -> None:
        """A stop asked before RQ's own handlers are in place (they take over once the worker listens)."""
        stopping.set()
        for worker in current:
            worker.asked_to_stop = True
            worker._stop_requested = True  # RQ's loop checks it before waiting for a job

    signal.signal(signal.SIGTERM, early_stop)
    signal.signal(signal.SIGINT, early_stop)
    try:
        while not stopping.is_set():
            worker = None
            try:  # RQ gives up when Redis stays away, and then neither its teardown nor a new worker reaches it
                worker = ItpmWorker(
                    [queue],
                    connection=queue.connection,
                    name=name,
                    job_monitoring_interval=JOB_MONITORING_INTERVAL,
                    maintenance_interval=MAINTENANCE_INTERVAL,
                    worker_ttl=WORKER_TTL,
                )
                worker.max_connection_wait_time = 5
                worker.grace = runtime.settings.job_abandoned_after
                current[:] = [worker]
                worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
            except RedisUnreachable:
                log.warning("the RQ worker lost Redis", exc_info=True)
            signal.signal(signal.SIGTERM, early_stop)  # RQ's handlers are gone with its loop
            signal.signal(signal.SIGINT, early_stop)
            if burst or (worker is not None and worker.asked_to_stop):
                break
            log.warning("the RQ worker stopped (Redis away?); starting it again in 2 s")
            stopping.wait(2)
    finally:
        dispatcher.stop()
        runtime.dispose()


__all__ = ["QUEUE", "ItpmWorker", "Dispatcher", "run_worker"]
