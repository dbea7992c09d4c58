"""Erasing a person: asked by an admin, approved by a second one (never the one who asked), then done
in one transaction: the personal fields of the records about them pseudonymised, their profile
anonymised, their name and e-mail scrubbed wherever else they were written, their notifications
deleted, and their key destroyed, which leaves their personal values in the audit log unreadable
while every hash of the chain stays as it was. The request stays as the record of the erasure.

The erasure's own changes are audited like any other, sealed under the person's key (the audit capture
is told, `itpm.audit.capture.ERASING`), so the values it removes are not written to the log again
in the clear. What the audit log held in the clear before stays: the sign-in name in its `actor`
column (the account is renamed, so it no longer leads to the person) and free text written outside
personal fields (mark such fields `x-personal`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask_appbuilder.security.sqla.models import User as FabUser
from flask_babel import lazy_gettext as _
from sqlalchemy import JSON, String, Text, cast, delete, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from werkzeug.security import generate_password_hash

from itpm.access import Actor
from itpm.audit import chain
from itpm.audit.capture import ERASING
from itpm.catalog import Catalog
from itpm.db import utcnow
from itpm.files import file_path
from itpm.models import (
    AuditCheckpoint,
    AuditEntry,
    Base,
    Definition,
    DefinitionVersion,
    Notification,
    Person,
    PersonalKey,
    PrivacyRequest,
    Revision,
    StoredFile,
)
from itpm.privacy.keys import destroy_key

#: Tables never scrubbed: the audit log (append-only: its personal values go with the key), the keys,
#: and the definitions (configuration, not people's data).
UNTOUCHED = (AuditEntry, AuditCheckpoint, PersonalKey, Definition, DefinitionVersion, Revision)
AWAITING, DONE, REJECTED = "awaiting_approval", "done", "rejected"


class PrivacyRefused(ValueError):
    """A privacy request that cannot be made or decided, and why."""


def pseudonym(person_id: int) -> str:
    return f"erased-{person_id}"


def request_erasure(session: Session, person_id: int, requester: Actor, reason: str) -> PrivacyRequest:
    """Ask for a person's erasure; it waits for a second admin's approval."""
    person = session.get(Person, person_id)
    if person is None or person.username == pseudonym(person_id):
        raise PrivacyRefused(_("No person #%(id)s to erase (or already erased).", id=person_id))
    if not reason.strip():
        raise PrivacyRefused(_("reason: say why the person is erased (their request, a retention rule...)."))
    waiting = session.scalar(
        select(PrivacyRequest.id).where(
            PrivacyRequest.kind == "erasure",
            PrivacyRequest.person_id == person_id,
            PrivacyRequest.status == AWAITING,
        )
    )
    if waiting is not None:
        raise PrivacyRefused(
            _("An erasure of this person waits for approval already (request #%(id)s).", id=waiting)
        )
    request = PrivacyRequest(
        kind="erasure",
        person_id=person_id,
        status=AWAITING,
        reason=reason.strip()[:2000],
        requested_by_id=requester.id,
        requested_by=requester.username,
    )
    session.add(request)
    session.flush()
    return request


def decide_erasure(
    session: Session, catalog: Catalog, request_id: int, approver: Actor, approve: bool, files_root: Path
) -> PrivacyRequest:
    """Approve (and carry out) or reject an erasure: by someone other than who asked and who is erased.

    Commits: the decision first, then the erasure in a transaction of its own."""
    request = session.get(PrivacyRequest, request_id)
    if request is None or request.kind != "erasure":
        raise PrivacyRefused(_("No erasure request #%(id)s.", id=request_id))
    if request.status != AWAITING:
        raise PrivacyRefused(_("Erasure request #%(id)s was decided already.", id=request_id))
    if approver.id is not None and approver.id == request.requested_by_id:
        raise PrivacyRefused(_("Who asked for an erasure cannot approve it: a second admin decides."))
    if approver.id is not None and approver.id == request.person_id:
        raise PrivacyRefused(_("A person cannot decide their own erasure."))
    request.decided_by_id, request.decided_by, request.decided_at = approver.id, approver.username, utcnow()
    request.status = "running" if approve else REJECTED
    session.commit()
    if not approve:
        return request
    request.started_at = utcnow()
    request.summary = erase(session, catalog, request.person_id, files_root)
    request.status, request.finished_at = DONE, utcnow()
    session.commit()
    return request


def erase(session: Session, catalog: Catalog, person_id: int, files_root: Path) -> dict[str, int]:
    """Erase the person (see the module's docstring) and commit; what was done, counted."""
    person = session.get(Person, person_id)
    if person is None:
        raise PrivacyRefused(_("No person #%(id)s to erase (or already erased).", id=person_id))
    name = pseudonym(person_id)
    username = person.username
    needles = _needles(person, _personal_values(session, catalog, person_id))
    session.commit()  # what went before is not the erasure's: its own transaction starts here
    session.info[ERASING] = person_id
    try:
        summary = {"records": _pseudonymise_records(session, catalog, person_id, name)}
        _anonymise_profile(person, name)
        session.flush()
        summary["notifications"] = session.execute(
            delete(Notification).where(Notification.person_id == person_id)
        ).rowcount
        summary["exports"] = _drop_exports(session, person_id, files_root)
        summary["texts"] = _scrub(session, catalog, needles, username, name)
        session.flush()
        chain.seal(session.connection())  # what the erasure removed, sealed under the key destroyed next
        summary["key_destroyed"] = int(destroy_key(session.connection(), person_id))
        session.commit()
    finally:
        session.info.pop(ERASING, None)
    return summary


def _drop_exports(session: Session, person_id: int, files_root: Path) -> int:
    """The person's earlier subject-access exports: their zips are deleted, from the disk too."""
    exports = session.scalars(
        select(PrivacyRequest).where(
            PrivacyRequest.kind == "export",
            PrivacyRequest.person_id == person_id,
            PrivacyRequest.file_id.is_not(None),
        )
    ).all()
    for request in exports:
        stored = session.get(StoredFile, request.file_id)
        request.file_id = None
        if stored is None:
            continue
        session.delete(stored)
        session.flush()
        if session.scalar(select(StoredFile.id).where(StoredFile.sha256 == stored.sha256).limit(1)) is None:
            file_path(files_root, stored.sha256).unlink(missing_ok=True)
    return len(exports)


def _personal_values(session: Session, catalog: Catalog, person_id: int) -> set[str]:
    """The texts in the personal fields of records about the person (a name, a phone number ...)."""
    values = set()
    for type_name, spec in catalog.record_types.items():
        if spec.personal_fields:
            model = catalog.models.models[type_name]
            columns = [getattr(model, spec.fields[name].column) for name in spec.personal_fields]
            for row in session.execute(
                select(*columns).where(getattr(model, spec.subject_column) == person_id)
            ):
                values |= {v.strip() for v in row if isinstance(v, str)}
    return values


def _needles(person: Person, personal: set[str]) -> list[str]:
    """The texts that name the person: full name (both orders, with and without a space), e-mail, and
    the values of the personal fields about them."""
    first, last = (person.first_name or "").strip(), (person.last_name or "").strip()
    found = {person.email or "", *personal}
    if first and last:
        found |= {f"{first} {last}", f"{last} {first}", f"{last}{first}", f"{first}{last}"}
    return sorted((n for n in found if len(n) >= 3), key=len, reverse=True)


def _pseudonymise_records(session: Session, catalog: Catalog, person_id: int, name: str) -> int:
    """The personal fields of records whose subject is the person: text becomes the pseudonym, others empty."""
    count = 0
    for type_name, spec in catalog.record_types.items():
        if not spec.personal_fields:
            continue
        model = catalog.models.models[type_name]
        subject = getattr(model, spec.subject_column)
        for record in session.scalars(select(model).where(subject == person_id)):
            for field_name in spec.personal_fields:
                field = spec.fields[field_name]
                value = getattr(record, field.column)
                if value is not None:
                    setattr(record, field.column, name if isinstance(value, str) else None)
            count += 1
    return count


def _anonymise_profile(person: Person, name: str) -> None:
    person.username = name
    person.first_name, person.last_name = "Erased", f"#{person.id}"
    person.email = f"{name}@erased.invalid"
    person.active = False
    person.password = generate_password_hash(secrets.token_urlsafe(32))
    person.roles = []
    person.leave = person.skills = person.locale = person.timezone = person.away_until = None
    person.weekly_hours = None
    person.email_kinds = None
    person.session_generation = (person.session_generation or 0) + 1


def _mapped_classes(catalog: Catalog) -> Iterable[type]:
    seen = set()
    for registry in (Base.registry, FabUser.registry):
        for mapper in registry.mappers:
            table = mapper.local_table.name
            if mapper.class_ not in UNTOUCHED and table != "ab_user" and table not in seen:
                seen.add(table)
                yield mapper.class_
    yield from catalog.models.models.values()


def _scrub(session: Session, catalog: Catalog, needles: list[str], username: str, name: str) -> int:
    """Replace the person's name and e-mail in every text (and JSON) column, and their sign-in name where
    a column holds exactly it (history, comments' authors, files' uploaders ...); how many rows changed."""
    escaped = [json.dumps(n)[1:-1] for n in needles]  # as SQLite's JSON text holds them
    changed = 0
    for cls in _mapped_classes(catalog):
        table = cls.__mapper__.local_table
        texts = [c for c in table.columns if isinstance(c.type, String | Text) and not c.primary_key]
        documents = [c for c in table.columns if isinstance(c.type, JSON) or "JSON" in type(c.type).__name__]
        conditions = [
            cast(c, Text).contains(n, autoescape=True)
            for c in texts + documents
            for n in {*needles, *escaped}
        ]
        conditions += [c == username for c in texts]
        conditions += [cast(c, Text).contains(json.dumps(username), autoescape=True) for c in documents]
        if not conditions:
            continue
        for row in session.scalars(select(cls).where(or_(*conditions))):
            touched = False
            for column in texts + documents:
                key = cls.__mapper__.get_property_by_column(column).key
                value = getattr(row, key)
                new = _replaced(value, needles, username, name)
                if new != value:
                    setattr(row, key, new)
                    if column in documents:
                        flag_modified(row, key)
                    touched = True
            changed += touched
    return changed


def _replaced(value: Any, needles: list[str], username: str, name: str) -> Any:
    if isinstance(value, str):
        if value == username:
            return name
        for needle in needles:
            value = value.replace(needle, name)
        return value
    if isinstance(value, list):
        return [_replaced(v, needles, username, name) for v in value]
    if isinstance(value, dict):
        return {k: _replaced(v, needles, username, name) for k, v in value.items()}
    return value
