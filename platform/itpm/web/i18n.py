"""Languages: which one a request is served in, and bilingual texts of definitions.

Chinese and English: Flask-AppBuilder's own zh catalogue plus ours
(platform/itpm/translations), and `{"en", "zh"}` texts in definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale

SUPPORTED = ("zh", "en")


def select_locale() -> str:
    """The session's choice, else the browser's preference, else the default (zh)."""
    default = current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")
    if not has_request_context():
        return default
    chosen = request.args.get("_l_") or session.get("locale")
    if chosen in SUPPORTED:
        return chosen
    return request.accept_languages.best_match(SUPPORTED) or default


def language() -> str:
    """The language of the current request: zh or en."""
    return "zh" if str(get_locale() or "zh").startswith("zh") else "en"


def text(value: Any, lang: str | None = None) -> str:
    """A bilingual text in the request's language (or `lang`), falling back to the other."""
    if isinstance(value, Mapping):
        lang = lang or language()
        return str(value.get(lang) or value.get("en") or value.get("zh") or "")
    return "" if value is None else str(value)


def install(app: Flask) -> None:
    from itpm.sla.tickets import duration_text
    from itpm.web.record_display import local_time, safe_html
    from itpm.web.views.records import sla_status_label

    app.extensions["babel"].locale_selector = select_locale
    app.jinja_env.filters["tr"] = text
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["safe_html"] = safe_html
    app.jinja_env.globals["language"] = language
    app.jinja_env.filters["duration"] = lambda minutes: duration_text(minutes, language())
    app.jinja_env.globals["sla_status"] = sla_status_label
