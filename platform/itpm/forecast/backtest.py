"""Forecasts kept and checked: issue every open project's forecast (nightly and on demand), and score
the forecasts of projects that have since finished against what happened.

Scored: how often the P50, P85 and P95 dates were met (a P85 date should be met
about 85% of the time) and the mean absolute error in days of the P50 date,
against two naive forecasts of the same day: the planned finish date, and
percent complete extrapolated in a straight line from the start.

Two sources: the forecasts issued and kept (`IssuedForecast`), and a replay,
which forecasts each finished project again as of every week of its past from
what was known then (tasks created and finished by that day), for a history
that has no kept forecasts yet. The replay reads today's states: a task
cancelled later is left out of the past's open work too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from itpm.access import Actor
from itpm.forecast.evm import TIMESHEETS, ActualCost
from itpm.forecast.service import (
    KIND,
    SPENT,
    START,
    MilestoneForecast,
    ProjectWork,
    field_value,
    forecast_project,
    forecast_types,
    linear_finish,
    peers,
    works_by_kind,
)
from itpm.forecast.service import project_work as read_work
from itpm.forecast.simulation import (
    OK,
    PERCENTILES,
    RUNS,
    forecast_finish,
    prior_history,
    remaining_of,
    weekly_history,
)
from itpm.models import IssuedForecast
from itpm.records.service import RecordError, Records

log = logging.getLogger(__name__)


def project_types(records: Records) -> list[str]:
    return forecast_types(records.catalog)


def issue_forecasts(runtime: Any, now: dt.datetime, runs: int = RUNS) -> dict[str, int]:
    """Forecast every project whose work is not done, and keep the forecasts (one a project a day:
    a second run the same day replaces that day's). How many were issued, by status."""
    with runtime.session() as session:
        records = Records(
            session, runtime.catalog(), Actor.system(), clock=lambda: now, timezone=runtime.settings.timezone
        )
        counts = issue(records, now, runs)
        session.commit()
    return counts


def issue(records: Records, now: dt.datetime, runs: int = RUNS) -> dict[str, int]:
    """`issue_forecasts` in the session of `records` (the system's), left to the caller to commit."""
    counts: dict[str, int] = {}
    session = records.session
    as_of = now.astimezone(records.zone).date()
    for type_name in project_types(records):
        spec = records.spec(type_name)
        workflow = records.catalog.workflows.get(type_name)
        final = workflow.final_states if workflow else frozenset()
        by_kind = works_by_kind(records, type_name, as_of)
        histories = {
            pid: prior_history(w.items, as_of) for works in by_kind.values() for pid, w in works.items()
        }
        model = records.model(type_name)
        for project in session.scalars(
            select(model).where(model.state.not_in(final or {""})).order_by(model.id)
        ):
            kind = getattr(project, spec.fields[KIND].column) if KIND in spec.fields else None
            works = by_kind.get(kind, {})
            priors = peers({pid: histories[pid] for pid in works}, project.id)
            found = forecast_project(records, type_name, project, as_of, runs, priors, works.get(project.id))
            if found is not None:
                keep_spent(records, type_name, project, found.cost)
            if found is None or found.forecast.status == "done":
                continue
            forecast = found.forecast
            raised_before(records, type_name, project, as_of, found)
            session.execute(
                delete(IssuedForecast).where(
                    IssuedForecast.project_type == type_name,
                    IssuedForecast.project_id == project.id,
                    IssuedForecast.as_of == as_of,
                )
            )
            inputs = {
                k: v
                for k, v in forecast.as_json().items()
                if k in ("weeks", "weeks_with_work", "window", "source", "prior_projects", "runs", "seed",
                         "throughput", "growth")
            }  # fmt: skip
            inputs |= {
                "percent_complete": found.percent_complete,
                "flags": [f.code for f in found.flags],
                "milestones": kept_milestones(found.milestones),
            }
            session.add(
                issued_row(
                    type_name, project.id, kind, now, as_of, forecast.status, forecast.percentiles,
                    forecast.on_time, forecast.planned, found.linear, forecast.remaining, inputs,
                )
            )  # fmt: skip
            counts[forecast.status] = counts.get(forecast.status, 0) + 1
    session.flush()
    return counts


def keep_spent(records: Records, type_name: str, project: Any, cost: ActualCost) -> bool:
    """The project's spent field set to its actual cost when that comes from timesheets (hours × rates,
    plus expenses): the figure the budget alert, the KPIs and the reports read is the one the EVM uses,
    as of the night's run. A project without timesheets keeps its hand-entered spent. Whether it changed."""
    spec = records.spec(type_name)
    if cost.source != TIMESHEETS or cost.amount is None or SPENT not in spec.fields:
        return False
    amount = round(cost.amount, 2)
    stored = getattr(project, spec.fields[SPENT].column)
    if stored is not None and abs(float(stored) - amount) < 0.005:
        return False
    try:
        with records.session.begin_nested():
            records.update(type_name, project.id, {SPENT: amount}, project.version, loaded=project)
    except RecordError as error:  # a definition the record no longer meets: the night goes on
        log.warning("%s %s: spent not set from timesheets: %s", type_name, project.id, error)
        return False
    return True


def kept_milestones(milestones: Iterable[MilestoneForecast]) -> list[dict[str, Any]]:
    """The dated forecasts of a project's open milestones, as kept with the project's (by number)."""
    return [
        {
            "number": m.number,
            "due": m.due.isoformat() if m.due else None,
            **{f"p{p}": d.isoformat() for p, d in m.forecast.percentiles.items() if d is not None},
            "on_time": m.forecast.on_time,
        }
        for m in milestones
        if m.forecast.status == OK and m.forecast.percentiles
    ]


def issued_row(
    project_type: str,
    project_id: int,
    kind: str | None,
    issued_at: dt.datetime,
    as_of: dt.date,
    status: str,
    percentiles: dict[int, dt.date],
    on_time: float | None,
    planned: dt.date | None,
    linear: dt.date | None,
    remaining: int,
    inputs: dict[str, Any],
) -> IssuedForecast:
    """A kept forecast: the nightly run's and the replayed history's rows are the same shape."""
    return IssuedForecast(
        project_type=project_type,
        project_id=project_id,
        kind=kind,
        issued_at=issued_at,
        as_of=as_of,
        status=status,
        p50=percentiles.get(50),
        p85=percentiles.get(85),
        p95=percentiles.get(95),
        on_time=on_time,
        planned=planned,
        linear=linear,
        remaining=remaining,
        inputs=inputs,
    )


def raised_before(records: Records, type_name: str, project: Any, as_of: dt.date, found: Any) -> None:
    """The risk flags the project's forecast raises today that its last kept forecast (before today) did
    not: a `forecast_flagged` event for the automations (one a project a day, whoever reruns it)."""
    last = records.session.scalar(
        select(IssuedForecast.inputs)
        .where(
            IssuedForecast.project_type == type_name,
            IssuedForecast.project_id == project.id,
            IssuedForecast.as_of < as_of,
        )
        .order_by(IssuedForecast.as_of.desc())
        .limit(1)
    )
    before = set((last or {}).get("flags", []))
    new = [f for f in found.flags if f.code not in before]
    if not new:
        return
    records.emit(
        project,
        "forecast_flagged",
        {
            "new": [f.code for f in new],
            "flags": [f.as_json() for f in found.flags],
            "key": f"forecast_flagged:{type_name}:{project.id}:{as_of.isoformat()}",
            "values": {"flags": "; ".join(f.reason % f.values for f in new)},
            # each new flag's reason with the records it names: a reader is told it if they may read them
            "reasons": [[f.code, f.reason, f.values, [list(n) for n in f.names]] for f in new],
        },
    )


def nightly(runtime: Any, since: dt.datetime, now: dt.datetime, at: dt.time = dt.time(2, 0)) -> int:
    """The scheduler's part: issue the forecasts once a night, when `at` (company time) falls in (since, now]."""
    zone = ZoneInfo(runtime.settings.timezone)
    day = since.astimezone(zone).date()
    while day <= now.astimezone(zone).date():
        moment = dt.datetime.combine(day, at, zone)
        if since < moment <= now:
            return sum(issue_forecasts(runtime, now).values())
        day += dt.timedelta(days=1)
    return 0


# --- scoring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One forecast of a finished project, with the naive forecasts of the same day."""

    project_id: int
    kind: str | None
    as_of: dt.date
    actual: dt.date
    percentiles: dict[int, dt.date | None]
    planned: dt.date | None
    linear: dt.date | None
    project_type: str = ""
    on_time: float | None = None
    remaining: int = 0
    #: A milestone's forecast: the milestone's number ("" for the project's finish).
    milestone: str = ""


@dataclass(frozen=True)
class Row:
    method: str
    n: int
    hits: dict[int, float | None]  # percentile: share met (a date forecast: share met by it)
    mae_days: float | None


def _mae(pairs: Iterable[tuple[dt.date | None, dt.date]]) -> tuple[float | None, int]:
    errors = [abs((forecast - actual).days) for forecast, actual in pairs if forecast is not None]
    return (round(sum(errors) / len(errors), 1) if errors else None), len(errors)


def score(scored: Sequence[Scored]) -> list[Row]:
    """Hit rates per percentile and mean absolute error in days: itpm's forecast and the two naive ones."""
    rows = []
    n = len(scored)
    hits: dict[int, float | None] = {}
    for p in PERCENTILES:
        dated = [s for s in scored if s.percentiles.get(p) is not None]
        hits[p] = round(sum(s.actual <= s.percentiles[p] for s in dated) / len(dated), 3) if dated else None
    mae, _count = _mae((s.percentiles.get(50), s.actual) for s in scored)
    rows.append(Row("itpm (P50 for the error)", n, hits, mae))
    for name, attribute in (("planned date", "planned"), ("linear % complete", "linear")):
        dated = [s for s in scored if getattr(s, attribute) is not None]
        met = round(sum(s.actual <= getattr(s, attribute) for s in dated) / len(dated), 3) if dated else None
        mae, count = _mae((getattr(s, attribute), s.actual) for s in scored)
        rows.append(Row(name, count, {p: met for p in PERCENTILES}, mae))
    return rows


def finished_projects(records: Records, type_name: str) -> dict[int, tuple[Any, ProjectWork]]:
    """The projects whose work is all done (no open task, at least one finished), with their work."""
    found = {}
    today = records.clock().astimezone(records.zone).date()
    for project in records.session.scalars(records.query(type_name).order_by(records.model(type_name).id)):
        work = read_work(records, type_name, project, today)
        if work is not None and work.finished is not None:
            found[project.id] = (project, work)
    return found


def kept(records: Records) -> list[Scored]:
    """The issued forecasts of projects that have finished since, as scored."""
    scored = []
    for type_name in project_types(records):
        finished = finished_projects(records, type_name)
        rows = records.session.scalars(
            select(IssuedForecast)
            .where(
                IssuedForecast.project_type == type_name,
                IssuedForecast.project_id.in_(list(finished)),
                IssuedForecast.status == OK,
            )
            .order_by(IssuedForecast.id)
        )
        for row in rows:
            actual = finished[row.project_id][1].finished
            if actual is None or row.as_of >= actual or (row.inputs or {}).get("replayed"):
                continue  # a replayed forecast is scored with the replay, not as one kept at the time
            scored.append(
                Scored(
                    row.project_id,
                    row.kind,
                    row.as_of,
                    actual,
                    {50: row.p50, 85: row.p85, 95: row.p95},
                    row.planned,
                    row.linear,
                )
            )
    return scored


def kept_of_milestones(records: Records) -> list[Scored]:
    """The kept forecasts of milestones done since they were made, as scored (the naive forecast beside:
    the milestone's due date as it was then; a straight line of percent complete has no milestone)."""
    scored = []
    for type_name in project_types(records):
        today = records.clock().astimezone(records.zone).date()
        rows = records.session.scalars(
            select(IssuedForecast)
            .where(IssuedForecast.project_type == type_name, IssuedForecast.status == OK)
            .order_by(IssuedForecast.project_id, IssuedForecast.id)
        ).all()
        done: dict[int, dict[str, dt.date]] = {}
        projects = {p.id: p for p in records.session.scalars(
            records.query(type_name).where(records.model(type_name).id.in_({r.project_id for r in rows}))
        )}  # fmt: skip
        for row in rows:
            milestones = (row.inputs or {}).get("milestones") or []
            if not milestones or row.project_id not in projects:
                continue
            if row.project_id not in done:
                work = read_work(records, type_name, projects[row.project_id], today)
                done[row.project_id] = work.milestones_done if work is not None else {}
            for kept_one in milestones:
                actual = done[row.project_id].get(kept_one.get("number"))
                if actual is None or row.as_of >= actual:
                    continue
                day = {p: _day(kept_one.get(f"p{p}")) for p in PERCENTILES}
                scored.append(
                    Scored(
                        row.project_id, row.kind, row.as_of, actual, day, _day(kept_one.get("due")), None,
                        type_name, kept_one.get("on_time"), milestone=str(kept_one.get("number")),
                    )
                )  # fmt: skip
    return scored


def _day(text: Any) -> dt.date | None:
    return dt.date.fromisoformat(text) if isinstance(text, str) else None


def replayed(records: Records, runs: int = RUNS, every: int = 7) -> list[Scored]:
    """Each finished project forecast again as of every `every` days of its past, from what was known then."""
    scored = []
    for type_name in project_types(records):
        spec = records.spec(type_name)
        hidden = records.access.hidden_fields(records.actor, spec)
        finished = finished_projects(records, type_name)
        today = records.clock().astimezone(records.zone).date()
        everyone = {
            p.id: (p, read_work(records, type_name, p, today))
            for p in records.session.scalars(records.query(type_name))
        }

        for project_id, (project, work) in finished.items():
            kind = field_value(spec, project, KIND, hidden)
            planned = field_value(spec, project, spec.body.get("due"), hidden)
            start = field_value(spec, project, START, hidden)
            first = min(i.created for i in work.items)
            day = first + dt.timedelta(days=every)
            assert work.finished is not None
            while day < work.finished:
                remaining = remaining_of(work.items, day)
                if remaining:
                    priors = [
                        prior_history(w.items, day)
                        for pid, (other, w) in everyone.items()
                        if pid != project_id
                        and w is not None
                        and field_value(spec, other, KIND, hidden) == kind
                    ]
                    forecast = forecast_finish(
                        remaining,
                        weekly_history(work.items, day),
                        day,
                        planned,
                        priors,
                        runs,
                        seed=project_id,
                    )
                    if forecast.status == OK:
                        # percent complete of the work known on that day (tasks added later were not)
                        known = [t for t in work.planned if t.created is None or t.created <= day]
                        total = sum(t.weight for t in known)
                        done = sum(t.weight for t in known if t.finished is not None and t.finished <= day)
                        percent = done / total if total else None
                        scored.append(
                            Scored(
                                project_id,
                                kind,
                                day,
                                work.finished,
                                dict(forecast.percentiles),
                                planned,
                                linear_finish(start, day, percent),
                                type_name,
                                forecast.on_time,
                                remaining,
                            )
                        )
                day += dt.timedelta(days=every)
    return scored


def keep_replayed(records: Records, now: dt.datetime, runs: int = 2000) -> int:
    """Keep the replayed forecasts of the finished projects, marked `"replayed": true` in their inputs,
    for a history that had no forecasts kept at the time (the demo's): the track record a project's page
    shows then has figures, and says how many were replayed. A day with a forecast kept at the time keeps
    that one; earlier replayed rows are replaced. How many were kept."""
    scored = replayed(records, runs)
    keys = {(s.project_type, s.project_id) for s in scored}
    taken = set()
    for type_name, project_id in keys:
        for row in records.session.scalars(
            select(IssuedForecast).where(
                IssuedForecast.project_type == type_name, IssuedForecast.project_id == project_id
            )
        ):
            if (row.inputs or {}).get("replayed"):
                records.session.delete(row)
            else:
                taken.add((type_name, project_id, row.as_of))
    records.session.flush()
    kept_rows = 0
    for s in scored:
        if (s.project_type, s.project_id, s.as_of) in taken:
            continue
        records.session.add(
            issued_row(
                s.project_type, s.project_id, s.kind, now, s.as_of, OK, s.percentiles, s.on_time, s.planned,
                s.linear, s.remaining, {"replayed": True, "runs": runs},
            )
        )  # fmt: skip
        kept_rows += 1
    records.session.flush()
    return kept_rows


@dataclass(frozen=True)
class TrackRecord:
    """How often the kept P85 dates of a kind of project were met: the line a project's page shows."""

    met: float
    forecasts: int
    projects: int
    #: Of `forecasts`, those replayed afterwards (`keep_replayed`), not kept at the time.
    replayed: int = 0
    #: The share of the kept dates met by percentile (P50, P85, P95): the calibration chart's points.
    hits: dict[int, float] = field(default_factory=dict)


def track_record(records: Records, type_name: str, kind: Any) -> TrackRecord | None:
    """The kept forecasts of the finished projects of `kind` the reader may read, scored at P85
    (None: there is none yet)."""
    model = records.model(type_name)
    ids = set(
        records.session.scalars(
            select(IssuedForecast.project_id).where(
                IssuedForecast.project_type == type_name,
                IssuedForecast.kind == kind,
                IssuedForecast.status == OK,
                IssuedForecast.p85.is_not(None),
            )
        )
    )
    if not ids:
        return None
    today = records.clock().astimezone(records.zone).date()
    finished = {}
    for project in records.session.scalars(records.query(type_name).where(model.id.in_(ids))):
        work = read_work(records, type_name, project, today)
        if work is not None and work.finished is not None:
            finished[project.id] = work.finished
    if not finished:
        return None
    rows = records.session.execute(
        select(
            IssuedForecast.project_id,
            IssuedForecast.as_of,
            IssuedForecast.p85,
            IssuedForecast.inputs,
            IssuedForecast.p50,
            IssuedForecast.p95,
        ).where(
            IssuedForecast.project_type == type_name,
            IssuedForecast.project_id.in_(list(finished)),
            IssuedForecast.status == OK,
            IssuedForecast.p85.is_not(None),
        )
    ).all()
    projects = len({row.project_id for row in rows})
    rows = [row for row in rows if row.as_of < finished[row.project_id]]
    scored = [
        (finished[pid] <= p85, bool((inputs or {}).get("replayed"))) for pid, _as_of, p85, inputs, *_ in rows
    ]
    if not scored:
        return None
    hits = {}
    for p in (50, 85, 95):
        dates = [(finished[row.project_id], getattr(row, f"p{p}")) for row in rows]
        met = [done <= day for done, day in dates if day is not None]
        if met:
            hits[p] = round(sum(met) / len(met), 3)
    return TrackRecord(
        round(sum(met for met, _ in scored) / len(scored), 3),
        len(scored),
        projects,
        sum(replay for _, replay in scored),
        hits,
    )
