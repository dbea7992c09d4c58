"""Each request of a revision app: its id (X-Request-ID in, and back out), one log line when it is
answered (route, status, person, duration) and its count and time in the metrics (`itpm.metrics`)."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Response, g, request

from itpm import logs, metrics

log = logging.getLogger("itpm.request")

#: Routes of no interest in the log at INFO (a page's scripts and styles): still counted in the metrics.
QUIET = ("/static/",)


def begin() -> None:
    request_id = logs.request_id_from(request.headers.get("X-Request-ID"))
    g.itpm_request_id = f"req:{request_id}"  # the audit log's (`itpm.web.context.audit_context`)
    g.itpm_started = time.perf_counter()
    g.itpm_log_token = logs.bind(request_id=request_id, route=_route())


def finish(response: Response) -> Response:
    started = g.get("itpm_started")
    if started is None:  # refused before `begin` ran
        return response
    seconds = time.perf_counter() - started
    route = _route()
    metrics.observe_request(request.method, route, response.status_code, seconds)
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
