"""Checks beyond the meta-schemas: what one definition says about the others.

`check_configuration` validates a whole configuration (a set of documents that
must stand together): each document against its kind's meta-schema, then the
checks of its kind, e.g. that every x-ref names a record type and every
workflow names states and roles that exist.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from flask_babel import lazy_gettext as _
from jsonschema import Draft202012Validator

from itpm.definitions.documents import Document
from itpm.definitions.meta import MetaSchemas
from itpm.definitions.patterns import pattern_problems
from itpm.definitions.problems import Problem, checked_once, pointer, problems_from_errors
from itpm.expressions import check_expression
from itpm.records.fields import BUILTIN_REFS, EDITABLE_SYSTEM, SYSTEM, schema_type
from itpm.records.forms import CONDITION_KEYWORDS
from itpm.records.validation import FORMATS, RecordSchemaValidator

#: Fields every record has, whatever its type; lists and filters may name them.
SYSTEM_FIELDS = tuple(SYSTEM)
#: Names a record type's own fields may not take: the system fields, and names the API uses.
RESERVED = {*SYSTEM, "type", "data", "flags"}

#: Things every configuration can refer to without defining them.
BUILTIN_TYPES = tuple(BUILTIN_REFS)

NUMBERING_TOKEN = re.compile(r"\{([^{}]*)\}")
NUMBERING_PARTS = re.compile(r"^(YYYY|YY|MM|DD|seq(:0[1-9])?)$")

Check = Callable[[Document, "Configuration"], Iterator[Problem]]
CHECKS: dict[str, Check] = {}


def check(kind: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[kind] = function
        return function

    return register


class Configuration:
    """A set of definitions that must stand together, by (kind, name)."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self.documents: dict[tuple[str, str], Document] = {}
        for document in documents:
            if document.key:
                self.documents[document.key] = document

    def get(self, kind: str, name: str) -> Document | None:
        return self.documents.get((kind, name))

    def of_kind(self, kind: str) -> list[Document]:
        return [d for (k, _), d in sorted(self.documents.items()) if k == kind]

    def names(self, kind: str) -> set[str]:
        return {n for (k, n) in self.documents if k == kind}

    def fields(self, record_type: str) -> dict[str, Any] | None:
        """The top-level field schemas of a record type, or None if there is no such type."""
        document = self.get("record_type", record_type)
        if document is None:
            return None
        schema = document.body.get("schema")
        properties = schema.get("properties") if isinstance(schema, dict) else None
        return properties if isinstance(properties, dict) else {}


def check_configuration(
    documents: Iterable[Document], meta: MetaSchemas, only: Iterable[Document] | None = None
) -> list[Problem]:
    """Every problem of `documents` taken together.

    With `only`, the documents whose problems are reported (the rest, e.g. the
    published configuration, stand beside them as context).
    """
    documents = list(documents)
    reported = documents if only is None else list(only)
    problems = _duplicates(reported)
    configuration = Configuration(documents)
    for document in reported:
        found = _kind_problems(document, meta)
        if not found:
            found = meta.problems(document.kind, document.body, document.file)
        if not found:
            found = list(pattern_problems(document.body, document.file))  # before any check runs one
        if not found:
            meta.import_checks(document.kind)
            if document.kind in CHECKS:
                found = list(CHECKS[document.kind](document, configuration))
        problems.extend(found)
    return problems


def _kind_problems(document: Document, meta: MetaSchemas) -> list[Problem]:
    kind = document.body.get("kind")
    if kind is None:
        return [
            Problem(document.file, "/kind", _("is required: one of %(kinds)s", kinds=", ".join(meta.kinds)))
        ]
    if kind not in meta.kinds:
        return [
            Problem(
                document.file,
                "/kind",
                _(
                    "%(kind)r is not a kind of definition; known kinds: %(kinds)s",
                    kind=kind,
                    kinds=", ".join(meta.kinds),
                ),
            )
        ]
    return []


