"""The auditor's export: the chain as JSON lines, the signed checkpoints, the public key and the
standalone verifier (`itpm/audit/verifier.py`), in one folder a client checks offline."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from itpm.audit import chain
from itpm.audit.chain import AUDIT
from itpm.audit.signing import CHECKPOINTS

VERIFIER = Path(__file__).with_name("verifier.py")


def export(
    connection: Connection, folder: Path, public_pem: bytes | None, since: dt.datetime | None = None
) -> int:
    """Write the sealed entries (from `since`) and every checkpoint to `folder`; how many entries."""
    folder.mkdir(parents=True, exist_ok=True)
    query = select(*chain.CONTENT_COLUMNS, AUDIT.c.seq, AUDIT.c.prev_hash, AUDIT.c.hash).where(
        AUDIT.c.seq.is_not(None)
    )
    if since is not None:
        query = query.where(AUDIT.c.at >= since)
    count = 0
    with (folder / "audit.jsonl").open("w", encoding="utf-8") as out:
        for row in connection.execution_options(yield_per=5000).execute(query.order_by(AUDIT.c.seq)):
            line = {**chain.content(row.seq, row), "prev_hash": row.prev_hash, "hash": row.hash}
            out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    with (folder / "checkpoints.jsonl").open("w", encoding="utf-8") as out:
        for point in connection.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id)):
            line = {
                "at": chain.at_text(point.at),
                "seq": point.seq,
                "hash": point.hash,
                "public_key": point.public_key,
                "signature": point.signature,
            }
            out.write(json.dumps(line, sort_keys=True) + "\n")
    if public_pem is not None:
        (folder / "audit-key.pub").write_bytes(public_pem)
    shutil.copyfile(VERIFIER, folder / "verify_audit.py")
    return count
