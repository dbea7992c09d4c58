"""What `defs validate` says of the JSON Schema people write, and the rules records are held to:
draft-07 spellings, defaults, conditions, readOnly, formats, record-level rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from schema_samples import SAMPLES, field, record_type
from test_schema_forms import publish, resave

from itpm.access import Actor
from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import Document
from itpm.definitions.meta import MetaSchemas
from itpm.records.fields import RecordTypeSpec
from itpm.records.forms import form_spec, schema_conditions
from itpm.records.service import Records


def problems_of(*bodies: dict[str, Any]) -> dict[str, str]:
    documents = [Document(f"{b['name']}.json", b) for b in bodies]
    return {p.path: str(p.message) for p in check_configuration(documents, MetaSchemas())}


def with_fields(**properties: Any) -> dict[str, Any]:
    return record_type("thing", "Thing", "东西", {"type": "object", "properties": properties})


def test_every_sample_schema_passes_defs_validate() -> None:
    assert problems_of(*[definition for definition, _data in SAMPLES.values()]) == {}


def test_draft_07_dependencies_are_refused_with_their_path() -> None:
    body = with_fields(card=field("Card", "卡", type="string"), city=field("City", "城市", type="string"))
    body["schema"]["dependencies"] = {"card": ["city"]}
    nested = with_fields(
        address=field(
            "Address", "地址", type="object", properties={"a": {"type": "string"}}, dependencies={"a": ["b"]}
        )
    )
    assert "dependentRequired" in problems_of(body)["/schema/dependencies"]
    assert "dependentSchemas" in problems_of(nested)["/schema/properties/address/dependencies"]


def test_a_default_that_breaks_its_own_field_is_refused_with_its_path() -> None:
    body = with_fields(
        size=field("Size", "尺寸", type="string", enum=["S", "M"], default="XL"),
        count=field("Count", "数量", type="integer", minimum=1, default=0),
        seen=field("Seen", "日期", type="string", format="date", default="yesterday"),
        rows=field(
            "Rows", "行", type="array",
            items={"type": "object", "properties": {"n": {"type": "integer", "default": "one"}}},
        ),
        fine=field("Fine", "好", type="integer", default=3),
    )  # fmt: skip
    found = problems_of(body)
    assert set(found) == {
        "/schema/properties/size/default",
        "/schema/properties/count/default",
        "/schema/properties/seen/default",
        "/schema/properties/rows/items/properties/n/default",
    }
    assert found["/schema/properties/count/default"].startswith("the default breaks the field's own rule")


def test_a_condition_the_form_cannot_evaluate_is_refused() -> None:
    body = with_fields(kind=field("Kind", "类别", type="string"), code=field("Code", "代码", type="string"))
    body["schema"]["if"] = {"properties": {"kind": {"format": "email"}}}
    body["schema"]["then"] = {"required": ["code"]}
    assert "format cannot be evaluated in the form" in problems_of(body)["/schema/if"]


def test_a_record_rule_names_fields_that_exist() -> None:
    body = with_fields(start=field("Start", "开始", type="string", format="date"))
    body["rules"] = [{"check": "finish >= start", "field": "finsh", "message": {"en": "x", "zh": "x"}}]
    found = problems_of(body)
    assert "names no field: 'finish'" in found["/rules/0/check"]
    assert found["/rules/0/field"] == "names no field: 'finsh'"


def test_the_schemas_conditions_show_and_require_fields_as_the_server_does() -> None:
    definition, _data = SAMPLES["s_conditions"]
    conditions = schema_conditions(definition["schema"])
    cat = {"properties": {"animal": {"const": "cat"}}, "required": ["animal"]}
    assert conditions["food"] == (cat, cat)
    assert conditions["water"] == ({"not": cat}, {"not": cat})
    assert conditions["billing_city"] == (None, {"required": ["credit_card"]})
    entry = form_spec(RecordTypeSpec(definition), None).entry("food")
    assert entry.when == cat and entry.required_when == cat


def test_a_read_only_field_is_shown_but_not_written(runtime: Any, admin_api: Any, admin_client: Any) -> None:
    body = with_fields(
        title=field("Title", "标题", type="string"),
        score=field("Score", "得分", type="integer", readOnly=True),
        meta=field(
            "Meta", "元数据", type="object",
            properties={"source": {"type": "string", "readOnly": True}, "note": {"type": "string"}},
        ),
    )  # fmt: skip
    publish(runtime, body)
    refused = admin_api.post("/api/v1/records/thing/", json={"data": {"title": "a", "score": 5}})
    assert refused.status_code == 403
    assert refused.get_json()["errors"] == [{"path": "/data/score", "message": "is read-only"}]
    with runtime.session() as session:  # the system (an automation, an import by the installation) writes it
        record = Records(session, runtime.catalog(), Actor.system()).create(
            "thing", {"title": "a", "score": 5, "meta": {"source": "crm", "note": "n"}}
        )
        session.commit()
        record_id = record.id
    form = admin_client.get(f"/records/thing/edit/{record_id}").get_data(as_text=True)
    assert 'name="score"' not in form and ">5<" in form  # shown, with no input
    assert 'value="crm"' not in form or 'type="hidden" name="meta.source"' in form
    assert resave(admin_client, "thing", record_id).status_code == 302  # saved unchanged from its form
    current = admin_api.get(f"/api/v1/records/thing/{record_id}").get_json()
    assert current["data"]["meta"] == {"source": "crm", "note": "n"} and current["data"]["score"] == 5
    same = admin_api.put(
        f"/api/v1/records/thing/{record_id}",
        json={"data": {**current["data"], "title": "b"}, "version": current["version"]},
    )
    assert same.status_code == 200, same.get_json()  # sent back unchanged: fine
    nested = admin_api.put(
        f"/api/v1/records/thing/{record_id}",
        json={"data": {"meta": {"source": "me", "note": "n"}}, "version": same.get_json()["version"]},
    )
    assert nested.status_code == 403
    assert nested.get_json()["errors"] == [{"path": "/data/meta/source", "message": "is read-only"}]


FORMATS = {
    "date": ("2026-03-14", "2026-02-30"),
    "date-time": ("2026-03-14T09:30:00+08:00", "2026-03-14 9:30"),
    "time": ("09:30:00Z", "9.30"),
    "email": ("li@corp.example", "li-at-corp"),
    "uri": ("https://corp.example/a?b=1", "corp.example"),
    "uuid": ("123e4567-e89b-12d3-a456-426614174000", "123e4567"),
    "ipv4": ("10.1.2.3", "10.1.2.300"),
}


def test_every_format_is_checked(runtime: Any, admin_api: Any) -> None:
    names = {f: f.replace("-", "_") for f in FORMATS}
    publish(
        runtime,
        with_fields(**{names[f]: field(f, f, type="string", format=f) for f in FORMATS}),
    )
    good = admin_api.post(
        "/api/v1/records/thing/", json={"data": {names[f]: v[0] for f, v in FORMATS.items()}}
    )
    assert good.status_code == 201, good.get_json()
    bad = admin_api.post(
        "/api/v1/records/thing/", json={"data": {names[f]: v[1] for f, v in FORMATS.items()}}
    )
    assert sorted(e["path"] for e in bad.get_json()["errors"]) == sorted(f"/data/{n}" for n in names.values())
    for error in bad.get_json()["errors"]:
        assert "must be" in error["message"] and "format" not in error["message"]


def test_a_money_amount_is_a_multiple_of_a_cent(runtime: Any, admin_api: Any) -> None:
    publish(runtime, with_fields(amount=field("Amount", "金额", type="number", multipleOf=0.01)))
    assert admin_api.post("/api/v1/records/thing/", json={"data": {"amount": 1234.56}}).status_code == 201
    refused = admin_api.post("/api/v1/records/thing/", json={"data": {"amount": 1234.567}})
    assert refused.get_json()["errors"] == [
        {"path": "/data/amount", "message": "must be a multiple of 0.01; got 1234.567"}
    ]


def test_dependent_required_names_the_field_by_its_title(runtime: Any, admin_api: Any) -> None:
    definition, _data = SAMPLES["s_conditions"]
    publish(runtime, definition)
    refused = admin_api.post(
        "/api/v1/records/s_conditions/",
        json={"data": {"animal": "fish", "water": "sea", "credit_card": "4111"}},
    )
    assert refused.get_json()["errors"] == [
        {"path": "/data/billing_city", "message": "is required when Credit card has a value"}
    ]
    cat = admin_api.post("/api/v1/records/s_conditions/", json={"data": {"animal": "cat"}})
    assert cat.get_json()["errors"] == [{"path": "/data/food", "message": "is required"}]


@pytest.mark.parametrize("choices", ["enum", "oneOf"])
def test_choices_are_a_dropdown_or_radio_buttons_as_the_form_says(
    runtime: Any, admin_client: Any, choices: str
) -> None:
    options = ["low", "high"]
    schema = (
        {"type": "string", "enum": options}
        if choices == "enum"
        else {"type": "string", "oneOf": [{"const": o, "title": o.title(), "x-title-zh": o} for o in options]}
    )
    body = with_fields(level=field("Level", "级别", **schema), done=field("Done", "完成", type="boolean"))
    form = {
        "kind": "form", "name": "thing_form", "title": {"en": "Thing", "zh": "东西"}, "record_type": "thing",
        "sections": [{"title": {"en": "A", "zh": "甲"}, "fields": ["level", {"field": "done", "widget": "yesno"}]}],
    }  # fmt: skip
    publish(runtime, body)
    html = admin_client.get("/records/thing/add/").get_data(as_text=True)
    assert '<select class="form-control" id="field-level"' in html
    publish(runtime, copy.deepcopy(body), {**form, "radio_up_to": 4})
    html = admin_client.get("/records/thing/add/").get_data(as_text=True)
    assert html.count('type="radio" name="level"') == 2
    assert '<option value="yes"' in html and '<option value="no"' in html  # yes/no: both, always