def _duplicates(documents: list[Document]) -> list[Problem]:
    counts = Counter(d.key for d in documents if d.key)
    problems = []
    for document in documents:
        if document.key and counts[document.key] > 1:
            others = [d.file for d in documents if d.key == document.key and d is not document]
            problems.append(
                Problem(
                    document.file,
                    "/name",
                    _(
                        "the %(kind)s %(name)r is also defined in %(files)s",
                        kind=document.kind,
                        name=document.name,
                        files=", ".join(others),
                    ),
                )
            )
    return problems


# --- record_type -------------------------------------------------------------

_SCHEMA_CHECKER = Draft202012Validator(Draft202012Validator.META_SCHEMA)


@check("record_type")
def _record_type(document: Document, configuration: Configuration) -> Iterator[Problem]:
    body, file = document.body, document.file
    schema = body["schema"]
    yield from checked_once(
        "record-schema",
        schema,
        lambda: problems_from_errors(_SCHEMA_CHECKER.iter_errors(schema), file, ["schema"]),
    )
    properties: dict[str, Any] = schema["properties"]
    required = schema.get("required", [])
    for index, name in enumerate(required if isinstance(required, list) else []):
        if name not in properties:
            yield Problem(file, f"/schema/required/{index}", _("names no field: %(name)r", name=name))
    for name in properties:
        if name in RESERVED:
            yield Problem(
                file,
                pointer(["schema", "properties", name]),
                _("%(name)r is a system field of every record; choose another name", name=name),
            )
        elif name.endswith("_id"):
            yield Problem(
                file,
                pointer(["schema", "properties", name]),
                _("a field name may not end in _id; refer to a record with x-ref instead"),
            )
    yield from _fields(properties, ["schema", "properties"], file, configuration)
    yield from _schema_keywords(schema, ["schema"], file)
    yield from _rules(body.get("rules", []), properties, file)
    names = set(properties) | set(SYSTEM_FIELDS)
    if "belongs_to" in body:
        target = properties.get(body["belongs_to"], {})
        if target.get("type") != "integer" or target.get("x-ref") in (None, *BUILTIN_TYPES):
            yield Problem(
                file, "/belongs_to", _("must name a field that refers to a record (an integer with x-ref)")
            )
    if "parent" in body:
        target = properties.get(body["parent"], {})
        if target.get("type") != "integer" or target.get("x-ref") != body.get("name"):
            yield Problem(
                file,
                "/parent",
                _(
                    "must name a field that refers to a record of this same type (an integer with x-ref %(name)s)",
                    name=body.get("name"),
                ),
            )
    for key in ("columns", "filters", "indexed", "search"):
        for index, name in enumerate(body.get(key, [])):
            if name not in names:
                yield Problem(file, f"/{key}/{index}", _("names no field: %(name)r", name=name))
            elif key == "search" and name in properties and properties[name].get("type") != "string":
                yield Problem(
                    file,
                    f"/{key}/{index}",
                    _("%(name)r is not a text field; only text is searched", name=name),
                )
            elif key in ("filters", "indexed") and properties.get(name, {}).get("type") == "object":
                yield Problem(
                    file,
                    f"/{key}/{index}",
                    _("%(name)r holds nested values and cannot be used here", name=name),
                )
    if "due" in body:
        due = properties.get(body["due"])
        if due is None:
            yield Problem(file, "/due", _("names no field: %(name)r", name=body["due"]))
        elif due.get("format") not in ("date", "date-time"):
            yield Problem(file, "/due", _("%(name)r is not a date or date-time field", name=body["due"]))
    if "client_visible" in body:
        flag = properties.get(body["client_visible"])
        if flag is None:
            yield Problem(file, "/client_visible", _("names no field: %(name)r", name=body["client_visible"]))
        elif flag.get("type") != "boolean":
            yield Problem(
                file, "/client_visible", _("%(name)r is not a yes/no field", name=body["client_visible"])
            )
    if "subject" in body:
        subject = properties.get(body["subject"])
        if subject is None:
            yield Problem(file, "/subject", _("names no field: %(name)r", name=body["subject"]))
        elif subject.get("type") != "integer" or subject.get("x-ref") != "user":
            yield Problem(file, "/subject", _("%(name)r is not a person field", name=body["subject"]))
    if "priority" in body:
        priority = properties.get(body["priority"])
        if priority is None:
            yield Problem(file, "/priority", _("names no field: %(name)r", name=body["priority"]))
        elif not priority.get("enum"):
            yield Problem(
                file,
                "/priority",
                _("%(name)r has no list of choices (enum) to rank urgency by", name=body["priority"]),
            )
    order = body.get("order", "").lstrip("-")
    if order and order not in names:
        yield Problem(file, "/order", _("names no field: %(name)r", name=order))
    if "numbering" in body:
        yield from _numbering(body["numbering"], file)
    yield from _planning(body, properties, file, configuration)
    yield from _retention(body, file, configuration)
    for name, field in properties.items():
        old = field.get("x-renamed-from")
        if old is not None and old in properties:
            yield Problem(
                file,
                pointer(["schema", "properties", name, "x-renamed-from"]),
                _(
                    "%(name)r is still a field of this type; a renamed field's old name must be gone",
                    name=old,
                ),
            )


