"""What a record type's fields are, read from its JSON Schema: kind, storage, labels.

Pure: a `RecordTypeSpec` is derived from a record_type definition alone, and
everything else (tables, forms, API schemas, list columns) is built from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from itpm.definitions.matching import matches_any

#: System fields every record has, with their storage column and kind.
SYSTEM = {
    "id": ("id", "integer"),
    "number": ("number", "text"),
    "state": ("state", "text"),
    "version": ("version", "integer"),
    "department": ("department_id", "department"),
    "client": ("client_id", "client"),
    "owner": ("owner_id", "user"),
    "assignee": ("assignee_id", "user"),
    "created_by": ("created_by_id", "user"),
    "created_at": ("created_at", "datetime"),
    "updated_by": ("updated_by_id", "user"),
    "updated_at": ("updated_at", "datetime"),
    "sla_due": ("sla_due", "datetime"),
    "sla_status": ("sla_status", "text"),
    "sla_breached": ("sla_breached", "boolean"),
}
#: System fields a form (and an API client) may set.
EDITABLE_SYSTEM = ("assignee", "owner", "client", "department")
#: The record type whose records are client organisations.
CLIENT_TYPE = "customer"
#: References to things that are not record types.
BUILTIN_REFS = {"user": "user", "file": "file"}

SYSTEM_TITLES = {
    "id": {"en": "ID", "zh": "ID"},
    "number": {"en": "Number", "zh": "编号"},
    "state": {"en": "State", "zh": "状态"},
    "version": {"en": "Version", "zh": "版本"},
    "department": {"en": "Department", "zh": "部门"},
    "client": {"en": "Client", "zh": "客户"},
    "owner": {"en": "Owner", "zh": "负责人"},
    "assignee": {"en": "Assignee", "zh": "处理人"},
    "created_by": {"en": "Created by", "zh": "创建人"},
    "created_at": {"en": "Created", "zh": "创建时间"},
    "updated_by": {"en": "Updated by", "zh": "更新人"},
    "updated_at": {"en": "Updated", "zh": "更新时间"},
    "sla_due": {"en": "SLA due", "zh": "SLA 截止"},
    "sla_status": {"en": "SLA", "zh": "SLA 状态"},
    "sla_breached": {"en": "SLA breached", "zh": "SLA 已超时"},
}

# Kinds of field, and how they are stored.
TEXT, RICHTEXT, ENUM, INTEGER, NUMBER, BOOLEAN, DATE, DATETIME = (
    "text", "richtext", "enum", "integer", "number", "boolean", "date", "datetime",
)  # fmt: skip
REF, USER, FILE = "ref", "user", "file"
ENUM_LIST, REF_LIST, USER_LIST, FILE_LIST, JSON = "enum_list", "ref_list", "user_list", "file_list", "json"

#: Kinds sharing one storage: a change between them needs no conversion of data.
STORAGE = {
    TEXT: "text", RICHTEXT: "text", ENUM: "text", INTEGER: "integer", NUMBER: "number",
    BOOLEAN: "boolean", DATE: "date", DATETIME: "datetime", REF: "ref", USER: "ref", FILE: "ref",
    ENUM_LIST: "json", REF_LIST: "json", USER_LIST: "json", FILE_LIST: "json", JSON: "json",
}  # fmt: skip

#: The largest id (ids are INTEGER columns: 32 bits on PostgreSQL).
ID_MAX = 2**31 - 1
#: The values each kind's column holds (`records.store.column_type`: BIGINT, NUMERIC(20, 4), INTEGER ids).
BOUNDS = {
    INTEGER: (-(2**63 - 1), 2**63 - 1),
    NUMBER: (-(10**15), 10**15),
    REF: (1, ID_MAX),
    USER: (1, ID_MAX),
    FILE: (1, ID_MAX),
}
#: Lists of ids hold ids: their items are bounded as single references are.
LIST_ITEM_KIND = {REF_LIST: REF, USER_LIST: USER, FILE_LIST: FILE}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    schema: dict[str, Any] = field(compare=False)
    kind: str
    target: str | None = None  # the referenced record type, user or file

    @property
    def column(self) -> str:
        """The table column: the field's name, with _id for a single reference."""
        return f"{self.name}_id" if self.kind in (REF, USER, FILE) else self.name

    @property
    def storage(self) -> str:
        return STORAGE[self.kind]

    @property
    def title(self) -> dict[str, str]:
        return schema_title(self.schema, self.name)

    @property
    def help(self) -> dict[str, str] | None:
        if "description" not in self.schema:
            return None
        return {
            "en": self.schema["description"],
            "zh": self.schema.get("x-description-zh", self.schema["description"]),
        }

    @property
    def choices(self) -> list[tuple[Any, dict[str, str]]]:
        """The allowed values with their labels (for enums and lists of enums)."""
        return schema_choices(self.schema.get("items", {}) if self.kind == ENUM_LIST else self.schema) or []

    @property
    def is_list(self) -> bool:
        return self.kind in (ENUM_LIST, REF_LIST, USER_LIST, FILE_LIST)

    @property
    def column_bounds(self) -> dict[str, Any] | None:
        """The limits of what the field's column holds that its own schema does not already set, as
        JSON Schema (for its items, for a list of ids); None when there are none."""
        if self.kind in LIST_ITEM_KIND:
            items = self.schema.get("items")
            bounds = _narrower(items if isinstance(items, dict) else {}, *BOUNDS[LIST_ITEM_KIND[self.kind]])
            return {"items": bounds} if bounds else None
        if self.kind in BOUNDS:
            return _narrower(self.schema, *BOUNDS[self.kind]) or None
        return None


