"""Forecasts: the statistics on synthetic histories with known answers, the honesty rules, earned
schedule against Lipke's worked example, and the forecast API under the access rules."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from test_workflows import PASSWORD, Cast, act, cast

from conftest import api_token, databases, login, settings_for
from itpm.access import Actor
from itpm.automations.jobs import drain
from itpm.charts.forecast import fan
from itpm.cli import main
from itpm.db import utcnow
from itpm.forecast.backtest import (
    Scored,
    issue_forecasts,
    kept_of_milestones,
    nightly,
    raised_before,
    score,
)
from itpm.forecast.evm import PlannedTask, earned_schedule, earned_value, spi_t
from itpm.forecast.flags import (
    CriticalTask,
    Flag,
    Overdue,
    Person,
    over_capacity_on_critical_path,
    risk_flags,
)
from itpm.forecast.service import forecast_project
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
from itpm.models import IssuedForecast, Notification, OutboxEvent, WebhookDelivery
from itpm.planning.workload import Capacity, PlannedWork
from itpm.records.service import Records
from itpm.sla.calendar import BusinessCalendar
from itpm.web.app import create_app

TODAY = dt.date(2026, 6, 1)
ZONE = "Asia/Shanghai"


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
    # work is added until the planned finish only: four weeks at 6 net, then 36 left at 10 a week
    planned = forecast_finish(60, steady(8, 10, added=4), TODAY, planned=TODAY + dt.timedelta(days=28))
    assert planned.percentiles[50] == TODAY + dt.timedelta(days=54)  # 7.6 weeks


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


def test_a_block_of_scope_in_the_history_is_one_event_not_a_weekly_pace() -> None:
    # 12 weeks of 6 finished and 1 added, but for one week that added a block of 30 (a change request);
    # projects of the same type never had a block. The truth ahead: 6 finished and 1 added a week until
    # the planned finish in 10 weeks, so 40 open tasks take 8 weeks (net 5 a week).
    added = (1,) * 5 + (31,) + (1,) * 6
    own = History((6,) * 12, added, TODAY - dt.timedelta(days=83), TODAY)
    type_weeks = [History((6,) * 15, (1,) * 15, None, None)] * 3
    planned = TODAY + dt.timedelta(days=70)
    truth = TODAY + dt.timedelta(days=56)
    forecast = forecast_finish(40, own, TODAY, planned, type_weeks, runs=4000, seed=1)
    assert forecast.block_rate == round(1 / 57, 4) and forecast.block_size == 30 - 3
    assert truth - dt.timedelta(days=7) <= forecast.percentiles[50] <= truth + dt.timedelta(days=7)
    # drawn as a weekly pace, the block came back about every 12 weeks: P85 was 129 days out; as one
    # block in 57 weeks, about one run in five still gets a block before the planned finish
    assert truth < forecast.percentiles[85] <= truth + dt.timedelta(days=42)


def test_blocks_of_scope_that_do_recur_are_forecast_at_their_rate() -> None:
    # each week adds one task, and with chance 0.1 a block of 20; a project and three of its type
    # observed 20 weeks each; the P85 date of 40 open tasks, planned in 12 weeks, is met about 85%
    truth = np.random.default_rng(11)

    def weeks(n: int) -> tuple[np.ndarray, np.ndarray]:
        return truth.poisson(8, size=n), truth.poisson(1, size=n) + 20 * (truth.random(n) < 0.1)

    met, trials = 0, 200
    for trial in range(trials):
        histories = [History(*(tuple(int(x) for x in a) for a in weeks(20)), None, None) for _ in range(4)]
        planned = TODAY + dt.timedelta(days=84)
        forecast = forecast_finish(40, histories[0], TODAY, planned, histories[1:], runs=2000, seed=trial)
        done, added = weeks(400)
        actual = finish_weeks(40, done, added, 1, truth, growth_weeks=12)[0]
        met += TODAY + dt.timedelta(days=int(np.ceil(actual * 7))) <= forecast.percentiles[85]
    assert abs(met / trials - 0.85) < 0.08


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


# --- the API, read as the project's people and as outsiders ------------------------------------


@pytest.fixture(scope="module")
def world(
    template_databases: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The cast of tests/test_workflows.py; on their project 40 tasks planned 12 weeks ago, three
    finished in each of the last ten weeks (30 done, 10 open), 600,000 of its 1,000,000 budget spent;
    a client user of another organisation."""
    folder = tmp_path_factory.mktemp("forecast")
    with databases(template_databases, folder) as make:
        app = create_app(settings_for(make("sqlite"), folder))
        runtime = app.extensions["itpm"]
        people: Cast = cast(app, runtime)
        now = utcnow().replace(microsecond=0)
        today = now.astimezone(ZoneInfo(ZONE)).date()
        start = today - dt.timedelta(weeks=12)
        system = Actor.system()
        session, records, _flows = act(runtime, system, now - dt.timedelta(weeks=12))
        ids = []
        for n in range(40):
            due = start + dt.timedelta(days=2 * n + 7)
            data = {
                "title": f"Task {n}",
                "project": people.project,
                "start_date": (due - dt.timedelta(days=6)).isoformat(),
                "due_date": due.isoformat(),
                "estimate_hours": 10,
            }
            ids.append(records.create("task", data).id)
        # a milestone after five of the open tasks (its forecast: those five and itself)
        milestone = {
            "title": "Go-live",
            "project": people.project,
            "start_date": (today + dt.timedelta(days=10)).isoformat(),
            "due_date": (today + dt.timedelta(days=10)).isoformat(),
            "milestone": True,
            "depends_on": ids[30:35],
        }
        records.create("task", milestone)
        project = records.get("project", people.project)
        records.update(
            "project",
            people.project,
            {"start_date": start.isoformat(), "budget_spent": 600_000},
            project.version,
        )
        session.commit()
        session.close()
        for n, task in enumerate(ids[:30]):
            weeks_ago = 10 - n // 3
            session, _records, flows = act(runtime, system, now - dt.timedelta(weeks=weeks_ago, hours=-1))
            flows.take("task", task, "start")
            flows.take("task", task, "finish")
            session.commit()
            session.close()
        other = Records(runtime.sessions.session_factory(), runtime.catalog(), system)
        elsewhere = other.create("customer", {"name": "Other Org"}).id
        other.session.commit()
        other.session.close()
        flask_app = app.dispatcher.app
        with flask_app.app_context():
            sm = flask_app.appbuilder.sm
            outsider = sm.add_user(
                "outsider", "Out", "Sider", "out@itpm.invalid", [sm.find_role("client")], PASSWORD
            )
            outsider.client_id = elsewhere
            sm.session.commit()
        yield {"app": app, "runtime": runtime, "people": people, "today": today}
        runtime.dispose()


