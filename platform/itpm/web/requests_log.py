"""Each request of a revision app: its id (X-Request-ID in, and back out), one log line when it is
answered (route, status, person, duration) and its count and time in the metrics (`itpm.metrics`),
with the part of that time spent waiting for the database and rendering page templates (what is
left is Python: the views, the services, the access layer, the forms).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, before_render_template, g, has_request_context, request, template_rendered
from sqlalchemy import event
from sqlalchemy.engine import Engine

from itpm import logs, metrics

log = logging.getLogger("itpm.request")

#: Routes of no interest in the log at INFO (a page's scripts and styles): still counted in the metrics.
QUIET = ("/static/",)


def begin() -> None:
    request_id = logs.request_id_from(request.headers.get("X-Request-ID"))
    g.itpm_request_id = f"req:{request_id}"  # the audit log's (`itpm.web.context.audit_context`)
    g.itpm_started = time.perf_counter()
    g.itpm_database_seconds = 0.0
    g.itpm_render_seconds = 0.0
    g.itpm_log_token = logs.bind(request_id=request_id, route=_route())


def finish(response: Response) -> Response:
    started = g.get("itpm_started")
    if started is None:  # refused before `begin` ran
        return response
    seconds = time.perf_counter() - started
    route = _route()
    metrics.observe_request(
        request.method,
        route,
        response.status_code,
        seconds,
        database_seconds=g.get("itpm_database_seconds", 0.0),
        render_seconds=g.get("itpm_render_seconds", 0.0),
    )
    response.headers["X-Request-ID"] = g.itpm_request_id.removeprefix("req:")
    level = logging.DEBUG if request.path.startswith(QUIET) and response.status_code < 400 else logging.INFO
    log.log(
        level,
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "route": route,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "user": logs.person(),
        },  # fmt: skip
    )
    return response


def end(_error: BaseException | None) -> None:
    token: Any = g.pop("itpm_log_token", None)
    if token is not None:
        try:
            logs.unbind(token)
        except ValueError:  # set in another context (a streamed response ends elsewhere)
            pass


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def time_statements(engine: Engine) -> None:
    """Add each SQL statement's time (sent until answered) to the request that sent it; once per engine."""
    if not event.contains(engine, "before_cursor_execute", _statement_sent):
        event.listen(engine, "before_cursor_execute", _statement_sent)
        event.listen(engine, "after_cursor_execute", _statement_answered)


def time_rendering(app: Flask) -> None:
    """Add the time of each page template rendered (the outermost, with what it includes) to its request."""
    before_render_template.connect(_render_started, app)
    template_rendered.connect(_render_done, app)


def _statement_sent(connection: Any, *_args: Any) -> None:
    connection.info.setdefault("itpm_sent", []).append(time.perf_counter())


def _statement_answered(connection: Any, *_args: Any) -> None:
    sent = connection.info.get("itpm_sent")
    if not sent:
        return
    seconds = time.perf_counter() - sent.pop()
    if has_request_context() and "itpm_database_seconds" in g:
        g.itpm_database_seconds += seconds


def _render_started(_app: Flask, **_extra: Any) -> None:
    if has_request_context():
        g.setdefault("itpm_render_stack", []).append(
            (time.perf_counter(), g.get("itpm_database_seconds", 0.0))
        )


def _render_done(_app: Flask, **_extra: Any) -> None:
    """A template's time, less the statements it sent (a relation loaded as the page is drawn is
    database time); a template rendered inside another is counted in the outer one."""
    stack = g.get("itpm_render_stack") if has_request_context() else None
    if not stack:
        return
    started, database_before = stack.pop()
    if not stack and "itpm_render_seconds" in g:
        database = g.get("itpm_database_seconds", 0.0) - database_before
        g.itpm_render_seconds += max(time.perf_counter() - started - database, 0.0)
