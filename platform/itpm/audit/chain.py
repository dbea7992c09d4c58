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

from sqlalchemy import Text, bindparam, cast, func, literal_column, select, text, update
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
#: PostgreSQL's text of `canonical`, made by the database as it reads the entry, so that `verify` only
#: hashes: to_json writes a string exactly as json.dumps(ensure_ascii=False) does (the same escapes, lower
#: case \u00XX for the other control characters, nothing else escaped), and integers as Python does.
CANONICAL_SQL = literal_column(
    "'[' || seq || ',' || id || ',' || "
    + " || ',' || ".join(
        f"coalesce(to_json({value})::text, 'null')"
        for value in (
            "CAST(at AS text)",
            "actor",
            "action",
            "target",
            "address",
            "request",
            "CAST(detail AS text)",
        )
    )
    + " || ']'"
).label("canonical")


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

    Call it last in a transaction: on PostgreSQL the lock it takes is held until the commit. After the
    lock, one query reads the unsealed entries with the chain's head; personal values are sealed (one
    update per entry that has them, `seal_personal`), then one update chains them all."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEAL_LOCK})
    last = select(AUDIT.c.seq).where(AUDIT.c.seq.is_not(None)).order_by(AUDIT.c.seq.desc()).limit(1)
    rows = connection.execute(
        select(
            *CONTENT_COLUMNS,
            last.scalar_subquery().label("head_seq"),
            last.with_only_columns(AUDIT.c.hash).scalar_subquery().label("head_hash"),
        )
        .where(AUDIT.c.seq.is_(None))
        .order_by(AUDIT.c.id)
    ).all()
    if not rows:
        return 0
    seq, prev = (rows[0].head_seq, rows[0].head_hash) if rows[0].head_seq else (0, GENESIS)
    # personal values encrypted first: the hashes cover the ciphertext
    details = seal_personal(connection, [(row.id, row.detail) for row in rows])
    sealed = []
    for row in rows:
        seq += 1
        entry = content(seq, row)
        entry["detail"] = details.get(row.id, row.detail)
        digest = entry_hash(prev, entry)
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


def verify(connection: Connection, since: dt.datetime | None = None, batch: int = 20_000) -> Verdict:
    """Walk the chain in order, each entry checked against the one before; stop at the first problem.

    `since`: start at the first entry at or after that moment, trusting the hash it names as its
    previous (a signed checkpoint anchors it). An unsealed entry is a problem too: a transaction of
    the application seals its entries before it commits, so one left unsealed came from elsewhere.
    The entries are streamed (a server-side cursor on PostgreSQL, `batch` rows a round trip); on
    PostgreSQL the database writes each entry's canonical text (`CANONICAL_SQL`), elsewhere Python does."""
    verdict = Verdict()
    sha256 = hashlib.sha256
    start = 1
    if since is not None:
        start = connection.scalar(select(func.min(AUDIT.c.seq)).where(AUDIT.c.at >= since)) or 0
    postgres = connection.dialect.name == "postgresql"
    content_columns = (CANONICAL_SQL,) if postgres else CONTENT_COLUMNS
    columns = (AUDIT.c.seq, AUDIT.c.prev_hash, AUDIT.c.hash, *content_columns)
    rows = (
        _raw_rows(connection, select(*columns).where(AUDIT.c.seq >= start).order_by(AUDIT.c.seq), batch)
        if start
        else ()
    )
    if not postgres:
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        rows = ((seq, p, h, dumps([seq, *values])) for seq, p, h, *values in rows)
    prev: str | None = None
    expected = start
    for seq, prev_hash, row_hash, payload in rows:
        if seq != expected:
            verdict.problem = Problem(
                _entry_id(payload), seq, f"the entries of seq {expected} to {seq - 1} are missing (removed)"
            )
            return verdict
        if prev is None:
            prev = GENESIS if seq == 1 else prev_hash
        if prev_hash != prev:
            verdict.problem = Problem(
                _entry_id(payload), seq, "its previous hash is not the hash of the entry before it"
            )
            return verdict
        digest = sha256(f"{prev}\n{payload}".encode()).hexdigest()
        if digest != row_hash:
            verdict.problem = Problem(
                _entry_id(payload), seq, "its content does not match its hash (changed or inserted)"
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


def _entry_id(payload: str) -> int:
    """The entry's id, the second value of its canonical text (read only to name a problem)."""
    return json.loads(payload)[1]


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