def _get(world: dict[str, Any], who: str, path: str) -> Any:
    client = world["app"].test_client()
    token = api_token(client, who, PASSWORD)
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_the_project_manager_reads_the_forecast_with_its_data_evm_and_flags(world: dict[str, Any]) -> None:
    project = world["people"].project
    response = _get(world, "pm", f"/api/v1/records/project/{project}/forecast")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok" and body["runs"] == 10_000 and body["source"] == "own"
    assert body["remaining"] == 11 and body["weeks_with_work"] == 10  # 10 tasks and the milestone
    today = world["today"]
    p50, p95 = (dt.date.fromisoformat(body["percentiles"][p]) for p in ("p50", "p95"))
    assert today < p50 <= p95 <= today + dt.timedelta(weeks=8)  # 10 tasks at about 3 a week
    assert FLOOR <= body["on_time"] <= CEILING
    evm = body["evm"]
    assert evm["ev"] == pytest.approx(750_000) and evm["cpi"] == pytest.approx(1.25)
    assert evm["formulas"]["spi_t"] == "SPI(t) = ES / AT"
    assert body["baselines"]["percent_complete"] == pytest.approx(0.75)
    (milestone,) = body["milestones"]
    assert milestone["title"] == "Go-live" and milestone["remaining"] == 6 and milestone["status"] == "ok"
    assert milestone["due"] == (today + dt.timedelta(days=10)).isoformat()
    m50, m85, m95 = (dt.date.fromisoformat(milestone["percentiles"][p]) for p in ("p50", "p85", "p95"))
    assert today < m50 <= m85 <= m95 and m50 <= p50  # 6 of the 11 open tasks: sooner than the project
    assert FLOOR <= milestone["on_time"] <= CEILING


def test_the_forecast_is_404_to_whoever_may_not_read_the_project(world: dict[str, Any]) -> None:
    project = world["people"].project
    assert _get(world, "outsider", f"/api/v1/records/project/{project}/forecast").status_code == 404
    assert _get(world, "pm", "/api/v1/records/project/999999/forecast").status_code == 404
    # a record type without tasks has no forecast
    customer = world["people"].client_org
    assert _get(world, "root", f"/api/v1/records/customer/{customer}/forecast").status_code == 404


def test_forecasts_are_kept_once_a_project_a_day_and_the_nightly_run_issues_them(
    world: dict[str, Any],
) -> None:
    runtime = world["runtime"]
    now = utcnow()
    assert issue_forecasts(runtime, now, runs=1000) == {"ok": 1}
    assert issue_forecasts(runtime, now, runs=1000) == {"ok": 1}  # the same day again: replaced
    with runtime.session() as session:
        kept_rows = list(session.scalars(select(IssuedForecast)))
    assert len(kept_rows) == 1
    row = kept_rows[0]
    assert row.project_id == world["people"].project and row.as_of == world["today"]
    assert row.p50 <= row.p85 <= row.p95 and row.inputs["weeks_with_work"] == 10
    assert row.linear is not None and row.inputs["percent_complete"] == pytest.approx(0.75)
    # the scheduler's tick issues them when 02:00 company time falls in the time it covers
    zone = ZoneInfo(ZONE)
    night = dt.datetime.combine(world["today"], dt.time(2, 0), zone)
    assert nightly(runtime, night - dt.timedelta(minutes=1), night + dt.timedelta(minutes=1)) == 1
    assert nightly(runtime, night + dt.timedelta(minutes=1), night + dt.timedelta(hours=3)) == 0


