"""Definition patterns run on RE2: linear in the text, refused at validation when RE2 cannot run them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from test_definition_errors import GOOD, META, record_type, write

from itpm.cli import main
from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import read_documents
from itpm.records.fields import RecordTypeSpec
from itpm.records.validation import RecordValidator


def coded(pattern: str) -> dict:
    body = record_type()
    body["schema"]["properties"]["code"] = {
        "type": "string",
        "title": "Code",
        "x-title-zh": "编码",
        "pattern": pattern,
    }
    return body


def test_a_backtracking_pattern_answers_at_once_on_a_hostile_value() -> None:
    """(a+)+$ on a run of a's and one other character: exponential for a backtracking engine."""
    validator = RecordValidator(RecordTypeSpec(coded("^(a+)+$")))
    found = validator.problems({"title": "x", "code": "a" * 5000 + "!"})
    assert [(p.path, "is not in the form this field expects" in str(p.message)) for p in found] == [
        ("/data/code", True)
    ]
    assert "(a+)+" not in str(found[0].message)  # the message names no regular expression
    assert validator.problems({"title": "x", "code": "a" * 5000}) == []


def test_patterns_read_as_json_schema_says_digits_are_ascii() -> None:
    """JSON Schema patterns are ECMA-262: \\d is 0-9 (Python's re would take Arabic-Indic digits too)."""
    validator = RecordValidator(RecordTypeSpec(coded(r"^\d{3}$")))
    assert validator.problems({"title": "x", "code": "123"}) == []
    assert [p.path for p in validator.problems({"title": "x", "code": "١٢٣"})] == ["/data/code"]


def test_pattern_properties_and_conditions_run_on_re2_too() -> None:
    body = record_type()
    body["schema"]["properties"]["labels"] = {
        "type": "object",
        "title": "Labels",
        "x-title-zh": "标签",
        "patternProperties": {r"^\d+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    validator = RecordValidator(RecordTypeSpec(body))
    assert validator.problems({"title": "x", "labels": {"12": 3}}) == []
    paths = sorted(p.path for p in validator.problems({"title": "x", "labels": {"12": "x", "٣": 1}}))
    assert paths == ["/data/labels/12", "/data/labels/٣"]


def test_a_pattern_re2_cannot_run_is_refused_naming_its_path(tmp_path: Path) -> None:
    write(tmp_path, {**GOOD, "ticket.json": coded(r"^(\w+)-\1$")})
    documents, problems = read_documents([tmp_path])
    problems += check_configuration(documents, META)
    assert [(Path(p.file).name, p.path) for p in problems] == [
        ("ticket.json", "/schema/properties/code/pattern")
    ]
    assert "cannot run in linear time" in str(problems[0].message)
    result = CliRunner().invoke(main, ["defs", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'ticket.json'}: /schema/properties/code/pattern:" in result.output
