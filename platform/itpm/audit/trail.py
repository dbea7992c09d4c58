"""Reading the audit log: the whole log for auditors (filtered by record, person, kind and date), and
one record's own trail for whoever may read the record, without the fields hidden from them.

A record's entries hold its table's columns (`itpm.audit.triggers`); here they become the paths of
the record's history (/data/<field>, /state, /owner ...), so the screens show them as they show
history: field titles and values in the reader's language.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from itpm.definitions.problems import pointer
from itpm.models import AuditEntry
from itpm.privacy.keys import open_changes
from itpm.records.fields import DATETIME, EDITABLE_SYSTEM, RecordTypeSpec
from itpm.records.service import Records, to_json_datetime

#: System columns of a record table shown in its trail, by the path its history uses.
SYSTEM_PATHS = {"state": "/state", **{f"{name}_id": f"/{name}" for name in EDITABLE_SYSTEM}}

#: The kinds of entry an auditor filters by (the part of the action before its dot).
KINDS = (
    "record", "comment", "file", "approval_task", "definition", "definition_version", "user", "user_role",
    "role", "role_permission", "department", "team", "login", "records", "report", "integration",
    "privacy_request", "privacy",
)  # fmt: skip


def log(
    session: Session,
    record: str | None = None,
    person: str | None = None,
    kind: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """The newest entries matching every filter given. `record`: "incident/12" or a record's number."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if record:
        query = query.where(or_(AuditEntry.target == record, AuditEntry.target.like(f"%/{_like(record)}")))
    if person:
        query = query.where(or_(AuditEntry.actor == person, AuditEntry.target == f"user/{person}"))
    if kind:
        query = query.where(or_(AuditEntry.action == kind, AuditEntry.action.like(f"{_like(kind)}.%")))
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    return list(session.scalars(query))


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def opened(session: Session, entries: list[AuditEntry]) -> dict[int, dict[str, Any]]:
    """The entries' changes with their personal values opened (`itpm.privacy.keys`), by entry id; a value
    whose person was erased reads "(erased)"."""
    return open_changes(session.connection(), entries, erased=_l("(erased)"))


def record_changes(
    spec: RecordTypeSpec,
    entry: AuditEntry,
    hidden: set[str] = frozenset(),
    changes_opened: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """A record entry's column changes as history changes ({"path", "old", "new"}), hidden fields left out.
    `changes_opened`: the entry's changes with personal values opened (`opened`)."""
    columns = {field.column: name for name, field in spec.fields.items()}
    changes = []
    raw = changes_opened if changes_opened is not None else entry.detail.get("changes") or {}
    for column, (old, new) in sorted(raw.items()):
        if column in columns:
            field = spec.fields[columns[column]]
            if field.name in hidden:
                continue
            path = pointer(["data", field.name])
            if field.kind == DATETIME:  # stored naive UTC (the column's value as the database gives it)
                old, new = _utc(old), _utc(new)
        elif column in SYSTEM_PATHS:
            path = SYSTEM_PATHS[column]
        else:
            continue
        changes.append({"path": path, "old": old, "new": new})
    return changes


def _utc(value: Any) -> Any:
    if isinstance(value, str) and value and not value.endswith("Z") and "+" not in value[10:]:
        return value + "+00:00"
    return value


def record_trail(records: Records, type_name: str, record_id: int) -> list[dict[str, Any]]:
    """The audit entries of one record the actor may read, newest first, in the shape of its history."""
    record = records.get(type_name, record_id)
    spec = records.spec(type_name)
    hidden = set(records.access.hidden_fields(records.actor, spec))
    entries = list(
        records.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target.in_([f"{type_name}/{record_id}", f"{type_name}/{record.number}"]))
            .order_by(AuditEntry.id.desc())
        )
    )
    values = opened(records.session, entries)
    trail = []
    for entry in entries:
        kind = entry.action.split(".", 1)[0]
        changes = record_changes(spec, entry, hidden, values[entry.id]) if kind == "record" else []
        if kind == "record" and entry.action != "record.delete" and not changes:
            continue  # only hidden fields or bookkeeping changed: nothing this reader may see
        trail.append(
            {
                "at": to_json_datetime(entry.at),
                "actor": entry.actor,
                "action": entry.action,
                "address": entry.address,
                "request": entry.request,
                "seq": entry.seq,
                "changes": changes,
                "note": "",
            }
        )
    return trail
