"""The starter pack is configuration only: plain definition files that validate together."""

from __future__ import annotations

import json

from click.testing import CliRunner

from itpm.cli import main
from itpm.config import ROOT

PACK = ["schemas", "forms", "workflows", "reports"]


def test_the_pack_validates_from_the_command_line() -> None:
    result = CliRunner().invoke(main, ["defs", "validate", *[str(ROOT / folder) for folder in PACK]])
    assert result.exit_code == 0, result.output
    assert "definitions are valid" in result.output


def test_the_pack_has_no_python_of_its_own() -> None:
    code = [p for folder in PACK for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".pyc", ".so"}]
    assert code == []


def test_the_pack_files_are_canonical_json() -> None:
    for folder in PACK:
        for path in (ROOT / folder).rglob("*.json"):
            if path.name.endswith(".schema.json"):
                continue
            text = path.read_text("utf-8")
            assert (
                text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
            ), path


def test_every_text_of_the_pack_is_in_chinese_and_english() -> None:
    for folder in PACK:
        for path in (ROOT / folder).rglob("*.json"):
            if path.name.endswith(".schema.json"):
                continue
            body = json.loads(path.read_text("utf-8"))
            assert body["title"]["zh"] and body["title"]["en"], path
            for name, field in body.get("schema", {}).get("properties", {}).items():
                assert field["title"] and field["x-title-zh"], f"{path}: {name}"
