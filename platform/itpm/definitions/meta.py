"""The meta-schemas: one JSON Schema per kind of definition, in schemas/meta/.

A kind exists because its meta-schema file exists; adding a kind is adding a
file. Checks beyond the meta-schema live in the Python module the meta-schema
names in `x-checks`, registered there with `itpm.definitions.checks.check`.
"""

from __future__ import annotations

import importlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from itpm.config import ROOT
from itpm.definitions.problems import Problem, checked_once, problems_from_errors

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

    def import_checks(self, kind: str) -> None:
        """Load the module a kind's meta-schema names in `x-checks`, which registers its checks."""
        module = self.schemas.get(kind, {}).get("x-checks")
        if module:
            importlib.import_module(module)

    def export_path(self, kind: str, name: str) -> str:
        """Where a definition of `kind` lives in a configuration folder."""
        template = self.schemas[kind].get("x-export-path", f"{kind}s/{{name}}.json")
        return template.format(name=name)

    def problems(self, kind: str, body: dict[str, Any], file: str) -> list[Problem]:
        """Every way `body` breaks the meta-schema of `kind`."""
        return checked_once(
            f"meta:{self.folder}:{kind}",
            body,
            lambda: problems_from_errors(self._validators[kind].iter_errors(body), file),
        )
