"""Nested values on record forms: a group of sub-fields, a list, repeating rows or named values,
drawn from the field's JSON Schema, and the submitted form read back into the same JSON.

Input names are paths: `address.city`, `items.3.title` (row 3 of items), `extra.2.key` and
`extra.2.value` (a named value). Every row (and every group) also sends its own path, so rows
are read in the order the page has them, whatever their numbers: reordering moves the inputs,
adding one picks a fresh number (static/itpm-forms.js). A schema the engine cannot describe
(`{}`, any value) is edited as formatted JSON and parsed back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _
from werkzeug.datastructures import MultiDict

from itpm.definitions.problems import Problem, pointer
from itpm.records.fields import named_schema, schema_choices, schema_title, schema_type
from itpm.records.forms import schema_conditions
from itpm.records.values import format_datetime, parse_datetime
from itpm.texts import Bilingual

#: Input kinds by string format.
STRING_FORMATS = {"date": "date", "date-time": "datetime", "email": "email", "uri": "url", "time": "time"}
SCALARS = {"text", "textarea", "integer", "number", "checkbox", "yesno", "select", "date", "datetime"}
SCALARS |= set(STRING_FORMATS.values())


@dataclass
class Node:
    """One input (or group of inputs) of a nested value, as the form template draws it."""

    kind: str  # object, rows, entry, checkboxes, json, fixed, or a scalar input (SCALARS)
    name: str  # the input name: the path of the value in the field
    label: Bilingual
    path: list[Any]  # under /data, for the problems shown at it
    value: Any = None  # what the input shows (text), or the value itself for groups
    required: bool = False
    help: Bilingual | None = None
    when: dict[str, Any] | None = None
    required_when: dict[str, Any] | None = None
    children: list[Node] = field(default_factory=list)  # an object's sub-fields; an entry's value
    rows: list[Node] = field(default_factory=list)  # a list's rows, an object's named values
    template: Node | None = None  # a new row, drawn with `token` for its number
    token: str = ""
    key: str = ""  # an entry's name, or the property this node edits
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value as text, label)
    checked: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    in_row: bool = False

    @property
    def id(self) -> str:
        return "field-" + self.name.replace(".", "-")

    @property
    def is_scalar(self) -> bool:
        return self.kind in SCALARS


def node_kind(schema: Mapping[str, Any], in_row: bool = False) -> str:
    """How a value of `schema` is edited."""
    type_ = schema_type(schema)
    if schema.get("readOnly"):
        return "fixed"
    if type_ != "array" and schema_choices(dict(schema)) is not None:
        return "select"
    if type_ == "object":
        named = isinstance(schema.get("additionalProperties"), dict) or schema.get("patternProperties")
        return "object" if schema.get("properties") or named else "json"
    if type_ == "array":
        items = schema.get("items")
        if not isinstance(items, dict):
            return "json"
        if schema_choices(items) is not None:
            return "checkboxes"
        return "rows" if node_kind(items, True) != "json" else "json"
    if type_ == "string":
        if schema.get("format") in STRING_FORMATS:
            return STRING_FORMATS[schema["format"]]
        return "textarea" if schema.get("maxLength", 0) > 300 else "text"
    if type_ in ("integer", "number"):
        return type_
    if type_ == "boolean":
        return "yesno" if in_row else "checkbox"
    return "json"


def _carries_unknown(schema: Mapping[str, Any]) -> bool:
    """An object that allows properties it does not name, and has no inputs for them."""
    return schema.get("additionalProperties", True) is True and not schema.get("patternProperties")


# --- drawing -----------------------------------------------------------------


def build_node(
    schema: Mapping[str, Any],
    name: str,
    value: Any,
    zone: ZoneInfo,
    errors: Mapping[str, list[str]] | None = None,
    path: list[Any] | None = None,
    key: str = "",
    in_row: bool = False,
    depth: int = 0,
) -> Node:
    """The node drawing `value` (JSON) of `schema` with inputs named from `name`."""
    errors = errors or {}
    path = path if path is not None else ["data", name]
    kind = node_kind(schema, in_row)
    node = Node(
        kind=kind,
        name=name,
        label=Bilingual(schema_title(dict(schema), key or name.rsplit(".", 1)[-1])),
        path=path,
        key=key,
        in_row=in_row,
        errors=list(errors.get(pointer(path), [])),
    )
    if "description" in schema:
        node.help = Bilingual(
            {"en": schema["description"], "zh": schema.get("x-description-zh", schema["description"])}
        )
    if kind == "object":
        current = value if isinstance(value, dict) else {}
        properties = schema.get("properties") or {}
        conditions = schema_conditions(dict(schema))
        required = set(schema.get("required", []))
        for sub_key, sub in properties.items():
            child = build_node(
                sub, f"{name}.{sub_key}", current.get(sub_key), zone, errors, [*path, sub_key], sub_key,
                depth=depth,
            )  # fmt: skip
            child.when, child.required_when = conditions.get(sub_key, (None, None))
            child.required = sub_key in required and child.when is None
            node.children.append(child)
        if isinstance(schema.get("additionalProperties"), dict) or schema.get("patternProperties"):
            named = [(k, v) for k, v in current.items() if k not in properties]
            node.rows = [
                _entry(schema, name, str(i), k, v, zone, errors, [*path, k], depth)
                for i, (k, v) in enumerate(named)
            ]
            node.token = f"__{depth}__"
            node.template = _entry(schema, name, node.token, "", None, zone, {}, [*path], depth + 1)
            node.attrs["next"] = len(named)
        elif _carries_unknown(schema):
            unknown = {k: v for k, v in current.items() if k not in properties}
            node.attrs["unknown"] = json.dumps(unknown, ensure_ascii=False) if unknown else ""
    elif kind == "rows":
        items = schema["items"]
        current = value if isinstance(value, list) else []
        node.rows = [
            build_node(items, f"{name}.{i}", item, zone, errors, [*path, i], in_row=True, depth=depth + 1)
            for i, item in enumerate(current)
        ]
        node.token = f"__{depth}__"
        node.template = build_node(
            items, f"{name}.{node.token}", None, zone, {}, [*path], in_row=True, depth=depth + 1
        )
        node.attrs["next"] = len(current)
        node.attrs.update(_limits(schema, ("minItems", "maxItems")))
    elif kind == "checkboxes":
        node.choices = [(str(v), str(Bilingual(label))) for v, label in schema_choices(schema["items"]) or []]
        node.checked = [str(v) for v in value] if isinstance(value, list) else []
    elif kind in ("json", "fixed"):
        node.value = "" if value is None else json.dumps(value, ensure_ascii=False, indent=2)
        if kind == "fixed":
            node.attrs["shown"] = _shown(value)
    else:
        choices = schema_choices(dict(schema)) or []
        node.choices = [(str(v), str(Bilingual(label))) for v, label in choices]
        node.attrs["values"] = [v for v, _label in choices]
        if kind == "checkbox":
            node.value = bool(value)
        elif kind == "yesno":
            node.value = "" if value is None else ("yes" if value else "no")
        elif kind == "datetime":
            node.value = local_datetime_value(value, zone) if isinstance(value, str) else ""
        else:
            node.value = "" if value is None else str(value)
        node.attrs.update(_limits(schema, ("minimum", "maximum", "maxLength", "pattern")))
        node.attrs["step"] = "1" if kind == "integer" else "any"
    return node


def field_node(spec: Any, name: str, value: Any, errors: Mapping[str, list[str]] | None = None) -> Node:
    """The node of a record type's field `name` holding `value` (JSON), in the reader's time zone."""
    from itpm.web.record_display import person_zone

    return build_node(spec.fields[name].schema, name, value, person_zone(), errors)


def field_display(spec: Any, name: str, value: Any) -> Any:
    """A field's value (JSON) as it reads, for a form that shows it without an input."""
    from itpm.web.record_display import nested_display, person_zone

    field = spec.fields[name]
    if field.kind == "json":
        return nested_display(field.schema, value, person_zone())
    if value is None or value == "":
        return "—"
    choices = dict((str(v), label) for v, label in field.choices)
    return Bilingual(choices[str(value)]) if str(value) in choices else value


