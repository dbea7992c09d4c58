"""The audit trail on SQLite and PostgreSQL: every change captured with who, where and why, sealed
into a hash chain that names the first entry changed, removed or inserted; signed checkpoints;
the auditor's export checked offline by the standalone verifier."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, text

from itpm.access import Actor
from itpm.audit import chain, note, signing
from itpm.audit.capture import rows_written
from itpm.audit.context import AuditContext, acting
from itpm.audit.export import export
from itpm.cli import main
from itpm.models import AuditEntry
from itpm.records.service import Records

ADMIN = Actor(1, "admin", frozenset({"admin"}))


def incident(runtime: Any, **data: Any) -> int:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN)
        record = records.create(
            "incident", {"title": "VPN down", "priority": "P3", "category": "network", **data}
        )
        session.commit()
        return record.id


def entries(runtime: Any, target: str) -> list[AuditEntry]:
    with runtime.session() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.target == target).order_by(AuditEntry.id))
        )


def tampered(runtime: Any, *statements: str) -> chain.Problem | None:
    """What verify says of the database with `statements` applied (then rolled back: a copy, in effect)."""
    with runtime.engine.connect() as connection:
        transaction = connection.begin()
        if connection.dialect.name == "postgresql":  # past the append-only triggers, as a superuser could
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            connection.execute(text(statement))
        problem = chain.verify(connection).problem
        transaction.rollback()
    return problem


def test_a_records_life_is_in_the_audit_log_with_who_where_why_and_field_diffs(runtime: Any) -> None:
    with acting("alice", "req:0001", "10.1.2.3"):
        record_id = incident(runtime)
        with runtime.session() as session:
            records = Records(session, runtime.catalog(), ADMIN)
            records.update("incident", record_id, {"priority": "P2"}, version=1)
            session.commit()
            records.delete("incident", record_id)
            session.commit()
    log = entries(runtime, f"incident/{record_id}")
    column = runtime.catalog().record_types["incident"].fields["priority"].column
    changes = [(e.action, e.detail["changes"].get(column)) for e in log if column in e.detail["changes"]]
    # (the SLA clocks the service sets after a creation are an update of their own)
    assert changes == [
        ("record.create", [None, "P3"]),
        ("record.update", ["P3", "P2"]),
        ("record.delete", ["P2", None]),
    ]
    assert log[-1].action == "record.delete"
    assert {(e.actor, e.address, e.request) for e in log} == {("alice", "10.1.2.3", "req:0001")}
    assert all(e.seq and e.hash for e in log)
    with runtime.engine.connect() as connection:
        verdict = chain.verify(connection)
    assert verdict.problem is None and verdict.checked > 3


def test_a_change_a_removal_and_a_forgery_are_each_named_by_verify(runtime: Any) -> None:
    for _ in range(3):
        incident(runtime)
    with runtime.engine.connect() as connection:
        seq, head = chain.head(connection)
        ids = dict(
            connection.execute(select(AuditEntry.seq, AuditEntry.id).where(AuditEntry.seq > seq - 5)).all()
        )
    middle = seq - 2
    changed = tampered(runtime, f"UPDATE itpm_audit SET actor = 'mallory' WHERE seq = {middle}")
    assert (changed.entry, changed.seq) == (ids[middle], middle) and "changed" in changed.what
    removed = tampered(runtime, f"DELETE FROM itpm_audit WHERE seq = {middle}")
    assert (removed.entry, removed.seq) == (ids[middle + 1], middle + 1) and "removed" in removed.what
    forged = tampered(
        runtime,
        "INSERT INTO itpm_audit (id, at, actor, action, target, detail, seq, prev_hash, hash)"
        f" VALUES (999999, '2026-01-01 00:00:00', 'mallory', 'record.update', 'incident/1', '{{}}',"
        f" {seq + 1}, '{head}', '{'f' * 64}')",
    )
    assert (forged.entry, forged.seq) == (999999, seq + 1) and "inserted" in forged.what
    unchained = tampered(
        runtime,
        "INSERT INTO itpm_audit (id, at, actor, action, target, detail)"
        " VALUES (999998, '2026-01-01 00:00:00', 'mallory', 'login', 'user/admin', '{}')",
    )
    assert unchained.entry == 999998 and "not in the chain" in unchained.what
    assert tampered(runtime) is None  # untouched, it verifies


#: Text a person may type, and that JSON escapes or leaves alone: PostgreSQL writes an entry's canonical
#: text for `verify` (`chain.CANONICAL_SQL`), Python's json.dumps wrote it for `seal`; they must agree.
AWKWARD_TEXTS = [
    "quote \" backslash \\ slash / apostrophe '",
    "tab\t newline\n return\r backspace\b form feed\f bell\x07 escape\x1b unit\x1f delete\x7f",
    "中文 emoji 🙂 separators\u2028\u2029 nbsp\u00a0 bom\ufeff c1\u0080\u009f",
    "",
]


def test_verify_reads_every_character_as_the_seal_wrote_it(runtime: Any) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(
            insert(AuditEntry.__table__),
            [
                {
                    "actor": value,
                    "action": "note",
                    "target": value,
                    "detail": {"text": value, value: [value, None, 1.5, True, {"nested": value}]},
                    "address": None,
                    "request": value or None,
                }
                for value in AWKWARD_TEXTS
            ],
        )
        assert chain.seal(connection) >= len(AWKWARD_TEXTS)
    with runtime.engine.connect() as connection:
        assert chain.verify(connection).problem is None
        if connection.dialect.name == "postgresql":
            rows = connection.execute(
                select(AuditEntry.seq, *chain.CONTENT_COLUMNS, chain.CANONICAL_SQL)
            ).all()
            assert [row.canonical for row in rows] == [
                chain.canonical(chain.content(row.seq, row)).decode() for row in rows
            ]


def test_verify_exits_non_zero_naming_the_entry(runtime: Any, tmp_path: Path) -> None:
    incident(runtime)
    env = {
        "ITPM_DATABASE_URL": runtime.settings.database_url,
        "ITPM_SECRET_KEY": runtime.settings.secret_key,
        "ITPM_INSTANCE_PATH": str(tmp_path),
    }
    result = CliRunner(env=env).invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "verified:" in result.output
    with runtime.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text("UPDATE itpm_audit SET target = 'incident/0' WHERE seq = 3"))
        entry = connection.scalar(text("SELECT id FROM itpm_audit WHERE seq = 3"))
    result = CliRunner(env=env).invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"entry #{entry} (seq 3)" in result.output


@pytest.mark.postgres
def test_postgres_captures_direct_sql_and_refuses_to_change_the_log(
    fresh_database: Any, tmp_path: Path
) -> None:
    from itpm.runtime import Runtime
    from tests.conftest import settings_for

    runtime = Runtime(settings_for(fresh_database("postgres"), tmp_path))
    try:
        record_id = incident(runtime)
        with runtime.engine.begin() as connection:  # outside the application: no actor set
            connection.execute(text(f"UPDATE rec_incident SET state = 'resolved' WHERE id = {record_id}"))
        log = entries(runtime, f"incident/{record_id}")
        assert log[-1].action == "record.update" and log[-1].actor == "database:postgres"
        assert log[-1].detail["changes"]["state"][1] == "resolved"
        with runtime.engine.connect() as connection:  # not sealed yet: verify names it
            assert chain.verify(connection).problem.entry == log[-1].id
        with pytest.raises(Exception, match="append-only"), runtime.engine.begin() as connection:
            # another transaction's entry, unsealed, cannot take a name either
            connection.execute(text("UPDATE itpm_audit SET actor = 'alice' WHERE seq IS NULL"))
        with runtime.engine.begin() as connection:  # sealed by someone acting: it keeps its own actor
            assert chain.seal(connection, AuditContext("alice", "10.1.2.3", "req:x")) == 1
        assert entries(runtime, f"incident/{record_id}")[-1].actor == "database:postgres"
        for statement in (
            "UPDATE itpm_audit SET actor = 'x'",
            "DELETE FROM itpm_audit",
            "TRUNCATE itpm_audit",
        ):
            with pytest.raises(Exception, match="append-only"), runtime.engine.begin() as connection:
                connection.execute(text(statement))
        with runtime.engine.connect() as connection:
            assert chain.verify(connection).problem is None
    finally:
        runtime.dispose()


def test_a_bulk_statement_in_the_applications_transaction_is_audited_with_who_acts(runtime: Any) -> None:
    """A Core statement written through the session (no ORM flush before it) is the person's too: on
    PostgreSQL its trigger's entry takes who acts as the transaction seals."""
    record_id = incident(runtime)
    with acting("bob", "req:bulk", "10.0.0.9"), runtime.session() as session:
        table = runtime.catalog().record_types["incident"].table_name
        state = session.execute(text(f"SELECT state FROM {table} WHERE id = {record_id}")).scalar()
        session.execute(text(f"UPDATE {table} SET state = 'resolved' WHERE id = {record_id}"))
        before = [{"id": record_id, "state": state}]
        rows_written(session, table, "update", [{"id": record_id, "state": "resolved"}], before)
        session.commit()
    last = entries(runtime, f"incident/{record_id}")[-1]
    assert (last.actor, last.address, last.request) == ("bob", "10.0.0.9", "req:bulk")
    with runtime.engine.connect() as connection:
        assert chain.verify(connection).problem is None


