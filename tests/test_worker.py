"""`itpm worker` processes on a real Redis and PostgreSQL: nothing lost, nothing done twice.

Each test starts its own worker processes (and, where Redis must go down, its
own redis-server on a free port, so other tests keep theirs).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from sqlalchemy import func, make_url, select, update
from test_automations import automation, comment, comments
from test_schema_changes import publish

from conftest import PG_SERVER, SECRET, settings_for
from itpm.access import Actor
from itpm.automations.jobs import dispatch, resend_lost, start_jobs
from itpm.automations.queue import STALE, rq_queue
from itpm.automations.worker import free_locks_of_dead_schedulers
from itpm.db import utcnow
from itpm.models import ActionRun, ImportRun, OutboxEvent, RecordEvent
from itpm.records.import_jobs import dispatch_imports
from itpm.records.imports import keep_upload, start_import
from itpm.records.service import Records
from itpm.runtime import Runtime

pytestmark = pytest.mark.postgres
ITPM = str(Path(sys.executable).with_name("itpm"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(what: Callable[[], Any], seconds: float, message: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{message} (waited {seconds:.0f} s)")


class Processes:
    """Worker processes (each in its own process group) and private redis-servers, stopped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: list[subprocess.Popen[bytes]] = []

    def worker(
        self, database_url: str, redis_url: str, name: str, environment: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "ITPM_DATABASE_URL": database_url,
            "ITPM_REDIS_URL": redis_url,
            "ITPM_INSTANCE_PATH": str(self.folder),
            "ITPM_SECRET_KEY": SECRET,
            **(environment or {}),
        }
        log = (self.folder / f"{name}.log").open("wb")
        process = subprocess.Popen([ITPM, "worker", "--tick", "1", "--name", f"{name}-{os.getpid()}-{time.monotonic_ns()}"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.running.append(process)
        return process

    def redis(self, port: int) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.running.append(process)
        wait_until(lambda: _answers(port), 10, "redis-server did not start")
        return process

    def kill(self, process: subprocess.Popen[bytes], how: int = signal.SIGKILL) -> None:
        try:
            os.killpg(process.pid, how)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text("utf-8", "replace")

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                self.kill(process, signal.SIGKILL)


def _answers(port: int) -> bool:
    try:
        return bool(Redis(port=port, socket_connect_timeout=0.2).ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    found = Processes(tmp_path)
    yield found
    found.stop_all()


@pytest.fixture
def database(fresh_database: Any) -> str:
    return fresh_database("postgres")


def runtime_on(database: str, folder: Path, redis_url: str | None = None, jobs: str = "none") -> Runtime:
    return Runtime(settings_for(database, folder, redis_url=redis_url, jobs=jobs), jobs=start_jobs)


def new_incidents(runtime: Runtime, count: int, **data: Any) -> list[int]:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        made = [
            records.create(
                "incident",
                {"title": f"Ticket {n}", "priority": "P3", "category": "network", **data},
                {"assignee": 1},
            ).id
            for n in range(count)
        ]
        session.commit()
        return made


def all_handled(runtime: Runtime) -> bool:
    with runtime.session() as session:
        return (
            session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.handled_at.is_(None))
            )
            == 0
        )


def greet_each_new_incident(runtime: Runtime) -> None:
    publish(runtime, automation("greet", "incident", {"on": "created"}, [comment("hello")]))


def test_records_saved_by_the_app_are_acted_on_by_a_worker(
    database: str, tmp_path: Path, redis_url: str, processes: Processes
) -> None:
    runtime = runtime_on(database, tmp_path, redis_url, jobs="rq")
    greet_each_new_incident(runtime)
    processes.worker(database, redis_url, "solo")
    (record,) = new_incidents(runtime, 1)  # the commit hands the event to Redis at once
    wait_until(lambda: comments(runtime, "incident", record), 30, "the worker never commented")
    assert comments(runtime, "incident", record) == ["hello\nhello"]
    runtime.dispose()


def test_records_saved_while_redis_is_down_are_acted_on_once_it_is_back(
    database: str, tmp_path: Path, processes: Processes
) -> None:
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    server = processes.redis(port)
    runtime = runtime_on(database, tmp_path, redis_url, jobs="rq")
    greet_each_new_incident(runtime)
    processes.worker(database, redis_url, "patient")
    wait_until(lambda: "Listening on itpm" in processes.log("patient"), 30, "the worker did not start")
    processes.kill(server, signal.SIGTERM)
    started = time.monotonic()
    saved = new_incidents(runtime, 5)  # Redis is down: the saves succeed all the same, at once
    assert time.monotonic() - started < 5

    def waiting() -> int:
        with runtime.session() as session:
            return session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
            )

    # Kept in the outbox. A dispatcher (this process's, the worker's) claims the events before it tries
    # Redis and releases them when Redis refuses, so for the length of a try they look sent: the claims
    # are undone after each failed try, and while Redis stays down all five wait again.
    time.sleep(2)
    wait_until(lambda: waiting() == 5, 30, "the events were not given back to the outbox")
    assert all(comments(runtime, "incident", r) == [] for r in saved)
    processes.redis(port)  # back, empty: nothing of the queue survived
    try:
        wait_until(lambda: all(comments(runtime, "incident", r) for r in saved), 60, "the events were lost")
    except AssertionError as lost:
        raise AssertionError(f"{lost}; the worker said:\n{processes.log('patient')[-6000:]}") from None
    assert all(comments(runtime, "incident", r) == ["hello\nhello"] for r in saved)
    runtime.dispose()