def _entry(
    schema: Mapping[str, Any],
    name: str,
    number: str,
    key: str,
    value: Any,
    zone: ZoneInfo,
    errors: Mapping[str, list[str]],
    path: list[Any],
    depth: int,
) -> Node:
    """A named value: its name and the value's own input."""
    entry = Node(kind="entry", name=f"{name}.{number}", label=Bilingual({"en": key, "zh": key}), path=path)
    entry.key = key
    entry.errors = list(errors.get(pointer(path), [])) if key else []
    entry.children = [
        build_node(
            named_schema(schema, key), f"{name}.{number}.value", value, zone, errors, path, in_row=True,
            depth=depth + 1,
        )
    ]  # fmt: skip
    return entry


def _limits(schema: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: schema[k] for k in keys if k in schema}


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# --- reading -----------------------------------------------------------------


def read_value(
    schema: Mapping[str, Any],
    name: str,
    formdata: MultiDict,
    zone: ZoneInfo,
    problems: list[Problem],
    path: list[Any] | None = None,
    in_row: bool = False,
) -> Any:
    """The JSON value the inputs named from `name` hold; what cannot be read is a problem at its path
    (and its text is kept, so the form shows it again)."""
    path = path if path is not None else ["data", name]
    kind = node_kind(schema, in_row)
    if kind == "object":
        return _read_object(schema, name, formdata, zone, problems, path)
    if kind == "rows":
        found = []
        for number in row_numbers(formdata, name):
            item = read_value(
                schema["items"], f"{name}.{number}", formdata, zone, problems, [*path, len(found)], True
            )
            if not _empty(item):
                found.append(item)
        return found
    if kind == "checkboxes":
        known = {str(v): v for v, _label in schema_choices(schema["items"]) or []}
        return [known.get(v, v) for v in formdata.getlist(name) if v != ""]
    if kind == "checkbox":
        return formdata.get(name) in ("y", "on", "true", "1")
    raw = formdata.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return _scalar(schema, kind, raw.strip(), zone)
    except ValueError as error:
        problems.append(Problem("", pointer(path), error.args[0]))
        return raw


