"""A KPI and its answer as plain values: the definition's parts, periods, results, the Wilson interval.

Pure: no database and no clock; `itpm.kpis.measure` reads the records.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _

BREAKDOWNS = ("team", "department", "project", "client", "priority", "person", "month")
#: Below this many records a rate shows its 90 % interval; below `TOO_FEW` it is "too few to say".
FEW, TOO_FEW = 30, 5
#: The z of a two-sided 90 % interval.
Z90 = 1.6449
MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
YEAR = re.compile(r"^[0-9]{4}$")
DURATION_UNITS = {"minutes": 60.0, "hours": 3600.0, "days": 86400.0}


class PeriodError(ValueError):
    """A period that cannot be read; the message says what is accepted."""


@dataclass(frozen=True)
class Kpi:
    """A published `kpi` definition, by its parts."""

    body: dict[str, Any] = field(repr=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.body.get(name)

    @property
    def is_rate(self) -> bool:
        return self.body["measure"] == "share"

    @property
    def unit(self) -> str:
        if self.is_rate:
            return "%"
        return self.body.get("unit", "hours" if isinstance(self.body.get("value"), dict) else "")

    @property
    def good_when_higher(self) -> bool:
        return self.body.get("direction", "up") == "up"

    @property
    def fields_read(self) -> set[str]:
        """The fields whose values decide the answer (none of them may be hidden from the reader)."""
        from itpm.expressions import parse_expression

        found = {self.body["cohort"]}
        for key in ("where", "numerator", "subtract", "value"):
            text = self.body.get(key)
            if isinstance(text, str):
                found |= {text} if key == "value" and text.isidentifier() else parse_expression(text).fields
        value = self.body.get("value")
        if isinstance(value, dict) and "from" in value:
            found |= {value["from"], value["to"]} - {"now"}
        return found


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date
    months: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.months[0] if len(self.months) == 1 else f"{self.months[0]}..{self.months[-1]}"


def month_list(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    found = []
    while f"{year:04d}-{month:02d}" <= last and len(found) < 121:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def months_back(today: dt.date, count: int) -> tuple[str, str]:
    month = today.year * 12 + today.month - 1 - (count - 1)
    return f"{month // 12:04d}-{month % 12 + 1:02d}", f"{today:%Y-%m}"


def period_of(text: str | None, today: dt.date, default_months: int = 1) -> Period:
    """A period from `2026-11`, `2026-06..2026-11` or `2026`; by default the `default_months` up to today's."""
    text = (text or "").strip()
    if not text:
        first, last = months_back(today, default_months)
    elif YEAR.match(text):
        first, last = f"{text}-01", f"{text}-12"
    elif MONTH.match(text):
        first = last = text
    elif ".." in text and all(MONTH.match(part) for part in text.split("..", 1)):
        first, last = text.split("..", 1)
    else:
        raise PeriodError(_("a period is a month (2026-11), months (2026-06..2026-11) or a year (2026)"))
    months = month_list(first, last)
    if not months or len(months) > 120:
        raise PeriodError(_("a period runs forward, over at most 120 months"))
    end = dt.date(int(last[:4]) + int(last[5:7]) // 12, int(last[5:7]) % 12 + 1, 1)
    return Period(dt.date(int(first[:4]), int(first[5:7]), 1), end - dt.timedelta(days=1), tuple(months))


def wilson(successes: int, n: int, z: float = Z90) -> tuple[float, float] | None:
    """The Wilson score interval of a share, in %; None without records."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, 100 * (centre - half)), min(100.0, 100 * (centre + half))


def percentile(values: list[float], share: float) -> float | None:
    """The value `share` (0.5, 0.9) of the sorted values stay at or under (linear between neighbours)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Figure:
    """One answer (the whole, or one group of a breakdown)."""

    value: float | None
    n: int
    numerator: int | None = None
    denominator: int | None = None
    key: Any = None
    label: str = ""
    interval: tuple[float, float] | None = None
    too_few: bool = False

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "value": None if self.value is None else round(self.value, 4),
            "n": self.n,
            "numerator": self.numerator,
            "denominator": self.denominator,
        }
        if self.key is not None or self.label:
            body.update(key=self.key, label=self.label)
        if self.interval is not None:
            body["interval_90"] = [round(self.interval[0], 2), round(self.interval[1], 2)]
        if self.too_few:
            body["too_few"] = True
        return body


def figure(
    kpi: Kpi, values: list[float], flags: list[bool], lesses: list[bool] | None = None, subtracted: int = 0
) -> Figure:
    """The figure of a group of counted records: their values (or, for a share, whether each met it and,
    with `subtract`, whether each is taken off)."""
    key, label = None, ""
    measure = kpi.measure
    if measure == "count":
        return Figure(float(len(flags)), len(flags), key=key, label=label)
    if measure == "share":
        n, met = len(flags), sum(flags)
        less = subtracted + sum(lesses or ())
        shown = Figure(100 * (met - less) / n if n else None, n, met, n, key, label)
        shown.too_few = 0 < n < TOO_FEW
        shown.interval = wilson(met, n) if 0 < n < FEW and not kpi.subtract else None
        return shown
    n = len(values)
    if measure == "sum":
        result: float | None = float(sum(values))
    elif measure == "average":
        result = sum(values) / n if n else None
    else:
        result = percentile(values, 0.5 if measure == "median" else 0.9)
    return Figure(result, n, key=key, label=label)
