"""A report definition as the engine reads it: parameters, data sources, texts and files.

Built from a published `report` document of the catalog; the meta-schema and
`itpm.reports.checks` have already refused what would not make sense, so this
module only gives the parts names.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from flask_babel import lazy_gettext as _

from itpm.catalog import Catalog
from itpm.definitions.documents import file_bytes
from itpm.definitions.patterns import Validator
from itpm.definitions.problems import Problem, pointer, problems_from_errors
from itpm.records.service import Invalid, NotFound

#: System fields a source may filter on, and their columns.
SYSTEM_FILTERS = {
    "department": "department_id",
    "client": "client_id",
    "owner": "owner_id",
    "assignee": "assignee_id",
    "state": "state",
}
#: References a parameter may hold besides record types.
BUILTIN_PARAMETER_REFS = ("user", "department")
DEFAULT_LIMIT = 1000
MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
TEXT_SUFFIXES = (".html", ".css", ".svg", ".txt", ".md")


@dataclass(frozen=True)
class Parameter:
    name: str
    schema: dict[str, Any]
    required: bool

    @property
    def title(self) -> dict[str, str]:
        return {"en": self.schema["title"], "zh": self.schema["x-title-zh"]}

    @property
    def ref(self) -> str | None:
        return self.schema.get("x-ref")

    @property
    def is_month(self) -> bool:
        return self.schema.get("x-period") == "month"


@dataclass(frozen=True)
class Source:
    name: str
    body: dict[str, Any]

    @property
    def record_type(self) -> str:
        return self.body["record_type"]

    @property
    def id(self) -> str | None:
        return self.body.get("id")

    @property
    def where(self) -> dict[str, str]:
        return self.body.get("where", {})

    @property
    def within(self) -> dict[str, Any] | None:
        return self.body.get("within")

    @property
    def order(self) -> list[str]:
        return self.body.get("order", [])

    @property
    def limit(self) -> int:
        return self.body.get("limit", DEFAULT_LIMIT)

    @property
    def history(self) -> bool:
        return self.body.get("history", False)

    @property
    def optional(self) -> bool:
        return self.body.get("optional", False)


@dataclass(frozen=True)
class ReportDefinition:
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return self.body["name"]

    @property
    def title(self) -> dict[str, str]:
        return self.body["title"]

    @property
    def description(self) -> dict[str, str] | None:
        return self.body.get("description")

    @property
    def attach_to(self) -> str | None:
        return self.body.get("attach_to")

    @cached_property
    def parameters(self) -> dict[str, Parameter]:
        schema = self.body["parameters"]
        required = set(schema.get("required", []))
        return {n: Parameter(n, s, n in required) for n, s in schema["properties"].items()}

    @cached_property
    def sources(self) -> dict[str, Source]:
        return {n: Source(n, s) for n, s in self.body.get("data", {}).items()}

    def texts(self, lang: str) -> dict[str, str]:
        return {key: value.get(lang) or value["en"] for key, value in self.body.get("texts", {}).items()}

    @cached_property
    def files(self) -> dict[str, bytes]:
        return {path: file_bytes(content) for path, content in self.body.get("files", {}).items()}

    @cached_property
    def templates(self) -> dict[str, str]:
        """The text files Jinja may load (the template and what it includes)."""
        return {
            p: c
            for p, c in self.body.get("files", {}).items()
            if isinstance(c, str) and p.endswith(TEXT_SUFFIXES)
        }

    @cached_property
    def _validator(self) -> Any:
        return Validator(self.body["parameters"])

    def arguments(self, given: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
        """The parameters' values from what a person gave (text from a form or the command line is
        converted); an empty month is the current one. Invalid (422) names every bad parameter."""
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for name, value in given.items():
            if name not in self.parameters:
                problems.append(
                    Problem("", pointer(["parameters", name]), _("is not a parameter of this report"))
                )
            elif value not in (None, ""):
                values[name] = _converted(self.parameters[name], value)
        for parameter in self.parameters.values():
            if parameter.is_month and parameter.name not in values:
                values[parameter.name] = f"{today:%Y-%m}"
            elif parameter.is_month and not MONTH.match(str(values[parameter.name])):
                problems.append(
                    Problem("", pointer(["parameters", parameter.name]), _("must be a month (YYYY-MM)"))
                )
        problems += problems_from_errors(self._validator.iter_errors(values), prefix=["parameters"])
        if problems:
            raise Invalid(_("The report's parameters have problems."), problems)
        return {name: values[name] for name in self.parameters if name in values}


def _converted(parameter: Parameter, value: Any) -> Any:
    """A value given as text, as its parameter's type (left as it is when it does not convert)."""
    if not isinstance(value, str):
        return value
    kind = parameter.schema["type"]
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    return value


def report_definition(catalog: Catalog, name: str) -> ReportDefinition:
    """The published report named `name`; NotFound when there is none."""
    document = catalog.configuration.get("report", name)
    if document is None:
        raise NotFound(_("There is no report %(name)s.", name=name))
    return ReportDefinition(document.body)


def report_definitions(catalog: Catalog) -> list[ReportDefinition]:
    return [ReportDefinition(d.body) for d in catalog.configuration.of_kind("report")]
