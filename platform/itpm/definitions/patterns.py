"""Regular expressions of definitions, run by RE2: in time linear in the text, whatever an admin wrote.

JSON Schema's `pattern` and `patternProperties` in record types and report
parameters are the admin's (conditions allow no patterns); Python's `re`
backtracks, so `(a+)+$` on 28 characters held a process for seconds. Every
schema of a definition is validated with `Validator` (Draft 2020-12 with those
keywords on RE2), and `pattern_problems` refuses, by JSON path, a pattern RE2
cannot run (back-references, look-around) before it is published.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
from flask_babel import lazy_gettext as _
from jsonschema import Draft202012Validator, ValidationError, validators

from itpm.definitions.problems import Problem, pointer

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the admin, not to stderr


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> Any:
    """The RE2 program of a pattern; raises `re2.error` for one RE2 cannot run."""
    return re2.compile(pattern, _OPTIONS)


def _search(pattern: str, text: str) -> bool:
    try:
        return compiled(pattern).search(text) is not None
    except re2.error:
        # Published before patterns were checked: nothing matches, so the value is refused, not hung on.
        return False


def matches_any(patterns: list[str], text: str) -> bool:
    """Whether any of the patterns finds a match in `text` (a property name, say)."""
    return any(_search(p, text) for p in patterns)


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    known, patterns = schema.get("properties", {}), list(schema.get("patternProperties", {}))
    extras = sorted((k for k in instance if k not in known and not matches_any(patterns, k)), key=str)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError(
            f"Additional properties are not allowed ({', '.join(repr(e) for e in extras)} "
            f"{'was' if len(extras) == 1 else 'were'} unexpected)"
        )


#: Draft 2020-12, its regular expressions on RE2.
Validator = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
)


def pattern_problems(body: Any, file: str, path: tuple[str | int, ...] = ()) -> Iterator[Problem]:
    """A problem for each `pattern` (or `patternProperties` name) anywhere in a definition that RE2 cannot run."""
    if isinstance(body, list):
        for index, item in enumerate(body):
            yield from pattern_problems(item, file, (*path, index))
        return
    if not isinstance(body, dict):
        return
    for key, value in body.items():
        here = (*path, key)
        if key == "pattern" and isinstance(value, str):
            yield from _refused(value, file, here)
        elif key == "patternProperties" and isinstance(value, dict):
            for name in value:
                yield from _refused(name, file, (*here, name))
        yield from pattern_problems(value, file, here)


def _refused(pattern: str, file: str, path: tuple[str | int, ...]) -> Iterator[Problem]:
    try:
        compiled(pattern)
    except re2.error as error:
        reason = error.args[0] if error.args else ""
        yield Problem(
            file,
            pointer(list(path)),
            _(
                "%(pattern)s is a pattern itpm cannot run in linear time (%(error)s): "
                "use no back-references or look-around",
                pattern=pattern,
                error=reason.decode("utf-8", "replace") if isinstance(reason, bytes) else reason,
            ),
        )
