"""Asking for a KPI: the one function the API, the dashboards, the reports and the portal call, and its cache.

A kept answer's key is made of the KPI's definition (its text) and the
catalog's revision, the period, breakdown and filters, the day, the reader's
language, the reader's row scope as the SQL the access layer gives (with its
values: ids of the person, team, department, client), the fields hidden from
them, and the generation of the counted record table (`itpm.kpis.cache`: bumped
by every commit that writes it, in any process). So two readers share an answer
only when they read the same rows, and a change to the counted records makes
their answers stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from itpm.kpis import cache as keeping
from itpm.kpis.cache import AnswerCache, Answers
from itpm.kpis.measure import Answer, Measure, kpi_of
from itpm.kpis.spec import Kpi, Period, PeriodError, period_of
from itpm.records.fields import CLIENT_TYPE
from itpm.records.service import Invalid, NotFound, Records

__all__ = ["CACHE", "INSTALLED", "AnswerCache", "ask", "ask_many", "counted"]


class _Installed:
    """`ask(..., cache=INSTALLED)`: the answers the reader's installation keeps (`itpm.kpis.cache`)."""


INSTALLED: Any = _Installed()
#: The process's own cache, for callers that hold none (a session of no runtime).
CACHE = AnswerCache()


def cache_key(
    records: Records,
    kpi: Kpi,
    period: Period,
    breakdown: str | None,
    filters: Mapping[str, Any],
    lang: str,
    generation: int,
) -> str:
    """The reader's row scope and hidden fields, the KPI's text and the question, and the records' generation;
    for a breakdown by client or project, also the reader's scope over those (it decides which groups are
    named and which show only their id: readers alike in the KPI's rows may differ there)."""
    spec = records.spec(kpi.record_type)
    scope = records.scope(kpi.record_type)
    dialect = records.session.get_bind().dialect
    today = records.clock().astimezone(records.zone).date()
    parts = {
        "kpi": kpi.body,
        "revision": records.catalog.revision,
        "period": period.label,
        "breakdown": breakdown,
        "filters": {k: str(v) for k, v in sorted(filters.items())},
        "scope": str(scope.compile(dialect=dialect, compile_kwargs={"literal_binds": True})),
        "hidden": sorted(records.access.hidden_fields(records.actor, spec)),
        "today": today.isoformat(),
        "lang": lang,
        "generation": generation,
    }
    if breakdown in ("client", "project"):
        parts["named"] = _named_scope(records, breakdown, dialect)
    if isinstance(kpi.value, dict) and kpi.value.get("to") == "now":
        parts["minute"] = records.clock().strftime("%Y-%m-%dT%H:%M")
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _named_scope(records: Records, breakdown: str, dialect: Any) -> str | None:
    """The reader's scope over the records a client or project breakdown's groups are named from."""
    target = CLIENT_TYPE if breakdown == "client" else "project"
    try:
        condition = records.scope(target)
    except NotFound:
        return None
    return str(condition.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def ask(
    records: Records,
    name: str,
    period: str | None = None,
    breakdown: str | None = None,
    filters: Mapping[str, Any] | None = None,
    months: int = 1,
    cache: Answers | None = INSTALLED,
    lang: str | None = None,
) -> Answer:
    """KPI `name` for the reader of `records`: over `period` (by default the `months` up to this one),
    broken down by `breakdown`, narrowed by `filters` ({breakdown: id or value}).

    NotFound (no such KPI, or not for this reader), Forbidden (it reads a field hidden from them),
    Invalid (a bad period, breakdown or filter). This is the function a page, a report or the client
    portal calls: `ask(records, "sla_compliance", months=6)` gives that client's figure when `records`
    acts for a client user (their organisation's rows only). `cache=None` measures afresh.
    """
    return ask_many(records, name, [(period, months, breakdown)], filters, cache, lang)[0]


def ask_many(
    records: Records,
    name: str,
    questions: Sequence[tuple[str | None, int, str | None]],
    filters: Mapping[str, Any] | None = None,
    cache: Answers | None = INSTALLED,
    lang: str | None = None,
) -> list[Answer]:
    """Several questions (period, months, breakdown) about KPI `name`, as `ask` answers each; those not kept
    are measured together, one query for all that break down by month or not at all and one per other
    breakdown (a dashboard's tiles over one KPI)."""
    kpi = kpi_of(records, name)
    today = records.clock().astimezone(records.zone).date()
    asked = []
    for period, months, breakdown in questions:
        try:
            asked.append((period_of(period, today, months), breakdown))
        except PeriodError as error:
            raise Invalid(str(error)) from None
    measure = Measure(records, kpi, lang=lang)
    checked = measure.checked(None, dict(filters or {}))
    for _period, breakdown in asked:
        measure.checked(breakdown, {})
    keys: list[str | None] = [None] * len(asked)
    found: list[Answer | None] = [None] * len(asked)
    if cache is INSTALLED:
        kept = keeping.of_session(records.session)
        cache = kept.answers if kept is not None else None
        generations = kept.generations if kept is not None else None
    else:
        generations = keeping.of_session(records.session)
        generations = generations.generations if generations is not None else keeping.Generations()
    table = measure.table.name
    if cache is not None and generations is not None and table not in keeping.written(records.session):
        generation = generations.read(table)
        if generation is not None:
            for index, (period, breakdown) in enumerate(asked):
                keys[index] = cache_key(records, kpi, period, breakdown, checked, measure.lang, generation)
                found[index] = cache.get(keys[index])  # type: ignore[arg-type]
    missing = [i for i, a in enumerate(found) if a is None]
    batches: dict[str | None, list[int]] = {}
    for index in missing:
        breakdown = asked[index][1]
        batches.setdefault(None if breakdown in (None, "month") else breakdown, []).append(index)
    for indexes in batches.values():
        answers = measure.answers([asked[i] for i in indexes], checked)
        for index, answer in zip(indexes, answers, strict=True):
            found[index] = answer
            if keys[index] is not None and cache is not None:
                cache.put(keys[index], answer)  # type: ignore[arg-type]
    return [a for a in found if a is not None]


def counted(
    records: Records,
    name: str,
    period: str | None = None,
    filters: Mapping[str, Any] | None = None,
    months: int = 1,
    part: str = "all",
) -> tuple[Kpi, Period, list[int]]:
    """The ids of exactly the records behind `ask`'s figure (with a breakdown's key as a filter: one group's;
    `month` narrows the period to that month)."""
    kpi = kpi_of(records, name)
    filters = dict(filters or {})
    today = records.clock().astimezone(records.zone).date()
    try:
        chosen = period_of(filters.pop("month", None) or period, today, months)
    except PeriodError as error:
        raise Invalid(str(error)) from None
    return kpi, chosen, Measure(records, kpi).counted(chosen, filters, part)