def test_a_person_over_capacity_on_the_critical_path_is_flagged_with_who_when_load_and_task() -> None:
    hours = ((9 * 60, 12 * 60), (13 * 60, 18 * 60))
    calendar = BusinessCalendar(ZoneInfo(ZONE), (hours,) * 5 + ((), ()))  # Monday to Friday, no holidays
    day = lambda n: TODAY + dt.timedelta(days=n)  # noqa: E731  TODAY is a Monday
    critical = [
        CriticalTask("T-1", "Design", 1, day(0), day(4)),  # Ann: 30 h of 40 this week
        CriticalTask("T-2", "Build", 1, day(7), day(11)),  # Ann: 40 h here and 20 h elsewhere next week
        CriticalTask("T-3", "Test", 3, day(14), day(18)),  # Cai: 24 h in a week with three days of leave
    ]
    people = {
        1: Person("Ann", Capacity(calendar), (PlannedWork(30, day(0), day(4)), PlannedWork(40, day(7), day(11)),
                                               PlannedWork(20, day(7), day(11)))),
        # Bo is over capacity, but on no critical task
        2: Person("Bo", Capacity(calendar), (PlannedWork(50, day(0), day(4)),)),
        3: Person("Cai", Capacity(calendar, leave=((day(16), day(18)),)), (PlannedWork(24, day(14), day(18)),)),
    }  # fmt: skip
    flags = over_capacity_on_critical_path(critical, people, TODAY)
    assert [(f.code, f.values["person"], f.values["week"]) for f in flags] == [
        ("critical_over_capacity", "Ann", day(7).isoformat()),
        ("critical_over_capacity", "Cai", day(14).isoformat()),
    ]
    ann, cai = flags
    assert (ann.values["planned"], ann.values["capacity"], ann.values["number"]) == (60, 40, "T-2")
    assert (cai.values["planned"], cai.values["capacity"], cai.values["number"]) == (24, 16, "T-3")
    assert ann.as_json()["reason"] == (
        "Ann is booked 60 h against a capacity of 40 h in the week of 2026-06-08, with T-2 Build on the "
        "critical path"
    )
    # beyond the weeks looked at, nothing is flagged
    assert over_capacity_on_critical_path(critical, people, TODAY, weeks=1) == []


def test_the_backtest_scores_hit_rates_and_error_in_days_against_the_naive_forecasts() -> None:
    def made(actual_days: int, p50: int, p85: int, p95: int, planned: int, linear: int | None) -> Scored:
        on = lambda days: TODAY + dt.timedelta(days=days)  # noqa: E731
        return Scored(1, None, TODAY, on(actual_days), {50: on(p50), 85: on(p85), 95: on(p95)}, on(planned),
                      on(linear) if linear is not None else None)  # fmt: skip

    rows = score(
        [
            made(30, 28, 35, 40, 20, 50),  # met at P85 and P95
            made(50, 40, 45, 55, 20, None),  # met at P95 only
            made(20, 25, 30, 35, 20, 10),  # met at every percentile
            made(44, 40, 50, 60, 30, 44),
        ]
    )
    itpm, planned, linear = rows
    assert itpm.n == 4 and itpm.hits == {50: 0.25, 85: 0.75, 95: 1.0}
    assert itpm.mae_days == pytest.approx((2 + 10 + 5 + 4) / 4, abs=0.06)  # to a tenth of a day
    assert planned.mae_days == pytest.approx((10 + 30 + 0 + 14) / 4) and planned.hits[85] == 0.25
    assert linear.n == 3 and linear.mae_days == pytest.approx((20 + 10 + 0) / 3)


def test_the_project_page_shows_the_fan_chart_evm_with_formulas_in_english_and_chinese(
    world: dict[str, Any],
) -> None:
    project = world["people"].project
    client = world["app"].test_client()
    login(client, "pm", PASSWORD)
    client.get("/lang/en")
    html = client.get(f"/records/project/show/{project}").get_data(as_text=True)
    panel = html[html.find('id="itpm-forecast"') :][:6000]
    assert "<svg" in panel and "Finish-date forecast" in panel, panel
    assert "Likely finish between" in html and "SPI(t) = ES / AT" in html and "EAC = BAC / CPI" in html
    assert "10,000 runs" in html and "10 with finished work" in html
    table = html[html.find("itpm-forecast-milestones") :][:3000]
    assert "Go-live" in table and "Chance by the due date" in table and table.count("<td>20") >= 3
    client.get("/lang/zh")
    html = client.get(f"/records/project/show/{project}").get_data(as_text=True)
    assert "完工日期预测" in html and "挣值" in html and "SPI(t) = ES / AT" in html
    assert "按期完成的概率" in html and "未完成任务" in html


