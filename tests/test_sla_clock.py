"""SLA clocks: due moments, warnings, breaches and pauses of a ticket, read from its state history."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itpm.config import ROOT
from itpm.sla.calendar import (
    WEEKDAYS,
    add_business_time,
    business_time_between,
    calendar_from_definition,
    to_utc,
)
from itpm.sla.clock import FIRST_RESPONSE, RESOLUTION, Terms, policy_from_definition, read_clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
STARTER = json.loads((ROOT / "workflows" / "sla" / "incident_sla.json").read_text("utf-8"))
POLICY = policy_from_definition(STARTER)
CALENDAR = POLICY.calendar
ROUND_THE_CLOCK = calendar_from_definition(
    {"time_zone": "Asia/Shanghai", "working_hours": {day: ["00:00-24:00"] for day in WEEKDAYS}}
)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    """A moment in Beijing time in November 2025 (Monday 17 to Friday 21 is an ordinary week)."""
    return dt.datetime(2025, month, day, hour, minute, tzinfo=SHANGHAI)


def terms(clock: str, priority: str, client: str | None = None) -> Terms:
    found = POLICY.terms(clock, priority, client)
    assert found is not None
    return found


# The clock's mechanics are shown on the P1 targets counted in business time (the starter P1 itself
# runs around the clock: see the tests of the starter policy below).
P1_RESPONSE = dataclasses.replace(terms(FIRST_RESPONSE, "P1"), calendar=CALENDAR)
P1_RESOLUTION = dataclasses.replace(terms(RESOLUTION, "P1"), calendar=CALENDAR)
OPENED_MONDAY_9 = [(at(17, 9), "open")]


# --- the starter policy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "response", "resolution"),
    [("P1", 30, 4 * 60), ("P2", 60, 8 * 60), ("P3", 4 * 60, 3 * 8 * 60), ("P4", 8 * 60, 5 * 8 * 60)],
)
def test_the_starter_policy_sets_the_agreed_targets(priority: str, response: int, resolution: int) -> None:
    assert terms(FIRST_RESPONSE, priority).target == response * MINUTE
    assert terms(RESOLUTION, priority).target == resolution * MINUTE
    assert terms(RESOLUTION, priority).pausing_states == {"waiting"}
    assert terms(RESOLUTION, priority).warning_share == 0.8


def test_a_p3_incident_opened_on_monday_morning_is_due_on_thursday_morning() -> None:
    reading = read_clock([(at(17, 10), "open")], terms(RESOLUTION, "P3"), now=at(17, 10))
    assert reading.due_at == at(20, 10)


def test_a_p2_incident_opened_the_evening_before_national_day_is_due_after_the_holiday() -> None:
    history = [(at(30, 17, month=9), "open")]
    reading = read_clock(history, terms(RESOLUTION, "P2"), now=at(30, 17, month=9))
    assert reading.due_at == at(9, 17, month=10)  # 1 hour on 30 September, 7 on 9 October


def test_a_p1_incident_opened_at_2_44_beijing_time_is_answered_within_the_hour() -> None:
    """The starter P1 runs around the clock (24×7); P2 waits for the morning."""
    history = [(at(18, 2, 44), "open")]
    response = read_clock(history, terms(FIRST_RESPONSE, "P1"), now=at(18, 2, 44))
    resolution = read_clock(history, terms(RESOLUTION, "P1"), now=at(18, 2, 44))
    assert (response.due_at, response.warn_at) == (at(18, 3, 14), at(18, 3, 8))
    assert resolution.due_at == at(18, 6, 44)
    assert read_clock(history, terms(FIRST_RESPONSE, "P2"), now=at(18, 2, 44)).due_at == at(18, 10)
    national_day = [(at(1, 23, month=10), "open")]  # holidays and weekends count too
    assert read_clock(national_day, terms(RESOLUTION, "P1"), now=at(1, 23, month=10)).due_at == at(
        2, 3, month=10
    )


def test_a_clients_contract_says_whether_its_p1_runs_around_the_clock() -> None:
    body = {
        **STARTER,
        "clients": {
            "CUS-0001": {"P1": {"first_response_minutes": 60}},  # business hours: its contract says so
            "CUS-0002": {"P2": {"first_response_minutes": 30, "around_the_clock": True}},
        },
    }
    policy = policy_from_definition(body)
    history = [(at(18, 2, 44), "open")]

    def due(priority: str, client: str | None) -> dt.datetime | None:
        found = policy.terms(FIRST_RESPONSE, priority, client)
        assert found is not None
        return read_clock(history, found, now=at(18, 2, 44)).due_at

    assert due("P1", "CUS-0001") == at(18, 10)
    assert due("P1", "CUS-0002") == at(18, 3, 14)  # no P1 of its own: the general P1, around the clock
    assert due("P2", "CUS-0002") == at(18, 3, 14)
    assert due("P2", None) == at(18, 10)


def test_a_policy_without_a_target_for_a_priority_gives_no_terms() -> None:
    assert POLICY.terms(RESOLUTION, "P9") is None
    with pytest.raises(ValueError, match="not an SLA clock"):
        POLICY.terms("lunch", "P1")


def test_a_clients_own_target_replaces_the_general_one_for_its_priority_only() -> None:
    body = {**STARTER, "clients": {"CUS-0001": {"P1": {"resolution_minutes": 120}}}}
    policy = policy_from_definition(body)
    assert policy.terms(RESOLUTION, "P1", "CUS-0001").target == 2 * HOUR  # type: ignore[union-attr]
    assert policy.terms(FIRST_RESPONSE, "P1", "CUS-0001").target == 30 * MINUTE  # type: ignore[union-attr]
    assert policy.terms(RESOLUTION, "P2", "CUS-0001").target == 8 * HOUR  # type: ignore[union-attr]
    assert policy.terms(RESOLUTION, "P1", "CUS-0002").target == 4 * HOUR  # type: ignore[union-attr]
    assert policy.terms(RESOLUTION, "P1").target == 4 * HOUR  # type: ignore[union-attr]


# --- a running clock, by hand ---------------------------------------------------------------


def test_a_p1_first_response_clock_twenty_minutes_in() -> None:
    reading = read_clock(OPENED_MONDAY_9, P1_RESPONSE, now=at(17, 9, 20))
    assert reading.elapsed == 20 * MINUTE
    assert reading.time_left == 10 * MINUTE
    assert reading.due_at == at(17, 9, 30)
    assert reading.warn_at == at(17, 9, 24)  # 80 % of 30 minutes
    assert not reading.warned and not reading.breached
    assert not reading.is_paused and not reading.is_stopped


def test_the_warning_is_due_at_80_percent_of_the_target() -> None:
    reading = read_clock(OPENED_MONDAY_9, P1_RESPONSE, now=at(17, 9, 25))
    assert reading.warned_at == at(17, 9, 24)
    assert not reading.breached


def test_a_clock_past_its_target_is_breached_at_the_due_moment_with_negative_time_left() -> None:
    reading = read_clock(OPENED_MONDAY_9, P1_RESPONSE, now=at(17, 10, 0))
    assert reading.breached_at == at(17, 9, 30)
    assert reading.time_left == -30 * MINUTE


def test_a_response_in_time_stops_the_clock_with_its_warning_kept() -> None:
    reading = read_clock(OPENED_MONDAY_9, P1_RESPONSE, now=at(18, 9), stopped_at=at(17, 9, 28))
    assert reading.is_stopped
    assert reading.elapsed == 28 * MINUTE
    assert reading.warned_at == at(17, 9, 24)
    assert not reading.breached


def test_a_response_exactly_at_the_due_moment_is_on_time() -> None:
    reading = read_clock(OPENED_MONDAY_9, P1_RESPONSE, now=at(18, 9), stopped_at=at(17, 9, 30))
    assert not reading.breached
    late = read_clock(OPENED_MONDAY_9, P1_RESPONSE, now=at(18, 9), stopped_at=at(17, 9, 31))
    assert late.breached_at == at(17, 9, 30)


def test_a_target_used_up_at_noon_is_due_at_noon_and_late_in_the_lunch_break() -> None:
    three_hours = Terms(CALENDAR, 3 * HOUR)
    reading = read_clock(OPENED_MONDAY_9, three_hours, now=at(17, 12, 30))
    assert reading.due_at == at(17, 12, 0)
    assert reading.time_left == dt.timedelta(0)
    assert reading.breached_at == at(17, 12, 0)


def test_lunch_does_not_count_towards_the_resolution_target() -> None:
    reading = read_clock(OPENED_MONDAY_9, P1_RESOLUTION, now=at(17, 13, 30))
    assert reading.elapsed == 3 * HOUR + 30 * MINUTE
    assert reading.due_at == at(17, 14, 0)
    assert reading.warn_at == at(17, 13, 12)  # 3 h 12 min: 80 % of 4 hours


def test_a_stop_after_now_has_not_happened_yet() -> None:
    reading = read_clock(OPENED_MONDAY_9, P1_RESPONSE, now=at(17, 9, 10), stopped_at=at(17, 9, 20))
    assert not reading.is_stopped
    assert reading.elapsed == 10 * MINUTE


def test_without_a_warning_share_there_is_no_warning() -> None:
    reading = read_clock(OPENED_MONDAY_9, Terms(CALENDAR, HOUR), now=at(17, 11))
    assert reading.warn_at is None and not reading.warned
    assert reading.breached


# --- pauses ---------------------------------------------------------------------------------


WAITED_10_TO_15 = [(at(17, 9), "open"), (at(17, 10), "waiting"), (at(17, 15), "in_progress")]


def test_waiting_for_the_client_stops_the_clock_and_the_due_moment_moves() -> None:
    reading = read_clock(WAITED_10_TO_15, P1_RESOLUTION, now=at(17, 16))
    assert reading.elapsed == 2 * HOUR  # 09-10 and 15-16
    assert reading.paused == 4 * HOUR  # 10-12 and 13-15: lunch is not paused time either
    assert reading.due_at == at(17, 18)  # 3 hours left when it ran again at 15:00
    assert not reading.is_paused


def test_while_paused_time_left_stands_still_and_the_due_moment_is_unknown() -> None:
    history = WAITED_10_TO_15[:2]
    at_eleven = read_clock(history, P1_RESOLUTION, now=at(17, 11))
    next_day = read_clock(history, P1_RESOLUTION, now=at(18, 11))
    assert at_eleven.is_paused and next_day.is_paused
    assert at_eleven.time_left == next_day.time_left == 3 * HOUR
    assert at_eleven.due_at is None and at_eleven.warn_at is None
    assert next_day.paused == 2 * HOUR + 5 * HOUR + 2 * HOUR  # Monday 10-12 and 13-18, Tuesday 09-11


def test_a_breach_before_the_pause_stays_a_breach() -> None:
    history = [(at(17, 9), "open"), (at(17, 10), "waiting")]
    reading = read_clock(history, P1_RESPONSE, now=at(17, 11))
    assert reading.is_paused
    assert reading.breached_at == at(17, 9, 30)


def test_a_ticket_resolved_while_waiting_is_stopped_not_paused() -> None:
    reading = read_clock(WAITED_10_TO_15[:2], P1_RESOLUTION, now=at(18, 9), stopped_at=at(17, 11))
    assert reading.is_stopped and not reading.is_paused
    assert reading.paused == HOUR
    assert not reading.breached


def test_a_state_that_does_not_pause_keeps_the_clock_running() -> None:
    history = [(at(17, 9), "open"), (at(17, 10), "in_progress")]
    assert read_clock(history, P1_RESOLUTION, now=at(17, 11)).elapsed == 2 * HOUR


# --- changing a ticket's SLA -------------------------------------------------------------------


def test_raising_the_priority_keeps_the_time_already_used_and_paused() -> None:
    p3 = terms(RESOLUTION, "P3")
    history = [(at(17, 9), "open"), (at(17, 9, 30), "waiting"), (at(17, 10, 30), "open")]
    reading = read_clock(history, p3, now=at(17, 11, 30), changes=[(at(17, 11), P1_RESOLUTION)])
    assert reading.target == 4 * HOUR
    assert reading.elapsed == 90 * MINUTE
    assert reading.paused == HOUR
    assert reading.due_at == at(17, 15, 0)  # 2 h 30 min left at 11:30: 30 min before lunch, 2 h after


def test_raising_the_priority_after_the_new_target_was_used_up_is_a_breach_at_that_moment() -> None:
    p4 = terms(RESOLUTION, "P4")
    reading = read_clock(OPENED_MONDAY_9, p4, now=at(18, 10), changes=[(at(18, 9), P1_RESOLUTION)])
    assert reading.breached_at == at(17, 14)  # when 4 business hours had passed
    assert reading.time_left == -5 * HOUR


def test_a_change_of_calendar_counts_each_period_by_its_own_calendar() -> None:
    round_the_clock = Terms(ROUND_THE_CLOCK, 4 * HOUR)
    # opened Friday 17:00 in business hours; the ticket moves to a 24x7 SLA at 18:00
    history = [(at(21, 17), "open")]
    reading = read_clock(history, P1_RESOLUTION, now=at(21, 20), changes=[(at(21, 18), round_the_clock)])
    assert reading.elapsed == HOUR + 2 * HOUR
    assert reading.due_at == at(21, 21)


def test_a_change_after_now_has_not_happened_yet() -> None:
    reading = read_clock(OPENED_MONDAY_9, P1_RESOLUTION, now=at(17, 10), changes=[(at(17, 11), P1_RESPONSE)])
    assert reading.target == 4 * HOUR


# --- refused input -----------------------------------------------------------------------------


def test_readings_before_the_start_are_refused() -> None:
    with pytest.raises(ValueError, match="before it started"):
        read_clock(OPENED_MONDAY_9, P1_RESPONSE, now=at(17, 8))
    with pytest.raises(ValueError, match="before it started"):
        read_clock(OPENED_MONDAY_9, P1_RESPONSE, now=at(17, 10), stopped_at=at(17, 8))


def test_a_history_out_of_order_is_refused() -> None:
    with pytest.raises(ValueError, match="not in time order"):
        read_clock([(at(17, 9), "open"), (at(17, 8), "waiting")], P1_RESPONSE, now=at(17, 10))


def test_an_empty_history_is_refused() -> None:
    with pytest.raises(ValueError, match="history is empty"):
        read_clock([], P1_RESPONSE, now=at(17, 10))


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        read_clock([(dt.datetime(2025, 11, 17, 9), "open")], P1_RESPONSE, now=at(17, 10))


@pytest.mark.parametrize(
    ("target", "share"), [(dt.timedelta(0), None), (HOUR, 0.0), (HOUR, 1.0), (HOUR, 1.5)]
)
def test_terms_without_a_target_or_with_a_warning_outside_0_to_1_are_refused(
    target: dt.timedelta, share: float | None
) -> None:
    with pytest.raises(ValueError, match="target|share"):
        Terms(CALENDAR, target, warning_share=share)


# --- properties, by the hundred ------------------------------------------------------------------

STATES = ["open", "in_progress", "waiting"]
MOMENTS = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2026, 6, 30)).map(
    lambda naive: naive.replace(tzinfo=SHANGHAI)
)
STEPS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=3 * 24 * 60), st.sampled_from(STATES)),
    min_size=0,
    max_size=6,
)
TARGETS = st.sampled_from(
    [
        dataclasses.replace(terms(clock, p), calendar=CALENDAR)
        for clock in (FIRST_RESPONSE, RESOLUTION)
        for p in ("P1", "P2", "P3", "P4")
    ]
)
PROPERTY = settings(max_examples=300, deadline=None)


def build_history(start: dt.datetime, steps: list[tuple[int, str]]) -> list[tuple[dt.datetime, str]]:
    history = [(start, "open")]
    for minutes, state in steps:
        history.append((history[-1][0] + minutes * MINUTE, state))
    return history


@PROPERTY
@given(MOMENTS, STEPS, TARGETS, st.integers(min_value=0, max_value=10 * 24 * 60))
def test_elapsed_and_paused_time_add_up_to_the_business_time_since_the_start(
    start: dt.datetime, steps: list[tuple[int, str]], clock: Terms, later: int
) -> None:
    history = build_history(start, steps)
    now = history[-1][0] + later * MINUTE
    reading = read_clock(history, clock, now=now)
    assert reading.elapsed + reading.paused == business_time_between(CALENDAR, start, now)
    assert reading.time_left == clock.target - reading.elapsed
    assert reading.is_paused is (history[-1][1] == "waiting")


@PROPERTY
@given(MOMENTS, STEPS, TARGETS, st.integers(min_value=0, max_value=10 * 24 * 60))
def test_a_clock_is_breached_once_its_target_is_used_up_and_warned_before(
    start: dt.datetime, steps: list[tuple[int, str]], clock: Terms, later: int
) -> None:
    history = build_history(start, steps)
    reading = read_clock(history, clock, now=history[-1][0] + later * MINUTE)
    if reading.elapsed > clock.target:
        assert reading.breached
    if reading.breached:
        assert reading.elapsed >= clock.target
        assert reading.warned and to_utc(reading.warned_at) <= to_utc(reading.breached_at)  # type: ignore[arg-type]
    if reading.due_at is not None:
        elapsed_at_due = read_clock(history, clock, now=max(reading.due_at, start, key=to_utc)).elapsed
        assert elapsed_at_due == clock.target


@PROPERTY
@given(MOMENTS, STEPS, TARGETS, st.integers(min_value=0, max_value=5 * 24 * 60), st.integers(0, 5 * 24 * 60))
def test_the_due_moment_of_a_running_clock_does_not_drift_with_the_reading_time(
    start: dt.datetime, steps: list[tuple[int, str]], clock: Terms, first: int, second: int
) -> None:
    history = build_history(start, steps)
    readings = [read_clock(history, clock, now=history[-1][0] + m * MINUTE) for m in (first, first + second)]
    if history[-1][1] != "waiting":
        assert readings[0].due_at == readings[1].due_at
        assert readings[0].warn_at == readings[1].warn_at


@PROPERTY
@given(MOMENTS, STEPS, st.integers(min_value=0, max_value=10 * 24 * 60), TARGETS, TARGETS)
def test_changing_the_terms_keeps_the_elapsed_and_paused_time(
    start: dt.datetime, steps: list[tuple[int, str]], later: int, before: Terms, after: Terms
) -> None:
    history = build_history(start, steps)
    now = history[-1][0] + later * MINUTE
    changed_at = start + (now - start) / 2
    changed = read_clock(history, before, now=now, changes=[(changed_at, after)])
    throughout = read_clock(history, after, now=now)
    assert (changed.elapsed, changed.paused, changed.target) == (
        throughout.elapsed,
        throughout.paused,
        after.target,
    )
    assert changed.due_at == throughout.due_at


@PROPERTY
@given(MOMENTS, TARGETS, st.integers(min_value=0, max_value=10 * 24 * 60))
def test_without_pauses_the_due_moment_is_the_start_plus_the_target_in_business_time(
    start: dt.datetime, clock: Terms, later: int
) -> None:
    reading = read_clock([(start, "open")], clock, now=start + later * MINUTE)
    assert reading.due_at == add_business_time(CALENDAR, start, clock.target)
    assert reading.paused == dt.timedelta(0)
