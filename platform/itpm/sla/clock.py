"""SLA clocks: how much of its target a ticket has used, when it is due, whether it was late.

A clock starts when the ticket is created and stops at its first response
(or its resolution). It counts the business time of a calendar and stands
still while the ticket is in a pausing state, such as waiting for the client.
A reading is computed from the ticket's state history, the terms in force and
the moment `now` passed in, so it is the same in a request, a worker and a
test. Scheduling the warning and breach jobs is the automation engine's work:
it reads `warn_at` and `due_at` here.

When a ticket's terms change (its priority is raised, its client changes),
the time already counted and the time already paused stay as they were, each
counted by the terms in force then; the new target applies to their sum.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from itpm.sla.calendar import (
    MINUTES_PER_DAY,
    BusinessCalendar,
    add_business_times,
    business_time_between,
    calendar_from_definition,
    to_utc,
)

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
#: The clocks an SLA runs on a ticket; an `sla` definition sets `<clock>_minutes` per priority.
CLOCKS = (FIRST_RESPONSE, RESOLUTION)


@dataclass(frozen=True)
class Terms:
    """What one clock of one ticket counts by: a calendar, a target, pausing states, a warning."""

    calendar: BusinessCalendar
    target: dt.timedelta
    pausing_states: frozenset[str] = frozenset()
    #: The share of the target at which a warning is due (0.8: at 80 %), or None for no warning.
    warning_share: float | None = None

    def __post_init__(self) -> None:
        if self.target <= dt.timedelta(0):
            raise ValueError(f"an SLA target must be longer than nothing, not {self.target}")
        if self.warning_share is not None and not 0 < self.warning_share < 1:
            raise ValueError(f"a warning share lies between 0 and 1, not {self.warning_share}")


@dataclass(frozen=True)
class ClockReading:
    """One clock of one ticket, as of a moment.

    Durations are business time. A running clock is late once `now` is past
    `due_at`; a stopped one was on time if it stopped at or before `due_at`.
    While a clock is paused and not yet late, `due_at` and `warn_at` are None:
    they are not known until it runs again. `warned_at` and `breached_at` are
    `warn_at` and `due_at` once passed, else None.
    """

    target: dt.timedelta
    elapsed: dt.timedelta
    paused: dt.timedelta
    due_at: dt.datetime | None
    warn_at: dt.datetime | None
    warned_at: dt.datetime | None
    breached_at: dt.datetime | None
    is_paused: bool
    is_stopped: bool
    #: The calendar the clock counts in now (the terms in force last).
    calendar: BusinessCalendar | None = None

    @property
    def time_left(self) -> dt.timedelta:
        """Business time left before the target; negative once it is over."""
        return self.target - self.elapsed

    @property
    def warned(self) -> bool:
        return self.warned_at is not None

    @property
    def breached(self) -> bool:
        return self.breached_at is not None


@dataclass(frozen=True)
class Clock:
    """One clock of a ticket: the terms it starts with, their changes [(moment, terms)], when it stopped."""

    terms: Terms
    stopped_at: dt.datetime | None = None
    changes: Sequence[tuple[dt.datetime, Terms]] = ()


def read_clock(
    history: Sequence[tuple[dt.datetime, str]],
    terms: Terms,
    *,
    now: dt.datetime,
    stopped_at: dt.datetime | None = None,
    changes: Sequence[tuple[dt.datetime, Terms]] = (),
) -> ClockReading:
    """Read a clock from a ticket's state history [(moment, state), ...], oldest first.

    The first entry is the ticket's creation, when the clock starts. `terms`
    are in force from then, each of `changes` from its moment on. A stop or a
    change after `now` has not happened yet.
    """
    return read_clocks(history, {"": Clock(terms, stopped_at, changes)}, now=now)[""]


#: A moment a reading asks for: `amount` of business time after `moment`, on `calendar` (`add_business_time`).
_Asked = tuple[BusinessCalendar, dt.datetime, dt.timedelta]


def read_clocks(
    history: Sequence[tuple[dt.datetime, str]], clocks: Mapping[str, Clock], *, now: dt.datetime
) -> dict[str, ClockReading]:
    """Read several clocks of one ticket (`read_clock`, by name) from its state history at once.

    A ticket's clocks count over the same pieces of its history and ask for their warning and due
    moments from the same moments: each piece is counted once per calendar, and the moments asked
    from one moment are found in one walk of its calendar (`add_business_times`).
    """
    if not history:
        raise ValueError("a clock starts with the ticket's creation: the state history is empty")
    history = [(to_utc(m), state) for m, state in history]
    now = to_utc(now)
    start = history[0][0]
    state_moments = [m for m, _ in history]
    _in_order(state_moments, "the state history")
    if now < start:
        raise ValueError(f"the clock is read at {now.isoformat()}, before it started at {start.isoformat()}")
    counted: dict[tuple[int, dt.datetime, dt.datetime], dt.timedelta] = {}
    runs = {name: _run(history, state_moments, clock, now, counted) for name, clock in clocks.items()}
    walks: dict[tuple[int, dt.datetime], tuple[BusinessCalendar, list[dt.timedelta]]] = {}
    for run in runs.values():
        for calendar, moment, amount in filter(None, (run.due, run.warn)):
            walks.setdefault((id(calendar), moment), (calendar, []))[1].append(amount)
    found: dict[tuple[int, dt.datetime, dt.timedelta], dt.datetime] = {}
    for (calendar_id, moment), (calendar, amounts) in walks.items():
        for amount, at in zip(amounts, add_business_times(calendar, moment, amounts), strict=True):
            found[calendar_id, moment, amount] = at
    return {name: run.reading(found) for name, run in runs.items()}


@dataclass
class _Run:
    """What one clock counted over a ticket's history; its warning and due moments still to find."""

    terms: Terms
    end: dt.datetime
    elapsed: dt.timedelta
    paused: dt.timedelta
    is_paused: bool
    is_stopped: bool
    due: _Asked | None
    warn: _Asked | None

    def reading(self, found: Mapping[tuple[int, dt.datetime, dt.timedelta], dt.datetime]) -> ClockReading:
        due_at = found[id(self.due[0]), self.due[1], self.due[2]] if self.due else None
        warn_at = found[id(self.warn[0]), self.warn[1], self.warn[2]] if self.warn else None
        return ClockReading(
            target=self.terms.target,
            elapsed=self.elapsed,
            paused=self.paused,
            due_at=due_at,
            warn_at=warn_at,
            warned_at=warn_at if warn_at is not None and warn_at < self.end else None,
            breached_at=due_at if due_at is not None and due_at < self.end else None,
            is_paused=self.is_paused and not self.is_stopped,
            is_stopped=self.is_stopped,
            calendar=self.terms.calendar,
        )


