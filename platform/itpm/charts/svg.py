"""The few SVG pieces every chart is made of: escaped elements, linear scales, round axis ticks.

Charts are drawn on the server as SVG text, so the same drawing serves a PDF
(WeasyPrint reads inline SVG) and a page in the browser, with no script and
nothing fetched from the internet.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: Named in CSS by the reports too: without it fontconfig may pick Japanese glyph forms for Chinese.
FONT = "Noto Sans CJK SC, Noto Sans CJK, sans-serif"
INK, MUTED, GRID = "#1f2933", "#6b7785", "#d9dee4"
BLUE, GREEN, AMBER, RED, GREY = "#2f6fb0", "#2e8b57", "#d68a00", "#c0392b", "#aab3bd"


def element(tag: str, content: str | Markup = "", **attributes: object) -> Markup:
    """One SVG element; attribute names take `-` for `_` (stroke_width), values are escaped."""
    attrs = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{escape(_number(value))}"'
        for name, value in attributes.items()
        if value is not None
    )
    if content == "":
        return Markup(f"<{tag}{attrs}/>")
    return Markup(f"<{tag}{attrs}>") + escape(content) + Markup(f"</{tag}>")


def text(
    x: float, y: float, content: str, size: float = 10, anchor: str = "start", **attributes: object
) -> Markup:
    return element(
        "text",
        content,
        x=x,
        y=y,
        font_size=size,
        text_anchor=anchor,
        fill=attributes.pop("fill", INK),
        **attributes,
    )


def line(
    x1: float, y1: float, x2: float, y2: float, colour: str = GRID, width: float = 1, **attributes: object
) -> Markup:
    return element("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=colour, stroke_width=width, **attributes)


def polyline(
    points: Sequence[tuple[float, float]], colour: str, width: float = 2, **attributes: object
) -> Markup:
    coordinates = " ".join(f"{_number(x)},{_number(y)}" for x, y in points)
    return element(
        "polyline", points=coordinates, fill="none", stroke=colour, stroke_width=width, **attributes
    )


def document(width: float, height: float, title: str, parts: Sequence[Markup]) -> Markup:
    """The <svg> element of a chart: sized in CSS pixels, titled for screen readers."""
    return (
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="itpm-chart" width="{w}" height="{h}" '
            'viewBox="0 0 {w} {h}" role="img" aria-label="{title}" font-family="{font}">'
        ).format(w=_number(width), h=_number(height), title=title, font=FONT)
        + Markup("<title>{}</title>").format(title)
        + Markup("").join(parts)
        + Markup("</svg>")
    )


def empty(width: float, height: float, title: str, message: str) -> Markup:
    """A chart with nothing to show says so, at its usual size (the page layout does not jump)."""
    return document(
        width,
        height,
        title,
        [
            element("rect", x=0.5, y=0.5, width=width - 1, height=height - 1, fill="none", stroke=GRID),
            text(width / 2, height / 2, message, size=11, anchor="middle", fill=MUTED),
        ],
    )


@dataclass(frozen=True)
class Scale:
    """A linear map from data values (domain) to drawing coordinates (range)."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.high == self.low:
            return self.start
        return self.start + (value - self.low) * (self.end - self.start) / (self.high - self.low)


def ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `high` (1, 2 or 5 times a power of ten apart)."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(high / step - 1e-9) + 1)]


def label_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def month_starts(first: dt.date, last: dt.date, most: int = 8) -> list[dt.date]:
    """The first days of the months between two dates, thinned to at most `most` labels."""
    months = []
    day = dt.date(first.year, first.month, 1)
    while day <= last:
        if day >= first:
            months.append(day)
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    step = max(1, -(-len(months) // most))
    return months[::step]


def shorten(label: str, width: float, size: float) -> str:
    """`label`, cut with … to fit `width` pixels (a CJK character is about twice a Latin one)."""
    room = width / (size * 0.55)
    used = 0.0
    for index, character in enumerate(label):
        used += 1.8 if unicodedata.east_asian_width(character) in ("W", "F") else 1.0
        if used > room:
            return label[: max(index - 1, 1)] + "…"
    return label
