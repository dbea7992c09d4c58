"""`Records.create_many` (an import's chunk: one Core executemany, no ORM unit of work) writes what
`Records.create` (the ORM, one record) writes for the same rows: the same columns, SLA clocks, history
and audit entries, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from itpm.access import Actor
from itpm.models import AuditEntry, ImportRun, RecordEvent
from itpm.records.imports import open_source, run_import, start_import
from itpm.records.service import Records

ADMIN = Actor(1, "admin", frozenset({"admin"}))
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
#: What differs between two records of the same content: who they are.
OWN = {"id", "number", "client_id"}


def written(runtime: Any, type_name: str, record_id: int) -> tuple[dict, list, list]:
    """A record's columns, its history (moment, action, changes) and its audit entries (action, changes)."""
    with runtime.session() as session:
        table = runtime.catalog().models.models[type_name].__table__
        row = session.execute(select(table).where(table.c.id == record_id)).one()._asdict()
        history = [
            (e.at, e.action, e.changes)
            for e in session.scalars(
                select(RecordEvent)
                .where(RecordEvent.record_type == type_name, RecordEvent.record_id == record_id)
                .order_by(RecordEvent.id)
            )
        ]
        audit = [
            (
                e.action,
                {k: v for k, v in e.detail["changes"].items() if k not in OWN},
                e.detail.get("personal"),
            )
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.target == f"{type_name}/{record_id}")
                .order_by(AuditEntry.id)
            )
        ]
    history = [
        (at, action, [c for c in changes if c["path"] not in ("/client",)]) for at, action, changes in history
    ]
    return {k: v for k, v in row.items() if k not in OWN}, history, audit


def both_ways(runtime: Any, type_name: str, rows: list[tuple[dict, dict, dict | None]]) -> None:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN, clock=lambda: NOW)
        one_by_one = [
            records.create(type_name, dict(d), dict(s), dict(i) if i else None).id for d, s, i in rows
        ]
        session.commit()
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN, clock=lambda: NOW)
        made = records.create_many(
            type_name, [(dict(d), dict(s), dict(i) if i else None) for d, s, i in rows]
        )
        session.commit()
    assert all(not isinstance(m, Exception) for m in made), made
    for slow, fast in zip(one_by_one, [m.id for m in made], strict=True):
        (row, history, audit), (row_, history_, audit_) = (
            written(runtime, type_name, fast),
            written(runtime, type_name, slow),
        )
        assert {k: v for k, v in row.items() if row_[k] != v} == {}, row_
        assert history == history_
        assert audit == audit_


def test_customers_are_their_own_client_and_written_alike_both_ways(runtime: Any) -> None:
    both_ways(runtime, "customer", [({"name": "Acme"}, {}, None), ({"name": "Globex"}, {}, None)])
    with runtime.session() as session:
        table = runtime.catalog().models.models["customer"].__table__
        assert all(r.client_id == r.id for r in session.execute(select(table.c.id, table.c.client_id)))


def test_imported_incidents_with_their_history_and_sla_clocks_are_written_alike_both_ways(
    runtime: Any,
) -> None:
    created = dt.datetime(2025, 6, 3, 9, 30, tzinfo=dt.UTC)
    rows = [
        ({"title": "VPN down", "priority": "P3", "category": "network"}, {}, {"created_at": created}),
        (
            {
                "title": "Disk full",
                "priority": "P4",
                "category": "server",
                "resolved_at": "2025-06-03T14:00:00Z",
            },
            {"assignee": 1},
            {"created_at": created, "state": "resolved", "state_at": created + dt.timedelta(hours=4)},
        ),
        ({"title": "Slow app", "priority": "P2", "category": "application"}, {}, None),
    ]
    both_ways(runtime, "incident", rows)


def _import_statements(runtime: Any, folder: Path, first: int, rows: int) -> int:
    """The SQL statements of an import of `rows` history rows (numbered from `first`) in one chunk, from
    the run's start to its end (the chunk, its checkpoint, the audit seal)."""
    path = folder / f"incidents-{first}.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["Number", "Title", "Priority", "类别", "Project", "Assignee", "Created", "State"])
        for n in range(first, first + rows):
            created = dt.datetime(2025, 3, 3, 8, 0) + dt.timedelta(minutes=37 * n)
            writer.writerow(
                [
                    f"INC-2025-{n:05d}",
                    f"Imported incident {n}",
                    ["P3", "P4", "P2"][n % 3],
                    ["网络", "Server", "application"][n % 3],
                    ["Core banking upgrade", "ERP rollout"][n % 2],
                    "admin",
                    created.strftime("%Y-%m-%d %H:%M"),
                    ["New", "已解决", "In progress"][n % 3],
                ]
            )
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN, clock=lambda: NOW)
        run = start_import(records, "incident", open_source(path), key="number")
        session.commit()
        run_id = run.id
    statements: list[str] = []

    def count(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        assert run_import(runtime, run_id, chunk_size=rows, path=path) == "done"
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    with runtime.session() as session:
        run = session.get(ImportRun, run_id)
        assert (run.inserted, run.failed) == (rows, 0), run.problems
    return len(statements)


def test_an_import_chunk_takes_as_many_statements_for_ten_rows_as_for_two_hundred(
    runtime: Any, tmp_path: Path
) -> None:
    """Each chunk of an import is written in a set number of statements (one executemany per table, one
    query per kind of lookup), whatever its number of rows: none is asked row by row (SLA clocks, ids,
    history and audit included)."""
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        for name in ("Core banking upgrade", "ERP rollout"):
            client = system.create("customer", {"name": f"Client of {name}"}).id
            system.create(
                "project",
                {
                    "name": name,
                    "project_type": "implementation",
                    "phase": "execution",
                    "start_date": "2025-01-01",
                    "due_date": "2026-12-31",
                },
                {"client": client},
            )
        session.commit()
    few = _import_statements(runtime, tmp_path, 1, 10)
    many = _import_statements(runtime, tmp_path, 100, 200)
    assert many == few
    with runtime.session() as session:
        model = runtime.catalog().models.models["incident"]
        clocked = session.scalar(select(func.count()).select_from(model).where(model.sla_clocks.is_not(None)))
        assert clocked == 210  # every record's clocks read, in the same statements
