"""A project's forecast from its records, read through the access layer: finish dates, EVM, risk flags.

What a task is, which field is its estimate, progress and dates, and which
tasks belong to a project, the definitions say (`planning` of the record type,
`itpm.planning.service`). When a task was finished is read from its history
(the day it entered a done state). Everything is read as the actor: a person
gets the forecast of the tasks they may read, and a project of the same type
lends its history as a prior only when they may read it too. Every forecast of a
project draws on the same inputs (its own weeks and its kind's, `kind_histories`),
so the page, the API, the report and the nightly run give one number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from itpm.forecast.evm import (
    HAND_ENTERED,
    TIMESHEETS,
    UNKNOWN,
    WITHHELD,
    ActualCost,
    Booking,
    EarnedValue,
    PlannedTask,
    earned_value,
    labour_cost,
)
from itpm.forecast.flags import (
    CriticalTask,
    Flag,
    Overdue,
    Person,
    over_capacity_on_critical_path,
    risk_flags,
)
from itpm.forecast.simulation import (
    OK,
    RUNS,
    Forecast,
    History,
    WorkItem,
    forecast_finish,
    prior_history,
    remaining_of,
    weekly_history,
)
from itpm.models import Person as PersonRow
from itpm.models import RecordEvent
from itpm.people import display_name, visible_people
from itpm.planning.schedule import ScheduleError, Task, critical_path
from itpm.planning.service import (
    Member,
    open_work,
    plan_of,
    plan_type_of,
    planned_types,
    timesheet_types,
    working_day,
)
from itpm.records.fields import RecordTypeSpec
from itpm.records.service import NotFound, Records

#: The project type's fields the forecast reads, when the type has them (the starter pack's names).
KIND, START, BUDGET, SPENT, BUDGET_FORECAST = (
    "project_type",
    "start_date",
    "budget_plan",
    "budget_spent",
    "budget_forecast",
)


@dataclass(frozen=True)
class MilestoneWork:
    """An open milestone and the work before it: its own task, the tasks it depends on (and theirs, in
    turn), and the subtasks of any summary task among them."""

    number: str
    title: str
    due: dt.date | None
    items: tuple[WorkItem, ...]


@dataclass(frozen=True)
class MilestoneForecast:
    number: str
    title: str
    due: dt.date | None
    forecast: Forecast

    def as_json(self) -> dict[str, Any]:
        f = self.forecast
        return {
            "number": self.number,
            "title": self.title,
            "due": self.due.isoformat() if self.due else None,
            "status": f.status,
            "remaining": f.remaining,
            "percentiles": {f"p{p}": d.isoformat() if d else None for p, d in f.percentiles.items()},
            "on_time": f.on_time,
        }


@dataclass
class ProjectWork:
    """What the forecast knows of one project's tasks."""

    items: list[WorkItem] = field(default_factory=list)
    planned: list[PlannedTask] = field(default_factory=list)
    milestones: list[Overdue] = field(default_factory=list)  # open milestones with their due dates
    #: Open milestones with the work before them (a milestone's forecast).
    milestone_work: list[MilestoneWork] = field(default_factory=list)
    #: The milestones done, by number: the day each was (the backtest scores their kept forecasts).
    milestones_done: dict[str, dt.date] = field(default_factory=dict)
    #: When the last task was finished, if none is open (the project's work is done).
    finished: dt.date | None = None
    #: The open, assigned, dated tasks on the critical path (`critical_tasks`).
    critical: list[CriticalTask] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectForecast:
    project_id: int
    number: str | None
    kind: str | None
    forecast: Forecast
    evm: EarnedValue | None
    flags: list[Flag]
    #: The naive forecasts the backtest compares with: the planned date, and percent complete
    #: extrapolated in a straight line from the start.
    linear: dt.date | None
    percent_complete: float | None
    #: Each open milestone's finish dates, from the project's pace (the work before it first).
    milestones: list[MilestoneForecast] = field(default_factory=list)
    #: The actual cost the EVM figures use, and where it came from.
    cost: ActualCost = ActualCost(UNKNOWN, None)

    def as_json(self) -> dict[str, Any]:
        return {
            "project": {"id": self.project_id, "number": self.number, "type": self.kind},
            **self.forecast.as_json(),
            "milestones": [m.as_json() for m in self.milestones],
            "evm": self.evm.as_json() if self.evm else None,
            "actual_cost": self.cost.as_json(),
            "flags": [f.as_json() for f in self.flags],
            "baselines": {
                "planned": self.forecast.planned.isoformat() if self.forecast.planned else None,
                "linear": self.linear.isoformat() if self.linear else None,
                "percent_complete": self.percent_complete,
            },
        }