def _read_object(
    schema: Mapping[str, Any],
    name: str,
    formdata: MultiDict,
    zone: ZoneInfo,
    problems: list[Problem],
    path: list[Any],
) -> dict[str, Any] | None:
    result: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    if _carries_unknown(schema) and formdata.get(f"{name}.+"):
        try:
            result.update(json.loads(formdata[f"{name}.+"]))
        except ValueError:
            pass  # only ever what the page was given; a tampered one is dropped
    for key, sub in properties.items():
        value = read_value(sub, f"{name}.{key}", formdata, zone, problems, [*path, key])
        if not _empty(value) or (value is False and node_kind(sub) == "checkbox"):
            result[key] = value
    for number in row_numbers(formdata, name):
        key = formdata.get(f"{name}.{number}.key", "").strip()
        value = read_value(
            named_schema(schema, key), f"{name}.{number}.value", formdata, zone, problems,
            [*path, key or number], True,
        )  # fmt: skip
        if not key:
            if not _empty(value):
                problems.append(Problem("", pointer([*path, number]), _("needs a name for its value")))
            continue
        if key in result:
            problems.append(Problem("", pointer([*path, key]), _("%(name)s is given twice", name=key)))
        result[key] = value
    if all(v is False for v in result.values()) and not any(formdata.get(f"{name}.{k}") for k in properties):
        return None  # nothing filled in (unticked boxes alone say nothing)
    return result


def row_numbers(formdata: MultiDict, name: str) -> list[str]:
    """The numbers of the rows under `name`, in the order the page sent them."""
    prefix = name + "."
    seen: dict[str, None] = {}
    for key in formdata.keys():
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            seen.setdefault(key[len(prefix) :], None)
    return list(seen)


def _scalar(schema: Mapping[str, Any], kind: str, raw: str, zone: ZoneInfo) -> Any:
    if kind == "select":
        for value, _label in schema_choices(dict(schema)) or []:
            if str(value) == raw:
                return value
        raise ValueError(_("must be one of the choices offered"))
    if kind == "yesno":
        return {"yes": True, "no": False}.get(raw, raw)
    if kind == "integer":
        return integer_value(raw)
    if kind == "number":
        return number_value(raw)
    if kind == "datetime":
        return utc_datetime_value(raw, zone)
    if kind in ("json", "fixed"):
        return parse_json(raw)
    return raw


def integer_value(raw: str) -> int:
    try:
        return int(raw.replace(",", ""))
    except ValueError as error:
        raise ValueError(_("must be a whole number")) from error


def number_value(raw: str) -> int | float:
    try:
        value = float(raw.replace(",", ""))
    except ValueError as error:
        raise ValueError(_("must be a number")) from error
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(_("must be a number"))
    return int(value) if value.is_integer() and "." not in raw else value


def utc_datetime_value(raw: str, zone: ZoneInfo) -> str:
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


def parse_json(raw: str) -> Any:
    """JSON typed by a person; a mistake is told by its line and column, not by the parser's words."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(
            _(
                "is not valid JSON: check line %(line)s, column %(column)s "
                '(text in double quotes, items separated by commas, e.g. {"name": "value"})',
                line=error.lineno,
                column=error.colno,
            )
        ) from error


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}