def _run(
    history: list[tuple[dt.datetime, str]],
    state_moments: list[dt.datetime],
    clock: Clock,
    now: dt.datetime,
    counted: dict[tuple[int, dt.datetime, dt.datetime], dt.timedelta],
) -> _Run:
    """Count one clock over the ticket's history (in UTC; `state_moments`: its moments) up to `now` or its
    stop; `counted`: the business time of the pieces already counted, by calendar, shared by its clocks."""
    changes = [(to_utc(m), t) for m, t in clock.changes]
    stopped_at = to_utc(clock.stopped_at) if clock.stopped_at is not None else None
    start = state_moments[0]
    if changes:
        _in_order([m for m, _ in changes], "the changes of terms")
    if stopped_at is not None and stopped_at < start:
        raise ValueError(f"the clock stopped at {stopped_at.isoformat()}, before it started")
    is_stopped = stopped_at is not None and stopped_at <= now
    end = stopped_at if is_stopped and stopped_at is not None else now
    timeline = [(start, clock.terms), *((max(m, start), t) for m, t in changes if m <= end)]
    current = timeline[-1][1]
    warn_target = current.target * current.warning_share if current.warning_share else None

    terms_moments = [m for m, _ in timeline]
    moments = sorted({m for m in state_moments if m <= end} | set(terms_moments))
    elapsed = paused = dt.timedelta(0)
    due: _Asked | None = None
    warn: _Asked | None = None
    is_paused = False
    for piece_start, piece_end in zip(moments, [*moments[1:], end], strict=True):
        state = history[bisect_right(state_moments, piece_start) - 1][1]
        piece_terms = timeline[bisect_right(terms_moments, piece_start) - 1][1]
        calendar = piece_terms.calendar
        key = (id(calendar), piece_start, piece_end)
        piece = counted.get(key)
        if piece is None:
            piece = counted[key] = business_time_between(calendar, piece_start, piece_end)
        is_paused = state in piece_terms.pausing_states
        if is_paused:
            paused += piece
            continue
        # the piece in which the target (and the warning's share of it) is used up: when, within it
        if due is None and elapsed + piece >= current.target:
            due = (calendar, piece_start, current.target - elapsed)
        if warn_target is not None and warn is None and elapsed + piece >= warn_target:
            warn = (calendar, piece_start, warn_target - elapsed)
        elapsed += piece
    if not is_paused:  # not used up yet: from the end on, on the calendar in force then
        due = due or (current.calendar, end, current.target - elapsed)
        if warn_target is not None:
            warn = warn or (current.calendar, end, warn_target - elapsed)
    return _Run(current, end, elapsed, paused, is_paused, is_stopped, due, warn)


