"""Reports: a 20-page client status report (300 task rows, 4+ charts, Chinese text) rendered to PDF.

The starter `client_status` report on one project of 300 tasks, 360 incidents
over six months and 60 change requests, all titled in Chinese, on SQLite
(rendering does not depend on the database). Measured:

- cold, new process: the first rendering of a process that has rendered
  nothing (it starts the fork server that imports WeasyPrint; each rendering's
  child then loads the fonts), data loading included;
- cold, warmed worker: the first rendering after the fork server is stopped and
  started again by `start_renderer`, as `itpm worker` does when it starts (that
  start is not timed: it happens before the worker takes a job); the first
  report a worker renders;
- warm: the next renderings (median of ITPM_BENCH_REPEAT, default 3), data loading included;
- peak memory: the rendering process's peak resident size (where WeasyPrint runs),
  and the parent's (where the data is read).

The baseline is the same HTML with its charts (inline SVG) taken out, rendered
to PDF in the same kind of child process, in the same run. Targets: ≤ 5 s and ≤ 500 MB.
The load average is printed with the table: the machine is shared, so read the ratios.
"""

from __future__ import annotations

import datetime as dt
import io
import multiprocessing.forkserver
import os
import random
import re
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from bench._common import SECRET, print_table, scratch_database
from itpm.access import Actor
from itpm.config import Settings
from itpm.installation import initialise
from itpm.records.service import Records
from itpm.reports.definition import report_definition
from itpm.reports.isolation import DEFAULT_LIMITS, run_isolated, start_renderer
from itpm.reports.pdf import render_pdf
from itpm.reports.service import render_report, report_context
from itpm.reports.templates import render_html
from itpm.web.app import create_app

REPEAT = int(os.environ.get("ITPM_BENCH_REPEAT", "3"))
TASKS, INCIDENTS, CHANGES = 300, 360, 60
NOW = dt.datetime(2026, 3, 20, 2, 0, tzinfo=dt.UTC)
MAX_SECONDS, MAX_MB = 5.0, 500.0
WORDS = (
    "需求 调研 设计 开发 测试 部署 迁移 培训 验收 网络 服务器 数据库 接口 安全 监控 备份 优化 文档".split()
)
SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def build_project(runtime: Any) -> int:
    """One client's project with its tasks, incidents and changes, as the records service writes them."""
    rng = random.Random(7)
    clock = {"now": NOW}
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system(), clock=lambda: clock["now"])
        client = records.create("customer", {"name": "华夏银行股份有限公司", "industry": "finance"})
        project = records.create(
            "project",
            {
                "name": "核心银行系统升级与数据中心迁移项目",
                "project_type": "implementation",
                "phase": "execution",
                "start_date": "2025-10-01",
                "due_date": "2026-09-30",
                "progress": 48,
            },
            {"client": client.id},
        )
        start = dt.date(2025, 10, 1)
        made: list[int] = []
        for i in range(TASKS):
            begin = start + dt.timedelta(days=rng.randrange(0, 330))
            due = begin + dt.timedelta(days=rng.randrange(3, 40))
            progress = 100 if due < NOW.date() - dt.timedelta(days=10) else rng.choice([0, 20, 50, 80])
            clock["now"] = dt.datetime.combine(min(due, NOW.date()), dt.time(2), dt.UTC)
            data = {
                "title": f"{'、'.join(rng.sample(WORDS, 5))}及相关配套工作(第 {i + 1} 项工作包)",
                "project": project.id,
                "start_date": begin.isoformat(),
                "due_date": due.isoformat(),
                "progress": progress,
                "milestone": i % 25 == 0,
                "estimate_hours": rng.randrange(8, 80),
            }
            if made and i % 3 == 0:
                data["depends_on"] = [rng.choice(made)]
            made.append(records.create("task", data).id)
        for i in range(INCIDENTS):
            occurred = dt.datetime(2025, 10, 1, tzinfo=dt.UTC) + dt.timedelta(
                hours=rng.randrange(0, 24 * 170)
            )
            clock["now"] = occurred
            data = {
                "title": f"{rng.choice(WORDS)}故障 #{i + 1}",
                "priority": rng.choice(["P1", "P2", "P3", "P4"]),
                "category": "application",
                "project": project.id,
                "occurred_at": occurred.isoformat(),
            }
            if rng.random() < 0.9:
                resolved = occurred + dt.timedelta(hours=rng.randrange(1, 60))
                data.update(resolved_at=resolved.isoformat(), root_cause="配置错误", resolution="已修复")
            records.create("incident", data)
        for i in range(CHANGES):
            records.create(
                "change_request",
                {
                    "title": f"变更:{rng.choice(WORDS)}范围调整 {i + 1}",
                    "project": project.id,
                    "impact": rng.choice(["low", "medium"]),
                    "urgency": "normal",
                    "schedule_impact_days": rng.randrange(0, 15),
                    "cost_impact": rng.randrange(0, 100_000),
                },
            )
        session.commit()
        return project.id


