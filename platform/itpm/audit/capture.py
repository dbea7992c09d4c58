"""Audit capture around every transaction of a runtime's sessions.

- On PostgreSQL the row triggers (`itpm.audit.triggers`) write the entries; who
  acts, from where and why is given to them as the transaction seals
  (`itpm.audit.chain.seal`), or, in an erasure, set for the transaction at its
  first write (`set_config(..., true)`: transaction-local).
- On SQLite, which has no such triggers, the same entries are written from the
  ORM's flush (`_capture_flush`); a bulk path that writes rows with Core
  statements calls `rows_written` for them (on PostgreSQL that does nothing:
  the triggers saw the rows).
- Before a transaction that wrote commits, the entries it left are sealed into
  the hash chain (`itpm.audit.chain.seal`).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table, event, insert, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.base import NO_VALUE

from itpm.audit import chain
from itpm.audit.context import AuditContext, current
from itpm.audit.triggers import AUDITED_TABLES, IGNORED_COLUMNS, PERSONAL_COLUMNS, RECORD_PREFIX
from itpm.db import utcnow
from itpm.models import AuditEntry

#: Set in a session's info when its transaction may have written audit entries (to seal before commit).
WROTE = "itpm_audit_wrote"
#: Set once the transaction's context is handed to PostgreSQL.
CONTEXT_SET = "itpm_audit_context"
#: Set in a session's info (the person's id) while it erases a person: every change it makes is sealed
#: under their key (`itpm.privacy.erasure`), as `itpm.erasing` tells PostgreSQL's triggers.
ERASING = "itpm_erasing"


def _listeners() -> list[tuple[str, Any]]:
    return [
        ("after_begin", _transaction_begins),
        ("before_flush", _before_flush),
        ("after_flush", _capture_flush),
        ("do_orm_execute", _before_statement),
        ("before_commit", _seal),
        ("after_rollback", _rolled_back),
    ]


def install(factory: sessionmaker[Session]) -> None:
    """Capture and seal for every session `factory` makes. Once however often it is called: SQLAlchemy
    adds a listener again each time it is given, and each copy would write and seal the entries."""
    for name, listener in _listeners():
        if not event.contains(factory, name, listener):
            event.listen(factory, name, listener)


def uninstall(factory: sessionmaker[Session]) -> None:
    """No capture in the application layer (the benchmark's baseline; PostgreSQL's triggers stay)."""
    for name, listener in _listeners():
        if event.contains(factory, name, listener):
            event.remove(factory, name, listener)


def _transaction_begins(session: Session, *_: Any) -> None:
    session.info.pop(CONTEXT_SET, None)


def _rolled_back(session: Session) -> None:
    session.info.pop(WROTE, None)


def _set_context(session: Session) -> None:
    """At the first write of a transaction that erases a person, for the row triggers to seal every value it
    changes under their key. Other transactions give who acts only as they seal (`chain.seal`): the entries
    their triggers wrote take it then, and the transaction saves a round trip."""
    if session.info.get(CONTEXT_SET) or not session.info.get(ERASING):
        return
    session.info[CONTEXT_SET] = True
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    context = current()
    connection.exec_driver_sql(
        "SELECT set_config('itpm.actor', %(actor)s, true), set_config('itpm.address', %(address)s, true),"
        " set_config('itpm.request', %(request)s, true), set_config('itpm.erasing', %(erasing)s, true)",
        {
            "actor": context.actor,
            "address": context.address or "",
            "request": context.request or "",
            "erasing": str(session.info.get(ERASING) or ""),
        },
    )


def _before_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    """The context for the triggers; entries the services write say where from and why."""
    _set_context(session)
    context = None
    for obj in session.new:
        if isinstance(obj, AuditEntry):
            context = context or current()
            obj.address = obj.address or context.address
            obj.request = obj.request or context.request


def _before_statement(orm_execute_state: Any) -> None:
    if orm_execute_state.is_insert or orm_execute_state.is_update or orm_execute_state.is_delete:
        orm_execute_state.session.info[WROTE] = True
        _set_context(orm_execute_state.session)


def _seal(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()
    if session.info.pop(WROTE, False):
        chain.seal(session.connection(), current())


def _capture_flush(session: Session, _flush_context: Any) -> None:
    session.info[WROTE] = True
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return
    erasing = session.info.get(ERASING)
    entries: list[dict[str, Any]] = []
    for obj in session.new:
        entries += _entries_of(obj, "create", erasing)
    for obj in session.dirty:
        entries += _entries_of(obj, "update", erasing)
    for obj in session.deleted:
        entries += _entries_of(obj, "delete", erasing)
    _write(connection, entries)


def rows_written(
    session: Session,
    table: str | Table,
    op: str,
    rows: Iterable[Mapping[str, Any]],
    before: Iterable[Mapping[str, Any]] | None = None,
) -> None:
    """Rows of an audited table written without the ORM (`op`: create, update or delete), for SQLite.

    `rows` are the rows as written (with their ids), `before` the same rows as they were (for an update).
    Given the `Table`, a record table's personal columns are marked as the ORM's capture marks them.
    PostgreSQL's triggers saw them already: there this does nothing."""
    session.info[WROTE] = True
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return
    name = table if isinstance(table, str) else table.name
    kind = _kind(name)
    if kind is None:
        return
    olds = list(before) if before is not None else None
    entries = []
    context = current()  # one actor for the whole batch (an import's chunk: 1,000 rows)
    for i, row in enumerate(rows):
        old = olds[i] if olds is not None else ({} if op == "create" else row)
        new = {} if op == "delete" else row
        changes = _changes(kind, old, new)
        if changes or op != "update":
            entry = _entry(kind, name, op, row.get("id"), changes, context)
            if not isinstance(table, str):
                values = {**old, **new}
                _mark_personal(entry, kind, table, changes, values.get)
            entries.append(entry)
    _write(connection, entries)


