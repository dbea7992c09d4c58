"""What the client portal shows, read as the portal's person through the records service.

Every record here comes from `Records.query`/`Records.get`, so the rows, the fields and
the `client_visible` and `x-internal` declarations of the record types apply as on every
other path; this module only chooses and arranges (a project's lifecycle, its next
milestone, its open tickets and the deliverables waiting for sign-off). Views render it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, literal, select

from itpm.models import ApprovalRequest, ApprovalTask, Person, RecordEvent, ReportRequest
from itpm.planning.service import baseline_dates, baseline_moments, plan_type_of
from itpm.records.service import NotFound, Records
from itpm.reports.definition import ReportDefinition, report_definitions
from itpm.reports.requests import PENDING, SHOWN
from itpm.reports.service import Subject, stored_reports

PROJECT = "project"
DELIVERABLE = "deliverable"
#: The ticket forms a client files and follows in the portal (those the installation has).
TICKET_TYPES = ("incident", "service_request", "change_request")
#: Workflow state categories a ticket is no longer open in.
CLOSED = ("done", "cancelled")


@dataclass
class Milestone:
    record: Any
    title: str
    planned: dt.date | None
    forecast: dt.date | None
    actual: dt.date | None
    done: bool
    overdue: bool = False  # not reached, and its date (forecast, else planned) has passed


@dataclass
class ProjectCard:
    record: Any
    phases: list[tuple[str, Any]]  # (value, titles) of the lifecycle, in order
    phase_index: int  # how far along: the current phase's index, len(phases) when closed
    progress: int | None
    next_milestone: Milestone | None
    client_status: tuple[str, Any] | None  # (value, titles as the admin words them)
    open_tickets: int
    sla: dict[str, int]  # open tickets by SLA status
    awaiting_signoff: int


@dataclass
class ProjectPage:
    card: ProjectCard
    milestones: list[Milestone]
    deliverables: list[Any]
    changes: list[Any]
    tickets: list[Any]
    reports: list[Any]
    contacts: list[tuple[str, Person]] = field(default_factory=list)  # (what they are, who)
    to_ask: list[ReportDefinition] = field(default_factory=list)  # reports the person may ask for here
    asked: list[ReportRequest] = field(default_factory=list)  # theirs, still being rendered


class Portal:
    """One person's portal: their organisation's projects, tickets and deliverables."""

    def __init__(self, records: Records, now: dt.datetime) -> None:
        self.records = records
        self.catalog = records.catalog
        self.now = now

    # --- what exists for this person ----------------------------------------------------

    def has(self, type_name: str) -> bool:
        spec = self.catalog.record_types.get(type_name)
        return spec is not None and self.records.access.can(self.records.actor, spec, "read")

    def ticket_types(self, action: str = "read") -> list[Any]:
        return [
            self.catalog.record_types[t]
            for t in TICKET_TYPES
            if t in self.catalog.record_types
            and self.records.access.can(self.records.actor, self.catalog.record_types[t], action)
        ]

    def state_category(self, record: Any) -> str:
        workflow = self.catalog.workflows.get(record.__record_type__)
        return workflow.state(record.state).category if workflow and record.state in workflow.states else ""

    def state_title(self, record: Any) -> Any:
        return self.state_label(record.__record_type__, record.state)

    def state_label(self, type_name: str, state: str) -> Any:
        workflow = self.catalog.workflows.get(type_name)
        if workflow and state in workflow.states:
            return workflow.state(state).title
        return {"en": state, "zh": state}

    # --- the home page -----------------------------------------------------------------

    def projects(self) -> list[ProjectCard]:
        """The home page's cards, read for all the projects together (a few statements, not a few a card)."""
        rows = self.project_records()
        ids = [p.id for p in rows]
        milestones, tickets, waiting = (
            self._milestones_of(rows),
            self._open_tickets_of(ids),
            self._waiting_of(ids),
        )
        return [
            self.card(p, milestones.get(p.id, []), tickets.get(p.id, (0, {})), waiting.get(p.id, 0))
            for p in rows
        ]

    def project_records(self) -> list[Any]:
        """The person's projects, those under way first, newest first (at most 100), without their cards:
        a form's choices."""
        if not self.has(PROJECT):
            return []
        model = self.records.model(PROJECT)
        query = self.records.query(PROJECT).options(*self.records.load_options(PROJECT, ("client",)))
        rows = self.records.session.scalars(query.order_by(model.id.desc()).limit(100))
        found = [p for p in rows if self.state_category(p) != "cancelled"]
        return sorted(found, key=lambda p: self.state_category(p) == "done")

    def card(
        self,
        project: Any,
        milestones: list[Milestone] | None = None,
        open_tickets: tuple[int, dict[str, int]] | None = None,
        awaiting_signoff: int | None = None,
    ) -> ProjectCard:
        """A project's card; what is not given is read for this project alone."""
        spec = self.catalog.record_types[PROJECT]
        data = self.records.data(project)
        phase_field = spec.fields.get("phase")
        phases = list(phase_field.choices) if phase_field else []
        values = [v for v, _t in phases]
        closed = self.state_category(project) == "done"
        if closed:
            index = len(phases)
        elif data.get("phase") in values:
            index = values.index(data["phase"])
        elif project.state in values:
            index = values.index(project.state)
        else:
            index = 0
        status_field = spec.fields.get("client_status")
        status = data.get("client_status")
        # a closed project's lifecycle says so: a status of the work under way would mislead
        titles = dict(status_field.choices).get(status) if status_field and status and not closed else None
        milestones = milestones if milestones is not None else self.milestones(project)
        upcoming = [m for m in milestones if not m.done and (m.forecast or m.planned)]
        upcoming.sort(key=lambda m: m.forecast or m.planned or dt.date.max)
        if open_tickets is None:
            open_tickets = self._open_tickets_of([project.id]).get(project.id, (0, {}))
        if awaiting_signoff is None:
            awaiting_signoff = self._waiting_of([project.id]).get(project.id, 0)
        return ProjectCard(
            record=project,
            phases=phases,
            phase_index=index,
            progress=data.get("progress"),
            next_milestone=upcoming[0] if upcoming else None,
            client_status=(status, titles) if titles else None,
            open_tickets=open_tickets[0],
            sla=open_tickets[1],
            awaiting_signoff=awaiting_signoff,
        )

    def _milestones_of(self, projects: list[Any]) -> dict[int, list[Milestone]]:
        """The milestones of each project the person may read, in planned order: the milestone records,
        their baselines and finish days read for all the projects together."""
        found = plan_type_of(self.catalog, PROJECT)
        if found is None or not projects:
            return {}
        spec, link = found
        flag = spec.planning.get("milestone")
        if flag is None or flag in self.records.access.hidden_fields(self.records.actor, spec):
            return {}
        model = self.records.model(spec.name)
        column = getattr(model, spec.fields[link].column)
        rows = list(
            self.records.session.scalars(
                self.records.query(spec.name)
                .where(
                    column.in_([p.id for p in projects]), getattr(model, spec.fields[flag].column).is_(True)
                )
                .order_by(model.id)
            )
        )
        moments = baseline_moments(self.records, PROJECT, [p.id for p in projects])
        owner = {r.id: getattr(r, spec.fields[link].column) for r in rows}
        baseline = baseline_dates(
            self.records, spec, list(owner), {i: moments.get(p) for i, p in owner.items()}
        )
        due_name = spec.planning.get("due")
        finished = self._finished_on(spec.name, [r.id for r in rows if self.state_category(r) == "done"])
        today = self.now.astimezone(self.records.zone).date()
        built: dict[int, list[Milestone]] = {}
        for row in rows:
            due = _date(self.records.data(row).get(due_name)) if due_name else None
            done = self.state_category(row) == "done"
            planned = baseline.get(row.id, (None, None))[1] or due
            forecast = due if due and planned and due != planned and not done else None
            expected = forecast or planned
            built.setdefault(owner[row.id], []).append(
                Milestone(
                    record=row,
                    title=str(row),
                    planned=planned,
                    forecast=forecast,
                    actual=finished.get(row.id) if done else None,
                    done=done,
                    overdue=not done and expected is not None and expected < today,
                )
            )
        for found in built.values():
            found.sort(key=lambda m: m.planned or dt.date.max)
        return built

    def _open_tickets_of(self, ids: list[int]) -> dict[int, tuple[int, dict[str, int]]]:
        """Each project's open tickets the person may read, and how many are in each SLA status."""
        statuses: dict[int, list[str | None]] = {}
        for spec in self.ticket_types() if ids else ():
            belongs = spec.body.get("belongs_to")
            if not belongs or belongs in self.records.access.hidden_fields(self.records.actor, spec):
                continue
            model = self.records.model(spec.name)
            column = getattr(model, spec.fields[belongs].column)
            sla = getattr(model, "sla_status", None)
            workflow = self.catalog.workflows.get(spec.name)
            closed = [n for n, s in workflow.states.items() if s.category in CLOSED] if workflow else []
            query = (
                self.records.query(spec.name)
                .with_only_columns(column, sla if sla is not None else literal(None))
                .where(column.in_(ids), model.state.not_in(closed or [""]))
            )
            for project_id, status in self.records.session.execute(query):
                statuses.setdefault(project_id, []).append(status)
        return {p: (len(found), dict(Counter(s for s in found if s))) for p, found in statuses.items()}

    def _waiting_of(self, ids: list[int]) -> dict[int, int]:
        """Each project's deliverables waiting for the client's sign-off (submitted), as the person reads them."""
        if not ids or not self.has(DELIVERABLE):
            return {}
        spec = self.catalog.record_types[DELIVERABLE]
        belongs = spec.body.get("belongs_to")
        if not belongs:
            return {}
        model = self.records.model(DELIVERABLE)
        column = getattr(model, spec.fields[belongs].column)
        query = (
            self.records.query(DELIVERABLE)
            .with_only_columns(column, func.count())
            .where(column.in_(ids), model.state == "submitted")
            .group_by(column)
        )
        return {project: count for project, count in self.records.session.execute(query)}

    # --- a project's page --------------------------------------------------------------

    def project(self, project_id: int) -> ProjectPage:
        project = self.records.get(PROJECT, project_id, load=("client",))  # NotFound: not for this person
        milestones = self.milestones(project)
        return ProjectPage(
            card=self.card(project, milestones),
            milestones=milestones,
            deliverables=self.deliverables(project.id),
            changes=self.tickets(project=project.id, types=("change_request",)),
            tickets=self.tickets(project=project.id, types=("incident", "service_request")),
            reports=self.reports(project),
            contacts=self.contacts(project),
            to_ask=self.reports_to_ask(project),
            asked=self.asked_reports(project),
        )

    def milestones(self, project: Any) -> list[Milestone]:
        """The project's milestones the person may read: planned (baseline), forecast and actual dates."""
        return self._milestones_of([project]).get(project.id, [])

    def _finished_on(self, type_name: str, ids: list[int]) -> dict[int, dt.date]:
        """The day each record last entered a done state (its history)."""
        if not ids:
            return {}
        workflow = self.catalog.workflows.get(type_name)
        done = {n for n, s in workflow.states.items() if s.category == "done"} if workflow else set()
        events = self.records.session.scalars(
            select(RecordEvent)
            .where(RecordEvent.record_type == type_name, RecordEvent.record_id.in_(ids))
            .order_by(RecordEvent.id)
        )
        found: dict[int, dt.date] = {}
        for event in events:
            if any(c.get("path") == "/state" and c.get("new") in done for c in event.changes or ()):
                found[event.record_id] = event.at.astimezone(self.records.zone).date()
        return found

    def deliverables(self, project_id: int | None = None) -> list[Any]:
        if not self.has(DELIVERABLE):
            return []
        spec = self.catalog.record_types[DELIVERABLE]
        model = self.records.model(DELIVERABLE)
        query = self.records.query(DELIVERABLE)
        belongs = spec.body.get("belongs_to")
        if project_id is not None and belongs:
            query = query.where(getattr(model, spec.fields[belongs].column) == project_id)
        rows = self.records.session.scalars(query.order_by(model.id.desc()).limit(200))
        return [d for d in rows if self.state_category(d) != "cancelled" and d.state != "draft"]

    def tickets(
        self,
        project: int | None = None,
        open_only: bool = False,
        types: tuple[str, ...] = TICKET_TYPES,
        limit: int = 200,
    ) -> list[Any]:
        """The person's tickets (of the given forms), newest first."""
        found: list[Any] = []
        for spec in self.ticket_types():
            if spec.name not in types:
                continue
            model = self.records.model(spec.name)
            query = self.records.query(spec.name)
            belongs = spec.body.get("belongs_to")
            if project is not None:
                if not belongs or belongs in self.records.access.hidden_fields(self.records.actor, spec):
                    continue
                query = query.where(getattr(model, spec.fields[belongs].column) == project)
            rows = list(self.records.session.scalars(query.order_by(model.id.desc()).limit(limit)))
            if open_only:
                rows = [r for r in rows if self.state_category(r) not in CLOSED]
            found += rows
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[:limit]

    def ticket(self, type_name: str, ticket_id: int) -> Any:
        if type_name not in TICKET_TYPES:
            raise NotFound(f"There is no ticket form {type_name}.")
        return self.records.get(type_name, ticket_id, load=("assignee",))

    def my_approvals(self) -> list[Any]:
        """The tickets waiting for the person's own decision (a change request's client sign-off), oldest
        first: their pending tasks in the current step of a pending approval, of tickets they may read."""
        from itpm.workflows.engine import PENDING

        if self.records.actor.id is None:
            return []
        asked = self.records.session.execute(
            select(ApprovalRequest.record_type, ApprovalRequest.record_id)
            .join(ApprovalTask, ApprovalTask.approval_id == ApprovalRequest.id)
            .where(
                ApprovalTask.approver_id == self.records.actor.id,
                ApprovalTask.decision == PENDING,
                ApprovalTask.step == ApprovalRequest.step,
                ApprovalRequest.state == PENDING,
                ApprovalRequest.record_type.in_([s.name for s in self.ticket_types()]),
            )
            .order_by(ApprovalRequest.id)
            .limit(50)
        )
        found = []
        for type_name, record_id in asked.all():
            try:
                found.append(self.records.get(type_name, record_id))
            except NotFound:
                continue
        return found

    def waiting_approval(self, record: Any) -> tuple[Any, Any, ApprovalTask | None] | None:
        """The approval the record waits for: (the request, its current step's titles, the person's own
        pending task in that step: theirs to decide, as a client approver of a change request is)."""
        from itpm.workflows.engine import Workflows

        approval = Workflows(self.records).pending(record)
        workflow = self.catalog.workflows.get(record.__record_type__)
        transition = workflow.transitions.get(approval.transition) if approval and workflow else None
        if approval is None or transition is None or transition.approval is None:
            return None
        steps = transition.approval.steps
        title = steps[approval.step].title if approval.step < len(steps) else {"en": "", "zh": ""}
        mine = next(
            (
                t
                for t in approval.tasks
                if t.step == approval.step
                and t.decision == "pending"
                and t.approver_id == self.records.actor.id
            ),
            None,
        )
        return approval, title, mine if self.records.actor.id is not None else None

    def reports(self, project: Any) -> list[Any]:
        """The client reports kept on the project that were rendered with no more than the person sees."""
        return stored_reports(self.records, Subject(PROJECT, project.id))

    def reports_to_ask(self, project: Any) -> list[ReportDefinition]:
        """The reports the person may ask for about the project from its page: those kept on a project that
        need nothing else but a month (this month's when not given), if the person may report on it."""
        if self.records.actor.id is None or not self.records.access.allows(
            self.records.actor, self.catalog.record_types[PROJECT], project, "report"
        ):
            return []
        return [
            d
            for d in report_definitions(self.catalog)
            if d.attach_to
            and d.parameters[d.attach_to].ref == PROJECT
            and all(p.is_month or not p.required for n, p in d.parameters.items() if n != d.attach_to)
        ]

    def asked_reports(self, project: Any) -> list[ReportRequest]:
        """The person's requests for a report about the project that are still being rendered."""
        asked = self.records.session.scalars(
            select(ReportRequest)
            .where(ReportRequest.requested_by_id == self.records.actor.id, ReportRequest.status.in_(PENDING))
            .order_by(ReportRequest.id.desc())
            .limit(SHOWN)
        )
        attach = {d.name: d.attach_to for d in report_definitions(self.catalog)}
        return [r for r in asked if r.report in attach and r.arguments.get(attach[r.report]) == project.id]

    def contacts(self, project: Any) -> list[tuple[str, Person]]:
        """Whom the client calls: the organisation's account manager and the project's manager."""
        session = self.records.session
        found: list[tuple[str, Person]] = []
        customer = getattr(project, "client", None)
        if customer is not None and self.has("customer"):
            try:
                visible = self.records.get("customer", customer.id)
            except NotFound:
                visible = None
            manager_id = self.records.data(visible).get("account_manager") if visible is not None else None
            if manager_id and (person := session.get(Person, manager_id)) is not None:
                found.append(("account_manager", person))
        manager_id = self.records.data(project).get("manager")
        if manager_id and (person := session.get(Person, manager_id)) is not None:
            found.append(("project_manager", person))
        return found


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
