"""The audit trail: every change captured (triggers on PostgreSQL, the ORM on SQLite), sealed into a
SHA-256 chain, signed at checkpoints, verified by `itpm audit verify` and by auditors offline."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from itpm.audit.capture import rows_written
from itpm.models import AuditEntry

__all__ = ["note", "note_read", "rows_written"]


def note(
    session: Session, action: str, target: str, detail: dict[str, Any] | None = None, actor: str | None = None
) -> None:
    """An entry for an event that changes no audited row (a sign-in, an export, a download)."""
    from itpm.audit.context import current

    session.add(
        AuditEntry(actor=actor or current().actor, action=action, target=target[:200], detail=detail or {})
    )


def note_read(session: Session, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """An entry for reading something out (an export, a download), committed now: such a request writes
    nothing else and commits nothing."""
    note(session, action, target, detail)
    session.commit()