def _waiting_on_a_lock(database: str) -> bool:
    name = make_url(database).database
    with psycopg.connect(PG_SERVER, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (name,)
        ).fetchone()
    return bool(row and row[0])


def test_a_worker_killed_mid_job_is_replaced_and_the_action_done_once(
    database: str, tmp_path: Path, redis_url: str, processes: Processes
) -> None:
    runtime = runtime_on(database, tmp_path)
    publish(
        runtime,
        automation("escalate", "incident", {"on": "created"}, [{"do": "set", "fields": {"impact": "high"}}]),
    )
    (record,) = new_incidents(runtime, 1)
    name = make_url(database).database
    holder = psycopg.connect(PG_SERVER.rsplit("/", 1)[0] + "/" + name)
    holder.execute(
        "SELECT id FROM rec_incident WHERE id = %s FOR UPDATE", (record,)
    )  # the job will wait on this row
    grace = {"ITPM_JOB_ABANDONED_AFTER": "10"}  # 60 by default: the same recovery, sooner
    doomed = processes.worker(database, redis_url, "doomed", grace)
    dispatch(runtime, rq_queue(redis_url))
    wait_until(lambda: _waiting_on_a_lock(database), 60, "the worker never reached the record")
    processes.kill(doomed)  # SIGKILL, mid-job: its transaction dies with it
    killed_at = time.monotonic()
    holder.rollback()
    holder.close()
    processes.worker(database, redis_url, "heir", grace)

    def done() -> bool:
        with runtime.session() as session:
            return (
                session.scalar(select(ActionRun.status).where(ActionRun.automation == "escalate")) == "done"
            )

    wait_until(
        done, 120 - (time.monotonic() - killed_at), "the abandoned job was not recovered within 2 minutes"
    )
    with runtime.session() as session:
        changes = session.scalars(
            select(RecordEvent.changes).where(
                RecordEvent.record_id == record,
                RecordEvent.record_type == "incident",
                RecordEvent.action == "updated",
            )
        ).all()
        assert (
            session.scalar(
                select(func.count()).select_from(ActionRun).where(ActionRun.automation == "escalate")
            )
            == 1
        )
    assert changes == [[{"path": "/data/impact", "old": None, "new": "high"}]]
    runtime.dispose()


def test_the_scheduler_lock_of_a_killed_scheduler_is_released_at_once_and_no_other(redis_url: str) -> None:
    """A killed worker's scheduler keeps RQ's lock for a minute, and every retry (the retry of its own
    abandoned job among them) would wait for it. A holder on this host whose process is gone is known
    dead: its lock is released. A running holder, or one on another host, keeps it."""
    redis = Redis.from_url(redis_url)
    gone = subprocess.Popen(["true"])
    gone.wait()
    holders = {
        "on-a-killed-scheduler": (socket.gethostname(), gone.pid),
        "on-a-running-scheduler": (socket.gethostname(), os.getpid()),
        "on-another-host": ("another-host", gone.pid),
    }
    for queue, (host, pid) in holders.items():
        redis.set(RQScheduler.get_locking_key(queue), f"scheduler-{queue}", ex=61)
        redis.hset(SCHEDULER_KEY_TEMPLATE % f"scheduler-{queue}", mapping={"hostname": host, "pid": pid})

    released = free_locks_of_dead_schedulers(redis, [*holders, "without-a-scheduler"])

    assert released == ["on-a-killed-scheduler"]
    assert [redis.get(RQScheduler.get_locking_key(queue)) for queue in holders] == [
        None,
        b"scheduler-on-a-running-scheduler",
        b"scheduler-on-another-host",
    ]


