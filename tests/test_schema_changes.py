"""Publishing changed record types with records present, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from itpm.access import Actor
from itpm.definitions.problems import DefinitionError
from itpm.records.schema_changes import preview
from itpm.records.service import Records

ADMIN = Actor(1, "admin", frozenset({"admin"}))


def live(runtime: Any, name: str = "incident", kind: str = "record_type") -> dict[str, Any]:
    with runtime.session() as session:
        registry = runtime.registry(session)
        return copy.deepcopy(registry.published_body(registry.get(kind, name)))


def form_without(runtime: Any, field: str, instead: str | None = None) -> dict[str, Any]:
    """The incident form with `field` taken off (or renamed to `instead`)."""
    form = live(runtime, "incident_form", "form")
    for section in form["sections"]:
        entries = []
        for entry in section["fields"]:
            name = entry if isinstance(entry, str) else entry["field"]
            if name != field:
                entries.append(entry)
            elif instead:
                entries.append(instead)
        section["fields"] = entries
    return form


def alerts_without(runtime: Any, field: str, instead: str | None = None) -> dict[str, Any]:
    """The starter Alertmanager integration with its mapping of `field` taken off (or renamed)."""
    integration = live(runtime, "alertmanager", "integration")
    mapping = integration["fields"].pop(field, None)
    if instead and mapping is not None:
        integration["fields"][instead] = mapping
    return integration


def publish(runtime: Any, body: dict[str, Any], extra: list[dict[str, Any]] = ()) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        for document in [body, *extra]:
            registry.save_draft(document, "admin")
        registry.publish([(d["kind"], d["name"]) for d in [body, *extra]], "admin", "change")


def create(runtime: Any, type_name: str = "incident", **data: Any) -> int:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN)
        values = (
            {"title": "VPN down", "priority": "P3", "category": "network"} if type_name == "incident" else {}
        )
        record = records.create(type_name, {**values, **data})
        session.commit()
        return record.id


def read(runtime: Any, record_id: int, type_name: str = "incident") -> dict[str, Any]:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN)
        return records.as_json(records.get(type_name, record_id))


def change(body: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    edit(body["schema"]["properties"])
    return body


def text_field(title: str = "Vendor", **extra: Any) -> dict[str, Any]:
    return {"type": "string", "title": title, "x-title-zh": "附加", **extra}


def test_adding_a_field_keeps_existing_records(runtime: Any) -> None:
    old = create(runtime)
    publish(runtime, change(live(runtime), lambda p: p.update(vendor=text_field())))
    assert read(runtime, old)["data"]["vendor"] is None
    new = create(runtime, vendor="Cisco")
    assert read(runtime, new)["data"]["vendor"] == "Cisco"


def test_a_removed_field_keeps_its_data_until_it_comes_back(runtime: Any) -> None:
    record = create(runtime, affected_service="VPN gateway")
    body = live(runtime)
    form = live(runtime, "incident_form", "form")
    without = change(copy.deepcopy(body), lambda p: p.pop("affected_service")) | {
        "search": ["title", "description"]
    }
    publish(
        runtime,
        without,
        [form_without(runtime, "affected_service"), alerts_without(runtime, "affected_service")],
    )
    assert "affected_service" not in read(runtime, record)["data"]
    publish(runtime, body, [form])
    assert read(runtime, record)["data"]["affected_service"] == "VPN gateway"


def test_a_renamed_field_carries_its_data_over(runtime: Any) -> None:
    record = create(runtime, affected_service="VPN gateway")

    def rename(properties: dict[str, Any]) -> None:
        properties["service"] = {**properties.pop("affected_service"), "x-renamed-from": "affected_service"}

    body = change(live(runtime), rename)
    body["search"] = ["title", "description", "service"]
    publish(
        runtime,
        body,
        [
            form_without(runtime, "affected_service", "service"),
            alerts_without(runtime, "affected_service", "service"),
        ],
    )
    data = read(runtime, record)["data"]
    assert data["service"] == "VPN gateway" and "affected_service" not in data


@pytest.mark.parametrize(
    ("before", "value", "after", "expected"),
    [
        (text_field(), "network", text_field(enum=["network", "server"]), "network"),
        (text_field(enum=["a", "b"]), "a", text_field(), "a"),
        (
            {"type": "integer", "title": "Count", "x-title-zh": "数"},
            3,
            {"type": "number", "title": "Count", "x-title-zh": "数"},
            3,
        ),
        ({"type": "number", "title": "Cost", "x-title-zh": "成本"}, 12.5, text_field("Cost"), "12.5"),
        ({"type": "integer", "title": "Count", "x-title-zh": "数"}, 42, text_field("Count"), "42"),
        (text_field(format="date"), "2026-03-01", text_field(format="date-time"), "2026-03-01T00:00:00Z"),
        (
            text_field(enum=["a", "b"]),
            "b",
            {
                "type": "array",
                "items": {"type": "string", "enum": ["a", "b"]},
                "title": "T",
                "x-title-zh": "T",
            },
            ["b"],
        ),
    ],
    ids=[
        "string to enum",
        "enum to string",
        "integer to number",
        "number to string",
        "integer to string",
        "date to datetime",
        "enum to list",
    ],
)
def test_a_type_change_among_the_conversions_keeps_the_data(
    runtime: Any, before: dict, value: Any, after: dict, expected: Any
) -> None:
    publish(runtime, change(live(runtime), lambda p: p.update(extra=before)))
    record = create(runtime, extra=value)
    publish(runtime, change(live(runtime), lambda p: p.update(extra=after)))
    assert read(runtime, record)["data"]["extra"] == expected


def test_another_type_change_is_refused_naming_the_field(runtime: Any) -> None:
    record = create(runtime, affected_service="VPN")
    body = change(
        live(runtime),
        lambda p: p.update(affected_service={"type": "boolean", "title": "Down", "x-title-zh": "中断"}),
    )
    body["search"] = ["title", "description"]
    with pytest.raises(DefinitionError) as refused:
        publish(runtime, body)
    [problem] = refused.value.problems
    assert problem.path == "/schema/properties/affected_service/type"
    assert "affected_service cannot change from text to boolean" in str(problem.message)
    assert read(runtime, record)["data"]["affected_service"] == "VPN"


def test_a_stricter_rule_is_previewed_then_flags_the_records_that_break_it(runtime: Any) -> None:
    short = create(runtime, affected_service="VPN")
    long = create(runtime, affected_service="the corporate VPN gateway in Shanghai")
    missing = create(runtime)
    body = live(runtime)
    body["schema"]["required"] = [*body["schema"]["required"], "affected_service"]
    body["schema"]["properties"]["affected_service"]["maxLength"] = 10
    with runtime.session() as session:
        registry = runtime.registry(session)
        before = registry.live()
        from itpm.definitions.checks import Configuration
        from itpm.definitions.documents import Document

        after = [d for d in before if d.key != ("record_type", "incident")] + [
            Document("schemas/incident.json", body)
        ]
        [plan] = preview(session, Configuration(before), Configuration(after))
        session.rollback()
    assert plan.violations.count == 2
    assert {s["id"] for s in plan.violations.sample} == {long, missing}
    assert {p["path"] for s in plan.violations.sample for p in s["problems"]} == {"/data/affected_service"}

    publish(runtime, body)
    assert read(runtime, short)["flags"] == []
    assert read(runtime, long)["flags"] == [
        {"path": "/data/affected_service", "message": "must be at most 10 characters long"}
    ]
    assert read(runtime, missing)["flags"] == [{"path": "/data/affected_service", "message": "is required"}]

    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN)
        records.update("incident", long, {"affected_service": "VPN GW"}, 1)
        session.commit()
    assert read(runtime, long)["flags"] == []


def test_a_shorter_enum_flags_records_with_a_removed_choice(runtime: Any) -> None:
    record = create(runtime, impact="low")
    body = change(
        live(runtime),
        lambda p: p["impact"].update(
            enum=["high", "medium"],
            **{"x-enum-titles": {k: v for k, v in p["impact"]["x-enum-titles"].items() if k != "low"}},
        ),
    )
    publish(runtime, body)
    assert read(runtime, record)["flags"][0]["path"] == "/data/impact"


def test_a_new_record_type_gets_its_table_and_references(runtime: Any) -> None:
    issue = {
        "kind": "record_type",
        "name": "issue",
        "title": {"en": "Issue", "zh": "问题"},
        "numbering": "ISS-{seq:04}",
        "schema": {
            "type": "object",
            "required": ["title"],
            "properties": {
                "title": {"type": "string", "title": "Title", "x-title-zh": "标题"},
                "project": {"type": "integer", "x-ref": "project", "title": "Project", "x-title-zh": "项目"},
                "severity": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 5,
                    "title": "Severity",
                    "x-title-zh": "严重程度",
                },
            },
        },
        "indexed": ["severity"],
    }
    publish(runtime, issue)
    record = create(runtime, "issue", title="Vendor late", severity=4)
    assert read(runtime, record, "issue")["number"] == "ISS-0001"


def test_kept_data_can_be_purged_for_good(runtime: Any) -> None:
    from itpm.records.publishing import purge_kept_data
    from itpm.records.schema_changes import kept_columns

    record = create(runtime, affected_service="VPN gateway")
    body = live(runtime)
    without = change(copy.deepcopy(body), lambda p: p.pop("affected_service")) | {
        "search": ["title", "description"]
    }
    publish(
        runtime,
        without,
        [form_without(runtime, "affected_service"), alerts_without(runtime, "affected_service")],
    )
    with runtime.session() as session:
        from itpm.records.fields import RecordTypeSpec

        assert kept_columns(session.connection(), RecordTypeSpec(without)) == ["affected_service"]
        with pytest.raises(DefinitionError):
            purge_kept_data(runtime.registry(session), "incident", ["title"], "admin")
        session.rollback()
        assert purge_kept_data(runtime.registry(session), "incident", ["affected_service"], "admin") == [
            "affected_service"
        ]
    publish(
        runtime, body, [live(runtime, "incident_form", "form") | {"sections": body_form_sections(runtime)}]
    )
    assert read(runtime, record)["data"]["affected_service"] is None


def body_form_sections(runtime: Any) -> list[dict[str, Any]]:
    form = live(runtime, "incident_form", "form")
    form["sections"][0]["fields"].append("affected_service")
    return form["sections"]


def test_the_preview_through_the_api(admin_api: Any, runtime: Any) -> None:
    create(runtime)
    body = live(runtime)
    body["schema"]["required"] = [*body["schema"]["required"], "affected_service"]
    assert admin_api.put("/api/v1/definitions/record_type/incident", json=body).status_code == 200
    preview = admin_api.get("/api/v1/definitions/record_type/incident/preview").get_json()
    assert preview["errors"] == []
    [plan] = preview["record_types"]
    assert plan["violations"]["count"] == 1
    assert plan["violations"]["sample"][0]["problems"] == [
        {"path": "/data/affected_service", "message": "is required"}
    ]
    assert admin_api.get("/api/v1/definitions/record_type/incident").get_json()["state"] == "changed"
