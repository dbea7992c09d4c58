"""Taking transitions and deciding approvals, for every caller (screens, API, workers).

A transition is taken by a person holding one of its roles, from one of its
source states, when its condition holds and the fields it requires have
values. Without an approval chain it completes at once; with one, an approval
request waits for each step that applies, in order, and the transition
completes exactly once when the last step approves (under a lock on the
request, so two approvers at the same moment or a double click decide once).
A rejection needs a reason and sends the record back to the chain's
`rejected_to` state. Every request, decision and transition is in the
record's history and the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _
from sqlalchemy import and_, or_, select

from itpm.access import Actor
from itpm.definitions.problems import Problem, pointer
from itpm.models import ApprovalRequest, ApprovalTask, AuditEntry, Delegation, Person
from itpm.records.fields import CLIENT_TYPE, RecordTypeSpec
from itpm.records.service import Conflict, Forbidden, Invalid, NotFound, Records
from itpm.records.validation import empty
from itpm.sla.calendar import BusinessCalendar, add_business_time, china_days
from itpm.texts import Bilingual
from itpm.workflows.spec import Step, Transition, WorkflowSpec, condition_holds

PENDING, APPROVED, REJECTED, WITHDRAWN, CLOSED = "pending", "approved", "rejected", "withdrawn", "closed"


@cache
def company_calendar(zone: str) -> BusinessCalendar:
    """The business hours escalations count in: 09:00-18:00 with lunch, China's holidays and make-up days."""
    hours = ((9 * 60, 12 * 60), (13 * 60, 18 * 60))
    holidays, working_days = china_days()
    return BusinessCalendar(ZoneInfo(zone), (hours,) * 5 + ((), ()), holidays, working_days)


@dataclass
class Outcome:
    """What taking a transition did: the record, and the approval it now waits for (if any)."""

    record: Any
    approval: ApprovalRequest | None = None

    @property
    def completed(self) -> bool:
        return self.approval is None or self.approval.state == APPROVED


