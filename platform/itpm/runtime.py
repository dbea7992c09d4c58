"""One installation at run time: its settings, database engine, sessions and meta-schemas.

Web app objects, CLI commands and workers each hold one `Runtime` and reach the
domain services through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

from itpm.config import Settings
from itpm.db import make_engine, make_session_factory
from itpm.definitions.meta import MetaSchemas
from itpm.definitions.registry import PublishHook, Registry


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.is_sqlite:
            settings.instance_path.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = make_engine(settings.database_url)
        self.sessions: scoped_session[Session] = make_session_factory(self.engine)
        self.publish_hooks: list[PublishHook] = []

    @cached_property
    def meta(self) -> MetaSchemas:
        return MetaSchemas()

    def registry(self, session: Session | None = None) -> Registry:
        return Registry(session or self.sessions(), self.meta, self.publish_hooks)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session of its own (not the request's), closed at the end."""
        session = self.sessions.session_factory()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.sessions.remove()
        self.engine.dispose()
