"""Files attached to records: stored once by content hash under the instance folder.

The database keeps who uploaded what, for which record; the bytes live in
instance/files/<hash[:2]>/<hash>. Downloads go through the records service, so
the same access rules apply to a file as to its record.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from typing import BinaryIO

from flask_babel import lazy_gettext as _
from sqlalchemy.orm import Session

from itpm.access import Actor
from itpm.models import StoredFile

MAX_FILE_BYTES = 20 * 1024 * 1024


class FileRefused(ValueError):
    pass


def file_path(root: Path, sha256: str) -> Path:
    return root / "files" / sha256[:2] / sha256


def store_file(
    session: Session,
    root: Path,
    stream: BinaryIO,
    filename: str,
    content_type: str | None,
    actor: Actor,
    record_type: str,
    field: str | None = None,
) -> StoredFile:
    """Keep an uploaded file (not yet linked to a record) and return its row."""
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise FileRefused(
            _("%(name)s is larger than %(limit)s MB.", name=filename, limit=MAX_FILE_BYTES // 1024 // 1024)
        )
    if not data:
        raise FileRefused(_("%(name)s is empty.", name=filename))
    digest = hashlib.sha256(data).hexdigest()
    path = file_path(root, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".part")
        temporary.write_bytes(data)
        temporary.replace(path)
    name = Path(filename or "file").name[:255] or "file"
    stored = StoredFile(
        record_type=record_type,
        field=field,
        filename=name,
        content_type=content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
        size=len(data),
        sha256=digest,
        uploaded_by_id=actor.id,
        uploaded_by=actor.username,
    )
    session.add(stored)
    session.flush()
    return stored
