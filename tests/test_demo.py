"""`itpm demo`: a company with six months of history that lists, reports and inboxes show at once.

The demo is loaded once per backend at a small scale (the data the tests read
is the same at any scale, only less of it), and once at full scale on SQLite.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask import Flask
from markupsafe import escape
from pypdf import PdfReader
from sqlalchemy import func, select

from conftest import SECRET, api_token, databases, login, settings_for
from itpm.access import Actor
from itpm.automations.jobs import drain
from itpm.automations.scheduler import tick
from itpm.cli import main
from itpm.demo import OPTIONAL_TYPES, Demo, DemoRefused, DemoResult, load_demo
from itpm.models import ApprovalRequest, Comment, Notification, OutboxEvent, Person, RecordEvent
from itpm.portal.certificate import CERTIFICATE
from itpm.records.service import Records
from itpm.reports.service import preview_report, render_report
from itpm.workflows.engine import Workflows

SMALL = 0.15


@dataclass
class Loaded:
    app: Flask
    runtime: Any
    result: DemoResult
    url: str
    folder: Path
    #: Read before a session is opened: on SQLite each transaction holds the write lock.
    catalog: Any

    def model(self, type_name: str) -> Any:
        return self.catalog.models.models[type_name]

    def records(self, session: Any, username: str | None = None) -> Records:
        actor = (
            Actor.system()
            if username is None
            else Actor.of(session.scalar(select(Person).filter_by(username=username)))
        )
        return Records(session, self.catalog, actor)


def _load(url: str, folder: Path, scale: float) -> Loaded:
    from itpm.web.app import create_app

    app = create_app(settings_for(url, folder))
    runtime = app.extensions["itpm"]
    result = load_demo(runtime, scale=scale)
    return Loaded(app, runtime, result, url, folder, runtime.catalog())


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo(
    request: pytest.FixtureRequest,
    template_databases: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Loaded]:
    folder = tmp_path_factory.mktemp("demo")
    with databases(template_databases, folder) as make:
        loaded = _load(make(request.param), folder, SMALL)
        yield loaded
        loaded.runtime.dispose()


def test_every_record_type_has_records_and_every_role_a_demo_login(demo: Loaded) -> None:
    counts = {name: sum(states.values()) for name, states in demo.result.counts.items()}
    assert counts["customer"] == 7  # East China Bank's Suzhou branch among them, a child organisation
    # 13 projects of the last six months, and 10 finished ones of the last two years (itpm.demo_history:
    # the forecast's backtest has projects to check its dates against)
    assert counts["project"] == 23
    assert counts["task"] >= 80 and counts["incident"] >= 40 and counts["change_request"] >= 3
    for name in OPTIONAL_TYPES:
        if name in demo.catalog.record_types:
            assert counts[name] > 0, name
    assert not demo.result.notes
    roles = {role for _username, held, _name in demo.result.accounts for role in held.split(", ")}
    assert roles == set(demo.catalog.roles)
    logins = {username for username, _role, _name in demo.result.accounts}
    assert {"pm.demo", "engineer.demo", "support.demo", "client.demo", "admin.demo", "finance.demo"} <= logins


def test_projects_run_through_every_phase_some_late_and_over_budget(demo: Loaded) -> None:
    project = demo.model("project")
    today = dt.datetime.now(dt.UTC).date()
    with demo.runtime.session() as session:
        states = Counter(session.scalars(select(project.state)))
        late = session.scalars(
            select(project).where(project.due_date < today, project.state.not_in(["closed", "cancelled"]))
        ).all()
        over = session.scalars(select(project).where(project.budget_spent > project.budget_plan * 1.05)).all()
    assert set(states) >= {"initiation", "planning", "execution", "monitoring", "closing", "closed"}
    assert len(late) >= 2 and all(p.health in ("amber", "red") for p in late)
    assert len(over) >= 2 and all(p.health == "red" for p in over)
    assert {p.id for p in late} & {p.id for p in over}


def test_the_starter_reports_render_on_the_demo_data(demo: Loaded) -> None:
    """Every project's client status report and every department's health report, as their readers get them.

    On PostgreSQL, where only the reading differs (the layout of the same HTML is WeasyPrint's, whatever the
    database), each is read and written out as HTML, and the first of each laid out as a PDF too."""
    project, department = demo.model("project"), None
    every_pdf = not demo.url.startswith("postgresql")

    def text_of(name: str, parameters: dict[str, Any], lang: str, pdf: bool) -> str:
        if not pdf:
            return re.sub(r"<[^>]+>", " ", preview_report(system, name, parameters, lang))
        rendered = render_report(system, name, parameters, lang)
        return "".join(page.extract_text() for page in PdfReader(io.BytesIO(rendered.pdf)).pages)

    with demo.runtime.session() as session:
        system = demo.records(session)
        projects = session.scalars(select(project).order_by(project.id)).all()
        departments = sorted({p.department_id for p in projects if p.department_id})
        for index, row in enumerate(projects):
            text = text_of("client_status", {"project": row.id}, "zh", every_pdf or index == 0)
            assert row.number in text and "客户项目状态报告" in text
        for index, department in enumerate(departments):
            text = text_of("department_health", {"department": department}, "en", every_pdf or index == 0)
            assert "health" in text.lower()
    assert department is not None


def test_every_record_is_valid_against_its_type(demo: Loaded) -> None:
    catalog = demo.catalog
    with demo.runtime.session() as session:
        records = demo.records(session)
        checked = 0
        for type_name in demo.result.counts:
            model = catalog.models.models[type_name]
            for record_id in session.scalars(select(model.id)):
                assert records.problems(type_name, {}, {}, record_id) == [], (type_name, record_id)
                checked += 1
    assert checked == sum(sum(states.values()) for states in demo.result.counts.values())


def test_history_spreads_over_six_months_and_nothing_lies_in_the_future(demo: Loaded) -> None:
    now = dt.datetime.now(dt.UTC)
    with demo.runtime.session() as session:
        events = session.execute(
            select(RecordEvent.record_type, RecordEvent.record_id, RecordEvent.at).order_by(RecordEvent.id)
        ).all()
        incident = demo.model("incident")
        first, last = session.execute(
            select(func.min(incident.created_at), func.max(incident.created_at))
        ).one()
    assert (last - first).days > 140
    assert all(at <= now for _type, _id, at in events)
    previous: dict[tuple[str, int], dt.datetime] = {}
    for type_name, record_id, at in events:  # each record's history reads in order
        assert at >= previous.get((type_name, record_id), at), (type_name, record_id)
        previous[(type_name, record_id)] = at


def test_tickets_met_and_breached_their_slas_back_then(demo: Loaded) -> None:
    incident = demo.model("incident")
    month_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    with demo.runtime.session() as session:
        old = Counter(
            session.scalars(
                select(incident.sla_status).where(
                    incident.state == "resolved", incident.created_at < month_ago
                )
            )
        )
        records = demo.records(session)
        resolved = session.scalar(
            select(incident).where(incident.state == "resolved", incident.created_at < month_ago).limit(1)
        )
        shown = records.as_json(resolved)["sla"]
    assert old["met"] > old["breached"] > 0
    assert set(old) <= {"met", "breached"}  # a ticket solved weeks ago has no clock running today
    assert all(not clock["minutes_left"] for clock in shown["clocks"].values())


def test_a_department_admin_finds_gate_reviews_waiting_in_their_inbox(demo: Loaded) -> None:
    with demo.runtime.session() as session:
        inbox = Workflows(demo.records(session, "deptadmin.demo")).inbox()
        assert {task.approval.record_type for task in inbox} == {"project"}
        assert len(inbox) == 2  # a project waits to start planning, another to start its execution


def test_demo_people_sign_in_with_the_password_shown(demo: Loaded) -> None:
    client = demo.app.test_client()
    login(client, "pm.demo", demo.result.password)
    page = client.get("/records/project/list/").get_data(as_text=True)  # their projects are there
    assert "手机银行" in page or "FreshHarvest" in page
    portal = demo.app.test_client()
    login(portal, "client.demo", demo.result.password)
    page = portal.get("/records/project/list/").get_data(as_text=True)  # their organisation's only
    assert "华东银行" in page and "江南制造" not in page
    token = api_token(demo.app.test_client(), "engineer.demo", demo.result.password)
    assert token


def test_history_sets_off_no_automations_when_the_app_starts(demo: Loaded) -> None:
    with demo.runtime.session() as session:
        waiting = session.scalar(select(func.count()).where(OutboxEvent.handled_at.is_(None)))
        events = session.scalar(select(func.count()).select_from(OutboxEvent))
    assert events > 0 and waiting == 0
    now = dt.datetime.now(dt.UTC)
    assert drain(demo.runtime) == 0
    done = tick(demo.runtime, now - dt.timedelta(seconds=1), now)  # the scheduler's first round
    assert done["sla_checks"] == done["approvals_escalated"] == 0
    with demo.runtime.session() as session:
        told = session.scalars(select(Notification)).all()
    # nothing new: the only notifications are the history's NPS invitations, each answered (and read)
    assert all(n.key.startswith("nps:") and n.read_at is not None and n.created_at < now for n in told)


def test_loading_it_again_is_refused_and_changes_nothing(demo: Loaded) -> None:
    before = dict(demo.result.counts)
    with pytest.raises(DemoRefused, match="already"):
        load_demo(demo.runtime, scale=SMALL)
    env = {"ITPM_DATABASE_URL": demo.url, "ITPM_INSTANCE_PATH": str(demo.folder), "ITPM_SECRET_KEY": SECRET}
    refused = CliRunner().invoke(main, ["demo"], env=env)
    assert refused.exit_code == 1 and "nothing was changed" in refused.output
    skipped = CliRunner().invoke(main, ["demo", "--if-empty"], env=env)
    assert skipped.exit_code == 0 and "nothing was changed" in skipped.output
    with demo.runtime.session() as session:
        for type_name, states in before.items():
            count = session.scalar(select(func.count()).select_from(demo.model(type_name)))
            assert count == sum(states.values()), type_name


def test_the_same_seed_plans_the_same_company(demo: Loaded) -> None:
    now = dt.datetime(2026, 3, 16, 2, 0, tzinfo=dt.UTC)

    def plan(seed: int) -> list[Any]:
        def named(value: Any) -> Any:  # a reference by what it stands for
            return (
                getattr(value, "username", None)
                or getattr(value, "name", None)
                or [value.type, value.at.isoformat()]
            )

        demo_plan = Demo(demo.runtime, seed=seed, scale=SMALL, now=now)
        return [
            (
                p.type,
                p.at,
                p.by,
                json.dumps(p.data, default=named, sort_keys=True),
                [(s.at, s.do) for s in p.steps],
            )
            for plans in demo_plan.plans.values()
            for p in plans
        ]

    assert plan(7) == plan(7)
    assert plan(7) != plan(8)


def test_the_command_loads_a_fresh_database_once_and_keeps_the_logins_private(
    fresh_database: Any, tmp_path: Path
) -> None:
    env = {
        "ITPM_DATABASE_URL": fresh_database("sqlite"),
        "ITPM_INSTANCE_PATH": str(tmp_path),
        "ITPM_SECRET_KEY": SECRET,
    }
    first = CliRunner().invoke(main, ["demo", "--scale", "0.1", "--if-empty"], env=env)
    assert first.exit_code == 0, first.output
    password = re.search(r"password: (\S+)", first.output).group(1)
    assert "pm.demo" in first.output and "client.demo" in first.output
    accounts = tmp_path / "demo-accounts.txt"
    assert stat.S_IMODE(os.stat(accounts).st_mode) == 0o600
    assert password in accounts.read_text("utf-8")
    again = CliRunner().invoke(main, ["demo", "--if-empty"], env=env)
    assert again.exit_code == 0 and password in again.output  # `make run` shows the logins again


#: Moments the demo is loaded at: a Monday morning in Beijing (the fewest working hours since the
#: weekend), Thursday afternoon (when CI once found no change request waiting for pm.demo), a Sunday,
#: and the first working day after the National Day holiday.
DEMO_DAYS = (
    dt.datetime(2026, 11, 30, 1, 30, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 3, 7, 10, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 10, 9, 1, 5, tzinfo=dt.UTC),
)


@pytest.mark.parametrize("now", DEMO_DAYS, ids=lambda moment: moment.strftime("%a-%m-%d-%H%M"))
def test_recent_change_requests_reach_the_step_they_wait_at_on_any_day(
    demo: Loaded, now: dt.datetime
) -> None:
    """The inboxes the demo promises (the project manager's, the client's, finance's) are filled
    whatever day `itpm demo` runs: each waiting request's chain up to its step lies before now."""
    if demo.url.startswith("postgresql"):
        pytest.skip("the plan does not depend on the database")
    plans = Demo(demo.runtime, scale=1.0, now=now).plans["change_request"]
    waiting = [planned for planned in plans if planned.waits_at]
    assert {planned.waits_at for planned in waiting} == {"project_manager", "client_signoff", "finance"}
    for planned in waiting:
        done = [step.do for step in planned.steps]
        decided = 0 if planned.waits_at == "project_manager" else 2
        assert "approve" in done and done.count("decide") == decided, (planned.waits_at, done)
        assert planned.steps[-1].at <= now


def test_the_full_demo_has_about_1500_tasks_and_400_tickets(fresh_database: Any, tmp_path: Path) -> None:
    loaded = _load(fresh_database("sqlite"), tmp_path, 1.0)
    try:
        counts = {name: sum(states.values()) for name, states in loaded.result.counts.items()}
        tickets = counts["incident"] + counts["change_request"]
        # about 800 tasks of the last six months, and about 670 of the finished projects of the last two
        # years (itpm.demo_history, written in bulk)
        assert 1350 <= counts["task"] <= 1650
        assert 360 <= tickets <= 450
        assert len(loaded.result.accounts) >= 35
        with loaded.runtime.session() as session:
            waiting = Counter(
                session.scalars(select(ApprovalRequest.record_type).where(ApprovalRequest.state == "pending"))
            )
            inbox = Workflows(loaded.records(session, "pm.demo")).inbox()
        assert waiting["change_request"] >= 5 and inbox
    finally:
        loaded.runtime.dispose()


def test_the_backtest_scores_the_replayed_forecasts_of_the_demos_finished_projects(demo: Loaded) -> None:
    """The demo's past gives the backtest finished projects of both kinds; the table is computed from
    the replayed forecasts (recounted here from them), against the two naive forecasts."""
    from itpm.forecast.backtest import replayed, score
    from itpm.forecast.simulation import PERCENTILES

    with demo.runtime.session() as session:
        scored = replayed(demo.records(session), runs=500)
    projects = {s.project_id for s in scored}
    assert len(projects) >= 10 and {s.kind for s in scored} == {"implementation", "outsourcing"}
    assert all(s.as_of < s.actual for s in scored)
    rows = score(scored)
    assert [r.method for r in rows] == ["itpm (P50 for the error)", "planned date", "linear % complete"]
    itpm, planned, linear = rows
    assert itpm.n == planned.n == len(scored) and 0 < linear.n <= len(scored)
    for p in PERCENTILES:
        met = sum(s.actual <= s.percentiles[p] for s in scored) / len(scored)
        assert itpm.hits[p] == round(met, 3)
    assert itpm.hits[50] <= itpm.hits[85] <= itpm.hits[95]
    errors = [abs((s.percentiles[50] - s.actual).days) for s in scored]
    assert itpm.mae_days == round(sum(errors) / len(errors), 1)
    on_plan = sum(s.actual <= s.planned for s in scored if s.planned) / len(scored)
    assert planned.hits[85] == round(on_plan, 3)


def test_a_project_page_line_says_how_often_kept_p85_dates_of_its_type_were_met(demo: Loaded) -> None:
    """The demo keeps its finished projects' replayed forecasts, marked replayed, so the line has figures
    (and says how many were replayed); a forecast kept at the time counts beside them and is the one the
    backtest's kept table scores. Scored as readers may read them: a client user only their organisation's.
    Its open projects have today's forecast, as the nightly run issues them, which scores nothing yet."""
    from itpm.forecast.backtest import finished_projects, kept, track_record
    from itpm.models import IssuedForecast

    with demo.runtime.session() as session:
        system = demo.records(session)
        finished = finished_projects(system, "project")
        today = system.clock().astimezone(system.zone).date()
        every = list(session.scalars(select(IssuedForecast)))
        rows = [r for r in every if (r.inputs or {}).get("replayed")]
        assert rows and all(r.inputs == {"replayed": True, "runs": 2000} for r in rows)
        assert {r.project_id for r in rows} <= set(finished) and kept(system) == []
        issued = [r for r in every if r not in rows]
        assert issued and all(r.as_of == today and r.project_id not in finished for r in issued)
        assert all(r.inputs["runs"] == 10_000 and "flags" in r.inputs for r in issued)
        counted = [
            r
            for r in rows
            if r.kind == "implementation" and r.p85 and r.as_of < finished[r.project_id][1].finished
        ]
        met = sum(finished[r.project_id][1].finished <= r.p85 for r in counted)
        replayed = track_record(system, "project", "implementation")
        assert replayed is not None
        assert (replayed.forecasts, replayed.replayed) == (len(counted), len(counted))
        assert replayed.met == round(met / len(counted), 3)
        assert replayed.projects == len({r.project_id for r in counted})
        assert set(replayed.hits) == {50, 85, 95} and replayed.hits[85] == replayed.met
        p50 = sum(finished[r.project_id][1].finished <= r.p50 for r in counted if r.p50) / len(counted)
        assert replayed.hits[50] == round(p50, 3)
        model = system.model("project")
        open_one = session.scalar(
            select(model.id).where(model.project_type == "implementation", model.id.not_in(list(finished)))
        )
        client = session.scalar(select(Person.client_id).filter_by(username="client.demo"))
        ours = next(
            pid
            for pid, (p, _w) in finished.items()
            if p.project_type == "implementation" and p.client_id == client
        )
        mine = track_record(demo.records(session, "client.demo"), "project", "implementation")
        assert mine is not None and mine.projects == 1  # their organisation's finished project only
        assert mine.forecasts == sum(1 for r in counted if r.project_id == ours)
        actual = finished[ours][1].finished
        assert actual is not None
        at_the_time = IssuedForecast(
            project_type="project", project_id=ours, kind="implementation", status="ok", remaining=5,
            as_of=actual - dt.timedelta(days=30 * 12), p85=actual + dt.timedelta(days=3),
        )  # fmt: skip
        session.add(at_the_time)
        session.commit()
        try:
            both = track_record(system, "project", "implementation")
            assert both is not None and (both.forecasts, both.replayed) == (len(counted) + 1, len(counted))
            assert [s.project_id for s in kept(system)] == [ours]
        finally:
            session.delete(at_the_time)
            session.commit()
    browser = demo.app.test_client()  # the page draws the calibration chart of the kind, in both languages
    login(browser, "admin.demo", demo.result.password)
    for lang, title, series in (
        ("en", "Forecast calibration", "Projects of this type"),
        ("zh", "预测校准", "同类型项目"),
    ):
        browser.get(f"/lang/{lang}")
        html = browser.get(f"/records/project/show/{open_one}").get_data(as_text=True)
        box = html[html.find("itpm-calibration") :][:8000]
        assert "<svg" in box and title in box and f"{series} (n = " in box, (lang, box[:500])


def test_a_demo_client_sees_a_full_portal(demo: Loaded) -> None:
    """The lead client user of an organisation: projects, deliverables for the client with their documents
    to download, satisfaction answers over the months."""
    from itpm.models import StoredFile

    client = demo.app.test_client()
    login(client, "client.demo", demo.result.password)
    client.get("/lang/en")
    home = client.get("/portal/")
    assert home.status_code == 200 and "portal-card" in home.get_data(as_text=True)
    html = home.get_data(as_text=True)
    # each project under way tells the client how it goes, in the admin's words; closed ones come last
    cards = html.split('class="portal-card"')[1:]
    under_way = [c for c in cards if 'aria-current="step"' in c]
    assert under_way and cards[: len(under_way)] == under_way
    assert all("portal-status-" in c for c in under_way)
    assert {s for c in under_way for s in re.findall(r"portal-status-(\w+)", c)} >= {"on_track", "late"}
    # the history of their satisfaction: a column for each of the last six months they answered in
    csat = html.split('data-kpi="csat"', 1)[1].split("</svg>", 1)[0].split("<svg", 1)[1]
    assert len(re.findall(r"<rect ", csat)) >= 5, csat
    with demo.runtime.session() as session:
        records = demo.records(session, "client.demo")
        delivered = [d for d in session.scalars(records.query("deliverable")) if records.data(d).get("files")]
        assert delivered, "no deliverable with a document for the client"
        stored = session.get(StoredFile, records.data(delivered[0])["files"][0])
        feedback = list(session.scalars(records.query("client_feedback")))
        months = {records.data(f).get("period") for f in feedback}
        span = max(f.created_at for f in feedback) - min(f.created_at for f in feedback)
        scored = [records.data(f).get("nps") for f in feedback if records.data(f).get("nps") is not None]
        surveys = [
            (t, records.data(f)["satisfaction"], records.data(f).get("comment"), f.created_at)
            for f in feedback
            for t in ("incident", "service_request", "deliverable")
            if records.data(f).get(t)
        ]
        first = (delivered[0].id, stored.id)
    download = client.get(f"/portal/file/deliverable/{first[0]}/{first[1]}")
    assert download.status_code == 200 and "This document is demo data" in download.get_data(as_text=True)
    # an accepted one carries the certificate its client's acceptance made, as in the portal
    with demo.runtime.session() as session:
        records = demo.records(session, "client.demo")
        accepted = [d for d in session.scalars(records.query("deliverable")) if d.state == "accepted"]
        certificates = [
            (d.id, f.id)
            for d in accepted
            for f in records.files("deliverable", d.id)
            if f.field == CERTIFICATE
        ]
    assert accepted and len(certificates) == len(accepted), (len(accepted), certificates)
    pdf = client.get(f"/portal/file/deliverable/{certificates[0][0]}/{certificates[0][1]}")
    assert (
        pdf.status_code == 200 and "交付物验收证书" in PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    )
    # satisfaction scores over the months: the quarterly question of the last six months, and more
    assert len(months) >= 2 and span.days >= 60 and len(scored) >= 4, (months, span, scored)
    # the portal's survey answers: stars and comments about resolved tickets and accepted deliverables
    assert len(surveys) >= 5 and {t for t, _s, _c, _a in surveys} >= {"incident", "deliverable"}, surveys
    assert all(1 <= stars <= 5 and comment for _t, stars, comment, _a in surveys)
    answered = [at for _t, _s, _c, at in surveys]
    assert (max(answered) - min(answered)).days >= 60 and len({stars for _t, stars, _c, _a in surveys}) >= 2


def test_staff_read_the_demo_surveys_response_rates_and_the_quarters_nps_among_them(demo: Loaded) -> None:
    """Every client person was asked each quarter's NPS (an invitation in the app, read when answered)."""
    staff = demo.app.test_client()
    login(staff, "admin.demo", demo.result.password)
    staff.get("/lang/en")
    html = staff.get("/portal/").get_data(as_text=True)
    rates = html.split('id="response-rates"', 1)[1]
    [(answered, asked)] = re.findall(r"NPS, \d{4} Q\d</dt><dd>(\d+) / (\d+)", rates)
    today = dt.date.today()
    if not (today.day == 1 and today.month in (1, 4, 7, 10)):  # the quarter's invitations are out
        assert int(answered) == int(asked) == 11  # the client people, each answered
        # the account manager reads every client but only their department's feedback: the same people
        account = demo.app.test_client()
        login(account, "account.demo", demo.result.password)
        account.get("/lang/en")
        theirs = account.get("/portal/").get_data(as_text=True).split('id="response-rates"', 1)[1]
        assert re.findall(r"NPS, \d{4} Q\d</dt><dd>(\d+) / (\d+)", theirs) == [("11", "11")]
    assert re.search(r"Incident</dt><dd>\d+ / \d+ \(\d+%\)", rates)
    with demo.runtime.session() as session:
        bank = session.scalar(select(Person.id).where(Person.username == "client.demo"))
        invited = session.scalars(select(Notification).where(Notification.person_id == bank)).all()
        assert invited and all(n.read_at is not None and "/portal/survey/" in n.link for n in invited)


def test_the_parents_client_manager_sees_the_child_organisations_project(demo: Loaded) -> None:
    """East China Bank's Suzhou branch is a child organisation of the bank: the bank's client manager
    (client.demo) sees the branch's project in the portal; the branch's own lead sees the bank's nothing."""
    bank, branch = demo.app.test_client(), demo.app.test_client()
    login(bank, "client.demo", demo.result.password)
    login(branch, "zhou.min", demo.result.password)
    for client in (bank, branch):
        client.get("/lang/zh")
    seen_by_bank = bank.get("/portal/").get_data(as_text=True)
    seen_by_branch = branch.get("/portal/").get_data(as_text=True)
    assert "ECB Suzhou branch network support" in seen_by_bank and "ECB mobile banking 4.0" in seen_by_bank
    assert "ECB Suzhou branch network support" in seen_by_branch
    assert "ECB mobile banking 4.0" not in seen_by_branch and "ECB core systems" not in seen_by_branch


def test_demo_tickets_carry_conversations_and_a_client_never_reads_the_internal_notes(demo: Loaded) -> None:
    """About half the incidents taken have comments: the engineer's reply, the client's answer, the request to
    confirm the fix, and now and then a note for colleagues. The bank's client manager reads the public ones on
    the portal's ticket page and none of the internal ones; staff read both on the record's page."""
    incident = demo.model("incident")
    with demo.runtime.session() as session:
        bank = session.scalar(select(Person).where(Person.username == "client.demo"))
        theirs = select(incident.id).where(incident.client_id == bank.client_id)
        comments = session.scalars(
            select(Comment).where(Comment.record_type == "incident", Comment.record_id.in_(theirs))
        ).all()
    internal = [c for c in comments if c.internal]
    public = [c for c in comments if not c.internal]
    assert public and internal, (len(public), len(internal))
    noted = next(c.record_id for c in internal if any(p.record_id == c.record_id for p in public))
    client = demo.app.test_client()
    login(client, "client.demo", demo.result.password)
    page = client.get(f"/portal/ticket/incident/{noted}").get_data(as_text=True)
    for comment in comments:
        if comment.record_id == noted:
            assert (str(escape(comment.body)) in page) is not comment.internal, comment.body
    with demo.runtime.session() as session:  # authors by their names, not their login names
        engineer = session.get(Person, next(c.author_id for c in public if c.record_id == noted))
    assert f"{engineer.first_name} {engineer.last_name}" in page and f"{engineer.username} ·" not in page
    staff = demo.app.test_client()
    login(staff, "support.demo", demo.result.password)
    shown = staff.get(f"/records/incident/show/{noted}").get_data(as_text=True)
    assert all(str(escape(c.body)) in shown for c in comments if c.record_id == noted)


def test_the_demo_clients_ask_for_last_months_status_reports_which_the_jobs_render_as_them(
    demo: Loaded,
) -> None:
    """Each organisation's lead asked for last month's report of each open project: queued for the jobs
    (`make run`'s thread renders them once the app is up); one rendered here is listed on the portal's
    project page. Last in this module: it keeps a report on the project."""
    from itpm.models import ReportRequest
    from itpm.reports.requests import DONE, QUEUED, render_requested_report

    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(demo.runtime.settings.timezone)).date()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    with demo.runtime.session() as session:
        bank = session.scalar(select(Person).where(Person.username == "client.demo"))
        asked = session.scalars(select(ReportRequest).where(ReportRequest.requested_by_id == bank.id)).all()
        assert asked and {(r.status, r.arguments.get("month")) for r in asked} == {(QUEUED, last_month)}
        first = asked[0]
        project, request_id = first.arguments["project"], first.id
    client = demo.app.test_client()
    login(client, "client.demo", demo.result.password)
    client.get("/lang/en")
    assert f"Being prepared: {last_month}" in client.get(f"/portal/project/{project}").get_data(as_text=True)
    assert render_requested_report(demo.runtime, request_id) == DONE
    page = client.get(f"/portal/project/{project}").get_data(as_text=True)
    reports = page.split('id="reports"', 1)[1].split("</section>", 1)[0]
    assert "/portal/file/project/" in reports and ".pdf" in reports, reports
