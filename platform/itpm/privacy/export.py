"""The subject-access export: what the installation holds about one person, as a zip of `data.json`
(everything, machine-readable), `summary.pdf` (the same for people, in English and Chinese) and the
files they uploaded. Made by a job (`itpm.privacy.jobs`) and kept as a file for admins to download.

Gathered with the system's rights, for an admin holding the `manage_personal_data` ability: their
profile, the records whose subject they are or that name them (created by, owner, assignee or any
person field), their comments, files and notifications, and the audit entries by or about them (with
their sealed personal values opened, while their key exists).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Text, cast, or_, select
from sqlalchemy.orm import Session

from itpm.catalog import Catalog
from itpm.files import file_path
from itpm.models import AuditEntry, Comment, Notification, Person, StoredFile
from itpm.privacy.keys import open_changes
from itpm.records.fields import USER, USER_LIST
from itpm.reports.pdf import render_pdf

TEMPLATES = Environment(loader=PackageLoader("itpm", "templates"), autoescape=select_autoescape())
#: The file rows of exports (no record type holds them: only the privacy screens give them out).
EXPORT_FILES = "privacy_export"
ERASED = "(erased / 已删除)"


def _when(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def subject_data(session: Session, catalog: Catalog, person_id: int) -> dict[str, Any]:
    """Everything held about the person, as plain JSON values."""
    person = session.get(Person, person_id)
    if person is None:
        raise LookupError(f"no person #{person_id}")
    profile = {
        "id": person.id,
        "username": person.username,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "active": person.active,
        "department": person.department.name if person.department else None,
        "team": person.team.name if person.team else None,
        "roles": sorted(role.name for role in person.roles),
        "locale": person.locale,
        "timezone": person.timezone,
        "leave": person.leave,
        "skills": person.skills,
        "created_on": _when(person.created_on),
        "last_login": _when(person.last_login),
    }
    return {
        "person": profile,
        "records": _records(session, catalog, person_id),
        "comments": [
            {
                "record": f"{c.record_type}/{c.record_id}",
                "at": _when(c.created_at),
                "internal": c.internal,
                "body": c.body,
            }
            for c in session.scalars(
                select(Comment).where(Comment.author_id == person_id).order_by(Comment.id)
            )
        ],
        "files": [
            {
                "id": f.id,
                "record": f"{f.record_type}/{f.record_id}",
                "filename": f.filename,
                "content_type": f.content_type,
                "size": f.size,
                "sha256": f.sha256,
                "uploaded_at": _when(f.uploaded_at),
            }
            for f in session.scalars(
                select(StoredFile)
                .where(
                    StoredFile.uploaded_by_id == person_id,
                    StoredFile.deleted.is_(False),
                    StoredFile.record_type != EXPORT_FILES,
                )
                .order_by(StoredFile.id)
            )
        ],
        "notifications": [
            {
                "at": _when(n.created_at),
                "read_at": _when(n.read_at),
                "subject": n.subject,
                "body": n.body,
                "link": n.link,
            }
            for n in session.scalars(
                select(Notification).where(Notification.person_id == person_id).order_by(Notification.id)
            )
        ],
        "audit": _audit(session, person, person_id),
    }


def _records(session: Session, catalog: Catalog, person_id: int) -> list[dict[str, Any]]:
    found = []
    for type_name, spec in catalog.record_types.items():
        model = catalog.models.models[type_name]
        people = {"created_by": "created_by_id", "owner": "owner_id", "assignee": "assignee_id"}
        people |= {name: f.column for name, f in spec.fields.items() if f.kind == USER}
        lists = {name: f.column for name, f in spec.fields.items() if f.kind == USER_LIST}
        conditions = [getattr(model, column) == person_id for column in people.values()]
        conditions += [
            cast(getattr(model, column), Text).contains(str(person_id)) for column in lists.values()
        ]
        for record in session.scalars(select(model).where(or_(*conditions)).order_by(model.id)):
            named = [n for n, column in people.items() if getattr(record, column) == person_id]
            named += [n for n, column in lists.items() if person_id in (getattr(record, column) or [])]
            if not named:
                continue
            subject = getattr(record, spec.subject_column) == person_id
            found.append(
                {
                    "type": type_name,
                    "title": spec.title,
                    "number": record.number,
                    "label": str(record),
                    "state": record.state,
                    "created_at": _when(record.created_at),
                    "named_as": named,
                    "subject": subject,
                    "personal": {
                        name: getattr(record, spec.fields[name].column)
                        for name in sorted(spec.personal_fields)
                    }
                    if subject
                    else {},
                }
            )
    return found


def _audit(session: Session, person: Person, person_id: int) -> list[dict[str, Any]]:
    detail = cast(AuditEntry.detail, Text)
    entries = list(
        session.scalars(
            select(AuditEntry)
            .where(
                or_(
                    AuditEntry.actor == person.username,
                    AuditEntry.target.in_([f"user/{person_id}", f"user/{person.username}"]),
                    detail.contains(f'"subject": {person_id},'),
                    detail.contains(f'"subject": {person_id}}}'),
                )
            )
            .order_by(AuditEntry.id)
        )
    )
    opened = open_changes(session.connection(), entries, erased=ERASED)
    return [
        {
            "seq": e.seq,
            "at": _when(e.at),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "address": e.address,
            "changes": opened[e.id],
        }
        for e in entries
    ]


def export_zip(
    session: Session, catalog: Catalog, person_id: int, files_root: Path, now: dt.datetime
) -> bytes:
    """The zip: data.json, summary.pdf, and the person's files under files/."""
    data = subject_data(session, catalog, person_id)
    data["made_at"] = _when(now)
    html = TEMPLATES.get_template("itpm/privacy/summary.html").render(
        data=data, made_at=f"{now:%Y-%m-%d %H:%M} UTC"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
        archive.writestr("summary.pdf", render_pdf(html, {}))
        for file in data["files"]:
            path = file_path(files_root, file["sha256"])
            if path.exists():
                archive.write(path, f"files/{file['id']}-{Path(file['filename']).name}")
    return buffer.getvalue()


def keep_export(session: Session, files_root: Path, person_id: int, content: bytes) -> StoredFile:
    """Keep the zip like an attachment (by its hash under the instance folder), for the privacy screens."""
    digest = hashlib.sha256(content).hexdigest()
    path = file_path(files_root, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".part").write_bytes(content)
        path.with_suffix(".part").replace(path)
    stored = StoredFile(
        record_type=EXPORT_FILES,
        filename=f"personal-data-{person_id}.zip",
        content_type="application/zip",
        size=len(content),
        sha256=digest,
        uploaded_by="system",
    )
    session.add(stored)
    session.flush()
    return stored
