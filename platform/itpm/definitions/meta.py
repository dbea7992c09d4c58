"""The meta-schemas: one JSON Schema per kind of definition, in schemas/meta/.

A kind exists because its meta-schema file exists; adding a kind is adding a
file (and, if it needs them, checks in `itpm.definitions.checks`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _
from itpm.config import ROOT
from itpm.definitions.problems import Problem, pointer
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

META_DIR = ROOT / "schemas" / "meta"
SHARED = "definition"


class MetaSchemas:
    """The meta-schemas of a folder, with a validator per kind built once."""

    def __init__(self, folder: Path = META_DIR) -> None:
        self.folder = folder
        self.schemas: dict[str, dict[str, Any]] = {}
        for file in sorted(folder.glob("*.schema.json")):
            kind = file.name.removesuffix(".schema.json")
            self.schemas[kind] = json.loads(file.read_text("utf-8"))
        resources = [(schema["$id"], Resource.from_contents(schema)) for schema in self.schemas.values()]
        self._registry: Registry = Registry().with_resources(resources)
        self._validators = {
            kind: Draft202012Validator(
                schema,
                registry=self._registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
            for kind, schema in self.schemas.items()
            if kind != SHARED
        }

    @cached_property
    def kinds(self) -> list[str]:
        return sorted(self._validators)

    def export_path(self, kind: str, name: str) -> str:
        """Where a definition of `kind` lives in a configuration folder."""
        template = self.schemas[kind].get("x-export-path", f"{kind}s/{{name}}.json")
        return template.format(name=name)

    def problems(self, kind: str, body: dict[str, Any], file: str) -> list[Problem]:
        """Every way `body` breaks the meta-schema of `kind`."""
        return [_problem(error, file) for error in _leaves(self._validators[kind].iter_errors(body))]


def _leaves(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    """The errors a person can act on: inside oneOf/anyOf, the most relevant branch."""
    for error in errors:
        if error.context:
            yield from _leaves(iter([best_match(error.context)]))
        else:
            yield error


def _problem(error: ValidationError, file: str) -> Problem:
    path = list(error.absolute_path)
    instance = error.instance
    keyword = error.validator
    if keyword == "required":
        missing = next(p for p in error.validator_value if p not in instance)
        return Problem(file, pointer([*path, missing]), _("is required"))
    if keyword == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(instance) - set(known))
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
        description = error.schema.get("description")
        if description:
            return Problem(
                file,
                pointer(path),
                _("%(value)s is not valid: %(rule)s", value=_short(instance), rule=description),
            )
        return Problem(
            file,
            pointer(path),
            _("%(value)s does not match %(pattern)s", value=_short(instance), pattern=error.validator_value),
        )
    if keyword == "minLength" and error.validator_value == 1:
        return Problem(file, pointer(path), _("must not be empty"))
    if keyword in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
        return Problem(file, pointer(path), _limit(keyword, error.validator_value, _short(instance)))
    return Problem(file, pointer(path), _short_message(error.message))


def _limit(keyword: str, limit: Any, value: str) -> Any:
    return {
        "minimum": lambda: _("must be at least %(limit)s; got %(value)s", limit=limit, value=value),
        "maximum": lambda: _("must be at most %(limit)s; got %(value)s", limit=limit, value=value),
        "minLength": lambda: _("must be at least %(limit)s characters long", limit=limit),
        "maxLength": lambda: _("must be at most %(limit)s characters long", limit=limit),
        "minItems": lambda: _("must have at least %(limit)s items", limit=limit),
        "maxItems": lambda: _("must have at most %(limit)s items", limit=limit),
    }[keyword]()


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _short_message(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."
