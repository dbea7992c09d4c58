"""Earned value: CPI, SPI(t) by earned schedule (Lipke), EAC and VAC, each with the formula it came from.

The classic SPI = EV / PV drifts back to 1.0 as a project ends however late it
is; earned schedule measures schedule in time instead: ES is the time at which
the value earned so far was planned to be earned,
ES = C + (EV - PV_C) / (PV_{C+1} - PV_C), with C the number of whole periods
whose cumulative planned value EV reaches; SPI(t) = ES / AT. Pure functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def earned_schedule(pv: Sequence[float], ev: float) -> float:
    """Earned schedule in periods from the cumulative planned value at the end of each period.

    `pv[0]` is the planned value at the end of period 1 (the start is 0).
    """
    cumulative = [0.0, *pv]
    if ev >= cumulative[-1]:
        # all the planned work is earned: the whole planned duration
        return float(len(pv))
    c = max(i for i, value in enumerate(cumulative) if value <= ev)
    step = cumulative[c + 1] - cumulative[c]
    return c + ((ev - cumulative[c]) / step if step > 0 else 0.0)


def spi_t(pv: Sequence[float], ev: float, actual_time: float) -> float | None:
    """SPI(t) = ES / AT (None before any time has passed)."""
    return earned_schedule(pv, ev) / actual_time if actual_time > 0 else None


@dataclass(frozen=True)
class PlannedTask:
    """A task's share of the plan: its weight (estimate) spread evenly over its planned days."""

    weight: float
    start: dt.date
    due: dt.date
    done_share: float  # 0..1: done is 1, otherwise its progress
    finished: dt.date | None = None  # the day it was done (a replay of the past reads it)
    created: dt.date | None = None  # the day it was added (a replay counts only the tasks known then)


def planned_value_curve(
    tasks: Iterable[PlannedTask], start: dt.date, periods: int, days: int = 7
) -> list[float]:
    """The cumulative share (0..1) of the weight planned to be done by the end of each period."""
    tasks = [t for t in tasks if t.weight > 0]
    total = sum(t.weight for t in tasks)
    if not total:
        return []
    curve = []
    for period in range(1, periods + 1):
        end = start + dt.timedelta(days=period * days)
        planned = 0.0
        for t in tasks:
            length = (t.due - t.start).days + 1
            covered = min(max((end - t.start).days, 0), length)
            planned += t.weight * covered / length
        curve.append(planned / total)
    return curve


def earned_share(tasks: Iterable[PlannedTask]) -> float:
    tasks = [t for t in tasks if t.weight > 0]
    total = sum(t.weight for t in tasks)
    return sum(t.weight * t.done_share for t in tasks) / total if total else 0.0


@dataclass(frozen=True)
class Booking:
    """Hours a person booked on a day (a timesheet entry)."""

    person: int
    day: dt.date
    hours: float


def labour_cost(
    bookings: Iterable[Booking], rates: Mapping[int, Sequence[tuple[dt.date | None, float]]]
) -> tuple[float, float]:
    """The bookings' cost at their person's hourly rate on their day, and the hours no rate covers.

    `rates`: each person's rates with the day each applies from (None: from the start); on a day the
    rate with the latest such day at or before it applies.
    """
    cost = unpriced = 0.0
    for booking in bookings:
        known = [(start or dt.date.min, rate) for start, rate in rates.get(booking.person, ())]
        applying = [(start, rate) for start, rate in known if start <= booking.day]
        if applying:
            cost += booking.hours * max(applying, key=lambda r: r[0])[1]
        else:
            unpriced += booking.hours
    return cost, unpriced


#: Where a project's actual cost came from.
TIMESHEETS, HAND_ENTERED, WITHHELD, UNKNOWN = "timesheets", "spent", "withheld", "unknown"


@dataclass(frozen=True)
class ActualCost:
    """A project's actual cost (AC) and where it came from: its timesheets' hours × their people's rates
    plus its expenses; the hand-entered spent figure only when it has no timesheets; withheld from a
    reader who may not read every timesheet, rate or expense it is made of."""

    source: str
    amount: float | None
    hours: float = 0.0
    labour: float = 0.0
    expenses: float = 0.0
    unpriced_hours: float = 0.0
    #: What the reader may not read (the timesheets, rates or expenses), when `source` is WITHHELD.
    withheld: str | None = None

    formula = "AC = Σ hours × rate + expenses"

    def as_json(self) -> dict[str, Any]:
        if self.source != TIMESHEETS:
            found: dict[str, Any] = {"source": self.source, "amount": self.amount}
            return found | ({"withheld": self.withheld} if self.withheld else {})
        return {
            "source": self.source, "amount": round(self.amount or 0, 2), "hours": round(self.hours, 2),
            "labour": round(self.labour, 2), "expenses": round(self.expenses, 2),
            "unpriced_hours": round(self.unpriced_hours, 2), "formula": self.formula,
        }  # fmt: skip


@dataclass(frozen=True)
class EarnedValue:
    """A project's EVM figures; money in the budget's currency, time in weeks."""

    bac: float  # budget at completion (planned budget)
    pv: float
    ev: float
    ac: float
    cpi: float | None
    spi: float | None
    es: float | None  # earned schedule, weeks
    at: float  # actual time, weeks
    spi_t: float | None
    eac: float | None
    vac: float | None
    planned_weeks: int

    @property
    def formulas(self) -> dict[str, str]:
        return {
            "cpi": "CPI = EV / AC",
            "spi": "SPI = EV / PV",
            "es": "ES = C + (EV - PV_C) / (PV_C+1 - PV_C)",
            "spi_t": "SPI(t) = ES / AT",
            "eac": "EAC = BAC / CPI",
            "vac": "VAC = BAC - EAC",
        }

    def as_json(self) -> dict[str, Any]:
        def r(value: float | None, digits: int = 2) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "bac": r(self.bac), "pv": r(self.pv), "ev": r(self.ev), "ac": r(self.ac),
            "cpi": r(self.cpi, 3), "spi": r(self.spi, 3), "es": r(self.es), "at": r(self.at),
            "spi_t": r(self.spi_t, 3), "eac": r(self.eac), "vac": r(self.vac),
            "planned_weeks": self.planned_weeks, "formulas": self.formulas,
        }  # fmt: skip


def earned_value(
    budget: float, actual_cost: float, tasks: Sequence[PlannedTask], start: dt.date, as_of: dt.date
) -> EarnedValue | None:
    """EVM figures of a project on `as_of` (None without a budget or weighted, dated tasks)."""
    if not budget or not tasks:
        return None
    last = max(t.due for t in tasks)
    planned_weeks = max(1, -(-((last - start).days + 1) // 7))
    curve = planned_value_curve(tasks, start, planned_weeks)
    if not curve:
        return None
    at = max(0.0, (as_of - start).days / 7)
    whole = int(at)
    share_now = planned_value_curve(tasks, start, 1, days=(as_of - start).days)[0] if at > 0 else 0.0
    earned = earned_share(tasks)
    pv, ev = budget * share_now, budget * earned
    cpi = ev / actual_cost if actual_cost > 0 else None
    es = earned_schedule(curve, earned) if whole >= 0 else None
    eac = budget / cpi if cpi else None
    return EarnedValue(
        bac=budget,
        pv=pv,
        ev=ev,
        ac=actual_cost,
        cpi=cpi,
        spi=ev / pv if pv > 0 else None,
        es=es,
        at=at,
        spi_t=spi_t(curve, earned, at),
        eac=eac,
        vac=budget - eac if eac is not None else None,
        planned_weeks=planned_weeks,
    )
