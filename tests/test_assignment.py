"""Who gets the next ticket: round robin, least work and skills, around absences and working hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itpm.automations.assignment import (
    LEAST_WORK,
    ROUND_ROBIN,
    SKILLS,
    STRATEGIES,
    Candidate,
    next_assignee,
)
from itpm.planning.workload import Load
from itpm.sla.calendar import BusinessCalendar
from itpm.workflows.engine import company_calendar

SHANGHAI = company_calendar("Asia/Shanghai")
LONDON = company_calendar("Europe/London")
ROUND_THE_CLOCK = BusinessCalendar(ZoneInfo("Asia/Shanghai"), (((0, 24 * 60),),) * 7)
#: Monday 16 March 2026, 10:00 in Shanghai, 02:00 in London.
MONDAY_MORNING = dt.datetime(2026, 3, 16, 2, 0, tzinfo=dt.UTC)
SKILL_NAMES = ["network", "oracle", "linux", "windows"]


def person(
    id: int,
    work: int = 0,
    skills: tuple[str, ...] = (),
    away_until: dt.date | None = None,
    calendar: BusinessCalendar = SHANGHAI,
) -> Candidate:
    return Candidate(
        id, calendar, load=Load(open_items=work), skills=frozenset(skills), away_until=away_until
    )


# --- examples ------------------------------------------------------------------------------------


def test_round_robin_takes_the_next_after_the_last_one_and_wraps_round() -> None:
    team = [person(7), person(3), person(5)]
    assert next_assignee(team, ROUND_ROBIN, now=MONDAY_MORNING).id == 3
    assert next_assignee(team, ROUND_ROBIN, now=MONDAY_MORNING, last_assigned=3).id == 5
    assert next_assignee(team, ROUND_ROBIN, now=MONDAY_MORNING, last_assigned=5).id == 7
    assert next_assignee(team, ROUND_ROBIN, now=MONDAY_MORNING, last_assigned=7).id == 3
    # The last one has left the team: the turn goes on from where they stood.
    assert next_assignee(team, ROUND_ROBIN, now=MONDAY_MORNING, last_assigned=4).id == 5


def test_least_work_picks_the_fewest_open_items_and_the_lowest_id_on_a_tie() -> None:
    team = [person(1, work=4), person(2, work=2), person(3, work=2)]
    assert next_assignee(team, LEAST_WORK, now=MONDAY_MORNING).id == 2


def test_by_skill_only_someone_with_every_skill_and_among_them_the_least_busy() -> None:
    team = [
        person(1, work=0, skills=("network",)),
        person(2, work=5, skills=("network", "oracle")),
        person(3, work=3, skills=("oracle", "network", "linux")),
    ]
    chosen = next_assignee(team, SKILLS, now=MONDAY_MORNING, needed_skills=["network", "oracle"])
    assert chosen.id == 3
    assert next_assignee(team, SKILLS, now=MONDAY_MORNING, needed_skills=["windows"]) is None


def test_someone_away_until_today_in_their_zone_is_not_chosen_and_is_back_the_day_after() -> None:
    # 23:30 on Sunday 15 March in London is already Monday 16 March in Shanghai.
    late_sunday_in_london = dt.datetime(2026, 3, 15, 23, 30, tzinfo=dt.UTC)
    away_in_shanghai = person(1, away_until=dt.date(2026, 3, 15), calendar=ROUND_THE_CLOCK)
    away_in_london = person(2, work=9, away_until=dt.date(2026, 3, 15), calendar=LONDON)
    team = [away_in_shanghai, away_in_london]
    assert next_assignee(team, LEAST_WORK, now=late_sunday_in_london).id == 1
    assert next_assignee([away_in_london], LEAST_WORK, now=late_sunday_in_london) is None


def test_those_at_work_now_come_first() -> None:
    # 10:00 in Shanghai is 02:00 in London: the Londoner sleeps, however free they are.
    team = [person(1, work=8), person(2, work=0, calendar=LONDON)]
    assert next_assignee(team, LEAST_WORK, now=MONDAY_MORNING).id == 1


def test_when_nobody_is_at_work_the_strategy_still_chooses_among_those_not_away() -> None:
    saturday = dt.datetime(2026, 3, 21, 2, 0, tzinfo=dt.UTC)
    team = [person(1, work=8), person(2, work=1), person(3, work=0, away_until=dt.date(2026, 3, 22))]
    assert next_assignee(team, LEAST_WORK, now=saturday).id == 2
    assert next_assignee(team, ROUND_ROBIN, now=saturday, last_assigned=2).id == 1


def test_nobody_to_choose_from_gives_none_and_an_unknown_strategy_is_refused() -> None:
    assert next_assignee([], ROUND_ROBIN, now=MONDAY_MORNING) is None
    with pytest.raises(ValueError, match="unknown assignment strategy 'random'"):
        next_assignee([person(1)], "random", now=MONDAY_MORNING)


# --- by the hundred ------------------------------------------------------------------------------

days = st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 12, 31))
candidates = st.lists(
    st.builds(
        person,
        id=st.integers(1, 60),
        work=st.integers(0, 20),
        skills=st.lists(st.sampled_from(SKILL_NAMES), max_size=3).map(tuple),
        away_until=st.none() | days,
        calendar=st.sampled_from([SHANGHAI, LONDON, ROUND_THE_CLOCK]),
    ),
    max_size=8,
    unique_by=lambda c: c.id,
)
moments = st.datetimes(
    min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 12, 31), timezones=st.just(dt.UTC)
)
needs = st.lists(st.sampled_from(SKILL_NAMES), max_size=2)


def eligible(team: list[Candidate], now: dt.datetime, needed: list[str]) -> list[Candidate]:
    """Who may be chosen: not away, with the skills, at work now if anyone like that is."""
    able = [c for c in team if not c.away(now) and set(needed) <= c.skills]
    return [c for c in able if c.at_work(now)] or able


@settings(max_examples=300, deadline=None)
@given(candidates, st.sampled_from(STRATEGIES), moments, needs, st.none() | st.integers(0, 61))
def test_the_choice_is_never_someone_away_or_without_a_needed_skill_and_none_only_when_nobody_fits(
    team: list[Candidate], strategy: str, now: dt.datetime, needed: list[str], last: int | None
) -> None:
    chosen = next_assignee(team, strategy, now=now, last_assigned=last, needed_skills=needed)
    if chosen is None:
        assert not any(not c.away(now) and set(needed) <= c.skills for c in team)
        return
    assert chosen in team
    assert not chosen.away(now)
    assert set(needed) <= chosen.skills
    assert chosen in eligible(team, now, needed)


@settings(max_examples=200, deadline=None)
@given(candidates, moments)
def test_round_robin_gives_everyone_available_a_turn_before_anyone_gets_a_second(
    team: list[Candidate], now: dt.datetime
) -> None:
    pool = eligible(team, now, [])
    turns, last = [], None
    for _ in range(2 * len(pool)):
        chosen = next_assignee(team, ROUND_ROBIN, now=now, last_assigned=last)
        assert chosen is not None
        turns.append(chosen.id)
        last = chosen.id
    ids = sorted(c.id for c in pool)
    assert turns == ids * 2


@settings(max_examples=200, deadline=None)
@given(candidates, moments, needs)
def test_least_work_and_skills_pick_someone_with_the_least_open_work(
    team: list[Candidate], now: dt.datetime, needed: list[str]
) -> None:
    for strategy, skills in ((LEAST_WORK, ()), (SKILLS, needed)):
        chosen = next_assignee(team, strategy, now=now, needed_skills=skills)
        pool = eligible(team, now, list(skills))
        if not pool:
            assert chosen is None
            continue
        assert chosen is not None
        assert chosen.load.key == min(c.load.key for c in pool)
        assert chosen.id == min(c.id for c in pool if c.load.key == chosen.load.key)