def _narrower(schema: dict[str, Any], low: int, high: int) -> dict[str, Any]:
    """`minimum: low` and `maximum: high`, each unless `schema` already keeps values inside it."""

    def number(key: str) -> float | None:
        value = schema.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    bounds: dict[str, Any] = {}
    if not any(v is not None and v >= low for v in (number("minimum"), number("exclusiveMinimum"))):
        bounds["minimum"] = low
    if not any(v is not None and v <= high for v in (number("maximum"), number("exclusiveMaximum"))):
        bounds["maximum"] = high
    return bounds


def schema_title(schema: dict[str, Any], name: str) -> dict[str, str]:
    """The label of a field or sub-field in both languages (its name when it has no title)."""
    title = schema.get("title") or name.replace("_", " ").capitalize()
    return {"en": title, "zh": schema.get("x-title-zh", title)}


def schema_choices(schema: dict[str, Any]) -> list[tuple[Any, dict[str, str]]] | None:
    """The choices a schema allows, with their labels, or None when it is no list of choices.

    `enum` (labelled by x-enum-titles), or `oneOf`/`anyOf` of `const` each with its
    `title` (and `x-title-zh`), the way JSON Schema writers label choices.
    """
    if "enum" in schema:
        labels = schema.get("x-enum-titles", {})
        return [(v, labels.get(str(v), {"en": str(v), "zh": str(v)})) for v in schema["enum"]]
    for keyword in ("oneOf", "anyOf"):
        options = schema.get(keyword)
        if (
            isinstance(options, list)
            and options
            and all(isinstance(o, dict) and "const" in o for o in options)
        ):
            return [(o["const"], schema_title(o, str(o["const"]))) for o in options]
    return None


