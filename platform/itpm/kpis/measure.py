"""Measuring a KPI for a reader: over the rows they may read, the same SQL on SQLite and PostgreSQL.

Every query starts from `Records.query` (the reader's rows of the record type),
and a KPI that reads a field hidden from the reader is refused, so no number
is computed over rows or fields the reader may not see. Counts, shares, sums
and averages of a number field are aggregated by the database; durations, SLA
times, medians, p90s and the team an assignee belonged to on the cohort date
are computed here from the counted rows. `counted` gives exactly the records
behind a figure (its drill-down): its count is the figure's n.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import and_, case, func, literal, select

from itpm.kpis.conditions import field_columns, to_sql, value_sql
from itpm.kpis.spec import DURATION_UNITS, Figure, Kpi, Period, figure, month_list
from itpm.models import Department, Person, RecordEvent, Team
from itpm.people import display_name
from itpm.records.fields import CLIENT_TYPE, DATE, REF, RecordTypeSpec
from itpm.records.service import Forbidden, Invalid, NotFound, Records
from itpm.sla.calendar import BusinessCalendar, business_time_between
from itpm.sla.clock import policy_from_definition

WALL = "wall"
#: A duration `to` now: an age.
NOW = "now"


@dataclass
class Answer:
    """A KPI's figure for a period (and its groups when broken down), with what it was computed over."""

    kpi: Kpi
    period: Period
    total: Figure
    breakdown: str | None = None
    groups: list[Figure] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body = {
            "kpi": self.kpi.name,
            **self.total.as_json(),
            "unit": self.kpi.unit,
            "period": self.period.label,
            "filters": self.filters,
            "target": self.kpi.target,
            "direction": self.kpi.body.get("direction", "up"),
        }
        if self.breakdown:
            body["breakdown"] = self.breakdown
            body["groups"] = [g.as_json() for g in self.groups]
        return body


def kpi_of(records: Records, name: str) -> Kpi:
    """The published KPI `name`, if the reader may read it (NotFound otherwise, as for a record)."""
    document = records.catalog.configuration.get("kpi", name)
    if document is None:
        raise NotFound(_("There is no KPI %(name)s.", name=name))
    kpi = Kpi(document.body)
    if not may_read(records, kpi):
        raise NotFound(_("There is no KPI %(name)s.", name=name))
    return kpi


def may_read(records: Records, kpi: Kpi) -> bool:
    actor, access = records.actor, records.access
    try:
        spec = records.spec(kpi.record_type)
    except NotFound:
        return False
    if not access.can(actor, spec, "read"):
        return False
    if actor.is_system or "manage_definitions" in access.abilities(actor):
        return True
    if actor.client_id is not None and not kpi.client_facing:
        return False
    return not kpi.readers or bool(set(kpi.readers) & actor.roles)


def readable(records: Records) -> list[Kpi]:
    """The KPIs the reader may read, by title."""
    found = [Kpi(d.body) for d in records.catalog.configuration.of_kind("kpi")]
    return [k for k in found if may_read(records, k)]


