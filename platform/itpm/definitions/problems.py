"""What is wrong with a definition, and where: a file, a JSON pointer and a message."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _
from jsonschema.exceptions import ValidationError, best_match

from itpm.definitions.matching import matches_any
from itpm.texts import Bilingual


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.file else f"{self.path}: {self.message}"

    def as_json(self) -> dict[str, str]:
        data = {"path": self.path, "message": str(self.message)}  # a lazy or bilingual text, read now
        if self.file:
            data["file"] = self.file
        return data


class DefinitionError(Exception):
    """Definitions refused as a whole; `problems` names every error."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(set(problems), key=_reading_order)
        super().__init__("\n".join(str(p) for p in self.problems))

    def as_json(self) -> list[dict[str, str]]:
        return [p.as_json() for p in self.problems]


def _reading_order(problem: Problem) -> tuple[str, list[str], str]:
    return (problem.file, problem.path.split("/"), problem.message)


def pointer(parts: Iterable[Any]) -> str:
    """The JSON pointer (RFC 6901) of a path; the whole document is '/'."""
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return "/" + "/".join(escaped) if escaped else "/"


def problems_from_errors(
    errors: Iterable[ValidationError], file: str = "", prefix: Sequence[Any] = ()
) -> list[Problem]:
    """JSON Schema errors as problems a person can act on, each at its JSON pointer."""
    return [problem_from_error(error, file, prefix) for error in _leaves(iter(errors))]


#: What is known to have no problems, by (what checked it, digest of what was checked): every publish
#: checks the whole configuration, and most of it is what the last publish checked. Bounded: cleared
#: when full.
_FOUND_SOUND: set[tuple[str, str]] = set()
_SOUND_MAX = 20_000


def digest(value: Any) -> str:
    """A digest of a JSON value's content (keys in any order)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def checked_once(check: str, value: Any, problems: Callable[[], list[Problem]]) -> list[Problem]:
    """`problems()`, unless `check` found none in this same `value` before (in this process)."""
    key = (check, digest(value))
    if key in _FOUND_SOUND:
        return []
    found = problems()
    if not found:
        if len(_FOUND_SOUND) >= _SOUND_MAX:
            _FOUND_SOUND.clear()
        _FOUND_SOUND.add(key)
    return found


def raise_if(problems: Sequence[Problem]) -> None:
    if problems:
        raise DefinitionError(problems)


def _leaves(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    """The errors a person can act on: inside oneOf/anyOf, the most relevant branch."""
    for error in errors:
        if error.context:
            yield from _leaves(iter([best_match(error.context)]))
        else:
            yield error


def problem_from_error(error: ValidationError, file: str = "", prefix: Sequence[Any] = ()) -> Problem:
    path = [*prefix, *error.absolute_path]
    instance = error.instance
    keyword = error.validator
    if keyword == "not" and error.validator_value in ({}, True):  # a property ruled out in its place
        return Problem(file, pointer(path), _("is not allowed here"))
    if keyword == "required":
        missing = next(p for p in error.validator_value if p not in instance)
        return Problem(file, pointer([*path, missing]), _("is required"))
    if keyword == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extra = sorted(k for k in set(instance) - set(known) if not matches_any(patterns, k))
        return Problem(
            file,
            pointer([*path, extra[0]]),
            _("is not a known property (known: %(known)s)", known=", ".join(known)),
        )
    if keyword == "enum":
        choices = ", ".join(json.dumps(v, ensure_ascii=False) for v in error.validator_value)
        return Problem(
            file,
            pointer(path),
            _("must be one of %(choices)s; got %(value)s", choices=choices, value=_short(instance)),
        )
    if keyword == "const":
        return Problem(
            file,
            pointer(path),
            _(
                "must be %(expected)s; got %(value)s",
                expected=json.dumps(error.validator_value),
                value=_short(instance),
            ),
        )
    if keyword == "type":
        return Problem(
            file,
            pointer(path),
            _("must be of type %(type)s; got %(value)s", type=error.validator_value, value=_short(instance)),
        )
    if keyword == "pattern":
        return Problem(file, pointer(path), _pattern_message(error.schema, _short(instance)))
    if keyword == "format":
        return Problem(file, pointer(path), _format_message(error.validator_value))
    if keyword == "dependentRequired":  # jsonschema says which in its message only
        missing, needing = re.match(r"'(.+)' is a dependency of '(.+)'", error.message).groups()
        field = error.schema.get("properties", {}).get(needing, {})
        english = field.get("title", needing)
        title = Bilingual({"en": english, "zh": field.get("x-title-zh", english)})
        return Problem(
            file, pointer([*path, missing]), _("is required when %(field)s has a value", field=title)
        )
    if keyword == "uniqueItems":
        return Problem(file, pointer(path), _("must not repeat an item"))
    if keyword == "minLength" and error.validator_value == 1:
        return Problem(file, pointer(path), _("must not be empty"))
    if keyword in (
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "multipleOf",
    ):
        return Problem(file, pointer(path), _limit(keyword, error.validator_value, _short(instance)))
    return Problem(file, pointer(path), _short_message(error.message))


def _pattern_message(schema: Mapping[str, Any], value: str) -> Any:
    """What a pattern expects, in the reader's language: its x-message, else its description;
    never the regular expression itself."""
    if isinstance(schema.get("x-message"), Mapping):
        rule: Any = Bilingual(schema["x-message"])
    elif schema.get("description"):
        rule = Bilingual(
            {"en": schema["description"], "zh": schema.get("x-description-zh", schema["description"])}
        )
    else:
        return _("%(value)s is not in the form this field expects", value=value)
    return _("%(value)s is not valid: %(rule)s", value=value, rule=rule)


def _format_message(format_name: str) -> Any:
    if format_name == "date":
        return _("must be a date (YYYY-MM-DD)")
    if format_name == "date-time":
        return _("must be a date and time with its offset, e.g. 2026-03-14T09:30:00+08:00")
    if format_name == "email":
        return _("must be an e-mail address")
    if format_name == "time":
        return _("must be a time with its offset, e.g. 09:30:00+08:00")
    if format_name == "uri":
        return _("must be a full address with its scheme, e.g. https://example.com/page")
    if format_name == "uuid":
        return _("must be a UUID, e.g. 123e4567-e89b-12d3-a456-426614174000")
    if format_name == "ipv4":
        return _("must be an IPv4 address, e.g. 192.168.1.10")
    return _("must be a valid %(format)s", format=format_name)


def _limit(keyword: str, limit: Any, value: str) -> Any:
    return {
        "minimum": lambda: _("must be at least %(limit)s; got %(value)s", limit=limit, value=value),
        "maximum": lambda: _("must be at most %(limit)s; got %(value)s", limit=limit, value=value),
        "minLength": lambda: _("must be at least %(limit)s characters long", limit=limit),
        "maxLength": lambda: _("must be at most %(limit)s characters long", limit=limit),
        "minItems": lambda: _("must have at least %(limit)s items", limit=limit),
        "maxItems": lambda: _("must have at most %(limit)s items", limit=limit),
        "exclusiveMinimum": lambda: _("must be more than %(limit)s; got %(value)s", limit=limit, value=value),
        "exclusiveMaximum": lambda: _("must be less than %(limit)s; got %(value)s", limit=limit, value=value),
        "minProperties": lambda: _("must have at least %(limit)s entries", limit=limit),
        "multipleOf": lambda: _("must be a multiple of %(limit)s; got %(value)s", limit=limit, value=value),
    }[keyword]()


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _short_message(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."
