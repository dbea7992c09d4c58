"""Who gets the next piece of work in a team: round robin, least open work, or by skill. Pure.

The engine turns the team's people into `Candidate`s (their load of this week,
`itpm.planning.workload.Load`, the figure the workload screens show, and their
calendar built from their time zone) and writes the choice;
here only the choice is made, from those candidates and the moment `now`.

Nobody away is chosen: a person is away through `away_until`, a day read in
their own time zone. Among the others, those at work now (by their calendar)
are preferred. When nobody is at work now, the strategy still chooses among
everyone not away: an owner who sees the ticket first thing at the start of
their day beats an unowned ticket nobody is answerable for, and keeping the
strategy (rather than, say, whoever starts soonest) keeps round robin fair
and least work even overnight and over holidays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from itpm.planning.workload import Load
from itpm.sla.calendar import BusinessCalendar, is_working_time

ROUND_ROBIN = "round_robin"
LEAST_WORK = "least_work"
SKILLS = "skills"
STRATEGIES = (ROUND_ROBIN, LEAST_WORK, SKILLS)


@dataclass(frozen=True)
class Candidate:
    """A person who could take the work, as the choice needs to see them."""

    id: int
    #: When the person works, in their own time zone (e.g. `company_calendar(person.timezone)`).
    calendar: BusinessCalendar
    #: How busy they are this week: planned hours against capacity, then open items.
    load: Load = Load()
    skills: frozenset[str] = frozenset()
    #: Away until this day, included (a date in their time zone).
    away_until: dt.date | None = None

    def away(self, now: dt.datetime) -> bool:
        return self.away_until is not None and self.away_until >= now.astimezone(self.calendar.zone).date()

    def at_work(self, now: dt.datetime) -> bool:
        return is_working_time(self.calendar, now)


def next_assignee(
    candidates: Iterable[Candidate],
    strategy: str,
    *,
    now: dt.datetime,
    last_assigned: int | None = None,
    needed_skills: Collection[str] = (),
) -> Candidate | None:
    """The candidate who takes the work, or None when nobody can.

    round_robin: the first by id after `last_assigned` (wrapping round);
    least_work: the least load (the smallest share of capacity planned, then the fewest
    open items), the lowest id on a tie;
    skills: least work among those with every needed skill.
    Needed skills narrow the choice under every strategy. `now` is an aware moment.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown assignment strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    needed = frozenset(needed_skills)
    able = [c for c in candidates if not c.away(now) and needed <= c.skills]
    at_work = [c for c in able if c.at_work(now)]
    pool = sorted(at_work or able, key=lambda c: c.id)
    if not pool:
        return None
    if strategy == ROUND_ROBIN:
        if last_assigned is None:
            return pool[0]
        return next((c for c in pool if c.id > last_assigned), pool[0])
    return min(pool, key=lambda c: c.load.key)