def resolve_refs(schema: Any, root: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """`schema` with its local references (`#/$defs/address`, draft-07's `#/definitions/...`) put in place,
    so that a field reads as what it refers to. A recursive reference is left as it is."""
    if isinstance(schema, list):
        return [resolve_refs(item, root, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
        target: Any = root
        for part in ref[2:].split("/"):
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
            )
        if isinstance(target, dict):
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            return resolve_refs({**target, **siblings}, root, seen | {ref})
    return {
        key: resolve_refs(value, root, seen) if key not in ("const", "enum", "default") else value
        for key, value in schema.items()
    }


def schema_type(schema: dict[str, Any]) -> str | None:
    """The one type a schema has (`["string", "null"]` is a string), guessed from its keywords if unsaid."""
    declared = schema.get("type")
    if isinstance(declared, list):
        others = [t for t in declared if t != "null"]
        declared = others[0] if len(others) == 1 else None
    if declared is None:
        if "properties" in schema or "additionalProperties" in schema or "patternProperties" in schema:
            return "object"
        if "items" in schema:
            return "array"
    return declared


def named_schema(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """The schema of a named value `key` of an object (by patternProperties, else additionalProperties;
    for a value not yet named, the first there is)."""
    for pattern, sub in (schema.get("patternProperties") or {}).items():
        if key and matches_any([pattern], key):  # RE2: an admin's pattern never hangs a request
            return sub
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    patterns = list((schema.get("patternProperties") or {}).values())
    return patterns[0] if patterns else {}


def field_kind(schema: dict[str, Any]) -> tuple[str, str | None]:
    """The kind of a field (and the type it refers to) from its JSON Schema."""
    type_ = schema_type(schema)
    ref = schema.get("x-ref")
    if type_ == "string":
        if schema.get("format") == "date":
            return DATE, None
        if schema.get("format") == "date-time":
            return DATETIME, None
        if schema_choices(schema) is not None:
            return ENUM, None
        if schema.get("contentMediaType") == "text/html":
            return RICHTEXT, None
        return TEXT, None
    if type_ == "integer":
        if ref:
            return {"user": USER, "file": FILE}.get(ref, REF), ref
        return INTEGER, None
    if type_ == "number":
        return NUMBER, None
    if type_ == "boolean":
        return BOOLEAN, None
    if type_ == "array":
        items = schema.get("items", {})
        if items.get("x-ref"):
            return {"user": USER_LIST, "file": FILE_LIST}.get(items["x-ref"], REF_LIST), items["x-ref"]
        if schema_choices(items) is not None:
            return ENUM_LIST, None
    return JSON, None


@dataclass(frozen=True)
class RecordTypeSpec:
    """A record type as the engine uses it, from its published definition."""

    body: dict[str, Any] = field(compare=False, hash=False)

    @property
    def name(self) -> str:
        return self.body["name"]

    @property
    def title(self) -> dict[str, str]:
        return self.body["title"]

    @property
    def table_name(self) -> str:
        return f"rec_{self.name}"

    @property
    def schema(self) -> dict[str, Any]:
        return self.body["schema"]

    @cached_property
    def fields(self) -> dict[str, FieldSpec]:
        result = {}
        for name, schema in self.schema["properties"].items():
            schema = resolve_refs(schema, self.schema)
            kind, target = field_kind(schema)
            result[name] = FieldSpec(name, schema, kind, target)
        return result

    @property
    def required(self) -> list[str]:
        return list(self.schema.get("required", []))

    @property
    def references(self) -> list[FieldSpec]:
        """Fields referring to other records (single or lists)."""
        return [f for f in self.fields.values() if f.kind in (REF, REF_LIST)]

    @property
    def columns(self) -> list[str]:
        return self.body.get("columns") or ["number", *list(self.fields)[:4], "updated_at"]

    @property
    def filters(self) -> list[str]:
        return self.body.get("filters", [])

    @property
    def parent(self) -> str | None:
        """The reference field naming each record's parent record of the same type (records in a tree:
        client organisations and their child organisations), if the type has one."""
        return self.body.get("parent")

    @property
    def client_flag(self) -> str | None:
        """The yes/no field that says a record is for the client (a client's user reads only those)."""
        return self.body.get("client_visible")

    @cached_property
    def internal_fields(self) -> frozenset[str]:
        """The fields never shown to a client organisation's user (`x-internal`)."""
        return frozenset(n for n, f in self.schema["properties"].items() if f.get("x-internal"))

    @cached_property
    def personal_fields(self) -> frozenset[str]:
        """The fields holding personal data (`x-personal`): sealed in the audit log, pseudonymised on erasure."""
        return frozenset(n for n, f in self.schema["properties"].items() if f.get("x-personal"))

    @property
    def subject(self) -> str:
        """The person field naming whom the personal fields are about (`subject`), else `created_by`."""
        return self.body.get("subject", "created_by")

    @property
    def subject_column(self) -> str:
        return self.fields[self.subject].column if self.subject in self.fields else "created_by_id"

    @property
    def retention(self) -> dict[str, Any] | None:
        """How long records are kept: {"states": [...], "years": N, "action": "delete" | "anonymise"}."""
        return self.body.get("retention")

    @property
    def planning(self) -> dict[str, Any]:
        """What the type's fields mean to planning: {"start": "start_date", "due": ..., ...}.

        Planned work (its planning names a start) is due by the type's `due`, the field My work and the
        digest read, unless its planning names a due day of its own.
        """
        planning = self.body.get("planning", {})
        if "start" in planning and "due" not in planning and self.body.get("due"):
            return {**planning, "due": self.body["due"]}
        return planning

    @property
    def phase_plan(self) -> tuple[str, list[tuple[str, str]]] | None:
        """The lifecycle phase field (`planning.phase`) and, in the order of its choices, each phase's
        planned-end field (`planning.phase_ends`); None when the type declares no phase plan."""
        planning = self.body.get("planning", {})
        phase, ends = planning.get("phase"), planning.get("phase_ends")
        if phase not in self.fields or not ends:
            return None
        return phase, [(value, ends[value]) for value, _label in self.fields[phase].choices if value in ends]

    @property
    def search(self) -> list[str]:
        return self.body.get("search", [])

    @property
    def indexed(self) -> list[str]:
        return self.body.get("indexed", [])

    @property
    def order(self) -> tuple[str, str]:
        order = self.body.get("order", "-created_at")
        return (order.lstrip("-"), "desc" if order.startswith("-") else "asc")

    @property
    def rules(self) -> list[dict[str, Any]]:
        """Rules on the record as a whole (one field against another), each an expression that must hold."""
        return self.body.get("rules", [])

    @property
    def numbering(self) -> str:
        return self.body.get("numbering", self.name[:3].upper() + "-{seq:05}")

    @property
    def belongs_to(self) -> str | None:
        """The reference field whose record gives this one its client and department."""
        return self.body.get("belongs_to")

    @property
    def departments(self) -> list[str] | None:
        """The departments a pilot is enabled for; None when enabled for everyone."""
        return self.body.get("departments")

    @property
    def category(self) -> dict[str, str]:
        return self.body.get("category", {"en": "Records", "zh": "记录"})

    @property
    def icon(self) -> str:
        return self.body.get("icon", "fa-table")

    def title_of(self, name: str) -> dict[str, str]:
        """The label of a defined or system field."""
        if name in self.fields:
            return self.fields[name].title
        return SYSTEM_TITLES.get(name, {"en": name, "zh": name})
