"""Validating a record's data against its type: built once per revision, used for every record.

The record type's JSON Schema gives types and rules; `required` and the form's
conditions decide which fields must have a value for this record (a field the
form hides is never required). Every problem is reported at once, each at its
JSON pointer under /data.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from itpm import expressions
from itpm.definitions.patterns import Validator
from itpm.definitions.problems import Problem, pointer, problems_from_errors
from itpm.records.fields import RecordTypeSpec
from itpm.records.forms import FormSpec, holds
from itpm.records.values import nul_path, to_column, to_json
from itpm.texts import Bilingual

#: The formats checked, by jsonschema's own checkers (date-time and time need rfc3339-validator,
#: uri rfc3986-validator: both are dependencies).
FORMATS = FormatChecker(formats=())
FORMATS.checkers = {
    name: check
    for name, check in Draft202012Validator.FORMAT_CHECKER.checkers.items()  # draft 2020-12's `time`
    if name in ("date", "date-time", "time", "email", "uri", "uuid", "ipv4", "ipv6", "regex")
}


def _multiple_of(validator: Any, divisor: Any, instance: Any, schema: Any) -> Any:
    """multipleOf in decimal: 1234.56 is a multiple of 0.01 (in binary floating point it is not)."""
    if not validator.is_type(instance, "number"):
        return
    if (Decimal(str(instance)) % Decimal(str(divisor))) != 0:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


#: Draft 2020-12 with patterns on RE2 (definitions.patterns), and multipleOf as people mean it.
RecordSchemaValidator = validators.extend(Validator, {"multipleOf": _multiple_of})


def read_only_changes(schema: dict[str, Any], new: Any, old: Any, path: list[Any]) -> list[list[Any]]:
    """Where `new` changes a value that `schema` marks readOnly (at any depth), by path."""
    if new == old:
        return []
    if schema.get("readOnly"):
        return [path]
    found: list[list[Any]] = []
    if isinstance(new, dict):
        before = old if isinstance(old, dict) else {}
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict) and (name in new or name in before):
                found += read_only_changes(sub, new.get(name), before.get(name), [*path, name])
    elif isinstance(new, list) and isinstance(schema.get("items"), dict):
        before = old if isinstance(old, list) else []
        for index, item in enumerate(new):
            found += read_only_changes(
                schema["items"], item, before[index] if index < len(before) else None, [*path, index]
            )
    return found


def empty(value: Any) -> bool:
    return value is None or value == "" or value == []


class RecordValidator:
    """The rules of one record type (and its form), compiled once."""

    def __init__(self, spec: RecordTypeSpec, form: FormSpec | None = None) -> None:
        self.spec = spec
        self.form = form
        schema = {k: v for k, v in spec.schema.items() if k != "required"}
        # A value beyond what its column holds is refused as any other out of range, never by the database.
        schema["properties"] = {
            name: {"allOf": [sub, bounds]} if (bounds := spec.fields[name].column_bounds) else sub
            for name, sub in schema.get("properties", {}).items()
        }
        self._validator = RecordSchemaValidator(schema, format_checker=FORMATS)

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
        # PostgreSQL cannot store U+0000: refused here for every writer (forms, API, imports), never a 500
        problems += [
            Problem("", pointer(path), _("must not hold the NUL character (U+0000)"))
            for name, value in present.items()
            if (path := nul_path(value, ["data", name])) is not None
        ]
        values = {**(system or {}), **present}
        told = {p.path for p in problems}
        for name in self.required(values):
            if pointer(["data", name]) in told:
                continue  # the schema's own condition said it already
            if name in self.spec.fields and name not in present:
                problems.append(Problem("", pointer(["data", name]), _("is required")))
            elif name not in self.spec.fields and empty(values.get(name)):
                problems.append(Problem("", pointer([name]), _("is required")))
        bad = {p.path for p in problems}
        problems += self.rule_problems({n: v for n, v in present.items() if pointer(["data", n]) not in bad})
        return list(dict.fromkeys(problems))  # a rule the schema and the form both state is told once

    def rule_problems(self, present: dict[str, Any]) -> list[Problem]:
        """The record's own rules (one field against another), each where its message belongs;
        `present` holds valid values only."""
        problems = []
        columns = {n: to_column(self.spec.fields[n], v) for n, v in present.items() if n in self.spec.fields}
        for rule in self.spec.rules:
            expression = expressions.parse_expression(rule["check"])
            if not expression.fields <= set(columns):
                continue  # a rule compares values that are there: a missing one is `required`'s business
            if not expressions.holds(expression, columns):
                path = pointer(["data", rule["field"]]) if "field" in rule else "/data"
                problems.append(Problem("", path, Bilingual(rule["message"])))
        return problems

    def stored_problems(self, columns: dict[str, Any]) -> list[Problem]:
        """The problems of a stored record, from its column values by field name."""
        data = {name: to_json(self.spec.fields[name], value) for name, value in columns.items()}
        return self.problems(data)
