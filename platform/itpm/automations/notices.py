"""The platform's own notices: people are told of what is theirs to do, with no automation to write.

- assignment: a record created with an assignee, or given a new one, tells the new assignee (unless
  they assigned it to themselves);
- approval asked: every approver of the step just opened, and whoever they delegated to today;
- mention: a comment's @username tells each person named who may read the record;
- client reply: a client's comment tells the record's assignee;
- SLA warning: the assignee's manager, the lead of their group (the assignee is told by the SLA
  policy's own `on_warning` actions);
- satisfaction survey: a ticket closed asks the client's person who filed it for stars, a deliverable
  accepted the person who accepted it, with a one-click link that needs no sign-in
  (`itpm.portal.surveys`); each quarter every client person is asked for their NPS (`send_nps_surveys`,
  from the scheduler's tick).

Each is in the app and by e-mail (as each person chose: `Person.email_kinds`), in the reader's
language, once per event and person however often the job runs (the key names the event). A reader
is told only of a record they may read, and not the title when their roles hide it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from itpm.access import Actor
from itpm.automations.spec import Event
from itpm.config import Settings
from itpm.models import ApprovalRequest, Comment, Delegation, Person
from itpm.my_work import MENTION_PREFIX
from itpm.notifications import notify
from itpm.people import display_name
from itpm.portal.surveys import SURVEYED, answered, closed, survey_token
from itpm.records.service import RecordError, Records

TEXTS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "assignment": (
        {"en": "Assigned to you: {number} {title}", "zh": "分配给您：{number} {title}"},
        {
            "en": "{actor} assigned {number} “{title}” to you.\n\nOpen it: {link}",
            "zh": "{actor} 将 {number}“{title}”分配给了您。\n\n打开：{link}",
        },
    ),
    "approval": (
        {"en": "Approval requested: {number} {title}", "zh": "待您审批：{number} {title}"},
        {
            "en": "{actor} asks for your decision on {number} “{title}” (step: {step}).\n\nDecide here: {link}",
            "zh": "{actor} 请您审批 {number}“{title}”（审批步骤：{step}）。\n\n在此审批：{link}",
        },
    ),
    "mention": (
        {"en": "{actor} mentioned you on {number}", "zh": "{actor} 在 {number} 中提到了您"},
        {
            "en": "{actor} wrote on {number} “{title}”:\n\n{comment}\n\n{link}",
            "zh": "{actor} 在 {number}“{title}”中写道：\n\n{comment}\n\n{link}",
        },
    ),
    "client_reply": (
        {"en": "Client reply on {number} {title}", "zh": "客户回复：{number} {title}"},
        {
            "en": "{actor} (client) wrote on {number} “{title}”:\n\n{comment}\n\n{link}",
            "zh": "客户 {actor} 在 {number}“{title}”中写道：\n\n{comment}\n\n{link}",
        },
    ),
    "survey": (
        {"en": "How did we do? {number} {title}", "zh": "请评价我们的服务：{number} {title}"},
        {
            "en": "{number} “{title}” is closed. How satisfied are you? One click, no sign-in needed:\n\n{link}",
            "zh": "{number}“{title}”已关闭。您对处理结果满意吗？点击即可评价，无需登录：\n\n{link}",
        },
    ),
    "accepted_survey": (
        {"en": "How did we do? {number} {title}", "zh": "请评价我们的交付：{number} {title}"},
        {
            "en": "You accepted {number} “{title}”. How satisfied are you with it? One click, no sign-in needed:\n\n{link}",
            "zh": "您已验收 {number}“{title}”。您对这次交付满意吗？点击即可评价，无需登录：\n\n{link}",
        },
    ),
    "nps": (
        {"en": "{quarter}: would you recommend us?", "zh": "{quarter}：您会向他人推荐我们吗？"},
        {
            "en": "How likely are you to recommend us to a colleague (0 to 10), and how satisfied are you overall? "
            "One click, no sign-in needed, two questions:\n\n{link}",
            "zh": "您向同事推荐我们的可能性有多大（0–10 分）？您对我们的整体服务满意吗？"
            "点击即可回答，无需登录，只有两个问题：\n\n{link}",
        },
    ),
    "sla": (
        {"en": "SLA warning in your group: {number} {title}", "zh": "您组内的 SLA 预警：{number} {title}"},
        {
            "en": "{number} “{title}”, assigned to {assignee}, is near its {clock} target: it is due at {due}.\n\n{link}",
            "zh": "{number}“{title}”（处理人：{assignee}）的{clock}时限即将到期，截止时间 {due}。\n\n{link}",
        },
    ),
}


def concerns(event: Event) -> bool:
    """Whether the event may tell anyone anything (most events do not: no session is opened for them)."""
    if event.record_type is None or event.record_id is None:
        return False
    if event.kind in ("created", "updated"):
        change = event.change("/assignee")
        return bool(change and change.get("new"))
    if event.record_type in SURVEYED and event.change("/state"):
        return True  # perhaps closed: its client is asked how it went
    return event.kind in ("approval_step", "commented", "sla_warning")


def addressed(event: Event) -> list[int]:
    """Whom the event names to be told, as far as it says itself (its new assignee): the people a job
    reads at once for all its events (`read_people`), before telling them one event at a time."""
    if event.kind in ("created", "updated"):
        change = event.change("/assignee")
        if change and change.get("new"):
            return [change["new"]]
    return []


def read_people(session: Session, ids: Iterable[int]) -> dict[int, Person | None]:
    """The people of `ids` (None for an id that names nobody), with their roles, kept with the session:
    a job telling many people reads each of them once, all it lacks in one query."""
    known: dict[int, Person | None] = session.info.setdefault("itpm_people", {})
    if missing := [i for i in dict.fromkeys(ids) if i not in known]:
        known.update({i: None for i in missing})
        found = select(Person).where(Person.id.in_(missing)).options(selectinload(Person.roles))
        known.update((p.id, p) for p in session.scalars(found))
    return known


def send_notices(
    records: Records, settings: Settings, event: Event, now: dt.datetime, record: Any = None
) -> None:
    """Tell whoever the event concerns (see the module's docstring); nothing for other events.

    `record`: the event's record, when the caller has just read it in this session."""
    if event.record_type is None or event.record_id is None:
        return
    try:
        record = record if record is not None else records.get(event.record_type, event.record_id)
    except RecordError:
        return  # deleted since, or a type no longer published
    session = records.session
    actor_id = event.payload.get("actor_id")
    context: dict[str, Any] = {"actor": _name(session, actor_id, event.payload.get("actor", ""))}
    if event.record_type in SURVEYED and event.change("/state"):
        _ask_for_stars(records, settings, record, event, now)
    if event.kind in ("created", "updated"):
        change = event.change("/assignee")
        if change and change.get("new") and change["new"] != actor_id:
            _tell(
                records, settings, record, [change["new"]], "assignment", f"notice:{event.id}", context, now
            )
    elif event.kind == "approval_step":
        approval = session.get(ApprovalRequest, event.payload.get("approval"))
        if approval is None:
            return
        step = event.payload.get("step")
        approvers = [t.approver_id for t in approval.tasks if t.step == step and t.decision == "pending"]
        today = now.astimezone(records.zone).date()
        delegates = session.scalars(
            select(Delegation.to_id).where(
                Delegation.from_id.in_(approvers), Delegation.starts_on <= today, Delegation.ends_on >= today
            )
        ).all()
        workflow = records.catalog.workflows.get(approval.record_type)
        transition = workflow.transitions.get(approval.transition) if workflow else None
        steps = transition.approval.steps if transition and transition.approval else ()
        context["step"] = steps[step].title if step is not None and step < len(steps) else approval.transition
        context["actor"] = _name(session, approval.requested_by_id, approval.requested_by)
        _tell(
            records,
            settings,
            record,
            [*approvers, *delegates],
            "approval",
            f"notice:{event.id}",
            context,
            now,
        )
    elif event.kind == "commented":
        comment = session.get(Comment, event.payload.get("comment"))
        if comment is None:
            return
        context["comment"] = comment.body if len(comment.body) <= 2000 else comment.body[:2000] + "…"
        names = event.payload.get("mentions") or []
        mentioned = (
            session.scalars(
                select(Person.id).where(Person.username.in_(names), Person.active.is_(True))
            ).all()
            if names
            else []
        )
        mentioned = [p for p in mentioned if p != actor_id]
        if comment.internal:  # an internal comment tells no client's user, even one it names
            clients = set(session.scalars(select(Person.id).where(Person.client_id.is_not(None))))
            mentioned = [p for p in mentioned if p not in clients]
        key = f"{MENTION_PREFIX}{record.__record_type__}:{record.id}:{comment.id}"
        _tell(records, settings, record, mentioned, "mention", key, context, now)
        if event.payload.get("by_client") and record.assignee_id and record.assignee_id not in mentioned:
            _tell(
                records,
                settings,
                record,
                [record.assignee_id],
                "client_reply",
                f"notice:{event.id}",
                context,
                now,
            )
    elif event.kind == "sla_warning" and record.assignee_id:
        assignee = session.get(Person, record.assignee_id)
        if assignee is None or not assignee.manager_id:
            return
        values = event.payload.get("values", {})
        context.update(
            assignee=_name(session, assignee.id, ""), clock=values.get("clock", ""), due=values.get("due", "")
        )
        # one warning per clock and target to the lead too, whichever reader saw it first
        _tell(
            records,
            settings,
            record,
            [assignee.manager_id],
            "sla",
            f"lead:{event.payload.get('key', event.id)}",
            context,
            now,
        )


def _ask_for_stars(records: Records, settings: Settings, record: Any, event: Event, now: dt.datetime) -> None:
    """A ticket just closed: its client's person who filed it gets the survey's one-click link, once; a
    deliverable just accepted: the client's person who accepted it."""
    accepted = record.__record_type__ == "deliverable"
    asked = event.payload.get("actor_id") if accepted else record.created_by_id
    if not closed(records, record) or not asked:
        return
    person = records.session.get(Person, asked)
    if person is None or not person.active or not person.client_id:
        return
    if answered(
        Records(records.session, records.catalog, Actor.of(person)), record.__record_type__, record.id
    ):
        return
    spec = records.spec(record.__record_type__)
    hidden = records.access.hidden_fields(Actor.of(person), spec)
    field = spec.fields.get("title")
    title = "" if field is None or "title" in hidden else str(getattr(record, field.column, "") or "")
    token = survey_token(settings.flask_config()["SECRET_KEY"], person.id, record.__record_type__, record.id)
    subject, body = TEXTS["accepted_survey" if accepted else "survey"]
    notify(
        records.session,
        settings,
        [person],
        f"survey:{record.__record_type__}:{record.id}:{event.id}",
        subject,
        body,
        {"number": record.number, "title": title},
        f"/portal/survey/{token}",
        now=now,
        automation="notice:survey",
        kind="survey",
    )


def _name(session: Any, person_id: int | None, fallback: str) -> str:
    person = session.get(Person, person_id) if person_id else None
    if person is None:
        return fallback
    return display_name(person.first_name, person.last_name, person.username)


def _tell(
    records: Records,
    settings: Settings,
    record: Any,
    people: Iterable[int],
    kind: str,
    key: str,
    context: dict[str, Any],
    now: dt.datetime,
) -> None:
    """Notify the active people among `people` who may read the record, each audience with the fields
    their roles show them."""
    ids = list(dict.fromkeys(p for p in people if p))
    if not ids:
        return
    spec = records.spec(record.__record_type__)
    session = records.session
    audiences: dict[frozenset[str], list[Person]] = {}
    # people and teams kept with the session: a job telling many people reads each of them once
    teams = session.info.setdefault("itpm_team_members", {})
    known = read_people(session, ids)
    for person in (known[i] for i in ids):
        if person is None or not person.active:
            continue
        actor = records.actor_of(person)
        if person.team_id and person.team_id not in teams:
            teams[person.team_id] = list(
                session.scalars(select(Person.id).where(Person.team_id == person.team_id))
            )
        team = teams.get(person.team_id, []) if person.team_id else []
        if not records.access.allows(actor, spec, record, "read", team):
            continue
        audiences.setdefault(records.access.hidden_fields(actor, spec), []).append(person)
    subject, body = TEXTS[kind]
    for hidden, readers in audiences.items():
        title = next(
            (
                str(getattr(record, spec.fields[n].column) or "")
                for n in ("title", "name", "subject")
                if n in spec.fields and n not in hidden
            ),
            "",
        )
        notify(
            session,
            settings,
            readers,
            key,
            subject,
            body,
            {"number": record.number, "title": title, **context},
            f"/records/{record.__record_type__}/show/{record.id}",
            now=now,
            automation=f"notice:{kind}",
            kind=kind,
        )


#: When a quarter's NPS invitations go out: the quarter's first day, at this local time.
NPS_TIME = dt.time(10, 0)


def send_nps_surveys(runtime: Any, since: dt.datetime, now: dt.datetime) -> int:
    """At a quarter's start, ask each active person of a client organisation who may give feedback how
    likely they recommend us (the one-click link works once); how many were asked. Idempotent: the
    notification's key names the quarter."""
    from itpm.portal.surveys import asks_nps, nps_key, nps_token, quarter_of, quarter_title

    settings = runtime.settings
    zone = ZoneInfo(settings.timezone)
    starts = [
        day
        for day in _days(since.astimezone(zone).date(), now.astimezone(zone).date())
        if day.day == 1
        and day.month in (1, 4, 7, 10)
        and since < dt.datetime.combine(day, NPS_TIME, zone) <= now
    ]
    if not starts:
        return 0
    quarter = quarter_of(starts[-1])
    asked = 0
    catalog = runtime.catalog()
    secret = settings.flask_config()["SECRET_KEY"]
    with runtime.session() as session:
        people = session.scalars(select(Person).where(Person.client_id.is_not(None), Person.active.is_(True)))
        for person in list(people):
            records = Records(
                session, catalog, Actor.of(person), clock=lambda: now, timezone=settings.timezone
            )
            if not asks_nps(records, quarter):
                continue
            subject, body = TEXTS["nps"]
            notify(
                session,
                settings,
                [person],
                nps_key(quarter),
                subject,
                body,
                {"quarter": quarter_title(quarter)},
                f"/portal/survey/{nps_token(secret, person.id, quarter)}",
                now=now,
                automation="notice:nps",
                kind="survey",
            )
            asked += 1
        session.commit()
    return asked


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    days, day = [], first
    while day <= last:
        days.append(day)
        day += dt.timedelta(days=1)
    return days
