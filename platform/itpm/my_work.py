"""My work: everything assigned to one person or waiting for them, the most urgent first.

Records of every type with a workflow that are open and assigned to the person, or in a state whose
`waits_for` field names them (a deliverable submitted for its project manager's review); approval
steps they decide (their own, and those delegated to them); comments that mention them and are not
read yet. What is due comes from the definitions: a record's SLA first, else the field its record
type names `due`; ties are broken by the field it names `priority` (its choices, most urgent first).
Every record is read through the access layer (`Records.query`, `Records.get`), so nothing the
person may not see is listed. Rendering and the one-click actions are the web layer's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, union_all

from itpm.models import Notification
from itpm.records.fields import USER, RecordTypeSpec
from itpm.records.service import NotFound, RecordError, Records
from itpm.workflows.engine import Workflows
from itpm.workflows.spec import Transition

ASSIGNED, WAITING, APPROVAL, MENTION = "assigned", "waiting", "approval", "mention"
OVERDUE, TODAY, LATER = "overdue", "today", "later"
GROUPS = (OVERDUE, TODAY, LATER)
#: The most records of one type listed (a person with more has a list to filter, not a to-do list).
PER_TYPE = 200
#: The key that marks a mention's notification: `mention:<type>:<record id>:<comment id>`.
MENTION_PREFIX = "mention:"
_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass
class WorkItem:
    """One line of a person's work."""

    kind: str
    type_name: str
    type_title: dict[str, str]
    record: Any
    title: str
    state_title: dict[str, str]
    due: dt.datetime | None
    #: Whether `due` comes from the SLA (a time) rather than a date field.
    sla: bool
    priority: str | None
    priority_rank: int
    group: str
    #: The transitions the person may take now, from the list (those that need no fields come first).
    transitions: list[Transition] = field(default_factory=list)
    approval: Any = None
    step_title: dict[str, str] | None = None
    delegated: bool = False
    notification_id: int | None = None

    def sort_key(self) -> tuple[Any, ...]:
        return (
            GROUPS.index(self.group),
            self.due or _FAR,
            self.priority_rank,
            self.kind != APPROVAL,
            self.record.id,
        )

    def as_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "kind": self.kind,
            "type": self.type_name,
            "id": record.id,
            "number": record.number,
            "title": self.title,
            "state": record.state,
            "due": self.due.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if self.due else None,
            "due_from": "sla" if self.sla else ("field" if self.due else None),
            "priority": self.priority,
            "group": self.group,
            "link": f"/records/{self.type_name}/show/{record.id}",
            "transitions": [t.name for t in self.transitions],
            **(
                {
                    "approval": {
                        "id": self.approval.id,
                        "transition": self.approval.transition,
                        "step": self.approval.step,
                        "delegated": self.delegated,
                    }
                }
                if self.approval is not None
                else {}
            ),
            **({"notification": self.notification_id} if self.notification_id else {}),
        }


def due_field(spec: RecordTypeSpec) -> str | None:
    """The field a record type names as its due date or time, if any."""
    name = spec.body.get("due")
    return name if name in spec.fields else None


def priority_choices(spec: RecordTypeSpec) -> tuple[str | None, list[Any]]:
    """The field a record type names as its priority, and its choices, the most urgent first."""
    name = spec.body.get("priority")
    if name not in spec.fields:
        return None, []
    return name, list(spec.fields[name].schema.get("enum") or [])


def record_due(
    records: Records, spec: RecordTypeSpec, record: Any, zone: ZoneInfo
) -> tuple[dt.datetime | None, bool]:
    """When a record is due, and whether that is its SLA's time: a running SLA first, else its due field
    (a date is due at the end of that day in the reader's zone)."""
    if getattr(record, "sla_due", None) is not None:
        return record.sla_due, True
    name = due_field(spec)
    if name is None:
        return None, False
    value = getattr(record, spec.fields[name].column)
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)), False
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(23, 59, 59), zone), False
    return None, False


def group_of(due: dt.datetime | None, breached: bool, now: dt.datetime, zone: ZoneInfo) -> str:
    if breached or (due is not None and due < now):
        return OVERDUE
    if due is not None and due.astimezone(zone).date() == now.astimezone(zone).date():
        return TODAY
    return LATER