def test_the_fan_chart_marks_the_percentiles_and_a_planned_date_before_today() -> None:
    points = [(p, TODAY + dt.timedelta(days=p)) for p in range(5, 100, 5)]
    svg = str(fan(points, TODAY, TODAY - dt.timedelta(days=10), {"planned": "Planned"}))
    assert "P50 07-21" in svg and "P85 08-25" in svg and "P95 09-04" in svg and "Planned 05-22" in svg
    assert all(float(x) >= 0 for x in re.findall(r' x1?="(-?[\d.]+)"', svg))  # nothing drawn off the left
    assert "No forecast" in str(fan([(50, None)], TODAY))


def test_the_commands_issue_forecasts_and_print_the_backtest_table(world: dict[str, Any]) -> None:
    settings = world["runtime"].settings
    env = {
        "ITPM_DATABASE_URL": settings.database_url,
        "ITPM_INSTANCE_PATH": str(settings.instance_path),
        "ITPM_SECRET_KEY": settings.secret_key,
    }
    issued = CliRunner().invoke(main, ["forecast", "run", "--runs", "1000"], env=env)
    assert issued.exit_code == 0, issued.output
    assert "Forecasts issued: 1 ok" in issued.output
    chart = Path(settings.instance_path) / "calibration.svg"
    table = CliRunner().invoke(main, ["forecast", "backtest", "--chart", str(chart)], env=env)
    assert table.exit_code == 0, table.output
    assert "No finished project to check forecasts against yet" in chart.read_text("utf-8")
    assert "| itpm (P50 for the error) | 0 " in table.output and "| linear % complete" in table.output
    assert "Replayed: finished projects" in table.output  # none has finished here: n = 0


def test_a_flag_the_last_kept_forecast_did_not_raise_starts_the_forecast_flagged_automations(
    world: dict[str, Any],
) -> None:
    """Issue 17: flags feed the automations (`{"on": "forecast_flagged", "flags": [...]}`): an event when the
    day's forecast raises a flag its last kept one (an earlier day's) did not; none for a flag already kept."""
    from types import SimpleNamespace

    from itpm.automations.spec import Event, triggered
    from itpm.definitions.checks import check_configuration
    from itpm.definitions.documents import Document, read_documents
    from itpm.definitions.meta import MetaSchemas
    from itpm.installation import STARTER_PACK

    runtime, project_id, today = world["runtime"], world["people"].project, world["today"]
    late = Flag(
        "p85_late", "P85 %(p85)s is after the planned finish %(planned)s", {"p85": "x", "planned": "y"}
    )
    low = Flag("spi_t_low", "SPI(t) %(spi_t)s is below 0.9", {"spi_t": "0.8"})
    session = runtime.sessions.session_factory()
    try:
        records = Records(session, runtime.catalog(), Actor.system())
        project = records.get("project", project_id)
        before = session.scalar(select(func.max(OutboxEvent.id))) or 0  # other tests' runs emit too
        session.add(IssuedForecast(project_type="project", project_id=project_id, as_of=today - dt.timedelta(days=1),
                                   status="ok", remaining=1, inputs={"flags": ["p85_late"]}))  # fmt: skip
        raised_before(records, "project", project, today, SimpleNamespace(flags=[late, low]))
        raised_before(records, "project", project, today, SimpleNamespace(flags=[late]))  # nothing new
        session.flush()
        events = list(
            session.scalars(
                select(OutboxEvent).where(OutboxEvent.kind == "forecast_flagged", OutboxEvent.id > before)
            )
        )
        assert [e.payload["new"] for e in events] == [["spi_t_low"]]
        payload = events[0].payload
        assert [f["code"] for f in payload["flags"]] == ["p85_late", "spi_t_low"]
        assert payload["key"] == f"forecast_flagged:project:{project_id}:{today.isoformat()}"
        event = Event(1, "forecast_flagged", "project", project_id, payload)
        assert triggered({"on": "forecast_flagged"}, event)
        assert triggered({"on": "forecast_flagged", "flags": ["spi_t_low", "cost_over"]}, event)
        assert not triggered({"on": "forecast_flagged", "flags": ["p85_late"]}, event)  # not new today
    finally:
        session.rollback()
        session.close()
    pack, _ = read_documents(STARTER_PACK)
    for trigger, refused in (({"on": "forecast_flagged", "flags": ["p85_late"]}, False),
                             ({"on": "forecast_flagged", "flags": ["late"]}, True)):  # fmt: skip
        body = {"kind": "automation", "name": "flagged", "title": {"en": "Flagged", "zh": "预测告警"},
                "record_type": "project", "trigger": trigger,
                "actions": [{"do": "set", "fields": {"client_status": "at_risk"}}]}  # fmt: skip
        document = Document("workflows/automations/flagged.json", body)
        found = check_configuration([*pack, document], MetaSchemas(), only=[document])
        assert bool(found) is refused, [(p.path, str(p.message)) for p in found]
        if refused:
            assert found[0].path.startswith("/trigger/flags/0")


