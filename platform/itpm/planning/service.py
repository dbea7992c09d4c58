"""Planning read from the records: people's loads, the team and project views, a project's schedule.

Which fields are a task's start, due date, estimate and dependencies, a
timesheet's day and hours, and a project's baseline state, the definitions say
(`planning` in a record type). Loads are counted over every record, as the
assignment rules count them (one figure for everyone); who may look at whose
load, and which records a schedule shows and changes, is the access layer's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from itpm.automations.assignment import Candidate
from itpm.catalog import Catalog
from itpm.models import Person, RecordEvent, Team
from itpm.planning.schedule import Task
from itpm.planning.workload import (
    Capacity,
    Load,
    PlannedWork,
    Week,
    load_between,
    parse_leave,
    week_of,
    weekly_loads,
)
from itpm.records.fields import RecordTypeSpec
from itpm.records.service import Records
from itpm.workflows.engine import company_calendar


@dataclass(frozen=True)
class Member:
    """A person as planning sees them."""

    id: int
    timezone: str | None = None
    skills: tuple[str, ...] = ()
    away_until: dt.date | None = None
    weekly_hours: float | None = None
    leave: str | None = None

    @classmethod
    def of(cls, person: Person) -> Member:
        return cls(
            person.id,
            person.timezone,
            tuple(person.skills or ()),
            person.away_until,
            person.weekly_hours,
            person.leave,
        )

    def capacity(self, default_zone: str) -> Capacity:
        try:
            leave = parse_leave(self.leave)
        except ValueError:
            leave = ()  # checked where it is written; an old value that no longer reads counts as none
        if self.away_until is not None:
            leave = (*leave, (dt.date.min, self.away_until))
        calendar = company_calendar(self.timezone or default_zone)
        hours = self.weekly_hours if self.weekly_hours is not None else Capacity.weekly_hours
        return Capacity(calendar, hours, leave)


def members_of_team(session: Session, team: str) -> list[Member]:
    """The active members of a team, by id; LookupError when there is no such team."""
    found = session.scalar(select(Team).where(Team.name == team))
    if found is None:
        raise LookupError(f"there is no team {team!r}")
    people = session.scalars(
        select(Person).where(Person.team_id == found.id, Person.active.is_(True)).order_by(Person.id)
    )
    return [Member.of(p) for p in people]


def planned_types(catalog: Catalog) -> list[RecordTypeSpec]:
    """Record types whose records are planned work (they name a start or a due date)."""
    return [s for s in catalog.record_types.values() if {"start", "due"} & set(s.planning)]


def timesheet_types(catalog: Catalog) -> list[RecordTypeSpec]:
    """Record types that book hours (they name a day and hours)."""
    return [s for s in catalog.record_types.values() if {"date", "hours"} <= set(s.planning)]


def _column(spec: RecordTypeSpec, model: Any, role: str) -> Any:
    name = spec.planning.get(role)
    return getattr(model, spec.fields[name].column) if name in spec.fields else None


def open_work(
    session: Session, catalog: Catalog, people: Sequence[int]
) -> tuple[dict[int, int], dict[int, list[PlannedWork]]]:
    """Each person's open items (of every type with a workflow, counted in one statement) and their
    planned work."""
    counts: dict[int, int] = defaultdict(int)
    work: dict[int, list[PlannedWork]] = defaultdict(list)
    if not people:
        return counts, work
    counted = []
    for type_name, workflow in catalog.workflows.items():
        spec = catalog.record_types.get(type_name)
        if spec is None:
            continue
        model = catalog.models.models[type_name]
        open_states = workflow.open_states
        where = (model.assignee_id.in_(list(people)), model.state.in_(open_states))
        counted.append(select(model.assignee_id, func.count()).where(*where).group_by(model.assignee_id))
        estimate = _column(spec, model, "estimate")
        start, due = _column(spec, model, "start"), _column(spec, model, "due")
        if estimate is None or (start is None and due is None):
            continue
        columns = [
            model.assignee_id,
            estimate,
            start if start is not None else due,
            due if due is not None else start,
        ]
        for person, hours, first, last in session.execute(select(*columns).where(*where, estimate > 0)):
            work[person].append(PlannedWork(float(hours), first, last))
    if counted:
        for person, count in session.execute(union_all(*counted)):
            counts[person] += count
    return counts, work


def booked_hours(
    session: Session, catalog: Catalog, people: Sequence[int], first: dt.date, last: dt.date
) -> dict[int, list[tuple[dt.date, float]]]:
    """Hours people booked on timesheets from `first` to `last` (a timesheet's person is its owner)."""
    found: dict[int, list[tuple[dt.date, float]]] = defaultdict(list)
    for spec in timesheet_types(catalog):
        model = catalog.models.models[spec.name]
        day, hours = _column(spec, model, "date"), _column(spec, model, "hours")
        rows = session.execute(
            select(model.owner_id, day, hours).where(
                model.owner_id.in_(list(people)), day >= first, day <= last, hours.is_not(None)
            )
        )
        for person, on, spent in rows:
            found[person].append((on, float(spent)))
    return found


def loads(
    session: Session,
    catalog: Catalog,
    members: Sequence[Member],
    first: dt.date,
    last: dt.date,
    default_zone: str,
) -> dict[int, Load]:
    """Each member's load from `first` to `last`: the figure assignment and the workload views share."""
    ids = [m.id for m in members]
    counts, work = open_work(session, catalog, ids)
    actual = booked_hours(session, catalog, ids, first, last)
    return {
        m.id: load_between(
            first,
            last,
            m.capacity(default_zone),
            work.get(m.id, []),
            counts.get(m.id, 0),
            actual.get(m.id, []),
        )
        for m in members
    }


def current_week(now: dt.datetime, zone: str) -> Week:
    return week_of(now.astimezone(ZoneInfo(zone)).date())


def candidates(
    session: Session, catalog: Catalog, members: Sequence[Member], now: dt.datetime, default_zone: str
) -> list[Candidate]:
    """The members as assignment sees them, each with their load of this week."""
    week = current_week(now, default_zone)
    found = loads(session, catalog, members, week.start, week.end, default_zone)
    return [
        Candidate(
            id=m.id,
            calendar=company_calendar(m.timezone or default_zone),
            load=found[m.id],
            skills=frozenset(m.skills),
            away_until=m.away_until,
        )
        for m in members
    ]


@dataclass
class PersonRow:
    person: Person
    weeks: list[Load]


def team_weeks(
    session: Session, catalog: Catalog, people: Sequence[Person], weeks: list[Week], default_zone: str
) -> list[PersonRow]:
    """Each person's load in each of `weeks`."""
    ids = [p.id for p in people]
    counts, work = open_work(session, catalog, ids)
    actual = booked_hours(session, catalog, ids, weeks[0].start, weeks[-1].end) if weeks else {}
    return [
        PersonRow(
            p,
            weekly_loads(
                weeks,
                Member.of(p).capacity(default_zone),
                work.get(p.id, []),
                counts.get(p.id, 0),
                actual.get(p.id, []),
            ),
        )
        for p in people
    ]


# --- a project's schedule -------------------------------------------------------


@dataclass
class Plan:
    """The planned records of a project, as the Gantt chart draws them."""

    spec: RecordTypeSpec
    records: list[Any]
    #: The baseline dates by record id, and what they are ("gate": approved at the planning gate,
    #: "first": the first dates saved).
    baseline: dict[int, tuple[dt.date | None, dt.date | None]]
    baseline_kind: str


def plan_type_of(catalog: Catalog, project_type: str) -> tuple[RecordTypeSpec, str] | None:
    """The planned type whose records belong to `project_type` records, and the field that says so."""
    for spec in planned_types(catalog):
        field = spec.body.get("belongs_to")
        if field and spec.fields[field].target == project_type and "depends_on" in spec.planning:
            return spec, field
    for spec in planned_types(catalog):
        for f in spec.fields.values():
            if f.kind == "ref" and f.target == project_type:
                return spec, f.name
    return None


def plan_of(records: Records, project_type: str, project: Any) -> Plan | None:
    """The project's planned records the actor may read, with their baseline."""
    found = plan_type_of(records.catalog, project_type)
    if found is None:
        return None
    spec, field = found
    model = records.model(spec.name)
    rows = list(
        records.session.scalars(
            records.query(spec.name)
            .where(getattr(model, spec.fields[field].column) == project.id)
            .order_by(model.id)
        )
    )
    moment = _baseline_moment(records, project_type, project)
    return Plan(
        spec, rows, baseline_dates(records, spec, [r.id for r in rows], moment), "gate" if moment else "first"
    )


def _baseline_moment(records: Records, project_type: str, project: Any) -> dt.datetime | None:
    """When the project first entered its type's baseline state (its plan was approved), if it did."""
    return baseline_moments(records, project_type, [project.id])[project.id]


def baseline_moments(
    records: Records, project_type: str, ids: Sequence[int]
) -> dict[int, dt.datetime | None]:
    """`_baseline_moment` of many projects, in one read of their history."""
    state = records.catalog.record_types[project_type].planning.get("baseline_state")
    found: dict[int, dt.datetime | None] = dict.fromkeys(ids)
    if state is None or not ids:
        return found
    events = records.session.scalars(
        select(RecordEvent)
        .where(RecordEvent.record_type == project_type, RecordEvent.record_id.in_(ids))
        .order_by(RecordEvent.id)
    )
    for event in events:
        if found[event.record_id] is None and any(
            c.get("path") == "/state" and c.get("new") == state for c in event.changes or ()
        ):
            found[event.record_id] = event.at
    return found


def baseline_dates(
    records: Records,
    spec: RecordTypeSpec,
    ids: list[int],
    moment: dt.datetime | None | Mapping[int, dt.datetime | None],
) -> dict[int, tuple[dt.date | None, dt.date | None]]:
    """Each record's start and due as of `moment` (its first saved ones when None or before it existed);
    `moment` is one for all, or each record's own (by id)."""
    moments = moment if isinstance(moment, Mapping) else dict.fromkeys(ids, moment)
    paths = {f"/data/{spec.planning.get(r)}": r for r in ("start", "due") if spec.planning.get(r)}
    found: dict[int, dict[str, Any]] = {}
    first: dict[int, dict[str, Any]] = {}
    for chunk in range(0, len(ids), 500):
        events = records.session.execute(  # the columns, not ORM objects: a nightly run reads every task's
            select(RecordEvent.record_id, RecordEvent.at, RecordEvent.changes)
            .where(RecordEvent.record_type == spec.name, RecordEvent.record_id.in_(ids[chunk : chunk + 500]))
            .order_by(RecordEvent.id)
        )
        for record_id, event_at, changes in events:
            for change in changes or ():
                role = paths.get(change.get("path"))
                if role is None:
                    continue
                first.setdefault(record_id, {}).setdefault(role, change.get("new"))
                at = moments.get(record_id)
                if at is not None and event_at <= at:
                    found.setdefault(record_id, {})[role] = change.get("new")
    result = {}
    for record_id in ids:
        values = (
            found.get(record_id)
            if moments.get(record_id) is not None and record_id in found
            else first.get(record_id, {})
        )
        result[record_id] = (_day(values.get("start")), _day(values.get("due")))
    return result


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def working_day(zone: str) -> Callable[[dt.date], bool]:
    """Whether a day is a working day of the company calendar (China's holidays and make-up days)."""
    calendar = company_calendar(zone)
    return lambda day: bool(calendar.hours_on(day))


def schedule_tasks(spec: RecordTypeSpec, rows: Iterable[Any]) -> list[Task]:
    """The dated records as schedule tasks (a record with only one date lasts that day)."""
    tasks = []
    for row in rows:
        start, due = dates_of(spec, row)
        if start is None or due is None:
            continue
        depends = spec.planning.get("depends_on")
        milestone = spec.planning.get("milestone")
        tasks.append(
            Task(
                row.id,
                start,
                due,
                tuple(getattr(row, spec.fields[depends].column) or ()) if depends else (),
                bool(getattr(row, spec.fields[milestone].column)) if milestone else False,
            )
        )
    return tasks


def dates_of(spec: RecordTypeSpec, row: Any) -> tuple[dt.date | None, dt.date | None]:
    start = _value(spec, row, "start")
    due = _value(spec, row, "due")
    start, due = start or due, due or start
    if start is not None and due is not None and due < start:
        start = due  # an old record from before the rule; drawn as one day
    return start, due


def _value(spec: RecordTypeSpec, row: Any, role: str) -> Any:
    name = spec.planning.get(role)
    return getattr(row, spec.fields[name].column) if name in spec.fields else None
