"""Charts by month: SLA compliance as bars against a target, and a trend line (e.g. CSAT from 1 to 5).

Pure: each month comes in as (label, value, count); a month with no data has
value None and shows as a gap, not as zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup

from itpm.charts.svg import (
    AMBER,
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
    polyline,
    text,
)

COMPLIANCE_LABELS = {"title": "SLA compliance", "target": "Target", "empty": "No tickets in these months"}
TREND_LABELS = {"title": "Trend", "empty": "No answers in these months"}

Month = tuple[str, float | None, int]


def compliance(
    months: Sequence[Month],
    target: float | None = None,
    labels: Mapping[str, str] | None = None,
    width: float = 520,
    height: float = 200,
) -> Markup:
    """A bar per month from 0 to 100 %; below the target the bar is red, else green; n under each."""
    names = {**COMPLIANCE_LABELS, **(labels or {})}
    if not months or all(value is None for _, value, _ in months):
        return empty(width, height, names["title"], names["empty"])
    left, right, upper, lower = 40.0, width - 10, 14.0, height - 34
    y = Scale(0, 100, lower, upper)
    slot = (right - left) / len(months)
    parts: list[Markup] = []
    for value in (0, 25, 50, 75, 100):
        parts += [
            line(left, y(value), right, y(value)),
            text(left - 5, y(value) + 3, f"{value}%", 8, "end", fill=MUTED),
        ]
    for index, (label, value, count) in enumerate(months):
        cx = left + slot * (index + 0.5)
        bar = min(slot * 0.6, 40)
        if value is not None:
            colour = GREEN if target is None or value >= target else RED
            parts += [
                element("rect", x=cx - bar / 2, y=y(value), width=bar, height=lower - y(value), fill=colour),
                text(cx, y(value) - 3, f"{value:.0f}%", 8, "middle"),
            ]
        parts += [
            text(cx, lower + 13, label, 8, "middle"),
            text(cx, lower + 25, f"n={count}", 7, "middle", fill=MUTED),
        ]
    if target is not None:
        parts += [
            line(left, y(target), right, y(target), AMBER, 1.5, stroke_dasharray="5,3"),
            text(right, y(target) - 3, f"{names['target']} {target:g}%", 8, "end", fill=AMBER),
        ]
    return document(width, height, names["title"], parts)


def trend(
    months: Sequence[Month],
    low: float = 1,
    high: float = 5,
    labels: Mapping[str, str] | None = None,
    width: float = 520,
    height: float = 180,
) -> Markup:
    """A line through the monthly values on a fixed scale (`low`..`high`); gaps where a month has none."""
    names = {**TREND_LABELS, **(labels or {})}
    if not months or all(value is None for _, value, _ in months):
        return empty(width, height, names["title"], names["empty"])
    left, right, upper, lower = 34.0, width - 14, 14.0, height - 34
    y = Scale(low, high, lower, upper)
    slot = (right - left) / len(months)
    parts: list[Markup] = []
    steps = int(high - low)
    for i in range(steps + 1):
        value = low + (high - low) * i / max(steps, 1)
        parts += [
            line(left, y(value), right, y(value)),
            text(left - 5, y(value) + 3, label_number(value), 8, "end", fill=MUTED),
        ]
    segment: list[tuple[float, float]] = []
    segments = [segment]
    for index, (label, value, count) in enumerate(months):
        cx = left + slot * (index + 0.5)
        parts += [
            text(cx, lower + 13, label, 8, "middle"),
            text(cx, lower + 25, f"n={count}", 7, "middle", fill=MUTED),
        ]
        if value is None:
            segment = []
            segments.append(segment)
            continue
        segment.append((cx, y(value)))
    parts += [polyline(points, BLUE, 2) for points in segments if len(points) > 1]
    for index, (_label, value, _count) in enumerate(months):
        if value is not None:
            cx = left + slot * (index + 0.5)
            parts += [
                element("circle", cx=cx, cy=y(value), r=3.5, fill=BLUE),
                text(cx, y(value) - 7, f"{value:.1f}", 8, "middle"),
            ]
    parts.append(line(left, lower, right, lower, GREY))
    return document(width, height, names["title"], parts)
