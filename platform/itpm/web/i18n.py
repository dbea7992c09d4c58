"""Languages: which one a request is served in, and bilingual texts of definitions.

Chinese and English: Flask-AppBuilder's own zh catalogue plus ours
(platform/itpm/translations), and `{"en", "zh"}` texts in definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_translations
from flask_babel.speaklater import LazyString
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from itpm.texts import language, text

SUPPORTED = ("zh", "en")
__all__ = [
    "SUPPORTED", "DefinitionText", "as_text", "html_texts", "install", "language", "lazy_text", "select_locale",
    "template_gettext", "template_ngettext", "text",
]  # fmt: skip


def select_locale() -> str:
    """The session's choice, else the browser's preference, else the default (zh)."""
    default = current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")
    if not has_request_context():
        return default
    chosen = request.args.get("_l_") or session.get("locale")
    if chosen in SUPPORTED:
        return chosen
    return request.accept_languages.best_match(SUPPORTED) or default


class DefinitionText(LazyString):
    """A definition's bilingual text, read in the request's language when shown: text, never markup.

    Flask-Babel's lazy strings mark themselves safe (`__html__` returns them as
    they are); an admin's title is escaped like any other value.
    """

    def __init__(self, texts: Mapping[str, str]) -> None:
        super().__init__(text, texts)

    def __html__(self) -> str:
        return str(escape(str(self)))


@pass_context
def template_gettext(context: Context, message: Any, **variables: Any) -> str:
    """Templates' `_()` and `gettext()`: the translation of `message`, escaped.

    Jinja's own marks the translation safe and %-formats it even without
    variables, so `_(label)` with a label an admin wrote (Flask-AppBuilder's
    menus do this) put their markup in the page, and a `%` in it made the page
    fail. Translations are text here: escaped, and formatted only with variables.
    """
    translated = get_translations().ugettext(str(message))
    if not context.eval_ctx.autoescape:
        return translated % variables if variables else translated
    safe = Markup(escape(translated))
    return safe % variables if variables else safe


@pass_context
def template_ngettext(context: Context, singular: Any, plural: Any, num: int, **variables: Any) -> str:
    variables.setdefault("num", num)
    translated = get_translations().ungettext(str(singular), str(plural), num)
    if not context.eval_ctx.autoescape:
        return translated % variables
    return Markup(escape(translated)) % variables


def as_text(value: Any) -> Any:
    """Every `{{ value }}` of a template: a lazy translation is shown as text, escaped like any other value.

    Flask-Babel's lazy strings mark themselves safe (`__html__`), so one made with
    variables (`_("%(file)s is empty", file=name)`, a problem's message) would put
    what a person typed into the page as markup.
    """
    return str(value) if isinstance(value, LazyString) else value


def html_texts(texts: Mapping[str, Any]) -> dict[str, str]:
    """Each text as HTML (escaped), for scripts that insert texts as HTML (Flask-AppBuilder's filters)."""
    return {key: str(escape(str(value))) for key, value in texts.items()}


def lazy_text(texts: Mapping[str, str]) -> DefinitionText:
    """A bilingual text for FAB's labels and menus, read in the request's language (and escaped)."""
    return DefinitionText(texts)


def install(app: Flask) -> None:
    """The request's language, translations in templates, and bilingual texts (`tr`, `language()`)."""
    app.extensions["babel"].locale_selector = select_locale
    app.jinja_env.globals.update(gettext=template_gettext, ngettext=template_ngettext)
    app.jinja_env.finalize = as_text
    app.jinja_env.filters["tr"] = text
    app.jinja_env.filters["html_texts"] = html_texts
    app.jinja_env.globals["language"] = language