def run() -> None:
    with scratch_database("sqlite", "itpm_bench_reports") as (url, folder):
        app = create_app(
            Settings(database_url=url, secret_key=SECRET, instance_path=Path(folder), jobs="none")
        )
        runtime = app.extensions["itpm"]
        initialise(runtime, app, "admin", "admin-password-for-bench")
        project = build_project(runtime)
        given = {"project": project, "month": "2026-03"}
        with runtime.session() as session:
            records = Records(session, runtime.catalog(), Actor.system())
            report, baseline = [], []
            for attempt in range(REPEAT + 2):
                if attempt == 1:  # a worker's start: a new fork server, started before the first job
                    multiprocessing.forkserver._forkserver._stop()
                    started = time.perf_counter()
                    start_renderer()
                    renderer_s = time.perf_counter() - started
                started = time.perf_counter()
                rendered = render_report(records, "client_status", given, "zh", now=NOW)
                report.append((time.perf_counter() - started, rendered.peak_mb))
                if attempt == 0:
                    definition = report_definition(records.catalog, "client_status")
                    context = report_context(records, definition, given, "zh", NOW)[0]
                    html = run_isolated(render_html, (definition.templates, context), DEFAULT_LIMITS).value
                    plain = SVG.sub("", html)
                    charts = len(SVG.findall(html))
                started = time.perf_counter()
                outcome = run_isolated(render_pdf, (plain, definition.files), DEFAULT_LIMITS)
                baseline.append((time.perf_counter() - started, outcome.peak_mb))
        runtime.dispose()
    pages = len(PdfReader(io.BytesIO(rendered.pdf)).pages)
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cold, first, warm = report[0], report[1], report[2:]
    warm_s = statistics.median(s for s, _ in warm)
    base_s = statistics.median(s for s, _ in baseline[2:])
    peak = max(mb for _, mb in report)
    print(
        f"client_status: {pages} pages, {TASKS} task rows, {charts} charts, Chinese text; PDF {len(rendered.pdf) // 1024} KB"
    )
    print_table(
        ["run", "report s", "baseline s (no charts)", "ratio", "report peak MB (renderer)", "baseline peak MB", "≤ 5 s and ≤ 500 MB"],
        [
            ["cold, new process", f"{cold[0]:.2f}", f"{baseline[0][0]:.2f}", f"{cold[0] / baseline[0][0]:.2f}", f"{cold[1]:.0f}", f"{baseline[0][1]:.0f}",
             "yes" if cold[0] <= MAX_SECONDS and cold[1] <= MAX_MB else "no"],
            ["cold, warmed worker (first report)", f"{first[0]:.2f}", f"{baseline[1][0]:.2f}", f"{first[0] / baseline[1][0]:.2f}", f"{first[1]:.0f}", f"{baseline[1][1]:.0f}",
             "yes" if first[0] <= MAX_SECONDS and first[1] <= MAX_MB else "no"],
            [f"warm (median of {REPEAT})", f"{warm_s:.2f}", f"{base_s:.2f}", f"{warm_s / base_s:.2f}", f"{peak:.0f}",
             f"{max(mb for _, mb in baseline):.0f}", "yes" if warm_s <= MAX_SECONDS and peak <= MAX_MB else "no"],
        ],
    )  # fmt: skip
    print(f"\nThe parent process (data read through the records service) peaked at {parent_mb:.0f} MB.")
    print(
        f"A worker's start_renderer (fork server and a first page) took {renderer_s:.2f} s, before its first job."
    )
    print(
        f"Load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)."
    )
