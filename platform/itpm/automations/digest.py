"""The daily digest: each member's work, every morning at a set time in their own time zone.

A person's digest is their My work (`itpm.my_work`) as of that morning: the approvals waiting for
their decision first, then what is overdue, what is due today and the rest, the most urgent first
(read through the access layer as that person, so it lists only what they may see). It goes out once
per person and local day (its key says so), by e-mail (if they take digests by e-mail) and in the
app, in the person's language; nobody with nothing waiting gets one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from itpm.access import Actor
from itpm.models import Person
from itpm.my_work import APPROVAL, MENTION, OVERDUE, TODAY, MyWork, WorkItem
from itpm.notifications import notify
from itpm.records.service import Records

#: The most items listed in one digest; the rest are counted.
MAX_ITEMS = 30


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
        catalog = runtime.catalog()
        for person, day in due.values():
            zone = ZoneInfo(person.timezone or settings.timezone)
            records = Records(session, catalog, Actor.of(person), timezone=settings.timezone)
            items = [i for i in MyWork(records, until, zone).items(transitions=False) if i.kind != MENTION]
            if not items:
                continue
            subject, body = compose_digest(items, zone, settings.base_url)
            notify(
                session,
                settings,
                [person],
                f"digest:{person.id}:{day.isoformat()}",
                subject,
                body,
                {},
                "/my/work/",
                now=until,
                automation="digest",
                kind="digest",
            )
            sent += 1
    return sent


SECTIONS = (
    (APPROVAL, {"en": "Approvals waiting for your decision", "zh": "等待您审批"}),
    (OVERDUE, {"en": "Overdue", "zh": "已逾期"}),
    (TODAY, {"en": "Due today", "zh": "今天到期"}),
    ("later", {"en": "Later", "zh": "稍后"}),
)


def compose_digest(
    items: list[WorkItem], zone: ZoneInfo, base_url: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The bilingual subject and body of one person's digest: approvals, overdue, due today, later."""
    approvals = sum(1 for item in items if item.kind == APPROVAL)
    overdue = sum(1 for item in items if item.kind != APPROVAL and item.group == OVERDUE)
    count = len(items)
    subject = {
        "en": f"Your open work today: {count} item{'s' if count != 1 else ''}"
        + (f", {overdue} overdue" if overdue else "")
        + (f", {approvals} approval{'s' if approvals != 1 else ''} waiting" if approvals else ""),
        "zh": f"今日待办：{count} 项"
        + (f"，其中 {overdue} 项已逾期" if overdue else "")
        + (f"，{approvals} 项待审批" if approvals else ""),
    }
    sections: dict[str, list[WorkItem]] = {name: [] for name, _ in SECTIONS}
    for item in items:
        sections[APPROVAL if item.kind == APPROVAL else item.group].append(item)
    lines: dict[str, list[str]] = {"en": [], "zh": []}
    listed = 0
    for name, title in SECTIONS:
        shown = sections[name][: max(MAX_ITEMS - listed, 0)]
        listed += len(shown)
        if not shown:
            continue
        for lang in ("en", "zh"):
            lines[lang].append(("\n" if lines[lang] else "") + f"{title[lang]} ({len(sections[name])})")
            for item in shown:
                lines[lang].append(_line(item, lang, zone, base_url))
    more = count - listed
    body = {
        "en": "Good morning. This is your work, the most urgent first:\n\n"
        + "\n".join(lines["en"])
        + (f"\n\n…and {more} more: {base_url.rstrip('/')}/my/work/" if more > 0 else ""),
        "zh": "早上好！以下是您的工作，按紧急程度排列：\n\n"
        + "\n".join(lines["zh"])
        + (f"\n\n……另有 {more} 项：{base_url.rstrip('/')}/my/work/" if more > 0 else ""),
    }
    return subject, body


def _line(item: WorkItem, lang: str, zone: ZoneInfo, base_url: str) -> str:
    due = item.due.astimezone(zone).strftime("%Y-%m-%d %H:%M") if item.due else ""
    late = item.group == OVERDUE
    if lang == "en":
        when = ((" — OVERDUE since " if late else " — due ") + due) if due else (" — overdue" if late else "")
    else:
        when = (
            ("，已逾期（截止 " + due + "）" if late else "，截止 " + due)
            if due
            else ("，已逾期" if late else "")
        )
    step = f" · {item.step_title[lang]}" if item.step_title else ""
    link = f"{base_url.rstrip('/')}/records/{item.type_name}/show/{item.record.id}"
    return (
        f"• [{item.type_title[lang]}] {item.record.number} {item.title} ({item.state_title[lang]}{step}){when}"
        f"\n  {link}"
    )
