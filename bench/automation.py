"""Automations on RQ: commit → action done under a steady load, and a backlog drained by two workers.

On PostgreSQL and the local Redis. The action measured is the starter rule
that assigns a new incident to the least busy member of its support group: a
real rule, which reads the team and its open work, writes the record (history,
an outbox event of its own, the SLA clocks) and its action run; the assignment
then tells its assignee (the platform's notice: the agents work in the
incidents' department, so they may read them, as on a real desk).

1. Latency: incidents are saved at a steady 50 a second for 60 seconds, one
   `itpm worker` running; for each, the time from the commit of the incident
   to the worker's finishing its assignment (its action run's `finished_at`).
2. Throughput: 10,000 incidents saved while no worker runs, then two
   `itpm worker` processes drain them; events handled a second.

Baselines, in the same run on the same Redis: plain RQ SimpleWorkers running
a job that does nothing, enqueued the same way (latency from enqueue to the
job's end, one worker at 50 a second; a backlog of 10,000 drained by two).
The ratio says what itpm's work costs above RQ's own. The machine is shared:
the table gives the workers' CPU time too (from /proc while they drain; the
baseline's from its processes' rusage) and the load average during the run.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from bench._common import SECRET, p50, p95, print_table, scratch_database
from itpm.access import Actor
from itpm.automations.jobs import dispatch
from itpm.config import Settings
from itpm.installation import initialise
from itpm.models import ActionRun, Department, Notification, OutboxEvent, Team
from itpm.records.service import Records
from itpm.runtime import NoJobs
from itpm.web.app import create_app

REDIS_URL = os.environ.get("ITPM_BENCH_REDIS", "redis://127.0.0.1:6379/15")
RATE = 50  # events a second
#: ITPM_BENCH_QUICK=1 runs a short version (to try changes; the targets are judged on the full one).
QUICK = os.environ.get("ITPM_BENCH_QUICK") == "1"
SECONDS = 10 if QUICK else 60
BACKLOG = 1_000 if QUICK else 10_000
TEAM_SIZE = 8
TARGET_P95_S = 1.0
TARGET_RATE = 200
ADMIN = ("admin", "benchmark-admin-password")
ITPM = str(Path(sys.executable).with_name("itpm"))


def noop() -> None:
    """The baseline job: RQ's own cost, nothing else."""


def stamp(key: str) -> None:
    """The baseline job of the latency run: note when it ran."""
    Redis.from_url(REDIS_URL).hset("bench:done", key, time.time())


def setup(url: str, folder: Path) -> Any:
    app = create_app(
        Settings(database_url=url, secret_key=SECRET, instance_path=folder, redis_url=REDIS_URL, jobs="rq")
    )
    runtime = app.extensions["itpm"]
    initialise(runtime, app, *ADMIN)
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        department = Department(name="support", title_en="Support", title_zh="技术支持")
        sm.session.add(department)
        sm.session.flush()
        team = Team(
            name="service_desk", title_en="Service desk", title_zh="服务台", department_id=department.id
        )
        sm.session.add(team)
        sm.session.flush()
        for n in range(TEAM_SIZE):
            person = sm.add_user(
                f"agent{n}",
                "Agent",
                str(n),
                f"agent{n}@itpm.invalid",
                [sm.find_role("support_agent")],
                "agent-password-1",
            )
            person.team_id, person.department_id = team.id, department.id
        sm.session.commit()
    return runtime


def support(runtime: Any) -> int:
    """The department the agents and the incidents are in."""
    with runtime.session() as session:
        return session.scalar(select(Department.id).where(Department.name == "support"))


def save_incident(records: Records, n: int, department: int) -> int:
    record = records.create(
        "incident",
        {
            "title": f"Ticket {n}",
            "priority": ("P2", "P3", "P4")[n % 3],
            "category": "network",
            "support_group": "service_desk",
        },
        {"department": department},
    )
    return record.id


