"""Business calendars: working hours with a lunch break, weekends, China's holidays and make-up days, DST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itpm.sla.calendar import (
    WEEKDAYS,
    BusinessCalendar,
    add_business_time,
    business_time_between,
    calendar_from_definition,
    is_working_time,
    next_working_moment,
    parse_interval,
    to_utc,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
OFFICE_DAYS = WEEKDAYS[:5]
#: The starter pack's calendar: 09:00-18:00 with lunch 12:00-13:00, Beijing time, China's holidays.
CHINA = calendar_from_definition(
    {
        "time_zone": "Asia/Shanghai",
        "public_holidays": "china",
        "working_hours": {day: ["09:00-12:00", "13:00-18:00"] for day in OFFICE_DAYS},
    }
)
#: An office in Berlin, 09:00-17:00, no public holidays.
BERLIN_OFFICE = calendar_from_definition(
    {"time_zone": "Europe/Berlin", "working_hours": {day: ["09:00-17:00"] for day in OFFICE_DAYS}}
)
#: A desk open round the clock in Berlin, where clocks change twice a year.
BERLIN_24_7 = calendar_from_definition(
    {"time_zone": "Europe/Berlin", "working_hours": {day: ["00:00-24:00"] for day in WEEKDAYS}}
)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


def shanghai(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


def berlin(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=BERLIN)  # type: ignore[misc]


# --- the library's dates, as the State Council announced them ---------------------------


def test_the_library_knows_the_2025_national_day_and_mid_autumn_holiday() -> None:
    holiday = [dt.date(2025, 10, day) for day in range(1, 9)]
    assert all(chinese_calendar.is_holiday(d) for d in holiday)
    assert chinese_calendar.get_holiday_detail(dt.date(2025, 10, 6))[1] == "Mid-autumn Festival"
    # made up on Sunday 28 September and Saturday 11 October
    assert chinese_calendar.is_workday(dt.date(2025, 9, 28)) and dt.date(2025, 9, 28).weekday() == 6
    assert chinese_calendar.is_workday(dt.date(2025, 10, 11)) and dt.date(2025, 10, 11).weekday() == 5


# --- hand-computed examples ------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        (shanghai(2025, 11, 17, 9, 0), True),  # Monday, opening time
        (shanghai(2025, 11, 17, 11, 59), True),
        (shanghai(2025, 11, 17, 12, 0), False),  # lunch
        (shanghai(2025, 11, 17, 12, 59), False),
        (shanghai(2025, 11, 17, 13, 0), True),
        (shanghai(2025, 11, 17, 17, 59), True),
        (shanghai(2025, 11, 17, 18, 0), False),  # closing time is not working time
        (shanghai(2025, 11, 17, 8, 59), False),
        (shanghai(2025, 11, 15, 10, 0), False),  # an ordinary Saturday
        (shanghai(2025, 11, 16, 10, 0), False),  # an ordinary Sunday
        (shanghai(2025, 9, 28, 10, 0), True),  # Sunday worked to make up National Day
        (shanghai(2025, 9, 28, 12, 30), False),  # ... with its lunch break
        (shanghai(2025, 10, 1, 10, 0), False),  # National Day
        (shanghai(2025, 10, 6, 10, 0), False),  # Mid-Autumn Festival, a Monday
        (shanghai(2025, 10, 8, 10, 0), False),  # the holiday's last day, a Wednesday
        (shanghai(2025, 10, 9, 9, 0), True),  # back to work
        (shanghai(2025, 10, 11, 10, 0), True),  # Saturday worked to make up National Day
        (shanghai(2025, 10, 12, 10, 0), False),  # the Sunday after it is off
        (shanghai(2026, 2, 14, 10, 0), True),  # Saturday worked before the 2026 Spring Festival
        (shanghai(2026, 2, 17, 10, 0), False),  # Spring Festival
        (shanghai(2026, 2, 28, 10, 0), True),  # Saturday worked after it
        (dt.datetime(2025, 11, 17, 1, 30, tzinfo=dt.UTC), True),  # 09:30 in Beijing
        (dt.datetime(2025, 11, 17, 0, 30, tzinfo=dt.UTC), False),  # 08:30 in Beijing
    ],
)
def test_working_time_follows_hours_lunch_weekends_holidays_and_make_up_days(
    moment: dt.datetime, working: bool
) -> None:
    assert is_working_time(CHINA, moment) is working


@pytest.mark.parametrize(
    ("start", "added", "due"),
    [
        (shanghai(2025, 11, 17, 9, 0), 30 * MINUTE, shanghai(2025, 11, 17, 9, 30)),
        (shanghai(2025, 11, 17, 11, 30), HOUR, shanghai(2025, 11, 17, 13, 30)),  # over lunch
        (
            shanghai(2025, 11, 17, 9, 0),
            3 * HOUR,
            shanghai(2025, 11, 17, 12, 0),
        ),  # due at noon, not after lunch
        (shanghai(2025, 11, 17, 9, 0), 4 * HOUR, shanghai(2025, 11, 17, 14, 0)),
        (shanghai(2025, 11, 17, 12, 30), 30 * MINUTE, shanghai(2025, 11, 17, 13, 30)),  # starts in lunch
        (shanghai(2025, 11, 17, 7, 0), 30 * MINUTE, shanghai(2025, 11, 17, 9, 30)),  # before opening
        (shanghai(2025, 11, 14, 17, 0), 2 * HOUR, shanghai(2025, 11, 17, 10, 0)),  # Friday to Monday
        (shanghai(2025, 11, 15, 10, 0), 30 * MINUTE, shanghai(2025, 11, 17, 9, 30)),  # from a Saturday
        (shanghai(2025, 11, 17, 10, 0), 24 * HOUR, shanghai(2025, 11, 20, 10, 0)),  # 3 business days
        (shanghai(2025, 11, 17, 10, 0), 40 * HOUR, shanghai(2025, 11, 24, 10, 0)),  # 5 business days
        # Tuesday before National Day: 1 h that evening, then nothing until Thursday 9 October
        (shanghai(2025, 9, 30, 17, 0), 4 * HOUR, shanghai(2025, 10, 9, 12, 0)),
        # Friday 26 September: on to the make-up Sunday, skipping Saturday
        (shanghai(2025, 9, 26, 17, 0), 2 * HOUR, shanghai(2025, 9, 28, 10, 0)),
        # Friday 10 October: on to the make-up Saturday
        (shanghai(2025, 10, 10, 17, 30), HOUR, shanghai(2025, 10, 11, 9, 30)),
        (shanghai(2025, 11, 17, 10, 0), dt.timedelta(0), shanghai(2025, 11, 17, 10, 0)),
        (shanghai(2025, 11, 15, 10, 0), dt.timedelta(0), shanghai(2025, 11, 15, 10, 0)),
    ],
)
def test_adding_business_time_by_hand(start: dt.datetime, added: dt.timedelta, due: dt.datetime) -> None:
    assert add_business_time(CHINA, start, added) == due


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (shanghai(2025, 11, 17, 0, 0), shanghai(2025, 11, 18, 0, 0), 8),  # a working day has 8 hours
        (shanghai(2025, 11, 17, 11, 0), shanghai(2025, 11, 17, 14, 0), 2),  # lunch does not count
        (shanghai(2025, 11, 14, 0, 0), shanghai(2025, 11, 21, 0, 0), 40),  # an ordinary week
        # Monday 29 September to Sunday 12 October: 29, 30 September, 9, 10 and 11 October
        (shanghai(2025, 9, 29, 0, 0), shanghai(2025, 10, 13, 0, 0), 40),
        (shanghai(2025, 9, 27, 0, 0), shanghai(2025, 9, 29, 0, 0), 8),  # the weekend with a make-up Sunday
        (shanghai(2025, 10, 1, 0, 0), shanghai(2025, 10, 9, 0, 0), 0),  # the whole holiday
        (shanghai(2025, 11, 17, 14, 0), shanghai(2025, 11, 17, 11, 0), -2),  # backwards
    ],
)
def test_business_time_between_by_hand(start: dt.datetime, end: dt.datetime, hours: int) -> None:
    assert business_time_between(CHINA, start, end) == hours * HOUR


def test_the_next_working_moment_skips_lunch_nights_weekends_and_holidays() -> None:
    assert next_working_moment(CHINA, shanghai(2025, 11, 17, 12, 15)) == shanghai(2025, 11, 17, 13, 0)
    assert next_working_moment(CHINA, shanghai(2025, 11, 17, 18, 0)) == shanghai(2025, 11, 18, 9, 0)
    assert next_working_moment(CHINA, shanghai(2025, 11, 15, 9, 0)) == shanghai(2025, 11, 17, 9, 0)
    assert next_working_moment(CHINA, shanghai(2025, 9, 27, 9, 0)) == shanghai(2025, 9, 28, 9, 0)
    assert next_working_moment(CHINA, shanghai(2025, 9, 30, 18, 0)) == shanghai(2025, 10, 9, 9, 0)
    assert next_working_moment(CHINA, shanghai(2025, 11, 17, 10, 0)) == shanghai(2025, 11, 17, 10, 0)


def test_results_are_in_the_calendars_time_zone_whatever_the_input() -> None:
    due = add_business_time(CHINA, dt.datetime(2025, 11, 17, 1, 0, tzinfo=dt.UTC), HOUR)
    assert due.tzinfo == SHANGHAI
    assert due == shanghai(2025, 11, 17, 10, 0)


# --- the calendar's own holidays and working days -------------------------------------------


def china_with(**extra: list[str]) -> BusinessCalendar:
    return calendar_from_definition(
        {
            "time_zone": "Asia/Shanghai",
            "public_holidays": "china",
            "working_hours": {day: ["09:00-12:00", "13:00-18:00"] for day in OFFICE_DAYS},
            **extra,
        }
    )


def test_a_company_day_off_is_not_working_time() -> None:
    calendar = china_with(extra_holidays=["2025-11-17"])
    assert not is_working_time(calendar, shanghai(2025, 11, 17, 10, 0))
    assert add_business_time(calendar, shanghai(2025, 11, 14, 17, 0), 2 * HOUR) == shanghai(
        2025, 11, 18, 10, 0
    )


def test_a_working_day_of_the_company_wins_over_a_public_holiday() -> None:
    calendar = china_with(extra_working_days=["2025-10-08"])
    assert is_working_time(calendar, shanghai(2025, 10, 8, 10, 0))
    assert not is_working_time(calendar, shanghai(2025, 10, 8, 12, 30))  # with Monday's lunch break


def test_a_holiday_of_the_company_wins_over_a_make_up_day() -> None:
    calendar = china_with(extra_holidays=["2025-09-28"])
    assert not is_working_time(calendar, shanghai(2025, 9, 28, 10, 0))


def test_years_the_library_does_not_know_yet_follow_the_plain_week_and_the_extra_days() -> None:
    assert is_working_time(CHINA, shanghai(2027, 1, 4, 10, 0))  # a Monday
    assert not is_working_time(CHINA, shanghai(2027, 1, 2, 10, 0))  # a Saturday
    assert not is_working_time(china_with(extra_holidays=["2027-01-01"]), shanghai(2027, 1, 1, 10, 0))


def test_without_public_holidays_national_day_is_an_ordinary_wednesday() -> None:
    plain = calendar_from_definition(
        {"time_zone": "Asia/Shanghai", "working_hours": {day: ["09:00-18:00"] for day in OFFICE_DAYS}}
    )
    assert is_working_time(plain, shanghai(2025, 10, 1, 10, 0))
    assert not is_working_time(plain, shanghai(2025, 9, 28, 10, 0))


def test_a_make_up_sunday_works_the_first_working_days_hours() -> None:
    calendar = calendar_from_definition(
        {
            "time_zone": "Asia/Shanghai",
            "public_holidays": "china",
            "working_hours": {"monday": ["08:00-16:00"], "saturday": ["10:00-12:00"]},
        }
    )
    assert calendar.hours_on(dt.date(2025, 9, 28)) == ((480, 960),)  # Sunday: Monday's hours
    assert calendar.hours_on(dt.date(2025, 10, 11)) == ((600, 720),)  # Saturday keeps its own
    assert calendar.hours_on(dt.date(2025, 10, 4)) == ()  # a Saturday inside the holiday


# --- a time zone with summer time ---------------------------------------------------------


def test_office_hours_in_berlin_are_the_same_length_on_the_days_the_clocks_change() -> None:
    # Summer time starts on Sunday 30 March 2025 and ends on Sunday 26 October 2025.
    assert business_time_between(BERLIN_OFFICE, berlin(2025, 3, 28, 0), berlin(2025, 4, 1, 0)) == 16 * HOUR
    assert business_time_between(BERLIN_OFFICE, berlin(2025, 10, 24, 0), berlin(2025, 10, 28, 0)) == 16 * HOUR
    assert add_business_time(BERLIN_OFFICE, berlin(2025, 3, 28, 16, 0), 2 * HOUR) == berlin(
        2025, 3, 31, 10, 0
    )
    assert add_business_time(BERLIN_OFFICE, berlin(2025, 10, 24, 16, 0), 2 * HOUR) == berlin(
        2025, 10, 27, 10, 0
    )


def test_a_round_the_clock_desk_works_23_hours_in_spring_and_25_in_autumn() -> None:
    assert business_time_between(BERLIN_24_7, berlin(2025, 3, 30, 0), berlin(2025, 3, 31, 0)) == 23 * HOUR
    assert business_time_between(BERLIN_24_7, berlin(2025, 10, 26, 0), berlin(2025, 10, 27, 0)) == 25 * HOUR
    assert business_time_between(BERLIN_24_7, berlin(2025, 7, 1, 0), berlin(2025, 7, 2, 0)) == 24 * HOUR


def test_a_night_shift_across_the_change_counts_the_hours_that_really_pass() -> None:
    night = calendar_from_definition(
        {"time_zone": "Europe/Berlin", "working_hours": {"sunday": ["01:00-04:00"]}}
    )
    assert business_time_between(night, berlin(2025, 3, 30, 0), berlin(2025, 3, 31, 0)) == 2 * HOUR
    assert business_time_between(night, berlin(2025, 10, 26, 0), berlin(2025, 10, 27, 0)) == 4 * HOUR


def test_an_hour_in_utc_is_an_hour_of_the_round_the_clock_desk_across_the_change() -> None:
    start = dt.datetime(2025, 10, 25, 22, 0, tzinfo=dt.UTC)
    due = add_business_time(BERLIN_24_7, start, 6 * HOUR)
    assert due == start + 6 * HOUR
    assert due.utcoffset() == HOUR  # back on winter time


# --- refused input -------------------------------------------------------------------------


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        is_working_time(CHINA, dt.datetime(2025, 11, 17, 10, 0))
    with pytest.raises(ValueError, match="no time zone"):
        add_business_time(CHINA, dt.datetime(2025, 11, 17, 10, 0), HOUR)
    with pytest.raises(ValueError, match="no time zone"):
        business_time_between(CHINA, shanghai(2025, 11, 17, 10), dt.datetime(2025, 11, 18, 10, 0))


def test_a_date_is_not_a_moment() -> None:
    with pytest.raises(TypeError, match="must be a datetime"):
        next_working_moment(CHINA, dt.date(2025, 11, 17))  # type: ignore[arg-type]


def test_negative_business_time_cannot_be_added() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(CHINA, shanghai(2025, 11, 17, 10), -HOUR)


@pytest.mark.parametrize(
    ("week", "holidays", "working_days", "message"),
    [
        ((((540, 720), (700, 800)),) + ((),) * 6, (), (), "overlap"),
        ((((720, 540),),) + ((),) * 6, (), (), "overlap or are out of order"),
        ((((780, 1080), (540, 720)),) + ((),) * 6, (), (), "out of order"),
        (((),) * 7, (), (), "at least one weekday"),
        ((((540, 1080),),) * 5, (), (), "7 days"),
        (
            (((540, 1080),),) * 7,
            [dt.date(2025, 1, 1)],
            [dt.date(2025, 1, 1)],
            "both a holiday and a working day",
        ),
    ],
)
def test_malformed_calendars_are_refused(
    week: tuple[tuple[tuple[int, int], ...], ...],
    holidays: list[dt.date],
    working_days: list[dt.date],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(SHANGHAI, week, frozenset(holidays), frozenset(working_days))


def test_a_calendar_without_working_time_for_over_a_year_says_so() -> None:
    mondays = frozenset(dt.date(2025, 1, 6) + dt.timedelta(weeks=n) for n in range(120))
    calendar = BusinessCalendar(SHANGHAI, (((540, 1080),),) + ((),) * 6, holidays=mondays)
    with pytest.raises(ValueError, match="no working time in the 366 days"):
        next_working_moment(calendar, shanghai(2025, 1, 1, 0, 0))
    # a span with an end is still measured
    assert business_time_between(calendar, shanghai(2025, 1, 1), shanghai(2027, 1, 1)) == dt.timedelta(0)


@pytest.mark.parametrize(
    ("text", "interval"),
    [("09:00-12:00", (540, 720)), ("00:00-24:00", (0, 1440)), ("13:30-18:00", (810, 1080))],
)
def test_intervals_are_read_as_minutes_of_the_day(text: str, interval: tuple[int, int]) -> None:
    assert parse_interval(text) == interval


@pytest.mark.parametrize(
    "text", ["12:00-09:00", "09:00-09:00", "24:00-24:00", "9:00-12:00", "09:00", "09:60-10:00", ""]
)
def test_malformed_intervals_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="09:00-12:00|does not end after"):
        parse_interval(text)


# --- properties, by the hundred ---------------------------------------------------------------

CALENDARS = st.sampled_from([CHINA, BERLIN_OFFICE, BERLIN_24_7])
MOMENTS = st.datetimes(
    min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2026, 11, 30), allow_imaginary=False
).flatmap(
    lambda naive: st.sampled_from([SHANGHAI, BERLIN, dt.UTC]).map(lambda zone: naive.replace(tzinfo=zone))
)
#: Up to about 30 business days of 8 hours, to the second.
DURATIONS = st.integers(min_value=0, max_value=30 * 8 * 3600).map(lambda s: dt.timedelta(seconds=s))
PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(CALENDARS, MOMENTS, DURATIONS, DURATIONS)
def test_adding_in_two_steps_is_adding_the_sum(
    calendar: BusinessCalendar, moment: dt.datetime, a: dt.timedelta, b: dt.timedelta
) -> None:
    assert add_business_time(calendar, moment, a + b) == add_business_time(
        calendar, add_business_time(calendar, moment, a), b
    )


@PROPERTY
@given(CALENDARS, MOMENTS, DURATIONS)
def test_the_time_between_a_moment_and_itself_plus_n_is_n(
    calendar: BusinessCalendar, moment: dt.datetime, n: dt.timedelta
) -> None:
    assert business_time_between(calendar, moment, add_business_time(calendar, moment, n)) == n


@PROPERTY
@given(CALENDARS, MOMENTS, DURATIONS, DURATIONS)
def test_more_business_time_is_never_earlier(
    calendar: BusinessCalendar, moment: dt.datetime, a: dt.timedelta, b: dt.timedelta
) -> None:
    shorter, longer = sorted([a, b])
    assert to_utc(add_business_time(calendar, moment, shorter)) <= to_utc(
        add_business_time(calendar, moment, longer)
    )


@PROPERTY
@given(CALENDARS, MOMENTS, MOMENTS, DURATIONS)
def test_a_later_start_is_never_due_earlier(
    calendar: BusinessCalendar, a: dt.datetime, b: dt.datetime, n: dt.timedelta
) -> None:
    early, late = sorted([a, b], key=to_utc)
    assert to_utc(add_business_time(calendar, early, n)) <= to_utc(add_business_time(calendar, late, n))


@PROPERTY
@given(CALENDARS, MOMENTS, DURATIONS.filter(bool))
def test_a_due_moment_ends_a_stretch_of_working_time(
    calendar: BusinessCalendar, moment: dt.datetime, n: dt.timedelta
) -> None:
    due = add_business_time(calendar, moment, n)
    assert is_working_time(calendar, due - dt.timedelta(microseconds=1))
    assert to_utc(due) > to_utc(moment)


@PROPERTY
@given(CALENDARS, MOMENTS)
def test_the_next_working_moment_is_working_time_with_none_before_it(
    calendar: BusinessCalendar, moment: dt.datetime
) -> None:
    following = next_working_moment(calendar, moment)
    assert to_utc(following) >= to_utc(moment)
    assert is_working_time(calendar, following)
    assert business_time_between(calendar, moment, following) == dt.timedelta(0)
    assert is_working_time(calendar, moment) is (to_utc(following) == to_utc(moment))


@PROPERTY
@given(CALENDARS, MOMENTS, MOMENTS, MOMENTS)
def test_business_time_adds_up_over_consecutive_spans_in_any_order(
    calendar: BusinessCalendar, a: dt.datetime, b: dt.datetime, c: dt.datetime
) -> None:
    assert business_time_between(calendar, a, b) + business_time_between(
        calendar, b, c
    ) == business_time_between(calendar, a, c)


@PROPERTY
@given(CALENDARS, MOMENTS, MOMENTS)
def test_business_time_is_never_more_than_the_time_that_passes(
    calendar: BusinessCalendar, a: dt.datetime, b: dt.datetime
) -> None:
    start, end = sorted([a, b], key=to_utc)
    assert dt.timedelta(0) <= business_time_between(calendar, start, end) <= to_utc(end) - to_utc(start)
    assert business_time_between(calendar, end, start) == -business_time_between(calendar, start, end)


def _chinese_office_minute(moment: dt.datetime) -> bool:
    """An oracle written independently of the calendar module: the library's own is_workday."""
    local = moment.astimezone(SHANGHAI)
    minute = local.hour * 60 + local.minute
    return chinese_calendar.is_workday(local.date()) and (540 <= minute < 720 or 780 <= minute < 1080)


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2026, 12, 25)).map(
        lambda naive: naive.replace(second=0, microsecond=0, tzinfo=SHANGHAI)
    ),
    st.integers(min_value=0, max_value=3 * 24 * 60),
)
def test_the_china_calendar_agrees_minute_by_minute_with_the_librarys_workdays(
    start: dt.datetime, minutes: int
) -> None:
    counted = sum(_chinese_office_minute(start + n * MINUTE) for n in range(minutes))
    assert business_time_between(CHINA, start, start + minutes * MINUTE) == counted * MINUTE
    assert is_working_time(CHINA, start) is _chinese_office_minute(start)
