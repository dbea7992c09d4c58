"""The monthly review (月度复盘): which tasks slipped most, which project phases ran longest, which teams
were late, and whether three months running, for the reader's rows.

Built on the KPIs (delay_rate by team as of the due date) and the records service (tasks, and the
projects' phase history), so each figure is the one the dashboards show and drills down the same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from itpm.kpis.measure import Measure, kpi_of
from itpm.kpis.spec import period_of
from itpm.records.service import NotFound, RecordError, Records
from itpm.reports.measures import against_plan, phase_stretches, planned_ends

RUNNING = 3


@dataclass
class Review:
    month: str
    months: list[str]
    slipped: list[dict[str, Any]] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)
    target: float | None = None


def previous_months(month: str, count: int) -> list[str]:
    number = int(month[:4]) * 12 + int(month[5:7]) - 1
    return [f"{(number - i) // 12:04d}-{(number - i) % 12 + 1:02d}" for i in range(count)][::-1]


def monthly_review(records: Records, month: str, limit: int = 10) -> Review:
    """The review of `month` (YYYY-MM) for the reader of `records`."""
    period = period_of(month, records.clock().date())
    review = Review(month, previous_months(month, RUNNING))
    try:
        delay = kpi_of(records, "delay_rate")
    except NotFound:
        return review
    measure = Measure(records, delay)
    review.target = delay.target
    today = records.clock().astimezone(records.zone).date()
    late_ids = measure.counted(period, {}, "numerator")
    model = records.model("task")
    rows = records.session.scalars(records.query("task").where(model.id.in_(late_ids))).all()
    for row in rows:
        finished = row.updated_at.astimezone(records.zone).date() if row.state == "done" else today
        review.slipped.append(
            {
                "record": row,
                "title": records.title("task", row),
                "days": max(0, (finished - row.due_date).days),
            }
        )
    review.slipped.sort(key=lambda r: (-r["days"], r["record"].number or ""))
    del review.slipped[limit:]
    review.teams = _teams(records, review.months)
    review.phases = _phases(records, min(today, period.last), limit)
    return review


def _teams(records: Records, months: list[str]) -> list[dict[str, Any]]:
    """Each team's delay rate in each of the months, and whether it missed the target in all of them."""
    from itpm.kpis.service import ask

    by_team: dict[Any, dict[str, Any]] = {}
    for month in months:
        answer = ask(records, "delay_rate", month, "team")
        for group in answer.groups:
            if not group.n:
                continue
            team = by_team.setdefault(group.key, {"key": group.key, "label": group.label, "months": {}})
            team["months"][month] = group
    target = kpi_of(records, "delay_rate").target
    for team in by_team.values():
        figures = [team["months"].get(m) for m in months]
        team["running"] = target is not None and all(
            f is not None and f.value is not None and f.value > target and not f.too_few for f in figures
        )
    return sorted(by_team.values(), key=lambda t: (not t["running"], t["label"]))


def _phases(records: Records, until: dt.date, limit: int) -> list[dict[str, Any]]:
    """The projects' phase stretches up to `until`, those most beyond their plan first: the department
    health report's (`phase_stretches`, `against_plan`)."""
    try:
        spec = records.spec("project")
    except NotFound:
        return []
    field, ends = spec.phase_plan or ("phase", [])
    if field not in spec.fields or field in records.access.hidden_fields(records.actor, spec):
        return []
    found = []
    for project in records.session.scalars(records.query("project")).all():
        try:
            history = records.history("project", project.id)
        except RecordError:
            continue
        finished = records.finished("project", project.state)
        plan = planned_ends(ends, records.data(project))
        found += [
            {"record": project, "number": project.number, "title": records.title("project", project), **s}
            for s in phase_stretches(history, until, finished, field, plan)
        ]
    return against_plan(found, limit)
