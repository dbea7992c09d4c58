"""One installation at run time: its settings, database engine, sessions and meta-schemas.

Web app objects, CLI commands and workers each hold one `Runtime` and reach the
domain services through it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Protocol

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

from itpm import logs, permissions
from itpm.audit import capture as audit_capture
from itpm.audit import triggers as audit_triggers
from itpm.catalog import Catalog
from itpm.config import Settings
from itpm.db import make_engine, make_session_factory
from itpm.definitions.meta import MetaSchemas
from itpm.definitions.registry import PublishHook, Registry
from itpm.kpis import cache as kpi_cache
from itpm.models import Revision
from itpm.records import schema_changes


class Jobs(Protocol):
    """What runs automations and report requests for a process (`itpm.automations.jobs.start_jobs`)."""

    def wake(self) -> None:
        """Committed events or report requests are waiting."""

    def stop(self) -> None: ...


class NoJobs:
    """Events stay in the outbox until someone drains them (tests, workers, commands that exit at once)."""

    def wake(self) -> None:
        return

    def stop(self) -> None:
        return


class Runtime:
    def __init__(self, settings: Settings, jobs: Callable[[Runtime], Jobs] | None = None) -> None:
        """`jobs` starts what runs automations for this process, on first use; without it, nothing does."""
        self.settings = settings
        self._start_jobs = jobs or (lambda _runtime: NoJobs())
        if settings.is_sqlite:
            settings.instance_path.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = make_engine(settings.database_url)
        self.sessions: scoped_session[Session] = make_session_factory(self.engine)
        self.publish_hooks: list[PublishHook] = [
            schema_changes.publish_hook,
            permissions.publish_hook,
            audit_triggers.publish_hook,
        ]
        self._catalogs: OrderedDict[int, Catalog] = OrderedDict()
        self._catalog_lock = threading.Lock()
        self._jobs: Jobs | None = None
        event.listen(self.sessions.session_factory, "after_commit", self._after_commit)
        audit_capture.install(self.sessions.session_factory)
        logs.stamp_outbox_events(self.sessions.session_factory)
        #: KPI answers kept between requests (in Redis when jobs run on RQ), stale once their records change.
        self.kpis = kpi_cache.kept_for(settings)
        kpi_cache.install(self.sessions.session_factory, self.engine, self.kpis)

    @property
    def jobs(self) -> Jobs:
        """What runs automations for this process (started on first use)."""
        if self._jobs is None:
            self._jobs = self._start_jobs(self)
        return self._jobs

    def _after_commit(self, session: Session) -> None:
        """A commit that saved events (or report requests) hands them over to whatever runs jobs."""
        events = session.info.pop("itpm_outbox", False)
        imports = session.info.pop("itpm_imports", False)
        exports = session.info.pop("itpm_privacy_requests", False)
        if session.info.pop("itpm_report_requests", False) or events or imports or exports:
            self.jobs.wake()

    @cached_property
    def meta(self) -> MetaSchemas:
        return MetaSchemas()

    def registry(self, session: Session | None = None) -> Registry:
        return Registry(session or self.sessions(), self.meta, self.publish_hooks)

    def current_revision(self) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(select(func.max(Revision.id))) or 0

    def catalog(self, revision: int | None = None) -> Catalog:
        """The compiled configuration of `revision` (by default the newest), built once."""
        revision = self.current_revision() if revision is None else revision
        with self._catalog_lock:
            if revision not in self._catalogs:
                with self.session() as session:
                    documents = self.registry(session).live(at_revision=revision)
                self._catalogs[revision] = Catalog(revision, documents)
                while len(self._catalogs) > 3:
                    self._catalogs.popitem(last=False)
            return self._catalogs[revision]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session of its own (not the request's), closed at the end."""
        session = self.sessions.session_factory()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        if self._jobs is not None:
            self._jobs.stop()
        self.sessions.remove()
        self.engine.dispose()
        # The listeners are kept by SQLAlchemy's registry under the factory's own Session class, which
        # the bound method reaches back to: left there, every disposed runtime (its engine, catalogs and
        # models) would live as long as the process.
        factory = self.sessions.session_factory
        if event.contains(factory, "after_commit", self._after_commit):
            event.remove(factory, "after_commit", self._after_commit)
            audit_capture.uninstall(factory)
            logs.unstamp_outbox_events(factory)
            kpi_cache.uninstall(factory, self.engine)
