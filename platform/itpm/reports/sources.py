"""A report's data: its sources read through the records service, as plain values for the template.

Everything goes through `Records` with the person asking as the actor, so a
report shows exactly the rows and fields that person may see, and a source's
one record (a project) they may not see fails the whole report (NotFound).
Templates get dicts, lists and text only, never ORM objects: nothing in a
template can reach a session, a table or a class.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping
from typing import Any

import nh3
from flask_babel import lazy_gettext as _
from sqlalchemy import select

from itpm.models import Department, Person, Team
from itpm.people import display_name
from itpm.records.fields import (
    BOOLEAN,
    CLIENT_TYPE,
    DATETIME,
    ENUM,
    ENUM_LIST,
    INTEGER,
    NUMBER,
    REF,
    REF_LIST,
    RICHTEXT,
    TEXT,
    USER,
    USER_LIST,
    FieldSpec,
)
from itpm.records.service import Forbidden, NotFound, Records
from itpm.records.values import parse_datetime
from itpm.reports.definition import SYSTEM_FILTERS, ReportDefinition, Source
from itpm.reports.measures import month_end, month_start, months, planned_ends

SYSTEM_DATES = ("created_at", "updated_at")
YES_NO = {"en": ("Yes", "No"), "zh": ("是", "否")}
LIST_SEPARATOR = {"en": ", ", "zh": "、"}


def read_data(
    records: Records, definition: ReportDefinition, arguments: Mapping[str, Any], lang: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each source by name (a record, or a list of records), and each parameter's value as it reads."""
    found = {source.name: _read(records, source, arguments) for source in definition.sources.values()}
    rows = [r for value in found.values() for r in (value or [])]
    names = Names(records, rows, definition, arguments, lang)
    data: dict[str, Any] = {}
    for source in definition.sources.values():
        value = [names.record(r, source.history) for r in found[source.name] or []]
        data[source.name] = (value[0] if value else None) if source.id else value
    return data, names.parameters()


def _read(records: Records, source: Source, arguments: Mapping[str, Any]) -> list[Any] | None:
    try:
        spec = records.spec(source.record_type)
    except NotFound:
        if source.optional:
            return None
        raise
    if source.id:
        return [records.get(spec.name, arguments[source.id])]
    _refuse_hidden(records, source)
    model = records.model(spec.name)
    where = []
    for name, parameter in source.where.items():
        if arguments.get(parameter) is not None:
            where.append(_column(model, spec.fields, name) == arguments[parameter])
    if source.within:
        column = _column(model, spec.fields, source.within["field"])
        month = arguments[source.within["month"]]
        first = month_start(months(month, source.within.get("months", 1))[0])
        after = month_end(month) + dt.timedelta(days=1)
        field = spec.fields.get(source.within["field"])
        if field is not None and field.kind != DATETIME:
            where += [column >= first, column < after]
        else:
            where += [column >= _midnight(first, records), column < _midnight(after, records)]
    order = [
        _column(model, spec.fields, name.lstrip("-")).desc()
        if name.startswith("-")
        else _column(model, spec.fields, name)
        for name in source.order
    ]
    return records.page(spec.name, where, order, page_size=source.limit)[1]


def _refuse_hidden(records: Records, source: Source) -> None:
    """A source that picks or orders its rows by a field hidden from the person is refused, naming it:
    its rows would tell, one parameter value at a time, what the field holds."""
    named = [
        *source.where,
        *([source.within["field"]] if source.within else []),
        *(n.lstrip("-") for n in source.order),
    ]
    hidden = records.access.hidden_fields(records.actor, records.spec(source.record_type))
    for name in named:
        if name in hidden:
            raise Forbidden(
                _(
                    "This report selects %(type)s records by the field %(field)s, which you may not see.",
                    type=source.record_type,
                    field=name,
                )
            )


def _column(model: Any, fields: Mapping[str, FieldSpec], name: str) -> Any:
    if name in fields:
        return getattr(model, fields[name].column)
    return getattr(model, SYSTEM_FILTERS.get(name, name))


def _midnight(day: dt.date, records: Records) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=records.zone)


