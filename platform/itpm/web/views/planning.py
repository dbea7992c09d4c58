"""The planning screens: the team's workload by week, and who is on a project.

Staff see the load of the people they may see (`itpm.people.visible_people`);
a client organisation's user sees none (403). The figures are the ones
assignment uses (`itpm.planning.service.loads`), counted over all records;
the records named on a screen are only those the reader may read.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import abort, request
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from itpm.db import utcnow
from itpm.models import Person, Team
from itpm.people import visible_people
from itpm.planning.service import (
    Member,
    candidates,
    current_week,
    dates_of,
    members_of_team,
    plan_of,
    team_weeks,
)
from itpm.planning.workload import PlannedWork, load_between, weeks_from
from itpm.records.service import RecordError
from itpm.web.context import current_runtime, records_service
from itpm.web.record_display import person_name


def _staff_only(records: Any) -> None:
    if records.actor.client_id is not None:
        abort(403)


class PlanningView(BaseView):
    route_base = "/planning"
    base_permissions = ["can_read"]
    method_permission_name = {"workload": "read", "project": "read"}
    default_view = "workload"

    @expose("/workload/", methods=["GET"])
    @has_access
    def workload(self) -> Any:
        records = records_service()
        _staff_only(records)
        session = records.session
        zone = current_runtime().settings.timezone
        teams = list(session.scalars(select(Team).order_by(Team.name)))
        chosen = request.args.get("team", "")
        preview = None
        # staff only: a client organisation's users take no planned work
        query = select(Person).where(
            Person.active.is_(True), Person.client_id.is_(None), visible_people(records.actor)
        )
        if chosen:
            team = next((t for t in teams if t.name == chosen), None)
            if team is None:
                abort(404)
            query = query.where(Person.team_id == team.id)
            preview = _assignment_preview(records, team.name, zone)
        people = list(session.scalars(query.order_by(Person.first_name, Person.last_name, Person.id)))
        weeks = weeks_from(current_week(utcnow(), zone).start)
        rows = team_weeks(session, records.catalog, people, weeks, zone)
        return self.render_template(
            "itpm/planning/workload.html",
            rows=rows,
            weeks=weeks,
            teams=teams,
            chosen=chosen,
            preview=preview,
            name=person_name,
            title=_("Workload"),
        )

    @expose("/project/<project_type>/<int:pk>/", methods=["GET"])
    @has_access
    def project(self, project_type: str, pk: int) -> Any:
        """Who is on a project: each person's hours planned and booked on it, and their whole load."""
        records = records_service()
        _staff_only(records)
        try:
            project = records.get(project_type, pk)
        except RecordError:
            abort(404)
        plan = plan_of(records, project_type, project)
        if plan is None:
            abort(404)
        spec = plan.spec
        zone = current_runtime().settings.timezone
        weeks = weeks_from(current_week(utcnow(), zone).start)
        first, last = weeks[0].start, weeks[-1].end
        estimate = spec.planning.get("estimate")
        by_person: dict[int, list[Any]] = defaultdict(list)
        for row in plan.records:
            if row.assignee_id is not None:
                by_person[row.assignee_id].append(row)
        people = list(
            records.session.scalars(
                select(Person).where(Person.id.in_(list(by_person)), visible_people(records.actor))
            )
        )
        whole = {r.person.id: r for r in team_weeks(records.session, records.catalog, people, weeks, zone)}
        workflow = records.catalog.workflows.get(spec.name)
        booked = _booked_on_project(records, project_type, project.id, [p.id for p in people])
        lines = []
        for person in sorted(people, key=person_name):
            capacity = Member.of(person).capacity(zone)
            tasks = by_person[person.id]
            open_rows = [
                r
                for r in tasks
                if not (workflow and r.state in workflow.states and workflow.states[r.state].final)
            ]
            work = [
                PlannedWork(float(getattr(r, spec.fields[estimate].column) or 0), *dates_of(spec, r))
                for r in open_rows
                if estimate
            ]
            here = load_between(first, last, capacity, work, len(open_rows))
            lines.append(
                {
                    "person": person,
                    "tasks": len(tasks),
                    "open": len(open_rows),
                    "planned": here.planned_hours,
                    "booked": booked.get(person.id, 0.0),
                    "weeks": whole[person.id].weeks,
                }
            )
        return self.render_template(
            "itpm/planning/project.html",
            project=project,
            project_type=project_type,
            lines=lines,
            weeks=weeks,
            name=person_name,
            title=_("Who is on %(project)s", project=str(project)),
        )


def _assignment_preview(records: Any, team: str, zone: str) -> dict[str, Any] | None:
    """Whom "least work" assignment would give the team's next ticket to now, and why: the engine's
    own candidates (`itpm.planning.service.candidates`), so the preview is the assignment."""
    from itpm.automations.assignment import LEAST_WORK, next_assignee

    members = members_of_team(records.session, team)
    now = utcnow()
    found = candidates(records.session, records.catalog, members, now, zone)
    chosen = next_assignee(found, LEAST_WORK, now=now)
    if chosen is None:
        return None
    person = records.session.get(Person, chosen.id)
    return {"person": person, "load": chosen.load}


def _booked_on_project(
    records: Any, project_type: str, project_id: int, people: list[int]
) -> dict[int, float]:
    """Hours each person booked on the project's timesheets, all time."""
    from itpm.planning.service import timesheet_types

    found: dict[int, float] = defaultdict(float)
    for spec in timesheet_types(records.catalog):
        field = next((f for f in spec.fields.values() if f.kind == "ref" and f.target == project_type), None)
        if field is None:
            continue
        model = records.model(spec.name)
        hours = getattr(model, spec.fields[spec.planning["hours"]].column)
        rows = records.session.execute(
            select(model.owner_id, hours).where(
                getattr(model, field.column) == project_id, model.owner_id.in_(people), hours.is_not(None)
            )
        )
        for person, spent in rows:
            found[person] += float(spent)
    return found


def add_planning_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(
        PlanningView,
        "Workload",
        label=_l("Workload"),
        icon="fa-balance-scale",
        category="Planning",
        category_label=_l("Planning"),
        href="/planning/workload/",
    )
