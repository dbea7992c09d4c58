"""Dashboards: KPI tiles cold and cached, and whole home dashboards cold, against one hand-written SQL aggregate.

The data (the issue's sizes): on PostgreSQL 1,000,000 incidents and 200,000 tasks (ITPM_BENCH_PG_ROWS,
ITPM_BENCH_PG_TASKS), on SQLite 100,000 and 20,000 (ITPM_BENCH_ROWS, ITPM_BENCH_TASKS), spread over the 24
months before NOW, two departments, four priorities, 200 projects and 40 people in 4 teams. Settled incidents
carry their SLA outcome (met or breached, the first response's business minutes), the open ones are mostly
recent (a real backlog); tasks are done on time, late or not at all. Written with COPY on PostgreSQL and
executemany on SQLite (not the ORM), then analysed. The PostgreSQL database is kept between runs
(`bench_dashboards_kept`, found again by its sizes and DATA; ITPM_BENCH_FRESH=1 builds it again).

Timed in process (the server's time, no network), ITPM_BENCH_REPEAT times each, with the CPU time of this
process beside it (SQLite's work is in it, PostgreSQL's is not):
- the tile "SLA compliance, last 12 months" for a support agent (department rows), cold and cached;
- the same KPI by month (the trend tile), cold;
- the support agent's and the project manager's whole home dashboards, cold (nothing kept) and cached.
The baseline is the same aggregate as one hand-written SQL query over the same rows (count and met count of
the department's settled incidents in the 12 months). The KPI layer's SQL is the same text on both backends.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from bench._common import BACKENDS, PG_SERVER, SECRET, _pg_execute, p50, p95, print_table, scratch_database
from itpm.access import Actor
from itpm.config import Settings
from itpm.installation import STARTER_PACK, initialise
from itpm.kpis.cache import AnswerCache
from itpm.kpis.dashboards import tiles
from itpm.kpis.service import ask
from itpm.models import Department, Person, Team
from itpm.records.service import Records
from itpm.web.app import create_app

ROWS = int(os.environ.get("ITPM_BENCH_ROWS", "100000"))
TASKS = int(os.environ.get("ITPM_BENCH_TASKS", "20000"))
PG_ROWS = int(os.environ.get("ITPM_BENCH_PG_ROWS", "1000000"))
PG_TASKS = int(os.environ.get("ITPM_BENCH_PG_TASKS", "200000"))
REPEAT = int(os.environ.get("ITPM_BENCH_REPEAT", "20"))
FRESH = os.environ.get("ITPM_BENCH_FRESH") == "1"
ADMIN = ("admin", "benchmark-admin-password")
NOW = dt.datetime(2026, 12, 3, 4, 0, tzinfo=dt.UTC)
#: What the data looks like; a kept database of another DATA is built again.
DATA = "3"
KEPT = "bench_dashboards_kept"
BATCH = 10_000


def incidents(rows: int, departments: list[int], projects: list[int]) -> Iterator[dict[str, Any]]:
    chance = random.Random(15)
    for index in range(rows):
        age = chance.randrange(0, 730 * 24 * 60)
        created = NOW - dt.timedelta(minutes=age)
        settled = chance.random() < (0.4 if age < 14 * 24 * 60 else 0.995)  # a backlog of recent ones
        met = chance.random() < 0.9
        response = chance.randrange(5, 90 if met else 400)
        yield {
            "number": f"INC-{index:07d}",
            "state": "resolved" if settled else "in_progress",
            "version": 1,
            "created_at": created,
            "updated_at": created + dt.timedelta(hours=chance.randrange(1, 72)) if settled else created,
            "department_id": departments[index % 2],
            "project": projects[index % len(projects)],
            "priority": chance.choice(["P1", "P2", "P3", "P4"]),
            "title": f"incident {index}",
            "sla_status": ("met" if met else "breached") if settled else "on_track",
            "sla_clocks": (
                {"first_response": {"target": 60, "elapsed": response, "paused": 0, "is_stopped": True}}
                if settled
                else None
            ),
        }


def tasks(
    rows: int, departments: list[int], projects: list[int], people: list[int]
) -> Iterator[dict[str, Any]]:
    chance = random.Random(16)
    today = NOW.date()
    for index in range(rows):
        due = today - dt.timedelta(days=chance.randrange(-60, 730))
        start = due - dt.timedelta(days=chance.randrange(3, 40))
        fate = chance.random()
        state = "done" if due < today and fate < 0.9 else ("cancelled" if fate > 0.98 else "doing")
        finished = dt.datetime(due.year, due.month, due.day, 10, tzinfo=dt.UTC) + dt.timedelta(
            days=chance.randrange(-5, 3 if fate < 0.8 else 20)
        )
        yield {
            "number": f"TSK-{index:07d}",
            "state": state,
            "version": 1,
            "created_at": dt.datetime(start.year, start.month, start.day, 9, tzinfo=dt.UTC),
            "updated_at": finished if state == "done" else NOW - dt.timedelta(days=1),
            "department_id": departments[index % 2],
            "assignee_id": people[index % len(people)],
            "project": projects[index % len(projects)],
            "priority": chance.choice(["low", "medium", "high"]),
            "title": f"task {index}",
            "due_date": due,
            "start_date": start,
            "milestone": chance.random() < 0.05,
        }


def write(runtime: Any, type_name: str, rows: Iterator[dict[str, Any]]) -> None:
    """Rows of `type_name` in batches: COPY on PostgreSQL, executemany on SQLite (field names to columns)."""
    catalog = runtime.catalog()
    table = catalog.models.models[type_name].__table__
    spec = catalog.record_types[type_name]

    def column(name: str) -> str:
        return spec.fields[name].column if name in spec.fields else name

    first = next(rows)
    names = list(first)
    columns = [column(n) for n in names]

    def batches() -> Iterator[list[dict[str, Any]]]:
        batch = [first]
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    if runtime.engine.dialect.name == "sqlite":
        with runtime.engine.begin() as connection:
            for batch in batches():
                connection.execute(insert(table), [{column(k): v for k, v in row.items()} for row in batch])
        return
    raw = runtime.engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        # Generated rows, not changes anyone made: neither the audit trigger (one audit row per row, which
        # took longer than the load itself) nor the foreign keys (the ids are the loader's own) are run.
        cursor.execute("SET session_replication_role = replica")
        quoted = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
            for batch in batches():
                for row in batch:
                    copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in row.values()])
        raw.commit()
    finally:
        raw.close()


def load(runtime: Any, rows: int, task_rows: int) -> None:
    with runtime.session() as session:
        departments = [Department(name=f"d{i}", title_en=f"D{i}", title_zh=f"部门{i}") for i in (1, 2)]
        session.add_all(departments)
        session.flush()
        teams = [
            Team(name=f"t{i}", title_en=f"Team {i}", title_zh=f"团队{i}", department_id=departments[i % 2].id)
            for i in range(4)
        ]
        session.add_all(teams)
        session.flush()
        people = [
            Person(
                first_name=f"P{i}",
                last_name="Bench",
                username=f"bench{i}",
                email=f"bench{i}@example.com",
                active=True,
                team_id=teams[i % 4].id,
                department_id=teams[i % 4].department_id,
            )
            for i in range(40)
        ]
        session.add_all(people)
        session.commit()
        department_ids = [d.id for d in departments]
        person_ids = [p.id for p in people]
    project_rows = (
        {
            "number": f"PRJ-{i:04d}",
            "state": "execution",
            "version": 1,
            "created_at": NOW - dt.timedelta(days=800),
            "updated_at": NOW - dt.timedelta(days=800),
            "department_id": department_ids[i % 2],
            "name": f"project {i}",
            "start_date": NOW.date() - dt.timedelta(days=3 * i + 10),
            "due_date": NOW.date() + dt.timedelta(days=200 - 3 * i),
            "budget_plan": 100_000.0,
            "budget_spent": 80_000.0 + 200.0 * i,
        }
        for i in range(200)
    )
    write(runtime, "project", project_rows)
    project_table = runtime.catalog().models.models["project"].__table__
    with runtime.engine.connect() as connection:
        projects = list(connection.scalars(select(project_table.c.id).order_by(project_table.c.id)))
    write(runtime, "incident", incidents(rows, department_ids, projects))
    write(runtime, "task", tasks(task_rows, department_ids, projects, person_ids))
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for type_name in ("project", "incident", "task"):
            connection.execute(text(f"ANALYZE rec_{type_name}"))


@contextmanager
def database(backend: str, rows: int, task_rows: int) -> Iterator[tuple[Any, str]]:
    """An installation with the data loaded: (runtime, how it was had). PostgreSQL's is kept for the next run."""
    if backend == "sqlite":
        with scratch_database(backend, "bench_dashboards") as (url, folder):
            runtime = _installed(url, folder)
            started = time.perf_counter()
            load(runtime, rows, task_rows)
            yield runtime, f"loaded in {time.perf_counter() - started:.0f} s"
            runtime.dispose()
        return
    marker = f"{DATA}:{rows}:{task_rows}"
    server = PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{server}/{KEPT}"
    found = None
    if not FRESH:
        try:
            import psycopg

            with psycopg.connect(f"{PG_SERVER.rsplit('/', 1)[0]}/{KEPT}") as connection:
                found = connection.execute("SELECT marker FROM bench_marker").fetchone()
        except Exception:
            found = None
    with tempfile.TemporaryDirectory(prefix="bench_dashboards-") as folder:
        if found and found[0] == marker:
            runtime = _installed(url, Path(folder))
            how = "kept from an earlier run"
        else:
            _pg_execute(f"DROP DATABASE IF EXISTS {KEPT} WITH (FORCE)")
            _pg_execute(f"CREATE DATABASE {KEPT}")
            runtime = _installed(url, Path(folder))
            started = time.perf_counter()
            load(runtime, rows, task_rows)
            with runtime.engine.begin() as connection:
                connection.execute(text("CREATE TABLE bench_marker (marker text)"))
                connection.execute(text("INSERT INTO bench_marker VALUES (:m)"), {"m": marker})
            how = f"loaded in {time.perf_counter() - started:.0f} s (kept for the next run)"
        yield runtime, how
        runtime.dispose()


