"""How a record type's form looks, from its `form` definition (or a default one).

Pure: sections of entries, each a field with its widget, help text and the
conditions under which it is shown or required. The same conditions are
evaluated in the browser (static/itpm-forms.js) and here, on the server.
The schema's own conditions (`if`/`then`/`else`, `dependentRequired`,
`dependentSchemas`) become such conditions too (`schema_conditions`), so a
field appears and is marked required by the rule the server enforces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from itpm.records.fields import (
    BOOLEAN,
    DATE,
    DATETIME,
    EDITABLE_SYSTEM,
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
    USER,
    USER_LIST,
    RecordTypeSpec,
)

#: The widget a field gets when its form does not choose one.
DEFAULT_WIDGETS = {
    "text": "text", RICHTEXT: "richtext", ENUM: "select", INTEGER: "integer", NUMBER: "number",
    BOOLEAN: "checkbox", DATE: "date", DATETIME: "datetime", REF: "reference", USER: "user",
    FILE: "file", ENUM_LIST: "multiselect", REF_LIST: "reference", USER_LIST: "user",
    FILE_LIST: "file", JSON: "structured",
}  # fmt: skip
#: Keywords a schema condition (an `if`, a dependent schema) may use: those the browser evaluates too.
CONDITION_KEYWORDS = frozenset({
    "type", "const", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "pattern", "minItems", "maxItems", "items", "contains", "properties",
    "required", "allOf", "anyOf", "oneOf", "not", "title", "description", "$comment",
})  # fmt: skip
SYSTEM_WIDGETS = {"assignee": "user", "owner": "user", "client": "reference", "department": "select"}
#: The last section of a form: the fields none of its sections places.
OTHER_FIELDS = {"en": "Other fields", "zh": "其他字段"}


@dataclass(frozen=True)
class Entry:
    """One field on a form."""

    field: str
    widget: str
    help: dict[str, str] | None = None
    placeholder: dict[str, str] | None = None
    readonly: bool = False
    when: dict[str, Any] | None = None
    required_when: dict[str, Any] | None = None

    @property
    def is_system(self) -> bool:
        return self.field in EDITABLE_SYSTEM


@dataclass(frozen=True)
class Section:
    title: dict[str, str]
    columns: int
    entries: tuple[Entry, ...]
    description: dict[str, str] | None = None


@dataclass(frozen=True)
class FormSpec:
    sections: tuple[Section, ...]
    conditions: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def entries(self) -> list[Entry]:
        return [entry for section in self.sections for entry in section.entries]

    def entry(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.field == name), None)


def form_spec(spec: RecordTypeSpec, body: dict[str, Any] | None) -> FormSpec:
    """The form of `spec`: its definition's sections, or one section with every field."""
    derived = schema_conditions(spec.schema)
    radio_up_to = (body or {}).get("radio_up_to", 0)
    if body is None:
        ordered = [n for n in spec.columns if n in spec.fields] + [
            n for n in spec.fields if n not in spec.columns
        ]
        entries = tuple(_entry(spec, {"field": n}, derived, radio_up_to) for n in ordered)
        return FormSpec((Section({"en": "Details", "zh": "详情"}, 1, entries),))
    sections = []
    for section in body["sections"]:
        entries = tuple(
            _entry(spec, {"field": raw} if isinstance(raw, str) else raw, derived, radio_up_to)
            for raw in section["fields"]
        )
        sections.append(
            Section(section["title"], section.get("columns", 1), entries, section.get("description"))
        )
    others = unplaced(spec, body)
    if others:  # a field published since the form was written is in the form at once, until placed
        entries = tuple(_entry(spec, {"field": n}, derived, radio_up_to) for n in others)
        sections.append(Section(OTHER_FIELDS, 1, entries))
    return FormSpec(tuple(sections))


def unplaced(spec: RecordTypeSpec, body: dict[str, Any]) -> list[str]:
    """The fields of `spec` that no section of the form `body` names, in the schema's order."""
    placed = {
        raw if isinstance(raw, str) else raw.get("field")
        for section in body.get("sections", [])
        for raw in section.get("fields", [])
    }
    return [name for name in spec.fields if name not in placed]


def _entry(
    spec: RecordTypeSpec, raw: dict[str, Any], derived: dict[str, tuple[Any, Any]], radio_up_to: int
) -> Entry:
    name = raw["field"]
    field = spec.fields.get(name)
    when, required_when = derived.get(name, (None, None))
    return Entry(
        field=name,
        widget=_widget(spec, name, raw.get("widget"), radio_up_to),
        help=raw.get("help") or (field.help if field else None),
        placeholder=raw.get("placeholder"),
        readonly=bool(raw.get("readonly")) or bool(field and field.schema.get("readOnly")),
        when=both(raw.get("when"), when),
        required_when=both(raw.get("required_when"), required_when),
    )


