"""Checks of `kpi` and `dashboard` definitions beyond their meta-schemas: what they say about the others.

A KPI's record type, fields, conditions (compiled as the database will run
them), calendar, breakdowns and readers must exist; a dashboard's tiles must
name KPIs and breakdowns those KPIs allow. Registered with
`itpm.definitions.checks.check`; the meta-schemas name this module in `x-checks`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from flask_babel import lazy_gettext as _
from sqlalchemy import column

from itpm.definitions.checks import Configuration, check
from itpm.definitions.documents import Document
from itpm.definitions.problems import Problem
from itpm.expressions import ExpressionError
from itpm.kpis.conditions import to_sql, value_sql
from itpm.kpis.measure import NOW, WALL, project_field_ok
from itpm.records.fields import DATE, DATETIME, INTEGER, NUMBER, SYSTEM, RecordTypeSpec

NUMBERS = (INTEGER, NUMBER)
DATES = (DATE, DATETIME)


@check("kpi")
def _kpi(document: Document, configuration: Configuration) -> Iterator[Problem]:
    body, file = document.body, document.file
    type_document = configuration.get("record_type", body["record_type"])
    if type_document is None:
        yield Problem(file, "/record_type", _("names no record type: %(name)r", name=body["record_type"]))
        return
    spec = RecordTypeSpec(type_document.body)

    def kind(name: str) -> str | None:
        if name in spec.fields:
            return spec.fields[name].kind
        return SYSTEM[name][1] if name in SYSTEM else None

    def field_problem(path: str, name: str, kinds: tuple[str, ...], what: object) -> Iterator[Problem]:
        found = kind(name)
        if found is None:
            yield Problem(file, path, _("%(name)r is not a field of %(type)s", name=name, type=spec.name))
        elif found not in kinds:
            yield Problem(file, path, _("%(name)r is not %(what)s", name=name, what=what))

    yield from field_problem("/cohort", body["cohort"], DATES, _("a date or a date and time"))
    for key in ("where", "numerator", "subtract"):
        if key in body:
            yield from _expression(file, f"/{key}", body[key], kind)
    if body["measure"] != "share" and "numerator" in body:
        yield Problem(
            file, "/numerator", _("is for a share only; this KPI's measure is %(m)s", m=body["measure"])
        )
    value = body.get("value")
    if body["measure"] in ("count", "share") and value is not None:
        yield Problem(file, "/value", _("a %(m)s counts records: it takes no value", m=body["measure"]))
    elif isinstance(value, str):
        yield from _expression(file, "/value", value, kind, NUMBERS)
    elif isinstance(value, dict) and "from" in value:
        for end in ("from", "to"):
            if not (end == "to" and value[end] == NOW):
                yield from field_problem(f"/value/{end}", value[end], DATES, _("a date or a date and time"))
        if value["calendar"] != WALL and configuration.get("sla", value["calendar"]) is None:
            yield Problem(
                file,
                "/value/calendar",
                _(
                    "is %(wall)r or names an sla definition, whose calendar counts; %(name)r is neither",
                    wall=WALL,
                    name=value["calendar"],
                ),
            )
    elif isinstance(value, dict):
        if not any(d.body.get("record_type") == spec.name for d in configuration.of_kind("sla")):
            yield Problem(
                file, "/value/sla", _("%(type)s has no SLA policy, so no stored SLA outcome", type=spec.name)
            )
    for index, breakdown in enumerate(body.get("breakdowns", ())):
        if breakdown == "priority" and "priority" not in spec.fields:
            yield Problem(file, f"/breakdowns/{index}", _("%(type)s has no priority field", type=spec.name))
        if breakdown == "project" and not project_field_ok(spec):
            yield Problem(
                file, f"/breakdowns/{index}", _("%(type)s has no project reference", type=spec.name)
            )
    if body.get("team_as_of") and "team" not in body.get("breakdowns", ()):
        yield Problem(file, "/team_as_of", _("is for a KPI that breaks down by team"))
    if body.get("goals") and "department" not in body.get("breakdowns", ()):
        yield Problem(
            file, "/goals", _("a pilot goal is measured over its department: add department to breakdowns")
        )
    roles = configuration.names("role")
    for index, role in enumerate(body.get("readers", ())):
        if role not in roles:
            yield Problem(file, f"/readers/{index}", _("names no role: %(name)r", name=role))


def _expression(
    file: str, path: str, source: str, kind: Callable[[str], str | None], numbers: tuple[str, ...] = ()
) -> Iterator[Problem]:
    """The problems of a condition (or, given `numbers`, a number value) as the database would run it."""

    def columns(name: str) -> tuple[object, str]:
        found = kind(name)
        if found is None:
            raise KeyError(name)
        return column(name), found

    moment = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    try:
        if numbers:
            found = value_sql(source, columns, moment)[1]
            if found not in (*numbers, "number"):
                yield Problem(file, path, _("is not a number: a KPI averages or sums numbers"))
        else:
            to_sql(source, columns, moment)
    except ExpressionError as error:
        yield Problem(file, path, str(error))


@check("dashboard")
def _dashboard(document: Document, configuration: Configuration) -> Iterator[Problem]:
    body, file = document.body, document.file
    for index, tile in enumerate(body["tiles"]):
        if tile["show"] == "forecasts":  # no KPI: the kept forecasts
            continue
        kpi = configuration.get("kpi", tile["kpi"])
        if kpi is None:
            yield Problem(file, f"/tiles/{index}/kpi", _("names no KPI: %(name)r", name=tile["kpi"]))
            continue
        allowed = kpi.body.get("breakdowns", [])
        wanted = tile.get("breakdown") or ("month" if tile["show"] == "trend" else None)
        if tile["show"] in ("bars", "worst") and "breakdown" not in tile:
            yield Problem(file, f"/tiles/{index}/breakdown", _("is required for %(show)s", show=tile["show"]))
        elif wanted and wanted not in allowed:
            yield Problem(
                file,
                f"/tiles/{index}/breakdown" if "breakdown" in tile else f"/tiles/{index}/show",
                _(
                    "the KPI %(kpi)s breaks down by %(allowed)s, not %(name)s",
                    kpi=tile["kpi"],
                    allowed=", ".join(allowed) or "-",
                    name=wanted,
                ),
            )
    roles = configuration.names("role")
    for index, role in enumerate(body.get("home_for", ())):
        if role not in roles:
            yield Problem(file, f"/home_for/{index}", _("names no role: %(name)r", name=role))
