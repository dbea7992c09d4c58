"""Report definitions: their files travel with them (import, export), and validation names what is
wrong by file and line: Jinja syntax, unknown parameters, unknown data sources."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from itpm.cli import main
from itpm.config import ROOT
from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import read_documents
from itpm.definitions.meta import MetaSchemas

REPORT_FILES = sorted(
    p for p in (ROOT / "reports").rglob("*") if p.is_file() and p.parent != ROOT / "reports"
)


def problems_of(folder: Path) -> list[str]:
    """The problems of the starter pack with `folder` as its reports, as `itpm defs validate` prints them
    (with the workflows: the KPIs beside the reports read the SLA policies)."""
    documents, problems = read_documents([ROOT / "schemas", ROOT / "forms", ROOT / "workflows", folder])
    return [str(p) for p in [*problems, *check_configuration(documents, MetaSchemas())]]


def a_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    shutil.copytree(ROOT / "reports", folder)
    return folder


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first `old` in the file with `new`; the line it is on."""
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")
    return text[: text.index(old)].count("\n") + 1


def test_a_report_is_imported_with_its_files(tmp_path: Path) -> None:
    documents, problems = read_documents([ROOT / "reports"])
    assert problems == []
    files = {d.name: sorted(d.body["files"]) for d in documents if d.kind == "report"}
    assert files == {
        "client_status": ["logo.svg", "style.css", "template.html"],
        "department_health": ["logo.svg", "style.css", "template.html"],
    }


def test_export_writes_every_report_file_back_byte_for_byte(runtime: Any, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    with runtime.session() as session:
        runtime.registry(session).export(first)
        documents, problems = read_documents([first])
        assert problems == []
        runtime.registry(session).import_documents(documents, "alice", publish=True)
        runtime.registry(session).export(second)
    for source in REPORT_FILES:
        relative = source.relative_to(ROOT)
        assert (first / relative).read_bytes() == source.read_bytes(), relative
        assert (second / relative).read_bytes() == source.read_bytes(), relative


def test_a_binary_asset_travels_as_base64(runtime: Any, tmp_path: Path) -> None:
    folder = a_copy(tmp_path)
    png = bytes(range(256)) * 4
    (folder / "client_status" / "logo.png").write_bytes(png)
    documents, problems = read_documents([folder])
    assert problems == []
    with runtime.session() as session:
        runtime.registry(session).import_documents(documents, "alice", publish=True)
        runtime.registry(session).export(tmp_path / "out")
    assert (tmp_path / "out" / "reports" / "client_status" / "logo.png").read_bytes() == png


def test_the_starter_reports_are_valid() -> None:
    assert problems_of(ROOT / "reports") == []


def test_a_jinja_syntax_error_is_named_by_file_and_line(tmp_path: Path) -> None:
    folder = a_copy(tmp_path)
    line = edit(folder / "client_status" / "template.html", "{% endif %}", "{% endfi %}")
    assert problems_of(folder) == [
        f"{folder}/client_status/template.html: /files/template.html: line {line}: Encountered unknown tag 'endfi'. "
        "Jinja was looking for the following tags: 'endif'. The innermost block that needs to be closed is 'if'."
    ]


def test_unknown_parameters_and_data_sources_are_named(tmp_path: Path) -> None:
    folder = a_copy(tmp_path)
    template = folder / "department_health" / "template.html"
    line = edit(template, "{{ params.month }}</span>", "{{ params.quarter }}</span>")
    edit(template, "{% if projects %}", "{% if programmes %}")
    definition = folder / "department_health" / "report.json"
    body = json.loads(definition.read_text("utf-8"))
    body["data"]["tasks"]["where"] = {"department": "division"}
    body["data"]["opportunities"] = {"record_type": "opportunity"}
    definition.write_text(json.dumps(body), "utf-8")
    assert sorted(problems_of(folder)) == [
        f"{definition}: /data/opportunities/record_type: names no record type: 'opportunity'",
        f"{definition}: /data/tasks/where/department: names no parameter: 'division'",
        f"{template}: /files/template.html: line {line}: names no parameter: 'quarter'",
        f"{template}: /files/template.html: uses 'programmes', which is no data source of this report",
    ]


def test_python_internals_in_a_template_are_refused_when_validated(tmp_path: Path) -> None:
    folder = a_copy(tmp_path)
    template = folder / "client_status" / "template.html"
    line = edit(template, "<h1>{{ report.title }}</h1>", "<h1>{{ report.title.__class__.__mro__ }}</h1>")
    assert sorted(problems_of(folder)) == [
        f"{template}: /files/template.html: line {line}: templates may not use Python internals (__class__)",
        f"{template}: /files/template.html: line {line}: templates may not use Python internals (__mro__)",
    ]


def test_a_report_without_its_template_is_refused(tmp_path: Path) -> None:
    folder = a_copy(tmp_path)
    (folder / "client_status" / "template.html").unlink()
    assert problems_of(folder) == [
        f"{folder}/client_status/report.json: /files: template.html is missing beside the definition"
    ]


def test_a_report_is_validated_by_the_command_line(tmp_path: Path) -> None:
    folder = a_copy(tmp_path)
    body = json.loads((folder / "client_status" / "report.json").read_text("utf-8"))
    broken = copy.deepcopy(body)
    broken["attach_to"] = "month"
    (folder / "client_status" / "report.json").write_text(json.dumps(broken), "utf-8")
    result = CliRunner().invoke(
        main, ["defs", "validate", str(ROOT / "schemas"), str(ROOT / "forms"), str(folder)]
    )
    assert result.exit_code == 1
    assert (
        "/attach_to: must name a parameter that refers to a record (an integer with x-ref)" in result.output
    )


def test_a_template_is_checked_without_evaluating_what_it_computes(tmp_path: Path, monkeypatch: Any) -> None:
    """A template is checked on every save of its draft: nothing in it is worked out then (Jinja folds
    constants while compiling: `"x" * 10 ** 9` was a gigabyte built in the web process). What it
    computes is evaluated only when it renders, in a child process within its time and memory limits."""
    from itpm.reports import templates

    evaluated: list[Any] = []
    monkeypatch.setitem(templates.FILTERS, "spy", lambda value: evaluated.append(value) or "")
    folder = a_copy(tmp_path)
    edit(
        folder / "client_status" / "template.html",
        "</body>",
        '{{ "x" * 10 ** 9 }}{{ "y" | center(10 ** 9) }}{{ "constant" | spy }}</body>',
    )
    assert problems_of(folder) == []
    assert evaluated == []


def test_a_template_may_not_switch_escaping_off(tmp_path: Path) -> None:
    folder = a_copy(tmp_path)
    line = edit(
        folder / "client_status" / "template.html",
        "</body>",
        "{% autoescape false %}{{ 1 }}{% endautoescape %}</body>",
    )
    assert any(f"line {line}: templates may not change escaping" in p for p in problems_of(folder))