def start_workers(url: str, folder: Path, count: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "ITPM_DATABASE_URL": url,
        "ITPM_REDIS_URL": REDIS_URL,
        "ITPM_INSTANCE_PATH": str(folder),
        "ITPM_SECRET_KEY": SECRET,
    }
    workers = []
    for n in range(count):
        log = (folder / f"worker{n}.log").open("wb")
        workers.append(
            subprocess.Popen(
                [ITPM, "worker", "--name", f"bench{n}-{os.getpid()}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(
            "Listening on itpm" in (folder / f"worker{n}.log").read_text("utf-8", "replace")
            for n in range(count)
        ):
            return workers
        time.sleep(0.2)
    raise RuntimeError("the workers did not start")


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=60)


def cpu_seconds(workers: list[subprocess.Popen[bytes]]) -> float:
    """The CPU time (user and system) the worker processes have used so far."""
    ticks = 0
    for worker in workers:
        fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_for(done: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.1)


def unhandled(runtime: Any) -> int:
    with runtime.session() as session:
        return session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.handled_at.is_(None))
        )


def itpm_latency(runtime: Any, url: str, folder: Path) -> tuple[list[float], float]:
    """Seconds from each incident's commit to its assignment done, at RATE a second; and the rate achieved."""
    workers = start_workers(url, folder, 1)
    committed: dict[int, float] = {}
    department = support(runtime)
    try:
        start = time.time()
        for n in range(RATE * SECONDS):
            pause = start + n / RATE - time.time()
            if pause > 0:
                time.sleep(pause)
            with runtime.session() as session:
                records = Records(session, runtime.catalog(), Actor.system())
                record_id = save_incident(records, n, department)
                session.commit()  # the app's thread hands the event to Redis now
                committed[record_id] = time.time()
        achieved = len(committed) / (time.time() - start)
        wait_for(lambda: unhandled(runtime) == 0, 300)
    finally:
        stop_workers(workers)
    with runtime.session() as session:
        runs = session.execute(
            select(ActionRun.key, ActionRun.finished_at).where(ActionRun.automation == "assign_new_incidents")
        ).all()
        events = dict(
            session.execute(
                select(OutboxEvent.id, OutboxEvent.record_id).where(OutboxEvent.kind == "created")
            ).all()
        )
    latencies = []
    for key, finished in runs:
        event_id = int(key.split(":")[1])
        latencies.append(finished.timestamp() - committed[events[event_id]])
    assert len(latencies) == len(committed), f"{len(latencies)} assignments for {len(committed)} incidents"
    return latencies, achieved


def itpm_backlog(runtime: Any, url: str, folder: Path) -> tuple[float, int, float]:
    """Seconds two workers take to drain BACKLOG new incidents' events, how many events they handled,
    and the CPU seconds the workers used meanwhile."""
    runtime._start_jobs = lambda _runtime: (
        NoJobs()
    )  # saved with no dispatcher: the backlog waits in the outbox
    department = support(runtime)
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        for n in range(BACKLOG):
            save_incident(records, 100_000 + n, department)
            if n % 500 == 499:
                session.commit()
        session.commit()
    with runtime.session() as session:
        before = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.handled_at.is_not(None))
        )
    workers = start_workers(url, folder, 2)
    try:
        queue = Queue("itpm", connection=Redis.from_url(REDIS_URL))
        cpu = cpu_seconds(workers)
        started = time.perf_counter()
        dispatch(runtime, queue, limit=BACKLOG)
        wait_for(lambda: unhandled(runtime) == 0, 1800)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(workers) - cpu
    finally:
        stop_workers(workers)
    with runtime.session() as session:
        after = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.handled_at.is_not(None))
        )
        assigned = session.scalar(
            select(func.count()).select_from(ActionRun).where(ActionRun.status == "done")
        )
        told = session.scalar(select(func.count()).select_from(Notification))
    assert assigned == BACKLOG + RATE * SECONDS, f"{assigned} assignments done"
    assert told == assigned, f"{told} assignees told of {assigned} assignments"
    return seconds, after - before, cpu


