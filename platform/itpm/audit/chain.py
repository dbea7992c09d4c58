"""The audit log's hash chain: sealing new entries into it, and walking it to verify.

An entry's hash is SHA-256 over the previous entry's hash and the entry's
canonical content (`canonical`): changing, removing or inserting an entry
breaks the chain from there on. Entries are written unsealed (by triggers,
the ORM capture or the services) and sealed in commit order at the end of
each transaction (`seal`): on PostgreSQL under an advisory lock held to the
commit, so two writers never extend the same head (no fork). The standalone
verifier given to auditors (`itpm/audit/verifier.py`) repeats `canonical` and
`entry_hash` with Python's standard library alone: keep the two in step.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, select, text, update
from sqlalchemy.engine import Connection

from itpm.models import AuditEntry
from itpm.privacy.keys import seal_personal

GENESIS = "0" * 64
#: The advisory lock that keeps sealing one transaction at a time (any constant; "itpm" in ASCII).
SEAL_LOCK = 0x6974706D
AUDIT = AuditEntry.__table__
#: What an entry's hash covers, in order. The moment and the detail are read as the database's own text
#: of them (SQLite: as stored; PostgreSQL: its text of the timestamp and of the jsonb): hashing them needs
#: no parsing nor re-serialising, and the auditor's export holds exactly the text that was hashed.
CONTENT_COLUMNS = (
    AUDIT.c.id,
    cast(AUDIT.c.at, Text).label("at"),
    AUDIT.c.actor,
    AUDIT.c.action,
    AUDIT.c.target,
    AUDIT.c.address,
    AUDIT.c.request,
    cast(AUDIT.c.detail, Text).label("detail"),
)
CONTENT = ("seq", "id", "at", "actor", "action", "target", "address", "request", "detail")


def at_text(at: dt.datetime) -> str:
    """An entry's moment as its canonical content holds it: UTC, ISO 8601, microseconds."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content(seq: int, row: Any) -> dict[str, Any]:
    """What an entry's hash covers, as the auditor's export holds it (`at` and `detail` as text)."""
    return {
        "seq": seq,
        "id": row.id,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "address": row.address,
        "request": row.request,
        "detail": row.detail,
    }


def canonical(entry: dict[str, Any]) -> bytes:
    """A JSON array of the content's values in `CONTENT` order (compact, UTF-8)."""
    values = [entry[name] for name in CONTENT]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(entry)).hexdigest()


def seal(connection: Connection) -> int:
    """Chain the entries not sealed yet (this transaction's and any left by others), in id order.

    Call it last in a transaction: on PostgreSQL the lock it takes is held until the commit."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEAL_LOCK})
    seal_personal(connection)  # personal values encrypted first: the hashes cover the ciphertext
    rows = connection.execute(
        select(*CONTENT_COLUMNS).where(AUDIT.c.seq.is_(None)).order_by(AUDIT.c.id)
    ).all()
    if not rows:
        return 0
    head = connection.execute(
        select(AUDIT.c.seq, AUDIT.c.hash)
        .where(AUDIT.c.seq.is_not(None))
        .order_by(AUDIT.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    sealed = []
    for row in rows:
        seq += 1
        digest = entry_hash(prev, content(seq, row))
        sealed.append({"entry": row.id, "seq": seq, "prev": prev, "digest": digest})
        prev = digest
    connection.execute(
        update(AUDIT)
        .where(AUDIT.c.id == bindparam("entry"))
        .values(seq=bindparam("seq"), prev_hash=bindparam("prev"), hash=bindparam("digest")),
        sealed,
    )
    return len(sealed)


@dataclass(frozen=True)
class Problem:
    """An entry that does not match, named by its id and place in the chain."""

    entry: int | None
    seq: int | None
    what: str

    def __str__(self) -> str:
        where = f"entry #{self.entry}" if self.entry is not None else "the chain"
        place = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{where}{place}: {self.what}"


@dataclass
class Verdict:
    """What `verify` found: how many entries it checked, the head it reached, the first problem."""

    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problem: Problem | None = None


def verify(connection: Connection, since: dt.datetime | None = None, batch: int = 5000) -> Verdict:
    """Walk the chain in order, each entry checked against the one before; stop at the first problem.

    `since`: start at the first entry at or after that moment, trusting the hash it names as its
    previous (a signed checkpoint anchors it). An unsealed entry is a problem too: a transaction of
    the application seals its entries before it commits, so one left unsealed came from elsewhere."""
    verdict = Verdict()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    sha256 = hashlib.sha256
    start = 1
    if since is not None:
        start = connection.scalar(select(func.min(AUDIT.c.seq)).where(AUDIT.c.at >= since)) or 0
    columns = (*CONTENT_COLUMNS, AUDIT.c.seq, AUDIT.c.prev_hash, AUDIT.c.hash)
    rows = (
        _raw_rows(connection, select(*columns).where(AUDIT.c.seq >= start).order_by(AUDIT.c.seq), batch)
        if start
        else ()
    )
    prev: str | None = None
    expected = start
    for row_id, at, actor, action, target, address, request, detail, seq, prev_hash, row_hash in rows:
        if seq != expected:
            verdict.problem = Problem(
                row_id, seq, f"the entries of seq {expected} to {seq - 1} are missing (removed)"
            )
            return verdict
        if prev is None:
            prev = GENESIS if seq == 1 else prev_hash
        if prev_hash != prev:
            verdict.problem = Problem(row_id, seq, "its previous hash is not the hash of the entry before it")
            return verdict
        payload = dumps([seq, row_id, at, actor, action, target, address, request, detail])
        digest = sha256(prev.encode() + b"\n" + payload.encode()).hexdigest()
        if digest != row_hash:
            verdict.problem = Problem(
                row_id, seq, "its content does not match its hash (changed or inserted)"
            )
            return verdict
        prev = digest
        expected += 1
    verdict.checked = expected - start if start else 0
    if verdict.checked:
        verdict.head_seq, verdict.head_hash = expected - 1, prev or GENESIS
    stray = connection.scalar(select(func.min(AUDIT.c.id)).where(AUDIT.c.seq.is_(None)))
    if stray is not None:
        verdict.problem = Problem(
            stray, None, "it is not in the chain (written outside the application, or inserted)"
        )
    return verdict


def _raw_rows(connection: Connection, query: Any, batch: int) -> Iterator[tuple[Any, ...]]:
    """The rows of `query` as plain tuples from the driver's cursor (streamed on PostgreSQL): verify reads
    every entry, and SQLAlchemy's row objects would cost more than the hashing."""
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    raw = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql":
        cursor = raw.cursor(name="itpm_audit_verify")
        cursor.itersize = batch
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(sql)
        yield from cursor
    finally:
        cursor.close()


def head(connection: Connection) -> tuple[int, str]:
    """The newest sealed entry's place and hash ((0, GENESIS) for an empty log)."""
    row = connection.execute(
        select(AUDIT.c.seq, AUDIT.c.hash)
        .where(AUDIT.c.seq.is_not(None))
        .order_by(AUDIT.c.seq.desc())
        .limit(1)
    ).first()
    return (row.seq, row.hash) if row else (0, GENESIS)