class Names:
    """What ids read as in a report: people, their teams, departments, clients and referenced records.

    Looked up once for all the records of a report (a query per kind, not per
    row); referenced records only when the person may see them.
    """

    def __init__(
        self,
        records: Records,
        rows: Iterable[Any],
        definition: ReportDefinition,
        arguments: Mapping[str, Any],
        lang: str,
    ) -> None:
        self.records = records
        self.definition = definition
        self.arguments = arguments
        self.lang = lang
        people: set[int] = set()
        departments: set[int] = set()
        references: dict[str, set[int]] = {}
        for row in rows:
            spec = records.spec(row.__record_type__)
            people.update(i for i in (row.owner_id, row.assignee_id) if i)
            if row.department_id:
                departments.add(row.department_id)
            if row.client_id:
                references.setdefault(CLIENT_TYPE, set()).add(row.client_id)
            for field in spec.fields.values():
                value = getattr(row, field.column)
                ids = value if isinstance(value, list) else [value]
                if field.kind in (USER, USER_LIST):
                    people.update(i for i in ids if isinstance(i, int))
                elif field.kind in (REF, REF_LIST) and field.target:
                    references.setdefault(field.target, set()).update(i for i in ids if isinstance(i, int))
        for name, parameter in definition.parameters.items():
            value = arguments.get(name)
            if isinstance(value, int) and parameter.ref == "user":
                people.add(value)
            elif isinstance(value, int) and parameter.ref == "department":
                departments.add(value)
            elif isinstance(value, int) and parameter.ref:
                references.setdefault(parameter.ref, set()).add(value)
        self.people = self._people(people)
        self.departments = {
            d.id: d.titles.get(lang) or d.title_en
            for d in records.session.scalars(select(Department).where(Department.id.in_(departments)))
        }
        self.references = {
            (target, i): label
            for target, ids in references.items()
            if target in records.catalog.record_types
            for i, label in records.lookup_ids(target, sorted(ids))
        }

    def _people(self, ids: set[int]) -> dict[int, tuple[str, str]]:
        """Each person's name and their team's title."""
        query = (
            select(
                Person.id, Person.first_name, Person.last_name, Person.username, Team.title_en, Team.title_zh
            )
            .outerjoin(Team, Person.team_id == Team.id)
            .where(Person.id.in_(ids))
        )
        found = {}
        for pid, first, last, username, team_en, team_zh in self.records.session.execute(query):
            name = display_name(first, last, username)
            found[pid] = (name, (team_zh if self.lang == "zh" else team_en) or team_en or "")
        return found

    def person(self, person_id: int | None) -> str:
        return self.people.get(person_id, ("", ""))[0] if person_id else ""

    def reference(self, target: str | None, record_id: Any) -> str:
        return self.references.get((target, record_id), "") if target else ""

    def parameters(self) -> dict[str, str]:
        """Each given parameter's value as it reads: a record's label, a person's or department's name."""
        shown = {}
        for name, parameter in self.definition.parameters.items():
            value = self.arguments.get(name)
            if value is None:
                continue
            if parameter.ref == "user":
                shown[name] = self.person(value)
            elif parameter.ref == "department":
                shown[name] = self.departments.get(value, "")
            elif parameter.ref:
                shown[name] = self.reference(parameter.ref, value)
            else:
                labels = parameter.schema.get("x-enum-titles", {}).get(str(value))
                shown[name] = labels[self.lang] if labels else str(value)
        return shown

    def record(self, row: Any, history: bool = False) -> dict[str, Any]:
        """A record as a template reads it: system fields, `data` (JSON values) and `text` (as they read)."""
        records = self.records
        spec = records.spec(row.__record_type__)
        data = records.data(row)
        person = self.people.get(row.assignee_id, ("", ""))
        value = {
            "id": row.id,
            "type": spec.name,
            "number": row.number,
            "label": str(row),
            "state": row.state,
            "state_title": self.state_title(spec.name, row.state),
            "finished": records.finished(spec.name, row.state),
            "state_category": self.state_category(spec.name, row.state),
            "data": data,
            "text": {name: self.text(spec.fields[name], v) for name, v in data.items()},
            "assignee": person[0],
            "team": person[1],
            "owner": self.person(row.owner_id),
            "department": self.departments.get(row.department_id, ""),
            "client": self.reference(CLIENT_TYPE, row.client_id),
            **{name: getattr(row, name).astimezone(records.zone).isoformat() for name in SYSTEM_DATES},
        }
        if history:
            value["history"] = records.history(spec.name, row.id)
            if spec.phase_plan:  # what its phases are set against (`measures.phase_durations`)
                value["phase_plan"] = planned_ends(spec.phase_plan[1], data)
        return value

    def state_category(self, type_name: str, state: str) -> str | None:
        """A workflow state's category (open, in_progress, waiting, done, cancelled); None without one."""
        workflow = self.records.catalog.workflows.get(type_name)
        return workflow.state(state).category if workflow else None

    def state_title(self, type_name: str, state: str) -> str:
        """A workflow state as it reads in the report's language ("done": 已完成)."""
        workflow = self.records.catalog.workflows.get(type_name)
        found = workflow.states.get(state) if workflow else None
        return found.title.get(self.lang) or found.title.get("en", state) if found else state

    def text(self, field: FieldSpec, value: Any) -> str:
        """A field's JSON value as it reads in the report's language."""
        if value is None or value == [] or value == "":
            return ""
        values = value if isinstance(value, list) else [value]
        kind = field.kind
        if kind in (ENUM, ENUM_LIST):
            labels = dict(field.choices)
            shown = [labels.get(v, {}).get(self.lang) or str(v) for v in values]
        elif kind in (REF, REF_LIST):
            shown = [self.reference(field.target, v) or f"#{v}" for v in values]
        elif kind in (USER, USER_LIST):
            shown = [self.person(v) for v in values]
        elif kind == BOOLEAN:
            return YES_NO[self.lang][0 if value else 1]
        elif kind in (INTEGER, NUMBER):
            return f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
        elif kind == DATETIME:
            return parse_datetime(value).astimezone(self.records.zone).strftime("%Y-%m-%d %H:%M")
        elif kind == RICHTEXT:
            return html.unescape(nh3.clean(value, tags=set())).strip()
        elif kind == TEXT or isinstance(value, str):
            return str(value)
        else:
            return ""
        return LIST_SEPARATOR[self.lang].join(s for s in shown if s)
