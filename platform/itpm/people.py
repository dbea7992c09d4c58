"""Which people an actor may see, and so find in a picker and name on a record.

A client organisation's user sees the company's staff (people of no client
organisation) and the people of their own organisation; staff and the system
see everyone. The records service (person fields, owner, assignee) and the
people pickers ask here, so a client can neither find nor name another
organisation's people. And nobody names a client organisation's user on a
record of another organisation (or of none): automations would write to them
about it.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_appbuilder.security.sqla.models import Role
from sqlalchemy import or_, select, true
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from itpm.access import Actor
from itpm.models import Person


def visible_people(actor: Actor) -> ColumnElement[bool]:
    """A condition on `Person` selecting the people `actor` may see."""
    if actor.is_system or actor.client_id is None:
        return true()
    return or_(Person.client_id.is_(None), Person.client_id.in_(sorted(actor.organisations)))


def display_name(first: str | None, last: str | None, username: str) -> str:
    """How a person is named to people: "蒋宁 Jiang Ning" (their first and last name), else their user name."""
    return f"{first or ''} {last or ''}".strip() or username


def names_of(session: Session, actor: Actor, ids: Iterable[int]) -> dict[int, str | None]:
    """The names of the people of `ids` as `actor` may read them: None for one of an organisation they may
    not see (a client's user reads the staff and their own organisations' people), who is named by
    neither name nor login name."""
    ids = set(ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Person.id, Person.first_name, Person.last_name, Person.username, visible_people(actor)).where(
            Person.id.in_(ids)
        )
    )
    return {i: display_name(first, last, user) if seen else None for i, first, last, user, seen in rows}


def nameable_people(session: Session, actor: Actor, ids: Iterable[int]) -> set[int]:
    """Which of `ids` are active people `actor` may name on a record (as owner, assignee, in a person field)."""
    ids = list(ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Person.id).where(Person.id.in_(ids), Person.active.is_(True), visible_people(actor))
        )
    )


def of_other_organisations(session: Session, ids: Iterable[int], client_id: int | None) -> set[int]:
    """Which of `ids` are users of a client organisation other than `client_id` (a record's client)."""
    ids = list(ids)
    if not ids:
        return set()
    query = select(Person.id).where(Person.id.in_(ids), Person.client_id.is_not(None))
    if client_id is not None:
        query = query.where(Person.client_id != client_id)
    return set(session.scalars(query))


def managed_people(session: Session) -> set[str]:
    """The user names of the active people whose manager is an active person (a step decided by the
    requester's manager can be decided when they ask)."""
    manager = aliased(Person)
    found = select(Person.username).join(manager, Person.manager_id == manager.id)
    return set(session.scalars(found.where(Person.active.is_(True), manager.active.is_(True))))


def role_holders(session: Session) -> dict[str, list[str]]:
    """The user names of the active people holding each role, by role name (a role nobody holds: absent)."""
    rows = session.execute(
        select(Role.name, Person.username)
        .join(Person.roles)
        .where(Person.active.is_(True))
        .order_by(Person.username)
    )
    holders: dict[str, list[str]] = {}
    for role, username in rows:
        holders.setdefault(role, []).append(username)
    return holders
