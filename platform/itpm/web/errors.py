"""Error pages in the reader's language and the app's look; JSON for the API (every error under /api/).

(Flask has logged an unhandled exception before its 500 handler runs.)

A 500 page that itself fails (the database gone, say) falls back to a plain
bilingual page rather than Werkzeug's English one.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext
from markupsafe import escape
from werkzeug.exceptions import HTTPException

#: The errors with a page of their own: (icon, heading, explanation), read when shown.
PAGES = {
    403: ("fa-lock", lambda: gettext("Not allowed"), lambda: gettext("Your role does not let you open this page.")),
    404: (
        "fa-compass",
        lambda: gettext("Page not found"),
        lambda: gettext("There is no such page, or it is not there for you. Check the address or start again from the home page."),
    ),
    500: (
        "fa-exclamation-triangle",
        lambda: gettext("Something went wrong"),
        lambda: gettext("The server could not finish this request. Nothing was saved by it; try again, and tell your administrator if it happens again."),
    ),
}  # fmt: skip

PLAIN = """<!doctype html><html><head><meta charset="utf-8"><title>{code}</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{code}</h1><p>{zh}</p><p>{en}</p>
<p><a href="/">首页 / Home</a></p></body></html>"""


def install(app: Flask) -> None:
    for code in PAGES:
        app.register_error_handler(code, _page)
    app.register_error_handler(HTTPException, _other)


def _other(error: HTTPException) -> Any:
    """Any other HTTP error (405, 400...): JSON under /api/, Werkzeug's page elsewhere."""
    if request.path.startswith("/api/") and error.code:
        response = error.get_response()  # keeps its headers, e.g. Allow on a 405
        response.set_data(jsonify(message=error.description).get_data())
        response.mimetype = "application/json"
        return response
    return error


def _page(error: Exception) -> Any:
    code = error.code if isinstance(error, HTTPException) and error.code else 500
    icon, heading, explanation = PAGES[code]
    if request.path.startswith("/api/"):
        return jsonify(message=heading()), code
    try:
        appbuilder = current_app.appbuilder  # type: ignore[attr-defined]
        page = render_template(
            "itpm/error.html",
            base_template=appbuilder.base_template,
            appbuilder=appbuilder,
            code=code,
            icon=icon,
            heading=heading(),
            explanation=explanation(),
        )
    except Exception:  # noqa: BLE001 - the error page must not fail in turn
        current_app.logger.exception("the error page for %s failed", code)
        page = PLAIN.format(
            code=code,
            zh=escape(
                {403: "无权访问此页面。", 404: "页面不存在。", 500: "服务器出错,本次请求未完成。"}[code]
            ),
            en=escape(explanation()),
        )
    return page, code