def field_value(spec: RecordTypeSpec, row: Any, name: str | None, hidden: frozenset[str]) -> Any:
    if not name or name not in spec.fields or name in hidden:
        return None
    return getattr(row, spec.fields[name].column)


def forecast_types(catalog: Any) -> list[str]:
    """The record types forecast: those whose records a planned type with dependencies belongs to (projects)."""
    found = []
    for spec in planned_types(catalog):
        link = spec.body.get("belongs_to")
        if link in spec.fields and "depends_on" in spec.planning and spec.fields[link].target not in found:
            found.append(spec.fields[link].target)
    return [name for name in found if name in catalog.record_types]


def _finish_days(
    records: Records, spec: RecordTypeSpec, ids: list[int], done: set[str]
) -> dict[int, dt.date]:
    """The day each record last entered a done state, from its history."""
    found: dict[int, dt.date] = {}
    for chunk in range(0, len(ids), 500):
        events = records.session.execute(
            select(RecordEvent.record_id, RecordEvent.at, RecordEvent.changes)
            .where(RecordEvent.record_type == spec.name, RecordEvent.record_id.in_(ids[chunk : chunk + 500]))
            .order_by(RecordEvent.id)
        )
        for record_id, at, changes in events:
            if any(c.get("path") == "/state" and c.get("new") in done for c in changes or ()):
                found[record_id] = at.astimezone(records.zone).date()
    return found


def project_work(records: Records, project_type: str, project: Any, as_of: dt.date) -> ProjectWork | None:
    """The project's tasks the actor may read, as the forecast sees them (None: the type has no tasks)."""
    plan = plan_of(records, project_type, project)
    if plan is None:
        return None
    spec = plan.spec
    hidden = records.access.hidden_fields(records.actor, spec)
    workflow = records.catalog.workflows.get(spec.name)
    categories = {s.name: s.category for s in workflow.states.values()} if workflow else {}
    done = {name for name, category in categories.items() if category == "done"}
    finished = _finish_days(records, spec, [r.id for r in plan.records if r.state in done], done)
    roles = spec.planning
    parent_field = "parent" if "parent" in spec.fields else None
    parents = {field_value(spec, r, parent_field, hidden) for r in plan.records} - {None}
    work = ProjectWork()
    by_id: dict[int, WorkItem] = {}
    open_milestones = []
    for row in plan.records:
        category = categories.get(row.state, "open")
        finished_on = None
        if category == "done":
            finished_on = finished.get(row.id) or row.updated_at.astimezone(records.zone).date()
        created = row.created_at.astimezone(records.zone).date()
        item = WorkItem(created, finished_on, category == "cancelled")
        work.items.append(item)
        by_id[row.id] = item
        milestone = bool(field_value(spec, row, roles.get("milestone"), hidden))
        start, due = plan.baseline.get(row.id, (None, None))
        start = start or field_value(spec, row, roles.get("start"), hidden)
        due = due or field_value(spec, row, "due_date" if "due_date" in spec.fields else None, hidden)
        if milestone and category not in ("done", "cancelled"):
            open_milestones.append((row, due))
        if milestone and finished_on is not None:
            work.milestones_done[row.number or str(row.id)] = finished_on
        if milestone and category not in ("done", "cancelled") and due is not None:
            title = field_value(spec, row, "title", hidden) or ""
            work.milestones.append(Overdue(row.number or str(row.id), str(title), due, (spec.name, row.id)))
        estimate = field_value(spec, row, roles.get("estimate"), hidden)
        if row.id in parents or category == "cancelled" or not estimate or start is None or due is None:
            continue  # a summary task's weight is its subtasks'
        progress = field_value(spec, row, roles.get("progress"), hidden) or 0
        share = 1.0 if category == "done" else min(1.0, max(0.0, float(progress) / 100))
        work.planned.append(PlannedTask(float(estimate), start, max(due, start), share, finished_on, created))
    if open_milestones:
        depends_on = roles.get("depends_on")
        before = {r.id: set(field_value(spec, r, depends_on, hidden) or ()) for r in plan.records}
        children: dict[Any, set[int]] = defaultdict(set)
        for r in plan.records:
            children[field_value(spec, r, parent_field, hidden)].add(r.id)
        for row, due in open_milestones:
            found, stack = set(), [row.id]
            while stack:  # the milestone, what it depends on, in turn, and summary tasks' subtasks
                current = stack.pop()
                if current in found or current not in by_id:
                    continue
                found.add(current)
                stack += before.get(current, ()) | children.get(current, set())
            title = str(field_value(spec, row, "title", hidden) or "")
            work.milestone_work.append(
                MilestoneWork(row.number or str(row.id), title, due, tuple(by_id[i] for i in sorted(found)))
            )
    work.critical = critical_tasks(records, spec, plan.records, categories, hidden)
    open_items = [i for i in work.items if i.finished is None and not i.cancelled]
    days = [i.finished for i in work.items if i.finished is not None]
    if days and not open_items:
        work.finished = max(days)
    return work


