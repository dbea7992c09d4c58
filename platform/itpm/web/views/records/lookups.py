"""People for pickers: the type-ahead of active people, and the names of people chosen already."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from sqlalchemy import or_, select

from itpm.models import Person
from itpm.people import visible_people
from itpm.records.service import Records
from itpm.web.context import current_actor, current_runtime
from itpm.web.record_display import person_name


def people_options(records: Records, ids: list[Any]) -> list[tuple[int, str]]:
    ids = [int(i) for i in ids if str(i).isdigit()]
    if not ids:
        return []
    people = records.session.scalars(select(Person).where(Person.id.in_(ids), visible_people(records.actor)))
    return [(p.id, person_name(p)) for p in people]


class PeopleLookup(BaseView):
    """Type-ahead of the active people the person may see (`itpm.people`), for user pickers."""

    route_base = "/people"
    default_view = "lookup"

    @expose("/lookup/", methods=["GET"])
    @has_access
    def lookup(self) -> Response:
        words = request.args.get("q", "").strip()[:100]
        session = current_runtime().sessions()
        actor = current_actor()
        query = select(Person).where(Person.active.is_(True), visible_people(actor))
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip().isdigit()][:100]
        if ids:
            query = query.where(Person.id.in_(ids))
        for word in words.split()[:4]:
            pattern = f"%{word}%"
            query = query.where(
                or_(
                    Person.username.ilike(pattern),
                    Person.first_name.ilike(pattern),
                    Person.last_name.ilike(pattern),
                    # only staff find people by e-mail: a client cannot test whether an address has an account
                    *([Person.email.ilike(pattern)] if actor.client_id is None else []),
                )
            )
        people = session.scalars(query.order_by(Person.first_name, Person.last_name).limit(20))
        return jsonify({"results": [{"id": p.id, "text": person_name(p)} for p in people]})
