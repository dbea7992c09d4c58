"""Dashboards: a KPI tile cold and cached, and a whole home dashboard, against one hand-written SQL aggregate.

The starter pack's incident type gets ITPM_BENCH_ROWS incidents (100,000 by default) on SQLite and
ITPM_BENCH_PG_ROWS (200,000 by default) on PostgreSQL, spread over 24 months, two departments and four
priorities, a share of them with a settled SLA (met or breached), bulk-loaded with SQLAlchemy Core and
analysed. Timed in process (the server's time, no network), ITPM_BENCH_REPEAT times each:

- the tile "SLA compliance, last 12 months" for a support agent (department rows: the access layer's
  condition in the query), cold (no cache) and cached;
- the same KPI by month (the trend tile), cold;
- the support lead's whole home dashboard, cold (the cache emptied before each) and cached.

The baseline is the same aggregate as one hand-written SQL query over the same table and rows
(count and met count of the department's settled incidents in the 12 months): what the KPI layer's
SQL is measured against. The KPI layer's SQL is the same text on both backends.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from typing import Any

from sqlalchemy import insert, text

from bench._common import BACKENDS, SECRET, p50, p95, print_table, scratch_database
from itpm.access import Actor
from itpm.config import Settings
from itpm.installation import STARTER_PACK, initialise
from itpm.kpis.dashboards import tiles
from itpm.kpis.service import CACHE, AnswerCache, ask
from itpm.models import Department
from itpm.records.service import Records
from itpm.web.app import create_app

ROWS = int(os.environ.get("ITPM_BENCH_ROWS", "100000"))
PG_ROWS = int(os.environ.get("ITPM_BENCH_PG_ROWS", "200000"))
REPEAT = int(os.environ.get("ITPM_BENCH_REPEAT", "20"))
ADMIN = ("admin", "benchmark-admin-password")
NOW = dt.datetime(2026, 12, 3, 4, 0, tzinfo=dt.UTC)


def load(runtime: Any, rows: int) -> tuple[int, str]:
    """`rows` incidents over 24 months before NOW; the first department's id and the table's name."""
    catalog = runtime.catalog()
    table = catalog.models.models["incident"].__table__
    with runtime.session() as session:
        departments = [Department(name=f"d{i}", title_en=f"D{i}", title_zh=f"部门{i}") for i in (1, 2)]
        session.add_all(departments)
        session.commit()
        ids = [d.id for d in departments]
    chance = random.Random(15)
    batch: list[dict[str, Any]] = []
    with runtime.engine.begin() as connection:
        for index in range(rows):
            created = NOW - dt.timedelta(minutes=chance.randrange(0, 730 * 24 * 60))
            settled = chance.random() < 0.8
            batch.append(
                {
                    "number": f"INC-{index:07d}",
                    "state": "resolved" if settled else "in_progress",
                    "version": 1,
                    "created_at": created,
                    "updated_at": created,
                    "department_id": ids[index % 2],
                    "priority": chance.choice(["P1", "P2", "P3", "P4"]),
                    "title": f"incident {index}",
                    "sla_status": (
                        ("met" if chance.random() < 0.9 else "breached") if settled else "on_track"
                    ),
                }
            )
            if len(batch) == 5000:
                connection.execute(insert(table), batch)
                batch = []
        if batch:
            connection.execute(insert(table), batch)
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"ANALYZE {table.name}"))
    return ids[0], table.name


def timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def run_backend(backend: str) -> tuple[int, list[tuple[str, list[float]]]]:
    rows = ROWS if backend == "sqlite" else PG_ROWS
    with scratch_database(backend, "bench_dashboards") as (url, folder):
        app = create_app(Settings(database_url=url, secret_key=SECRET, instance_path=folder, jobs="none"))
        runtime = app.extensions["itpm"]
        initialise(runtime, app, *ADMIN, starter_pack=STARTER_PACK)
        department, table = load(runtime, rows)
        catalog = runtime.catalog()
        agent = Actor(10_000, "agent", frozenset({"support_agent"}), department_id=department)
        first = f"{(NOW - dt.timedelta(days=335)):%Y-%m}"
        period = f"{first}..{NOW:%Y-%m}"
        since = dt.datetime(int(first[:4]), int(first[5:7]), 1) - dt.timedelta(hours=8)
        baseline_sql = text(
            f"SELECT count(*), sum(CASE WHEN sla_status = 'met' THEN 1 ELSE 0 END) FROM {table} "
            "WHERE department_id = :d AND created_at >= :since AND sla_status IN ('met', 'breached')"
        )
        dashboard = catalog.configuration.get("dashboard", "support_home").body
        samples: dict[str, list[float]] = {}
        with runtime.session() as session:
            records = Records(session, catalog, agent, clock=lambda: NOW)
            check = ask(records, "sla_compliance", period, cache=None).total
            hand = session.execute(baseline_sql, {"d": department, "since": since.replace(tzinfo=None)}).one()
            assert check.n == hand[0] and check.numerator == hand[1], (check, hand)
            cache = AnswerCache()
            ask(records, "sla_compliance", period, cache=cache)
            for _ in range(REPEAT):
                measures = {
                    "hand-written SQL aggregate (baseline)": lambda: session.execute(
                        baseline_sql, {"d": department, "since": since.replace(tzinfo=None)}
                    ).one(),
                    "tile, cold": lambda: ask(records, "sla_compliance", period, cache=None),
                    "tile, cached": lambda: ask(records, "sla_compliance", period, cache=cache),
                    "trend tile by month, cold": lambda: ask(
                        records, "sla_compliance", period, "month", cache=None
                    ),
                }
                for name, work in measures.items():
                    samples.setdefault(name, []).append(timed(work))
                CACHE.clear()
                samples.setdefault("home dashboard (8 tiles), cold", []).append(
                    timed(lambda: tiles(records, dashboard, "zh", lambda *_: ""))
                )
                samples.setdefault("home dashboard (8 tiles), cached", []).append(
                    timed(lambda: tiles(records, dashboard, "zh", lambda *_: ""))
                )
        runtime.dispose()
        return rows, list(samples.items())


def run() -> None:
    for backend in BACKENDS:
        rows, samples = run_backend(backend)
        baseline = p95(samples[0][1])
        print(f"\n### {backend}: {rows:,} incidents, p50 and p95 of {REPEAT} runs (ms)\n")
        print_table(
            ["measurement", "p50 ms", "p95 ms", "p95 / baseline p95"],
            [(name, f"{p50(s):.1f}", f"{p95(s):.1f}", f"{p95(s) / baseline:.1f}×") for name, s in samples],
        )


if __name__ == "__main__":
    run()