def critical_tasks(
    records: Records,
    spec: RecordTypeSpec,
    rows: Sequence[Any],
    categories: dict[str, str],
    hidden: frozenset[str],
) -> list[CriticalTask]:
    """The open tasks on the critical path, as simply as the plan allows.

    With dependencies between open tasks: the Gantt chart's critical path over the open tasks (those
    with no slack in the plan's dates: a day's delay to any of them delays the last due date). With
    none: the work before the next open milestone (the milestone and its subtasks), or, without a
    milestone, the open tasks due last. Only dated tasks with an assignee can be over anyone's capacity.
    """
    roles = spec.planning
    open_rows = [r for r in rows if categories.get(r.state, "open") not in ("done", "cancelled")]
    dated = {}
    for row in open_rows:
        start = field_value(spec, row, roles.get("start"), hidden)
        due = field_value(spec, row, roles.get("due"), hidden)
        start, due = start or due, due or start
        if start is not None and due is not None:
            depends = field_value(spec, row, roles.get("depends_on"), hidden) or ()
            milestone = bool(field_value(spec, row, roles.get("milestone"), hidden))
            dated[row.id] = (row, Task(row.id, min(start, due), due, tuple(depends), milestone))
    tasks = {i: task for i, (_row, task) in dated.items()}
    chained = any(b in tasks for t in tasks.values() for b in t.depends_on)
    milestones = sorted((t for t in tasks.values() if t.milestone), key=lambda t: (t.due, t.id))
    if chained or not milestones:
        try:
            ids = critical_path(tasks.values(), working_day(records.zone.key))
        except ScheduleError:
            return []
    else:
        parent = "parent" if "parent" in spec.fields else None
        ids, stack = set(), [milestones[0].id]
        children: dict[Any, set[int]] = defaultdict(set)
        for row in open_rows:
            children[field_value(spec, row, parent, hidden)].add(row.id)
        while stack:
            current = stack.pop()
            if current not in ids:
                ids.add(current)
                stack += children.get(current, set())
    found = []
    for i in sorted(ids & set(dated)):
        row, task = dated[i]
        if row.assignee_id is not None:
            title = str(field_value(spec, row, "title", hidden) or "")
            found.append(
                CriticalTask(
                    row.number or str(row.id),
                    title,
                    row.assignee_id,
                    task.start,
                    task.due,
                    (spec.name, row.id),
                )
            )
    return found


def capacity_flags(records: Records, critical: Sequence[CriticalTask], as_of: dt.date) -> list[Flag]:
    """The people over capacity on the critical path, among those the actor may see (a client sees no
    one's load): their load is the workload screen's, over all their open work."""
    if not critical or records.actor.client_id is not None:
        return []
    people = list(
        records.session.scalars(
            select(PersonRow).where(
                PersonRow.id.in_({t.person for t in critical}), visible_people(records.actor)
            )
        )
    )
    if not people:
        return []
    _counts, work = open_work(records.session, records.catalog, [p.id for p in people])
    zone = records.zone.key
    found = {
        p.id: Person(person_name(p), Member.of(p).capacity(zone), tuple(work.get(p.id, ()))) for p in people
    }
    return over_capacity_on_critical_path(critical, found, as_of)


