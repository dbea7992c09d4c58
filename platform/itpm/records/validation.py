"""Validating a record's data against its type: built once per revision, used for every record.

The record type's JSON Schema gives types and rules; `required` and the form's
conditions decide which fields must have a value for this record (a field the
form hides is never required). Every problem is reported at once, each at its
JSON pointer under /data.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask_babel import lazy_gettext as _
from jsonschema import FormatChecker

from itpm.definitions.patterns import Validator
from itpm.definitions.problems import Problem, pointer, problems_from_errors
from itpm.records.fields import RecordTypeSpec
from itpm.records.forms import FormSpec, holds
from itpm.records.values import parse_datetime, to_json

FORMATS = FormatChecker(formats=["email", "uuid", "ipv4", "ipv6", "regex"])
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$")


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        raise ValueError("not YYYY-MM-DD")
    dt.date.fromisoformat(value)
    return True


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATETIME.match(value):
        raise ValueError("not an RFC 3339 date-time")
    parse_datetime(value)
    return True


def empty(value: Any) -> bool:
    return value is None or value == "" or value == []


class RecordValidator:
    """The rules of one record type (and its form), compiled once."""

    def __init__(self, spec: RecordTypeSpec, form: FormSpec | None = None) -> None:
        self.spec = spec
        self.form = form
        schema = {k: v for k, v in spec.schema.items() if k != "required"}
        self._validator = Validator(schema, format_checker=FORMATS)

    def shown(self, name: str, values: dict[str, Any]) -> bool:
        entry = self.form.entry(name) if self.form else None
        return entry is None or holds(entry.when, values)

    def required(self, values: dict[str, Any]) -> list[str]:
        """The fields that must have a value, for a record with these values."""
        names = [n for n in self.spec.required if self.shown(n, values)]
        if self.form:
            for entry in self.form.entries:
                if entry.required_when and entry.field not in names and self.shown(entry.field, values):
                    if holds(entry.required_when, values):
                        names.append(entry.field)
        return names

    def problems(self, data: dict[str, Any], system: dict[str, Any] | None = None) -> list[Problem]:
        """Every problem of a record's complete data (JSON form)."""
        problems = [
            Problem("", pointer(["data", name]), _("is not a field of %(type)s", type=self.spec.name))
            for name in data
            if name not in self.spec.fields
        ]
        present = {k: v for k, v in data.items() if not empty(v) and k in self.spec.fields}
        problems += problems_from_errors(self._validator.iter_errors(present), "", ["data"])
        values = {**(system or {}), **present}
        for name in self.required(values):
            if name in self.spec.fields and name not in present:
                problems.append(Problem("", pointer(["data", name]), _("is required")))
            elif name not in self.spec.fields and empty(values.get(name)):
                problems.append(Problem("", pointer([name]), _("is required")))
        return problems

    def stored_problems(self, columns: dict[str, Any]) -> list[Problem]:
        """The problems of a stored record, from its column values by field name."""
        data = {name: to_json(self.spec.fields[name], value) for name, value in columns.items()}
        return self.problems(data)
