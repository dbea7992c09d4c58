"""Import: a 100,000-row incident CSV validated and written through the records service, rows per second.

The file refers to client organisations and projects by name and to engineers by
user name, in the words a company's old system exports (choice labels in Chinese
and English, local times). It is imported as the admin, as `itpm import` does:
streamed, mapped, every row validated by the records service (schema, form rules,
references the admin sees, people), numbered, written with its history, in chunks
of 1,000 committed with their checkpoint. The baseline, in the same run on the same
database: the same rows (references already resolved) into a table of the same
columns with one raw `executemany` INSERT per chunk, no validation, no history.

ITPM_BENCH_ROWS (default 100000) and ITPM_BENCH_BACKENDS make a quicker run.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import resource
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, select

from bench._common import BACKENDS, SECRET, print_table, scratch_database
from itpm.access import Actor
from itpm.config import Settings
from itpm.installation import STARTER_PACK, initialise
from itpm.models import ImportRun
from itpm.records.imports import CHUNK, open_source, read_rows, run_import, start_import
from itpm.records.service import Records
from itpm.web.app import create_app

ROWS = int(os.environ.get("ITPM_BENCH_ROWS", "100000"))
TARGET = 2000
CUSTOMERS = 20
PROJECTS = 40
HEADER = [
    "Number",
    "Title",
    "Priority",
    "类别",
    "Client",
    "Project",
    "Assignee",
    "Created",
    "State",
    "Resolved at",
]


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        start = dt.datetime(2023, 1, 1, 8, 0)
        for n in range(1, rows + 1):
            created = start + dt.timedelta(minutes=5 * n)
            resolved = n % 3 == 0
            project = n % PROJECTS
            writer.writerow(
                [
                    f"INC-2023-{n:06d}",
                    f"Incident {n}: service degraded at site {n % 97}",
                    ["P3", "P4 Low", "P3 中", "p4"][n % 4],
                    ["网络", "Server", "application", "数据库"][n % 4],
                    f"Client {project % CUSTOMERS}",
                    f"Project {project}",
                    f"engineer{n % 5}",
                    created.strftime("%Y-%m-%d %H:%M"),
                    "已解决" if resolved else "New",
                    (created + dt.timedelta(hours=3)).strftime("%Y-%m-%d %H:%M") if resolved else "",
                ]
            )


def world(app: Any) -> dict[str, int]:
    runtime = app.extensions["itpm"]
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        people = {}
        for n in range(5):
            user = sm.add_user(
                f"engineer{n}",
                "Eng",
                f"{n}",
                f"engineer{n}@bench.invalid",
                [sm.find_role("engineer")],
                SECRET,
            )
            people[f"engineer{n}"] = user.id
        sm.session.commit()
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        clients = [system.create("customer", {"name": f"Client {n}"}).id for n in range(CUSTOMERS)]
        projects = {}
        for n in range(PROJECTS):
            project = system.create(
                "project",
                {
                    "name": f"Project {n}",
                    "project_type": "outsourcing",
                    "phase": "execution",
                    "start_date": "2023-01-01",
                    "due_date": "2027-12-31",
                },
                {"client": clients[n % CUSTOMERS]},
            )
            projects[f"Project {n}"] = project.id
        session.commit()
    return {**people, **projects, **{f"Client {n}": c for n, c in enumerate(clients)}}


def baseline(runtime: Any, path: Path, ids: dict[str, int]) -> float:
    """Rows per second of raw executemany INSERTs of the same rows (references looked up in a dict)."""
    table = Table(
        "bench_raw_incident",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("number", String(64)),
        Column("title", Text),
        Column("priority", Text),
        Column("category", Text),
        Column("client_id", Integer),
        Column("project_id", Integer),
        Column("assignee_id", Integer),
        Column("state", String(40)),
        Column("created_at", DateTime),
        Column("resolved_at", DateTime),
    )
    table.create(runtime.engine)
    source = open_source(path)
    start = time.perf_counter()
    _header, rows = read_rows(source)
    chunk: list[dict[str, Any]] = []
    with runtime.engine.begin() as connection:
        for _number, row in rows:
            chunk.append(
                {
                    "number": row[0],
                    "title": row[1],
                    "priority": row[2],
                    "category": row[3],
                    "client_id": ids[row[4]],
                    "project_id": ids[row[5]],
                    "assignee_id": ids[row[6]],
                    "state": row[8],
                    "created_at": dt.datetime.fromisoformat(row[7]),
                    "resolved_at": dt.datetime.fromisoformat(row[9]) if row[9] else None,
                }
            )
            if len(chunk) >= CHUNK:
                connection.execute(table.insert(), chunk)
                chunk = []
        if chunk:
            connection.execute(table.insert(), chunk)
    seconds = time.perf_counter() - start
    with runtime.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(table)) == ROWS
    return ROWS / seconds


def measure(backend: str, path: Path) -> list[Any]:
    with scratch_database(backend, "itpm_bench_import") as (url, folder):
        settings = Settings(database_url=url, secret_key=SECRET, instance_path=folder, jobs="none")
        app = create_app(settings)
        runtime = app.extensions["itpm"]
        try:
            initialise(runtime, app, "admin", "bench-admin-password-long-enough", STARTER_PACK)
            ids = world(app)
            raw = baseline(runtime, path, ids)
            flask_app = app.dispatcher.app
            with flask_app.app_context():
                admin = Actor.of(flask_app.appbuilder.sm.find_user("admin"))
            memory_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start, cpu_start = time.perf_counter(), time.process_time()
            with runtime.session() as session:
                records = Records(session, runtime.catalog(), admin, timezone=settings.timezone)
                run = start_import(records, "incident", open_source(path), key=None)
                session.commit()
                run_id = run.id
            run_import(runtime, run_id, path=path)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            with runtime.session() as session:
                run = session.get(ImportRun, run_id)
                assert (run.status, run.inserted, run.failed) == ("done", ROWS, 0), (
                    run.status,
                    run.problems[:3],
                )
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - memory_before) / 1024
            rate = ROWS / seconds
            return [
                backend,
                f"{ROWS:,}",
                f"{rate:,.0f}",
                f"{ROWS / cpu:,.0f}",
                f"{raw:,.0f}",
                f"{raw / rate:.1f}×",
                f"{grown:,.0f} MiB",
                "yes" if rate >= TARGET else "NO",
            ]
        finally:
            runtime.dispose()


def run() -> None:
    with scratch_database("sqlite", "itpm_bench_import_file") as (_url, folder):
        path = folder / "incidents.csv"
        write_file(path, ROWS)
        size = path.stat().st_size / 1024 / 1024
        rows = [measure(backend, path) for backend in BACKENDS]
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"\nImport: {ROWS:,} incident rows ({size:.1f} MiB CSV, references by name), chunks of {CHUNK:,}")
    print(
        f"load average {load} on {os.cpu_count()} cores; rows/CPU-s: this process's CPU time"
        " (SQLite's work included, PostgreSQL's server not)"
    )
    print_table(
        [
            "database",
            "rows",
            "itpm rows/s",
            "itpm rows/CPU-s",
            "raw INSERT rows/s",
            "raw / itpm",
            "peak memory growth",
            f"≥ {TARGET:,}/s",
        ],
        rows,
    )


if __name__ == "__main__":
    run()