class Workflows:
    def __init__(self, records: Records) -> None:
        self.records = records
        self.session = records.session
        self.catalog = records.catalog
        self.actor = records.actor

    # --- reading ------------------------------------------------------------

    def workflow(self, type_name: str) -> WorkflowSpec | None:
        return self.catalog.workflows.get(type_name)

    def values(self, record: Any) -> dict[str, Any]:
        """A record's values as conditions read them: its fields, system fields, and referenced records' fields."""
        spec = self.records.spec(record.__record_type__)
        values: dict[str, Any] = {}
        for name, field in spec.fields.items():
            value = getattr(record, field.column)
            values[name] = value
        for name in ("assignee", "owner", "client", "department"):
            values[name] = getattr(record, f"{name}_id")
        for field in spec.references:
            if (
                field.kind != "ref"
                or getattr(record, field.column) is None
                or field.target not in self.catalog.record_types
            ):
                continue
            target_spec = self.catalog.record_types[field.target]
            model = self.catalog.models.models[field.target]
            row = self.session.get(model, getattr(record, field.column))
            if row is not None:
                for inner, inner_field in target_spec.fields.items():
                    values[f"{field.name}__{inner}"] = getattr(row, inner_field.column)
        return values

    def json_values(self, record: Any) -> dict[str, Any]:
        """The record's values in JSON form, for JSON Schema conditions."""
        return {
            **self.records._stored_data(record),
            **{n: getattr(record, f"{n}_id") for n in ("assignee", "owner", "client", "department")},
        }

    def holds(self, condition: dict[str, Any] | None, record: Any) -> bool:
        if condition is None:
            return True
        if "expression" in condition:
            return condition_holds(condition, self.values(record))
        return condition_holds(condition, self.json_values(record))

    def pending(self, record: Any) -> ApprovalRequest | None:
        return self.session.scalar(
            select(ApprovalRequest).where(
                ApprovalRequest.record_type == record.__record_type__,
                ApprovalRequest.record_id == record.id,
                ApprovalRequest.state == PENDING,
            )
        )

    def available(self, record: Any) -> list[Transition]:
        """The transitions the actor may take on the record now (by state, role and condition)."""
        workflow = self.workflow(record.__record_type__)
        if workflow is None or self.pending(record) is not None:
            return []
        return [t for t in workflow.leaving(record.state) if self._may_take(t) and self.holds(t.when, record)]

    def _may_take(self, transition: Transition) -> bool:
        return self.actor.is_system or bool(set(transition.roles) & self.actor.roles)

    def approvals(self, record: Any) -> list[ApprovalRequest]:
        """Every approval request of a record, newest first, with its tasks."""
        return list(
            self.session.scalars(
                select(ApprovalRequest)
                .where(
                    ApprovalRequest.record_type == record.__record_type__,
                    ApprovalRequest.record_id == record.id,
                )
                .order_by(ApprovalRequest.id.desc())
            )
        )

    def inbox(self, today: dt.date | None = None) -> list[ApprovalTask]:
        """The pending approval tasks the actor decides: their own, and those delegated to them today."""
        today = today or self.records.clock().astimezone(self.records.zone).date()
        delegators = select(Delegation.from_id).where(
            Delegation.to_id == self.actor.id, Delegation.starts_on <= today, Delegation.ends_on >= today
        )
        tasks = self.session.scalars(
            select(ApprovalTask)
            .join(ApprovalRequest)
            .where(
                ApprovalTask.decision == PENDING,
                ApprovalRequest.state == PENDING,
                or_(ApprovalTask.approver_id == self.actor.id, ApprovalTask.approver_id.in_(delegators)),
            )
            .order_by(ApprovalTask.id)
        )
        return [t for t in tasks if t.approver_id == self.actor.id or self._stands_in(t)]

    def _stands_in(self, task: ApprovalTask) -> bool:
        """Whether the actor could hold the step of a task delegated to them (a delegation made before
        the rules, or before their roles changed, gives nothing more)."""
        spec = self.records.catalog.record_types.get(task.approval.record_type)
        if spec is None or not self.records.access.can(self.actor, spec, "approve"):
            return False
        if self.actor.client_id is None:
            return True
        approver = self.session.get(Person, task.approver_id)
        return approver is not None and approver.client_id == self.actor.client_id

    # --- taking transitions ------------------------------------------------

    def take(
        self,
        type_name: str,
        record_id: int,
        name: str,
        data: dict[str, Any] | None = None,
        comment: str = "",
        version: int | None = None,
    ) -> Outcome:
        """Take a transition: complete it, or request its approval. Nothing changes on any refusal."""
        data = dict(data or {})
        workflow = self.workflow(type_name)
        record = self.records.get(type_name, record_id)
        if workflow is None or name not in workflow.transitions:
            raise NotFound(_("%(type)s has no transition %(name)s.", type=type_name, name=name))
        transition = workflow.transitions[name]
        limits = self.actor.limits  # an integration token takes transitions only with write in its scope
        if not self._may_take(transition) or (limits is not None and (type_name, "write") not in limits):
            raise Forbidden(
                _("Your roles may not take the transition %(name)s.", name=Bilingual(transition.title))
            )
        if version is not None and record.version != version:
            raise Conflict(
                _(
                    "%(number)s was changed by someone else (now version %(version)s).",
                    number=record.number,
                    version=record.version,
                ),
                self.records.as_json(record),
            )
        if self.pending(record) is not None:
            raise Conflict(
                _("%(number)s is waiting for an approval.", number=record.number),
                self.records.as_json(record),
            )
        if record.state not in transition.sources:
            state = workflow.state(record.state)
            raise Conflict(
                _(
                    "%(number)s is %(state)s; %(name)s leaves from %(sources)s only.",
                    number=record.number,
                    state=Bilingual(state.title),
                    name=Bilingual(transition.title),
                    sources=Bilingual(
                        {
                            "en": ", ".join(workflow.state(s).title["en"] for s in transition.sources),
                            "zh": "、".join(workflow.state(s).title["zh"] for s in transition.sources),
                        }
                    ),
                ),
                self.records.as_json(record),
            )
        spec = self.records.spec(type_name)
        self._check_data(spec, transition, data)
        self.records.check_writable(record, data)  # what the person brings obeys their field rules
        problems = [
            Problem(
                "",
                pointer(["data", n]),
                _("is required to %(transition)s", transition=Bilingual(transition.title)),
            )
            for n in transition.requires
            if empty(data.get(n, self.records._stored_data(record).get(n)))
        ]
        if problems:
            raise Invalid(_("Some fields are needed first."), problems)
        if not self.holds(transition.when, record):
            raise Invalid(
                _(
                    "%(number)s does not meet the condition of %(name)s.",
                    number=record.number,
                    name=Bilingual(transition.title),
                ),
                [Problem("", "/", _("the transition's condition does not hold"))],
            )
        if transition.approval is None:
            self._complete(spec, record, transition, data, comment)
            return Outcome(record)
        approval = ApprovalRequest(
            record_type=type_name,
            record_id=record.id,
            transition=name,
            requested_by_id=self.actor.id,
            requested_by=self.actor.username,
            requested_at=self.records.clock(),
            comment=comment,
            data=data,
        )
        self.session.add(approval)
        self.session.flush()
        self.records.note(record, "approval requested", _note(name, comment))
        self._audit("approval.request", record, {"transition": name, "approval": approval.id})
        self._advance(spec, record, transition, approval, start=0)
        return Outcome(record, approval)

    def _check_data(self, spec: RecordTypeSpec, transition: Transition, data: dict[str, Any]) -> None:
        """A transition brings values only for the fields it requires."""
        extra = [n for n in data if n not in transition.requires]
        if extra:
            raise Invalid(
                _("A transition brings only the fields it requires."),
                [
                    Problem("", pointer(["data", n]), _("is not asked for by %(name)s", name=transition.name))
                    for n in extra
                ],
            )

    def _complete(
        self, spec: RecordTypeSpec, record: Any, transition: Transition, data: dict[str, Any], comment: str
    ) -> None:
        # The fields the workflow itself sets (`set`) are the definition's act, not the person's: they are
        # written whatever the person's field rules, as its roles and conditions allow the transition.
        values = {**data, **transition.sets}
        self.records.move(record, transition.target, values, f"transition {transition.name}", comment)
        self._audit("transition", record, {"transition": transition.name, "to": transition.target})

    # --- approvals ---------------------------------------------------------

    def _advance(
        self, spec: RecordTypeSpec, record: Any, transition: Transition, approval: ApprovalRequest, start: int
    ) -> None:
        """Open the next step that applies (from `start`), or complete the transition when none is left."""
        steps = transition.approval.steps
        for index in range(start, len(steps)):
            step = steps[index]
            if not self.holds(step.when, record):
                continue
            candidates = self._approvers(spec, step, record, approval)
            approvers = [
                (p, via) for p, via in candidates if step.allow_self or p != approval.requested_by_id
            ]
            if not approvers and candidates:  # the requester is the step's only approver
                if step.self_approval == "skip":
                    self.records.note(record, "approval step skipped", step.title["en"])
                    continue
                approvers = self._self_approvers(spec, step, index, record, approval)
            elif not approvers and step.escalate_to_role:  # nobody holds the step: it goes up at once
                approvers = [
                    (p, "escalation")
                    for p in self._role_approvers(spec, step.escalate_to_role, record)
                    if p != approval.requested_by_id
                ]
            if not approvers:
                raise Invalid(
                    _("Nobody can decide the step %(step)s of this approval.", step=step.title["en"]),
                    [Problem("", f"/approval/steps/{index}", _("has no approver"))],
                )
            approval.step = index
            due = self._due(step)
            for person_id, via in approvers:
                self.session.add(
                    ApprovalTask(
                        approval_id=approval.id,
                        step=index,
                        step_name=step.name,
                        approver_id=person_id,
                        via=via,
                        due_at=due,
                    )
                )
            self.session.flush()
            # its approvers (and their delegates) are told: `itpm.automations.notices`
            self.records.emit(
                record,
                "approval_step",
                {"approval": approval.id, "step": index, "transition": transition.name},
            )
            return
        approval.state = APPROVED
        approval.decided_at = self.records.clock()
        data = {n: v for n, v in approval.data.items() if n in spec.fields}
        self._complete(spec, record, transition, data, approval.comment)
        self.records.emit(
            record, "approval", {"transition": transition.name, "decision": APPROVED, "approval": approval.id}
        )

    def _due(self, step: Step) -> dt.datetime | None:
        if step.escalate_after_hours is None:
            return None
        calendar = company_calendar(self.records.zone.key)
        return add_business_time(
            calendar, self.records.clock(), dt.timedelta(hours=step.escalate_after_hours)
        ).astimezone(dt.UTC)

    def _self_approvers(
        self, spec: RecordTypeSpec, step: Step, index: int, record: Any, approval: ApprovalRequest
    ) -> list[tuple[int, str]]:
        """Who decides a step whose only approver asked for it, by the rule the workflow declares."""
        rule = step.self_approval
        where = f"/approval/steps/{index}/self_approval"
        if rule is None:
            raise Invalid(
                _(
                    "You are the only approver of the step %(step)s of your own request, and the workflow "
                    "does not say who decides it then: ask an admin to declare its self_approval rule.",
                    step=Bilingual(step.title),
                ),
                [Problem("", where, _("is not declared"))],
            )
        if rule == "manager":
            requester = (
                self.session.get(Person, approval.requested_by_id) if approval.requested_by_id else None
            )
            manager = (
                self.session.get(Person, requester.manager_id) if requester and requester.manager_id else None
            )
            found = [manager.id] if manager is not None and manager.active else []
            if not found:
                raise Invalid(
                    _(
                        "The step %(step)s goes to your manager when you ask for your own request, "
                        "and you have no active manager: ask an admin to set one.",
                        step=Bilingual(step.title),
                    ),
                    [Problem("", where, _("names the requester's manager, who is not set"))],
                )
        else:
            found = [
                p for p in self._role_approvers(spec, rule["role"], record) if p != approval.requested_by_id
            ]
            if not found:
                raise Invalid(
                    _(
                        "The step %(step)s goes to the role %(role)s when you ask for your own request, "
                        "and nobody of that role may approve this record.",
                        step=Bilingual(step.title),
                        role=rule["role"],
                    ),
                    [Problem("", where, _("names a role with nobody to decide"))],
                )
        self.records.note(record, "approval step passed on", step.title["en"])
        return [(p, "self_approval") for p in found]

    def _approvers(
        self, spec: RecordTypeSpec, step: Step, record: Any, approval: ApprovalRequest
    ) -> list[tuple[int, str]]:
        """Everyone the step's rule names, the requester included (the caller decides about them)."""
        return self.approvers_of(spec, step.approvers, record, approval.requested_by_id)

    def approvers_of(
        self, spec: RecordTypeSpec, rule: dict[str, Any], record: Any, requester_id: int | None
    ) -> list[tuple[int, str]]:
        """The active people an approval step's rule (`approvers`) names on `record`, each with how
        (role, field, users, manager); the designers' trial asks it too, before anything is requested."""
        if "role" in rule:
            found, via = self._role_approvers(spec, rule["role"], record), "role"
        elif "field" in rule:
            found, via = self._field_approvers(spec, rule["field"], record), "field"
        elif "users" in rule:
            found, via = (
                list(
                    self.session.scalars(
                        select(Person.id).where(Person.username.in_(rule["users"]), Person.active.is_(True))
                    )
                ),
                "users",
            )
        else:
            requester = self.session.get(Person, requester_id) if requester_id else None
            found, via = ([requester.manager_id] if requester and requester.manager_id else []), "manager"
        return [(p, via) for p in dict.fromkeys(found)]

    def _role_approvers(self, spec: RecordTypeSpec, role: str, record: Any) -> list[int]:
        """The active people holding `role` whose approve rows cover the record."""
        from flask_appbuilder.security.sqla.models import Role

        people = self.session.scalars(
            select(Person).join(Person.roles).where(Role.name == role, Person.active.is_(True))
        )
        found = []
        for person in people:
            actor = Actor.of(person)
            team = (
                list(self.session.scalars(select(Person.id).where(Person.team_id == person.team_id)))
                if person.team_id
                else []
            )
            if self.records.access.allows(actor, spec, record, "approve", team):
                found.append(person.id)
        return found

    def _field_approvers(self, spec: RecordTypeSpec, path: str, record: Any) -> list[int]:
        name, _dot, inner = path.partition(".")
        if name in ("assignee", "owner"):
            value = getattr(record, f"{name}_id")
            return [value] if value else []
        if name == "client" and name not in spec.fields:  # the record's client organisation (a system field)
            organisation = (
                self.session.get(self.catalog.models.models[CLIENT_TYPE], record.client_id)
                if inner and record.client_id and CLIENT_TYPE in self.catalog.record_types
                else None
            )
            if organisation is None:
                return []
            return self._field_approvers(self.catalog.record_types[CLIENT_TYPE], inner, organisation)
        field = spec.fields[name]
        value = getattr(record, field.column)
        if not inner:
            return [v for v in (value if isinstance(value, list) else [value]) if v]
        if value is None:
            return []
        target = self.catalog.record_types[field.target]
        referenced = self.session.get(self.catalog.models.models[field.target], value)
        return self._field_approvers(target, inner, referenced) if referenced is not None else []

    def decide(self, approval_id: int, approve: bool, comment: str = "") -> ApprovalRequest:
        """The actor's decision on an approval they (or the person they stand in for) may decide."""
        comment = comment.strip()
        approval = self.session.scalar(
            select(ApprovalRequest).where(ApprovalRequest.id == approval_id).with_for_update()
        )
        if approval is None:
            raise NotFound(_("There is no approval %(id)s.", id=approval_id))
        record = self.records.get(
            approval.record_type, approval.record_id
        )  # one who cannot see it cannot decide it
        if not approve and not comment:
            raise Invalid(
                _("A rejection needs a reason."), [Problem("", "/comment", _("is required to reject"))]
            )
        if approval.state != PENDING:
            raise Conflict(
                _("This approval was already decided (%(state)s).", state=approval.state),
                {"id": approval.id, "state": approval.state},
            )
        task = self._task_of(approval)
        now = self.records.clock()
        transition = self._chain_of(approval)
        if transition is None:  # the workflow was changed under the request: it cannot be decided as asked
            approval.state = WITHDRAWN
            approval.decided_at = now
            approval.reason = "the workflow changed; ask again"
            self._close_step(approval)
            self.records.note(record, "approval withdrawn", approval.reason)
            self.session.flush()
            return approval
        task.decision = APPROVED if approve else REJECTED
        task.decided_by_id = self.actor.id
        task.decided_by = self.actor.username
        task.decided_at = now
        task.comment = comment
        spec = self.records.spec(approval.record_type)
        step = transition.approval.steps[approval.step]
        tasks = [t for t in approval.tasks if t.step == approval.step and t.decision != CLOSED]
        approved = sum(t.decision == APPROVED for t in tasks)
        rejected = sum(t.decision == REJECTED for t in tasks)
        self.records.note(record, "approved" if approve else "rejected", _note(step.title["en"], comment))
        self._audit(
            "approval.decide", record, {"approval": approval.id, "step": step.name, "decision": task.decision}
        )
        if approve and step.needed(len(tasks), approved):
            self._close_step(approval)
            self._advance(spec, record, transition, approval, start=approval.step + 1)
        elif not approve and step.hopeless(len(tasks), rejected):
            self._close_step(approval)
            approval.state = REJECTED
            approval.decided_at = now
            approval.reason = comment
            target = transition.approval.rejected_to
            if target and target != record.state:
                self.records.move(record, target, {}, f"rejected {transition.name}", comment)
            self.records.emit(
                record,
                "approval",
                {
                    "transition": transition.name,
                    "decision": REJECTED,
                    "approval": approval.id,
                    "reason": comment,
                },
            )
        self.session.flush()
        return approval

    def _chain_of(self, approval: ApprovalRequest) -> Transition | None:
        """The transition an approval waits for, if the published workflow still has it with that step."""
        workflow = self.workflow(approval.record_type)
        transition = workflow.transitions.get(approval.transition) if workflow else None
        if (
            transition is None
            or transition.approval is None
            or approval.step >= len(transition.approval.steps)
        ):
            return None
        return transition

    def _task_of(self, approval: ApprovalRequest) -> ApprovalTask:
        """The actor's pending task in the approval's current step (their own, or one delegated to them)."""
        today = self.records.clock().astimezone(self.records.zone).date()
        delegators = set(
            self.session.scalars(
                select(Delegation.from_id).where(
                    Delegation.to_id == self.actor.id,
                    Delegation.starts_on <= today,
                    Delegation.ends_on >= today,
                )
            )
        )
        mine = [
            t
            for t in approval.tasks
            if t.approver_id == self.actor.id or (t.approver_id in delegators and self._stands_in(t))
        ]
        pending = [t for t in mine if t.step == approval.step and t.decision == PENDING]
        if pending:
            return next((t for t in pending if t.approver_id == self.actor.id), pending[0])
        if any(t.decided_by_id == self.actor.id for t in mine):  # a second click, or a step already passed
            raise Conflict(
                _("You have already decided this approval."), {"id": approval.id, "state": approval.state}
            )
        raise Forbidden(_("This approval is not yours to decide."))

    def _close_step(self, approval: ApprovalRequest) -> None:
        for task in approval.tasks:
            if task.step == approval.step and task.decision == PENDING:
                task.decision = CLOSED

    def withdraw(self, approval_id: int) -> ApprovalRequest:
        """The requester takes back a pending request."""
        approval = self.session.scalar(
            select(ApprovalRequest).where(ApprovalRequest.id == approval_id).with_for_update()
        )
        if approval is None:
            raise NotFound(_("There is no approval %(id)s.", id=approval_id))
        record = self.records.get(approval.record_type, approval.record_id)
        if approval.requested_by_id != self.actor.id and not self.actor.is_system:
            raise Forbidden(_("Only who asked may withdraw an approval."))
        if approval.state != PENDING:
            raise Conflict(
                _("This approval was already decided (%(state)s).", state=approval.state),
                {"id": approval.id, "state": approval.state},
            )
        approval.state = WITHDRAWN
        approval.decided_at = self.records.clock()
        for task in approval.tasks:
            if task.decision == PENDING:
                task.decision = CLOSED
        self.records.note(record, "approval withdrawn", "")
        self.session.flush()
        return approval

    def escalate_overdue(self, now: dt.datetime) -> int:
        """Give overdue steps to their escalation role as well; the number of steps escalated."""
        overdue = self.session.scalars(
            select(ApprovalTask)
            .join(ApprovalRequest)
            .where(
                and_(
                    ApprovalTask.decision == PENDING,
                    ApprovalTask.escalated.is_(False),
                    ApprovalTask.due_at <= now,
                    ApprovalRequest.state == PENDING,
                )
            )
        ).all()
        escalated = 0
        for approval in {t.approval for t in overdue}:
            transition = self._chain_of(approval)
            if transition is None or transition.approval.steps[approval.step].escalate_to_role is None:
                continue
            step = transition.approval.steps[approval.step]
            record = self.records.get(approval.record_type, approval.record_id)
            spec = self.records.spec(approval.record_type)
            present = {t.approver_id for t in approval.tasks if t.step == approval.step}
            for person_id in self._role_approvers(spec, step.escalate_to_role, record):
                if person_id not in present:
                    self.session.add(
                        ApprovalTask(
                            approval_id=approval.id,
                            step=approval.step,
                            step_name=step.name,
                            approver_id=person_id,
                            via="escalation",
                        )
                    )
            for task in approval.tasks:
                if task.step == approval.step and task.decision == PENDING:
                    task.escalated = True
            self.records.note(record, "approval escalated", step.title["en"])
            escalated += 1
        self.session.flush()
        return escalated

    # --- delegation --------------------------------------------------------

    def delegate(self, to_id: int, starts_on: dt.date, ends_on: dt.date) -> Delegation:
        """Let `to_id` decide the actor's approvals for a while: someone who could hold their steps.

        The delegate is an active person who may approve every record type the
        actor approves (by role, or is waiting to decide): staff of the roles
        that approve, or a client user of the actor's own organisation.
        """
        if ends_on < starts_on:
            raise Invalid(
                _("A delegation ends after it starts."), [Problem("", "/ends_on", _("is before the start"))]
            )
        delegate = self.session.get(Person, to_id)
        if to_id == self.actor.id or delegate is None or not delegate.active:
            raise Invalid(_("Delegate to someone else."), [Problem("", "/to", _("names nobody else"))])
        stand_in = Actor.of(delegate)
        if stand_in.client_id is not None and stand_in.client_id != self.actor.client_id:
            raise Invalid(
                _("Delegate to a colleague who could decide your approvals."),
                [Problem("", "/to", _("is a client's user"))],
            )
        access, types = self.records.access, self.records.catalog.record_types
        approved = {name for name, spec in types.items() if access.can(self.actor, spec, "approve")}
        approved |= set(
            self.session.scalars(
                select(ApprovalRequest.record_type)
                .join(ApprovalTask, ApprovalTask.approval_id == ApprovalRequest.id)
                .where(ApprovalTask.approver_id == self.actor.id, ApprovalTask.decision == PENDING)
            )
        )
        beyond = sorted(n for n in approved if n in types and not access.can(stand_in, types[n], "approve"))
        if beyond:
            raise Invalid(
                _("Delegate to a colleague who could decide your approvals."),
                [Problem("", "/to", _("may not approve %(type)s", type=name)) for name in beyond],
            )
        delegation = Delegation(from_id=self.actor.id, to_id=to_id, starts_on=starts_on, ends_on=ends_on)
        self.session.add(delegation)
        self.session.flush()
        return delegation

    def delegations(self) -> list[Delegation]:
        return list(
            self.session.scalars(
                select(Delegation).where(Delegation.from_id == self.actor.id).order_by(Delegation.starts_on)
            )
        )

    def _audit(self, action: str, record: Any, detail: dict[str, Any]) -> None:
        self.session.add(
            AuditEntry(
                actor=self.actor.username,
                action=action,
                target=f"{record.__record_type__}/{record.number}",
                detail=detail,
            )
        )


def _note(title: str, comment: str) -> str:
    return f"{title}: {comment}" if comment else title