def person_name(person: PersonRow) -> str:
    return display_name(person.first_name, person.last_name, person.username)


def _risks(records: Records, project_type: str, project: Any) -> list[Overdue]:
    """Open high-impact risks of the project with their review dates (when the pack has risks)."""
    try:
        spec = records.spec("risk")
    except NotFound:
        return []
    hidden = records.access.hidden_fields(records.actor, spec)
    link = spec.body.get("belongs_to")
    if link not in spec.fields or spec.fields[link].target != project_type:
        return []
    if not {"impact", "review_date"} <= set(spec.fields) or {"impact", "review_date"} & hidden:
        return []
    model = records.model("risk")
    workflow = records.catalog.workflows.get("risk")
    final = workflow.final_states if workflow else frozenset()
    rows = records.session.scalars(
        records.query("risk").where(
            getattr(model, spec.fields[link].column) == project.id,
            getattr(model, spec.fields["impact"].column) == "high",
            model.state.not_in(final or {""}),
        )
    )
    found = []
    for row in rows:
        day = getattr(row, spec.fields["review_date"].column)
        if day is not None:
            title = getattr(row, spec.fields["title"].column) if "title" in spec.fields else ""
            found.append(Overdue(row.number or str(row.id), str(title or ""), day, ("risk", row.id)))
    return found


def kind_histories(
    records: Records,
    project_type: str,
    as_of: dt.date,
    kind: Any,
    known: Mapping[int, ProjectWork] | None = None,
) -> dict[int, History]:
    """The weekly histories (`prior_history`) of the projects of `kind` the actor may read, by id: the
    priors every forecast of a project of that kind draws on (the page's, the API's, the report's and the
    nightly run's alike, so that they give one number). `known`: the work of projects the caller has read
    already (as of the same day, by the same reader), not read again.

    Kept (`itpm.kpis.cache`) by the reader's rows and hidden fields of the project and task types, the
    day, the catalog's revision and the generations of the two tables: a project's page reads its type's
    history once for the readers of the same rows, and afresh once a project or task has changed.
    """
    from itpm.kpis import cache as keeping

    kept = keeping.of_session(records.session)
    key = None
    if kept is not None:
        key = _histories_key(records, project_type, as_of, kind, kept.generations)
    if key is not None:
        found = kept.answers.get(key)  # type: ignore[union-attr]
        if found is not None:
            return found
    spec = records.spec(project_type)
    model = records.model(project_type)
    query = records.query(project_type)
    hidden = records.access.hidden_fields(records.actor, spec)
    if KIND in spec.fields and KIND not in hidden:  # a hidden kind selects nothing: every project is a peer
        column = getattr(model, spec.fields[KIND].column)
        query = query.where(column.is_(None) if kind is None else column == kind)
    histories = {}
    for project in records.session.scalars(query.order_by(model.id)):
        work = (known or {}).get(project.id) or project_work(records, project_type, project, as_of)
        if work is not None:
            histories[project.id] = prior_history(work.items, as_of)
    if key is not None:
        kept.answers.put(key, histories)  # type: ignore[union-attr]
    return histories