def rq_latency() -> list[float]:
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    queue = Queue("baseline", connection=redis)
    worker = subprocess.Popen(
        [sys.executable, "-c", "from bench.automation import baseline_worker; baseline_worker(False)"],
        start_new_session=True,
    )
    time.sleep(2)
    enqueued = {}
    try:
        start = time.time()
        for n in range(RATE * SECONDS):
            pause = start + n / RATE - time.time()
            if pause > 0:
                time.sleep(pause)
            queue.enqueue(stamp, str(n), job_id=f"base-{n}", result_ttl=60)
            enqueued[str(n)] = time.time()
        wait_for(lambda: redis.hlen("bench:done") == len(enqueued), 300)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    done = {k.decode(): float(v) for k, v in redis.hgetall("bench:done").items()}
    return [done[k] - enqueued[k] for k in enqueued]


def rq_backlog() -> tuple[float, float]:
    """Seconds two plain RQ workers take to drain BACKLOG no-op jobs, and their CPU seconds."""
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    queue = Queue("baseline", connection=redis)
    with redis.pipeline() as pipe:
        queue.enqueue_many(
            [Queue.prepare_data(noop, job_id=f"backlog-{n}", result_ttl=60) for n in range(BACKLOG)],
            pipeline=pipe,
        )
        pipe.execute()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", "from bench.automation import baseline_worker; baseline_worker(True)"],
            start_new_session=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.wait(timeout=1800)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def baseline_worker(burst: bool) -> None:
    SimpleWorker(
        [Queue("baseline", connection=Redis.from_url(REDIS_URL))], connection=Redis.from_url(REDIS_URL)
    ).work(burst=burst, logging_level="WARNING")


def run() -> None:
    Redis.from_url(REDIS_URL).flushdb()
    with scratch_database("postgres", "itpm_bench_automation") as (url, folder):
        runtime = setup(url, folder)
        try:
            latencies, achieved = itpm_latency(runtime, url, folder)
            load = os.getloadavg()[0]
            seconds, handled, cpu = itpm_backlog(runtime, url, folder)
            load = (load + os.getloadavg()[0]) / 2
        finally:
            runtime.dispose()
    Redis.from_url(REDIS_URL).flushdb()
    base_latencies = rq_latency()
    base_seconds, base_cpu = rq_backlog()
    Redis.from_url(REDIS_URL).flushdb()

    rate, base_rate = BACKLOG / seconds, BACKLOG / base_seconds
    print(f"One worker, {RATE} incidents a second for {SECONDS} s (achieved {achieved:.1f}/s); "
          f"then {BACKLOG:,} incidents drained by two workers ({handled:,} events handled: each assignment is an event too).\n")  # fmt: skip
    print_table(
        ["measure", "itpm", "baseline (plain RQ, no-op job)", "ratio", "target", "met"],
        [
            ["commit → action done, p50", f"{p50(latencies) * 1000:.0f} ms", f"{p50(base_latencies) * 1000:.0f} ms",
             f"{p50(latencies) / p50(base_latencies):.1f}", "", ""],
            ["commit → action done, p95", f"{p95(latencies) * 1000:.0f} ms", f"{p95(base_latencies) * 1000:.0f} ms",
             f"{p95(latencies) / p95(base_latencies):.1f}", f"≤ {TARGET_P95_S * 1000:.0f} ms",
             "yes" if p95(latencies) <= TARGET_P95_S else "NO"],
            ["backlog drained by two workers", f"{rate:.0f} incidents/s ({handled / seconds:.0f} events/s)", f"{base_rate:.0f} jobs/s",
             f"{rate / base_rate:.2f}", f"≥ {TARGET_RATE}/s", "yes" if rate >= TARGET_RATE else "NO"],
            ["workers' CPU per 1,000 incidents (backlog)", f"{cpu * 1000 / BACKLOG:.1f} s", f"{base_cpu * 1000 / BACKLOG:.1f} s",
             f"{cpu / base_cpu:.1f}", "", ""],
            ["incidents a CPU second (backlog)", f"{BACKLOG / cpu:.0f}", f"{BACKLOG / base_cpu:.0f} jobs", "", "", ""],
        ],
    )  # fmt: skip
    print(
        f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; the backlog took {seconds:.1f} s (baseline {base_seconds:.1f} s); "
        f"load average {load:.1f} while it drained, {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} CPUs)."
    )
