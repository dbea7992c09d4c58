"""Who is acting, from where and why, for the audit entries a unit of work writes.

The web app, the worker and the command line say it (`acting`, `set_provider`);
the capture (`itpm.audit.capture`) reads it and gives it to the entries its
transaction wrote (on PostgreSQL as it seals them, `itpm.audit.chain.seal`).
Domain code never reads it.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class AuditContext:
    actor: str
    address: str | None = None
    #: "req:<id>" for a web request, "job:<id>" for a job, "cli:<command>" for the command line.
    request: str | None = None


_current: ContextVar[AuditContext | None] = ContextVar("itpm_audit_context", default=None)
#: What the web layer says for a request in hand (its person is known only once signed in).
_provider: Callable[[], AuditContext | None] | None = None


def set_provider(provider: Callable[[], AuditContext | None]) -> None:
    global _provider
    _provider = provider


@contextmanager
def acting(actor: str, request: str | None = None, address: str | None = None) -> Iterator[AuditContext]:
    """Entries written inside are by `actor`, for `request` (a job, a command)."""
    context = AuditContext(actor, address, request)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def current() -> AuditContext:
    """Who is acting now: what `acting` said, else the request in hand, else this process's user."""
    context = _current.get()
    if context is None and _provider is not None:
        context = _provider()
    return context or AuditContext(f"process:{_os_user()}")


def new_request_id() -> str:
    return f"req:{uuid.uuid4().hex[:16]}"


@cache
def _os_user() -> str:
    """This process's user, asked once (`getpass` reads four environment variables each time)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such user in a container
        return "unknown"