def test_the_page_the_api_the_report_and_the_kept_forecast_give_one_number(world: dict[str, Any]) -> None:
    """A product rule: a forecast shown to people comes from one definition and agrees everywhere. The
    project's own history is long (10 weeks), and a closed project of its kind brought a block of scope
    in its time: the page, the API and the client report draw on the kind's history as the nightly run
    does, so all four give the same dates, chance and flags (run last: it adds that project)."""
    from itpm.reports.service import prepare_report

    runtime, people, today = world["runtime"], world["people"], world["today"]
    now = utcnow().replace(microsecond=0)
    system = Actor.system()
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), system)
        department = records.get("project", people.project).department_id
    session, records, _flows = act(runtime, system, now - dt.timedelta(weeks=9))
    other = records.create(
        "project",
        {
            "name": "Old rollout",
            "project_type": "implementation",
            "phase": "execution",
            "start_date": (today - dt.timedelta(weeks=9)).isoformat(),
            "due_date": (today - dt.timedelta(weeks=2)).isoformat(),
            "manager": people.ids["pm"],
            "technical_lead": people.ids["lead"],
            "budget_plan": 100_000,
        },
        {"client": people.client_org, "department": department, "owner": people.ids["pm"]},
    ).id
    planned = [records.create("task", {"title": f"Old {n}", "project": other}).id for n in range(13)]
    session.commit()
    session.close()
    session, records, _flows = act(runtime, system, now - dt.timedelta(weeks=5, days=3))
    block = [records.create("task", {"title": f"Added {n}", "project": other}).id for n in range(20)]
    session.commit()
    session.close()
    for n, task in enumerate(planned[:12] + block[:20]):  # four a week for eight weeks; one left open
        session, _records, flows = act(runtime, system, now - dt.timedelta(weeks=8 - n // 4, hours=-1))
        flows.take("task", task, "start")
        flows.take("task", task, "finish")
        session.commit()
        session.close()
    with runtime.session() as session:
        session.get(Records(session, runtime.catalog(), system).model("project"), other).state = "closed"
        session.commit()

    assert issue_forecasts(runtime, now) == {"ok": 1}  # the closed project is not forecast, only lends
    with runtime.session() as session:
        kept_row = session.scalars(
            select(IssuedForecast).where(
                IssuedForecast.project_id == people.project, IssuedForecast.as_of == today
            )
        ).one()
        kept_figures = {
            "p50": kept_row.p50.isoformat(), "p85": kept_row.p85.isoformat(), "p95": kept_row.p95.isoformat(),
            "on_time": kept_row.on_time, "flags": kept_row.inputs["flags"],
        }  # fmt: skip
    assert kept_row.inputs["source"] == "own"  # its own weeks' pace, its kind's blocks of scope too
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), system, timezone=runtime.settings.timezone)
        alone = forecast_project(records, "project", records.get("project", people.project), today, priors=[])
    assert alone is not None and alone.forecast.percentiles[85].isoformat() != kept_figures["p85"]

    body = _get(world, "pm", f"/api/v1/records/project/{people.project}/forecast").get_json()
    api = {**{p: body["percentiles"][p] for p in ("p50", "p85", "p95")}, "on_time": body["on_time"],
           "flags": [f["code"] for f in body["flags"]]}  # fmt: skip
    assert api == kept_figures

    pm = people.actor(runtime, "pm")
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), pm, timezone=runtime.settings.timezone)
        figures = prepare_report(records, "client_status", {"project": people.project}, "en").context[
            "forecast"
        ]
    assert {k: figures[k] for k in ("p50", "p85", "p95", "flags")} == {
        k: kept_figures[k] for k in ("p50", "p85", "p95", "flags")
    }
    assert figures["chance"] == min(99, max(1, round(100 * kept_figures["on_time"])))

    client = world["app"].test_client()
    login(client, "pm", PASSWORD)
    client.get("/lang/en")
    html = client.get(f"/records/project/show/{people.project}").get_data(as_text=True)
    shown = (f"Likely finish between {kept_figures['p50']} (50%) and {kept_figures['p95']} (95%); "
             f"85% likely by {kept_figures['p85']}.")  # fmt: skip
    assert shown in html


