"""`itpm forecast`: issue every open project's forecast now, and print how past forecasts did."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from itpm.access import Actor
from itpm.charts.calibration import CALIBRATION_LABELS_ZH, calibration
from itpm.commands import command_runtime
from itpm.db import utcnow
from itpm.forecast.backtest import (
    Row,
    issue_forecasts,
    kept,
    kept_of_milestones,
    project_types,
    replayed,
    score,
)
from itpm.forecast.service import KIND
from itpm.forecast.simulation import PERCENTILES, RUNS
from itpm.records.service import Records

_runtime = command_runtime


@click.group()
def forecast() -> None:
    """Finish-date forecasts: issue them, and check them against what happened."""


@forecast.command("run")
@click.option("--runs", default=RUNS, show_default=True, type=click.IntRange(1000, 1_000_000))
def forecast_run(runs: int) -> None:
    """Forecast every project whose work is not done, and keep the forecasts (the nightly job, now)."""
    runtime = _runtime()
    started = time.perf_counter()
    counts = issue_forecasts(runtime, utcnow(), runs)
    took = time.perf_counter() - started
    issued = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    click.echo(f"Forecasts issued: {issued} ({took:.1f} s).")


def _table(title: str, rows: list[Row]) -> None:
    click.echo(f"\n{title}\n")
    headers = ["method", "n", *[f"P{p} met" for p in PERCENTILES], "mean abs. error (days)"]
    cells = [headers]
    for row in rows:
        hits = [f"{100 * row.hits[p]:.0f}%" if row.hits.get(p) is not None else "-" for p in PERCENTILES]
        cells.append([row.method, str(row.n), *hits, "-" if row.mae_days is None else f"{row.mae_days:.1f}"])
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for index, line in enumerate(cells):
        click.echo("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if index == 0:
            click.echo("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def _kind_labels(records: Records, lang: str) -> dict[Any, str]:
    """The kinds of project as the chart's reader reads them (the kind field's choice labels)."""
    labels: dict[Any, str] = {}
    for type_name in project_types(records):
        field = records.spec(type_name).fields.get(KIND)
        for key, label in field.choices if field is not None else ():
            labels.setdefault(key, label.get(lang) or label.get("en") or str(key))
    return labels


@forecast.command("backtest")
@click.option(
    "--replay/--no-replay",
    default=True,
    show_default=True,
    help="Also forecast each finished project again as of every week of its past.",
)
@click.option(
    "--runs",
    default=2000,
    show_default=True,
    type=click.IntRange(500, 1_000_000),
    help="Runs of each replayed forecast.",
)
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, writable=True),
    help="Also draw the calibration chart (each percentile's share of dates met) into this SVG file.",
)
@click.option(
    "--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, help="The chart's language."
)
def forecast_backtest(replay: bool, runs: int, chart: str | None, lang: str) -> None:
    """Hit rates per percentile and error in days of finished projects' forecasts, against naive ones."""
    runtime = _runtime()
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system(), timezone=runtime.settings.timezone)
        sources = [("Kept forecasts of finished projects", kept(records))]
        if replay:
            sources.append(
                (
                    "Replayed: finished projects forecast as of each week of their past",
                    replayed(records, runs),
                )
            )
        series = []
        shorts = ("已保存的预测", "回放") if lang == "zh" else ("kept", "replayed")
        for (title, scored), short in zip(sources, shorts, strict=False):
            projects = len({s.project_id for s in scored})
            rows = score(scored)
            _table(f"{title} (n = {len(scored)} forecasts, {projects} projects)", rows)
            series.append((short, len(scored), rows[0].hits))
            kinds = sorted({s.kind for s in scored}, key=str)
            if len(kinds) > 1:  # and by kind of project
                named = _kind_labels(records, lang)
                for kind in kinds:
                    of_kind = [s for s in scored if s.kind == kind]
                    _table(f"  of kind {kind} (n = {len(of_kind)})", score(of_kind))
                    series.append((f"{short}, {named.get(kind, kind)}", len(of_kind), score(of_kind)[0].hits))
        milestones = kept_of_milestones(records)
        if milestones:
            itpm, due = score(milestones)[:2]  # a straight line of percent complete has no milestone
            rows = [itpm, replace(due, method="due date")]
            _table(
                f"Kept forecasts of milestones done since (n = {len(milestones)} forecasts, "
                f"{len({(s.project_id, s.milestone) for s in milestones})} milestones)",
                rows,
            )
    if chart:
        labels = CALIBRATION_LABELS_ZH if lang == "zh" else None
        Path(chart).write_text(calibration([s for s in series if s[1]], labels), "utf-8")
        click.echo(f"\nThe calibration chart is in {chart}.")
    click.echo(
        "\nA P85 date should be met about 85% of the time. The naive forecasts are the planned date and "
        "percent complete extrapolated in a straight line; their one date is scored in every column."
    )
