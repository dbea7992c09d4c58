"""The compiled field checks of record validation (`fast_checks`) only ever say sooner what jsonschema says:
a value they pass is one jsonschema passes, so every problem (and its message) is still jsonschema's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from itpm.records.fields import RecordTypeSpec
from itpm.records.validation import FORMATS, RecordSchemaValidator, RecordValidator, fast_check, fast_checks

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
SPECS = [RecordTypeSpec(json.loads(path.read_text())) for path in sorted(SCHEMAS.glob("*.json"))]
#: Every field schema of the starter pack, with its column's bounds (as `RecordValidator` builds them),
#: and a few more keywords than the pack uses.
FIELD_SCHEMAS = [
    {"allOf": [sub, bounds]} if (bounds := spec.fields[name].column_bounds) else sub
    for spec in SPECS
    for name, sub in spec.schema.get("properties", {}).items()
] + [
    {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
    {"type": ["string", "null"], "maxLength": 3},
    {"enum": [1, "1", True, None]},
    {"const": 0},
    {"type": "number", "exclusiveMinimum": 0, "maximum": 1.5},
    {"type": "string", "format": "date"},
    {"type": "string", "format": "email"},
    {"type": "string", "format": "no-such-format"},
    {"minLength": 2},
]

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.text(max_size=260),
    st.sampled_from(
        [
            "P1",
            "P5",
            "network",
            "2024-02-30",
            "2024-02-29",
            "2024-03-01T08:00:00Z",
            "2024-03-01 08:00",
            "a@b.example",
            "0",
            "",
            "x" * 200,
            "x" * 201,
            0,
            1,
            1.0,
            2**31,
            2**31 - 1,
            -(2**31),
            10,
            1.5,
        ]
    ),  # fmt: skip
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


def jsonschema_passes(schema: Any, value: Any) -> bool:
    validator = RecordSchemaValidator({"properties": {"f": schema}}, format_checker=FORMATS)
    return not list(validator.iter_errors({"f": value}))


@settings(max_examples=400, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(FIELD_SCHEMAS) - 1), value=VALUES)
def test_a_value_a_compiled_check_passes_is_one_jsonschema_passes(index: int, value: Any) -> None:
    schema = FIELD_SCHEMAS[index]
    check = fast_check(schema)
    if check is not None and check(value):
        assert jsonschema_passes(schema, value), (schema, value)


def test_the_starter_pack_fields_are_checked_by_their_compiled_check_and_valid_values_pass() -> None:
    incident = next(spec for spec in SPECS if spec.name == "incident")
    checks = fast_checks(RecordValidator(incident)._validator.schema)
    assert checks is not None and {"title", "priority", "category", "project", "resolved_at"} <= checks.keys()
    assert checks["priority"]("P3") and not checks["priority"]("P5")
    assert checks["resolved_at"]("2024-03-01T08:00:00+00:00") and not checks["resolved_at"]("yesterday")
    assert not checks["project"](2**40)  # beyond the column: jsonschema says so


def test_a_schema_with_rules_beyond_its_fields_is_read_by_jsonschema_alone() -> None:
    assert fast_checks({"type": "object", "properties": {}, "if": {"required": ["a"]}, "then": {}}) is None
    assert fast_check({"type": "string", "pattern": "^a$"}) is None
    assert fast_check({"type": "array", "items": {"type": "integer"}}) is None


def test_problems_are_jsonschemas_with_or_without_the_compiled_checks() -> None:
    """The same records, valid and not, give the same problems with the compiled checks and without."""
    incident = next(spec for spec in SPECS if spec.name == "incident")
    fast, slow = RecordValidator(incident), RecordValidator(incident)
    slow._fast = None
    rows = [
        {"title": "Down", "priority": "P3", "category": "network", "project": 3},
        {"title": "", "priority": "P9", "category": "network"},
        {"title": "x" * 201, "priority": "P1", "category": "server", "resolved_at": "soon"},
        {"title": "Down", "priority": "P1", "category": "server", "resolved_at": "2024-03-01T08:00:00Z"},
        {"title": "Down", "priority": 3, "category": "server", "project": 2**40},
        {"title": "Nul \x00", "priority": "P4", "category": "other", "nope": 1},
    ]
    for data in rows:
        assert [p.as_json() for p in fast.problems(data)] == [p.as_json() for p in slow.problems(data)], data