def _widget(spec: RecordTypeSpec, name: str, chosen: str | None, radio_up_to: int = 0) -> str:
    if chosen:
        return chosen
    if name in SYSTEM_WIDGETS:
        return SYSTEM_WIDGETS[name]
    field = spec.fields[name]
    choices = field.choices
    if field.kind in (ENUM, INTEGER, NUMBER, BOOLEAN) and (choices or field.kind == ENUM):
        return "radio" if 0 < len(choices) <= radio_up_to else "select"
    if field.kind == "text" and field.schema.get("maxLength", 10_000) > 300:
        return "textarea"
    if field.kind == NUMBER and field.schema.get("format") == "money":  # an amount: the designers' "money"
        return "money"
    return DEFAULT_WIDGETS[field.kind]


def both(first: dict[str, Any] | None, second: dict[str, Any] | None) -> dict[str, Any] | None:
    """A condition holding when both hold (either may be absent)."""
    if first is None or second is None:
        return first or second
    return {"allOf": [first, second]}


def _either(first: dict[str, Any] | None, second: dict[str, Any]) -> dict[str, Any]:
    return second if first is None else {"anyOf": [*first.get("anyOf", [first]), second]}


def schema_conditions(schema: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """When each property of an object schema is shown and when it is required, by the schema's own rules.

    `if`/`then`/`else` (also inside `allOf`): a property the `then` names (and the
    `else` does not) is shown only while the `if` holds, and required then if the
    `then` requires it; likewise for `else`. `dependentRequired`: required once
    the field it depends on has a value. `dependentSchemas`: what the schema names
    is shown once that field has a value, and required then if it requires it.
    Properties that are always required, or that a condition reads, are always shown.
    """
    shown: dict[str, Any] = {}
    required: dict[str, Any] = {}
    always = set(schema.get("required", []))
    read: set[str] = set()
    branches: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]] = []
    for part in [schema, *[p for p in schema.get("allOf", []) if isinstance(p, dict)]]:
        condition = part.get("if")
        if isinstance(condition, dict):
            read |= _names_read(condition)
            for key, holds_when in (("then", condition), ("else", {"not": condition})):
                if isinstance(part.get(key), dict):
                    other = part.get("else" if key == "then" else "then")
                    branches.append((holds_when, part[key], other if isinstance(other, dict) else None))
        for name, needed in (part.get("dependentRequired") or {}).items():
            for other in needed:
                required[other] = _either(required.get(other), {"required": [name]})
        for name, dependent in (part.get("dependentSchemas") or {}).items():
            if isinstance(dependent, dict):
                read.add(name)
                branches.append(({"required": [name]}, dependent, None))
    for condition, branch, other in branches:
        named = set(branch.get("properties", {})) | set(branch.get("required", []))
        others = set((other or {}).get("properties", {})) | set((other or {}).get("required", []))
        for name in named:
            if name not in always and name not in others:
                shown[name] = _either(shown.get(name), condition)
        for name in branch.get("required", []):
            required[name] = _either(required.get(name), condition)
    return {
        name: (None if name in read else shown.get(name), required.get(name))
        for name in set(shown) | set(required)
    }


def _names_read(condition: dict[str, Any]) -> set[str]:
    names = set(condition.get("properties", {})) | set(condition.get("required", []))
    for key in ("allOf", "anyOf", "oneOf"):
        for part in condition.get(key, []):
            names |= _names_read(part) if isinstance(part, dict) else set()
    if isinstance(condition.get("not"), dict):
        names |= _names_read(condition["not"])
    return names


@cache
def _condition_validator(condition_json: str) -> Draft202012Validator:
    import json

    return Draft202012Validator(json.loads(condition_json))


def condition_validator(condition: dict[str, Any]) -> Draft202012Validator:
    """The compiled validator of a form condition (one per distinct condition)."""
    import json

    return _condition_validator(json.dumps(condition, sort_keys=True))


def present_values(values: dict[str, Any]) -> dict[str, Any]:
    """The values a condition reads: None, "" and [] count as absent."""
    return {k: v for k, v in values.items() if v is not None and v != "" and v != []}


def holds(condition: dict[str, Any] | None, values: dict[str, Any]) -> bool:
    """Whether a form condition holds for a record's values (None and "" count as absent)."""
    if condition is None:
        return True
    return condition_validator(condition).is_valid(present_values(values))
