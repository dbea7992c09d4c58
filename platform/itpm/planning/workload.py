"""People's workload by week: capacity, planned hours, actual hours, and the load figure. Pure.

Capacity is a person's hours per week, spread over the working days of their
calendar (China's holidays and make-up days come with the company calendar),
less their days of leave. Planned work is each open task's estimate spread
evenly over the working days from its start to its due date (a task with only a
due date is planned on that day). Actual hours are what timesheets say.

`Load` is the one figure of how busy someone is; the assignment strategies
(`itpm.automations.assignment`) and the workload screens both read it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from itpm.sla.calendar import BusinessCalendar

DAY = dt.timedelta(days=1)
#: Hours a week when a person's own are not set.
DEFAULT_WEEKLY_HOURS = 40.0
#: How far the team view looks ahead.
WEEKS_AHEAD = 8

Leave = tuple[dt.date, dt.date]


@dataclass(frozen=True)
class Capacity:
    """What a person can give: hours a week over their working days, except their leave."""

    calendar: BusinessCalendar
    weekly_hours: float = DEFAULT_WEEKLY_HOURS
    #: Days away, first and last included.
    leave: tuple[Leave, ...] = ()

    def works_on(self, day: dt.date) -> bool:
        return bool(self.calendar.hours_on(day)) and not any(a <= day <= b for a, b in self.leave)

    def hours_on(self, day: dt.date) -> float:
        """The hours the person can give on `day` (their weekly hours over the week's usual working days)."""
        if not self.works_on(day):
            return 0.0
        usual = sum(1 for hours in self.calendar.week if hours) or 5
        return self.weekly_hours / usual

    def hours_between(self, first: dt.date, last: dt.date) -> float:
        return sum(self.hours_on(d) for d in days(first, last))


@dataclass(frozen=True)
class PlannedWork:
    """An open piece of work with an estimate, as the plan spreads it."""

    estimate: float
    start: dt.date | None
    due: dt.date | None


@dataclass(frozen=True)
class Load:
    """How busy a person is in a period: open items, planned hours against capacity.

    Ordering people by `key` puts the least loaded first: the smaller share of
    capacity planned, then the fewer open items (tickets carry no estimate).
    """

    open_items: int = 0
    planned_hours: float = 0.0
    capacity_hours: float = 0.0
    actual_hours: float = 0.0

    @property
    def share(self) -> float:
        """Planned hours over capacity (1.0 is fully booked); infinite when work meets no capacity."""
        if self.capacity_hours > 0:
            return self.planned_hours / self.capacity_hours
        return math.inf if self.planned_hours > 0 else 0.0

    @property
    def over(self) -> bool:
        return self.planned_hours > self.capacity_hours + 1e-9

    @property
    def key(self) -> tuple[float, int]:
        return (self.share, self.open_items)


@dataclass(frozen=True)
class Week:
    start: dt.date  # a Monday

    @property
    def end(self) -> dt.date:
        return self.start + 6 * DAY


@dataclass
class PersonWeeks:
    """One person's load in each week of a view."""

    person: int
    weeks: list[Load] = field(default_factory=list)


def days(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    day = first
    while day <= last:
        yield day
        day += DAY


def week_of(day: dt.date) -> Week:
    return Week(day - day.weekday() * DAY)


def weeks_from(day: dt.date, count: int = WEEKS_AHEAD) -> list[Week]:
    first = week_of(day).start
    return [Week(first + 7 * i * DAY) for i in range(count)]


def planned_by_day(work: PlannedWork, capacity: Capacity) -> dict[dt.date, float]:
    """The work's estimate spread evenly over the person's working days from start to due.

    With no working day in the span (a task over a holiday week), over every day of it;
    with no dates at all, nowhere (it counts as an open item only).
    """
    if work.estimate <= 0 or (work.start is None and work.due is None):
        return {}
    first = work.start or work.due
    last = work.due or work.start
    assert first is not None and last is not None
    if last < first:
        first, last = last, first
    span = list(days(first, last))
    working = [d for d in span if capacity.calendar.hours_on(d)] or span
    each = work.estimate / len(working)
    return {d: each for d in working}


def load_between(
    first: dt.date,
    last: dt.date,
    capacity: Capacity,
    work: Iterable[PlannedWork],
    open_items: int = 0,
    actual: Iterable[tuple[dt.date, float]] = (),
) -> Load:
    """A person's load from `first` to `last` (included)."""
    planned = 0.0
    for piece in work:
        planned += sum(h for d, h in planned_by_day(piece, capacity).items() if first <= d <= last)
    return Load(
        open_items=open_items,
        planned_hours=round(planned, 2),
        capacity_hours=round(capacity.hours_between(first, last), 2),
        actual_hours=round(sum(h for d, h in actual if first <= d <= last), 2),
    )


def weekly_loads(
    weeks: list[Week],
    capacity: Capacity,
    work: list[PlannedWork],
    open_items: int = 0,
    actual: list[tuple[dt.date, float]] = (),  # type: ignore[assignment]
) -> list[Load]:
    return [load_between(w.start, w.end, capacity, work, open_items, actual) for w in weeks]


def parse_leave(text: str | None) -> tuple[Leave, ...]:
    """Leave as people write it: periods `2026-12-10..2026-12-14` or single days, separated by
    commas, semicolons or new lines. ValueError naming the part that is not a date or a period."""
    found: list[Leave] = []
    for part in (text or "").replace(";", ",").replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        first_text, _, last_text = part.partition("..")
        try:
            first = dt.date.fromisoformat(first_text.strip())
            last = dt.date.fromisoformat(last_text.strip()) if last_text else first
        except ValueError:
            raise ValueError(
                f"{part!r} is not a day (2026-12-10) or a period (2026-12-10..2026-12-14)"
            ) from None
        if last < first:
            raise ValueError(f"{part!r} ends before it begins")
        found.append((first, last))
    return tuple(found)
