"""Forecasts: the statistics on synthetic histories with known answers, the honesty rules, earned
schedule against Lipke's worked example, and the forecast API under the access rules."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from itpm.forecast.evm import PlannedTask, earned_schedule, earned_value, spi_t
from itpm.forecast.flags import Overdue, risk_flags
from itpm.forecast.simulation import (
    CEILING,
    FLOOR,
    NO_FINISH,
    NOT_ENOUGH,
    OK,
    History,
    WorkItem,
    finish_weeks,
    forecast_finish,
    remaining_of,
    weekly_history,
)

TODAY = dt.date(2026, 6, 1)


def steady(weeks: int, per_week: int, added: int = 0) -> History:
    return History((per_week,) * weeks, (added,) * weeks, TODAY - dt.timedelta(days=7 * weeks - 1), TODAY)


# --- the statistics -----------------------------------------------------------------


def test_constant_throughput_gives_a_narrow_range_at_the_right_date() -> None:
    forecast = forecast_finish(50, steady(10, 10), TODAY, planned=TODAY + dt.timedelta(days=40))
    assert forecast.status == OK
    expected = TODAY + dt.timedelta(days=35)  # 50 tasks at 10 a week: five weeks
    assert forecast.percentiles == {50: expected, 85: expected, 95: expected}
    assert forecast.on_time == CEILING  # certain in the model, shown as 99%, never 100%


def test_scope_growth_learned_from_history_pushes_the_date_out() -> None:
    without = forecast_finish(60, steady(8, 10), TODAY)
    growing = forecast_finish(60, steady(8, 10, added=4), TODAY)
    assert without.percentiles[50] == TODAY + dt.timedelta(days=42)
    assert growing.percentiles[50] == TODAY + dt.timedelta(days=70)  # 60 / (10 - 4) = 10 weeks
    assert growing.growth == 4


def test_p85_of_a_known_distribution_is_met_about_85_percent_of_the_time() -> None:
    # the truth: weekly throughput is drawn from a known distribution; each trial forecasts from
    # 20 observed weeks, then the future is drawn from the same distribution
    truth = np.random.default_rng(7)
    met = {50: 0, 85: 0, 95: 0}
    trials = 300
    for trial in range(trials):
        history = truth.poisson(6, size=20)
        own = History(tuple(int(x) for x in history), (0,) * 20, TODAY - dt.timedelta(days=139), TODAY)
        forecast = forecast_finish(60, own, TODAY, runs=2000, seed=trial)
        actual = finish_weeks(60, truth.poisson(6, size=200), np.zeros(200, dtype=int), 1, truth)[0]
        actual_day = TODAY + dt.timedelta(days=int(np.ceil(actual * 7)))
        for p in met:
            met[p] += actual_day <= forecast.percentiles[p]
    assert abs(met[50] / trials - 0.50) < 0.10
    assert abs(met[85] / trials - 0.85) < 0.07
    assert abs(met[95] / trials - 0.95) < 0.05


def test_the_same_seed_gives_the_same_forecast_and_runs_are_vectorised() -> None:
    history = History((3, 0, 5, 8, 2, 6, 4), (1, 0, 2, 0, 0, 1, 0), TODAY - dt.timedelta(days=48), TODAY)
    first = forecast_finish(40, history, TODAY, seed=3)
    assert first == forecast_finish(40, history, TODAY, seed=3)
    assert first.runs == 10_000
    assert first.percentiles[50] <= first.percentiles[85] <= first.percentiles[95]
    assert [d for _, d in first.fan] == sorted(d for _, d in first.fan)


def test_weekly_history_counts_finished_and_added_work_by_week_from_the_first_finish() -> None:
    plan = [WorkItem(TODAY - dt.timedelta(days=60)) for _ in range(5)]  # the initial plan
    items = [
        *plan,
        WorkItem(TODAY - dt.timedelta(days=60), finished=TODAY - dt.timedelta(days=20)),
        WorkItem(TODAY - dt.timedelta(days=60), finished=TODAY - dt.timedelta(days=2)),
        WorkItem(TODAY - dt.timedelta(days=60), finished=TODAY - dt.timedelta(days=1)),
        WorkItem(TODAY - dt.timedelta(days=10)),  # added since: scope growth
        WorkItem(TODAY - dt.timedelta(days=10), cancelled=True),
        WorkItem(TODAY + dt.timedelta(days=1)),  # not known yet on the day
    ]
    history = weekly_history(items, TODAY)
    assert history.done == (1, 0, 2)
    assert history.added == (0, 2, 0)
    assert history.first == TODAY - dt.timedelta(days=20)
    assert remaining_of(items, TODAY) == 6


# --- honesty ------------------------------------------------------------------------


def test_fewer_than_five_weeks_with_finished_work_and_no_prior_is_not_enough_history() -> None:
    short = History((4, 0, 3, 5, 0, 2), (0,) * 6, TODAY - dt.timedelta(days=41), TODAY)
    forecast = forecast_finish(30, short, TODAY, planned=TODAY + dt.timedelta(days=60))
    assert forecast.status == NOT_ENOUGH
    assert forecast.percentiles == {} and forecast.on_time is None
    assert forecast.weeks_with_work == 4 and forecast.window == (short.first, short.last)
    # a prior that is itself short does not help
    assert forecast_finish(30, short, TODAY, prior=[short]).status == NOT_ENOUGH


def test_a_short_history_borrows_the_weeks_of_projects_of_the_same_type() -> None:
    short = History((4, 0, 3), (0, 0, 0), TODAY - dt.timedelta(days=20), TODAY)
    forecast = forecast_finish(30, short, TODAY, prior=[steady(12, 5), steady(3, 9)])
    assert forecast.status == OK and forecast.source == "own+type"
    assert forecast.prior_projects == 1 and forecast.weeks == 15


def test_probabilities_are_never_shown_as_zero_or_one_hundred_percent() -> None:
    late = forecast_finish(100, steady(10, 5), TODAY, planned=TODAY + dt.timedelta(days=7))
    early = forecast_finish(10, steady(10, 5), TODAY, planned=TODAY + dt.timedelta(days=365))
    assert late.on_time == FLOOR and early.on_time == CEILING
    assert late.as_json()["percentiles"]["p85"] and late.as_json()["weeks"] == 10


def test_work_added_as_fast_as_it_is_finished_has_no_finish_in_sight() -> None:
    forecast = forecast_finish(20, steady(8, 5, added=5), TODAY)
    assert forecast.status == NO_FINISH and forecast.percentiles == {}


# --- earned value ---------------------------------------------------------------------


def test_earned_schedule_follows_lipkes_worked_example() -> None:
    # "Schedule is Different" (Lipke 2003), the figure's example: at the end of July (AT = 7 months)
    # the value earned lies between the planned value of May and of June, so
    # ES = 5 + (EV - PV_May) / (PV_Jun - PV_May). Cumulative PV per month (in k$):
    pv = [10, 25, 45, 70, 100, 130, 160, 185, 205, 220, 230, 235]
    ev = 118
    assert earned_schedule(pv, ev) == pytest.approx(5 + (118 - 100) / (130 - 100))  # 5.6 months
    assert spi_t(pv, ev, 7) == pytest.approx(5.6 / 7)  # 0.8: behind, in time
    # the classic SPI of the same status reads 118 / 160 = 0.74, and at a late finish (all earned
    # in month 15) it is 1.0 while SPI(t) says 12 / 15 = 0.8
    assert spi_t(pv, 235, 15) == pytest.approx(12 / 15)
    assert earned_schedule(pv, 0) == 0 and earned_schedule(pv, 10) == 1


def test_evm_figures_cpi_eac_vac_from_budget_cost_and_tasks() -> None:
    start = dt.date(2026, 1, 5)
    tasks = [  # two four-week tasks one after the other; the first done, the second half done
        PlannedTask(40, start, start + dt.timedelta(days=27), 1.0),
        PlannedTask(40, start + dt.timedelta(days=28), start + dt.timedelta(days=55), 0.5),
    ]
    evm = earned_value(100_000, 90_000, tasks, start, start + dt.timedelta(days=56))
    assert evm is not None
    assert evm.ev == pytest.approx(75_000) and evm.pv == pytest.approx(100_000)
    assert evm.cpi == pytest.approx(75 / 90)
    assert evm.eac == pytest.approx(100_000 * 90 / 75) and evm.vac == pytest.approx(-20_000)
    assert evm.es == pytest.approx(6.0) and evm.spi_t == pytest.approx(6 / 8)
    assert evm.as_json()["formulas"]["eac"] == "EAC = BAC / CPI"


def test_risk_flags_say_why() -> None:
    start = dt.date(2026, 1, 5)
    tasks = [PlannedTask(10, start, start + dt.timedelta(days=69), 0.3)]
    evm = earned_value(100_000, 60_000, tasks, start, start + dt.timedelta(days=70))
    forecast = forecast_finish(50, steady(10, 5), TODAY, planned=TODAY + dt.timedelta(days=30))
    flags = risk_flags(
        forecast,
        evm,
        TODAY,
        milestones=[Overdue("TSK-00001", "Go-live", TODAY - dt.timedelta(days=3))],
        risks=[Overdue("RSK-1", "Key person leaves", TODAY + dt.timedelta(days=3))],
    )
    assert [f.code for f in flags] == ["p85_late", "spi_t_low", "cost_over", "milestone_overdue"]
    reasons = [f.as_json()["reason"] for f in flags]
    assert "2026-07-01" in reasons[0] and "0.30" in reasons[1] and "200%" in reasons[2]
    assert "TSK-00001" in reasons[3]
    assert risk_flags(None, None, TODAY) == []
