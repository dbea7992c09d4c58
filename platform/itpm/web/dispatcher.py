"""Serve every request from the app built for the newest definitions revision.

Flask refuses new views once an app has served a request, so a publish is
picked up by building a fresh app for the new revision and swapping it in.
Requests already running finish on the app they started on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from itpm.models import Revision
from itpm.runtime import Runtime

log = logging.getLogger(__name__)

AppBuilder = Callable[[Runtime, int], Flask]
#: Where the apps serve the package's static files (Flask-AppBuilder's and itpm's): a page asks for a
#: dozen, and none needs the newest revision (asking the database which is newest, for each of them).
STATIC = "/static/"


class RevisionDispatcher:
    def __init__(self, runtime: Runtime, build: AppBuilder) -> None:
        self.runtime = runtime
        self.build = build
        self._lock = threading.Lock()
        self._app: Flask | None = None
        self._revision = -1

    def current_revision(self) -> int:
        with self.runtime.engine.connect() as connection:
            return connection.scalar(select(func.max(Revision.id))) or 0

    @property
    def app(self) -> Flask:
        """The app for the newest revision, built if the database has moved on."""
        revision = self.current_revision()
        if revision != self._revision or self._app is None:
            with self._lock:
                if revision != self._revision or self._app is None:
                    log.info("building the app for definitions revision %s", revision)
                    try:
                        self._app = self.build(self.runtime, revision)
                    except Exception:
                        if self._app is None:
                            raise
                        # Keep serving the last good app; the next request tries again.
                        log.exception("building the app for revision %s failed", revision)
                        return self._app
                    self._revision = revision
        return self._app

    @property
    def revision(self) -> int:
        return self._revision

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        app = self._app
        if app is not None and environ.get("PATH_INFO", "").startswith(STATIC):
            return app(environ, start_response)  # the package's files: the same in every revision
        return self.app(environ, start_response)
