"""Matching text with the patterns of definitions, on RE2 (time linear in the text).

Below both `itpm.definitions.problems` (which names a property no pattern allows)
and `itpm.definitions.patterns` (the validators and checks built on it).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the admin, not to stderr


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> Any:
    """The RE2 program of a pattern; raises `re2.error` for one RE2 cannot run."""
    return re2.compile(pattern, _OPTIONS)


def search(pattern: str, text: str) -> bool:
    try:
        return compiled(pattern).search(text) is not None
    except re2.error:
        # Published before patterns were checked: nothing matches, so the value is refused, not hung on.
        return False


def matches_any(patterns: list[str], text: str) -> bool:
    """Whether any of the patterns finds a match in `text` (a property name, say)."""
    return any(search(p, text) for p in patterns)
