"""How record values read on a page: choice labels, dates in the person's time zone,
money and percentages, links to referenced records, people by name, safe rich text,
states and SLA clocks; and the template filters that show them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, g, has_request_context, url_for
from flask_babel import gettext
from markupsafe import Markup, escape

from itpm.db import utcnow
from itpm.people import display_name
from itpm.records.fields import (
    BOOLEAN,
    DATE,
    DATETIME,
    ENUM,
    ENUM_LIST,
    FILE,
    FILE_LIST,
    INTEGER,
    JSON,
    NUMBER,
    REF,
    REF_LIST,
    RICHTEXT,
    TEXT,
    USER,
    USER_LIST,
    FieldSpec,
    RecordTypeSpec,
)
from itpm.records.values import format_number, parse_datetime, sanitise_html
from itpm.sla.tickets import (
    AT_RISK,
    BREACHED,
    MET,
    ON_TRACK,
    PAUSED,
    STATUS_TITLES,
    due_time_left,
    duration_text,
    time_left,
)
from itpm.texts import Bilingual, language, text

__all__ = [  # Bilingual too: the views take it from here
    "Bilingual", "choice_label", "display", "format_number", "list_formatters", "local_time",
    "nested_display", "person_name", "person_zone", "record_link", "reference_labels", "safe_html", "see_ahead", "visible_link",
    "sla_formatters", "sla_status_label", "state_formatter", "install",
]  # fmt: skip


def person_name(person: Any) -> str:
    if person is None:
        return ""
    return display_name(person.first_name, person.last_name, person.username)


def record_link(record: Any) -> Markup:
    if record is None:
        return Markup("")
    endpoint = f"records_{record.__record_type__}.show"
    return Markup('<a href="{}">{}</a>').format(url_for(endpoint, pk=record.id), str(record))


def visible_link(record: Any) -> Markup:
    """A referenced record as a link to it, or "a record you cannot see" when the person may not read it
    (a timesheet's task outside their rows): never its number or title."""
    if record is None:
        return Markup("")
    from itpm.web.context import records_service  # the request's person: context imports this module

    key = (record.__record_type__, record.id)
    known = _visible()
    if key not in known:
        known[key] = bool(records_service().lookup_ids(*key[:1], [record.id]))
    if not known[key]:
        return escape(gettext("a record you cannot see"))
    return record_link(record)


def see_ahead(records: Any, rows: Iterable[Any], relations: Iterable[str]) -> None:
    """Ask once per record type which of the records `rows` reference (by `relations`) the person may
    see, for `visible_link` to answer from: a list page's statements do not grow with its rows."""
    wanted: dict[str, set[int]] = defaultdict(set)
    relations = list(relations)
    for row in rows:
        for name in relations:
            value = getattr(row, name, None)
            for item in value if isinstance(value, list) else [value]:
                type_name = getattr(item, "__record_type__", None)
                if type_name is not None:
                    wanted[type_name].add(item.id)
    known = _visible()
    for type_name, ids in wanted.items():
        ids = {i for i in ids if (type_name, i) not in known}
        if ids:
            visible = {i for i, _label in records.lookup_ids(type_name, ids)}
            known.update({(type_name, i): i in visible for i in ids})


def _visible() -> dict[tuple[str, int], bool]:
    """What this request found the person may see, by (record type, id); nothing kept outside a request."""
    return g.setdefault("itpm_visible_records", {}) if has_request_context() else {}


def reference_labels(records: Any, type_name: str | None, ids: list[int]) -> list[tuple[int, str]]:
    """Each referenced record by its label, in order; one the person may not see (a project outside their
    team) is kept and named so, never by its number or title."""
    found = dict(records.lookup_ids(type_name, ids)) if type_name and ids else {}
    return [(i, found.get(i) or gettext("a record you cannot see")) for i in ids]


def choice_label(field: FieldSpec, value: Any) -> str:
    for choice, labels in field.choices:
        if choice == value:
            return text(labels)
    return "" if value is None else str(value)


def display(
    field: FieldSpec,
    value: Any,
    zone: ZoneInfo,
    widget: str | None = None,
    resolve: Callable[[str, Any], Any] | None = None,
) -> Markup | str:
    """A stored value (as the model holds it) as it reads on a page."""
    if value is None or value == [] or value == "":
        return ""
    kind = field.kind
    if kind == ENUM:
        return choice_label(field, value)
    if kind == ENUM_LIST:
        return "、".join(choice_label(field, v) for v in value)
    if kind in (INTEGER, NUMBER):
        if field.choices:  # a labelled scale (satisfaction: 4 reads "Satisfied")
            return choice_label(field, value)
        return format_number(value, widget)
    if kind == BOOLEAN:
        return gettext("Yes") if value else gettext("No")
    if kind == DATE:
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if kind == DATETIME:
        moment = value if isinstance(value, dt.datetime) else parse_datetime(value)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if kind == RICHTEXT:
        return Markup(sanitise_html(value))
    if kind == TEXT:
        return Markup("<br>").join(escape(value).split("\n"))
    if kind == REF:
        return visible_link(value) if not isinstance(value, int) else str(value)
    if kind == USER:
        return person_name(value) if not isinstance(value, int) else str(value)
    if kind in (REF_LIST, USER_LIST, FILE_LIST, FILE) and resolve is not None:
        return resolve(kind, value)
    if kind == JSON:
        return nested_display(field.schema, value, zone)
    return str(value)


def nested_display(schema: dict[str, Any], value: Any, zone: ZoneInfo) -> Markup:
    """A nested value as it reads: sub-fields by their titles, rows as a list, never Python's repr."""
    from itpm.records.fields import named_schema, schema_choices, schema_title

    if value is None or value == "" or value == [] or value == {}:
        return Markup("—")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        items = []
        for key, item in value.items():
            sub = properties.get(key) or named_schema(schema, key)
            label = text(schema_title(sub, key)) if key in properties else key
            items.append(Markup("<dt>{}</dt><dd>{}</dd>").format(label, nested_display(sub, item, zone)))
        return Markup('<dl class="itpm-nested">{}</dl>').format(Markup("").join(items))
    if isinstance(value, list):
        item_schema = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        if all(not isinstance(v, dict | list) for v in value):
            return Markup("、").join(nested_display(item_schema, v, zone) for v in value)
        rows = Markup("").join(
            Markup("<li>{}</li>").format(nested_display(item_schema, v, zone)) for v in value
        )
        return Markup('<ol class="itpm-nested">{}</ol>').format(rows)
    choices = schema_choices(schema)
    if choices:
        return Markup("{}").format(next((text(t) for c, t in choices if c == value), value))
    if isinstance(value, bool):
        return Markup("{}").format(gettext("Yes") if value else gettext("No"))
    if schema.get("format") == "date-time" and isinstance(value, str):
        try:
            return Markup("{}").format(parse_datetime(value).astimezone(zone).strftime("%Y-%m-%d %H:%M"))
        except ValueError:
            pass
    if isinstance(value, float | int):
        return Markup("{}").format(format_number(value))
    return Markup("{}").format(value)


def person_zone() -> ZoneInfo:
    """The time zone a person reads times in: their own, else the company's."""
    from flask import current_app, g

    zone = (
        getattr(getattr(g, "user", None), "timezone", None)
        or current_app.extensions["itpm"].settings.timezone
    )
    try:
        return ZoneInfo(zone)
    except (KeyError, ValueError):
        return ZoneInfo("Asia/Shanghai")


def local_time(value: str | dt.datetime | None) -> str:
    """An instant (datetime or RFC 3339 text) as the person's wall clock reads it."""
    if not value:
        return ""
    moment = value if isinstance(value, dt.datetime) else parse_datetime(value)
    return moment.astimezone(person_zone()).strftime("%Y-%m-%d %H:%M")


def safe_html(value: str) -> Markup:
    return Markup(sanitise_html(value or ""))


def list_formatters(
    spec: RecordTypeSpec, widgets: dict[str, str], zone: ZoneInfo
) -> dict[str, Callable[[Any], Any]]:
    """FAB list formatters for every column of the record type's list."""
    formatters: dict[str, Callable[[Any], Any]] = {
        "number": lambda v: v or "",
        "created_at": lambda v: v.astimezone(zone).strftime("%Y-%m-%d %H:%M") if v else "",
        "updated_at": lambda v: v.astimezone(zone).strftime("%Y-%m-%d %H:%M") if v else "",
        "assignee": person_name,
        "owner": person_name,
        "created_by": person_name,
        "updated_by": person_name,
        "department": lambda d: text(d.titles) if d else "",
        "client": visible_link,
    }
    for name, field in spec.fields.items():
        formatters[name] = _formatter(field, zone, widgets.get(name))
    return formatters


def _formatter(field: FieldSpec, zone: ZoneInfo, widget: str | None) -> Callable[[Any], Any]:
    def format_value(value: Any) -> Any:
        return display(
            field,
            value,
            zone,
            widget,
            resolve=lambda kind, ids: ", ".join(f"#{i}" for i in ids) if isinstance(ids, list) else f"#{ids}",
        )

    return format_value


SLA_LABELS = {ON_TRACK: "success", AT_RISK: "warning", PAUSED: "default", BREACHED: "danger", MET: "info"}


def sla_status_label(status: str | None) -> Markup:
    if not status:
        return Markup("")
    return Markup('<span class="label label-{} itpm-sla itpm-sla-{}">{}</span>').format(
        SLA_LABELS.get(status, "default"),
        status,
        Bilingual(STATUS_TITLES.get(status, {"en": status, "zh": status})),
    )


def sla_formatters(policy: Any) -> dict[str, Any]:
    """The SLA columns of a list: when due with the time left, the status, whether breached.

    The time left is the record's (`due_time_left`: on its clock's calendar, all hours for a clock
    that runs around the clock), so the list reads as the record page; the list gives the record
    to formatters marked `takes_record` (itpm/records/list_widget.html).
    """

    def due(value: dt.datetime | None, record: Any = None) -> Markup:
        if value is None:
            return Markup("")
        shown = value.astimezone(person_zone()).strftime("%Y-%m-%d %H:%M")
        if policy is None:
            return Markup("{}").format(shown)
        now = utcnow()
        kept = due_time_left(record, policy, now) if record is not None else None
        left = int((kept if kept is not None else time_left(policy, value, now)).total_seconds() // 60)
        lang = language()
        if value <= now:  # past due, if perhaps by no business time yet (overnight)
            note = (
                gettext("%(time)s overdue", time=duration_text(left, lang))
                if left < 0
                else gettext("overdue"),
                "text-danger",
            )
        else:
            note = (gettext("%(time)s left", time=duration_text(left, lang)), "text-muted")
        return Markup('{} <small class="{}">{}</small>').format(shown, note[1], note[0])

    due.takes_record = True  # type: ignore[attr-defined]
    return {
        "sla_due": due,
        "sla_status": sla_status_label,
        "sla_breached": lambda v: (
            Markup('<span class="text-danger">{}</span>').format(gettext("Yes"))
            if v
            else (gettext("No") if v is False else "")
        ),
    }


def state_formatter(workflow: Any) -> Any:
    """A state in a list: its title, coloured by its category."""

    def format_state(name: str) -> Markup:
        if workflow is None:
            return Markup("{}").format(name)
        state = workflow.state(name)
        return Markup('<span class="label itpm-state itpm-state-{}">{}</span>').format(
            state.category, Bilingual(state.title)
        )

    return format_state


def install(app: Flask) -> None:
    """The template filters that show values as this module does."""
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["safe_html"] = safe_html
    app.jinja_env.filters["duration"] = lambda minutes: duration_text(minutes, language())
    app.jinja_env.globals["sla_status"] = sla_status_label
