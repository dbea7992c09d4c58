"""Record forms in HTML: what each widget shows, and how a submitted form becomes record data.

A submitted form is text; here it becomes the JSON values the records service
validates (numbers, dates as ISO strings, date-times in UTC, lists, ids). A
value that cannot even be read (letters in a number) is a problem named at
its field, like every other problem the service finds.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _
from werkzeug.datastructures import MultiDict

from itpm.definitions.problems import Problem, pointer
from itpm.records.fields import EDITABLE_SYSTEM, RecordTypeSpec
from itpm.records.forms import Entry, FormSpec
from itpm.records.values import format_datetime, parse_datetime

NUMBER_WIDGETS = {"integer", "number", "money", "percent"}
LIST_WIDGETS = {"multiselect", "checkboxes"}


@dataclass
class ParsedForm:
    data: dict[str, Any] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: Files uploaded with the form, by field: [(FileStorage, ...)]
    uploads: dict[str, list[Any]] = field(default_factory=dict)


def field_path(name: str) -> str:
    return f"/{name}" if name in EDITABLE_SYSTEM else pointer(["data", name])


def parse_form(
    spec: RecordTypeSpec,
    form: FormSpec,
    formdata: MultiDict,
    files: MultiDict,
    zone: ZoneInfo,
    unwritable: frozenset[str] = frozenset(),
) -> ParsedForm:
    """Read the entries of `form` from a submitted HTML form (not those shown read-only or hidden)."""
    parsed = ParsedForm()
    for entry in form.entries:
        if entry.readonly or entry.field in unwritable:
            continue
        name = entry.field
        try:
            value = _read(spec, entry, formdata, zone)
        except ValueError as error:
            parsed.problems.append(
                Problem("", field_path(name), error.args[0] if error.args else _("is not valid"))
            )
            continue
        if entry.widget == "file":
            uploads = [f for f in files.getlist(name) if f and f.filename]
            if uploads:
                parsed.uploads[name] = uploads
        if entry.is_system:
            parsed.system[name] = value
        else:
            parsed.data[name] = value
    return parsed


def _read(spec: RecordTypeSpec, entry: Entry, formdata: MultiDict, zone: ZoneInfo) -> Any:
    name, widget = entry.field, entry.widget
    kind = spec.fields[name].kind if name in spec.fields else "ref"
    if widget == "checkbox":
        return formdata.get(name) in ("y", "on", "true", "1")
    if widget in LIST_WIDGETS or kind in ("ref_list", "user_list", "enum_list", "file_list"):
        values = [v for v in formdata.getlist(name) if v != ""]
        if kind in ("ref_list", "user_list", "file_list"):
            return [_integer(v) for v in values]
        return values
    raw = formdata.get(name, "").strip()
    if raw == "":
        return None
    if widget in ("reference", "user", "select", "radio") and kind in ("ref", "user", "file", "integer"):
        return _integer(raw)
    if name == "department":
        return _integer(raw)
    if widget == "file":
        return _integer(raw)
    if kind == "integer" or widget == "integer":
        return _integer(raw)
    if kind == "number" or widget in NUMBER_WIDGETS:
        return _number(raw)
    if kind == "boolean":
        return raw in ("y", "on", "true", "1")
    if kind == "datetime":
        return _datetime(raw, zone)
    if kind == "json":
        try:
            return json.loads(raw)
        except ValueError as error:
            raise ValueError(_("is not valid JSON")) from error
    return raw


def _integer(raw: str) -> int:
    try:
        return int(raw.replace(",", ""))
    except ValueError as error:
        raise ValueError(_("must be a whole number")) from error


def _number(raw: str) -> int | float:
    try:
        value = float(raw.replace(",", ""))
    except ValueError as error:
        raise ValueError(_("must be a number")) from error
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(_("must be a number"))
    return int(value) if value.is_integer() and "." not in raw else value


def _datetime(raw: str, zone: ZoneInfo) -> str:
    """A datetime-local value (the person's wall clock) as an RFC 3339 UTC date-time."""
    try:
        local = dt.datetime.fromisoformat(raw)
    except ValueError as error:
        raise ValueError(_("must be a date and time")) from error
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return format_datetime(local)


def local_datetime_value(value: str | None, zone: ZoneInfo) -> str:
    """An RFC 3339 date-time as a datetime-local input shows it, in the person's time zone."""
    if not value:
        return ""
    try:
        return parse_datetime(value).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return value