class Measure:
    """One KPI measured for one reader at one moment."""

    def __init__(
        self, records: Records, kpi: Kpi, now: dt.datetime | None = None, lang: str | None = None
    ) -> None:
        self.records, self.kpi = records, kpi
        #: The language groups are named in (the request's, unless given: a report's own).
        self.lang = lang or _lang()
        self.now = now or records.clock()
        self.spec: RecordTypeSpec = records.spec(kpi.record_type)
        self.table = records.model(kpi.record_type).__table__
        self.columns = field_columns(self.spec, self.table)
        hidden = records.access.hidden_fields(records.actor, self.spec)
        for name in sorted(kpi.fields_read & hidden):
            raise Forbidden(_("This KPI reads the field %(field)s, which you may not see.", field=name))

    # --- the rows counted ---------------------------------------------------

    def conditions(self, period: Period, filters: Mapping[str, Any], part: str = "all") -> list[Any]:
        """The SQL conditions selecting the counted records (`part="numerator"`: those meeting it)."""
        kpi = self.kpi
        cohort, kind = self.columns(kpi.cohort)
        found = [self.records.scope(kpi.record_type), cohort.is_not(None)]
        found += [cohort >= self.bound(period.first, kind), cohort < self.bound(_next_day(period.last), kind)]
        if kpi.where:
            found.append(to_sql(kpi.where, self.columns, self.local_now()))
        value = kpi.value
        if isinstance(value, str):
            found.append(self.value_column().is_not(None))
        elif isinstance(value, dict) and "from" in value:
            found += [self.columns(end)[0].is_not(None) for end in (value["from"], value["to"]) if end != NOW]
        elif isinstance(value, dict):  # an SLA clock's stored time: counted once the clock has stopped
            found.append(self.sla_value().is_not(None))
        if part == "numerator":
            found.append(self.flag())
        for name, wanted in filters.items():
            if name == "team" and kpi.team_as_of:
                continue  # the team on the cohort date is read from the history, in `rows`
            found.append(self.group(name, period) == wanted)
        return found

    def bound(self, day: dt.date, kind: str) -> Any:
        if kind == DATE:
            return day
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=self.records.zone)
        return midnight.astimezone(dt.UTC)

    def local_now(self) -> dt.datetime:
        return self.now.astimezone(self.records.zone)

    def flag(self, key: str = "numerator") -> Any:
        return to_sql(self.kpi.body[key], self.columns, self.local_now())

    def value_column(self) -> Any:
        if isinstance(self.kpi.value, dict):
            return self.sla_value()
        return value_sql(self.kpi.value, self.columns, self.local_now())[0]

    def sla_value(self) -> Any:
        """An SLA clock's stored time in the KPI's unit, NULL while it runs (JSON paths, which SQLAlchemy
        writes for each database; the rows path reads the same JSON in `value_of`)."""
        name = self.kpi.value["sla"]
        clocks = self.table.c.sla_clocks
        unit = DURATION_UNITS[self.kpi.unit if self.kpi.unit in DURATION_UNITS else "hours"]
        stopped = clocks[(name, "is_stopped")].as_boolean()
        return case((stopped, clocks[(name, "elapsed")].as_float() * 60.0 / unit), else_=literal(None))

    def group(self, breakdown: str, period: Period) -> Any:
        """The SQL value a record is grouped by for `breakdown`."""
        c = self.table.c
        if breakdown == "department":
            return c.department_id
        if breakdown == "client":
            return c.client_id
        if breakdown == "person":
            return func.coalesce(c.assignee_id, c.owner_id)  # a timesheet has no assignee: its owner
        if breakdown == "priority":
            return self.columns("priority")[0]
        if breakdown == "project":
            return c.id if self.spec.name == "project" else self.columns("project")[0]
        if breakdown == "team":
            person = func.coalesce(c.assignee_id, c.owner_id)
            return select(Person.team_id).where(Person.id == person).scalar_subquery()
        cohort, kind = self.columns(self.kpi.cohort)
        months = period.months
        starts = [self.bound(dt.date(int(m[:4]), int(m[5:7]), 1), kind) for m in months]
        last = dt.date(int(months[-1][:4]), int(months[-1][5:7]), 1)
        starts.append(self.bound(dt.date(last.year + last.month // 12, last.month % 12 + 1, 1), kind))

        def between(low: int, high: int) -> Any:
            """The month of a record dated within months[low:high]: halving, so a few comparisons a row."""
            if high - low == 1:
                return literal(months[low])
            middle = (low + high) // 2
            return case((cohort < starts[middle], between(low, middle)), else_=between(middle, high))

        inside = and_(cohort >= starts[0], cohort < starts[-1])
        return case((inside, between(0, len(months))), else_=literal(None))

    # --- measuring ------------------------------------------------------------

    def answer(
        self, period: Period, breakdown: str | None = None, filters: Mapping[str, Any] | None = None
    ) -> Answer:
        return self.answers([(period, breakdown)], filters)[0]

    def answers(
        self, questions: list[tuple[Period, str | None]], filters: Mapping[str, Any] | None = None
    ) -> list[Answer]:
        """Several questions about this KPI answered from one query: the rows of all their months, grouped by
        month (when the questions need it) and by their one breakdown other than month (a dashboard's number
        with its period before, its trend by month and its bars by priority are one query)."""
        filters = self.checked(None, filters or {})
        others = {b for _p, b in questions if b not in (None, "month")}
        if len(others) > 1:
            raise ValueError(f"one breakdown besides month per query, not {sorted(others)}")
        for _period, breakdown in questions:
            self.checked(breakdown, {})
        dimension = next(iter(others), None)
        periods = {p for p, _b in questions}
        by_month = len(periods) > 1 or any(b == "month" for _p, b in questions)
        span = _spanning(periods)
        if self.in_database():
            cells = self.aggregate(span, dimension, filters, by_month)
        else:
            cells = self.from_rows(span, dimension, filters, by_month)
        found = []
        for period, breakdown in questions:
            inside = {k: v for k, v in cells.items() if not by_month or k[0] in period.months}
            answer = Answer(self.kpi, period, self.merged(inside.values()), breakdown, filters=dict(filters))
            if breakdown:
                at = 0 if breakdown == "month" else 1
                grouped: dict[Any, list[Any]] = defaultdict(list)
                for key, cell in inside.items():
                    grouped[key[at]].append(cell)
                labels = self.labels(breakdown, [k for k in grouped if k is not None])
                keys = sorted(grouped, key=lambda k: (k is None, str(labels.get(k, k))))
                if breakdown == "month":
                    keys = list(period.months)
                for key in keys:
                    shown = self.merged(grouped.get(key, []))
                    shown.key, shown.label = key, str(labels.get(key, key if key is not None else "—"))
                    answer.groups.append(shown)
            found.append(answer)
        return found

    def merged(self, cells: Iterable[Any]) -> Figure:
        """The figure of some cells of `aggregate` or `from_rows`."""
        cells = list(cells)
        if self.in_database():
            return self.combined(cells)
        return figure(self.kpi, *(sum((list(c[i]) for c in cells), []) for i in range(3)))

    def checked(self, breakdown: str | None, filters: Mapping[str, Any]) -> dict[str, Any]:
        allowed = set(self.kpi.breakdowns or ())
        if breakdown is not None and breakdown not in allowed:
            raise Invalid(
                _(
                    "This KPI breaks down by %(allowed)s, not %(name)s.",
                    allowed=", ".join(sorted(allowed)) or "-",
                    name=breakdown,
                )
            )
        checked = {}
        for name, value in filters.items():
            if name not in allowed or name == "month":
                raise Invalid(
                    _(
                        "This KPI filters by %(allowed)s, not %(name)s.",
                        allowed=", ".join(sorted(allowed - {"month"})) or "-",
                        name=name,
                    )
                )
            checked[name] = value if name == "priority" else _id(name, value)
        return checked

    def in_database(self) -> bool:
        value = self.kpi.value
        return (
            self.kpi.measure in ("count", "share", "sum", "average")
            and (not isinstance(value, dict) or "sla" in value)
            and not self.kpi.team_as_of
        )

    def aggregate(
        self, period: Period, breakdown: str | None, filters: Mapping[str, Any], by_month: bool = False
    ) -> dict[Any, Any]:
        """Count, numerator, sum and subtracted by (month, group), aggregated by the database:
        {(month, key): (n, met, total, less)} (month and key None when not asked for)."""
        month = self.group("month", period) if by_month else literal(None)
        key = self.group(breakdown, period) if breakdown else literal(None)
        met = func.sum(case((self.flag(), 1), else_=0)) if self.kpi.is_rate else literal(0)
        less = func.sum(case((self.flag("subtract"), 1), else_=0)) if self.kpi.subtract else literal(0)
        total = func.sum(self.value_column()) if self.kpi.value is not None else literal(0)
        grouping = [g for g, wanted in ((month, by_month), (key, breakdown)) if wanted]
        query = (
            select(month.label("month"), key.label("key"), func.count(), met, total, less)
            .select_from(self.table)
            .where(*self.conditions(period, filters))
        )
        if grouping:
            query = query.group_by(*grouping)
        rows = self.records.session.execute(query).all()
        return {
            (row[0], row[1]): (int(row[2]), int(row[3] or 0), float(row[4] or 0), int(row[5] or 0))
            for row in rows
            if row[2]
        }

    def combined(self, groups: Iterable[Any]) -> Figure:
        groups = list(groups)
        n = sum(g[0] for g in groups)
        met = sum(g[1] for g in groups)
        total = sum(g[2] for g in groups)
        kpi = self.kpi
        if kpi.measure == "count":
            return Figure(float(n), n)
        if kpi.measure == "share":
            less = sum(g[3] for g in groups)
            return figure(kpi, [], [True] * met + [False] * (n - met), subtracted=less)
        if kpi.measure == "sum":
            return Figure(total, n)
        return Figure(total / n if n else None, n)

    def rows(
        self, period: Period, filters: Mapping[str, Any], breakdown: str | None = None, by_month: bool = False
    ) -> list[tuple[int, Any, Any, float | None, bool, bool]]:
        """(id, month, group key, value, meets the numerator, meets `subtract`) of each counted record."""
        kpi = self.kpi
        c = self.table.c
        grouped = breakdown is not None and not (breakdown == "team" and kpi.team_as_of)
        parts = [
            c.id,
            self.group("month", period) if by_month else literal(None),
            self.group(breakdown, period) if grouped else literal(None),
        ]
        parts.append(self.flag() if kpi.is_rate else literal(False))
        parts.append(self.flag("subtract") if kpi.subtract else literal(False))
        value = kpi.value
        if isinstance(value, str):
            parts.append(self.value_column())
        elif isinstance(value, dict) and "from" in value:
            parts += [
                literal(None) if end == NOW else self.columns(end)[0] for end in (value["from"], value["to"])
            ]
        elif isinstance(value, dict):
            parts.append(c.sla_clocks)
        if kpi.team_as_of:
            parts += [self.columns(kpi.cohort)[0], c.assignee_id, c.created_at]
        query = select(*parts).select_from(self.table).where(*self.conditions(period, filters)).order_by(c.id)
        found = []
        teams = self.teams_then(query) if kpi.team_as_of else {}
        wanted_team = filters.get("team") if kpi.team_as_of else None
        for row in self.records.session.execute(query):
            number = self.value_of(row[5:]) if value is not None else None
            if value is not None and number is None:
                continue
            key = row[2]
            if kpi.team_as_of:
                team = teams.get(row[0])
                if "team" in filters and team != wanted_team:
                    continue
                if breakdown == "team":
                    key = team
            found.append((row[0], row[1], key, number, bool(row[3]), bool(row[4])))
        return found

    def from_rows(
        self, period: Period, breakdown: str | None, filters: Mapping[str, Any], by_month: bool = False
    ) -> dict[Any, Any]:
        """{(month, key): (values, flags, subtracted flags)} of the counted records."""
        groups: dict[Any, tuple[list[float], list[bool], list[bool]]] = defaultdict(lambda: ([], [], []))
        for _record_id, month, key, number, met, less in self.rows(period, filters, breakdown, by_month):
            values, flags, lesses = groups[(month, key)]
            if number is not None:
                values.append(number)
            flags.append(met)
            lesses.append(less)
        return dict(groups)

    def value_of(self, parts: tuple[Any, ...]) -> float | None:
        value = self.kpi.value
        if isinstance(value, str):
            return None if parts[0] is None else float(parts[0])
        assert isinstance(value, dict)
        seconds: float | None
        if "from" in value:
            start, end = (
                self.now if name == NOW else self.moment(p)
                for name, p in zip((value["from"], value["to"]), parts[:2], strict=True)
            )
            if start is None or end is None or end < start:
                return None
            if value["calendar"] == WALL:
                seconds = (end - start).total_seconds()
            else:
                seconds = business_time_between(self.calendar(value["calendar"]), start, end).total_seconds()
        else:
            kept = (parts[0] or {}).get(value["sla"])
            if not kept or not kept.get("is_stopped"):
                return None
            seconds = 60.0 * kept["elapsed"]
        return seconds / DURATION_UNITS[self.kpi.unit if self.kpi.unit in DURATION_UNITS else "hours"]

    def moment(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return dt.datetime(value.year, value.month, value.day, tzinfo=self.records.zone)

    def calendar(self, name: str) -> BusinessCalendar:
        document = self.records.catalog.configuration.get("sla", name)
        assert document is not None  # the checks hold a KPI's calendar to an sla definition
        return policy_from_definition(document.body).calendar

    def teams_then(self, query: Any) -> dict[int, int | None]:
        """Each counted record's team on its cohort date: the team of the assignee it had then (its history)."""
        rows = self.records.session.execute(query).all()
        on: dict[int, tuple[dt.datetime, int | None]] = {}
        for row in rows:
            cohort = self.moment(row[-3]) or row[-1]
            on[row[0]] = (cohort, row[-2])
        assignees: dict[int, int | None] = {}
        ids = list(on)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            events = self.records.session.execute(
                select(RecordEvent.record_id, RecordEvent.at, RecordEvent.changes)
                .where(RecordEvent.record_type == self.spec.name, RecordEvent.record_id.in_(chunk))
                .order_by(RecordEvent.id)
            )
            for record_id, at, changes in events:
                for change in changes or ():
                    if change.get("path") != "/assignee":
                        continue
                    cohort = on[record_id][0]
                    if at <= cohort:
                        assignees[record_id] = change.get("new")
                    elif record_id not in assignees:  # none set by then: the first one known (made later)
                        old = change.get("old")
                        assignees[record_id] = old if old is not None else change.get("new")
        people = {i for i in (assignees.get(r, on[r][1]) for r in on) if i}
        team_of = dict(
            self.records.session.execute(select(Person.id, Person.team_id).where(Person.id.in_(people))).all()
        )
        return {r: team_of.get(assignees.get(r, on[r][1])) for r in on}

    # --- naming groups ----------------------------------------------------------

    def labels(self, breakdown: str, keys: Iterable[Any]) -> dict[Any, str]:
        keys = list(keys)
        lang = self.lang
        session = self.records.session
        if breakdown in ("month", "priority"):
            if breakdown == "priority" and "priority" in self.spec.fields:
                return {
                    k: v.get(lang) or v.get("en") or k
                    for k, v in self.spec.fields["priority"].choices
                    if k in keys
                }
            return {k: k for k in keys}
        if breakdown == "department":
            rows = session.execute(
                select(Department.id, Department.title_en, Department.title_zh).where(Department.id.in_(keys))
            )
            return {i: (zh if lang == "zh" else en) or en for i, en, zh in rows}
        if breakdown == "team":
            rows = session.execute(select(Team.id, Team.title_en, Team.title_zh).where(Team.id.in_(keys)))
            return {i: (zh if lang == "zh" else en) or en for i, en, zh in rows}
        if breakdown == "person":
            rows = session.execute(
                select(Person.id, Person.first_name, Person.last_name, Person.username).where(
                    Person.id.in_(keys)
                )
            )
            return {i: display_name(first, last, user) for i, first, last, user in rows}
        target = CLIENT_TYPE if breakdown == "client" else "project"
        if target not in self.records.catalog.record_types:
            return {}
        return dict(self.records.lookup_ids(target, keys))

    def counted(
        self, period: Period, filters: Mapping[str, Any] | None = None, part: str = "all"
    ) -> list[int]:
        """The ids of exactly the records behind the figure (with `filters`, one group's), oldest first."""
        filters = self.checked(None, {}) if filters is None else self.checked(None, filters)
        return [row[0] for row in self.rows(period, filters) if part != "numerator" or row[4]]


def project_field_ok(spec: RecordTypeSpec) -> bool:
    field_ = spec.fields.get("project")
    return spec.name == "project" or (field_ is not None and field_.kind == REF)


def _id(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Invalid(_("The filter %(name)s takes an id, not %(value)r.", name=name, value=value)) from None


def _spanning(periods: Iterable[Period]) -> Period:
    """The one period from the first month of `periods` to their last (the months between them too)."""
    periods = list(periods)
    if len(periods) == 1:
        return periods[0]
    first, last = min(p.first for p in periods), max(p.last for p in periods)
    return Period(first, last, tuple(month_list(f"{first:%Y-%m}", f"{last:%Y-%m}")))


def _next_day(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1)


def _lang() -> str:
    from flask_babel import get_locale

    try:
        return "zh" if str(get_locale() or "en").startswith("zh") else "en"
    except (RuntimeError, AttributeError):
        return "en"