#: What each planning role asks of the field it names.
PLANNING_FIELDS: dict[str, tuple[Callable[[Mapping[str, Any], str], bool], Any]] = {
    "start": (lambda f, _t: f.get("type") == "string" and f.get("format") == "date", _("a date")),
    "due": (lambda f, _t: f.get("type") == "string" and f.get("format") == "date", _("a date")),
    "date": (lambda f, _t: f.get("type") == "string" and f.get("format") == "date", _("a date")),
    "estimate": (lambda f, _t: f.get("type") in ("number", "integer"), _("a number")),
    "hours": (lambda f, _t: f.get("type") in ("number", "integer"), _("a number")),
    "progress": (lambda f, _t: f.get("type") in ("number", "integer"), _("a number")),
    "amount": (lambda f, _t: f.get("type") in ("number", "integer"), _("a number")),
    "rate": (lambda f, _t: f.get("type") in ("number", "integer"), _("a number")),
    "person": (
        lambda f, _t: f.get("type") == "integer" and f.get("x-ref") == "user",
        _("a reference to a person"),
    ),
    "milestone": (lambda f, _t: f.get("type") == "boolean", _("true or false")),
    "phase": (lambda f, _t: f.get("type") == "string" and "enum" in f, _("a field with a list of choices")),
    "task": (lambda f, _t: f.get("type") == "integer" and "x-ref" in f, _("a reference to a record")),
    "depends_on": (
        lambda f, t: f.get("type") == "array" and (f.get("items") or {}).get("x-ref") == t,
        _("a list of references to this record type"),
    ),
}


def _retention(body: Mapping[str, Any], file: str, configuration: Configuration) -> Iterator[Problem]:
    """A retention rule's states are states of the type's workflow (checked when it has one)."""
    flows = [d.body for d in configuration.of_kind("workflow") if d.body.get("record_type") == body["name"]]
    states = {s.get("name") for flow in flows for s in flow.get("states", [])}
    for index, name in enumerate((body.get("retention") or {}).get("states", [])):
        if flows and name not in states:
            yield Problem(
                file,
                f"/retention/states/{index}",
                _("names no state of this type's workflow: %(name)r", name=name),
            )


def _planning(
    body: Mapping[str, Any], properties: Mapping[str, Any], file: str, configuration: Configuration
) -> Iterator[Problem]:
    """The fields `planning` names exist and hold what their role needs; its baseline state is a state."""
    planning = body.get("planning") or {}
    for role, name in planning.items():
        if role == "baseline_state":
            flows = [
                d.body for d in configuration.of_kind("workflow") if d.body.get("record_type") == body["name"]
            ]
            states = {s.get("name") for flow in flows for s in flow.get("states", [])}
            if flows and name not in states:  # a type without a workflow (yet) is checked when it has one
                yield Problem(
                    file,
                    f"/planning/{role}",
                    _("names no state of this type's workflow: %(name)r", name=name),
                )
            continue
        if role == "phase_ends":
            yield from _phase_ends(name, properties.get(planning.get("phase")) or {}, properties, file)
            continue
        accepts, needed = PLANNING_FIELDS[role]
        if name not in properties:
            yield Problem(file, f"/planning/{role}", _("names no field: %(name)r", name=name))
        elif not accepts(properties[name], body["name"]):
            yield Problem(file, f"/planning/{role}", _("%(name)r must be %(what)s", name=name, what=needed))
    due = body.get("due")
    if "start" in planning and "due" not in planning and due in properties:  # planned work is due by `due`
        accepts, needed = PLANNING_FIELDS["due"]
        if not accepts(properties[due], body["name"]):
            yield Problem(
                file,
                "/due",
                _(
                    "%(name)r must be %(what)s: planning reads it as the day the work is due"
                    " (or name a date in planning's due)",
                    name=due,
                    what=needed,
                ),
            )


