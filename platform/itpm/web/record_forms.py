"""Record forms in HTML: what each widget shows, and how a submitted form becomes record data.

A submitted form is text; here it becomes the JSON values the records service
validates (numbers, dates as ISO strings, date-times in UTC, lists, ids). A
value that cannot even be read (letters in a number) is a problem named at
its field, like every other problem the service finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _
from werkzeug.datastructures import MultiDict

from itpm.definitions.problems import Problem, pointer
from itpm.records.fields import EDITABLE_SYSTEM, RecordTypeSpec
from itpm.records.forms import Entry, FormSpec
from itpm.web.form_nodes import (
    integer_value,
    local_datetime_value,
    number_value,
    read_value,
    utc_datetime_value,
)

__all__ = ["ParsedForm", "field_path", "local_datetime_value", "parse_form"]

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
        if entry.widget == "structured":
            parsed.data[name] = read_value(spec.fields[name].schema, name, formdata, zone, parsed.problems)
            continue
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
    field = spec.fields.get(name)
    kind = field.kind if field else "ref"
    if widget == "checkbox":
        return formdata.get(name) in ("y", "on", "true", "1")
    if widget in LIST_WIDGETS or kind in ("ref_list", "user_list", "enum_list", "file_list"):
        values = [v for v in formdata.getlist(name) if v != ""]
        if kind in ("ref_list", "user_list", "file_list"):
            return [integer_value(v) for v in values]
        return [_choice(field, v) for v in values] if field else values
    raw = formdata.get(name, "").strip()
    if raw == "":
        return None
    if field and field.choices and widget in ("select", "radio"):
        return _choice(field, raw)  # a choice keeps its type: 4, true, "P1"
    if widget in ("reference", "user", "select", "radio") and kind in ("ref", "user", "file", "integer"):
        return integer_value(raw)
    if name == "department" or widget == "file" or kind == "integer" or widget == "integer":
        return integer_value(raw)
    if kind == "number" or widget in NUMBER_WIDGETS:
        return number_value(raw)
    if kind == "boolean":
        return {"yes": True, "no": False}.get(raw, raw in ("y", "on", "true", "1"))
    if kind == "datetime":
        return utc_datetime_value(raw, zone)
    return raw


def _choice(field: Any, raw: str) -> Any:
    """The choice a submitted text names (the text itself when it names none: validation tells)."""
    return next((value for value, _label in field.choices if str(value) == raw), raw)
