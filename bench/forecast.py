"""Forecasts: 200 projects of 500 tasks each, 10,000 Monte Carlo runs each, the issue's goal ≤ 5 s in all.

Each project's tasks (created and finished days over its past weeks, some still open) are
drawn from a seed; the timed work is what a nightly run does per project once its records
are read: the weekly history from the tasks (`weekly_history`), the open work, and the
simulation with its percentiles (`forecast_finish`). ITPM_BENCH_FORECAST_PROJECTS sets the count.

The baseline, measured in the same run, is the same simulation written as a plain Python loop
(one run after another, week by week) for a few projects, scaled to all of them: what the
vectorised version is measured against.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time

from bench._common import print_table
from itpm.forecast.simulation import RUNS, WorkItem, forecast_finish, remaining_of, weekly_history

PROJECTS = int(os.environ.get("ITPM_BENCH_FORECAST_PROJECTS", "200"))
TASKS = 500
#: Projects the plain-Python baseline runs (it takes about a second each); scaled to PROJECTS.
BASELINE_PROJECTS = 3
TODAY = dt.date(2026, 12, 3)


def project(seed: int) -> list[WorkItem]:
    """500 tasks of a project 30 to 40 weeks old, 40% to 70% done, a fifth of them added on the way."""
    chance = random.Random(seed)
    age = chance.randint(30 * 7, 40 * 7)
    done_share = chance.uniform(0.4, 0.7)
    items = []
    for index in range(TASKS):
        created = TODAY - dt.timedelta(days=age if index < TASKS * 0.8 else chance.randint(0, age))
        finished = None
        if chance.random() < done_share:
            finished = TODAY - dt.timedelta(days=chance.randint(0, (TODAY - created).days))
        items.append(WorkItem(created, finished))
    return items


def plain_python(remaining: int, done: tuple[int, ...], added: tuple[int, ...], seed: int) -> list[float]:
    """The same runs, one at a time and week by week: the baseline."""
    chance = random.Random(seed)
    weeks = len(done)
    result = []
    for _ in range(RUNS):
        past = [chance.randrange(weeks) for _ in range(weeks)]
        left, week = remaining, 0
        while left > 0 and week < 520:
            i = past[chance.randrange(weeks)]
            left -= done[i] - added[i]
            week += 1
        result.append(week)
    result.sort()
    return [result[int(RUNS * p / 100)] for p in (50, 85, 95)]


def run() -> None:
    projects = [project(seed) for seed in range(PROJECTS)]
    started, cpu = time.perf_counter(), time.process_time()
    statuses: dict[str, int] = {}
    for seed, items in enumerate(projects):
        history = weekly_history(items, TODAY)
        forecast = forecast_finish(remaining_of(items, TODAY), history, TODAY, seed=seed)
        statuses[forecast.status] = statuses.get(forecast.status, 0) + 1
    vectorised, vectorised_cpu = time.perf_counter() - started, time.process_time() - cpu

    started, cpu = time.perf_counter(), time.process_time()
    for seed, items in enumerate(projects[:BASELINE_PROJECTS]):
        history = weekly_history(items, TODAY)
        plain_python(remaining_of(items, TODAY), history.done, history.added, seed)
    baseline = (time.perf_counter() - started) * PROJECTS / BASELINE_PROJECTS
    baseline_cpu = (time.process_time() - cpu) * PROJECTS / BASELINE_PROJECTS

    print_table(
        [
            "what",
            "projects",
            "runs each",
            "seconds",
            "CPU seconds",
            "per project (ms)",
            "vs baseline",
            "goal",
        ],
        [
            [
                "numpy, vectorised",
                PROJECTS,
                RUNS,
                f"{vectorised:.2f}",
                f"{vectorised_cpu:.2f}",
                f"{1000 * vectorised / PROJECTS:.1f}",
                f"{vectorised / baseline:.3f}",
                "≤ 5 s " + ("met" if vectorised <= 5 else "NOT met"),
            ],
            [
                f"plain Python loop ({BASELINE_PROJECTS} projects, scaled)",
                PROJECTS,
                RUNS,
                f"{baseline:.2f}",
                f"{baseline_cpu:.2f}",
                f"{1000 * baseline / PROJECTS:.1f}",
                "1.000",
                "",
            ],
        ],
    )
    print(f"\nforecast statuses: {statuses}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"(seconds are wall time; CPU seconds show what the shared machine's load took away: load average {load})"
    )
