"""Retention rules: how long a record type's records are kept (`retention` in its definition). Records in
one of the rule's states, unchanged for its years, are deleted (through the records service, so their
history, events and audit entries say so) or anonymised: their personal fields (`x-personal`) emptied,
text ones replaced by "anonymised", in the records and in their history. Run once a day by the scheduler
(`itpm.automations.scheduler.tick`); running it twice does nothing more.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm.attributes import flag_modified

from itpm.access import Actor
from itpm.audit.context import acting
from itpm.definitions.problems import pointer
from itpm.models import RecordEvent
from itpm.records.service import Records

ANONYMISED = "anonymised"
#: Records one transaction handles at most (the next day's run goes on).
BATCH = 500


def years_before(now: dt.datetime, years: int) -> dt.datetime:
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


def daily_retention(runtime: Any, since: dt.datetime, now: dt.datetime) -> int:
    """The scheduler's part: the rules applied once a day, by the tick that crosses midnight (UTC)."""
    if since.date() == now.date():
        return 0
    return sum(apply_retention(runtime, now).values())


def apply_retention(runtime: Any, now: dt.datetime) -> dict[str, int]:
    """Apply every record type's retention rule as of `now`; records deleted or anonymised, by type."""
    catalog = runtime.catalog()
    done: dict[str, int] = {}
    for type_name, spec in catalog.record_types.items():
        rule = spec.retention
        if not rule or (rule["action"] == "anonymise" and not spec.personal_fields):
            continue
        model = catalog.models.models[type_name]
        query = select(model).where(
            model.state.in_(rule["states"]), model.updated_at < years_before(now, rule["years"])
        )
        if rule["action"] == "anonymise":  # only those that still hold something personal
            columns = [getattr(model, spec.fields[n].column) for n in spec.personal_fields]
            query = query.where(or_(*[c.is_not(None) & (c != ANONYMISED) for c in columns]))
        with acting("system", f"job:retention-{type_name}"), runtime.session() as session:
            records = Records(session, catalog, Actor.system(), clock=lambda: now)
            found = list(session.scalars(query.order_by(model.id).limit(BATCH)))
            for record in found:
                if rule["action"] == "delete":
                    records.delete(type_name, record.id)
                else:
                    _anonymise(session, spec, record)
            session.commit()
        if found:
            done[type_name] = len(found)
    return done


def _anonymise(session: Any, spec: Any, record: Any) -> None:
    paths = {pointer(["data", name]) for name in spec.personal_fields}
    for name in spec.personal_fields:
        column = spec.fields[name].column
        value = getattr(record, column)
        if value is not None and value != ANONYMISED:
            setattr(record, column, ANONYMISED if isinstance(value, str) else None)
    events = session.scalars(
        select(RecordEvent).where(RecordEvent.record_type == spec.name, RecordEvent.record_id == record.id)
    )
    for event in events:
        changes = [
            {**c, "old": _blank(c.get("old")), "new": _blank(c.get("new"))} if c.get("path") in paths else c
            for c in event.changes or []
        ]
        if changes != event.changes:
            event.changes = changes
            flag_modified(event, "changes")


def _blank(value: Any) -> Any:
    return ANONYMISED if isinstance(value, str) else None