@pytest.mark.postgres
def test_concurrent_writers_on_postgres_never_fork_the_chain(fresh_database: Any, tmp_path: Path) -> None:
    from itpm.runtime import Runtime
    from tests.conftest import settings_for

    runtime = Runtime(settings_for(fresh_database("postgres"), tmp_path, extra={}))
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                with acting(f"writer{n}", f"req:{n}-{i}"), runtime.session() as session:
                    note(session, "test.write", f"thread/{n}", {"i": i})
                    note(session, "test.write", f"thread/{n}", {"i": i, "second": True})
                    session.commit()
        except BaseException as error:  # noqa: BLE001 -- reported below
            errors.append(error)

    try:
        with runtime.engine.connect() as connection:
            before, _ = chain.head(connection)
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        with runtime.engine.connect() as connection:
            verdict = chain.verify(connection)
            seqs = connection.scalars(select(AuditEntry.seq).where(AuditEntry.action == "test.write")).all()
        assert verdict.problem is None
        assert verdict.head_seq == before + 300
        assert sorted(seqs) == list(range(before + 1, before + 301))
    finally:
        runtime.dispose()


def test_a_rewritten_chain_no_longer_matches_its_signed_checkpoint(runtime: Any, tmp_path: Path) -> None:
    signing.keygen(tmp_path / "audit.key")
    key = signing.private_key({"ITPM_AUDIT_KEY": str(tmp_path / "audit.key")})
    incident(runtime)
    with runtime.engine.begin() as connection:
        point = signing.checkpoint(connection, key)
    public = signing.public_key({"ITPM_AUDIT_KEY": str(tmp_path / "audit.key")})
    with runtime.engine.connect() as connection:
        assert signing.check_checkpoints(connection, public) is None
    # Whoever can write to the database rewrites an entry and every hash after it: the chain holds...
    with runtime.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text("UPDATE itpm_audit SET actor = 'mallory' WHERE seq = 2"))
        rows = connection.execute(
            select(*chain.CONTENT_COLUMNS, AuditEntry.seq).where(AuditEntry.seq >= 2).order_by(AuditEntry.seq)
        ).all()
        prev = connection.scalar(select(AuditEntry.hash).where(AuditEntry.seq == 1))
        for row in rows:
            digest = chain.entry_hash(prev, chain.content(row.seq, row))
            connection.execute(
                text("UPDATE itpm_audit SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": digest, "s": row.seq},
            )
            prev = digest
    with runtime.engine.connect() as connection:
        assert chain.verify(connection).problem is None
        # ... but not against the checkpoint signed before
        problem = signing.check_checkpoints(connection, public)
    assert problem is not None and f"seq {point['seq']}" in str(problem) and "rewritten" in str(problem)


