"""Drafts, publishing, versions, revisions, diff, restore, import and export, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from itpm.cli import main
from itpm.config import ROOT
from itpm.definitions.documents import Document, read_documents
from itpm.definitions.problems import DefinitionError
from itpm.models import AuditEntry

STARTER_FILES = sorted(
    p for folder in ("schemas", "forms", "workflows", "reports") for p in (ROOT / folder).rglob("*.json")
    if not p.name.endswith(".schema.json")
)  # fmt: skip


def incident(runtime: Any) -> dict[str, Any]:
    with runtime.session() as session:
        registry = runtime.registry(session)
        return registry.published_body(registry.get("record_type", "incident"))


def with_field(body: dict[str, Any], name: str, title: str = "Extra") -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    body["schema"]["properties"][name] = {"type": "string", "title": title, "x-title-zh": "附加"}
    return body


def test_a_draft_changes_nothing_live_until_published(runtime: Any) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        revision = registry.current_revision()
        registry.save_draft(with_field(incident(runtime), "vendor"), "alice")
        definition = registry.get("record_type", "incident")
        assert definition.state == "changed"
        assert "vendor" not in registry.published_body(definition)["schema"]["properties"]
        assert registry.current_revision() == revision

        published = registry.publish([("record_type", "incident")], "alice", "add vendor")
        assert published.id == revision + 1
        definition = registry.get("record_type", "incident")
        assert (definition.state, definition.published_version) == ("published", 2)
        assert "vendor" in registry.published_body(definition)["schema"]["properties"]
        assert [(v.version, v.author, v.comment) for v in definition.versions] == [
            (1, "system", "starter pack"),
            (2, "alice", "add vendor"),
        ]


def test_publishing_is_recorded_in_the_audit_log(runtime: Any) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.save_draft(with_field(incident(runtime), "vendor"), "alice")
        registry.publish([("record_type", "incident")], "alice", "add vendor")
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.actor == "alice").order_by(AuditEntry.id)
        ).all()
        assert [(e.action, e.target) for e in entries] == [
            ("definition.draft", "record_type/incident"),
            ("definition.publish", "record_type/incident"),
        ]
        assert entries[1].detail["version"] == 2


def test_published_versions_are_immutable_and_restore_makes_a_new_one(runtime: Any) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        original = incident(runtime)
        registry.save_draft(with_field(original, "vendor"), "alice")
        registry.publish([("record_type", "incident")], "alice")
        restored = registry.restore("record_type", "incident", 1, "bob", "undo vendor")
        assert restored.version == 3 and restored.restored_from == 1 and restored.author == "bob"
        assert registry.published_body(registry.get("record_type", "incident")) == original
        assert "vendor" in registry.version("record_type", "incident", 2).body["schema"]["properties"]


def test_diff_shows_the_change_between_two_versions(runtime: Any) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.save_draft(with_field(incident(runtime), "vendor", "Vendor"), "alice")
        draft_diff = registry.diff("record_type", "incident")
        assert "--- record_type/incident v1" in draft_diff and "+++ record_type/incident draft" in draft_diff
        registry.publish([("record_type", "incident")], "alice")
        text = registry.diff("record_type", "incident", 1, 2)
        assert '+        "title": "Vendor",' in text
        assert not [line for line in text.splitlines() if line.startswith("-") and not line.startswith("---")]


def test_a_publish_that_would_break_another_definition_is_refused(runtime: Any) -> None:
    """Removing a record type's field that a role names breaks the role: refused, nothing changes."""
    with runtime.session() as session:
        registry = runtime.registry(session)
        body = incident(runtime)
        del body["schema"]["properties"]["support_group"]
        body["filters"].remove("support_group")
        body["indexed"].remove("support_group")
        registry.save_draft(body, "alice")
        revision = registry.current_revision()
        with pytest.raises(DefinitionError) as refused:
            registry.publish([("record_type", "incident")], "alice")
        assert (
            "schemas/roles/client.json: /records/incident/fields/support_group: names no field of 'incident'"
            in str(refused.value)
        )
        session.rollback()
        assert registry.current_revision() == revision
        assert registry.get("record_type", "incident").published_version == 1


