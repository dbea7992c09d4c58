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
from itpm.records.forms import FormSpec, condition_validator, present_values
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
        #: Each field's own check, compiled (`fast_check`); None when the schema has more than its fields'.
        self._fast = fast_checks(schema)
        # the form's conditions, compiled once: (condition, its validator), by field
        entries = self.form.entries if self.form else []
        self._when: dict[str, Any] = {}
        for entry in entries:
            self._when.setdefault(entry.field, _compiled(entry.when))
        self._required_when = [
            (entry.field, _compiled(entry.required_when)) for entry in entries if entry.required_when
        ]

    def shown(self, name: str, values: dict[str, Any]) -> bool:
        return _holds(self._when.get(name), present_values(values))

    def required(self, values: dict[str, Any]) -> list[str]:
        """The fields that must have a value, for a record with these values."""
        present = present_values(values)
        names = [n for n in self.spec.required if _holds(self._when.get(n), present)]
        for name, condition in self._required_when:
            if name not in names and _holds(self._when.get(name), present) and _holds(condition, present):
                names.append(name)
        return names

    def schema_problems(self, present: dict[str, Any]) -> list[Problem]:
        """The problems JSON Schema finds in the present values. Each field's compiled check says at once
        that a value is valid; any value it cannot vouch for (or a schema beyond its fields) is read by
        jsonschema, which says what is wrong. So the answer is jsonschema's, only sooner."""
        fast = self._fast
        if fast is not None and all(
            (check := fast.get(name)) is not None and check(value) for name, value in present.items()
        ):
            return []
        return problems_from_errors(self._validator.iter_errors(present), "", ["data"])

    def problems(self, data: dict[str, Any], system: dict[str, Any] | None = None) -> list[Problem]:
        """Every problem of a record's complete data (JSON form)."""
        problems = [
            Problem("", pointer(["data", name]), _("is not a field of %(type)s", type=self.spec.name))
            for name in data
            if name not in self.spec.fields
        ]
        present = {k: v for k, v in data.items() if not empty(v) and k in self.spec.fields}
        problems += self.schema_problems(present)
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


def _compiled(condition: dict[str, Any] | None) -> Any:
    return None if condition is None else Condition(condition)


#: How many answers a condition remembers (the distinct values it reads, in practice a handful).
REMEMBERED = 4096
_ABSENT = object()


class Condition:
    """A form condition, compiled; when it reads only some fields' values and others' presence, its
    answers are remembered by those (the rows of an import ask it the same few questions)."""

    def __init__(self, condition: dict[str, Any]) -> None:
        self.validator = condition_validator(condition)
        self.reads = _reads(condition)
        self.known: dict[Any, bool] = {}

    def is_valid(self, present: dict[str, Any]) -> bool:
        if self.reads is None:
            return self.validator.is_valid(present)
        valued, presence = self.reads
        # a value's type too: jsonschema tells 1 from true and from 1.0 in an enum
        key = (
            tuple((type(v), v) for v in (present.get(n, _ABSENT) for n in valued)),
            tuple(n in present for n in presence),
        )
        try:
            found = self.known.get(key)
        except TypeError:  # a list or an object: asked every time
            return self.validator.is_valid(present)
        if found is None:
            found = self.validator.is_valid(present)
            if len(self.known) < REMEMBERED:
                self.known[key] = found
        return found


