"""KPI figures for a PDF report: the same answers as the dashboards and the API, for the report's reader.

A report definition's `kpis` names each figure its template reads (`kpis.sla`):
a KPI, its filters by the report's parameters (the project reported on), and
how many months up to the report's month. They are measured here, before the
template runs in its sandbox (which reaches no database), as plain values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from flask_babel import lazy_gettext as _

from itpm.definitions.checks import Configuration
from itpm.definitions.problems import Problem
from itpm.kpis.service import ask
from itpm.kpis.spec import MONTH
from itpm.records.service import Forbidden, NotFound, Records


def report_kpis(
    records: Records,
    body: Mapping[str, Any],
    arguments: Mapping[str, Any],
    now: dt.datetime | None = None,
    lang: str | None = None,
) -> dict[str, Any]:
    """Each figure a report's `kpis` names, for the reader of `records` and the report's parameters, as of
    the report's `now` (its `today` is the KPIs' today)."""
    if now is not None:
        records = Records(
            records.session, records.catalog, records.actor, clock=lambda: now, timezone=records.zone.key
        )
    found = {}
    for name, wanted in body.get("kpis", {}).items():
        months = wanted.get("months", 1)
        month = arguments.get(wanted["month"]) if wanted.get("month") else None
        if isinstance(month, str) and MONTH.match(month):
            year, number = int(month[:4]), int(month[5:7])
            first = (year * 12 + number - 1) - (months - 1)
            period = f"{first // 12:04d}-{first % 12 + 1:02d}..{month}"
        else:
            period = None
        filters = {
            k: arguments[p] for k, p in wanted.get("where", {}).items() if arguments.get(p) is not None
        }
        try:
            figure = ask(
                records, wanted["kpi"], period, wanted.get("breakdown"), filters, months, lang=lang
            ).as_json()
        except (NotFound, Forbidden):  # a KPI the reader may not read shows as no figure
            figure = {"value": None, "n": 0, "numerator": None, "denominator": None, "groups": []}
        figure["series"] = [(g["label"], g["value"], g["n"]) for g in figure.get("groups", [])]
        found[name] = figure
    return found


def kpi_problems(body: Mapping[str, Any], file: str, configuration: Configuration) -> Iterator[Problem]:
    """A report's `kpis` must name KPIs, breakdowns they allow and parameters the report has."""
    parameters = body.get("parameters", {}).get("properties", {})
    for name, wanted in body.get("kpis", {}).items():
        document = configuration.get("kpi", wanted["kpi"])
        if document is None:
            yield Problem(file, f"/kpis/{name}/kpi", _("names no KPI: %(name)r", name=wanted["kpi"]))
            continue
        allowed = document.body.get("breakdowns", [])
        for key in [*([wanted["breakdown"]] if "breakdown" in wanted else []), *wanted.get("where", {})]:
            if key not in allowed:
                yield Problem(
                    file,
                    f"/kpis/{name}",
                    _(
                        "the KPI %(kpi)s breaks down by %(allowed)s, not %(name)s",
                        kpi=wanted["kpi"],
                        allowed=", ".join(allowed) or "-",
                        name=key,
                    ),
                )
        for key, parameter in [
            *(("month", wanted["month"]),) * ("month" in wanted),
            *wanted.get("where", {}).items(),
        ]:
            if parameter not in parameters:
                yield Problem(
                    file,
                    f"/kpis/{name}/{'month' if key == 'month' else 'where/' + key}",
                    _("names no parameter: %(name)r", name=parameter),
                )
