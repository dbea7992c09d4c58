"""The publish preview for every kind of change, with records present, on SQLite and PostgreSQL:
through the registry, the API, the admin page and `itpm defs publish --dry-run` (issue 12, item 2).

Each preview says how many existing records the change affects and names examples; none of them
reads a column that the publish would only create, and none answers 500.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from itpm.access import Actor
from itpm.cli import main
from itpm.records.publishing import publish_preview
from itpm.records.service import Records
from tests.conftest import csrf_token

ADMIN = Actor(1, "admin", frozenset({"admin"}))
Change = Callable[[dict[str, Any]], None]


def live(runtime: Any) -> dict[str, Any]:
    with runtime.session() as session:
        registry = runtime.registry(session)
        return copy.deepcopy(registry.published_body(registry.get("record_type", "incident")))


def text_field(title: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "title": title, "x-title-zh": title, **extra}


def publish(runtime: Any, body: dict[str, Any]) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.save_draft(body, "admin")
        registry.publish([("record_type", "incident")], "admin", "setup")


def create(runtime: Any, **data: Any) -> str:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN)
        record = records.create(
            "incident", {"title": "VPN down", "priority": "P3", "category": "network", **data}
        )
        session.commit()
        return record.number


@pytest.fixture
def incidents(runtime: Any) -> dict[str, str]:
    """Incidents with two fields no form names (`extra`, `count`), and three records."""
    body = live(runtime)
    body["schema"]["properties"]["extra"] = text_field("Extra")
    body["schema"]["properties"]["count"] = {"type": "integer", "title": "Count", "x-title-zh": "数量"}
    publish(runtime, body)
    return {
        "short": create(runtime, affected_service="VPN", extra="alpha", count=3, impact="low"),
        "long": create(runtime, affected_service="the corporate VPN gateway", count=42, impact="high"),
        "bare": create(runtime),
    }


def _add_required(p: dict[str, Any], body: dict[str, Any]) -> None:
    p["vendor"] = text_field("Vendor")
    body["schema"]["required"].append("vendor")


def _rename(p: dict[str, Any], body: dict[str, Any]) -> None:
    p["label"] = {**p.pop("extra"), "x-renamed-from": "extra", "maxLength": 3}


def _narrow_enum(p: dict[str, Any], body: dict[str, Any]) -> None:
    p["impact"]["enum"] = ["high", "medium"]
    p["impact"]["x-enum-titles"].pop("low")


#: change, the step the preview names, how many records it affects, which, and the path it names.
CHANGES: dict[str, tuple[Callable[[dict, dict], None], str, int, set[str], str]] = {
    "added optional": (lambda p, b: p.update(vendor=text_field("Vendor")), "add the field vendor", 0, set(), ""),
    "added required": (_add_required, "add the field vendor", 3, {"short", "long", "bare"}, "/data/vendor"),
    "removed": (lambda p, b: p.pop("extra"), "stop showing the field extra", 0, set(), ""),
    "renamed": (_rename, "rename the field extra to label", 1, {"short"}, "/data/label"),
    "retyped": (
        lambda p, b: p.update(count=text_field("Count", maxLength=1)),
        "convert the field count from integer to text",
        1,
        {"long"},
        "/data/count",
    ),
    "required": (
        lambda p, b: b["schema"]["required"].append("affected_service"),
        "",
        1,
        {"bare"},
        "/data/affected_service",
    ),
    "maxLength": (
        lambda p, b: p["affected_service"].update(maxLength=10),
        "",
        1,
        {"long"},
        "/data/affected_service",
    ),
    "enum narrowed": (_narrow_enum, "", 1, {"short"}, "/data/impact"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CHANGES))
def test_the_preview_counts_and_shows_the_records_a_change_affects(
    name: str,
    incidents: dict[str, str],
    runtime: Any,
    admin_api: Any,
    admin_client: Any,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    edit, step, count, which, path = CHANGES[name]
    body = live(runtime)
    edit(body["schema"]["properties"], body)
    assert admin_api.put("/api/v1/definitions/record_type/incident", json=body).status_code == 200
    numbers = sorted(incidents[k] for k in which)

    with runtime.session() as session:
        _before, _after, problems, [plan] = publish_preview(
            runtime.registry(session), [("record_type", "incident")]
        )
    assert problems == [] and plan.problems == []
    if step:
        assert any(str(s).startswith(step) for s in plan.steps), plan.steps
    assert plan.violations.count == count
    assert sorted(s["number"] for s in plan.violations.sample) == numbers
    assert {p["path"] for s in plan.violations.sample for p in s["problems"]} == ({path} if path else set())

    response = admin_api.get("/api/v1/definitions/record_type/incident/preview")
    assert response.status_code == 200
    [api_plan] = response.get_json()["record_types"]
    assert api_plan["violations"]["count"] == count
    assert sorted(s["number"] for s in api_plan["violations"]["sample"]) == numbers

    pk = re.findall(
        r"/definitions/show/(\d+)",
        admin_client.get("/definitions/list/?_flt_0_kind=record_type&_flt_0_name=incident").get_data(
            as_text=True
        ),
    )[0]
    page = admin_client.get(f"/definitions/publish/{pk}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    if count:
        assert f"{count} existing records would break the new rules." in html
        for number in numbers:
            assert f">{number}</a>" in html
    else:
        assert "Every existing record meets the new rules." in html
    if step:
        assert f"<li>{step}" in html

    monkeypatch.setenv("ITPM_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["defs", "publish", "record_type", "incident", "--dry-run"])
    assert result.exit_code == 0, result.output
    if step:
        assert f"  - {step}" in result.output
    if count:
        assert f"{count} existing records would be flagged, e.g.:" in result.output
        assert sorted(re.findall(r"^    (INC-[\d-]+): ", result.output, re.M)) == numbers
    else:
        assert "would be flagged" not in result.output

    # Nothing was written: the preview leaves the table and the live definition as they were.
    assert admin_api.get("/api/v1/definitions/record_type/incident").get_json()["state"] == "changed"
    token = csrf_token(admin_client, f"/definitions/publish/{pk}")
    published = admin_client.post(f"/definitions/publish/{pk}", data={"comment": name, "csrf_token": token})
    assert published.status_code == 302
    flagged = {
        r["number"]
        for r in admin_api.get("/api/v1/records/incident/?q=(page_size:100)").get_json()["result"]
        if r["flags"]
    }
    assert flagged == set(numbers)


def test_a_refused_type_change_is_previewed_as_a_problem_not_an_error(
    incidents: dict[str, str],
    runtime: Any,
    admin_api: Any,
    admin_client: Any,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = live(runtime)
    body["schema"]["properties"]["extra"] = {"type": "boolean", "title": "Extra", "x-title-zh": "附加"}
    assert admin_api.put("/api/v1/definitions/record_type/incident", json=body).status_code == 200
    message = "the field extra cannot change from text to boolean"

    [plan] = admin_api.get("/api/v1/definitions/record_type/incident/preview").get_json()["record_types"]
    assert message in plan["problems"][0]["message"]

    pk = re.findall(
        r"/definitions/show/(\d+)",
        admin_client.get("/definitions/list/?_flt_0_kind=record_type&_flt_0_name=incident").get_data(
            as_text=True
        ),
    )[0]
    page = admin_client.get(f"/definitions/publish/{pk}")
    assert page.status_code == 200 and message in page.get_data(as_text=True)

    monkeypatch.setenv("ITPM_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["defs", "publish", "record_type", "incident", "--dry-run"])
    assert result.exit_code == 1
    assert f"! schemas/incident.json: /schema/properties/extra/type: {message}" in result.output
