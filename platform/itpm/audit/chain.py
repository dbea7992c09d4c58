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

from itpm.audit.context import AuditContext
from itpm.models import AuditEntry
from itpm.privacy.keys import seal_personal, sealed_details

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
CANONICAL_TEXT = (
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
)
CANONICAL_SQL = literal_column(CANONICAL_TEXT).label("canonical")

#: PostgreSQL's sealing in one call, under the advisory lock (`seal`). A PL/pgSQL function's statements
#: each see what committed before they began, so the head read after the lock is the newest.
#: - Entries of this transaction that the row triggers wrote with no context (request "sql:<txid>") take
#:   the one given, as if it had been set before the writes: one round trip less a transaction.
#: - Unless `personal_sealed`, entries with personal values marked are returned unchained (pending_id,
#:   pending_detail, and pending_key: their subject's key, if they have one); Python seals their values
#:   (`itpm.privacy.keys.sealed_details`) and calls again with them (`sealed_ids`, `sealed_details`).
#: - Otherwise every unsealed entry is chained in id order (SHA-256 over the previous hash, a newline and
#:   `CANONICAL_TEXT`, as `entry_hash` computes) in one update, and one row tells how many (chained).
#: The unsealed entries are found through the partial index `ix_itpm_audit_unsealed` (seq IS NULL), which
#: keeps an entry for each sealed one's old version until VACUUM. A bitmap scan (the planner's choice)
#: visits them all again at every seal: 0.8 ms with 1,000 sealed since the last vacuum, growing with the
#: log. A plain index scan marks them dead as it passes (kill_prior_tuple), and the next seal skips them:
#: 0.01 ms. So the function runs without bitmap scans.
SEAL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION itpm_audit_seal(
  lock_key bigint, own_actor text, own_address text, own_request text, personal_sealed boolean,
  sealed_ids integer[], sealed_details text[]
) RETURNS TABLE (pending_id integer, pending_detail text, pending_key text, chained integer)
LANGUAGE plpgsql SET enable_bitmapscan = off AS $$
DECLARE
  own text := 'sql:' || txid_current();
  head_seq integer;
  head_hash text;
  entry record;
  ids integer[] := '{{}}';
  prevs text[] := '{{}}';
  hashes text[] := '{{}}';
  actors text[] := '{{}}';
  addresses text[] := '{{}}';
  requests text[] := '{{}}';
BEGIN
  PERFORM pg_advisory_xact_lock(lock_key);
  IF NOT personal_sealed THEN
    RETURN QUERY SELECT a.id, a.detail::text, k.key::text, NULL::integer
      FROM itpm_audit a
      LEFT JOIN itpm_personal_key k ON jsonb_typeof(a.detail #> '{{personal,subject}}') = 'number'
                                   AND k.person_id = (a.detail #>> '{{personal,subject}}')::integer
      WHERE a.seq IS NULL AND a.detail ? 'personal' ORDER BY a.id;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  IF cardinality(sealed_ids) > 0 THEN
    UPDATE itpm_audit a SET detail = s.detail::jsonb
      FROM unnest(sealed_ids, sealed_details) AS s(id, detail)
     WHERE a.id = s.id AND a.seq IS NULL;
  END IF;
  SELECT a.seq, a.hash INTO head_seq, head_hash FROM itpm_audit a
    WHERE a.seq IS NOT NULL ORDER BY a.seq DESC LIMIT 1;
  head_seq := coalesce(head_seq, 0);
  head_hash := coalesce(head_hash, '{GENESIS}');
  FOR entry IN
    SELECT e.id, e.actor, e.address, e.request, {CANONICAL_TEXT} AS canonical
      FROM (
        SELECT u.id, head_seq + row_number() OVER (ORDER BY u.id) AS seq, u.at, u.action, u.target, u.detail,
               CASE WHEN u.request = own AND own_actor IS NOT NULL THEN own_actor ELSE u.actor END AS actor,
               CASE WHEN u.request = own AND own_actor IS NOT NULL THEN own_address ELSE u.address END AS address,
               CASE WHEN u.request = own AND own_actor IS NOT NULL THEN coalesce(own_request, u.request)
                    ELSE u.request END AS request
          FROM itpm_audit u WHERE u.seq IS NULL
      ) e
     ORDER BY e.id
  LOOP
    prevs := prevs || head_hash;
    head_hash := encode(sha256(convert_to(head_hash || E'\\n' || entry.canonical, 'UTF8')), 'hex');
    ids := ids || entry.id;
    hashes := hashes || head_hash;
    actors := actors || entry.actor::text;
    addresses := addresses || entry.address::text;
    requests := requests || entry.request::text;
  END LOOP;
  UPDATE itpm_audit a
     SET seq = head_seq + s.place, prev_hash = s.prev, hash = s.digest,
         actor = s.actor, address = s.address, request = s.request
    FROM unnest(ids, prevs, hashes, actors, addresses, requests) WITH ORDINALITY
         AS s(id, prev, digest, actor, address, request, place)
   WHERE a.id = s.id;
  RETURN QUERY SELECT NULL::integer, NULL::text, NULL::text, cardinality(ids);
END
$$;
"""


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


_HEAD = select(AUDIT.c.seq).where(AUDIT.c.seq.is_not(None)).order_by(AUDIT.c.seq.desc()).limit(1)
#: The entries not chained yet, in order, each with the chain's head (SQLite's seal; built once: every
#: commit that wrote asks it, and building the statement cost as much as running it).
_UNSEALED = (
    select(
        *CONTENT_COLUMNS,
        _HEAD.scalar_subquery().label("head_seq"),
        _HEAD.with_only_columns(AUDIT.c.hash).scalar_subquery().label("head_hash"),
    )
    .where(AUDIT.c.seq.is_(None))
    .order_by(AUDIT.c.id)
)
_SEALED = (
    update(AUDIT)
    .where(AUDIT.c.id == bindparam("entry"))
    .values(seq=bindparam("seq"), prev_hash=bindparam("prev"), hash=bindparam("digest"))
)


def seal(connection: Connection, context: AuditContext | None = None) -> int:
    """Chain the entries not sealed yet (this transaction's and any left by others), in id order; how many.

    Call it last in a transaction: on PostgreSQL the lock it takes is held until the commit. `context`: who
    acts in this transaction, for the entries its row triggers wrote without one (PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        return _seal_in_database(connection, context)
    rows = connection.execute(_UNSEALED).all()
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
    connection.execute(_SEALED, sealed)
    return len(sealed)


_SEAL_CALL = text(
    "SELECT pending_id, pending_detail, pending_key, chained FROM itpm_audit_seal(:key, :actor, :address,"
    " :request, :done, CAST(:ids AS integer[]), CAST(:details AS text[]))"
)


def _seal_in_database(connection: Connection, context: AuditContext | None) -> int:
    """One call of `itpm_audit_seal` (`SEAL_FUNCTION`); when entries with personal values wait, their values
    are sealed here and a second call stores and chains them."""
    arguments = {
        "key": SEAL_LOCK,
        "actor": context.actor if context else None,
        "address": context.address if context else None,
        "request": context.request if context else None,
        "done": False,
        "ids": [],
        "details": [],
    }
    call = _SEAL_CALL
    rows = connection.execute(call, arguments).all()
    if rows and rows[0].chained is not None:
        return rows[0].chained
    details = sealed_details(connection, [(r.pending_id, r.pending_detail, r.pending_key) for r in rows])
    arguments |= {"done": True, "ids": list(details), "details": [json.dumps(d) for d in details.values()]}
    return connection.execute(call, arguments).one().chained


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
