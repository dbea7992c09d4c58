"""Checks of `report` definitions beyond their meta-schema, run whenever definitions are validated.

A report must name things that exist: record types and their fields, its own
parameters and data sources, its own texts; and its templates must parse.
Each problem names the file (the definition, or the template and its line).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from flask_babel import lazy_gettext as _
from jinja2 import TemplateSyntaxError, meta, nodes

from itpm.definitions.checks import BUILTIN_TYPES, Configuration, check
from itpm.definitions.documents import Document
from itpm.definitions.problems import Problem, checked_once, pointer
from itpm.forecast.report import forecast_problems
from itpm.kpis.reports import kpi_problems
from itpm.records.fields import DATE, DATETIME, SYSTEM, RecordTypeSpec
from itpm.reports.definition import BUILTIN_PARAMETER_REFS, SYSTEM_FILTERS, ReportDefinition
from itpm.reports.templates import TEMPLATE, environment

#: What every template may use besides its data sources.
CONTEXT = (
    "report", "lang", "texts", "params", "param_labels", "today", "now", "charts", "measures", "kpis", "forecast",
)  # fmt: skip


@check("report")
def _report(document: Document, configuration: Configuration) -> Iterator[Problem]:
    report = ReportDefinition(document.body)
    file = document.file
    yield from _parameters(report, file, configuration)
    yield from _attachment(report, file)
    yield from kpi_problems(document.body, file, configuration)
    yield from forecast_problems(document.body, file, configuration)
    for source in report.sources.values():
        yield from _source(report, source.name, file, configuration)
    if TEMPLATE not in report.templates:
        yield Problem(file, "/files", _("%(name)s is missing beside the definition", name=TEMPLATE))
    for name, text in sorted(report.templates.items()):
        if name.endswith(".html"):
            path = str(PurePosixPath(file).parent / name)
            yield from checked_once(
                "report-template",
                [document.body, name, text],
                lambda: list(_template(report, name, text, path)),  # noqa: B023 - called at once
            )


def _parameters(report: ReportDefinition, file: str, configuration: Configuration) -> Iterator[Problem]:
    for index, name in enumerate(report.body["parameters"].get("required", [])):
        if name not in report.parameters:
            yield Problem(file, f"/parameters/required/{index}", _("names no parameter: %(name)r", name=name))
    known = (*configuration.names("record_type"), *BUILTIN_PARAMETER_REFS)
    for parameter in report.parameters.values():
        here = ["parameters", "properties", parameter.name]
        if parameter.ref is not None and parameter.ref not in known:
            yield Problem(
                file, pointer([*here, "x-ref"]), _("names no record type: %(name)r", name=parameter.ref)
            )
        if parameter.ref is not None and parameter.schema["type"] != "integer":
            yield Problem(file, pointer([*here, "x-ref"]), _("a reference parameter must be of type integer"))
        if parameter.is_month and parameter.schema["type"] != "string":
            yield Problem(file, pointer([*here, "x-period"]), _("a month parameter must be of type string"))


def _attachment(report: ReportDefinition, file: str) -> Iterator[Problem]:
    name = report.attach_to
    if name is None:
        if not any(p.ref == "department" for p in report.parameters.values()):
            yield Problem(
                file,
                "/attach_to",
                _(
                    "is required: the parameter of the record the PDF is kept on (or give the report a department parameter)"
                ),
            )
    elif name not in report.parameters:
        yield Problem(file, "/attach_to", _("names no parameter: %(name)r", name=name))
    elif report.parameters[name].ref in (None, *BUILTIN_PARAMETER_REFS, *BUILTIN_TYPES):
        yield Problem(
            file, "/attach_to", _("must name a parameter that refers to a record (an integer with x-ref)")
        )


def _source(
    report: ReportDefinition, name: str, file: str, configuration: Configuration
) -> Iterator[Problem]:
    source = report.sources[name]
    here = ["data", name]
    if name in CONTEXT:
        yield Problem(
            file, pointer(here), _("%(name)r is a name every report template has; choose another", name=name)
        )
    document = configuration.get("record_type", source.record_type)
    if document is None:
        if not source.optional:
            yield Problem(
                file,
                pointer([*here, "record_type"]),
                _("names no record type: %(name)r", name=source.record_type),
            )
        return
    spec = RecordTypeSpec(document.body)
    parameters = report.parameters
    if source.id is not None:
        if source.id not in parameters:
            yield Problem(file, pointer([*here, "id"]), _("names no parameter: %(name)r", name=source.id))
        elif parameters[source.id].ref != source.record_type:
            yield Problem(
                file,
                pointer([*here, "id"]),
                _(
                    "the parameter %(name)r does not refer to a %(type)s",
                    name=source.id,
                    type=source.record_type,
                ),
            )
    for field, parameter in source.where.items():
        if field not in spec.fields and field not in SYSTEM_FILTERS:
            yield Problem(file, pointer([*here, "where", field]), _("names no field: %(name)r", name=field))
        if parameter not in parameters:
            yield Problem(
                file, pointer([*here, "where", field]), _("names no parameter: %(name)r", name=parameter)
            )
    within = source.within
    if within is not None:
        field = spec.fields.get(within["field"])
        if (field is None or field.kind not in (DATE, DATETIME)) and within["field"] not in (
            "created_at",
            "updated_at",
        ):
            yield Problem(
                file,
                pointer([*here, "within", "field"]),
                _("names no date field: %(name)r", name=within["field"]),
            )
        month = parameters.get(within["month"])
        if month is None or not month.is_month:
            yield Problem(
                file,
                pointer([*here, "within", "month"]),
                _("names no month parameter: %(name)r", name=within["month"]),
            )
    for index, order in enumerate(source.order):
        if order.lstrip("-") not in spec.fields and order.lstrip("-") not in SYSTEM:
            yield Problem(
                file, pointer([*here, "order", index]), _("names no field: %(name)r", name=order.lstrip("-"))
            )


def _template(report: ReportDefinition, name: str, text: str, file: str) -> Iterator[Problem]:
    path = pointer(["files", name])
    try:
        tree = environment(report.templates).parse(text, name, name)
    except TemplateSyntaxError as error:
        yield Problem(file, path, _("line %(line)d: %(message)s", line=error.lineno, message=error.message))
        return
    known = {*CONTEXT, *report.sources, *environment({}).globals}
    for unknown in sorted(_undeclared(tree) - known):
        yield Problem(file, path, _("uses %(name)r, which is no data source of this report", name=unknown))
    for node in tree.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier)):
        yield Problem(
            file,
            path,
            _("line %(line)d: templates may not change escaping (autoescape)", line=node.lineno),
        )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        key = _key(node)
        if key is None:
            continue
        if key.startswith("_"):
            yield Problem(
                file,
                path,
                _(
                    "line %(line)d: templates may not use Python internals (%(name)s)",
                    line=node.lineno,
                    name=key,
                ),
            )
        elif _named(node, "params") and key not in report.parameters:
            yield Problem(
                file, path, _("line %(line)d: names no parameter: %(name)r", line=node.lineno, name=key)
            )
        elif _named(node, "texts") and key not in report.body.get("texts", {}):
            yield Problem(file, path, _("line %(line)d: names no text: %(name)r", line=node.lineno, name=key))


class _Introspection(meta.TrackingCodeGenerator):
    """`jinja2.meta`'s look at what a template reads, without the optimizer: it would work out the
    template's constant expressions (a gigabyte string, say) in this process, outside any limit."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.optimizer = None


def _undeclared(tree: nodes.Template) -> set[str]:
    """The names a template reads from its context (as `jinja2.meta.find_undeclared_variables`)."""
    codegen = _Introspection(tree.environment)
    codegen.visit(tree)
    return codegen.undeclared_identifiers


def _key(node: Any) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _named(node: Any, name: str) -> bool:
    return isinstance(node.node, nodes.Name) and node.node.name == name