def test_two_workers_racing_over_the_same_events_act_once_on_each(
    database: str, tmp_path: Path, redis_url: str, processes: Processes
) -> None:
    runtime = runtime_on(database, tmp_path)
    greet_each_new_incident(runtime)
    made = new_incidents(runtime, 60)
    queue = rq_queue(redis_url)
    dispatch(runtime, queue)
    with runtime.session() as session:  # as if a second dispatcher had sent them all again
        session.execute(update(OutboxEvent).values(dispatched_at=None))
        session.commit()
    dispatch(runtime, queue)
    assert sum(len(job.args[0]) for job in queue.jobs) == 120  # each event in two jobs
    processes.worker(database, redis_url, "left")
    processes.worker(database, redis_url, "right")
    wait_until(lambda: all_handled(runtime) and queue.count == 0, 90, "the events were not all handled")
    assert [len(comments(runtime, "incident", r)) for r in made] == [1] * 60
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(ActionRun)) == 60
    runtime.dispose()


def test_a_worker_asked_to_stop_finishes_and_exits(
    database: str, tmp_path: Path, redis_url: str, processes: Processes
) -> None:
    process = processes.worker(database, redis_url, "polite")
    wait_until(lambda: "Listening on itpm" in processes.log("polite"), 30, "the worker did not start")
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert "Traceback" not in processes.log("polite")


def test_events_whose_jobs_redis_lost_are_sent_again_and_acted_on_once(
    database: str, tmp_path: Path, redis_url: str, processes: Processes
) -> None:
    runtime = runtime_on(database, tmp_path)
    greet_each_new_incident(runtime)
    queue = rq_queue(redis_url)
    lost = new_incidents(runtime, 3)
    dispatch(runtime, queue)
    queue.empty()  # Redis restarted without their jobs
    kept = new_incidents(runtime, 2)
    dispatch(runtime, queue)
    later = utcnow() + STALE + dt.timedelta(seconds=1)
    assert resend_lost(runtime, queue, utcnow()) == 0  # not stale yet: jobs may simply be waiting
    assert resend_lost(runtime, queue, later) == 3
    with runtime.session() as session:
        waiting = session.scalars(select(OutboxEvent.record_id).where(OutboxEvent.dispatched_at.is_(None)))
        assert sorted(waiting) == sorted(lost)
    dispatch(runtime, queue)
    assert resend_lost(runtime, queue, later) == 0  # each has a job again
    processes.worker(database, redis_url, "mender")
    wait_until(lambda: all_handled(runtime) and queue.count == 0, 60, "the lost events were not handled")
    assert [comments(runtime, "incident", r) for r in lost + kept] == [["hello\nhello"]] * 5
    runtime.dispose()


def test_an_import_whose_worker_is_killed_is_resumed_by_another_worker_with_every_row_once(
    database: str, tmp_path: Path, redis_url: str, processes: Processes
) -> None:
    """Issue 18: an import run by an `itpm worker` on RQ, the worker SIGKILLed half-way; once its run has
    gone without a beat for ITPM_IMPORT_ABANDONED_AFTER, the next dispatch sends it to another worker, which
    goes on from the last committed chunk: every row once, none lost."""
    rows = 5_000
    settings = settings_for(database, tmp_path, redis_url=redis_url, jobs="rq", import_abandoned_after=6)
    runtime = Runtime(settings, jobs=start_jobs)
    text = "Title,Priority,类别\n" + "".join(f"Imported {n},P3,网络\n" for n in range(1, rows + 1))
    with runtime.session() as session:
        source = keep_upload(tmp_path, text.encode(), "history.csv")
        run_id = start_import(Records(session, runtime.catalog(), Actor.system()), "incident", source).id
        session.commit()
    environment = {"ITPM_IMPORT_ABANDONED_AFTER": "6"}
    doomed = processes.worker(database, redis_url, "doomed", environment)
    queue = rq_queue(redis_url)
    dispatch_imports(runtime, queue)

    def done_rows() -> int:
        with runtime.session() as session:
            return session.scalar(select(ImportRun.done_rows).where(ImportRun.id == run_id)) or 0

    wait_until(lambda: done_rows() >= 1_000, 90, "the worker never committed a chunk")
    processes.kill(doomed)  # SIGKILL, mid-import: the chunk it was writing dies with it
    half = done_rows()
    assert 0 < half < rows
    processes.worker(database, redis_url, "heir", environment)

    def finished() -> bool:
        dispatch_imports(runtime, queue)  # as the app's dispatcher does every round
        with runtime.session() as session:
            return session.scalar(select(ImportRun.status).where(ImportRun.id == run_id)) == "done"

    try:
        wait_until(finished, 120, "the abandoned import was not resumed")
    except AssertionError as lost:
        raise AssertionError(f"{lost}; the heir said:\n{processes.log('heir')[-6000:]}") from None
    with runtime.session() as session:
        run = session.get(ImportRun, run_id)
        assert (run.done_rows, run.inserted, run.failed, run.attempts) == (rows, rows, 0, 2)
        model = runtime.catalog().models.models["incident"]
        titles = session.scalars(select(model.title)).all()
    assert sorted(titles) == sorted(f"Imported {n}" for n in range(1, rows + 1))  # each once
    runtime.dispose()
