"""The daily digest: each member's open work, every morning at a set time in their own time zone.

A person's digest lists what is assigned to them and still open (tasks,
tickets, change requests: every record type with a workflow), the most
urgent first: an SLA past due, then by the SLA's due time or the record's due
date. It goes out once per person and local day (its key says so), by e-mail
and in the app, in the person's language; nobody with nothing open gets one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from itpm.access import Actor
from itpm.models import Person
from itpm.notifications import notify
from itpm.records.service import Records

#: The most items listed in one digest; the rest are counted.
MAX_ITEMS = 30
#: Fields holding a record's due date, looked for in this order.
DUE_FIELDS = ("due_date", "planned_end")


@dataclass(frozen=True)
class Item:
    number: str
    title: str
    type_title: dict[str, str]
    state_title: dict[str, str]
    due: dt.datetime | None
    overdue: bool
    link: str


def digest_moments(time: dt.time, zone: ZoneInfo, since: dt.datetime, until: dt.datetime) -> list[dt.date]:
    """The local days whose digest time falls in (since, until]."""
    days = []
    day = since.astimezone(zone).date() - dt.timedelta(days=1)
    last = until.astimezone(zone).date()
    while day <= last:
        moment = dt.datetime.combine(day, time, zone)
        if since < moment <= until:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def send_digests(runtime: Any, since: dt.datetime, until: dt.datetime, at: dt.time | None = None) -> int:
    """Send the digests due in (since, until]; how many people were sent one."""
    settings = runtime.settings
    at = at or dt.time.fromisoformat(settings.digest_time)
    sent = 0
    with runtime.session() as session:
        people = list(session.scalars(select(Person).where(Person.active.is_(True)).order_by(Person.id)))
        due = {}
        for person in people:
            zone = ZoneInfo(person.timezone or settings.timezone)
            for day in digest_moments(at, zone, since, until):
                due[person.id] = (person, day)
        if not due:
            return 0
        records = Records(session, runtime.catalog(), Actor.system(), timezone=settings.timezone)
        work = open_work(records, [p.id for p, _ in due.values()], until, settings.base_url)
        for person, day in due.values():
            items = work.get(person.id, [])
            if not items:
                continue
            subject, body = compose_digest(items, ZoneInfo(person.timezone or settings.timezone))
            notify(
                session,
                settings,
                [person],
                f"digest:{person.id}:{day.isoformat()}",
                subject,
                body,
                {},
                "/",
                now=until,
                automation="digest",
            )
            sent += 1
    return sent


def open_work(records: Records, people: list[int], now: dt.datetime, base_url: str) -> dict[int, list[Item]]:
    """Each person's open assigned records, the most urgent first."""
    catalog = records.catalog
    found: dict[int, list[Item]] = {}
    for type_name, workflow in catalog.workflows.items():
        spec = catalog.record_types.get(type_name)
        if spec is None:
            continue
        model = records.model(type_name)
        open_states = [s.name for s in workflow.states.values() if not s.final]
        rows = records.session.scalars(
            select(model)
            .where(model.assignee_id.in_(people), model.state.in_(open_states))
            .order_by(model.id)
        )
        due_field = next((spec.fields[n] for n in DUE_FIELDS if n in spec.fields), None)
        title_field = next((n for n in ("title", "name", "subject") if n in spec.fields), None)
        for record in rows:
            due = record.sla_due
            if due is None and due_field is not None:
                value = getattr(record, due_field.column)
                if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                    due = dt.datetime.combine(value, dt.time(23, 59), records.zone)
            found.setdefault(record.assignee_id, []).append(
                Item(
                    number=record.number or f"#{record.id}",
                    title=str(getattr(record, spec.fields[title_field].column) or "") if title_field else "",
                    type_title=spec.title,
                    state_title=workflow.state(record.state).title,
                    due=due,
                    overdue=bool(record.sla_breached) or (due is not None and due < now),
                    link=f"{base_url.rstrip('/')}/records/{type_name}/show/{record.id}",
                )
            )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    for items in found.values():
        items.sort(key=lambda item: (not item.overdue, item.due or far, item.number))
    return found


def compose_digest(items: list[Item], zone: ZoneInfo) -> tuple[dict[str, str], dict[str, str]]:
    """The bilingual subject and body of one person's digest."""
    overdue = sum(1 for item in items if item.overdue)
    subject = {
        "en": f"Your open work today: {len(items)} item{'s' if len(items) != 1 else ''}"
        + (f", {overdue} overdue" if overdue else ""),
        "zh": f"今日待办：{len(items)} 项" + (f"，其中 {overdue} 项已逾期" if overdue else ""),
    }
    lines: dict[str, list[str]] = {"en": [], "zh": []}
    for item in items[:MAX_ITEMS]:
        for lang in ("en", "zh"):
            due = item.due.astimezone(zone).strftime("%Y-%m-%d %H:%M") if item.due else ""
            if lang == "en":
                when = (
                    (" — OVERDUE since " if item.overdue else " — due ") + due
                    if due
                    else (" — overdue" if item.overdue else "")
                )
            else:
                when = (
                    ("，已逾期（截止 " + due + "）" if item.overdue else "，截止 " + due)
                    if due
                    else ("，已逾期" if item.overdue else "")
                )
            lines[lang].append(
                f"• [{item.type_title[lang]}] {item.number} {item.title} ({item.state_title[lang]}){when}\n  {item.link}"
            )
    more = len(items) - MAX_ITEMS
    body = {
        "en": "Good morning. This is what is assigned to you and still open, the most urgent first:\n\n"
        + "\n".join(lines["en"])
        + (f"\n\n…and {more} more." if more > 0 else ""),
        "zh": "早上好！以下是分配给您且尚未完成的工作，按紧急程度排列：\n\n"
        + "\n".join(lines["zh"])
        + (f"\n\n……另有 {more} 项。" if more > 0 else ""),
    }
    return subject, body
