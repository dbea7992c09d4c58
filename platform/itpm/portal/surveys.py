"""Satisfaction surveys of the client portal: 1-5 stars and a comment when a ticket is closed.

An answer is a `client_feedback` record written as the client's person through the records
service (so the pack's low-score automation tells the account and project managers). The
e-mail's one-click link carries a signed token (itsdangerous) naming the person and the
ticket; it works without signing in, and only once: a ticket answered by that person is not
asked again. Response rates: tickets closed against those answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from itpm.records.service import Invalid, NotFound, Records

FEEDBACK = "client_feedback"
#: The ticket forms asked about when closed, and the feedback field that names them.
SURVEYED = {"incident": "incident", "service_request": "service_request"}
SALT = "itpm-portal-survey"


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
    if type_name not in SURVEYED:
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
    if FEEDBACK not in records.catalog.record_types or type_name not in SURVEYED:
        return True
    spec = records.catalog.record_types[FEEDBACK]
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
        raise Invalid(_("This survey was answered already, or its ticket is not closed."))
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
    if type_name not in SURVEYED or FEEDBACK not in records.catalog.record_types:
        return 0, 0
    workflow = records.catalog.workflows.get(type_name)
    done = [n for n, s in workflow.states.items() if s.category == "done"] if workflow else []
    model = records.model(type_name)
    closed_ids = select(model.id).where(records.scope(type_name), model.state.in_(done))
    total = records.session.scalar(select(func.count()).select_from(closed_ids.subquery())) or 0
    spec = records.catalog.record_types[FEEDBACK]
    feedback = records.model(FEEDBACK)
    column = getattr(feedback, spec.fields[SURVEYED[type_name]].column)
    back = (
        records.session.scalar(select(func.count(func.distinct(column))).where(column.in_(closed_ids))) or 0
    )
    return total, back