def test_saving_an_invalid_draft_is_refused_and_writes_nothing(runtime: Any) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        body = incident(runtime)
        body["schema"]["properties"]["project"]["x-ref"] = "projekt"
        with pytest.raises(DefinitionError) as refused:
            registry.save_draft(body, "alice")
        assert refused.value.as_json() == [
            {"path": "/schema/properties/project/x-ref", "message": "names no record type: 'projekt'"}
        ]
        session.rollback()
        assert registry.get("record_type", "incident").draft is None


def test_import_publishes_a_set_as_one_revision_and_skips_unchanged(runtime: Any, tmp_path: Path) -> None:
    documents, _ = read_documents([ROOT / "schemas"])
    changed = [
        Document(d.file, with_field(d.body, "vendor")) if d.name == "incident" else d for d in documents
    ]
    with runtime.session() as session:
        registry = runtime.registry(session)
        result = registry.import_documents(changed, "alice", publish=True, comment="vendor")
        assert result.drafts == [("record_type", "incident")]
        assert len(result.unchanged) == len(documents) - 1
        assert result.revision == 2
        again = registry.import_documents(changed, "alice", publish=True)
        assert again.revision is None and again.drafts == []


def test_export_import_export_is_byte_identical(runtime: Any, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    with runtime.session() as session:
        runtime.registry(session).export(first)
    documents, problems = read_documents([first])
    assert problems == []
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.import_documents(documents, "alice", publish=True)
        registry.export(second)
    files = sorted(p.relative_to(first) for p in first.rglob("*.json"))
    assert files == sorted(p.relative_to(second) for p in second.rglob("*.json"))
    assert len(files) == len(STARTER_FILES)
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_export_reproduces_the_starter_pack_files_exactly(runtime: Any, tmp_path: Path) -> None:
    with runtime.session() as session:
        runtime.registry(session).export(tmp_path)
    for source in STARTER_FILES:
        exported = tmp_path / source.relative_to(ROOT)
        assert exported.read_bytes() == source.read_bytes(), source


def test_cli_publish_versions_diff_and_restore(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITPM_DATABASE_URL", database_url)
    draft = tmp_path / "incident.json"
    body = json.loads((ROOT / "schemas" / "incident.json").read_text("utf-8"))
    draft.write_text(json.dumps(with_field(body, "vendor", "Vendor")), encoding="utf-8")
    runner = CliRunner()

    result = runner.invoke(main, ["defs", "import", str(draft)])
    assert result.exit_code == 0, result.output
    assert "1 imported, 0 unchanged." in result.output

    result = runner.invoke(main, ["defs", "diff", "record_type", "incident"])
    assert '+        "title": "Vendor",' in result.output

    result = runner.invoke(main, ["defs", "publish", "record_type", "incident", "--comment", "vendor field"])
    assert result.exit_code == 0, result.output
    assert "record_type/incident published as version 2 (revision 2)." in result.output

    result = runner.invoke(main, ["defs", "versions", "record_type", "incident"])
    assert result.output.splitlines()[0].startswith("v2 (live)  revision 2")
    assert "vendor field" in result.output

    result = runner.invoke(main, ["defs", "diff", "record_type", "incident", "1", "2"])
    assert "--- record_type/incident v1" in result.output and "+++ record_type/incident v2" in result.output

    result = runner.invoke(main, ["defs", "restore", "record_type", "incident", "1"])
    assert result.exit_code == 0, result.output
    assert "version 1 restored as version 3" in result.output

    export = tmp_path / "export"
    result = runner.invoke(main, ["defs", "export", str(export)])
    assert result.exit_code == 0
    assert (export / "schemas" / "incident.json").read_bytes() == (
        ROOT / "schemas" / "incident.json"
    ).read_bytes()


def test_cli_import_of_a_bad_folder_exits_1_and_imports_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITPM_DATABASE_URL", database_url)
    (tmp_path / "good.json").write_text(
        json.dumps({"kind": "role", "name": "auditor", "title": {"en": "Auditor", "zh": "审计"}})
    )
    (tmp_path / "bad.json").write_text('{"kind": "role", "name": "x"')
    result = CliRunner().invoke(main, ["defs", "import", str(tmp_path), "--publish"])
    assert result.exit_code == 1
    assert f"{tmp_path / 'bad.json'}: /: invalid JSON at line 1" in result.output
    assert "nothing was changed" in result.output
    listed = CliRunner().invoke(main, ["defs", "list", "--kind", "role"])
    assert "auditor" not in listed.output