def _installed(url: str, folder: Path) -> Any:
    app = create_app(Settings(database_url=url, secret_key=SECRET, instance_path=folder, jobs="none"))
    runtime = app.extensions["itpm"]
    initialise(runtime, app, *ADMIN, starter_pack=STARTER_PACK)
    return runtime


def timed(work: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU milliseconds of `work()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def run_backend(backend: str) -> tuple[int, int, str, list[tuple[str, list[float], list[float]]]]:
    rows, task_rows = (ROWS, TASKS) if backend == "sqlite" else (PG_ROWS, PG_TASKS)
    with database(backend, rows, task_rows) as (runtime, how):
        catalog = runtime.catalog()
        with runtime.session() as session:
            department = session.scalar(select(Department.id).where(Department.name == "d1"))
        table = "rec_incident"
        agent = Actor(10_000, "agent", frozenset({"support_agent"}), department_id=department)
        manager = Actor(10_001, "manager", frozenset({"project_manager"}), department_id=department)
        first = f"{(NOW - dt.timedelta(days=335)):%Y-%m}"
        period = f"{first}..{NOW:%Y-%m}"
        since = dt.datetime(int(first[:4]), int(first[5:7]), 1) - dt.timedelta(hours=8)
        baseline_sql = text(
            f"SELECT count(*), sum(CASE WHEN sla_status = 'met' THEN 1 ELSE 0 END) FROM {table} "
            "WHERE department_id = :d AND created_at >= :since AND sla_status IN ('met', 'breached')"
        )
        homes = {
            "support agent's": (agent, catalog.configuration.get("dashboard", "support_home").body),
            "project manager's": (
                manager,
                catalog.configuration.get("dashboard", "project_manager_home").body,
            ),
        }
        kept = runtime.kpis.answers
        samples: dict[str, tuple[list[float], list[float]]] = {}

        def sample(name: str, work: Callable[[], Any]) -> None:
            wall, cpu = timed(work)
            samples.setdefault(name, ([], []))[0].append(wall)
            samples[name][1].append(cpu)

        with runtime.session() as session:
            records = Records(session, catalog, agent, clock=lambda: NOW)
            check = ask(records, "sla_compliance", period, cache=None).total
            hand = session.execute(baseline_sql, {"d": department, "since": since.replace(tzinfo=None)}).one()
            assert check.n == hand[0] and check.numerator == hand[1], (check, hand)
            cache = AnswerCache()
            ask(records, "sla_compliance", period, cache=cache)
            for _ in range(REPEAT):
                sample(
                    "hand-written SQL aggregate (baseline)",
                    lambda: session.execute(
                        baseline_sql, {"d": department, "since": since.replace(tzinfo=None)}
                    ).one(),
                )
                sample("tile, cold", lambda: ask(records, "sla_compliance", period, cache=None))
                sample("tile, cached", lambda: ask(records, "sla_compliance", period, cache=cache))
                sample(
                    "trend tile by month, cold",
                    lambda: ask(records, "sla_compliance", period, "month", cache=None),
                )
                for whose, (actor, body) in homes.items():
                    reader = Records(session, catalog, actor, clock=lambda: NOW)
                    shown = f"{whose} home dashboard ({len(body['tiles'])} tiles)"
                    kept.clear()
                    sample(f"{shown}, cold", lambda r=reader, b=body: tiles(r, b, "zh", lambda *_: ""))
                    sample(f"{shown}, cached", lambda r=reader, b=body: tiles(r, b, "zh", lambda *_: ""))
        return rows, task_rows, how, [(name, wall, cpu) for name, (wall, cpu) in samples.items()]


def run() -> None:
    for backend in BACKENDS:
        load_before = os.getloadavg()[0]
        rows, task_rows, how, samples = run_backend(backend)
        baseline = p95(samples[0][1])
        print(
            f"\n### {backend}: {rows:,} incidents and {task_rows:,} tasks ({how}); p50 and p95 of {REPEAT} runs "
            f"(ms); load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} "
            "cores\n"
        )
        print_table(
            ["measurement", "p50 ms", "p95 ms", "p95 / baseline p95", "CPU p50 ms (this process)"],
            [
                (
                    name,
                    f"{p50(wall):.1f}",
                    f"{p95(wall):.1f}",
                    f"{p95(wall) / baseline:.1f}×",
                    f"{p50(cpu):.1f}",
                )
                for name, wall, cpu in samples
            ],
        )


if __name__ == "__main__":
    run()
