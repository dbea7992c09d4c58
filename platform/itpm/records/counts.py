"""How many rows a list has: exact up to a threshold, PostgreSQL's planner estimate past it.

An exact count reads every row the list's conditions let through (a second or more on a million
records); past EXACT_UP_TO rows nobody pages to the end, so big lists say "about N", as the
planner estimates it. Counting stops at EXACT_UP_TO + 1 rows, so a small list's count stays exact
and cheap. SQLite has no estimate to ask for: its counts stay exact.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import gettext
from sqlalchemy import Select, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

#: Up to this many rows a list's count is exact.
EXACT_UP_TO = 10_000


class Estimate(int):
    """A count past EXACT_UP_TO, estimated: a number for the pages, read as "about N"."""

    def __str__(self) -> str:
        return gettext("about %(count)s", count=f"{int(self):,}")


def list_count(session: Session, query: Select[Any]) -> int:
    """The rows of `query`: exact up to EXACT_UP_TO, an `Estimate` past it (on PostgreSQL)."""
    query = query.order_by(None)
    counted = session.scalar(select(func.count()).select_from(query.limit(EXACT_UP_TO + 1).subquery())) or 0
    if counted <= EXACT_UP_TO:
        return counted
    if session.get_bind().dialect.name == "postgresql":
        estimate = _planned_rows(session, query)
        if estimate is not None:
            return Estimate(max(estimate, EXACT_UP_TO + 1))
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _planned_rows(session: Session, query: Select[Any]) -> int | None:
    """How many rows PostgreSQL's planner expects `query` to give (from its statistics: ANALYZE)."""
    compiled = query.compile(bind=session.get_bind())
    try:
        with session.begin_nested():  # a refused statement must not end the request's transaction
            plan = session.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params)
            return int(plan.scalar()[0]["Plan"]["Plan Rows"])
    except (DBAPIError, KeyError, IndexError, TypeError, ValueError) as error:
        log.warning("no estimate of a list's count, counted instead: %s", error)
        return None
