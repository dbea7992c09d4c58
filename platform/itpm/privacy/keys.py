"""Per-person keys: the personal values in the audit log are sealed under the key of the person they are
about, so destroying that key (an erasure) erases them from the log while every hash still holds.

The capture (PostgreSQL's triggers, SQLite's flush) marks an entry's personal columns and their subject
(`detail.personal = {"subject": <person id>, "columns": [...]}`) and writes them plain; `seal_personal`
replaces each marked value pair by `{"sealed": <AES-256-GCM token>}` before the entry is chained
(`itpm.audit.chain.seal`), in the same transaction: the hash covers the ciphertext, never the value.
An entry whose subject is unknown (a record with nobody in its subject field) keeps its values plain.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text, cast, delete, insert, select, update
from sqlalchemy.engine import Connection

from itpm.db import utcnow
from itpm.models import AuditEntry, PersonalKey

AUDIT = AuditEntry.__table__
KEYS = PersonalKey.__table__
SEALED = "sealed"


def _aad(entry_id: int, column: str) -> bytes:
    """What a token is bound to: its entry and column (a token moved elsewhere does not open)."""
    return f"itpm-audit:{entry_id}:{column}".encode()


def keys_of(connection: Connection, people: Iterable[int], create: bool = False) -> dict[int, bytes]:
    """The keys of these people (made for those without one when `create`); an erased person has none."""
    wanted = {int(p) for p in people}
    if not wanted:
        return {}
    found = {
        row.person_id: base64.b64decode(row.key)
        for row in connection.execute(
            select(KEYS.c.person_id, KEYS.c.key).where(KEYS.c.person_id.in_(wanted))
        )
    }
    missing = wanted - set(found)
    if create and missing:
        made = {person: os.urandom(32) for person in sorted(missing)}
        connection.execute(
            insert(KEYS),
            [
                {"person_id": p, "key": base64.b64encode(k).decode(), "created_at": utcnow()}
                for p, k in made.items()
            ],
        )
        found |= made
    return found


def seal_personal(connection: Connection, entries: Sequence[tuple[int, str]]) -> dict[int, str]:
    """Seal the marked personal values of these entries not chained yet (id, detail as the database's
    text); the new text of each detail that changed, by entry id.

    Called by `itpm.audit.chain.seal` under its lock, before the hashes are taken: the keys of all the
    subjects are read at once, and each marked entry is updated once (its new text read back with it)."""
    marked = list(_marked(entries))
    if not marked:
        return {}
    subjects = {d["personal"].get("subject") for _, d in marked}
    keys = keys_of(connection, (s for s in subjects if isinstance(s, int)), create=True)
    texts = {}
    for entry_id, detail in marked:
        sealed = sealed_detail(entry_id, detail, keys.get(detail["personal"].get("subject")))
        if sealed is not None:
            texts[entry_id] = connection.scalar(
                update(AUDIT)
                .where(AUDIT.c.id == entry_id)
                .values(detail=sealed)
                .returning(cast(AUDIT.c.detail, Text))
            )
    return texts


def sealed_details(
    connection: Connection, entries: Sequence[tuple[int, str, str | None]]
) -> dict[int, dict[str, Any]]:
    """The details of these entries (id, detail's text, its subject's key as stored or None) with their marked
    personal values sealed, by entry id (those that changed); keys are made for subjects without one."""
    marked = list(_marked((e[0], e[1]) for e in entries))
    stored = {entry_id: base64.b64decode(key) for entry_id, _, key in entries if key}
    keyless = {d["personal"].get("subject") for entry_id, d in marked if entry_id not in stored}
    made = keys_of(connection, (s for s in keyless if isinstance(s, int)), create=True) if keyless else {}
    details = {}
    for entry_id, detail in marked:
        key = stored.get(entry_id) or made.get(detail["personal"].get("subject"))
        sealed = sealed_detail(entry_id, detail, key)
        if sealed is not None:
            details[entry_id] = sealed
    return details


def _marked(entries: Iterable[tuple[int, str]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The entries whose detail marks personal values (id, the detail parsed)."""
    for entry_id, text in entries:
        if '"personal"' not in text:  # most entries: no parsing
            continue
        detail = json.loads(text)
        if isinstance(detail, dict) and isinstance(detail.get("personal"), dict):
            yield entry_id, detail


def sealed_detail(entry_id: int, detail: dict[str, Any], key: bytes | None) -> dict[str, Any] | None:
    """The detail with its marked personal values sealed under `key` (None: nothing to seal, or no key)."""
    changes = dict(detail.get("changes") or {})
    todo = [c for c in detail["personal"].get("columns", ()) if c in changes and not _is_sealed(changes[c])]
    if key is None or not todo:
        return None
    aes = AESGCM(key)
    for column in todo:
        nonce = os.urandom(12)
        plain = json.dumps(changes[column], ensure_ascii=False, separators=(",", ":")).encode()
        token = base64.b64encode(nonce + aes.encrypt(nonce, plain, _aad(entry_id, column))).decode()
        changes[column] = {SEALED: token}
    return {**detail, "changes": changes}


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and SEALED in value


def open_changes(
    connection: Connection, entries: Iterable[AuditEntry], erased: Any = None
) -> dict[int, dict]:
    """Each entry's changes with its sealed values opened, by entry id; `erased` stands for a value whose
    key is gone (the person was erased). The entries themselves are left as they are."""
    entries = list(entries)
    subjects = {
        (e.detail.get("personal") or {}).get("subject") for e in entries if isinstance(e.detail, dict)
    }
    keys = keys_of(connection, (s for s in subjects if isinstance(s, int)))
    opened: dict[int, dict] = {}
    for entry in entries:
        detail = entry.detail if isinstance(entry.detail, dict) else {}
        changes = dict(detail.get("changes") or {})
        key = keys.get((detail.get("personal") or {}).get("subject"))
        for column, value in changes.items():
            if _is_sealed(value):
                changes[column] = _open(key, entry.id, column, value[SEALED], erased)
        opened[entry.id] = changes
    return opened


def _open(key: bytes | None, entry_id: int, column: str, token: str, erased: Any) -> list[Any]:
    if key is None:
        return [erased, erased]
    raw = base64.b64decode(token)
    try:
        return json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], _aad(entry_id, column)))
    except (InvalidTag, ValueError):
        return [erased, erased]


def destroy_key(connection: Connection, person_id: int) -> bool:
    """Destroy a person's key: their sealed values in the audit log can never be read again."""
    return bool(connection.execute(delete(KEYS).where(KEYS.c.person_id == person_id)).rowcount)
