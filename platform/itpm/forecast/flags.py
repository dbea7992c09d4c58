"""Risk flags of a project, each with the reason a person reads: pure rules over a forecast and EVM figures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from itpm.forecast.evm import EarnedValue
from itpm.forecast.simulation import OK, Forecast
from itpm.planning.workload import WEEKS_AHEAD, Capacity, PlannedWork, load_between, weeks_from

SPI_T_LIMIT = 0.9
COST_LIMIT = 1.05
#: Each flag without its figures: what a notification tells a reader who may not read all its reason
#: names (a client, a role with hidden project fields, or one that may not read the task, milestone or
#: risk named): budgets, costs, task titles and people's bookings.
PLAIN = {
    "p85_late": {
        "en": "the 85% likely finish is after the planned finish",
        "zh": "85% 把握的完成日期晚于计划完成日期",
    },
    "spi_t_low": {"en": "the schedule performance is below 0.9", "zh": "进度绩效低于 0.9"},
    "cost_over": {"en": "the forecast cost is over 105% of the budget", "zh": "预测成本超过预算的 105%"},
    "milestone_overdue": {"en": "a milestone is overdue", "zh": "有里程碑已逾期"},
    "risk_review_overdue": {"en": "a high risk is past its review date", "zh": "有高风险已过复核日期"},
    "critical_over_capacity": {
        "en": "someone on the critical path is booked over capacity",
        "zh": "关键路径上有人超负荷",
    },
}


@dataclass(frozen=True)
class Flag:
    #: p85_late, spi_t_low, cost_over, milestone_overdue, risk_review_overdue, critical_over_capacity
    code: str
    #: The reason as a message id and its values (translated where it is shown).
    reason: str
    values: dict[str, Any]
    #: The records the reason names, as (record type, id): a reader is told it only if they may read them.
    names: tuple[tuple[str, int], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason % self.values, "values": self.values}


@dataclass(frozen=True)
class Overdue:
    """An open dated item past its date: a milestone past its due date, a high risk past its review."""

    number: str
    title: str
    day: dt.date
    #: The item as (record type, id).
    ref: tuple[str, int] | None = None


def risk_flags(
    forecast: Forecast | None,
    evm: EarnedValue | None,
    as_of: dt.date,
    milestones: Sequence[Overdue] = (),
    risks: Sequence[Overdue] = (),
    budget_forecast: float | None = None,
) -> list[Flag]:
    """What calls for a manager's attention, most telling first."""
    flags: list[Flag] = []
    if forecast is not None and forecast.status == OK and forecast.planned is not None:
        p85 = forecast.percentiles.get(85)
        if p85 is None or p85 > forecast.planned:
            flags.append(
                Flag(
                    "p85_late",
                    "85%% likely finish %(p85)s is after the planned finish %(planned)s",
                    {"p85": p85.isoformat() if p85 else "-", "planned": forecast.planned.isoformat()},
                )
            )
    if evm is not None and evm.spi_t is not None and evm.spi_t < SPI_T_LIMIT:
        flags.append(
            Flag(
                "spi_t_low",
                "SPI(t) is %(spi_t).2f (below %(limit).1f): %(es).1f weeks of planned work done in %(at).1f",
                {"spi_t": evm.spi_t, "limit": SPI_T_LIMIT, "es": evm.es or 0.0, "at": evm.at},
            )
        )
    cost = evm.eac if evm is not None and evm.eac is not None else budget_forecast
    budget = evm.bac if evm is not None else None
    if cost is not None and budget and cost > COST_LIMIT * budget:
        flags.append(
            Flag(
                "cost_over",
                "forecast cost %(cost)s is %(share).0f%% of the budget %(budget)s (over 105%%)",
                # the figures as pages write them (1,234,567), and as numbers for the API
                {
                    "cost": f"{cost:,.0f}",
                    "budget": f"{budget:,.0f}",
                    "share": 100 * cost / budget,
                    "cost_amount": cost,
                    "budget_amount": budget,
                },
            )
        )
    for item in milestones:
        if item.day < as_of:
            flags.append(
                Flag(
                    "milestone_overdue",
                    "milestone %(number)s %(title)s was due %(due)s and is not done",
                    {"number": item.number, "title": item.title, "due": item.day.isoformat()},
                    (item.ref,) if item.ref else (),
                )
            )
    for item in risks:
        if item.day < as_of:
            flags.append(
                Flag(
                    "risk_review_overdue",
                    "high risk %(number)s %(title)s is open past its review date %(due)s",
                    {"number": item.number, "title": item.title, "due": item.day.isoformat()},
                    (item.ref,) if item.ref else (),
                )
            )
    return flags


@dataclass(frozen=True)
class CriticalTask:
    """An open task on the project's critical path, with the person it is assigned to."""

    number: str
    title: str
    person: int
    start: dt.date
    due: dt.date
    #: The task as (record type, id).
    ref: tuple[str, int] | None = None


@dataclass(frozen=True)
class Person:
    """A person as the capacity flag sees them: their name, capacity and all their open planned work."""

    name: str
    capacity: Capacity
    work: tuple[PlannedWork, ...]


def over_capacity_on_critical_path(
    critical: Sequence[CriticalTask], people: Mapping[int, Person], as_of: dt.date, weeks: int = WEEKS_AHEAD
) -> list[Flag]:
    """A person booked over their capacity in a week in which they have a critical-path task: the first
    such week of each person within `weeks` from the week of `as_of`.

    The load is the workload screen's: all the person's open planned work (every project), each task's
    estimate spread over its working days, against their weekly hours less holidays and leave.
    """
    flags = []
    ahead = weeks_from(as_of, weeks)
    for person_id in dict.fromkeys(t.person for t in sorted(critical, key=lambda t: (t.start, t.number))):
        person = people.get(person_id)
        if person is None:
            continue
        theirs = [t for t in critical if t.person == person_id]
        for week in ahead:
            on = sorted(
                (t for t in theirs if t.start <= week.end and t.due >= week.start), key=lambda t: t.due
            )
            if not on:
                continue
            load = load_between(week.start, week.end, person.capacity, person.work)
            if load.over:
                flags.append(
                    Flag(
                        "critical_over_capacity",
                        "%(person)s is booked %(planned).0f h against a capacity of %(capacity).0f h in "
                        "the week of %(week)s, with %(number)s %(title)s on the critical path",
                        {
                            "person": person.name,
                            "planned": load.planned_hours,
                            "capacity": load.capacity_hours,
                            "week": week.start.isoformat(),
                            "number": on[0].number,
                            "title": on[0].title,
                        },
                        (on[0].ref,) if on[0].ref else (),
                    )
                )
                break
    return flags
