"""Bad definitions are refused with every error named by file and JSON path, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from itpm.cli import main
from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import read_documents
from itpm.definitions.meta import MetaSchemas
from itpm.definitions.problems import DefinitionError
from itpm.models import Definition

META = MetaSchemas()


def t(en: str = "Thing", zh: str = "东西") -> dict[str, str]:
    return {"en": en, "zh": zh}


def record_type(name: str = "ticket", **changes: Any) -> dict[str, Any]:
    body = {
        "kind": "record_type",
        "name": name,
        "title": t("Ticket", "工单"),
        "schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "title": "Title", "x-title-zh": "标题"},
                "priority": {
                    "type": "string",
                    "title": "Priority",
                    "x-title-zh": "优先级",
                    "enum": ["high", "low"],
                },
            },
        },
    }
    body.update(changes)
    return body


def role(name: str = "agent", **changes: Any) -> dict[str, Any]:
    body = {"kind": "role", "name": name, "title": t("Agent", "坐席")}
    body.update(changes)
    return body


def workflow(**changes: Any) -> dict[str, Any]:
    body = {
        "kind": "workflow",
        "name": "ticket_flow",
        "title": t("Ticket flow", "工单流程"),
        "record_type": "ticket",
        "initial": "open",
        "states": [
            {"name": "open", "title": t("Open", "打开"), "category": "open"},
            {"name": "done", "title": t("Done", "完成"), "category": "done"},
        ],
        "transitions": [
            {
                "name": "finish",
                "title": t("Finish", "完成"),
                "from": ["open"],
                "to": "done",
                "roles": ["agent"],
            }
        ],
    }
    body.update(changes)
    return body


def form(**changes: Any) -> dict[str, Any]:
    body = {
        "kind": "form",
        "name": "ticket_form",
        "title": t("Ticket form", "工单表单"),
        "record_type": "ticket",
        "sections": [{"title": t("Main", "基本"), "fields": ["title", "priority"]}],
    }
    body.update(changes)
    return body


def write(folder: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")


GOOD = {
    "ticket.json": record_type(),
    "roles/agent.json": role(),
    "flow.json": workflow(),
    "form.json": form(),
}


def without(body: dict[str, Any], *path: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def with_value(body: dict[str, Any], value: Any, *path: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


RT = record_type()


def kpi(**changes: Any) -> dict[str, Any]:
    body = {
        "kind": "kpi",
        "name": "high_share",
        "title": t("High share", "高优先级占比"),
        "record_type": "ticket",
        "measure": "share",
        "cohort": "created_at",
        "numerator": "priority == 'high'",
    }
    body.update(changes)
    return body


def dashboard(**changes: Any) -> dict[str, Any]:
    body = {
        "kind": "dashboard",
        "name": "desk",
        "title": t("Desk", "服务台"),
        "tiles": [{"kpi": "high_share", "show": "number"}],
    }
    body.update(changes)
    return body


CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    # id, files replacing GOOD's, file with the error, JSON path, words of the message
    (
        "a tree's parent field refers to another type",
        {
            "ticket.json": record_type(
                parent="owner_ref",
                schema={
                    "type": "object",
                    "properties": {
                        "owner_ref": {
                            "type": "integer",
                            "x-ref": "customer",
                            "title": "Parent",
                            "x-title-zh": "上级",
                        }
                    },
                },
            )
        },
        "ticket.json",
        "/parent",
        "refers to a record of this same type (an integer with x-ref ticket)",
    ),
    (
        "invalid json",
        {"ticket.json": '{"kind": "record_type",\n  "name": }'},
        "ticket.json",
        "/",
        "line 2, column 11",
    ),
    (
        "trailing comma",
        {"ticket.json": '{"kind": "role", "name": "x",}'},
        "ticket.json",
        "/",
        "invalid JSON at line 1",
    ),
    (
        "duplicate key",
        {"ticket.json": '{"kind": "role", "kind": "form"}'},
        "ticket.json",
        "/",
        "'kind' appears twice",
    ),
    ("not an object", {"ticket.json": "[1, 2]"}, "ticket.json", "/", "not an array"),
    ("a bare string", {"ticket.json": '"record_type"'}, "ticket.json", "/", "not a string"),
    ("NaN", {"ticket.json": '{"kind": "role", "x": NaN}'}, "ticket.json", "/", "NaN is not valid JSON"),
    (
        "not utf-8",
        {"ticket.json": b'{"kind": "role", "name": "caf\xe9"}'},
        "ticket.json",
        "/",
        "not UTF-8 text: byte 0xe9",
    ),
    (
        "10 MB file",
        {"big.json": "{" + " " * (10 * 1024 * 1024) + "}"},
        "big.json",
        "/",
        "10.0 MB; a definition may be at most 1 MB",
    ),
    ("missing kind", {"ticket.json": without(RT, "kind")}, "ticket.json", "/kind", "is required"),
    (
        "unknown kind",
        {"ticket.json": with_value(RT, "dashbored", "kind")},
        "ticket.json",
        "/kind",
        "'dashbored' is not a kind of definition",
    ),
    (
        "bad name",
        {"ticket.json": with_value(RT, "Ticket Type", "name")},
        "ticket.json",
        "/name",
        "is not valid",
    ),
    ("name too short", {"ticket.json": with_value(RT, "t", "name")}, "ticket.json", "/name", "is not valid"),
    ("missing name", {"ticket.json": without(RT, "name")}, "ticket.json", "/name", "is required"),
    (
        "missing zh title",
        {"ticket.json": with_value(RT, {"en": "Ticket"}, "title")},
        "ticket.json",
        "/title/zh",
        "is required",
    ),
    (
        "empty en title",
        {"ticket.json": with_value(RT, {"en": "", "zh": "工单"}, "title")},
        "ticket.json",
        "/title/en",
        "must not be empty",
    ),
    (
        "unknown top-level key",
        {"ticket.json": with_value(RT, 1, "colour")},
        "ticket.json",
        "/colour",
        "is not a known property",
    ),
    (
        "bad field type",
        {"ticket.json": with_value(RT, "strin", "schema", "properties", "title", "type")},
        "ticket.json",
        "/schema/properties/title/type",
        '"strin"',
    ),
    (
        "invalid JSON Schema keyword value",
        {"ticket.json": with_value(RT, -1, "schema", "properties", "title", "minLength")},
        "ticket.json",
        "/schema/properties/title/minLength",
        "-1",
    ),
    (
        "required is not a list",
        {"ticket.json": with_value(RT, "title", "schema", "required")},
        "ticket.json",
        "/schema/required",
        "must be of type array",
    ),
    (
        "required names no field",
        {"ticket.json": with_value(RT, ["subject"], "schema", "required")},
        "ticket.json",
        "/schema/required/0",
        "names no field: 'subject'",
    ),
    (
        "field without zh title",
        {"ticket.json": without(RT, "schema", "properties", "title", "x-title-zh")},
        "ticket.json",
        "/schema/properties/title/x-title-zh",
        "is required",
    ),
    (
        "x-ref to a missing type",
        {
            "ticket.json": with_value(
                RT,
                {"type": "integer", "title": "Project", "x-title-zh": "项目", "x-ref": "projekt"},
                "schema",
                "properties",
                "project",
            )
        },
        "ticket.json",
        "/schema/properties/project/x-ref",
        "names no record type: 'projekt'",
    ),
    (
        "x-ref on a text field",
        {
            "ticket.json": with_value(
                RT,
                {"type": "string", "title": "Owner", "x-title-zh": "负责人", "x-ref": "user"},
                "schema",
                "properties",
                "owner",
            )
        },
        "ticket.json",
        "/schema/properties/owner/x-ref",
        "must be of type integer",
    ),
    (
        "enum label missing",
        {
            "ticket.json": with_value(
                RT, {"high": t("High", "高")}, "schema", "properties", "priority", "x-enum-titles"
            )
        },
        "ticket.json",
        "/schema/properties/priority/x-enum-titles",
        "no label for the choice 'low'",
    ),
    (
        "column names no field",
        {"ticket.json": with_value(RT, ["number", "subject"], "columns")},
        "ticket.json",
        "/columns/1",
        "names no field: 'subject'",
    ),
    (
        "search on a number",
        {
            "ticket.json": with_value(
                with_value(
                    RT,
                    {"type": "integer", "title": "Count", "x-title-zh": "数量"},
                    "schema",
                    "properties",
                    "count",
                ),
                ["count"],
                "search",
            )
        },
        "ticket.json",
        "/search/0",
        "not a text field",
    ),
    (
        "numbering without seq",
        {"ticket.json": with_value(RT, "TCK-{YYYY}", "numbering")},
        "ticket.json",
        "/numbering",
        "{seq",
    ),
    (
        "numbering with an unknown part",
        {"ticket.json": with_value(RT, "TCK-{YEAR}-{seq:05}", "numbering")},
        "ticket.json",
        "/numbering",
        "{YEAR} is not a numbering part",
    ),
    ("same name in two files", {"copy.json": record_type()}, "copy.json", "/name", "also defined in"),
    (
        "workflow names a missing state",
        {"flow.json": with_value(workflow(), "closed", "transitions", 0, "to")},
        "flow.json",
        "/transitions/0/to",
        "names no state: 'closed'",
    ),
    (
        "workflow from a missing state",
        {"flow.json": with_value(workflow(), ["opened"], "transitions", 0, "from")},
        "flow.json",
        "/transitions/0/from/0",
        "names no state: 'opened'",
    ),
    (
        "workflow names a missing role",
        {"flow.json": with_value(workflow(), ["agent", "boss"], "transitions", 0, "roles")},
        "flow.json",
        "/transitions/0/roles/1",
        "names no role: 'boss'",
    ),
    (
        "workflow initial state missing",
        {"flow.json": with_value(workflow(), "new", "initial")},
        "flow.json",
        "/initial",
        "names no state: 'new'",
    ),
    (
        "workflow state category unknown",
        {"flow.json": with_value(workflow(), "finished", "states", 1, "category")},
        "flow.json",
        "/states/1/category",
        "must be one of",
    ),
    (
        "workflow for a missing record type",
        {"flow.json": with_value(workflow(), "tiket", "record_type")},
        "flow.json",
        "/record_type",
        "names no record type: 'tiket'",
    ),
    (
        "form names a missing field",
        {"form.json": with_value(form(), ["title", "subject"], "sections", 0, "fields")},
        "form.json",
        "/sections/0/fields/1",
        "names no field of 'ticket': 'subject'",
    ),
    (
        "form widget does not fit",
        {
            "form.json": with_value(
                form(), ["title", {"field": "priority", "widget": "checkbox"}], "sections", 0, "fields"
            )
        },
        "form.json",
        "/sections/0/fields/1/widget",
        "a checkbox cannot edit a field of type string",
    ),
    (
        "form condition on a missing field",
        {
            "form.json": with_value(
                form(),
                ["title", {"field": "priority", "when": {"properties": {"severity": {"const": "x"}}}}],
                "sections",
                0,
                "fields",
            )
        },
        "form.json",
        "/sections/0/fields/1/when/properties/severity",
        "names no field",
    ),
    (
        "role grants on a missing type",
        {"roles/agent.json": role(records={"tiket": {"read": "all"}})},
        "roles/agent.json",
        "/records/tiket",
        "names no record type",
    ),
    (
        "role row scope unknown",
        {"roles/agent.json": role(records={"ticket": {"read": "everyone"}})},
        "roles/agent.json",
        "/records/ticket/read",
        "must be one of",
    ),
    (
        "role field rule unknown",
        {"roles/agent.json": role(records={"ticket": {"read": "all", "fields": {"title": "secret"}}})},
        "roles/agent.json",
        "/records/ticket/fields/title",
        "must be one of",
    ),
    (
        "kpi on a missing type",
        {"kpi.json": kpi(record_type="tiket")},
        "kpi.json",
        "/record_type",
        "names no record type",
    ),
    (
        "kpi share without numerator",
        {"kpi.json": without(kpi(), "numerator")},
        "kpi.json",
        "/numerator",
        "is required",
    ),
    ("kpi unknown measure", {"kpi.json": kpi(measure="mean")}, "kpi.json", "/measure", "must be one of"),
    ("kpi cohort not a date", {"kpi.json": kpi(cohort="title")}, "kpi.json", "/cohort", "is not a date"),
    (
        "kpi numerator names no field",
        {"kpi.json": kpi(numerator="priorty == 'high'")},
        "kpi.json",
        "/numerator",
        "names no field",
    ),
    (
        "kpi condition the database cannot run",
        {"kpi.json": kpi(where="created_at < updated_at + days(1)")},
        "kpi.json",
        "/where",
        "dates move by days only",
    ),
    (
        "kpi average of a text field",
        {"kpi.json": without(kpi(measure="average", value="title"), "numerator")},
        "kpi.json",
        "/value",
        "is not a number",
    ),
    (
        "kpi duration on a missing calendar",
        {
            "kpi.json": without(
                kpi(measure="median", value={"from": "created_at", "to": "updated_at", "calendar": "office"}),
                "numerator",
            )
        },
        "kpi.json",
        "/value/calendar",
        "names an sla definition",
    ),
    (
        "kpi sla time without an sla",
        {"kpi.json": without(kpi(measure="average", value={"sla": "first_response"}), "numerator")},
        "kpi.json",
        "/value/sla",
        "no SLA policy",
    ),
    (
        "kpi breakdown unknown",
        {"kpi.json": kpi(breakdowns=["region"])},
        "kpi.json",
        "/breakdowns/0",
        "must be one of",
    ),
    (
        "kpi breakdown by a missing project",
        {"kpi.json": kpi(breakdowns=["project"])},
        "kpi.json",
        "/breakdowns/0",
        "no project reference",
    ),
    (
        "kpi pilot goal without its department",
        {
            "kpi.json": kpi(
                goals=[
                    {
                        "department": "d1",
                        "baseline": "2026-01..2026-03",
                        "target": 50,
                        "deadline": "2026-12-31",
                        "title": t(),
                    }
                ]
            )
        },
        "kpi.json",
        "/goals",
        "add department to breakdowns",
    ),
    (
        "kpi reader role missing",
        {"kpi.json": kpi(readers=["boss"])},
        "kpi.json",
        "/readers/0",
        "names no role",
    ),
    (
        "dashboard tile on a missing kpi",
        {"kpi.json": kpi(), "desk.json": dashboard(tiles=[{"kpi": "low_share", "show": "number"}])},
        "desk.json",
        "/tiles/0/kpi",
        "names no KPI",
    ),
    (
        "dashboard bars by a breakdown the kpi lacks",
        {
            "kpi.json": kpi(),
            "desk.json": dashboard(tiles=[{"kpi": "high_share", "show": "bars", "breakdown": "team"}]),
        },
        "desk.json",
        "/tiles/0/breakdown",
        "breaks down by",
    ),
    (
        "dashboard home of a missing role",
        {"kpi.json": kpi(), "desk.json": dashboard(home_for=["boss"])},
        "desk.json",
        "/home_for/0",
        "names no role",
    ),
]


@pytest.mark.parametrize(
    ("files", "file", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_definition_is_refused_naming_file_and_path(
    tmp_path: Path, files: dict[str, Any], file: str, path: str, words: str
) -> None:
    write(tmp_path, {**GOOD, **files})
    documents, problems = read_documents([tmp_path])
    problems += check_configuration(documents, META)
    named = [p for p in problems if p.file == str(tmp_path / file) and p.path == path]
    assert named, f"no problem at {file}: {path}; got {[str(p) for p in problems]}"
    assert any(words in p.message for p in named), [str(p) for p in named]


def test_there_are_at_least_25_bad_input_cases() -> None:
    assert len(CASES) >= 25


def test_good_configuration_has_no_problems(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    documents, problems = read_documents([tmp_path])
    assert problems + check_configuration(documents, META) == []


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    bad = with_value(with_value(RT, {"en": "x"}, "title"), "X Y", "name")
    write(
        tmp_path,
        {
            "ticket.json": bad,
            "broken.json": "{",
            "flow.json": with_value(workflow(), "nowhere", "transitions", 0, "to"),
        },
    )
    documents, problems = read_documents([tmp_path])
    problems += check_configuration(documents, META)
    where = {(Path(p.file).name, p.path) for p in problems}
    assert {("ticket.json", "/title/zh"), ("ticket.json", "/name"), ("broken.json", "/")} <= where


def test_cli_validate_prints_file_path_and_message_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path, {**GOOD, "flow.json": with_value(workflow(), "closed", "transitions", 0, "to")})
    result = CliRunner().invoke(main, ["defs", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'flow.json'}: /transitions/0/to: names no state: 'closed'" in result.output


def test_cli_validate_reports_a_missing_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["defs", "validate", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


def test_a_folder_with_one_bad_file_imports_nothing(runtime: Any, tmp_path: Path) -> None:
    write(tmp_path, {**GOOD, "zz_bad.json": with_value(role("other"), {"en": "Other"}, "title")})
    documents, problems = read_documents([tmp_path])
    with runtime.session() as session:
        before = session.scalar(select(func.count(Definition.id)))
        registry = runtime.registry(session)
        with pytest.raises(DefinitionError) as refused:
            registry.import_documents(documents, "test", publish=True, read_problems=problems)
        assert [p.path for p in refused.value.problems] == ["/title/zh"]
        session.rollback()
        assert session.scalar(select(func.count(Definition.id))) == before
        assert registry.current_revision() == 1


def test_a_folder_with_an_unreadable_file_imports_nothing(runtime: Any, tmp_path: Path) -> None:
    write(tmp_path, {**GOOD, "zz_bad.json": b"\xff\xfe{}"})
    documents, problems = read_documents([tmp_path])
    with runtime.session() as session:
        registry = runtime.registry(session)
        before = [(d.kind, d.name, d.published_version, d.draft) for d in registry.list()]
        with pytest.raises(DefinitionError):
            registry.import_documents(documents, "test", read_problems=problems)
        session.rollback()
        assert [(d.kind, d.name, d.published_version, d.draft) for d in registry.list()] == before