def _phase_ends(
    ends: Mapping[str, str], phase: Mapping[str, Any], properties: Mapping[str, Any], file: str
) -> Iterator[Problem]:
    """Each planned end is a date field, for a choice of the phase field."""
    accepts, needed = PLANNING_FIELDS["date"]
    for value, name in ends.items():
        where = f"/planning/phase_ends/{value}"
        if value not in phase.get("enum", ()):
            yield Problem(file, where, _("%(value)r is no choice of the phase field", value=value))
        if name not in properties:
            yield Problem(file, where, _("names no field: %(name)r", name=name))
        elif not accepts(properties[name], ""):
            yield Problem(file, where, _("%(name)r must be %(what)s", name=name, what=needed))


#: What an admin may write for a file field before reading how (x-ref `file`): told the spelling.
FILE_FORMATS = frozenset({"file", "files", "file_list", "binary", "attachment", "attachments", "upload"})
FILE_REFS = FILE_FORMATS - {"file"}


def _fields(
    properties: Mapping[str, Any], path: list[Any], file: str, configuration: Configuration
) -> Iterator[Problem]:
    for name, field in properties.items():
        here = [*path, name]
        yield from _field(field, here, file, configuration)
        if isinstance(field.get("items"), dict):
            yield from _field(field["items"], [*here, "items"], file, configuration)
            yield from _fields(
                field["items"].get("properties", {}), [*here, "items", "properties"], file, configuration
            )
        yield from _fields(field.get("properties", {}), [*here, "properties"], file, configuration)


def _field(
    field: Mapping[str, Any], path: list[Any], file: str, configuration: Configuration
) -> Iterator[Problem]:
    ref = field.get("x-ref")
    if ref in FILE_REFS or field.get("format") in FILE_FORMATS:
        yield Problem(
            file,
            pointer([*path, "x-ref" if ref in FILE_REFS else "format"]),
            _(
                'a file field is written {"type": "integer", "x-ref": "file"}; a list of files '
                '{"type": "array", "items": {"type": "integer", "x-ref": "file"}}'
            ),
        )
    elif ref is not None:
        if ref not in BUILTIN_TYPES and ref not in configuration.names("record_type"):
            yield Problem(file, pointer([*path, "x-ref"]), _("names no record type: %(name)r", name=ref))
        if field.get("type") not in ("integer", "array"):
            yield Problem(file, pointer([*path, "x-ref"]), _("a reference field must be of type integer"))
    titles = field.get("x-enum-titles")
    if titles is not None:
        values = field.get("enum")
        if values is None:
            yield Problem(
                file, pointer([*path, "x-enum-titles"]), _("labels choices, but the field has no enum")
            )
        else:
            for value in values:
                if str(value) not in titles:
                    yield Problem(
                        file,
                        pointer([*path, "x-enum-titles"]),
                        _("has no label for the choice %(value)r", value=value),
                    )
            for value in titles:
                if value not in {str(v) for v in values}:
                    yield Problem(
                        file, pointer([*path, "x-enum-titles", value]), _("labels no choice of the enum")
                    )
    if field.get("type") == "array" and "items" not in field:
        yield Problem(file, pointer([*path, "items"]), _("is required for an array field"))
    if field.get("type") == "object" and not {
        "properties",
        "additionalProperties",
        "patternProperties",
    } & set(field):
        yield Problem(
            file,
            pointer([*path, "properties"]),
            _("is required for an object field (or additionalProperties for a field of named values)"),
        )
    if "default" in field:
        checker = RecordSchemaValidator(
            {k: v for k, v in field.items() if k != "default"}, format_checker=FORMATS
        )
        for problem in problems_from_errors(checker.iter_errors(field["default"]), file, [*path, "default"]):
            yield Problem(
                file,
                problem.path,
                _("the default breaks the field's own rule: %(problem)s", problem=problem.message),
            )


