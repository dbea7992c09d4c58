"""The milestone timeline: a Gantt chart of tasks and milestones, with arrows for dependencies.

Pure: the bars (dates, progress, what each depends on) and "today" come in as
arguments; the reports build them from tasks, the dashboards will too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from itpm.charts.svg import (
    AMBER,
    BLUE,
    INK,
    MUTED,
    RED,
    Scale,
    document,
    element,
    empty,
    line,
    month_starts,
    shorten,
    text,
)

TIMELINE_LABELS = {"title": "Milestones", "today": "Today", "empty": "No dated tasks"}
LABEL_WIDTH, ROW, HEAD = 180.0, 20.0, 26.0


@dataclass(frozen=True)
class Bar:
    """One row of the timeline: a task from `start` to `end`, or a milestone (a diamond on `end`)."""

    key: int | str
    label: str
    start: dt.date
    end: dt.date
    progress: float = 0.0
    milestone: bool = False
    late: bool = False
    depends_on: tuple[int | str, ...] = field(default=())


def timeline(
    bars: Sequence[Bar],
    today: dt.date | None = None,
    labels: Mapping[str, str] | None = None,
    width: float = 700,
) -> Markup:
    """Bars on a month grid; a dependency is an arrow from the end of one bar to the start of the next."""
    names = {**TIMELINE_LABELS, **(labels or {})}
    if not bars:
        return empty(width, 80, names["title"], names["empty"])
    first = min(b.start for b in bars)
    last = max(b.end for b in bars)
    height = HEAD + ROW * len(bars) + 8
    left, right = LABEL_WIDTH, width - 10
    x = Scale(first.toordinal(), max(last.toordinal() + 1, first.toordinal() + 2), left, right)
    parts: list[Markup] = []
    for month in month_starts(first, last, most=12):
        mx = x(month.toordinal())
        parts += [
            line(mx, HEAD - 6, mx, height - 4),
            text(mx + 2, HEAD - 10, month.strftime("%Y-%m"), 8, fill=MUTED),
        ]
    rows = {bar.key: index for index, bar in enumerate(bars)}
    for index, bar in enumerate(bars):
        top = HEAD + index * ROW
        if index % 2:
            parts.append(element("rect", x=0, y=top, width=width, height=ROW, fill="#f6f8fa"))
        parts.append(text(4, top + 14, shorten(bar.label, LABEL_WIDTH - 10, 9), 9))
    for index, bar in enumerate(bars):
        top = HEAD + index * ROW
        start, end = x(bar.start.toordinal()), x(bar.end.toordinal() + 1)
        if bar.milestone:
            cx, cy, r = x(bar.end.toordinal()), top + ROW / 2, 6
            colour = RED if bar.late else (BLUE if bar.progress >= 100 else AMBER)
            parts.append(
                element(
                    "polygon", points=f"{cx},{cy - r} {cx + r},{cy} {cx},{cy + r} {cx - r},{cy}", fill=colour
                )
            )
        else:
            done = start + (end - start) * max(0.0, min(100.0, bar.progress)) / 100
            parts += [
                element(
                    "rect",
                    x=start,
                    y=top + 5,
                    width=max(end - start, 2),
                    height=ROW - 10,
                    fill="#c9d9ea",
                    rx=2,
                ),
                element(
                    "rect",
                    x=start,
                    y=top + 5,
                    width=max(done - start, 0),
                    height=ROW - 10,
                    fill=RED if bar.late else BLUE,
                    rx=2,
                ),
            ]
    for index, bar in enumerate(bars):
        for key in bar.depends_on:
            if key in rows:
                parts.append(_arrow(bars[rows[key]], rows[key], bar, index, x))
    if today is not None and first <= today <= last:
        tx = x(today.toordinal())
        parts += [
            line(tx, HEAD - 6, tx, height - 4, RED, 1, stroke_dasharray="3,3"),
            text(tx + 2, height - 6, names["today"], 8, fill=RED),
        ]
    return document(width, height, names["title"], parts)


def _arrow(source: Bar, source_row: int, target: Bar, target_row: int, x: Scale) -> Markup:
    """An elbow from the end of `source` down (or up) to the start of `target`, with a head."""
    x1 = x(source.end.toordinal() + (0 if source.milestone else 1))
    y1 = HEAD + source_row * ROW + ROW / 2
    x2 = x(target.start.toordinal() if not target.milestone else target.end.toordinal()) - (
        6 if target.milestone else 0
    )
    y2 = HEAD + target_row * ROW + ROW / 2
    bend = max(x1 + 4, min(x2 - 4, x1 + 8)) if x2 > x1 + 8 else x1 + 4
    path = f"M{x1:.1f},{y1:.1f} H{bend:.1f} V{y2:.1f} H{x2:.1f}"
    head = f"{x2:.1f},{y2:.1f} {x2 - 5:.1f},{y2 - 3:.1f} {x2 - 5:.1f},{y2 + 3:.1f}"
    return element("path", d=path, fill="none", stroke=INK, stroke_width=0.8) + element(
        "polygon", points=head, fill=INK
    )