def test_a_forecast_flag_tells_its_figures_only_to_staff_who_read_the_whole_project(
    sqlite_app: Any,
) -> None:
    """A `forecast_flagged` notification's `{flags}` names budgets, costs, task titles and people's bookings:
    the project manager is told them; the client's user (who reads the project, not its budget or its
    tasks) is told which flags were raised, without a figure. Finance reads the whole project but no
    task: it is told the cost, and of the critical-path task only that someone is over capacity."""
    from types import SimpleNamespace

    from itpm.automations.jobs import drain
    from itpm.models import Notification

    runtime = sqlite_app.extensions["itpm"]
    people = cast(sqlite_app, runtime)
    body = {"kind": "automation", "name": "flagged", "title": {"en": "Flagged", "zh": "预测告警"},
            "record_type": "project", "trigger": {"on": "forecast_flagged"},
            "actions": [{"do": "notify", "to": [{"user": "pm"}, {"user": "buyer"}, {"user": "cfo"}],
                         "subject": {"en": "Flagged {number}", "zh": "预测告警 {number}"},
                         "body": {"en": "Flags: {flags}", "zh": "告警：{flags}"}},
                        {"do": "webhook", "chat": "wecom", "url": "http://127.0.0.1:9/robot", "lang": "zh",
                         "subject": {"en": "Flagged {number}", "zh": "预测告警 {number}"},
                         "body": {"en": "Flags: {flags}", "zh": "告警：{flags}"}}]}  # fmt: skip
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.save_draft(body, "admin")
        registry.publish([("automation", "flagged")], "admin", "test")
    cost = Flag("cost_over", "forecast cost %(cost)s is %(share).0f%% of the budget %(budget)s (over 105%%)",
                {"cost": "1,234,567", "budget": "1,000,000", "share": 123.5})  # fmt: skip
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        task = records.create("task", {"title": "Migrate the ledger", "project": people.project}).id
        session.commit()
    busy = Flag("critical_over_capacity", "%(person)s is booked %(planned).0f h with %(title)s",
                {"person": "Lead T", "planned": 61, "title": "Migrate the ledger"}, (("task", task),))  # fmt: skip
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        project = records.get("project", people.project)
        raised_before(records, "project", project, utcnow().date(), SimpleNamespace(flags=[cost, busy]))
        session.commit()
    drain(runtime)
    with runtime.session() as session:
        told = {
            person: " ".join(
                session.scalars(select(Notification.body).where(Notification.person_id == person))
            )
            for person in (people.ids["pm"], people.ids["buyer"], people.ids["cfo"])
        }
    assert "1,234,567" in told[people.ids["pm"]] and "Migrate the ledger" in told[people.ids["pm"]]
    pm = told[people.ids["pm"]]
    assert ("告警" in pm) == ("预测成本 1,234,567" in pm), pm  # the reason in the reader's language
    finance = told[people.ids["cfo"]]
    assert "1,234,567" in finance, finance
    assert "booked over capacity" in finance or "超负荷" in finance, finance
    for figure in ("Migrate the ledger", "Lead T", "61 h"):
        assert figure not in finance, (figure, finance)
    client = told[people.ids["buyer"]]
    assert "over 105% of the budget" in client or "超过预算的 105%" in client, client
    for figure in ("1,234,567", "1,000,000", "Migrate the ledger", "Lead T", "61"):
        assert figure not in client, (figure, client)
    with runtime.session() as session:  # the staff's group chat is told each reason whole, in its language
        (robot,) = session.scalars(
            select(WebhookDelivery.payload).where(WebhookDelivery.key.like("%flagged%"))
        )
    said = json.dumps(robot, ensure_ascii=False)
    assert (
        "告警：预测成本 1,234,567" in said and "Migrate the ledger" in said and "forecast cost" not in said
    ), said


def test_labour_cost_takes_each_persons_rate_on_the_day_and_counts_the_hours_no_rate_covers() -> None:
    from itpm.forecast.evm import Booking, labour_cost

    rates = {1: [(None, 300.0), (dt.date(2026, 2, 1), 400.0)], 2: [(dt.date(2026, 1, 1), 500.0)]}
    bookings = [
        Booking(1, dt.date(2026, 1, 31), 8),  # 300 until February
        Booking(1, dt.date(2026, 2, 1), 8),  # 400 from its first day
        Booking(2, dt.date(2025, 12, 31), 2),  # before the lead's only rate: not priced
        Booking(2, dt.date(2026, 1, 2), 10),
        Booking(3, dt.date(2026, 1, 2), 4),  # no rate at all
    ]
    assert labour_cost(bookings, rates) == (8 * 300 + 8 * 400 + 10 * 500, 6)


