"""One truth: every definition of the starter pack that a visual designer edits turns into the
designer's model and back into the very same JSON, and the model made again from that JSON is the
same model (designer -> JSON -> designer). Conditions, field types and options the designers
show as pickers are counted, so a spelling the pickers stop understanding is noticed."""

from __future__ import annotations

import copy
import json

import pytest

from itpm.config import ROOT
from itpm.definitions.documents import read_documents
from itpm.designers import CONVERTERS, designer_document, designer_model
from itpm.designers.conditions import condition_model, condition_schema
from itpm.designers.record_types import field_model, field_schema

PACK = [ROOT / folder for folder in ("schemas", "forms", "workflows", "reports")]  # automations, roles inside


def pack_documents() -> list[dict]:
    documents, problems = read_documents(PACK)
    assert problems == []
    return [d.body for d in documents if d.kind in CONVERTERS]


@pytest.mark.parametrize("body", pack_documents(), ids=lambda b: f"{b['kind']}:{b['name']}")
def test_designer_json_designer_round_trip_is_identical(body: dict) -> None:
    original = copy.deepcopy(body)
    model = designer_model(body)
    assert body == original, "making the model changed the definition"
    assert designer_document(json.loads(json.dumps(model))) == body
    assert designer_model(designer_document(model)) == model


def test_the_pack_covers_every_kind_a_designer_edits() -> None:
    kinds = {body["kind"] for body in pack_documents()}
    assert kinds == set(CONVERTERS)


def test_the_designers_show_the_pack_as_pickers_not_json() -> None:
    fields = [
        field_model(name, schema)
        for body in pack_documents()
        if body["kind"] == "record_type"
        for name, schema in body["schema"]["properties"].items()
    ]
    as_json = [f["name"] for f in fields if f["type"] == "json"]
    assert len(as_json) <= len(fields) // 20, as_json  # at most 5% of the pack's fields stay JSON
    types = {f["type"] for f in fields}
    assert {"text", "long_text", "choice", "date", "person", "reference", "number", "yes_no"} <= types
    conditions = [
        designer_model(body)["sections"][i]["fields"][j][key]
        for body in pack_documents()
        if body["kind"] == "form"
        for i, section in enumerate(body["sections"])
        for j, entry in enumerate(section["fields"])
        if isinstance(entry, dict)
        for key in ("when", "required_when")
        if key in entry
    ]
    assert conditions and all("all" in c for c in conditions), conditions


@pytest.mark.parametrize(
    "plain, schema",
    [
        ("text", {"type": "string", "maxLength": 200, "title": "Name", "x-title-zh": "名称"}),
        ("long_text", {"type": "string", "description": "What", "x-description-zh": "什么"}),
        ("rich_text", {"type": "string", "contentMediaType": "text/html"}),
        ("money", {"type": "number", "format": "money", "minimum": 0}),
        ("datetime", {"type": "string", "format": "date-time"}),
        (
            "multiple_choice",
            {"type": "array", "uniqueItems": True, "items": {"type": "string", "enum": ["a", "b"]}},
        ),
        ("people", {"type": "array", "items": {"type": "integer", "x-ref": "user"}}),
        ("files", {"type": "array", "items": {"type": "integer", "x-ref": "file"}}),
        ("file", {"type": "integer", "x-ref": "file"}),
        ("table", {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer"}}}}),
        ("whole_number", {"type": "integer", "default": 3, "x-renamed-from": "count"}),
    ],
)
def test_every_plain_type_is_one_spelling_of_the_engine(plain: str, schema: dict) -> None:
    model = field_model("f", schema)
    assert model["type"] == plain
    assert field_schema(model) == schema


def test_a_condition_the_pickers_cannot_say_is_kept_as_json() -> None:
    odd = {"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}
    assert condition_model(odd) == {"json": odd}
    picked = {
        "all": [
            {"field": "impact", "op": "equals", "value": "high"},
            {"field": "cost", "op": "at_least", "value": 5},
        ]
    }
    assert condition_model(condition_schema(picked)) == picked