def _histories_key(
    records: Records, project_type: str, as_of: dt.date, kind: Any, generations: Any
) -> str | None:
    """The key of the kind's histories as this reader reads them (None: nothing may be kept now)."""
    from itpm.kpis import cache as keeping

    found = plan_type_of(records.catalog, project_type)
    names = [project_type, *([found[0].name] if found else [])]
    tables = [records.model(n).__table__.name for n in names]
    if set(tables) & keeping.written(records.session):
        return None  # the session's own writes are not committed: nobody else may be served them
    counts = [generations.read(t) for t in tables]
    if None in counts:
        return None
    dialect = records.session.get_bind().dialect
    parts = {
        "forecast_histories": project_type,
        "kind": kind,
        "day": as_of.isoformat(),
        "zone": records.zone.key,
        "revision": records.catalog.revision,
        "generations": counts,
        "scopes": [
            str(records.scope(n).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            for n in names
        ],
        "hidden": [sorted(records.access.hidden_fields(records.actor, records.spec(n))) for n in names],
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def peers(histories: Mapping[int, History], project_id: int) -> list[History]:
    """The priors of a project: the histories of its kind's other projects, by id."""
    return [h for pid, h in histories.items() if pid != project_id]


def linear_finish(start: dt.date | None, as_of: dt.date, percent: float | None) -> dt.date | None:
    """Percent complete extrapolated in a straight line: the naive forecast a backtest compares with."""
    if start is None or not percent or percent <= 0 or as_of <= start:
        return None
    return start + dt.timedelta(days=round((as_of - start).days / percent))


def forecast_project(
    records: Records,
    project_type: str,
    project: Any,
    as_of: dt.date,
    runs: int = RUNS,
    priors: Sequence[History] | None = None,
    work: ProjectWork | None = None,
) -> ProjectForecast | None:
    """A project's forecast on `as_of`, from what the actor may read (None: its type has no tasks).

    `priors`: the histories of the same kind's other projects (`kind_histories`), and `work` the
    project's, when the caller has read them already.
    """
    spec = records.spec(project_type)
    if project_type not in forecast_types(records.catalog):
        return None
    hidden = records.access.hidden_fields(records.actor, spec)
    work = work or project_work(records, project_type, project, as_of)
    assert work is not None
    kind = field_value(spec, project, KIND, hidden)
    planned = field_value(spec, project, spec.body.get("due"), hidden)
    history = weekly_history(work.items, as_of)
    if priors is None:  # always the kind's history, as the nightly run reads it: one number everywhere
        priors = peers(kind_histories(records, project_type, as_of, kind, {project.id: work}), project.id)
    forecast = forecast_finish(
        remaining_of(work.items, as_of), history, as_of, planned, priors, runs, seed=project.id
    )
    milestones = []
    if forecast.status == OK:  # a milestone's dates come from the pace the project's dates come from
        for m in work.milestone_work:
            found = forecast_finish(
                remaining_of(m.items, as_of),
                history,
                as_of,
                m.due,
                priors,
                runs,
                seed=project.id,
                growth=False,
            )
            milestones.append(MilestoneForecast(m.number, m.title, m.due, found))
        milestones.sort(key=lambda m: (m.due is None, m.due or as_of, m.number))
    start = field_value(spec, project, START, hidden)
    budget = field_value(spec, project, BUDGET, hidden)
    cost = actual_cost(records, project_type, project, as_of, field_value(spec, project, SPENT, hidden))
    evm = None
    if start is not None and budget and cost.amount is not None and work.planned:
        evm = earned_value(float(budget), cost.amount, work.planned, start, as_of)
    percent = None
    if work.planned:
        total = sum(t.weight for t in work.planned)
        percent = round(sum(t.weight * t.done_share for t in work.planned) / total, 4) if total else None
    flags = risk_flags(
        forecast,
        evm,
        as_of,
        work.milestones,
        _risks(records, project_type, project),
        field_value(spec, project, BUDGET_FORECAST, hidden),
    ) + capacity_flags(records, work.critical, as_of)
    return ProjectForecast(
        project.id,
        project.number,
        kind,
        forecast,
        evm,
        flags,
        linear_finish(start, as_of, percent),
        percent,
        milestones,
        cost,
    )


def _linked(spec: RecordTypeSpec, project_type: str) -> str | None:
    """The field linking records of `spec` to their project (`belongs_to`), if it links to `project_type`."""
    link = spec.body.get("belongs_to")
    return link if link in spec.fields and spec.fields[link].target == project_type else None


def _read_all(
    records: Records, spec: RecordTypeSpec, roles: Sequence[str], where: Sequence[Any]
) -> list[Any] | None:
    """The rows of `spec` matching `where`, as the values of the fields its `planning` names by `roles`
    (and the owner): None unless the actor may read every such row and every one of those fields."""
    try:
        records.spec(spec.name)  # not a type of theirs (a pilot of another department)
    except NotFound:
        return None
    fields = [spec.planning[r] for r in roles]
    if set(fields) & records.access.hidden_fields(records.actor, spec):
        return None
    model = records.model(spec.name)
    columns = [spec.fields[f].column for f in fields]
    total = records.session.scalar(select(func.count()).select_from(model).where(*where))
    rows = records.session.execute(
        select(model.owner_id, *(getattr(model, c) for c in columns)).where(*where, records.scope(spec.name))
    ).all()
    return list(rows) if len(rows) == total else None


def actual_cost(records: Records, project_type: str, project: Any, as_of: dt.date, spent: Any) -> ActualCost:
    """The project's actual cost on `as_of`: the hours of its timesheets up to that day × each person's
    hourly rate on the day, plus its expenses up to that day. Which record types are timesheets, cost
    rates and expenses, the definitions say (`planning`: hours, rate, amount). The hand-entered `spent`
    stands in only when the project has no timesheets (or the definitions no rates). A reader who may
    not read every timesheet, rate or expense it is made of (or their hours, rates, amounts) gets no
    figure: a partial cost, or one made of money they may not see, is not theirs to have."""
    catalog = records.catalog
    types = catalog.record_types.values()
    sheets = [(s, link) for s in timesheet_types(catalog) if (link := _linked(s, project_type))]
    rate_types = [s for s in types if {"rate", "person"} <= set(s.planning)]
    spends = [
        (s, link)
        for s in types
        if {"date", "amount"} <= set(s.planning) and (link := _linked(s, project_type))
    ]

    def where(spec: RecordTypeSpec, link: str) -> list[Any]:
        model = records.model(spec.name)
        day = getattr(model, spec.fields[spec.planning["date"]].column)
        return [getattr(model, spec.fields[link].column) == project.id, day <= as_of]

    booked = any(
        records.session.scalar(select(func.count()).select_from(records.model(s.name)).where(*where(s, link)))
        for s, link in sheets
    )
    if not booked or not rate_types:
        return ActualCost(HAND_ENTERED, float(spent)) if spent is not None else ActualCost(UNKNOWN, None)
    bookings = []
    for spec, link in sheets:
        rows = _read_all(records, spec, ("date", "hours"), where(spec, link))
        if rows is None:
            return ActualCost(WITHHELD, None, withheld="timesheets")
        bookings += [
            Booking(owner, day, float(hours)) for owner, day, hours in rows if owner is not None and hours
        ]
    people = sorted({b.person for b in bookings})
    rates: dict[int, list[tuple[dt.date | None, float]]] = defaultdict(list)
    for spec in rate_types:
        person = getattr(records.model(spec.name), spec.fields[spec.planning["person"]].column)
        roles = ("person", "rate", *(("date",) if "date" in spec.planning else ()))
        rows = _read_all(records, spec, roles, [person.in_(people)])
        if rows is None:
            return ActualCost(WITHHELD, None, withheld="rates")
        for _owner, who, rate, *start in rows:
            if rate is not None:
                rates[who].append((start[0] if start else None, float(rate)))
    expenses = 0.0
    for spec, link in spends:
        rows = _read_all(records, spec, ("date", "amount"), where(spec, link))
        if rows is None:
            return ActualCost(WITHHELD, None, withheld="expenses")
        expenses += sum(float(amount or 0) for _owner, _day, amount in rows)
    labour, unpriced = labour_cost(bookings, rates)
    hours = sum(b.hours for b in bookings)
    return ActualCost(TIMESHEETS, labour + expenses, hours, labour, expenses, unpriced)


def projects_of(records: Records, project_type: str) -> Iterable[Any]:
    model = records.model(project_type)
    return records.session.scalars(records.query(project_type).order_by(model.id))


def works_by_kind(records: Records, project_type: str, as_of: dt.date) -> dict[Any, dict[int, ProjectWork]]:
    """Every readable project's work, by kind: a nightly run reads each project once."""
    spec = records.spec(project_type)
    found: dict[Any, dict[int, ProjectWork]] = defaultdict(dict)
    for project in projects_of(records, project_type):
        work = project_work(records, project_type, project, as_of)
        if work is not None:
            kind = getattr(project, spec.fields[KIND].column) if KIND in spec.fields else None
            found[kind][project.id] = work
    return found