def _costed_project(runtime: Any, people: Cast) -> None:
    """On the cast's project (budget 25,000 from 1 January): 30 h of work done and 5 h of 10 half
    done; rates, timesheets and expenses (some after 26 February), and a hand-entered spent of 99,999."""
    system = Actor.system()
    session, records, _flows = act(runtime, system)
    task = {"project": people.project, "estimate_hours": 30, "progress": 100,
            "start_date": "2026-01-01", "due_date": "2026-01-28", "title": "Design"}  # fmt: skip
    records.create("task", task)
    records.create("task", task | {"title": "Build", "estimate_hours": 10, "progress": 50,
                                   "start_date": "2026-01-29", "due_date": "2026-02-25"})  # fmt: skip
    dev, lead, pm = (people.ids[n] for n in ("dev", "lead", "pm"))
    for person, rate, start in ((dev, 300, None), (dev, 400, "2026-02-01"), (lead, 500, "2026-01-01")):
        records.create(
            "cost_rate", {"person": person, "hourly_rate": rate} | ({"valid_from": start} if start else {})
        )
    for person, day, hours in ((dev, "2026-01-15", 8), (dev, "2026-01-20", 8), (dev, "2026-02-10", 8),
                               (lead, "2026-01-10", 10), (pm, "2026-02-05", 4), (dev, "2026-03-05", 8)):  # fmt: skip
        records.create(
            "timesheet", {"project": people.project, "work_date": day, "hours": hours}, {"owner": person}
        )
    for day, amount in (("2026-01-20", 2_000), ("2026-02-14", 5_000), ("2026-03-10", 3_000)):
        records.create("expense", {"project": people.project, "spent_on": day, "amount": amount})
    project = records.get("project", people.project)
    records.update("project", people.project, {"budget_spent": 99_999}, project.version)
    session.commit()
    session.close()


def test_actual_cost_is_timesheet_hours_times_rates_plus_expenses_for_those_who_read_them_all(
    sqlite_app: Any,
) -> None:
    """AC = 16 h × 300 + 8 h × 400 + 10 h × 500 + 2,000 + 5,000 = 20,000 on 26 February (the pm's 4 h
    have no rate; what comes later is not counted); EV = 25,000 × 35/40 = 21,875, CPI = 1.09375,
    EAC = 25,000 / CPI = 22,857, VAC = 2,143. The hand-entered 99,999 is not used. The engineer (own
    timesheets only), the client (no timesheets, no rates) and a project manager whose role an admin
    changed to hide the hourly rate get no cost figure at all."""
    runtime = sqlite_app.extensions["itpm"]
    people = cast(sqlite_app, runtime, budget=25_000)
    _costed_project(runtime, people)
    as_of = dt.date(2026, 2, 26)

    def found(who: str) -> Any:
        with runtime.session() as session:
            records = Records(session, runtime.catalog(), people.actor(runtime, who))
            return forecast_project(records, "project", records.get("project", people.project), as_of)

    for who in ("pm", "cfo", "root"):
        forecast = found(who)
        cost, evm = forecast.cost, forecast.evm
        assert (cost.source, cost.amount, cost.hours, cost.unpriced_hours) == ("timesheets", 20_000, 38, 4), (
            who
        )
        assert (cost.labour, cost.expenses) == (13_000, 7_000)
        if who == "cfo":  # finance reads no task: no earned value to set the cost against
            assert evm is None
            continue
        assert evm.ac == 20_000 and evm.ev == pytest.approx(21_875) and evm.cpi == pytest.approx(1.09375)
        assert evm.eac == pytest.approx(22_857.14, abs=0.01) and evm.vac == pytest.approx(2_142.86, abs=0.01)
    for who, withheld in (("dev", "timesheets"), ("buyer", "timesheets")):
        forecast = found(who)
        assert forecast.evm is None and forecast.cost.amount is None, who
        assert forecast.cost.as_json() == {"source": "withheld", "amount": None, "withheld": withheld}

    client = sqlite_app.test_client()
    login(client, "pm", PASSWORD)
    client.get("/lang/en")
    html = client.get(f"/records/project/show/{people.project}").get_data(as_text=True)
    row = html[html.find("itpm-actual-cost") :][:1500]
    # the page is as of today: the March timesheet (8 h × 400) and expense (3,000) count too
    assert 'data-source="timesheets"' in row and "26,200" in row and "AC = Σ hours × rate + expenses" in row
    assert "46.0 hours on timesheets" in row and "= 16,200, plus 10,000 of expenses" in row
    assert "4.0 hours are not counted" in row and "99,999" not in html[html.find("itpm-evm") :][:4000]
    client.get("/lang/zh")
    html = client.get(f"/records/project/show/{people.project}").get_data(as_text=True)
    assert "工时记录共 46.0 小时" in html

    api = sqlite_app.test_client()  # not signed in as the project manager
    token = api_token(api, "buyer", PASSWORD)
    response = api.get(
        f"/api/v1/records/project/{people.project}/forecast", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200  # the client reads their project: no cost, no rate, no expense
    body = response.get_data(as_text=True)
    assert response.get_json()["evm"] is None and response.get_json()["actual_cost"]["amount"] is None
    for figure in ("26200", "16200", "99999", "hourly_rate", "300.0", "500.0", "400.0"):
        assert figure not in body, figure

    # an admin hides the hourly rate from project managers: their EVM has no cost figure any more
    with runtime.session() as session:
        registry = runtime.registry(session)
        role = copy.deepcopy(registry.published_body(registry.get("role", "project_manager")))
        role["records"]["cost_rate"]["fields"] = {"hourly_rate": "hidden"}
        registry.save_draft(role, "admin")
        registry.publish([("role", "project_manager")], "admin", "test")
        session.commit()
    forecast = found("pm")
    assert forecast.evm is None and forecast.cost.withheld == "rates"
    html = client.get(f"/records/project/show/{people.project}").get_data(as_text=True)
    assert "itpm-evm-withheld" in html and "26,200" not in html


def test_the_nightly_run_sets_spent_to_the_timesheet_cost_and_the_budget_alert_reads_it(
    sqlite_app: Any,
) -> None:
    """With timesheets and rates, the project's spent is what the EVM's actual cost is (26,200 today):
    the nightly run writes it, as the system, so the budget alert (over 105% of 24,000) fires on it and
    the page's spent and AC are one number. A second run changes nothing; a project without timesheets
    keeps its hand-entered spent (the world's 600,000, in the tests above)."""
    runtime = sqlite_app.extensions["itpm"]
    people = cast(sqlite_app, runtime, budget=24_000)
    _costed_project(runtime, people)  # its hand-entered 99,999 turned the project red; a manager resets it
    session, records, _flows = act(runtime, Actor.system(), utcnow())
    project = records.get("project", people.project)
    records.update("project", people.project, {"budget_spent": 10_000, "health": "green"}, project.version)
    session.commit()
    session.close()
    finance = people.ids["cfo"]
    with runtime.session() as session:
        told = session.scalar(select(func.count()).where(Notification.person_id == finance))

    issue_forecasts(runtime, utcnow(), runs=1000)
    drain(runtime)  # the automations, as a worker runs them
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system())
        project = records.get("project", people.project)
        forecast = forecast_project(
            records, "project", project, records.clock().astimezone(records.zone).date()
        )
        assert float(project.budget_spent) == forecast.cost.amount == 26_200
        assert project.health == "red"  # the budget alert read the new spent
        notes = session.scalars(
            select(Notification).where(Notification.person_id == finance).order_by(Notification.id)
        ).all()
        version = project.version
    assert len(notes) == told + 1 and notes[-1].subject.startswith("预算超支")  # the CFO reads Chinese
    assert "已支出 ¥26,200.00，计划预算为 ¥24,000.00" in notes[-1].body  # as the project's form shows money
    issue_forecasts(runtime, utcnow(), runs=1000)
    with runtime.session() as session:
        assert (
            Records(session, runtime.catalog(), Actor.system()).get("project", people.project).version
            == version
        )


