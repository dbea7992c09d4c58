"""Business calendars: when a service desk works, in its own time zone.

SLA clocks count working time only: the hours of each weekday (several
intervals a day, so a lunch break is not counted), minus public holidays,
plus make-up working days (China's 调休). China's holidays come from the
maintained `chinese_calendar` library, read once when a calendar is built;
after that everything here is a pure function of a `BusinessCalendar` and
the moments passed in.

Moments are aware datetimes (naive ones are refused: their time zone would be
a guess). Working hours are wall-clock times of the calendar's zone, turned
into instants day by day, so a day on which the clocks change has one hour
more or less of working time only if its working hours span the change.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
#: How many days in a row without working time make a calendar unusable.
MAX_IDLE_DAYS = 366

#: A working interval of a day: minutes since local midnight, start included, end excluded.
Interval = tuple[int, int]
#: A span of working time as instants (UTC).
Span = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours per weekday in a time zone, with holidays and make-up working days.

    `week` holds Monday's intervals first and Sunday's last, each day's in
    order, `()` for a day off. A date in `holidays` has no working time; a
    date in `working_days` works its weekday's hours or, if its weekday is a
    day off (a make-up Sunday), the hours of the week's first working day.
    """

    zone: ZoneInfo
    week: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[dt.date] = frozenset()
    working_days: frozenset[dt.date] = frozenset()
    #: Each date's working spans as instants, once worked out (`_spans`): read for every SLA clock of
    #: every ticket, where hashing the calendar for a shared cache cost more than the reading.
    _days: dict[dt.date, tuple[Span, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError(f"a week has 7 days of working hours, not {len(self.week)}")
        for name, intervals in zip(WEEKDAYS, self.week, strict=True):
            previous_end = 0
            for start, end in intervals:
                if not 0 <= start < end <= MINUTES_PER_DAY or start < previous_end:
                    raise ValueError(f"the working hours of {name} overlap or are out of order: {intervals}")
                previous_end = end
        if not any(self.week):
            raise ValueError("a calendar needs working hours on at least one weekday")
        both = self.holidays & self.working_days
        if both:
            raise ValueError(f"{min(both)} is both a holiday and a working day")

    def hours_on(self, day: dt.date) -> tuple[Interval, ...]:
        """The working intervals of a date, in the calendar's wall-clock time."""
        if day in self.holidays:
            return ()
        hours = self.week[day.weekday()]
        if day in self.working_days and not hours:
            return next(h for h in self.week if h)
        return hours


def parse_interval(text: str) -> Interval:
    """'09:00-12:00' as (540, 720); '24:00' may end a day. ValueError if malformed or empty."""
    try:
        start_text, end_text = text.split("-")
        start, end = _minute_of_day(start_text), _minute_of_day(end_text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time interval like 09:00-12:00") from None
    if start == MINUTES_PER_DAY or start >= end:
        raise ValueError(f"{text!r} does not end after it starts")
    return start, end


def _minute_of_day(text: str) -> int:
    if text == "24:00":
        return MINUTES_PER_DAY
    if len(text) != 5:
        raise ValueError(text)
    moment = dt.time.fromisoformat(text)
    return moment.hour * 60 + moment.minute


@cache
def china_days() -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    """China's public holidays and make-up working days (调休), as `chinese_calendar` publishes them.

    The library covers the years the State Council has announced; for later
    years a calendar falls back to its plain week until the library is
    updated, and a definition can add the announced days meanwhile.
    """
    return frozenset(chinese_calendar.holidays), frozenset(chinese_calendar.workdays)


def calendar_from_definition(spec: Mapping[str, Any]) -> BusinessCalendar:
    """The calendar described by the `calendar` object of an `sla` definition (already validated).

    The definition's own holidays and working days win over the public ones.
    """
    hours = spec["working_hours"]
    week = tuple(tuple(sorted(parse_interval(i) for i in hours.get(day, ()))) for day in WEEKDAYS)
    extra_holidays = _dates(spec.get("extra_holidays", ()))
    extra_working_days = _dates(spec.get("extra_working_days", ()))
    public_holidays, public_working_days = (
        china_days() if spec.get("public_holidays") == "china" else (frozenset(), frozenset())
    )
    return BusinessCalendar(
        zone=ZoneInfo(spec["time_zone"]),
        week=week,
        holidays=extra_holidays | (public_holidays - extra_working_days),
        working_days=extra_working_days | (public_working_days - extra_holidays),
    )


def _dates(texts: Iterable[str]) -> frozenset[dt.date]:
    return frozenset(dt.date.fromisoformat(t) for t in texts)


def is_working_time(calendar: BusinessCalendar, moment: dt.datetime) -> bool:
    """Whether the desk works at `moment` (an interval's start is working time, its end is not)."""
    moment = to_utc(moment)
    day = moment.astimezone(calendar.zone).date()
    return any(
        start <= moment < end for d in (day - dt.timedelta(days=1), day) for start, end in _spans(calendar, d)
    )


def next_working_moment(calendar: BusinessCalendar, moment: dt.datetime) -> dt.datetime:
    """The first working moment at or after `moment`, in the calendar's time zone."""
    start, _ = next(_spans_from(calendar, to_utc(moment)))
    return start.astimezone(calendar.zone)


def add_business_time(calendar: BusinessCalendar, moment: dt.datetime, duration: dt.timedelta) -> dt.datetime:
    """The earliest moment by which `duration` of working time has passed since `moment`.

    In the calendar's time zone. A result can be the end of a working interval
    (a target of 3 hours from 09:00 is due at 12:00, not after lunch). Adding
    nothing gives `moment` back.
    """
    return add_business_times(calendar, moment, (duration,))[0]


def add_business_times(
    calendar: BusinessCalendar, moment: dt.datetime, durations: Sequence[dt.timedelta]
) -> list[dt.datetime]:
    """`add_business_time` of each of `durations` from one `moment`, in one walk of the calendar (a ticket's
    clocks ask for their warning and due moments from its creation: four moments, one walk)."""
    if any(duration < dt.timedelta(0) for duration in durations):
        raise ValueError(f"cannot add negative business time: {min(durations)}")
    moment = to_utc(moment)
    found = [moment] * len(durations)
    waiting = sorted((d, i) for i, d in enumerate(durations) if d)  # the shortest is reached first
    if waiting:
        passed = dt.timedelta(0)  # the working time of the spans walked before this one
        next_one = 0
        for start, end in _spans_from(calendar, moment):
            reach = passed + (end - start)
            while next_one < len(waiting) and waiting[next_one][0] <= reach:
                duration, index = waiting[next_one]
                found[index] = start + (duration - passed)
                next_one += 1
            if next_one == len(waiting):
                break
            passed = reach
    return [m.astimezone(calendar.zone) for m in found]


def business_time_between(calendar: BusinessCalendar, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """The working time from `start` to `end`; negative if `end` comes first.

    Over weeks (a ticket imported from years ago, open since), the whole days between are
    summed from the calendar's running totals (`_totals`), not walked day by day.
    """
    start, end = to_utc(start), to_utc(end)
    if end < start:
        return -business_time_between(calendar, end, start)
    first = start.astimezone(calendar.zone).date() - dt.timedelta(days=1)
    last = end.astimezone(calendar.zone).date()
    if (last - first).days > 8 and first > TOTALS_FROM:
        return _worked_until(calendar, end) - _worked_until(calendar, start)
    total = dt.timedelta(0)
    for span_start, span_end in _spans_from(calendar, start, until=end):
        if span_start >= end:
            break
        total += min(span_end, end) - span_start
    return total


#: Running totals of working time start here; spans reaching further back are walked day by day.
TOTALS_FROM = dt.date(2000, 1, 1)


class _RunningTotals:
    """The working time of a calendar's days from `TOTALS_FROM` up to each day, extended as asked."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.sums = [dt.timedelta(0)]  # sums[n]: the working time of the n days from TOTALS_FROM
        self.lock = threading.Lock()

    def before(self, day: dt.date) -> dt.timedelta:
        """The working time of the days from `TOTALS_FROM` up to `day`, `day` not included."""
        wanted = (day - TOTALS_FROM).days
        if wanted >= len(self.sums):
            with self.lock:
                while len(self.sums) <= wanted:
                    current = TOTALS_FROM + dt.timedelta(days=len(self.sums) - 1)
                    worked = sum((e - s for s, e in _spans(self.calendar, current)), dt.timedelta(0))
                    self.sums.append(self.sums[-1] + worked)
        return self.sums[wanted]


def _worked_until(calendar: BusinessCalendar, moment: dt.datetime) -> dt.timedelta:
    """The working time from `TOTALS_FROM` up to `moment` (UTC): the days before its own, then its own
    spans up to it (a day's spans lie within its wall-clock day)."""
    day = moment.astimezone(calendar.zone).date()
    worked = _totals(calendar).before(day)
    for span_start, span_end in _spans(calendar, day):
        if span_start >= moment:
            break
        worked += min(span_end, moment) - span_start
    return worked


@lru_cache(maxsize=64)
def _totals(calendar: BusinessCalendar) -> _RunningTotals:
    return _RunningTotals(calendar)


def to_utc(moment: dt.datetime) -> dt.datetime:
    """An aware moment in UTC, where comparing and subtracting never read wall-clock times.

    (Python compares two datetimes of one time zone by their wall-clock times,
    which is wrong in the hour the clocks go back.)
    """
    if moment.__class__ is dt.datetime and moment.tzinfo is dt.UTC:
        return moment  # most moments are (from the database, an import): nothing to convert
    if not isinstance(moment, dt.datetime):
        raise TypeError(f"a moment must be a datetime, not {type(moment).__name__}")
    if moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(dt.UTC)


def _spans_from(
    calendar: BusinessCalendar, moment: dt.datetime, until: dt.datetime | None = None
) -> Iterator[Span]:
    """The working spans that end after `moment`, the first cut to start at it; stops after `until`."""
    day = moment.astimezone(calendar.zone).date() - dt.timedelta(days=1)
    last_day = until.astimezone(calendar.zone).date() if until else dt.date.max
    idle = 0
    while day <= last_day:
        spans = _spans(calendar, day)
        if spans and spans[0][0] < moment:  # a day that began before `moment`: cut at it
            spans = tuple((max(start, moment), end) for start, end in spans if end > moment)
        yield from spans
        idle = 0 if spans else idle + 1
        if idle > MAX_IDLE_DAYS and until is None:
            raise ValueError(f"the calendar has no working time in the {MAX_IDLE_DAYS} days after {day}")
        day += dt.timedelta(days=1)


def _spans(calendar: BusinessCalendar, day: dt.date) -> tuple[Span, ...]:
    """A date's working intervals as instants (worked out once per calendar).

    A wall time the clocks skip is read the way zoneinfo reads it (with the
    offset before the change); spans are kept in order and never overlap.
    """
    known = calendar._days.get(day)
    if known is not None:
        return known
    spans: list[Span] = []
    for start_minute, end_minute in calendar.hours_on(day):
        start = _instant(calendar.zone, day, start_minute)
        end = _instant(calendar.zone, day, end_minute)
        if spans:
            start = max(start, spans[-1][1])
        if end > start:
            spans.append((start, end))
    calendar._days[day] = found = tuple(spans)
    return found


def _instant(zone: ZoneInfo, day: dt.date, minute: int) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    return local.replace(tzinfo=zone).astimezone(dt.UTC)