def _reads(schema: Any) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The fields whose values and the fields whose presence a condition reads, when that is all it
    reads (properties, required, and their combinations); None for any other condition."""
    if isinstance(schema, bool):
        return (), ()
    if not isinstance(schema, dict):
        return None
    valued: set[str] = set()
    presence: set[str] = set()
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS or (keyword == "type" and value == "object"):
            continue
        if keyword == "properties" and isinstance(value, dict):
            valued |= set(value)
        elif keyword == "required" and isinstance(value, list):
            presence |= set(value)
        elif keyword in ("allOf", "anyOf", "oneOf", "not"):
            for sub in value if isinstance(value, list) else [value]:
                found = _reads(sub)
                if found is None:
                    return None
                valued |= set(found[0])
                presence |= set(found[1])
        else:
            return None
    return tuple(sorted(valued)), tuple(sorted(presence - valued))


def _holds(validator: Any, present: dict[str, Any]) -> bool:
    return validator is None or validator.is_valid(present)


# --- compiled checks of a field's value --------------------------------------------------------------

#: Keywords that say nothing about validity (annotations); `x-` extensions are annotations too.
ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "default", "examples", "readOnly", "writeOnly", "deprecated"}
)
#: Keywords of the whole schema a compiled check stands for: it has nothing but its fields.
OBJECT_KEYWORDS = frozenset({"type", "properties", "$schema", "$id", "$defs"}) | ANNOTATIONS


def fast_checks(schema: dict[str, Any]) -> dict[str, Any] | None:
    """A compiled check per field (`fast_check`), or None when the schema has rules beyond its fields'
    (conditions, dependent fields...): then every record is read by jsonschema."""
    for keyword in schema:
        if keyword not in OBJECT_KEYWORDS and not keyword.startswith("x-"):
            return None
    if schema.get("type", "object") != "object":
        return None
    checks = {}
    for name, sub in (schema.get("properties") or {}).items():
        check = fast_check(sub)
        if check is not None:
            checks[name] = check
    return checks


def fast_check(schema: Any) -> Any:
    """A function telling, for a value, True when `schema` surely holds for it (as jsonschema reads it)
    and False when it may not (jsonschema then says why); None for a schema it cannot read (a pattern,
    an array's items, multipleOf...): such a field's values always go to jsonschema."""
    parts: list[Any] = []
    if not _simple(schema, parts):
        return None
    tests = []
    for part in parts:
        for keyword, value in part.items():
            if keyword in ANNOTATIONS or keyword.startswith("x-") or keyword == "allOf":
                continue
            test = _keyword_test(keyword, value)
            if test is None:
                return None
            tests.append(test)

    def check(value: Any) -> bool:
        return all(test(value) for test in tests)

    return check


def _simple(schema: Any, parts: list[Any]) -> bool:
    """Collect `schema` and its allOf parts into `parts`; False for anything else (a boolean schema...)."""
    if not isinstance(schema, dict):
        return False
    parts.append(schema)
    return all(_simple(sub, parts) for sub in schema.get("allOf", ()))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


TYPE_TESTS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _keyword_test(keyword: str, expected: Any) -> Any:
    """A test of one keyword that never passes a value jsonschema refuses; None for a keyword not read here."""
    if keyword == "type":
        names = expected if isinstance(expected, list) else [expected]
        if not all(name in TYPE_TESTS for name in names):
            return None
        tests = [TYPE_TESTS[name] for name in names]
        return lambda v: any(test(v) for test in tests)
    if keyword in ("enum", "const"):
        members = expected if keyword == "enum" else [expected]
        if not isinstance(members, list):
            return None
        # only strings and whole numbers, matched with their type (jsonschema tells 1 from true)
        strings = frozenset(m for m in members if isinstance(m, str))
        integers = frozenset(m for m in members if isinstance(m, int) and not isinstance(m, bool))
        return lambda v: (v in strings) if isinstance(v, str) else (type(v) is int and v in integers)
    if keyword in ("minLength", "maxLength"):
        if not isinstance(expected, int):
            return None
        if keyword == "minLength":
            return lambda v: not isinstance(v, str) or len(v) >= expected
        return lambda v: not isinstance(v, str) or len(v) <= expected
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if not _is_number(expected):
            return None
        compare = {
            "minimum": lambda v: v >= expected,
            "maximum": lambda v: v <= expected,
            "exclusiveMinimum": lambda v: v > expected,
            "exclusiveMaximum": lambda v: v < expected,
        }[keyword]
        # a value of another type passes these keywords in jsonschema; a number is compared
        return lambda v: compare(v) if _is_number(v) else isinstance(v, str | bool | type(None))
    if keyword == "format":
        if expected not in FORMATS.checkers:
            return (lambda v: True) if isinstance(expected, str) else None  # an unknown format is not checked
        return lambda v: FORMATS.conforms(v, expected)
    return None
