"""Signed checkpoints of the audit chain: the head at a moment, signed with Ed25519.

The private key lives in a file outside the database (`ITPM_AUDIT_KEY`, made by
`itpm audit keygen`); whoever can change the database cannot also sign, so a
rewritten chain no longer matches the checkpoints already signed (and sent to
clients or auditors). The public key is `ITPM_AUDIT_PUBLIC_KEY`, or derived from
the private key.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from itpm.audit import chain
from itpm.audit.chain import AUDIT, Problem
from itpm.db import utcnow
from itpm.models import AuditCheckpoint

CHECKPOINTS = AuditCheckpoint.__table__
#: Where the keys are, by default beside each other: the public key is the private key's path + ".pub".
PRIVATE_KEY_SETTING = "ITPM_AUDIT_KEY"
PUBLIC_KEY_SETTING = "ITPM_AUDIT_PUBLIC_KEY"


class KeyMissing(RuntimeError):
    """No key is configured, or its file cannot be read."""


def message(seq: int, head_hash: str, at: str) -> bytes:
    """The bytes a checkpoint signs (the standalone verifier builds the same)."""
    return f"itpm audit checkpoint\nseq={seq}\nhash={head_hash}\nat={at}\n".encode()


def keygen(path: Path) -> Path:
    """A new private key at `path` (readable by its owner only) and its public key beside it."""
    if path.exists():
        raise FileExistsError(f"{path} exists: a key is never overwritten (move it away first)")
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    public = Path(f"{path}.pub")
    public.write_bytes(public_pem(key.public_key()))
    return public


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key(env: dict[str, str] | None = None) -> Ed25519PrivateKey:
    env = os.environ if env is None else env
    path = env.get(PRIVATE_KEY_SETTING)
    if not path:
        raise KeyMissing(f"{PRIVATE_KEY_SETTING} is not set (make a key with `itpm audit keygen PATH`)")
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise KeyMissing(f"{PRIVATE_KEY_SETTING}={path}: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMissing(f"{PRIVATE_KEY_SETTING}={path} is not an Ed25519 key")
    return key


def public_key(env: dict[str, str] | None = None) -> Ed25519PublicKey:
    env = os.environ if env is None else env
    path = env.get(PUBLIC_KEY_SETTING)
    if not path and env.get(PRIVATE_KEY_SETTING) and Path(f"{env[PRIVATE_KEY_SETTING]}.pub").exists():
        path = f"{env[PRIVATE_KEY_SETTING]}.pub"
    if not path:
        return private_key(env).public_key()
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise KeyMissing(f"{PUBLIC_KEY_SETTING}={path}: {error}") from error
    if not isinstance(key, Ed25519PublicKey):
        raise KeyMissing(f"{path} is not an Ed25519 public key")
    return key


def checkpoint(
    connection: Connection, key: Ed25519PrivateKey, now: dt.datetime | None = None
) -> dict[str, object]:
    """Seal what waits, then sign the head and keep the checkpoint (in the caller's transaction)."""
    chain.seal(connection)
    seq, head_hash = chain.head(connection)
    at = chain.at_text(now or utcnow())
    row = {
        "at": now or utcnow(),
        "seq": seq,
        "hash": head_hash,
        "public_key": key.public_key().public_bytes_raw().hex(),
        "signature": key.sign(message(seq, head_hash, at)).hex(),
    }
    row["at"] = dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    connection.execute(insert(CHECKPOINTS), row)
    return {**row, "at": at}


def last_checkpoint_at(connection: Connection) -> dt.datetime | None:
    return connection.scalar(select(CHECKPOINTS.c.at).order_by(CHECKPOINTS.c.id.desc()).limit(1))


def check_checkpoints(
    connection: Connection, key: Ed25519PublicKey, since: dt.datetime | None = None
) -> Problem | None:
    """The first checkpoint whose signature is not the key's, or whose head is no longer in the chain."""
    raw = key.public_bytes_raw().hex()
    query = select(CHECKPOINTS).order_by(CHECKPOINTS.c.id)
    if since is not None:
        query = query.where(CHECKPOINTS.c.at >= since)
    for point in connection.execute(query):
        where = f"checkpoint #{point.id} of {chain.at_text(point.at)} (seq {point.seq})"
        if point.public_key != raw:
            return Problem(None, point.seq, f"{where} is signed with another key")
        try:
            key.verify(
                bytes.fromhex(point.signature), message(point.seq, point.hash, chain.at_text(point.at))
            )
        except (InvalidSignature, ValueError):
            return Problem(None, point.seq, f"{where}: its signature does not match")
        if point.seq == 0:
            continue
        entry = connection.execute(select(AUDIT.c.id, AUDIT.c.hash).where(AUDIT.c.seq == point.seq)).first()
        if entry is None:
            return Problem(None, point.seq, f"{where}: the entry it signed is missing (removed)")
        if entry.hash != point.hash:
            return Problem(
                entry.id,
                point.seq,
                f"{where}: the chain was rewritten (its head there is not the one signed)",
            )
    return None


def daily_checkpoint(engine: Any, now: dt.datetime) -> int:
    """The scheduler's part: seal what direct SQL left, and sign a checkpoint once a day (when a key is set)."""
    with engine.begin() as connection:
        chain.seal(connection)
        try:
            key = private_key()
        except KeyMissing:
            return 0
        last = last_checkpoint_at(connection)
        if last is not None and now - last < dt.timedelta(days=1):
            return 0
        checkpoint(connection, key, now)
        return 1
