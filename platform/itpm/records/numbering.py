"""Record numbers from a type's pattern, e.g. INC-{YYYY}-{seq:05}, one sequence per type and period.

The next value is taken with one atomic upsert (INSERT ... ON CONFLICT DO
UPDATE ... RETURNING) that holds the sequence's row until the transaction
ends: concurrent creates wait for each other and never share a number.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

TOKEN = re.compile(r"\{(YYYY|YY|MM|DD|seq(?::0([1-9]))?)\}")


def period_key(pattern: str, when: dt.date) -> str:
    """The part of a number that restarts the sequence: {YYYY}, {MM} ... as they are on `when`."""
    parts = [token for token in TOKEN.findall(pattern) if not token[0].startswith("seq")]
    return "".join(_date_part(token[0], when) for token in parts)


def render(pattern: str, when: dt.date, seq: int) -> str:
    def replace(match: re.Match[str]) -> str:
        token, width = match.group(1), match.group(2)
        if token.startswith("seq"):
            return str(seq).zfill(int(width)) if width else str(seq)
        return _date_part(token, when)

    return TOKEN.sub(replace, pattern)


def _date_part(token: str, when: dt.date) -> str:
    return {
        "YYYY": f"{when.year:04d}",
        "YY": f"{when.year % 100:02d}",
        "MM": f"{when.month:02d}",
        "DD": f"{when.day:02d}",
    }[token]


def next_number(session: Session, record_type: str, pattern: str, when: dt.date) -> str:
    key = f"{record_type}:{period_key(pattern, when)}"
    value = session.execute(
        text(
            "INSERT INTO itpm_sequence (key, value) VALUES (:key, 1) "
            "ON CONFLICT (key) DO UPDATE SET value = itpm_sequence.value + 1 RETURNING value"
        ),
        {"key": key},
    ).scalar_one()
    return render(pattern, when, value)


def next_numbers(session: Session, record_type: str, pattern: str, dates: list[dt.date]) -> list[str]:
    """Numbers for many new records at once (an import's chunk), one per date in `dates`, in their order:
    one upsert per period takes a block of the sequence, as `next_number` takes one value."""
    wanted: dict[str, int] = {}
    for when in dates:
        key = f"{record_type}:{period_key(pattern, when)}"
        wanted[key] = wanted.get(key, 0) + 1
    last = {
        key: session.execute(
            text(
                "INSERT INTO itpm_sequence (key, value) VALUES (:key, :n) "
                "ON CONFLICT (key) DO UPDATE SET value = itpm_sequence.value + :n RETURNING value"
            ),
            {"key": key, "n": count},
        ).scalar_one()
        for key, count in sorted(wanted.items())  # always in one order: two imports never wait on each other
    }
    taken = {key: last[key] - count for key, count in wanted.items()}
    numbers = []
    for when in dates:
        key = f"{record_type}:{period_key(pattern, when)}"
        taken[key] += 1
        numbers.append(render(pattern, when, taken[key]))
    return numbers


def take_ids(session: Session, table: Any, records: list[Any]) -> None:
    """On PostgreSQL, give new records their ids from the table's own sequence in one query, so that
    they are inserted by one executemany (no RETURNING of each id); elsewhere the insert returns them."""
    if not records or session.get_bind().dialect.name != "postgresql":
        return
    ids = session.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table.name, "n": len(records)},
    ).scalars()
    for record, record_id in zip(records, ids, strict=True):
        record.id = record_id