def _waiting_condition(records: Records, spec: RecordTypeSpec, model: Any, path: str, me: int) -> Any:
    """Records whose field path (`manager`, `project.manager`) names `me`; None when it cannot be asked in SQL."""
    name, _dot, inner = path.partition(".")
    if not inner:
        if name in ("assignee", "owner"):
            return getattr(model, f"{name}_id") == me
        found = spec.fields.get(name)
        return getattr(model, found.column) == me if found is not None and found.kind == USER else None
    reference = spec.fields.get(name)
    if reference is None or reference.target not in records.catalog.record_types:
        return None
    target_spec = records.catalog.record_types[reference.target]
    target = records.model(reference.target)
    inner_condition = _waiting_condition(records, target_spec, target, inner, me)
    if inner_condition is None:
        return None
    return getattr(model, reference.column).in_(select(target.id).where(inner_condition))


def _title(spec: RecordTypeSpec, record: Any, hidden: frozenset[str]) -> str:
    for name in ("title", "name", "subject"):
        if name in spec.fields and name not in hidden:
            return str(getattr(record, spec.fields[name].column) or "")
    return ""


class MyWork:
    """The work of the person `records` acts for, as of `now`, read in `zone`."""

    def __init__(self, records: Records, now: dt.datetime, zone: ZoneInfo | None = None) -> None:
        self.records = records
        self.workflows = Workflows(records)
        self.now = now
        self.zone = zone or records.zone
        self.me = records.actor.id
        self._hidden_fields: dict[str, frozenset[str]] = {}

    def _types(self) -> Iterable[tuple[str, RecordTypeSpec, Any]]:
        for type_name, workflow in self.records.catalog.workflows.items():
            try:
                spec = self.records.spec(type_name)
            except NotFound:
                continue  # a pilot elsewhere, or a type the person's roles do not use
            yield type_name, spec, workflow

    def _open_condition(self, spec: RecordTypeSpec, workflow: Any, model: Any) -> Any:
        open_states = workflow.open_states
        mine = [model.assignee_id == self.me]
        for state in workflow.states.values():
            if state.waits_for and not state.final:
                condition = _waiting_condition(self.records, spec, model, state.waits_for, self.me)
                if condition is not None:
                    mine.append(and_(model.state == state.name, condition))
        return and_(model.state.in_(open_states), or_(*mine))

    def items(self, *, transitions: bool = True) -> list[WorkItem]:
        """Everything, the most urgent first: overdue, then due today, then the rest, each by due time
        and priority."""
        if self.me is None:
            return []
        found = self._records(transitions) + self._approvals() + self._mentions()
        return sorted(found, key=WorkItem.sort_key)

    def _hidden(self, spec: RecordTypeSpec) -> frozenset[str]:
        """The fields of a type the person may not read (asked once per type)."""
        if spec.name not in self._hidden_fields:
            self._hidden_fields[spec.name] = self.records.access.hidden_fields(self.records.actor, spec)
        return self._hidden_fields[spec.name]

    def _item(self, kind: str, type_name: str, spec: RecordTypeSpec, workflow: Any, record: Any) -> WorkItem:
        hidden = self._hidden(spec)
        due, from_sla = record_due(self.records, spec, record, self.zone)
        name, choices = priority_choices(spec)
        priority = getattr(record, spec.fields[name].column) if name and name not in hidden else None
        rank = choices.index(priority) if priority in choices else len(choices)
        return WorkItem(
            kind=kind,
            type_name=type_name,
            type_title=spec.title,
            record=record,
            title=_title(spec, record, hidden),
            state_title=workflow.state(record.state).title
            if workflow
            else {"en": record.state, "zh": record.state},
            due=due,
            sla=from_sla,
            priority=priority,
            priority_rank=rank,
            group=group_of(due, bool(getattr(record, "sla_breached", False)), self.now, self.zone),
        )

    def _records(self, transitions: bool) -> list[WorkItem]:
        items = []
        for type_name, spec, workflow in self._types():
            model = self.records.model(type_name)
            rows = self.records.session.scalars(
                self.records.query(type_name)
                .where(self._open_condition(spec, workflow, model))
                .order_by(model.sla_due.is_(None), model.sla_due, model.id)
                .limit(PER_TYPE)
            ).all()
            pending = self._pending(type_name, [r.id for r in rows]) if transitions and rows else set()
            for record in rows:
                kind = ASSIGNED if record.assignee_id == self.me else WAITING
                item = self._item(kind, type_name, spec, workflow, record)
                if transitions and record.id not in pending:
                    available = [
                        t
                        for t in workflow.leaving(record.state)
                        if self.workflows._may_take(t) and self.workflows.holds(t.when, record)
                    ]
                    item.transitions = sorted(available, key=lambda t: bool(t.requires))
                items.append(item)
        return items

    def _pending(self, type_name: str, ids: list[int]) -> set[int]:
        """The records among `ids` waiting for an approval (they take no transition meanwhile)."""
        from itpm.models import ApprovalRequest

        return set(
            self.records.session.scalars(
                select(ApprovalRequest.record_id).where(
                    ApprovalRequest.record_type == type_name,
                    ApprovalRequest.record_id.in_(ids),
                    ApprovalRequest.state == "pending",
                )
            )
        )

    def _approvals(self) -> list[WorkItem]:
        items = []
        today = self.now.astimezone(self.records.zone).date()
        for task in self.workflows.inbox(today):
            approval = task.approval
            try:
                record = self.records.get(approval.record_type, approval.record_id)
            except RecordError:
                continue  # a record no longer visible is not decided from here
            spec = self.records.spec(approval.record_type)
            workflow = self.workflows.workflow(approval.record_type)
            item = self._item(APPROVAL, approval.record_type, spec, workflow, record)
            transition = workflow.transitions.get(approval.transition) if workflow else None
            step = (
                transition.approval.steps[approval.step]
                if transition and transition.approval and approval.step < len(transition.approval.steps)
                else None
            )
            item.approval = approval
            item.step_title = step.title if step else {"en": task.step_name, "zh": task.step_name}
            item.delegated = task.approver_id != self.me
            # an approval is due when its step escalates; else it is as urgent as its record
            if task.due_at is not None:
                item.due, item.sla = task.due_at, False
                item.group = group_of(task.due_at, False, self.now, self.zone)
            items.append(item)
        return items

    def _mentions(self) -> list[WorkItem]:
        items = []
        rows = self.records.session.scalars(
            select(Notification)
            .where(
                Notification.person_id == self.me,
                Notification.read_at.is_(None),
                Notification.key.like(MENTION_PREFIX + "%"),
            )
            .order_by(Notification.id.desc())
            .limit(50)
        ).all()
        for row in rows:
            parts = row.key.split(":")
            try:
                type_name, record_id = parts[1], int(parts[2])
                record = self.records.get(type_name, record_id)
            except (IndexError, ValueError, RecordError):
                continue
            spec = self.records.spec(type_name)
            item = self._item(MENTION, type_name, spec, self.workflows.workflow(type_name), record)
            item.due, item.sla, item.group = None, False, LATER
            item.notification_id = row.id
            items.append(item)
        return items

    def counts(self) -> dict[str, int]:
        """The numbers in the menu: approvals waiting for the person, and their overdue records."""
        if self.me is None:
            return {"approvals": 0, "overdue": 0}
        today = self.now.astimezone(self.records.zone).date()
        approvals = len(self.workflows.inbox(today))
        counts = []
        for type_name, spec, workflow in self._types():
            model = self.records.model(type_name)
            late = [model.sla_breached.is_(True), model.sla_due < self.now]
            name = due_field(spec)
            if name is not None:
                column = getattr(model, spec.fields[name].column)
                late.append(
                    column < (today if spec.fields[name].schema.get("format") == "date" else self.now)
                )
            counts.append(
                select(func.count().label("n")).select_from(
                    self.records.query(type_name)
                    .where(self._open_condition(spec, workflow, model), or_(*late))
                    .subquery()
                )
            )
        overdue = 0
        if counts:  # one statement for every type: the menu shows it on every page
            each = union_all(*counts).subquery()
            overdue = self.records.session.scalar(select(func.coalesce(func.sum(each.c.n), 0)))
        return {"approvals": approvals, "overdue": int(overdue)}
