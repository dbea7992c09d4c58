"""Satisfaction surveys of the client portal: 1-5 stars and a comment when a ticket is closed or a
deliverable (a milestone's) is accepted, and each quarter how likely the client is to recommend us
(NPS, 0-10) with their overall stars.

An answer is a `client_feedback` record written as the client's person through the records
service (so the pack's low-score automations tell the account and project managers). The
e-mail's one-click link carries a signed token (itsdangerous) naming the person and the
ticket, or the quarter; it works without signing in, and only once: what that person answered
is not asked again. Response rates: what was asked against what was answered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from itpm.records.service import Invalid, NotFound, Records

FEEDBACK = "client_feedback"
#: What is asked about when closed (a ticket) or accepted (a deliverable), and the feedback field
#: that names it.
SURVEYED = {"incident": "incident", "service_request": "service_request", "deliverable": "deliverable"}
SALT = "itpm-portal-survey"
#: The quarterly survey's token says this instead of a record type.
NPS = "nps"


@dataclass(frozen=True)
class SurveyTicket:
    person_id: int
    type_name: str
    record_id: int


def survey_token(secret: str, person_id: int, type_name: str, record_id: int) -> str:
    """The signed token of a survey link (for one person and one ticket)."""
    return str(URLSafeSerializer(secret, salt=SALT).dumps([person_id, type_name, record_id]))


def read_token(secret: str, token: str) -> SurveyTicket:
    """What a link's token asks about; NotFound when it was not signed here."""
    try:
        person_id, type_name, record_id = URLSafeSerializer(secret, salt=SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise NotFound(_("This survey link is not valid.")) from None
    if type_name not in SURVEYED and type_name != NPS:
        raise NotFound(_("This survey link is not valid."))
    return SurveyTicket(int(person_id), str(type_name), int(record_id))


def closed(records: Records, record: Any) -> bool:
    workflow = records.catalog.workflows.get(record.__record_type__)
    return bool(
        workflow and record.state in workflow.states and workflow.state(record.state).category == "done"
    )


def answered(records: Records, type_name: str, record_id: int) -> bool:
    """Whether the person answered the survey of this ticket already (as system: their answer counts
    even if their role could no longer read it)."""
    spec = records.catalog.record_types.get(FEEDBACK)
    if spec is None or type_name not in SURVEYED or SURVEYED[type_name] not in spec.fields:
        return True
    model = records.model(FEEDBACK)
    column = getattr(model, spec.fields[SURVEYED[type_name]].column)
    count = records.session.scalar(
        select(func.count()).where(column == record_id, model.created_by_id == records.actor.id)
    )
    return bool(count)


def asks(records: Records, record: Any) -> bool:
    """Whether the person is asked to rate this ticket now (closed, not yet answered by them)."""
    return (
        records.actor.client_id is not None
        and record.__record_type__ in SURVEYED
        and closed(records, record)
        and not answered(records, record.__record_type__, record.id)
        and records.access.can(records.actor, records.spec(FEEDBACK), "create")
    )


def answer(records: Records, type_name: str, record_id: int, stars: Any, comment: str) -> Any:
    """Record the person's answer: a client feedback record about the ticket. Refused (Invalid) when the
    ticket is not closed or was answered already (a link works once)."""
    record = records.get(type_name, record_id)
    if not asks(records, record):
        raise Invalid(_("This survey was answered already, or what it asks about is not closed."))
    try:
        score = int(stars)
    except (TypeError, ValueError):
        score = 0
    data: dict[str, Any] = {SURVEYED[type_name]: record_id, "satisfaction": score}
    project = records.data(record).get("project")
    if project is not None:
        data["project"] = project
    if comment.strip():
        data["comment"] = comment.strip()
    return records.create(FEEDBACK, data)


def response_rate(records: Records, type_name: str) -> tuple[int, int]:
    """(closed tickets the person may read, of them answered by anyone): how many surveys came back."""
    spec = records.catalog.record_types.get(FEEDBACK)
    if type_name not in SURVEYED or spec is None or SURVEYED[type_name] not in spec.fields:
        return 0, 0
    workflow = records.catalog.workflows.get(type_name)
    done = [n for n, s in workflow.states.items() if s.category == "done"] if workflow else []
    model = records.model(type_name)
    closed_ids = select(model.id).where(records.scope(type_name), model.state.in_(done))
    total = records.session.scalar(select(func.count()).select_from(closed_ids.subquery())) or 0
    feedback = records.model(FEEDBACK)
    column = getattr(feedback, spec.fields[SURVEYED[type_name]].column)
    back = (
        records.session.scalar(select(func.count(func.distinct(column))).where(column.in_(closed_ids))) or 0
    )
    return total, back


# --- the quarterly NPS survey ---------------------------------------------------------------------


def quarter_of(day: dt.date) -> str:
    """The quarter a day is in, as the month it starts: the `period` of its NPS answers (2026-10)."""
    return f"{day.year}-{(day.month - 1) // 3 * 3 + 1:02d}"


def quarter_title(quarter: str) -> str:
    year, month = quarter.split("-")
    return f"{year} Q{(int(month) - 1) // 3 + 1}"


def nps_token(secret: str, person_id: int, quarter: str) -> str:
    """The signed token of a quarter's NPS link, for one person (the quarter's first month as a number)."""
    return survey_token(secret, person_id, NPS, int(quarter.replace("-", "")))


def token_quarter(ticket: SurveyTicket) -> str:
    text = str(ticket.record_id)
    return f"{text[:4]}-{text[4:]}"


def asks_nps(records: Records, quarter: str) -> bool:
    """Whether the person is asked for the quarter's NPS: a client organisation's person who may give
    feedback and has not answered it this quarter."""
    spec = records.catalog.record_types.get(FEEDBACK)
    if (
        spec is None
        or records.actor.client_id is None
        or records.actor.id is None
        or not {"nps", "period"} <= set(spec.fields)
        or not records.access.can(records.actor, spec, "create")
    ):
        return False
    model = records.model(FEEDBACK)
    count = records.session.scalar(
        select(func.count()).where(
            model.created_by_id == records.actor.id,
            getattr(model, spec.fields["period"].column) == quarter,
            getattr(model, spec.fields["nps"].column).is_not(None),
        )
    )
    return not count


def answer_nps(records: Records, quarter: str, score: Any, stars: Any, comment: str) -> Any:
    """The person's answer to the quarter's survey: how likely they recommend us (0-10) and their overall
    satisfaction (1-5 stars). Refused (Invalid) when answered already this quarter: a link works once."""
    if not asks_nps(records, quarter):
        raise Invalid(_("This survey was answered already this quarter."))
    data: dict[str, Any] = {"nps": _number(score, -1), "satisfaction": _number(stars, 0), "period": quarter}
    if comment.strip():
        data["comment"] = comment.strip()
    return records.create(FEEDBACK, data)


def nps_response_rate(records: Records, quarter: str) -> tuple[int, int]:
    """(people of the client organisations the reader may read who were asked the quarter's NPS, of
    them who answered): the response rate staff see. Both count the same people, as the tickets' rate
    counts the tickets the reader may read and of them those answered: whether a person answered is
    counted even when the answer itself is not the reader's to read (an account manager reads every
    client, but only their department's feedback; before, they saw 1 of 11 answered when all were)."""
    from itpm.models import Notification, Person

    organisations = (
        records.query("customer").with_only_columns(records.model("customer").id)
        if "customer" in records.catalog.record_types
        else select(Person.client_id).where(False)
    )
    people = (
        select(Notification.person_id)
        .join(Person, Person.id == Notification.person_id)
        .where(Notification.key.like(f"{nps_key(quarter)}:%"), Person.client_id.in_(organisations))
    )
    listed = people.subquery()
    asked = records.session.scalar(select(func.count(func.distinct(listed.c.person_id)))) or 0
    spec = records.catalog.record_types.get(FEEDBACK)
    if spec is None or "period" not in spec.fields:
        return asked, 0
    model = records.model(FEEDBACK)
    back = (
        records.session.scalar(
            select(func.count(func.distinct(model.created_by_id))).where(
                model.created_by_id.in_(people),
                getattr(model, spec.fields["period"].column) == quarter,
                getattr(model, spec.fields["nps"].column).is_not(None),
            )
        )
        or 0
    )
    return asked, back


def nps_key(quarter: str) -> str:
    """The notification key of a quarter's NPS invitation (once per person and quarter)."""
    return f"nps:{quarter}"


def _number(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