def _kind(table: str) -> str | None:
    return "record" if table.startswith(RECORD_PREFIX) else AUDITED_TABLES.get(table)


def _entries_of(obj: Any, op: str, erasing: int | None = None) -> list[dict[str, Any]]:
    mapper = inspect(obj).mapper
    table = mapper.local_table.name
    kind = _kind(table)
    entries = _links_of(obj, mapper)
    if kind is None:
        return entries
    state = inspect(obj)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        name = prop.columns[0].name
        if op == "update":
            history = state.attrs[prop.key].history
            if not history.has_changes():
                continue
            old[name] = history.deleted[0] if history.deleted else None
            new[name] = history.added[0] if history.added else None
        else:
            value = state.attrs[prop.key].loaded_value
            (new if op == "create" else old)[name] = None if value is NO_VALUE else value
    changes = _changes(kind, old, new)
    if op == "update" and not changes:
        return entries
    identity = state.identity[0] if state.identity else getattr(obj, "id", None)
    entry = _entry(kind, table, op, identity, changes)
    if erasing is not None:
        entry["detail"]["personal"] = {"subject": erasing, "columns": sorted(changes)}
    else:
        _mark_personal(entry, kind, mapper.local_table, changes, lambda column: _value(obj, mapper, column))
    return [entry, *entries]


def _value(obj: Any, mapper: Any, column: str) -> Any:
    value = inspect(obj).attrs[mapper.get_property_by_column(mapper.local_table.c[column]).key].loaded_value
    return None if value is NO_VALUE else value


def _mark_personal(entry: dict[str, Any], kind: str, table: Any, changes: dict[str, Any], value: Any) -> None:
    """Mark the entry's personal columns and whom they are about, as the PostgreSQL trigger does; they
    are sealed under that person's key before the entry is chained (`itpm.privacy.keys`)."""
    personal = table.info.get("personal") if kind == "record" else PERSONAL_COLUMNS.get(kind)
    if not personal:
        return
    columns, subject_column = personal
    marked = sorted(set(columns) & set(changes))
    if marked:
        entry["detail"]["personal"] = {"subject": value(subject_column), "columns": marked}


def _links_of(obj: Any, mapper: Any) -> list[dict[str, Any]]:
    """Rows of an audited link table (a person's roles, a role's permissions) added or removed."""
    entries = []
    for prop in mapper.relationships:
        secondary = prop.secondary
        if secondary is None or secondary.name not in AUDITED_TABLES:
            continue
        history = inspect(obj).attrs[prop.key].history
        for op, targets in (("create", history.added), ("delete", history.deleted)):
            for target in targets:
                row = {column.name: obj.id for _, column in prop.synchronize_pairs}
                row |= {column.name: target.id for _, column in prop.secondary_synchronize_pairs}
                old, new = ({}, row) if op == "create" else (row, {})
                kind = AUDITED_TABLES[secondary.name]
                entries.append(_entry(kind, secondary.name, op, None, _changes(kind, old, new)))
    return entries


def _changes(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    ignored = IGNORED_COLUMNS.get(kind, ())
    changes = {}
    for name in sorted({*old, *new} - set(ignored)):
        before, after = _json(old.get(name)), _json(new.get(name))
        if before != after:
            changes[name] = [before, after]
    return changes


def _entry(
    kind: str,
    table: str,
    op: str,
    identity: Any,
    changes: dict[str, Any],
    context: AuditContext | None = None,
) -> dict[str, Any]:
    context = context or current()
    if identity is None and op != "update":
        identity = (changes.get("id") or [None, None])[0 if op == "delete" else 1]
    target = f"{table[len(RECORD_PREFIX) :]}/{identity}" if kind == "record" else f"{kind}/{identity or ''}"
    return {
        "at": utcnow(),
        "actor": context.actor,
        "action": f"{kind}.{op}",
        "target": target[:200],
        "detail": {"table": table, "changes": changes},
        "address": context.address,
        "request": context.request,
    }


def _write(connection: Connection, entries: list[dict[str, Any]]) -> None:
    if entries:
        connection.execute(insert(AuditEntry.__table__), entries)


#: Values that are their own JSON (most of a row's): returned at once.
_PLAIN = frozenset({str, int, float, bool, type(None), dict, list})


def _json(value: Any) -> Any:
    """A column's value as PostgreSQL's to_jsonb writes it (the same entry on both backends)."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    return value
