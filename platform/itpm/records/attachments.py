"""Which files a record's file fields may name, and linking the new ones to the record.

A file field takes a file it already holds, or a file the actor uploaded for this
record type that no record holds yet (the upload that came with the form). Any
other id, another record's or another organisation's file, is refused: naming it
must never move it to this record, nor show its name. The system (automations,
commands) may name any file that exists; it moves none that a record holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from itpm.access import Actor
from itpm.models import StoredFile
from itpm.records.fields import FILE, FILE_LIST, RecordTypeSpec


def _new_upload(actor: Actor, type_name: str) -> Any:
    """Files `actor` uploaded for a record of `type_name` that no record holds yet."""
    if actor.id is None:
        return false()
    return and_(
        StoredFile.record_id.is_(None),
        StoredFile.uploaded_by_id == actor.id,
        StoredFile.record_type == type_name,
    )


def acceptable_files(session: Session, actor: Actor, type_name: str, ids: Iterable[int]) -> set[int]:
    """Which of `ids` (not yet in the field) a file field of a `type_name` record may take from `actor`."""
    ids = list(ids)
    if not ids:
        return set()
    query = select(StoredFile.id).where(StoredFile.id.in_(ids), StoredFile.deleted.is_(False))
    if not actor.is_system:
        query = query.where(_new_upload(actor, type_name))
    return set(session.scalars(query))


def nameable_files(
    session: Session, actor: Actor, type_name: str, record_id: int | None, ids: Iterable[int]
) -> list[StoredFile]:
    """The files among `ids` a form may name to `actor`: the record's own (the caller has checked the actor
    reads the record), and the actor's new uploads."""
    ids = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    if not ids:
        return []
    held = (
        and_(StoredFile.record_type == type_name, StoredFile.record_id == record_id)
        if record_id is not None
        else false()
    )
    return list(
        session.scalars(
            select(StoredFile)
            .where(
                StoredFile.id.in_(ids),
                StoredFile.deleted.is_(False),
                StoredFile.rendered_as.is_(None),
                or_(held, _new_upload(actor, type_name)),
            )
            .order_by(StoredFile.id)
        )
    )


def link_files(
    session: Session, spec: RecordTypeSpec, record: Any, data: dict[str, Any], stored: dict[str, Any]
) -> None:
    """The new files in `data`'s file fields belong to `record` from now on (files another record holds stay)."""
    for name, value in data.items():
        field = spec.fields.get(name)
        if field is None or field.kind not in (FILE, FILE_LIST) or value is None:
            continue
        held = stored.get(name)
        kept = set(held if isinstance(held, list) else [held])
        ids = [i for i in (value if isinstance(value, list) else [value]) if i not in kept]
        for row in session.scalars(
            select(StoredFile).where(StoredFile.id.in_(ids), StoredFile.record_id.is_(None))
        ):
            row.record_type, row.record_id, row.field = spec.name, record.id, name
