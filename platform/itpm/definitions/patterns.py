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
from typing import Any

import re2
from flask_babel import lazy_gettext as _
from jsonschema import Draft202012Validator, ValidationError, validators

from itpm.definitions.matching import compiled, matches_any, search
from itpm.definitions.problems import Problem, pointer


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if search(pattern, key):
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
