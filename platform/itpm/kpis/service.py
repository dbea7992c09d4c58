"""Asking for a KPI: the one function the API, the dashboards, the reports and the portal call, and its cache.

A cached answer is kept under a key made of the KPI's definition (its text),
the period, breakdown and filters, the day, the reader's language, the reader's
row scope as the SQL the access layer gives (with its values: ids of the person,
team, department, client), the fields hidden from them, and a stamp of the
records' changes (the newest history entry and outbox event: every change of a
record, in any process, writes both). So two readers share an answer only when
they read the same rows, and a change to any record makes every answer stale.
Answers also expire after `TTL` seconds (a person moved to another team changes
a team's rows without writing a record).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from itpm.kpis.measure import Answer, Measure, kpi_of, readable
from itpm.kpis.spec import Kpi, Period, PeriodError, period_of
from itpm.models import OutboxEvent, RecordEvent
from itpm.records.service import Invalid, RecordError, Records

TTL = 300.0
LIMIT = 5000


class AnswerCache:
    """Answers by key, in this process, the least recently used dropped beyond `LIMIT`."""

    def __init__(self, ttl: float = TTL, limit: int = LIMIT) -> None:
        self.ttl, self.limit = ttl, limit
        self._items: OrderedDict[str, tuple[float, Answer]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> Answer | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or time.monotonic() - found[0] > self.ttl:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, key: str, answer: Answer) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), answer)
            self._items.move_to_end(key)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


#: The cache of this process; `ask(..., cache=None)` measures afresh.
CACHE = AnswerCache()


def changes_stamp(records: Records) -> tuple[int, int]:
    """What changes whenever a record changes, in any process: the newest history entry and outbox event."""
    session = records.session
    return (
        session.scalar(select(func.max(RecordEvent.id))) or 0,
        session.scalar(select(func.max(OutboxEvent.id))) or 0,
    )


def cache_key(
    records: Records, kpi: Kpi, period: Period, breakdown: str | None, filters: Mapping[str, Any], lang: str
) -> str:
    """The reader's row scope and hidden fields, the KPI's text and the question, and the records' stamp."""
    spec = records.spec(kpi.record_type)
    scope = records.scope(kpi.record_type)
    dialect = records.session.get_bind().dialect
    today = records.clock().astimezone(records.zone).date()
    parts = {
        "kpi": kpi.body,
        "period": period.label,
        "breakdown": breakdown,
        "filters": {k: str(v) for k, v in sorted(filters.items())},
        "scope": str(scope.compile(dialect=dialect, compile_kwargs={"literal_binds": True})),
        "hidden": sorted(records.access.hidden_fields(records.actor, spec)),
        "today": today.isoformat(),
        "lang": lang,
        "stamp": changes_stamp(records),
    }
    if isinstance(kpi.value, dict) and kpi.value.get("to") == "now":
        parts["minute"] = records.clock().strftime("%Y-%m-%dT%H:%M")
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ask(
    records: Records,
    name: str,
    period: str | None = None,
    breakdown: str | None = None,
    filters: Mapping[str, Any] | None = None,
    months: int = 1,
    cache: AnswerCache | None = CACHE,
    lang: str | None = None,
) -> Answer:
    """KPI `name` for the reader of `records`: over `period` (by default the `months` up to this one),
    broken down by `breakdown`, narrowed by `filters` ({breakdown: id or value}).

    NotFound (no such KPI, or not for this reader), Forbidden (it reads a field hidden from them),
    Invalid (a bad period, breakdown or filter). This is the function a page, a report or the client
    portal calls: `ask(records, "sla_compliance", months=6)` gives that client's figure when `records`
    acts for a client user (their organisation's rows only).
    """
    kpi = kpi_of(records, name)
    today = records.clock().astimezone(records.zone).date()
    try:
        chosen = period_of(period, today, months)
    except PeriodError as error:
        raise Invalid(str(error)) from None
    measure = Measure(records, kpi, lang=lang)
    filters = dict(filters or {})
    checked = measure.checked(breakdown, filters)
    if cache is None:
        return measure.answer(chosen, breakdown, checked)
    key = cache_key(records, kpi, chosen, breakdown, checked, measure.lang)
    found = cache.get(key)
    if found is None:
        found = measure.answer(chosen, breakdown, checked)
        cache.put(key, found)
    return found


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


def client_kpis(records: Records, months: int = 6) -> list[Answer]:
    """The client-facing KPIs a client user may read, over their organisation's records: for the portal
    (one that reads a field hidden from them is left out, not an error on their home page)."""
    found = []
    for kpi in readable(records):
        if kpi.client_facing:
            try:
                found.append(ask(records, kpi.name, months=months))
            except RecordError:
                continue
    return found