#: Keywords of a subschema whose values are subschemas, and those whose values map names to subschemas.
_SUBSCHEMA = ("items", "contains", "not", "if", "then", "else", "additionalProperties", "propertyNames")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")


def _schema_keywords(schema: Any, path: list[Any], file: str) -> Iterator[Problem]:
    """Keywords the engine would otherwise ignore, and conditions the browser could not evaluate."""
    if not isinstance(schema, dict):
        return
    if "dependencies" in schema:
        yield Problem(
            file,
            pointer([*path, "dependencies"]),
            _(
                "is draft-07, not draft 2020-12: write dependentRequired (a field needs others) "
                "or dependentSchemas (a field brings a schema) instead"
            ),
        )
    if isinstance(schema.get("items"), list):
        yield Problem(
            file, pointer([*path, "items"]), _("is draft-07's tuple form: write prefixItems instead")
        )
    conditions = [("if", schema.get("if"))] + [
        (f"dependentSchemas/{name}", part) for name, part in (schema.get("dependentSchemas") or {}).items()
    ]
    for where, condition in conditions:
        if isinstance(condition, dict):
            for bad in _unsupported(condition):
                yield Problem(
                    file,
                    pointer([*path, *where.split("/")]),
                    _(
                        "%(keyword)s cannot be evaluated in the form; a condition may use: %(known)s",
                        keyword=bad,
                        known=", ".join(sorted(CONDITION_KEYWORDS)),
                    ),
                )
    for key in _SUBSCHEMA:
        yield from _schema_keywords(schema.get(key), [*path, key], file)
    for key in _SUBSCHEMA_LISTS:
        for index, part in enumerate(schema.get(key) or [] if isinstance(schema.get(key), list) else []):
            yield from _schema_keywords(part, [*path, key, index], file)
    for key in _SUBSCHEMA_MAPS:
        parts = schema.get(key)
        for name, part in parts.items() if isinstance(parts, dict) else []:
            yield from _schema_keywords(part, [*path, key, name], file)


def _unsupported(condition: Any) -> set[str]:
    """The keywords of a condition (at any depth) outside those the browser evaluates."""
    if isinstance(condition, list):
        return set().union(*(_unsupported(c) for c in condition)) if condition else set()
    if not isinstance(condition, dict):
        return set()
    found = set(condition) - CONDITION_KEYWORDS
    for key in ("items", "contains", "not", "allOf", "anyOf", "oneOf"):
        found |= _unsupported(condition.get(key))
    for part in (condition.get("properties") or {}).values():
        found |= _unsupported(part)
    return found


def _rules(rules: list[dict[str, Any]], properties: Mapping[str, Any], file: str) -> Iterator[Problem]:
    for index, rule in enumerate(rules):
        for error in check_expression(rule["check"], properties):
            yield Problem(file, pointer(["rules", index, "check"]), str(error))
        if "field" in rule and rule["field"] not in properties:
            yield Problem(
                file, pointer(["rules", index, "field"]), _("names no field: %(name)r", name=rule["field"])
            )


def _numbering(pattern: str, file: str) -> Iterator[Problem]:
    tokens = NUMBERING_TOKEN.findall(pattern)
    for token in tokens:
        if not NUMBERING_PARTS.match(token):
            yield Problem(
                file,
                "/numbering",
                _(
                    "{%(token)s} is not a numbering part; use {YYYY}, {YY}, {MM}, {DD}, {seq} or {seq:05}",
                    token=token,
                ),
            )
    if sum(1 for t in tokens if t.startswith("seq")) != 1:
        yield Problem(file, "/numbering", _("must hold exactly one {seq} or {seq:0N}"))


# --- form --------------------------------------------------------------------

