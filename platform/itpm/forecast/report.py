"""A project's forecast for a PDF report (the client status report): plain values the template words.

A report definition's `forecast` names the parameter of the project; the
forecast is made for the report's reader, from what they may read (a client
gets the forecast of the tasks and projects their organisation reads, and no
one's workload). The template gets dates, the chance of the planned date as a
whole percent within 1..99, and the codes of the flags raised: which flags a
client reads about, and in which words, is the report's texts' choice (an
admin's), never the internal reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from flask_babel import lazy_gettext as _

from itpm.definitions.checks import Configuration
from itpm.definitions.problems import Problem
from itpm.forecast.service import forecast_project, forecast_types
from itpm.records.service import Records


def report_forecast(
    records: Records, body: Mapping[str, Any], arguments: Mapping[str, Any], as_of: dt.date
) -> dict[str, Any] | None:
    """The forecast of the project the report's `forecast` parameter names, as of `as_of` (None: the
    report reads none, or the project's type is not forecast)."""
    parameter = body.get("forecast")
    if not parameter or arguments.get(parameter) is None:
        return None
    ref = body["parameters"]["properties"][parameter].get("x-ref")
    if ref not in forecast_types(records.catalog):
        return None
    project = records.get(ref, arguments[parameter], "report")
    found = forecast_project(records, ref, project, as_of)
    if found is None:
        return None
    forecast = found.forecast
    day = lambda p: forecast.percentiles[p].isoformat() if forecast.percentiles.get(p) else None  # noqa: E731
    return {
        "status": forecast.status,  # ok, done, not_enough_history, no_finish
        "as_of": as_of.isoformat(),
        "planned": forecast.planned.isoformat() if forecast.planned else None,
        "p50": day(50),
        "p85": day(85),
        "p95": day(95),
        # a whole percent, never 0 nor 100 (the forecast's own bounds are 1% and 99%)
        "chance": min(99, max(1, round(100 * forecast.on_time))) if forecast.on_time is not None else None,
        "weeks": forecast.weeks,
        "runs": forecast.runs,
        "flags": [f.code for f in found.flags],
    }


def forecast_problems(body: Mapping[str, Any], file: str, configuration: Configuration) -> Iterator[Problem]:
    """`forecast` must name a parameter that refers to a record (the project)."""
    name = body.get("forecast")
    if name is None:
        return
    parameter = body.get("parameters", {}).get("properties", {}).get(name)
    if parameter is None:
        yield Problem(file, "/forecast", _("names no parameter: %(name)r", name=name))
    elif parameter.get("x-ref") not in configuration.names("record_type"):
        yield Problem(
            file, "/forecast", _("must name a parameter that refers to a record (an integer with x-ref)")
        )
