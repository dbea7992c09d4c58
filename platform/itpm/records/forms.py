"""How a record type's form looks, from its `form` definition (or a default one).

Pure: sections of entries, each a field with its widget, help text and the
conditions under which it is shown or required. The same conditions are
evaluated in the browser (static/itpm-forms.js) and here, on the server.
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
    FILE_LIST: "file", JSON: "textarea",
}  # fmt: skip
SYSTEM_WIDGETS = {"assignee": "user", "owner": "user", "client": "reference", "department": "select"}


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
    if body is None:
        ordered = [n for n in spec.columns if n in spec.fields] + [
            n for n in spec.fields if n not in spec.columns
        ]
        entries = tuple(Entry(n, _widget(spec, n, None)) for n in ordered)
        return FormSpec((Section({"en": "Details", "zh": "详情"}, 1, entries),))
    sections = []
    for section in body["sections"]:
        entries = []
        for raw in section["fields"]:
            raw = {"field": raw} if isinstance(raw, str) else raw
            name = raw["field"]
            entries.append(
                Entry(
                    field=name,
                    widget=_widget(spec, name, raw.get("widget")),
                    help=raw.get("help") or (spec.fields[name].help if name in spec.fields else None),
                    placeholder=raw.get("placeholder"),
                    readonly=bool(raw.get("readonly")),
                    when=raw.get("when"),
                    required_when=raw.get("required_when"),
                )
            )
        sections.append(
            Section(section["title"], section.get("columns", 1), tuple(entries), section.get("description"))
        )
    return FormSpec(tuple(sections))


def _widget(spec: RecordTypeSpec, name: str, chosen: str | None) -> str:
    if chosen:
        return chosen
    if name in SYSTEM_WIDGETS:
        return SYSTEM_WIDGETS[name]
    field = spec.fields[name]
    if field.kind == "text" and field.schema.get("maxLength", 10_000) > 300:
        return "textarea"
    return DEFAULT_WIDGETS[field.kind]


@cache
def _condition_validator(condition_json: str) -> Draft202012Validator:
    import json

    return Draft202012Validator(json.loads(condition_json))


def holds(condition: dict[str, Any] | None, values: dict[str, Any]) -> bool:
    """Whether a form condition holds for a record's values (None and "" count as absent)."""
    if condition is None:
        return True
    import json

    present = {k: v for k, v in values.items() if v is not None and v != "" and v != []}
    return _condition_validator(json.dumps(condition, sort_keys=True)).is_valid(present)
