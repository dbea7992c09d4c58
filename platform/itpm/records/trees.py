"""Records in a tree: a record type whose `parent` field names a record of the same type.

The client organisations are one (a group and its subsidiaries): a client manager reads
the rows of the organisations below their own (`client_tree` in `itpm.access`). Each
lookup is one recursive query, made once per actor, never per row; `union` (not
`union all`) ends it even on data that somehow holds a circle.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itpm.access import Access, Actor
from itpm.records.fields import CLIENT_TYPE, RecordTypeSpec


def _table_and_parent(catalog: Any, spec: RecordTypeSpec) -> tuple[Any, Any] | None:
    if spec.parent is None or spec.parent not in spec.fields or spec.name not in catalog.models.models:
        return None
    table = catalog.models.models[spec.name].__table__
    return table, table.c[spec.fields[spec.parent].column]


def below(session: Session, catalog: Any, type_name: str, record_id: int) -> frozenset[int]:
    """The record and every record below it (its children, theirs, and so on)."""
    spec = catalog.record_types.get(type_name)
    found = _table_and_parent(catalog, spec) if spec is not None else None
    if found is None:
        return frozenset({record_id})
    table, parent = found
    tree = select(table.c.id).where(table.c.id == record_id).cte("below", recursive=True)
    tree = tree.union(select(table.c.id).join(tree, parent == tree.c.id))
    return frozenset(session.scalars(select(tree.c.id))) | {record_id}


def with_organisations(session: Session, catalog: Any, access: Access, actor: Actor) -> Actor:
    """The actor with the client organisations below their own looked up, when a role of theirs reads
    rows by `client_tree` (as is: staff, the system, an actor resolved already)."""
    if actor.client_tree is not None or not access.reads_tree(actor):
        return actor
    return replace(actor, client_tree=below(session, catalog, CLIENT_TYPE, actor.client_id))


def above(session: Session, catalog: Any, spec: RecordTypeSpec, record_id: int) -> frozenset[int]:
    """The record and the records above it: its parent, the parent's parent, and so on."""
    found = _table_and_parent(catalog, spec)
    if found is None:
        return frozenset({record_id})
    table, parent = found
    chain = select(table.c.id, parent.label("up")).where(table.c.id == record_id).cte("above", recursive=True)
    chain = chain.union(select(table.c.id, parent).join(chain, table.c.id == chain.c.up))
    return frozenset(session.scalars(select(chain.c.id))) | {record_id}
