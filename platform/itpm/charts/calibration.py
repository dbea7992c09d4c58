"""The calibration of the forecasts: how often each percentile's date was met, against how often it should be.

A forecast is honest when its P50 dates are met about half the time and its P85
dates about 85% of the time: its points lie on the diagonal. Points below it are
dates too early (overconfident), above it too late. Each series (all projects, a
kind of project) is one line; each point says its n. A pure function, like the
other charts.
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
    line,
    polyline,
    text,
)

CALIBRATION_LABELS = {
    "title": "Forecast calibration",
    "x": "percentile forecast",
    "y": "share of dates met",
    "ideal": "perfectly calibrated",
    "empty": "No finished project to check forecasts against yet",
}
#: The same in Chinese (the chart is drawn outside a request, by `itpm forecast backtest --chart`).
CALIBRATION_LABELS_ZH = {
    "title": "预测校准",
    "x": "预测分位",
    "y": "按期达成的比例",
    "ideal": "完全校准",
    "empty": "尚无已结束的项目可用于检验预测",
}
COLOURS = (BLUE, AMBER, GREEN, RED, MUTED)


def calibration(
    series: Sequence[tuple[str, int, Mapping[int, float | None]]],
    labels: Mapping[str, str] | None = None,
    width: float = 420,
    height: float = 320,
) -> Markup:
    """`series`: (name, number of forecasts, {percentile: share of its dates met}) each; drawn over the
    diagonal of a perfectly calibrated forecast, from 0% to 100% on both axes."""
    names = {**CALIBRATION_LABELS, **(labels or {})}
    drawn = [(name, n, {p: h for p, h in hits.items() if h is not None}) for name, n, hits in series]
    drawn = [s for s in drawn if s[2]]
    if not drawn:
        return empty(width, height, names["title"], names["empty"])
    left, right, upper = 48.0, width - 16, 28.0
    lower = height - 46 - 14 * len(drawn)
    x, y = Scale(0, 100, left, right), Scale(0, 100, lower, upper)
    parts: list[Markup] = []
    for value in (0, 25, 50, 75, 100):
        parts += [
            line(left, y(value), right, y(value)),
            text(left - 6, y(value) + 3, f"{value}%", 9, "end"),
            line(x(value), upper, x(value), lower),
            text(x(value), lower + 13, f"P{value}" if value else "0", 9, "middle"),
        ]
    parts += [
        text(left, upper - 12, names["y"], 9, fill=MUTED),
        text(right, lower + 27, names["x"], 9, "end", fill=MUTED),
        line(x(0), y(0), x(100), y(100), GREY, 1.5, stroke_dasharray="5 4"),
        # left of P50, the first percentile drawn: no point or line of a series reaches it
        text(x(44), y(44) - 8, names["ideal"], 9, "end", fill=GREY),
    ]
    for index, (name, n, hits) in enumerate(drawn):
        colour = COLOURS[index % len(COLOURS)]
        points = [(x(p), y(100 * share)) for p, share in sorted(hits.items())]
        parts.append(polyline(points, colour, 2))
        for (px, py), (p, share) in zip(points, sorted(hits.items()), strict=True):
            parts.append(
                element(
                    "circle",
                    element("title", f"{name}: P{p} met {100 * share:.0f}% (n = {n})"),
                    cx=px,
                    cy=py,
                    r=4,
                    fill=colour,
                )
            )
        key = lower + 40 + 14 * index
        parts += [
            line(left, key - 3, left + 18, key - 3, colour, 3),
            text(left + 24, key, f"{name} (n = {n})", 10),
        ]
    return document(width, height, names["title"], parts)
