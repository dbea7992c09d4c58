"""What monitoring asks of a running itpm: `/health` (the process answers), `/ready` (it can serve:
database, Redis and migrations) and `/metrics` (Prometheus, behind a token).

Served in front of the revision apps (`itpm.web.dispatcher`), so that `/health` never touches the
database, and none of the three needs a session, a person or a definitions revision. Their bodies
name checks and states only: no address, no version, no record.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from werkzeug.wrappers import Request, Response

from itpm import migrate
from itpm.metrics import exposition
from itpm.runtime import Runtime

log = logging.getLogger(__name__)

PATHS = frozenset({"/health", "/ready", "/metrics"})
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class Probes:
    """A WSGI middleware answering the three paths itself and passing every other request to `app`."""

    def __init__(self, runtime: Runtime, app: Callable[..., Iterable[bytes]]) -> None:
        self.runtime = runtime
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")
        if path not in PATHS:
            return self.app(environ, start_response)
        request = Request(environ)
        if request.method not in ("GET", "HEAD"):
            response = _json({"error": "method not allowed"}, 405)
            response.headers["Allow"] = "GET, HEAD"
        elif path == "/health":
            response = _json({"status": "ok"}, 200)
        elif path == "/ready":
            checks = self.readiness()
            ready = all(state == "ok" for state in checks.values())
            response = _json(
                {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
            )
        else:
            response = metrics_response(self.runtime, request)
        return response(environ, start_response)

    def readiness(self) -> dict[str, str]:
        """Each check's state: ok, or what is wrong (unreachable, behind, ahead)."""
        checks: dict[str, str] = {}
        try:
            with self.runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                current = migrate.current_revision_on(connection)
            checks["database"] = "ok"
            if current == self.head:
                checks["migrations"] = "ok"
            elif current is None or current in self.known:
                checks["migrations"] = "behind"  # run `itpm init` (or `itpm db upgrade`)
            else:
                checks["migrations"] = "ahead"  # the database was upgraded by a newer itpm
        except Exception as error:  # noqa: BLE001 - any failure to reach the database means not ready
            log.warning("ready: the database is unreachable: %s", error)
            checks["database"] = "unreachable"
            checks["migrations"] = "unknown"
        settings = self.runtime.settings
        if settings.redis_url and settings.jobs in ("auto", "rq"):
            try:
                self.redis.ping()
                checks["redis"] = "ok"
            except Exception as error:  # noqa: BLE001 - any failure to reach Redis means not ready
                log.warning("ready: Redis is unreachable: %s", error)
                checks["redis"] = "unreachable"
        return checks

    @cached_property
    def head(self) -> str | None:
        return migrate.head_revision()

    @cached_property
    def known(self) -> frozenset[str]:
        return migrate.known_revisions()

    @cached_property
    def redis(self) -> Any:
        from redis import Redis

        return Redis.from_url(
            self.runtime.settings.redis_url or "", socket_connect_timeout=2, socket_timeout=2
        )


def _json(body: dict[str, Any], status: int) -> Response:
    import json

    return Response(json.dumps(body), status=status, mimetype="application/json", headers=HEADERS)


def token_accepted(expected: str, header: str | None) -> bool:
    """Whether an Authorization header carries the bearer token `expected` (compared in constant time)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


def metrics_response(runtime: Any, request: Request) -> Response:
    """/metrics: 404 while no token is configured (ITPM_METRICS_TOKEN), 401 without the right one."""
    token = runtime.settings.metrics_token
    if not token:
        return Response('{"error": "not found"}', 404, mimetype="application/json", headers=HEADERS)
    if not token_accepted(token, request.headers.get("Authorization")):
        return Response(
            '{"error": "a bearer token is needed (ITPM_METRICS_TOKEN)"}',
            401,
            mimetype="application/json",
            headers={**HEADERS, "WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(exposition(runtime), 200, content_type=CONTENT_TYPE_LATEST, headers=HEADERS)