def _in_order(moments: Sequence[dt.datetime], what: str) -> None:
    for earlier, later in zip(moments, moments[1:], strict=False):
        if later < earlier:
            raise ValueError(f"{what} is not in time order: {later.isoformat()} after {earlier.isoformat()}")


@dataclass(frozen=True)
class SlaPolicy:
    """An `sla` definition ready to evaluate: its calendar and its targets by priority and by client."""

    calendar: BusinessCalendar
    #: priority -> clock -> target
    targets: Mapping[str, Mapping[str, dt.timedelta]] = field(hash=False)
    #: client (the client organisation's record number) -> priority -> clock -> target
    client_targets: Mapping[str, Mapping[str, Mapping[str, dt.timedelta]]] = field(hash=False)
    pausing_states: frozenset[str] = frozenset()
    warning_share: float | None = None
    priority_field: str = "priority"
    #: States that count as the first response; empty: any state but the first.
    response_states: frozenset[str] = frozenset()
    #: The priorities whose clocks run around the clock (24×7) rather than on the calendar's hours.
    around_the_clock: frozenset[str] = frozenset()
    #: client -> the priorities of the client's own targets that run around the clock
    client_around_the_clock: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False)
    #: The terms of a clock by (clock, priority, client, final states) as tickets read them
    #: (`itpm.sla.tickets`): filled as they are asked.
    known_terms: dict[tuple[Any, ...], Terms | None] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @property
    def all_hours(self) -> BusinessCalendar:
        """The calendar of a priority that runs around the clock: every hour of every day, in the same zone."""
        return all_hours_calendar(self.calendar.zone.key)

    def terms(self, clock: str, priority: str, client: str | None = None) -> Terms | None:
        """The terms of a ticket's clock, or None if the policy sets no target for it.

        A client's own target for a priority replaces the general one.
        """
        if clock not in CLOCKS:
            raise ValueError(f"{clock!r} is not an SLA clock; clocks: {', '.join(CLOCKS)}")
        own = self.client_targets.get(client, {}).get(priority, {}) if client else {}
        target = own.get(clock) or self.targets.get(priority, {}).get(clock)
        if target is None:
            return None
        # a client's contract for the priority says how its clocks run; else the general terms do
        contract = self.client_around_the_clock.get(client or "") if own else None
        around = priority in (contract if contract is not None else self.around_the_clock)
        calendar = self.all_hours if around else self.calendar
        return Terms(calendar, target, self.pausing_states, self.warning_share)


def policy_from_definition(body: Mapping[str, Any]) -> SlaPolicy:
    """The policy of a valid `sla` definition."""
    return SlaPolicy(
        calendar=calendar_from_definition(body["calendar"]),
        targets={priority: _targets(t) for priority, t in body["targets"].items()},
        client_targets={
            client: {priority: _targets(t) for priority, t in by_priority.items()}
            for client, by_priority in body.get("clients", {}).items()
        },
        pausing_states=frozenset(body.get("pausing_states", ())),
        warning_share=body.get("warning_share"),
        priority_field=body.get("priority_field", "priority"),
        response_states=frozenset(body.get("response_states", ())),
        around_the_clock=_around_the_clock(body["targets"]),
        client_around_the_clock={
            client: _around_the_clock(by_priority) for client, by_priority in body.get("clients", {}).items()
        },
    )


def _around_the_clock(by_priority: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    return frozenset(p for p, targets in by_priority.items() if targets.get("around_the_clock"))


@cache
def all_hours_calendar(zone: str) -> BusinessCalendar:
    """Every hour of every day in `zone`, holidays included (a 24×7 service)."""
    return BusinessCalendar(ZoneInfo(zone), (((0, MINUTES_PER_DAY),),) * 7)


def _targets(minutes: Mapping[str, int]) -> dict[str, dt.timedelta]:
    return {
        clock: dt.timedelta(minutes=minutes[f"{clock}_minutes"])
        for clock in CLOCKS
        if f"{clock}_minutes" in minutes
    }