def test_a_milestones_kept_forecast_is_scored_when_the_milestone_is_done(world: dict[str, Any]) -> None:
    """The nightly forecast keeps each open milestone's dates with the project's; once the milestone is
    done, the backtest scores them against the day it was, beside its due date (last in this module:
    it finishes the world's milestone)."""
    runtime, today = world["runtime"], world["today"]
    now = utcnow()
    issue_forecasts(runtime, now, runs=1000)
    with runtime.session() as session:
        row = session.scalars(select(IssuedForecast).where(IssuedForecast.as_of == today)).one()
        (kept_one,) = row.inputs["milestones"]
    assert kept_one["due"] == (today + dt.timedelta(days=10)).isoformat()
    p50, p85, p95 = (dt.date.fromisoformat(kept_one[p]) for p in ("p50", "p85", "p95"))
    assert today < p50 <= p85 <= p95 and FLOOR <= kept_one["on_time"] <= CEILING

    done_at = now + dt.timedelta(days=4)
    session, records, flows = act(runtime, Actor.system(), done_at)
    task = records.model("task")
    milestone = session.scalar(select(task.id).where(task.title == "Go-live"))
    flows.take("task", milestone, "start")
    flows.take("task", milestone, "finish")
    session.commit()
    session.close()
    done_on = done_at.astimezone(ZoneInfo(ZONE)).date()

    with runtime.session() as session:
        records = Records(session, runtime.catalog(), Actor.system(), clock=lambda: done_at, timezone=ZONE)
        (scored,) = kept_of_milestones(records)
    assert scored.milestone == kept_one["number"] and scored.actual == done_on and scored.as_of == today
    assert scored.percentiles == {50: p50, 85: p85, 95: p95} and scored.planned == today + dt.timedelta(
        days=10
    )
    itpm, due = score([scored])[:2]
    assert itpm.hits[85] == (1.0 if done_on <= p85 else 0.0) and itpm.mae_days == abs((p50 - done_on).days)
    assert due.n == 1 and due.hits[85] == 1.0 and due.mae_days == 6  # done 4 days in, due in 10

    settings = runtime.settings
    env = {
        "ITPM_DATABASE_URL": settings.database_url,
        "ITPM_INSTANCE_PATH": str(settings.instance_path),
        "ITPM_SECRET_KEY": settings.secret_key,
    }
    table = CliRunner().invoke(main, ["forecast", "backtest", "--no-replay"], env=env)
    assert table.exit_code == 0, table.output
    assert "Kept forecasts of milestones done since (n = 1 forecasts, 1 milestones)" in table.output
    assert "| due date " in table.output
