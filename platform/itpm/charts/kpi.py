"""Charts of a KPI: horizontal bars by a breakdown, columns by month; each bar a link to its records.

Pure, like every chart here. Colours are Okabe and Ito's (told apart with any
colour vision), and never alone: a bar that misses its target also carries a
mark (▼) beside its value. Every bar is an SVG link a keyboard reaches (Tab)
and a screen reader names; labels are the reader's language, Chinese included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from itpm.charts.svg import GRID, MUTED, Scale, document, element, empty, line, shorten, text

#: Okabe-Ito: blue (meets the target, or no target), vermillion (misses it), grey (too few to say).
MEETS, MISSES, FEW = "#0072B2", "#D55E00", "#999999"
MISS_MARK = "▼"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    shown: str
    n: int
    link: str | None = None
    misses: bool = False
    few: bool = False


def _colour(bar: Bar) -> str:
    return FEW if bar.few else MISSES if bar.misses else MEETS


def _linked(bar: Bar, parts: Markup, title: str) -> Markup:
    if not bar.link:
        return parts
    return element("a", element("title", title) + parts, href=bar.link, class_="itpm-drill")


def bars(
    rows: Sequence[Bar], title: str, empty_text: str, width: float = 360, target: float | None = None
) -> Markup:
    """One horizontal bar per group, largest scale from 0 (long labels stay readable on a phone)."""
    if not rows or all(r.value is None for r in rows):
        return empty(width, 80, title, empty_text)
    row_height, label_width = 30.0, min(150.0, width * 0.36)
    height = row_height * len(rows) + 24
    values = [r.value for r in rows if r.value is not None] + ([target] if target is not None else [])
    low = min(0.0, *values)
    high = max(max(values), 1e-9)
    x = Scale(low, high, label_width, width - 86)
    parts: list[Markup] = [line(x(0), 4, x(0), height - 18, GRID)]
    for index, bar in enumerate(rows):
        top = 6 + index * row_height
        pieces = text(label_width - 6, top + 16, shorten(bar.label, label_width - 8, 11), 11, "end")
        if bar.value is not None:
            start, end = sorted((x(0), x(bar.value)))
            pieces += element(
                "rect", x=start, y=top + 3, width=max(end - start, 1.5), height=18, fill=_colour(bar)
            )
            if not bar.few:  # a grey bar (too few to say) carries no figure: the tile's legend says so
                mark = f" {MISS_MARK}" if bar.misses else ""
                pieces += text(end + 4, top + 16, f"{bar.shown}{mark}", 11)
        pieces += text(width - 4, top + 16, f"n={bar.n}", 10, "end", fill=MUTED)
        parts.append(_linked(bar, pieces, f"{bar.label}: {bar.shown}, n={bar.n}"))
    if target is not None:
        parts.append(line(x(target), 2, x(target), height - 18, "#E69F00", 1.5, stroke_dasharray="4,3"))
    return document(width, height, title, parts)


def columns(
    rows: Sequence[Bar],
    title: str,
    empty_text: str,
    width: float = 360,
    height: float = 190,
    target: float | None = None,
) -> Markup:
    """One column per month (oldest first); a month without records shows none, not zero."""
    if not rows or all(r.value is None for r in rows):
        return empty(width, height, title, empty_text)
    left, right, upper, lower = 8.0, width - 8, 18.0, height - 34
    values = [r.value for r in rows if r.value is not None] + ([target] if target is not None else [])
    low, high = min(0.0, *values), max(max(values), 1e-9)
    y = Scale(low, high, lower, upper)
    slot = (right - left) / len(rows)
    parts: list[Markup] = [line(left, y(0), right, y(0), GRID)]
    for index, bar in enumerate(rows):
        cx = left + slot * (index + 0.5)
        many = len(rows) > 6  # a year of months: the month alone (07), the period is under the chart
        label = bar.label[5:] if many and len(bar.label) == 7 else bar.label
        pieces = text(cx, lower + 13, label, 10, "middle")
        pieces += text(cx, lower + 26, f"{bar.n}" if many else f"n={bar.n}", 9, "middle", fill=MUTED)
        if bar.value is not None:
            top, bottom = sorted((y(bar.value), y(0)))
            width_ = min(slot * 0.6, 44)
            pieces += element(
                "rect",
                x=cx - width_ / 2,
                y=top,
                width=width_,
                height=max(bottom - top, 1.5),
                fill=_colour(bar),
            )
            if not bar.few:
                mark = MISS_MARK if bar.misses else ""
                pieces += text(cx, top - 4, f"{bar.shown}{mark}", 9 if many else 10, "middle")
        parts.append(_linked(bar, pieces, f"{bar.label}: {bar.shown}, n={bar.n}"))
    if target is not None:
        parts.append(line(left, y(target), right, y(target), "#E69F00", 1.5, stroke_dasharray="4,3"))
    return document(width, height, title, parts)
