"""The finish-date fan: how likely a project is to be done by each date, from a Monte Carlo forecast.

The curve is the share of runs finished by each date (5% steps); the band from
P50 to P95 is shaded darker to P85, and the planned finish and today are marked.
A pure function of its inputs, like the other charts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from markupsafe import Markup

from itpm.charts.svg import (
    BLUE,
    MUTED,
    RED,
    Scale,
    document,
    element,
    empty,
    line,
    month_starts,
    polyline,
    text,
)

FAN_LABELS = {
    "title": "Finish-date forecast",
    "planned": "Planned",
    "today": "Today",
    "axis": "chance of being done",
    "empty": "No forecast",
}


def fan(
    points: Sequence[tuple[int, dt.date | None]],
    as_of: dt.date,
    planned: dt.date | None = None,
    labels: Mapping[str, str] | None = None,
    width: float = 560,
    height: float = 220,
) -> Markup:
    """The fan chart of `points` ((percent, date) pairs, rising), with `planned` and `as_of` marked."""
    names = {**FAN_LABELS, **(labels or {})}
    dated = [(p, d) for p, d in points if d is not None]
    if len(dated) < 2:
        return empty(width, height, names["title"], names["empty"])
    first = min(as_of, dated[0][1], planned or as_of) - dt.timedelta(days=2)
    last = max(dated[-1][1], planned or dated[-1][1]) + dt.timedelta(days=3)
    left, right, upper, lower = 44.0, width - 14, 24.0, height - 30
    x = Scale(first.toordinal(), max(last.toordinal(), first.toordinal() + 1), left, right)
    y = Scale(0, 100, lower, upper)
    parts: list[Markup] = []
    for value in (0, 25, 50, 75, 100):
        parts += [line(left, y(value), right, y(value)), text(left - 6, y(value) + 3, f"{value}%", 9, "end")]
    parts.append(text(left, upper - 10, names["axis"], 9, fill=MUTED))
    for month in month_starts(first, last):
        parts.append(text(x(month.toordinal()), lower + 16, month.strftime("%Y-%m"), 9, "middle", fill=MUTED))
    by_percent = dict(dated)
    for low, high, shade in ((50, 85, 0.35), (85, 95, 0.18)):
        if low in by_percent and high in by_percent:
            x1, x2 = x(by_percent[low].toordinal()), x(by_percent[high].toordinal())
            parts.append(
                element(
                    "rect",
                    x=x1,
                    y=upper,
                    width=max(x2 - x1, 1.5),
                    height=lower - upper,
                    fill=BLUE,
                    opacity=shade,
                )
            )
    curve = [(x(d.toordinal()), y(p)) for p, d in dated]
    parts.append(polyline([(x(first.toordinal()), y(0)), (curve[0][0], y(0)), *curve], BLUE, 2.5))
    for percent in (50, 85, 95):
        if percent in by_percent:
            px = x(by_percent[percent].toordinal())
            parts += [
                line(px, y(percent), px, lower, BLUE, 1),
                text(px, y(percent) - 5, f"P{percent} {by_percent[percent]:%m-%d}", 9, "middle"),
            ]
    tx = x(as_of.toordinal())
    parts += [
        line(tx, upper, tx, lower, MUTED, 1, stroke_dasharray="2,3"),
        text(tx + 3, lower - 4, names["today"], 9),
    ]
    if planned is not None:
        px = x(planned.toordinal())
        parts += [
            line(px, upper, px, lower, RED, 1.5, stroke_dasharray="6,4"),
            text(px + 3, upper + 9, f"{names['planned']} {planned:%m-%d}", 9, fill=RED),
        ]
    parts.append(line(left, lower, right, lower, MUTED))
    return document(width, height, names["title"], parts)
