"""Log lines of the web processes and workers: plain text, or one JSON object per line
(ITPM_LOG_FORMAT=json, for a log collector), each with the request id it was written for.

A request's id comes from its X-Request-ID header when that is well formed, else is made up; it is
sent back in the response, kept on the outbox events the request saved, put in the meta of the RQ
jobs that carry those events, and logged by the worker that runs them.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from itpm.config import Settings

#: What every line says beside its message (None where it does not apply).
FIELDS = ("request_id", "user", "route", "status", "duration_ms", "job_id")
#: An X-Request-ID taken as it comes: letters, digits and . _ : - (a UUID, a proxy's id), 8 to 64 long.
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
PLAIN = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

_context: ContextVar[dict[str, Any] | None] = ContextVar("itpm_log_context", default=None)


def request_id_from(header: str | None) -> str:
    """The id of a request: its X-Request-ID when well formed, else a new one."""
    if header and WELL_FORMED.fullmatch(header):
        return header
    return uuid.uuid4().hex


def bind(**fields: Any) -> Any:
    """Lay `fields` over the current context's (a request's, a job's); a token for `unbind`."""
    return _context.set({**(_context.get() or {}), **fields})


def unbind(token: Any) -> None:
    _context.reset(token)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def current_request_id() -> str | None:
    return (_context.get() or {}).get("request_id")


class ContextFields(logging.Filter):
    """Puts the request's (or job's) id, person and route on every record that does not carry its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get() or {}
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, context.get(name))
        if record.user is None and context:  # type: ignore[attr-defined]
            record.user = person()  # type: ignore[attr-defined]
        return True


def person() -> str | None:
    """The person of the request in hand, as loaded already (never loaded from here)."""
    from flask import g, has_request_context
    from werkzeug.local import LocalProxy

    if not has_request_context():
        return None
    user = g.get("_login_user")  # a session's person; a token's is `g.user` itself
    if not getattr(user, "is_authenticated", False) and not isinstance(g.get("user"), LocalProxy):
        user = g.get("user")
    return getattr(user, "username", None) if getattr(user, "is_authenticated", False) else None


def formatter(settings: Settings) -> logging.Formatter:
    if settings.log_format == "json":
        return JsonFormatter(
            ["levelname", "name", "message", *FIELDS],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601, UTC
            json_ensure_ascii=False,
        )
    return logging.Formatter(PLAIN)


def configure(settings: Settings, stream: Any = None) -> logging.Handler:
    """Send every logger's lines to stderr (or `stream`) in the installation's format; the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings))
    handler.addFilter(ContextFields())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "itpm", False)]:
        root.removeHandler(old)
    handler.itpm = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    return handler


def stamp_outbox_events(factory: sessionmaker[Session]) -> None:
    """Keep the request id on each outbox event a request (or a job) saves, for the jobs that carry it."""
    event.listen(factory, "before_flush", _stamp)


def unstamp_outbox_events(factory: sessionmaker[Session]) -> None:
    if event.contains(factory, "before_flush", _stamp):
        event.remove(factory, "before_flush", _stamp)


def _stamp(session: Session, _flush_context: Any, _instances: Any) -> None:
    from itpm.models import OutboxEvent

    request_id = current_request_id()
    if request_id is None or not WELL_FORMED.fullmatch(request_id):
        return  # a job's lines may name several requests ("a,b"): its follow-up events are nobody's one
    for row in session.new:
        if isinstance(row, OutboxEvent) and row.request_id is None:
            row.request_id = request_id