WIDGETS_BY_TYPE = {
    "string": {"text", "textarea", "richtext", "date", "datetime", "select", "radio", "file"},
    "integer": {"integer", "number", "money", "percent", "select", "radio", "reference", "user"},
    "number": {"number", "money", "percent", "select", "radio"},
    "boolean": {"checkbox", "yesno", "select", "radio"},
    "array": {"multiselect", "checkboxes", "reference", "user", "file"},
    "object": set(),
}


@check("form")
def _form(document: Document, configuration: Configuration) -> Iterator[Problem]:
    body, file = document.body, document.file
    fields = configuration.fields(body["record_type"])
    if fields is None:
        yield Problem(file, "/record_type", _("names no record type: %(name)r", name=body["record_type"]))
        return
    others = [
        d.file for d in configuration.of_kind("form")
        if d.body.get("record_type") == body["record_type"] and d.name != document.name
    ]  # fmt: skip
    if others:
        yield Problem(
            file,
            "/record_type",
            _("%(name)r already has a form: %(files)s", name=body["record_type"], files=", ".join(others)),
        )
    fields = {**fields, **{name: {"type": "integer"} for name in EDITABLE_SYSTEM}}
    seen: set[str] = set()
    for s, section in enumerate(body["sections"]):
        for f, entry in enumerate(section["fields"]):
            here = ["sections", s, "fields", f]
            spec = {"field": entry} if isinstance(entry, str) else entry
            name = spec["field"]
            if name not in fields:
                yield Problem(
                    file,
                    pointer(here if isinstance(entry, str) else [*here, "field"]),
                    _("names no field of %(type)r: %(name)r", type=body["record_type"], name=name),
                )
                continue
            if name in seen:
                yield Problem(file, pointer(here), _("%(name)r is already on the form", name=name))
            seen.add(name)
            widget = spec.get("widget")
            kind = schema_type(fields[name])
            if widget and widget not in WIDGETS_BY_TYPE.get(kind, set()):
                yield Problem(
                    file,
                    pointer([*here, "widget"]),
                    _("a %(widget)s cannot edit a field of type %(type)s", widget=widget, type=kind),
                )
            for key in ("when", "required_when"):
                if key in spec:
                    yield from condition_problems(spec[key], fields, [*here, key], file)


def condition_problems(
    condition: Mapping[str, Any], fields: Mapping[str, Any], path: list[Any], file: str
) -> Iterator[Problem]:
    for name in condition.get("properties", {}):
        if name not in fields:
            yield Problem(
                file, pointer([*path, "properties", name]), _("names no field: %(name)r", name=name)
            )
    for index, name in enumerate(condition.get("required", [])):
        if name not in fields:
            yield Problem(file, pointer([*path, "required", index]), _("names no field: %(name)r", name=name))
    for key in ("allOf", "anyOf"):
        for index, part in enumerate(condition.get(key, [])):
            yield from condition_problems(part, fields, [*path, key, index], file)
    if "not" in condition:
        yield from condition_problems(condition["not"], fields, [*path, "not"], file)


# --- role --------------------------------------------------------------------


@check("role")
def _role(document: Document, configuration: Configuration) -> Iterator[Problem]:
    for type_name, grant in document.body.get("records", {}).items():
        if type_name == "*":
            if "fields" in grant:
                yield Problem(
                    document.file,
                    pointer(["records", "*", "fields"]),
                    _("field rules need a record type, not *"),
                )
            continue
        fields = configuration.fields(type_name)
        if fields is None:
            yield Problem(
                document.file,
                pointer(["records", type_name]),
                _("names no record type: %(name)r", name=type_name),
            )
            continue
        for field, rule in grant.get("fields", {}).items():
            if field in EDITABLE_SYSTEM:  # owner, assignee, client, department: every record has them
                if rule != "read_only":
                    yield Problem(
                        document.file,
                        pointer(["records", type_name, "fields", field]),
                        _("a system field can be read_only, not %(rule)s", rule=rule),
                    )
            elif field not in fields:
                yield Problem(
                    document.file,
                    pointer(["records", type_name, "fields", field]),
                    _("names no field of %(type)r", type=type_name),
                )
