"""Bilingual texts of definitions (`{"en": ..., "zh": ...}`), read in the language of the request.

The lowest floor: domain code (a record rule's message) and the web layer both use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations
from flask_babel import get_locale
from markupsafe import escape

CATALOGUES = Path(__file__).parent / "translations"


def language() -> str:
    """The language of the current request (the default one outside a request): zh or en."""
    return "zh" if str(get_locale() or "zh").startswith("zh") else "en"


def text(value: Any, lang: str | None = None) -> str:
    """A bilingual text in the request's language (or `lang`), falling back to the other."""
    if isinstance(value, Mapping):
        lang = lang or language()
        return str(value.get(lang) or value.get("en") or value.get("zh") or "")
    return "" if value is None else str(value)


@cache
def _catalogue(lang: str) -> NullTranslations:
    return Translations.load(str(CATALOGUES), [lang])


def in_both(message: str, values: Mapping[str, Any]) -> dict[str, str]:
    """A message of the app's catalogue (an English message id with %-style values) in English and
    Chinese, with its values filled in: for texts made outside a request (a job's notification)."""
    return {lang: _catalogue(lang).gettext(message) % values for lang in ("en", "zh")}


class Bilingual:
    """A text in both languages that reads in the language of the request showing it."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self.texts = texts

    def __str__(self) -> str:
        return text(self.texts)

    def __html__(self) -> str:
        return str(escape(str(self)))

    def __hash__(self) -> int:
        return hash(self.texts.get("en"))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __repr__(self) -> str:
        return f"Bilingual({dict(self.texts)!r})"
