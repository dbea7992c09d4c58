"""Progress charts: work done against time spent, and the burn-down of remaining work.

Pure functions of their inputs (dates come in, never read from a clock): the
reports and the dashboards pass the numbers and the labels in their language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from markupsafe import Markup

from itpm.charts.svg import (
    BLUE,
    GREEN,
    GREY,
    MUTED,
    RED,
    Scale,
    document,
    element,
    empty,
    label_number,
    line,
    month_starts,
    polyline,
    text,
    ticks,
)

PROGRESS_LABELS = {"title": "Progress", "done": "Work done", "elapsed": "Time elapsed"}
BURNDOWN_LABELS = {
    "title": "Burn-down",
    "planned": "Planned",
    "actual": "Actual",
    "unit": "hours",
    "today": "Today",
    "empty": "No work planned",
}


def progress(
    done: float, elapsed: float | None = None, labels: Mapping[str, str] | None = None, width: float = 520
) -> Markup:
    """Two bars in percent: work done, and time elapsed; done behind elapsed shows red."""
    names = {**PROGRESS_LABELS, **(labels or {})}
    rows = [(names["done"], done)] + ([(names["elapsed"], elapsed)] if elapsed is not None else [])
    left, right, bar = 110.0, width - 50, 16
    scale = Scale(0, 100, left, right)
    late = elapsed is not None and done + 5 < elapsed
    parts: list[Markup] = []
    for index, (label, value) in enumerate(rows):
        y = 10 + index * 30
        value = max(0.0, min(100.0, float(value)))
        colour = (RED if late else GREEN) if index == 0 else GREY
        parts += [
            text(left - 8, y + 12, label, anchor="end"),
            element("rect", x=left, y=y, width=right - left, height=bar, fill="#eef1f4"),
            element("rect", x=left, y=y, width=scale(value) - left, height=bar, fill=colour),
            text(right + 6, y + 12, f"{value:.0f}%"),
        ]
    return document(width, 10 + 30 * len(rows), names["title"], parts)


def burndown(
    planned: Sequence[tuple[dt.date, float]],
    actual: Sequence[tuple[dt.date, float]],
    today: dt.date | None = None,
    labels: Mapping[str, str] | None = None,
    width: float = 520,
    height: float = 220,
) -> Markup:
    """Remaining work over time: the plan (from due dates) as a dashed line, what happened as a solid one."""
    names = {**BURNDOWN_LABELS, **(labels or {})}
    dates = [d for d, _ in (*planned, *actual)]
    if not dates or max(v for _, v in (*planned, *actual)) <= 0:
        return empty(width, height, names["title"], names["empty"])
    first, last = min(dates), max(dates)
    top = max(v for _, v in (*planned, *actual))
    steps = ticks(top, 4)
    left, right, upper, lower = 48.0, width - 12, 22.0, height - 30
    x = Scale(first.toordinal(), max(last.toordinal(), first.toordinal() + 1), left, right)
    y = Scale(0, steps[-1], lower, upper)
    parts: list[Markup] = []
    for value in steps:
        parts += [
            line(left, y(value), right, y(value)),
            text(left - 6, y(value) + 3, label_number(value), 9, "end"),
        ]
    parts += [text(left - 40, upper - 10, names["unit"], 9, fill=MUTED)]
    for month in month_starts(first, last):
        parts += [text(x(month.toordinal()), lower + 16, month.strftime("%Y-%m"), 9, "middle", fill=MUTED)]
    if today is not None and first <= today <= last:
        tx = x(today.toordinal())
        parts += [
            line(tx, upper, tx, lower, MUTED, 1, stroke_dasharray="2,3"),
            text(tx + 3, upper + 8, names["today"], 9),
        ]
    if planned:
        parts += [polyline([(x(d.toordinal()), y(v)) for d, v in planned], GREY, 2, stroke_dasharray="6,4")]
    if actual:
        parts += [polyline([(x(d.toordinal()), y(v)) for d, v in actual], BLUE, 2.5)]
    parts += [
        line(right - 170, 10, right - 150, 10, GREY, 2, stroke_dasharray="6,4"),
        text(right - 146, 13, names["planned"], 9),
        line(right - 80, 10, right - 60, 10, BLUE, 2.5),
        text(right - 56, 13, names["actual"], 9),
        line(left, lower, right, lower, MUTED),
    ]
    return document(width, height, names["title"], parts)
