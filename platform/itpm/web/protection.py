"""What every response and every state-changing request of a revision app is held to.

- Response headers (Flask-Talisman): a Content-Security-Policy whose scripts are the
  app's own files and nonce-carrying inline blocks (no `unsafe-inline` for scripts; styles
  keep it, for the style attributes of Flask-AppBuilder's and Select2's markup), no
  framing by other sites, no MIME sniffing, a strict referrer policy; secure cookies
  when ITPM_ENV=production.
- CSRF on the API: a state-changing call authenticated by the session cookie needs the
  CSRF token (X-CSRFToken header), as the HTML forms do; a call with a bearer token does
  not (a page of another site cannot set that header).
- Refusals that read as such: 429 with Retry-After, and CSRF failures on the API as JSON.
- Redirects chosen by a form field go to this site's own pages only (`local_target`).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_login import current_user
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import TooManyRequests

from itpm.config import Settings
from itpm.web.sign_in import PASSWORD_CHECKS

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",  # and this response's nonce (Talisman adds it)
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'self'",
}
#: Browser features no page of itpm uses.
PERMISSIONS_POLICY = {"camera": "()", "microphone": "()", "geolocation": "()", "payment": "()", "usb": "()"}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: API endpoints that act on no one's session: signing in gives tokens, refreshing needs one.
SESSIONLESS_API = frozenset({"SecurityApi.login", "SecurityApi.refresh"})


class Headers(Talisman):
    """Flask-Talisman, except that a response with a policy of its own keeps it (the report preview's)."""

    def _set_content_security_policy_headers(self, headers: Any, options: dict[str, Any]) -> None:
        if "Content-Security-Policy" in headers:
            options = {**options, "content_security_policy": None}
        super()._set_content_security_policy_headers(headers, options)


def protect(app: Flask, csrf: CSRFProtect, settings: Settings) -> None:
    """Install the headers, the API's CSRF rule and the refusal pages on a revision app."""
    Headers(
        app,
        # TLS ends at the operator's proxy; production's cookies are Secure, and HSTS is sent on HTTPS.
        force_https=False,
        frame_options="SAMEORIGIN",
        content_security_policy=CONTENT_SECURITY_POLICY,
        content_security_policy_nonce_in=["script-src"],
        referrer_policy="strict-origin-when-cross-origin",
        permissions_policy=PERMISSIONS_POLICY,
        session_cookie_secure=settings.production,
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
    )

    @app.before_request
    def _api_csrf() -> None:
        if request.method in SAFE_METHODS or not request.path.startswith("/api/"):
            return  # the HTML views are CSRFProtect's own
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return
        if request.endpoint in SESSIONLESS_API or not current_user.is_authenticated:
            return  # no session acts here: the endpoint answers 401 for want of a token
        csrf.protect()

    app.register_error_handler(CSRFError, _csrf_refused)
    app.register_error_handler(TooManyRequests, _too_many)


def _csrf_refused(error: CSRFError) -> Any:
    if request.path.startswith("/api/"):
        return jsonify(message=error.description), 400
    return error


def _too_many(_error: TooManyRequests) -> Any:
    """A refusal by the rate limits: Flask-Limiter adds Retry-After to this response."""
    if request.path.startswith("/api/"):
        return jsonify(message="Too many attempts: try again later."), 429
    g.setdefault("user", current_user)  # the limits run before Flask-AppBuilder sets it; the menu reads it
    limit = current_app.appbuilder.sm.limiter.current_limit
    seconds = max(1, int(limit.reset_at - time.time())) if limit is not None else 60
    appbuilder = current_app.appbuilder
    page = render_template(
        "itpm/too_many_attempts.html",
        base_template=appbuilder.base_template,
        appbuilder=appbuilder,
        retry_after=seconds,
        password_check=request.endpoint in PASSWORD_CHECKS,
    )
    return page, 429


def local_target(target: str | None, default: str) -> str:
    """`target` if it is a path of this site ("/approvals/"), else `default`: never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    return target