def test_the_standalone_verifier_agrees_on_the_export(runtime: Any, tmp_path: Path) -> None:
    signing.keygen(tmp_path / "audit.key")
    key = signing.private_key({"ITPM_AUDIT_KEY": str(tmp_path / "audit.key")})
    with acting("李雷", "req:zh", "::1"):
        incident(runtime, title="数据库连接超时")
    with runtime.engine.begin() as connection:
        signing.checkpoint(connection, key)
    folder = tmp_path / "export"
    with runtime.engine.connect() as connection:
        count = export(connection, folder, signing.public_pem(key.public_key()))
    assert count > 10

    def verifier() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-I",
                str(folder / "verify_audit.py"),
                str(folder / "audit.jsonl"),
                "--checkpoints",
                str(folder / "checkpoints.jsonl"),
                "--public-key",
                str(folder / "audit-key.pub"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    good = verifier()
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"verified: {count} entries, 1 signed checkpoints" in good.stdout
    lines = (folder / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    forged = {**json.loads(lines[4]), "actor": "mallory"}
    (folder / "audit.jsonl").write_text(
        "\n".join([*lines[:4], json.dumps(forged), *lines[5:]]), encoding="utf-8"
    )
    bad = verifier()
    assert bad.returncode == 1 and "line 5" in bad.stdout and "changed" in bad.stdout
    (folder / "audit.jsonl").write_text("\n".join(lines[:4] + lines[5:]), encoding="utf-8")
    assert "removed" in verifier().stdout
    (folder / "audit.jsonl").write_text("\n".join(lines), encoding="utf-8")
    checkpoints = (folder / "checkpoints.jsonl").read_text()
    (folder / "checkpoints.jsonl").write_text(checkpoints.replace('"seq": ', '"seq": 1'))
    assert "signature does not match" in verifier().stdout


def test_sign_ins_and_failed_sign_ins_are_audited_with_the_address(sqlite_app: Any) -> None:
    from tests.conftest import csrf_token

    client = sqlite_app.test_client()
    for name, password in (
        ("admin", "wrong-password"),
        ("nobody", "x"),
        ("admin", "admin-password-for-tests"),
    ):
        client.post(
            "/login/",
            data={"username": name, "password": password, "csrf_token": csrf_token(client, "/login/")},
            environ_base={"REMOTE_ADDR": "192.0.2.7"},
        )
    runtime = sqlite_app.extensions["itpm"]
    with runtime.session() as session:
        log = session.execute(
            select(AuditEntry.action, AuditEntry.target, AuditEntry.actor, AuditEntry.address)
            .where(AuditEntry.action.like("login%"))
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(row) for row in log] == [
        ("login.failed", "user/admin", "anonymous", "192.0.2.7"),
        ("login.failed", "user/nobody", "anonymous", "192.0.2.7"),
        ("login", "user/admin", "admin", "192.0.2.7"),
    ]


def test_auditors_read_the_log_filtered_with_field_titles_in_their_language(
    admin_client: Any, runtime: Any
) -> None:
    with acting("alice", "req:ui", "10.9.8.7"):
        record_id = incident(runtime, title="Printer jammed")
    page = admin_client.get(f"/audit/?record=incident/{record_id}&kind=record").get_data(as_text=True)
    assert "Printer jammed" in page and "10.9.8.7" in page and "req:ui" in page
    assert "Title" in page and "Priority" in page  # field titles, not column names
    assert "Printer jammed" not in admin_client.get("/audit/?person=nobody-at-all").get_data(as_text=True)
    assert "Printer jammed" not in admin_client.get("/audit/?kind=login").get_data(as_text=True)
    admin_client.get("/lang/zh")
    page = admin_client.get(f"/audit/?record=incident/{record_id}").get_data(as_text=True)
    assert "标题" in page and "审计日志" in page and "至" in page
    trail = admin_client.get(f"/audit/record/incident/{record_id}").get_data(as_text=True)
    assert "Printer jammed" in trail and "alice" in trail and "审计记录" in trail
    assert admin_client.get("/audit/record/incident/999999").status_code == 404
    assert admin_client.get("/audit/?since=yesterday").status_code == 400


def test_the_scheduler_signs_a_checkpoint_once_a_day(
    sqlite_app: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import datetime as dt

    runtime = sqlite_app.extensions["itpm"]
    assert signing.daily_checkpoint(runtime.engine, dt.datetime.now(dt.UTC)) == 0  # no key: nothing signed
    signing.keygen(tmp_path / "audit.key")
    monkeypatch.setenv("ITPM_AUDIT_KEY", str(tmp_path / "audit.key"))
    now = dt.datetime.now(dt.UTC)
    assert signing.daily_checkpoint(runtime.engine, now) == 1
    assert signing.daily_checkpoint(runtime.engine, now + dt.timedelta(hours=23)) == 0
    assert signing.daily_checkpoint(runtime.engine, now + dt.timedelta(hours=25)) == 1
    with runtime.engine.connect() as connection:
        assert signing.check_checkpoints(connection, signing.public_key()) is None


def test_exports_are_audited(admin_client: Any, runtime: Any) -> None:
    incident(runtime)
    assert admin_client.get("/api/v1/records/incident/export.csv").status_code == 200
    assert admin_client.get("/api/v1/records/incident/export.xlsx").status_code == 200
    with runtime.session() as session:
        log = session.execute(
            select(AuditEntry.action, AuditEntry.target, AuditEntry.actor, AuditEntry.seq).where(
                AuditEntry.action == "records.export"
            )
        ).all()
    assert [(a, t, who) for a, t, who, _ in log] == [("records.export", "incident", "admin")] * 2
    assert all(seq for *_, seq in log)  # sealed into the chain


def test_the_capture_installed_twice_writes_each_entry_once(runtime: Any) -> None:
    """Installing the capture again (the audit benchmark turns it off and on, block after block) must not
    add its listeners twice: each copy would write the entries again (SQLite) and seal again."""
    from itpm.audit import capture

    factory = runtime.sessions.session_factory
    for _ in range(3):
        capture.install(factory)
    capture.uninstall(factory)
    record_id = incident(runtime)
    if (
        runtime.engine.dialect.name == "sqlite"
    ):  # off is off, however often it was on (PostgreSQL's triggers stay)
        assert entries(runtime, f"incident/{record_id}") == []
    capture.install(factory)
    capture.install(factory)
    record_id = incident(runtime)
    created = [e for e in entries(runtime, f"incident/{record_id}") if e.action == "record.create"]
    assert len(created) == 1
    with runtime.engine.connect() as connection:
        assert chain.verify(connection).problem is None
