"""`itpm demo`: a realistic company with six months of history, generated from a seed.

The plan (who does what, when) is drawn up first, in memory, from the content in
`itpm.demo_company`; then it is written in one transaction through the records
service and the workflow engine (validation, numbering, history, approvals, SLA
clocks), with their clock set to each moment in the past and the company's
people as the actors. The outbox events this writes are marked handled as they
are saved: automations must not act on history (hundreds of notifications).

Record types the starter pack may add later (deliverable, risk, timesheet,
service request, client feedback) get data when they are published: their
fields are read from the catalog, and what the demo wants to write is fitted
to them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import math
import os
import random
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask_appbuilder.security.sqla.models import Role
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from itpm import demo_company as company
from itpm import demo_history as history
from itpm.access import Actor
from itpm.db import utcnow
from itpm.models import (
    ApprovalRequest,
    ApprovalTask,
    AuditEntry,
    Comment,
    Department,
    Notification,
    OutboxEvent,
    Person,
    Team,
)
from itpm.passwords import password_problems
from itpm.portal.certificate import keep_certificate
from itpm.portal.service import DELIVERABLE
from itpm.records import fields as kinds
from itpm.records.fields import FieldSpec, RecordTypeSpec
from itpm.records.service import RecordError, Records
from itpm.runtime import Runtime
from itpm.sla.calendar import BusinessCalendar, add_business_time, next_working_moment
from itpm.sla.tickets import refresh_clocks
from itpm.workflows.engine import PENDING, Workflows, company_calendar

#: The audit log entry that says the demo was loaded (and with what): it is never loaded twice.
DEMO_ACTION = "demo.load"
DEFAULT_SEED = 2026
ZONE = ZoneInfo("Asia/Shanghai")
#: Incidents and service requests at full scale (tasks and change requests are counted per project).
INCIDENTS = 340
SERVICE_REQUESTS = 60
#: How far change requests got, by their age in days: the old ones mostly done, recent ones under way.
CHANGE_OUTCOMES = (
    (30, {"done": 55, "implementing": 8, "cancelled": 12, "rejected": 10, "approved": 5, "pending": 2,
          "assessed": 5}),
    (7, {"done": 20, "implementing": 20, "approved": 10, "pending": 10, "rejected": 8, "assessed": 7,
         "submitted": 7, "cancelled": 3}),
    (-1, {"pending": 25, "submitted": 20, "assessed": 15, "draft": 15, "approved": 10}),
)  # fmt: skip
#: The steps of a change request's approval that recent requests wait at, most recent first.
WAITING = ("project_manager", "client_signoff", "finance")
#: Working hours from a waiting change request's creation to the step it waits at, at most (its
#: steps are drawn quick, see `Demo._change`); it is created at least this long before now.
WAITING_CHAIN_HOURS = 24
#: The record types the demo knows, and those it fills in when the starter pack has them (in writing order).
CORE_TYPES = ("customer", "project", "task", "incident", "change_request")
OPTIONAL_TYPES = (
    "deliverable", "risk", "service_request", "timesheet", "cost_rate", "expense", "client_feedback",
)  # fmt: skip


class DemoRefused(Exception):
    """The demo cannot be loaded here (already loaded, not initialised, accounts taken)."""


@dataclass(frozen=True)
class Who:
    """A person of the demo, by username (an id once they are written)."""

    username: str


@dataclass(frozen=True)
class Upload:
    """A file of the demo (a deliverable's document), kept as its author's upload when the record is written."""

    name: str  # the file's name
    text: str
    content_type: str = "text/markdown"


@dataclass(frozen=True)
class Dept:
    """A department of the demo, by name."""

    name: str


@dataclass
class Step:
    """One thing done to a record: a change of fields, a transition, or an approval decision."""

    at: dt.datetime
    by: str
    do: str  # "update", "decide", or the name of a transition
    data: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    approve: bool = True


@dataclass(eq=False)
class Planned:
    """A record to write: created at `at` by `by`, then its steps in order (none after now)."""

    type: str
    at: dt.datetime
    by: str
    data: dict[str, Any]
    system: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    #: For record types the demo does not know in advance: the data is fitted to the type's fields,
    #: and the record walks its workflow towards a state of this category.
    fitted: bool = False
    goal: str | None = None
    #: The approval step a recent change request is left waiting at (WAITING).
    waits_at: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    #: The record while it is written, then its id (other records refer to it).
    record: Any = None
    id: int | None = None


@dataclass
class DemoResult:
    password: str
    #: (username, role, name) of every demo account, staff first.
    accounts: list[tuple[str, str, str]]
    #: record type -> state -> how many
    counts: dict[str, dict[str, int]]
    notes: list[str]
    seconds: float


@dataclass
class Presence:
    """What the database already holds: the demo's audit entry (if loaded) and how many records."""

    loaded: AuditEntry | None
    records: int


def presence(runtime: Runtime) -> Presence:
    catalog = runtime.catalog()
    with runtime.session() as session:
        loaded = session.scalar(
            select(AuditEntry).where(AuditEntry.action == DEMO_ACTION).order_by(AuditEntry.id.desc()).limit(1)
        )
        records = sum(
            session.scalar(select(func.count()).select_from(model.__table__)) or 0
            for model in catalog.models.models.values()
        )
        if loaded is not None:
            session.expunge(loaded)
    return Presence(loaded, records)


class Timeline:
    """Days counted from today (negative: in the past) as moments in office hours, in UTC."""

    def __init__(self, now: dt.datetime, rng: random.Random) -> None:
        self.now = now
        self.today = now.astimezone(ZONE).date()
        self.office: BusinessCalendar = company_calendar(ZONE.key)
        self.rng = rng

    def date(self, day: float) -> dt.date:
        return self.today + dt.timedelta(days=math.floor(day))

    def iso(self, day: float) -> str:
        return self.date(day).isoformat()

    def at(self, day: float) -> dt.datetime:
        """A moment of office hours on `day`, or the next working day; or the one before, when the
        next lies after now but `day` is past (what happened on Sunday happened on Friday)."""
        date, minutes = self.date(day), dt.timedelta(minutes=self.rng.randrange(0, 8 * 60))
        while True:
            opening = next_working_moment(self.office, dt.datetime.combine(date, dt.time(9), ZONE))
            moment = add_business_time(self.office, opening, minutes).astimezone(dt.UTC)
            if day >= 0 or moment <= self.now:
                return moment
            date -= dt.timedelta(days=1)

    def any_time(self, day: float) -> dt.datetime:
        """A moment at any hour of `day` (an outage does not wait for office hours)."""
        local = dt.datetime.combine(self.date(day), dt.time(0), ZONE)
        return (local + dt.timedelta(minutes=self.rng.randrange(0, 24 * 60))).astimezone(dt.UTC)

    def later(
        self, moment: dt.datetime, hours: float, calendar: BusinessCalendar | None = None
    ) -> dt.datetime:
        """`hours` of working time after `moment`."""
        moment = add_business_time(calendar or self.office, moment, dt.timedelta(hours=max(hours, 0)))
        return moment.astimezone(dt.UTC)

    def days_ago(self, moment: dt.datetime) -> float:
        return (self.now - moment).total_seconds() / 86400


def _in_order(created: dt.datetime, steps: list[Step], now: dt.datetime) -> list[Step]:
    """The steps one after the other (a few minutes apart at least), without those after `now`."""
    kept, last = [], created
    for step in steps:
        step.at = max(step.at, last + dt.timedelta(minutes=5))
        if step.at > now:
            break
        kept.append(step)
        last = step.at
    return kept


class Demo:
    """The demo's plan, drawn up from a seed on creation; `load` writes it."""

    def __init__(
        self, runtime: Runtime, seed: int = DEFAULT_SEED, scale: float = 1.0, now: dt.datetime | None = None
    ) -> None:
        self.runtime = runtime
        self.catalog = runtime.catalog()
        self.seed, self.scale = seed, scale
        self.rng = random.Random(seed)
        self.now = (now or utcnow()).astimezone(dt.UTC).replace(microsecond=0)
        self.time = Timeline(self.now, self.rng)
        self.types = set(self.catalog.record_types)
        #: The types with an approval chain somewhere in their workflow.
        self.approving = {
            name
            for name, flow in self.catalog.workflows.items()
            if any(t.approval for t in flow.transitions.values())
        }
        missing = [name for name in ("customer", "project") if name not in self.types]
        if missing:
            raise DemoRefused(
                f"the record types {', '.join(missing)} are not published: run `itpm init` first "
                "(it publishes the starter pack)"
            )
        self.notes: list[str] = [
            f"{name}: not published, so no demo records of it"
            for name in CORE_TYPES
            if name not in self.types
        ]
        self.members = {m.username: m for m in company.STAFF}
        for org in company.CLIENTS:
            self.members.update({m.username: m for m in org.users})
        self.clients = {org.key: org for org in company.CLIENTS}
        self.briefs = sorted(company.PROJECTS, key=lambda b: b.created)
        self._turn: Counter[str] = Counter()
        self.plans: dict[str, list[Planned]] = defaultdict(list)
        self._plan_customers()
        self._plan_projects()
        if "task" in self.types:
            self._plan_tasks()
        if "incident" in self.types:
            self._plan_incidents()
        if "change_request" in self.types:
            self._plan_changes()
        self._plan_optional()
        for plans in self.plans.values():  # nothing is created after today's last minute
            for planned in plans:
                if planned.at >= self.now:
                    planned.at = self.now - dt.timedelta(minutes=self.rng.randint(5, 120))
                    planned.steps = [s for s in planned.steps if s.at > planned.at]

    @property
    def total(self) -> int:
        """How many things `load` writes (people and records): the length of a progress bar."""
        past = len(history.PAST) if "task" in self.types else 0
        return len(self.members) + sum(len(plans) for plans in self.plans.values()) + past

    # --- the plan -----------------------------------------------------------

    def _next(self, pool: list[str], key: str) -> str:
        """The next of `pool` in turn (work is shared out evenly, as the assignment rule would)."""
        self._turn[key] += 1
        return pool[self._turn[key] % len(pool)]

    def _team(self, team: str) -> list[str]:
        return [m.username for m in company.STAFF if m.team == team]

    def _of_role(self, role: str, department: str | None = None) -> list[str]:
        return [
            m.username
            for m in company.STAFF
            if m.role == role and (department is None or m.department == department)
        ]

    def _text(self, pair: tuple[str, str], language: str, **values: str) -> str:
        return pair[0 if language == "zh" else 1].format(**values)

    def _plan_customers(self) -> None:
        for index, org in enumerate(company.CLIENTS):
            contact = org.users[0]
            self.plans["customer"].append(
                Planned(
                    "customer",
                    self.time.at(-186 + index),
                    org.account_manager,
                    {
                        "name": org.name,
                        "short_name": org.short_name,
                        "industry": org.industry,
                        "tier": org.tier,
                        "address": org.address,
                        "contact_name": f"{contact.first_name} {contact.last_name}",
                        "contact_email": f"{contact.username}@{org.domain}",
                        "contact_phone": org.phone,
                        "account_manager": Who(org.account_manager),
                    },
                    {"owner": Who(org.account_manager)},
                    context={"key": org.key},
                )
            )
        self.customers = {p.context["key"]: p for p in self.plans["customer"]}
        tree = self.catalog.record_types["customer"].parent
        for org in company.CLIENTS:  # a child organisation under its parent (written before it)
            if org.parent and tree:
                self.customers[org.key].data[tree] = self.customers[org.parent]

    def _plan_projects(self) -> None:
        self.projects: dict[str, Planned] = {}
        for brief in self.briefs:
            created = self.time.at(brief.created)
            planned = Planned(
                "project",
                created,
                brief.manager,
                {
                    "name": brief.name,
                    "project_type": brief.kind,
                    "phase": "initiation",
                    "start_date": self.time.iso(brief.start),
                    "due_date": self.time.iso(brief.due),
                    **{
                        name: self.time.iso(brief.start + share * (brief.due - brief.start))
                        for name, share in company.PHASE_PLAN
                    },
                    "description": brief.description,
                    "manager": Who(brief.manager),
                    "technical_lead": Who(brief.lead),
                    "team": [Who(u) for u in brief.team],
                    "contract_value": brief.contract,
                    "budget_plan": brief.budget,
                    "budget_spent": 0,
                    "budget_forecast": brief.budget,
                    "progress": 0,
                    "health": "green",
                },
                # the technical lead is the project's assignee: their team sees the project
                {
                    "client": self.customers[brief.client],
                    "owner": Who(brief.manager),
                    "assignee": Who(brief.lead),
                    "department": Dept(brief.department),
                },
                context={"brief": brief},
            )
            planned.steps = _in_order(created, self._project_steps(brief), self.now)
            self.projects[brief.key] = planned
            self.plans["project"].append(planned)

    def _project_steps(self, brief: company.ProjectBrief) -> list[Step]:
        language = brief.language
        steps: list[Step] = []
        for index, day in enumerate(brief.gates):
            gate = company.GATES[index]
            if gate == "close":
                steps.append(Step(self.time.at(day), brief.manager, gate))
                continue
            asked = self.time.at(day - self.rng.uniform(1, 3))
            steps.append(Step(asked, brief.manager, gate))
            note = self._text(self.rng.choice(company.GATE_NOTES), language)
            decided = max(self.time.at(day), self.time.later(asked, 1))
            steps.append(Step(decided, "", "decide", note=note))
        if brief.pending_gate is not None:
            steps.append(
                Step(self.time.at(brief.pending_gate), brief.manager, company.GATES[len(brief.gates)])
            )
        if not brief.gates:
            return steps
        # finance books the costs at each month's end; the manager reports progress every two weeks
        closed = len(brief.gates) == len(company.GATES)
        until = brief.gates[-1] - 1 if closed else -self.rng.uniform(0.5, 3)
        start = max(brief.start, brief.gates[0])
        span = max(until - start, 1)
        day = start + 14
        while day < until:
            share = (day - start) / span
            steps.append(
                Step(
                    self.time.at(day),
                    brief.manager,
                    "update",
                    {"progress": round(brief.progress * share), **self._reported(brief, share)},
                )
            )
            day += 14
        for month_end in self._month_ends(start, until):
            share = (month_end - start) / span
            steps.append(Step(self.time.at(month_end), "finance.demo", "update", self._money(brief, share)))
        final = self.time.at(until)
        steps.append(Step(final, "finance.demo", "update", self._money(brief, 1.0)))
        steps.append(
            Step(final, brief.manager, "update", {"progress": brief.progress, **self._reported(brief, 1.0)})
        )
        steps.sort(key=lambda s: s.at)
        return steps

    def _month_ends(self, first: float, last: float) -> list[float]:
        days, day = [], self.time.date(first)
        while True:
            end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
            offset = (end - self.time.today).days
            if offset >= last:
                return days
            days.append(offset)
            day = end + dt.timedelta(days=1)

    def _money(self, brief: company.ProjectBrief, share: float) -> dict[str, Any]:
        """Spent and forecast at `share` of the time so far: troubles show late, as they do."""
        spent = brief.budget * brief.spent * share ** (1.15 if brief.spent > 1 else 1)
        forecast = brief.budget * (1 + (brief.forecast - 1) * min(1.0, share**2))
        return {"budget_spent": round(spent, -2), "budget_forecast": round(forecast, -3)}

    def _reported(self, brief: company.ProjectBrief, share: float) -> dict[str, str]:
        """The health the manager reports at `share` of the way to today, and the status the client reads in
        the portal with it: on track while green; once troubled, behind schedule for a project that runs
        more than a week late today, needs attention for the others."""
        health = self._health(brief, share)
        status = "on_track" if health == "green" else "late" if brief.slip > 7 else "at_risk"
        return {"health": health, "client_status": status}

    def _health(self, brief: company.ProjectBrief, share: float) -> str:
        """The health reported at `share` of the way to today: a red project was green, then amber."""
        path = ["green", "amber", "red"][: ["green", "amber", "red"].index(brief.health) + 1]
        return path[min(len(path) - 1, int(share * len(path)))]

    # --- tasks --------------------------------------------------------------

    def _plan_tasks(self) -> None:
        for brief in self.briefs:
            target = max(3, round(brief.tasks * self.scale))
            if not brief.gates:
                tasks = self._initiation_tasks(brief, target)
            elif brief.kind == company.IMPLEMENTATION:
                tasks = self._implementation_tasks(brief, target)
            else:
                tasks = self._outsourcing_tasks(brief, target)
            self.plans["task"].extend(tasks)

    def _task(
        self,
        brief: company.ProjectBrief,
        title: str,
        start: float,
        due: float,
        assignee: str,
        parent: Planned | None = None,
        depends: Iterable[Planned] = (),
        estimate: float | None = None,
        milestone: bool = False,
        priority: str | None = None,
    ) -> Planned:
        if estimate is None:
            estimate = 0 if milestone else self.rng.choice([4, 8, 8, 16, 16, 24, 32, 40, 56])
        # the work breakdown is drawn up when planning starts, later work a little before it begins
        drafted = brief.gates[0] if brief.gates else brief.created + 1
        created_day = max(
            brief.created + 0.5, min(max(drafted, start - 20), start - 1, -self.rng.uniform(0.3, 10))
        )
        data: dict[str, Any] = {
            "title": title[:200],
            "project": self.projects[brief.key],
            "start_date": self.time.iso(start),
            "due_date": self.time.iso(max(due, start)),
            "estimate_hours": estimate,
            "priority": priority or self.rng.choices(["high", "medium", "low"], [2, 6, 2])[0],
        }
        if parent is not None:
            data["parent"] = parent
        depends = [d for d in depends if d is not None]
        if depends:
            data["depends_on"] = depends
        if milestone:
            data["milestone"] = True
        return Planned(
            "task",
            self.time.at(created_day),
            brief.manager,
            data,
            {"assignee": Who(assignee), "owner": Who(brief.manager)},
            context={"brief": brief, "start": start, "due": max(due, start), "milestone": milestone},
        )

    def _work(self, task: Planned) -> None:
        """What became of a task by today: done, under way (maybe blocked), or not started."""
        brief: company.ProjectBrief = task.context["brief"]
        start, due = task.context["start"], task.context["due"]
        who = task.system["assignee"].username
        estimate = task.data["estimate_hours"]
        milestone = task.context["milestone"]
        closed = len(brief.gates) == len(company.GATES)
        # work runs `slip` days behind plan; a closed project finished everything before closing
        done_by = brief.gates[-1] - 0.5 if closed else -brief.slip
        steps: list[Step] = []
        language = brief.language
        if due <= done_by or closed:
            if not milestone and self.rng.random() < 0.03:
                note = self._text(company.NOTES["task_cancelled"], language)
                task.steps = [Step(self.time.at(start - 0.5), brief.manager, "cancel", note=note)]
                task.context["state"] = "cancelled"
                return
            late = brief.slip * self.rng.uniform(0.3, 1.0) if brief.slip else 0
            finished = min(due + self.rng.uniform(-2, 2) + late, done_by, -0.05)
            begun = min(start + self.rng.uniform(0, 1.5), finished - 0.3)
            begun_at, finished_at = self.time.at(begun), self.time.at(finished)
            steps.append(Step(begun_at, who, "start"))
            if not milestone and self.rng.random() < 0.08 and finished - begun > 3:
                blocked = begun + (finished - begun) * 0.4
                reason = self._text(company.BLOCKERS[0], language)
                steps.append(Step(self.time.at(blocked), who, "block", note=reason))
                steps.append(Step(self.time.at(blocked + 1.5), who, "start"))
            actual = (
                0 if milestone else round(estimate * self.rng.uniform(0.75, 1.3) * (1.2 if late else 1), 1)
            )
            if actual:
                steps.append(
                    Step(finished_at - dt.timedelta(minutes=20), who, "update", {"actual_hours": actual})
                )
            steps.append(Step(finished_at, who, "finish"))
            task.context.update(state="done", actual=actual, begun=begun_at, finished=finished_at)
        elif start <= 0 and not milestone and self.rng.random() < 0.85:
            begun_at = self.time.at(start + self.rng.uniform(0, 1.5))
            steps.append(Step(begun_at, who, "start"))
            elapsed = (0 - start) / max(due - start, 1)
            progress = max(5, min(90, round(elapsed * 100 * self.rng.uniform(0.5, 0.95) / 5) * 5))
            actual = round(estimate * progress / 100 * self.rng.uniform(0.8, 1.4), 1)
            reported = max(begun_at + dt.timedelta(hours=1), self.time.at(-self.rng.uniform(0.2, 4)))
            steps.append(Step(reported, who, "update", {"progress": progress, "actual_hours": actual}))
            state = "doing"
            if self.rng.random() < 0.12:
                reason = self._text(self.rng.choice(company.BLOCKERS[1:]), language)
                steps.append(Step(reported + dt.timedelta(hours=2), who, "block", note=reason))
                state = "blocked"
            task.context.update(state=state, actual=actual, begun=begun_at, finished=None)
        else:
            task.context["state"] = "todo"
        task.steps = steps

    def _roll_up(self, parent: Planned, children: list[Planned]) -> None:
        """A summary task follows its subtasks: started with the first, finished with the last."""
        begun = [c.context["begun"] for c in children if c.context.get("begun")]
        states = [c.context["state"] for c in children]
        actual = round(sum(c.context.get("actual") or 0 for c in children), 1)
        parent.data["estimate_hours"] = sum(c.data["estimate_hours"] for c in children) or 8
        who = parent.system["assignee"].username
        if not begun:
            parent.context["state"] = "todo"
            return
        steps = [Step(min(begun), who, "start")]
        if all(s in ("done", "cancelled") for s in states) and "done" in states:
            finished = max(c.context["finished"] for c in children if c.context.get("finished"))
            steps.append(Step(finished + dt.timedelta(minutes=30), who, "update", {"actual_hours": actual}))
            steps.append(Step(finished + dt.timedelta(hours=1), who, "finish"))
            parent.context["state"] = "done"
        else:
            weights = [c.data["estimate_hours"] or 1 for c in children]
            shares = [{"done": 100, "cancelled": 100, "todo": 0}.get(s, 50) for s in states]
            progress = round(sum(w * s for w, s in zip(weights, shares, strict=True)) / sum(weights) / 5) * 5
            latest = (
                max(step.at for c in children for step in c.steps)
                if any(c.steps for c in children)
                else min(begun)
            )
            data = {"progress": max(5, min(95, progress)), "actual_hours": actual}
            steps.append(Step(latest + dt.timedelta(minutes=30), who, "update", data))
            parent.context["state"] = "doing"
        parent.steps = steps

    def _finish_plans(
        self, tasks: list[Planned], groups: list[tuple[Planned, list[Planned]]]
    ) -> list[Planned]:
        for task in tasks:
            if task.context.get("summary"):
                continue
            self._work(task)
        for parent, children in groups:
            self._roll_up(parent, [c for c in children if not c.context["milestone"]] or children)
        for task in tasks:
            task.steps = _in_order(task.at, task.steps, self.now)
        return tasks

    def _initiation_tasks(self, brief: company.ProjectBrief, target: int) -> list[Planned]:
        tasks, previous = [], None
        for index, title in enumerate(company.INITIATION_TASKS[:target]):
            start = brief.created + 1 + index * 2
            task = self._task(
                brief, self._text(title, brief.language), start, start + 4,
                brief.manager if index % 2 == 0 else brief.lead, depends=[previous] if previous else (),
            )  # fmt: skip
            tasks.append(task)
            previous = task
        return self._finish_plans(tasks, [])

    def _implementation_tasks(self, brief: company.ProjectBrief, target: int) -> list[Planned]:
        language = brief.language
        length = brief.due - brief.start
        phases = company.IMPLEMENTATION_PHASES
        structure = len(phases) + sum(1 for p in phases if p[3])
        candidates = [
            (p, j, k)
            for p in range(len(phases))
            for j in range(len(brief.modules))
            for k in range(len(phases[p][2]))
        ]
        keep = set(self.rng.sample(candidates, max(0, min(len(candidates), target - structure))))
        tasks: list[Planned] = []
        groups: list[tuple[Planned, list[Planned]]] = []
        previous_parent: Planned | None = None
        last_of_module: dict[int, Planned] = {}
        for p, (title, (a, b), activities, milestone) in enumerate(phases):
            begin, end = brief.start + a * length, brief.start + b * length
            parent = self._task(
                brief, self._text(title, language), begin, end, brief.lead,
                depends=[previous_parent] if previous_parent else (), priority="high",
            )  # fmt: skip
            parent.context["summary"] = True
            tasks.append(parent)
            children: list[Planned] = []
            for j, module in enumerate(brief.modules):
                previous = None
                for k, activity in enumerate(activities):
                    if (p, j, k) not in keep:
                        continue
                    step = (end - begin) / len(activities)
                    jitter = self.rng.uniform(-0.1, 0.1) * (end - begin)
                    start = begin + k * step + jitter
                    depends = (
                        [previous]
                        if previous
                        else ([last_of_module.get(j)] if self.rng.random() < 0.5 else [])
                    )
                    task = self._task(
                        brief, self._text(activity, language, m=module), start, start + step,
                        brief.team[(j + k + p) % len(brief.team)], parent=parent, depends=depends,
                    )  # fmt: skip
                    children.append(task)
                    previous = task
                    last_of_module[j] = task
            tasks.extend(children)
            if milestone:
                mark = self._task(
                    brief, self._text(milestone, language), end, end, brief.manager, parent=parent,
                    depends=children[-8:], milestone=True, priority="high",
                )  # fmt: skip
                tasks.append(mark)
                children.append(mark)
            groups.append((parent, children))
            previous_parent = parent
        return self._finish_plans(tasks, groups)

    def _outsourcing_tasks(self, brief: company.ProjectBrief, target: int) -> list[Planned]:
        language = brief.language
        team = list(brief.team)
        transition, operations, improvements = (self._text(t, language) for t in company.OUTSOURCING_PHASES)
        handover_end = brief.start + 30
        parents = [
            self._task(brief, transition, brief.start, handover_end, brief.lead, priority="high"),
            self._task(brief, operations, handover_end, brief.due, brief.lead, priority="medium"),
            self._task(brief, improvements, handover_end, brief.due, brief.lead, priority="low"),
        ]
        for parent in parents:
            parent.context["summary"] = True
        children: list[list[Planned]] = [[], [], []]
        previous = None
        for index, title in enumerate(company.TRANSITION_TASKS):
            start = brief.start + index * 4
            task = self._task(
                brief, self._text(title, language), start, start + 6, team[index % len(team)],
                parent=parents[0], depends=[previous] if previous else (),
            )  # fmt: skip
            children[0].append(task)
            previous = task
        mark = company.OUTSOURCING_MILESTONES[0]
        children[0].append(
            self._task(
                brief, self._text(mark, language), handover_end, handover_end, brief.manager,
                parent=parents[0], depends=children[0][-3:], milestone=True, priority="high",
            )
        )  # fmt: skip
        month = self.time.date(handover_end).replace(day=1)
        last = (self.time.today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        while month <= last:
            first = (month - self.time.today).days
            end = calendar.monthrange(month.year, month.month)[1]
            label = f"{month.year}年{month.month}月" if language == "zh" else f"{month:%B %Y}"
            for index, (title, start_day, due_day) in enumerate(company.MONTHLY_TASKS):
                start, due = first + start_day - 1, first + end + due_day
                children[1].append(
                    self._task(
                        brief,
                        self._text(title, language, month=label),
                        start,
                        due,
                        team[(index + month.month) % len(team)],
                        parent=parents[1],
                    )  # fmt: skip
                )
            if month.month in (3, 6, 9, 12):
                review = first + end - 1
                children[1].append(
                    self._task(
                        brief,
                        self._text(company.OUTSOURCING_MILESTONES[1], language),
                        review,
                        review,
                        brief.manager,
                        parent=parents[1],
                        milestone=True,
                        priority="high",
                    )  # fmt: skip
                )
            month = (month + dt.timedelta(days=32)).replace(day=1)
        span = max(brief.due - handover_end, 60)
        for index, title in enumerate(company.IMPROVEMENT_TASKS):
            start = handover_end + 10 + index * min(span, 200) / len(company.IMPROVEMENT_TASKS)
            children[2].append(
                self._task(
                    brief,
                    self._text(title, language),
                    start,
                    start + self.rng.uniform(10, 30),
                    team[index % len(team)],
                    parent=parents[2],
                )  # fmt: skip
            )
        # trim to the project's share, keeping the summaries and milestones
        flat = [(g, c) for g, group in enumerate(children) for c in group if not c.context["milestone"]]
        room = max(
            0, target - len(parents) - sum(c.context["milestone"] for group in children for c in group)
        )
        if len(flat) > room:
            dropped = set(map(id, (c for _, c in self.rng.sample(flat, len(flat) - room))))
            children = [[c for c in group if id(c) not in dropped] for group in children]
            for group in children:
                for c in group:
                    if "depends_on" in c.data:
                        c.data["depends_on"] = [d for d in c.data["depends_on"] if id(d) not in dropped]
                        if not c.data["depends_on"]:
                            del c.data["depends_on"]
        tasks = [t for parent, group in zip(parents, children, strict=True) for t in (parent, *group)]
        return self._finish_plans(tasks, list(zip(parents, children, strict=True)))

    # --- tickets ------------------------------------------------------------

    def _in_service(self, brief: company.ProjectBrief, day: float) -> bool:
        """Whether the project raises incidents on `day`: a contract in operation, or a system gone live."""
        gate = 1 if brief.kind == company.OUTSOURCING else 2
        return len(brief.gates) > gate and brief.gates[gate] <= day

    def _plan_incidents(self) -> None:
        policy = self.catalog.sla_policies.get("incident")
        sla_calendar = policy.calendar if policy else self.time.office
        fields = self.catalog.record_types["incident"].fields
        eligible_from = min(
            (
                b.gates[1 if b.kind == company.OUTSOURCING else 2]
                for b in self.briefs
                if self._in_service(b, 0)
            ),
            default=-30,
        )
        plans = []
        for _ in range(round(INCIDENTS * self.scale)):
            day = self.rng.uniform(eligible_from + 0.5, -0.02)
            priority = self.rng.choices(["P1", "P2", "P3", "P4"], [4, 14, 50, 32])[0]
            created = (
                self.time.any_time(day) if priority == "P1" and self.rng.random() < 0.4 else self.time.at(day)
            )
            if created > self.now:
                created = self.now - dt.timedelta(minutes=self.rng.randint(10, 300))
            when = -self.time.days_ago(created)
            briefs = [b for b in self.briefs if b.incidents and self._in_service(b, when)]
            if not briefs:
                continue
            brief = self.rng.choices(briefs, [b.incidents for b in briefs])[0]
            plans.append(self._incident(brief, created, priority, policy, sla_calendar, fields))
        plans.sort(key=lambda p: p.at)
        self.plans["incident"] = plans

    def _incident(
        self,
        brief: company.ProjectBrief,
        created: dt.datetime,
        priority: str,
        policy: Any,
        sla_calendar: BusinessCalendar,
        fields: dict[str, FieldSpec],
    ) -> Planned:
        language = brief.language
        category = self.rng.choices(list(company.INCIDENTS), company.INCIDENT_MIX[brief.kind])[0]
        title, description = self.rng.choice(company.INCIDENTS[category])[0 if language == "zh" else 1]
        values = {"service": self.rng.choice(brief.services), "site": self.rng.choice(brief.sites)}
        group = company.SUPPORT_GROUPS[category]
        assignee = self._next(self._team(group), group)
        client_users = [m.username for m in self.clients[brief.client].users]
        by = (
            self.rng.choice(client_users)
            if self.rng.random() < 0.5
            else self._next(self._team("service_desk"), "desk")
        )
        impact = {
            "P1": "high",
            "P2": self.rng.choice(["high", "medium"]),
            "P3": self.rng.choice(["medium", "low"]),
        }
        data = {
            "title": title.format(**values),
            "description": description.format(**values),
            "priority": priority,
            "category": category,
            "impact": impact.get(priority, "low"),
            "support_group": group,
            "project": self.projects[brief.key],
            "affected_service": values["service"],
            "occurred_at": _iso(created - dt.timedelta(minutes=self.rng.randint(2, 60))),
        }
        data = {name: value for name, value in data.items() if name in fields}
        planned = Planned("incident", created, by, data, {"assignee": Who(assignee)})
        # first response and resolution, in the SLA's working time, as shares of the targets
        targets = policy.targets.get(priority, {}) if policy else {}
        respond = targets.get("first_response", dt.timedelta(hours=4)).total_seconds() / 3600
        resolve = targets.get("resolution", dt.timedelta(hours=24)).total_seconds() / 3600
        answered = self.rng.uniform(0.05, 0.85) if self.rng.random() > 0.08 else self.rng.uniform(1.1, 3)
        solved = self.rng.uniform(0.25, 0.92) if self.rng.random() > 0.14 else self.rng.uniform(1.08, 2.5)
        taken = self.time.later(created, respond * answered, sla_calendar)
        remaining = max(resolve * solved - respond * answered, 0.25)
        steps = [Step(taken, assignee, "take")]
        age = self.time.days_ago(created)
        fate = self.rng.random()
        if age < 1 and fate < 0.5:  # just in: nobody has taken it yet
            return planned
        if fate < 0.04:
            note = self._text(company.NOTES["duplicate"], language)
            canceller = by if by in client_users else self._next(self._team("service_desk"), "desk")
            steps = steps[: self.rng.randint(0, 1)]
            steps.append(
                Step(taken + dt.timedelta(minutes=self.rng.randint(10, 120)), canceller, "cancel", note=note)
            )
            planned.steps = _in_order(created, steps, self.now)
            return planned
        solved_from = taken
        if self.rng.random() < 0.22:
            waiting = self.time.later(taken, remaining * 0.4, sla_calendar)
            note = self._text(company.NOTES["ask_client"], language)
            steps.append(Step(waiting, assignee, "wait", note=note))
            resumed = waiting + dt.timedelta(hours=self.rng.uniform(2, 40))
            steps.append(Step(resumed, self.rng.choice([assignee, *client_users]), "resume"))
            solved_from, remaining = resumed, remaining * 0.6
            if age > 10 and self.rng.random() < 0.15:  # the client never answered
                planned.steps = _in_order(created, steps[:-1], self.now)
                return planned
        if age > 10 and fate > 0.97:  # forgotten: still open, long past its target
            planned.steps = _in_order(created, steps, self.now)
            return planned
        resolved = self.time.later(solved_from, remaining, sla_calendar)
        if priority in ("P1", "P2") and "root_cause" in fields:
            cause = self._text(self.rng.choice(company.ROOT_CAUSES), language)
            steps.append(Step(resolved - dt.timedelta(minutes=15), assignee, "update", {"root_cause": cause}))
        resolution = self._text(self.rng.choice(company.RESOLUTIONS[category]), language)
        steps.append(Step(resolved, assignee, "resolve", {"resolution": resolution, "resolved_at": resolved}))
        planned.steps = _in_order(created, steps, self.now)
        return planned

    def _plan_changes(self) -> None:
        plans = []
        for brief in self.briefs:
            count = round(brief.changes * self.scale)
            if not count or len(brief.gates) < 2:
                continue
            first = brief.gates[1]
            last = brief.gates[4] - 1 if len(brief.gates) == len(company.GATES) else -0.2
            days = [self.rng.uniform(first + 1, last) for _ in range(count)]
            plans += [self._change(brief, self.time.at(day)) for day in days]
            if last > -1:  # recent ones wait in the inboxes: the project manager's, the client's, finance's
                for index, waiting in enumerate(WAITING[: max(1, count // 3)]):
                    created = self.time.at(self.rng.uniform(-9 - 7 * index, -5 - 7 * index))
                    # its chain reaches the step it waits at before now, whatever weekday or holiday today is
                    while self.time.later(created, WAITING_CHAIN_HOURS) > self.now:
                        created -= dt.timedelta(days=1)
                    plans[-1 - index] = self._change(brief, created, waiting)
        plans.sort(key=lambda p: p.at)
        self.plans["change_request"] = plans

    def _change(
        self, brief: company.ProjectBrief, created: dt.datetime, waiting: str | None = None
    ) -> Planned:
        """A change request, and how far it got; `waiting`: it waits for that step of its approval."""
        language = brief.language
        texts = self.rng.choice(company.CHANGES)[0 if language == "zh" else 1]
        module = self.rng.choice(brief.modules or brief.services)
        title, reason, scope = (text.format(module=module) for text in texts)
        client_users = [m.username for m in self.clients[brief.client].users]
        manager = self._of_role("account_manager", brief.department)[0]
        by = self.rng.choices(
            [brief.manager, brief.lead, self.rng.choice(client_users), manager], [40, 20, 25, 15]
        )[0]
        engineers = [u for u in brief.team if u != brief.lead and self.members[u].role == "engineer"]
        # whoever asks for approval cannot approve a step of it: not the manager, nor the lead
        asker = by if by in engineers or by == manager else self.rng.choice([manager, *engineers[:1]])
        start_day = -self.time.days_ago(created) + self.rng.uniform(7, 20)
        impact = self.rng.choices(["high", "medium", "low"], [25, 45, 30])[0]
        if waiting:  # the client signs off changes of high impact only
            impact = "high" if waiting == "client_signoff" else self.rng.choice(["medium", "low"])
        data = {
            "title": title,
            "description": f"{reason}\n{scope}",
            "reason": reason,
            "project": self.projects[brief.key],
            "impact": impact,
            "urgency": "urgent" if self.rng.random() < 0.2 else "normal",
            "planned_start": self.time.iso(start_day),
            "planned_end": self.time.iso(start_day + self.rng.uniform(3, 20)),
            "rollback_plan": self._text(company.NOTES["rollback_plan"], language),
        }
        planned = Planned("change_request", created, by, data, waits_at=waiting)

        def hours(low: float, high: float) -> float:
            """Working hours until the next step; quick for a request that waits (WAITING_CHAIN_HOURS)."""
            return self.rng.uniform(low, min(high, low + 2) if waiting else high)

        age = self.time.days_ago(created)
        outcomes = next(weights for older_than, weights in CHANGE_OUTCOMES if age > older_than)
        outcome = "pending" if waiting else self.rng.choices(list(outcomes), list(outcomes.values()))[0]
        steps: list[Step] = []
        moment = self.time.later(created, hours(0.5, 6))
        if outcome != "draft":
            steps.append(Step(moment, by, "submit"))
        if outcome == "cancelled":
            note = self._text(company.NOTES["change_withdrawn"], language)
            steps.append(
                Step(self.time.later(moment, self.rng.uniform(4, 40)), brief.manager, "cancel", note=note)
            )
        elif outcome not in ("draft", "submitted"):
            moment = self.time.later(moment, hours(4, 24))
            # finance approves what costs more than 5% of the budget
            share = {"finance": (0.055, 0.09), None: (-0.01, 0.09)}.get(waiting, (-0.01, 0.045))
            cost = round(self.rng.uniform(*share) * brief.budget, -3)
            impact_data = {
                "scope_impact": scope,
                "schedule_impact_days": self.rng.choice([0, 0, 2, 5, 7, 10, 14, 20, -3]),
                "cost_impact": cost,
            }
            steps.append(Step(moment, self.rng.choice([brief.manager, brief.lead]), "assess", impact_data))
            if outcome != "assessed":
                moment = self.time.later(moment, hours(1, 8))
                steps.append(Step(moment, asker, "approve"))
                decisions = {"pending": self.rng.choice([0, 1]), "rejected": 2}.get(outcome, 4)
                if waiting:  # the project manager's and technical lead's steps come first
                    decisions = 0 if waiting == "project_manager" else 2
                for index in range(decisions):
                    moment = self.time.later(moment, hours(2, 16))
                    reject = outcome == "rejected" and index == 1
                    note = self._text(
                        self.rng.choice(company.REJECTION_NOTES if reject else company.APPROVAL_NOTES),
                        language,
                    )
                    steps.append(Step(moment, "", "decide", note=note, approve=not reject))
                if outcome == "rejected" and self.rng.random() < 0.5:
                    moment = self.time.later(moment, self.rng.uniform(8, 40))
                    steps.append(
                        Step(
                            moment,
                            brief.manager,
                            "cancel",
                            note=self._text(company.NOTES["change_dropped"], language),
                        )
                    )
                if outcome in ("implementing", "done"):
                    moment = self.time.later(moment, self.rng.uniform(8, 40))
                    plan = self._text(company.NOTES["implementation_plan"], language)
                    steps.append(Step(moment, brief.lead, "start", {"implementation_plan": plan}))
                if outcome == "done":
                    steps.append(
                        Step(self.time.later(moment, self.rng.uniform(16, 100)), brief.lead, "complete")
                    )
        planned.steps = _in_order(created, steps, self.now)
        return planned

    # --- record types added later ---------------------------------------------

    def _plan_optional(self) -> None:
        for name in OPTIONAL_TYPES:
            if name in self.types:
                getattr(self, f"_plan_{name}")()
                self.plans[name].sort(key=lambda p: p.at)

    def _fitted(
        self,
        type_name: str,
        at: dt.datetime,
        by: str,
        data: dict[str, Any],
        system: dict[str, Any] | None = None,
        goal: str | None = None,
        **context: Any,
    ) -> Planned:
        """A record of a type known by its fields only. `context`: `walkers` (who takes its transitions,
        by role), `fill` (values for the fields a transition requires), `first` and `until` (when)."""
        planned = Planned(type_name, at, by, data, system or {}, fitted=True, goal=goal, context=context)
        self.plans[type_name].append(planned)
        return planned

    def _share(self, items: list[Any]) -> list[Any]:
        """The items a smaller demo keeps: a spread of them, at least one."""
        if self.scale >= 1 or not items:
            return items
        step = max(1, round(1 / self.scale))
        return items[::step] or items[:1]

    def _plan_deliverable(self) -> None:
        for brief in self.briefs:
            language = brief.language
            if brief.kind == company.IMPLEMENTATION:
                length = brief.due - brief.start
                ends = [p[1][1] for p in company.IMPLEMENTATION_PHASES]
                shares = (ends[0], ends[1], ends[3], ends[4], 0.93)
                dues = [brief.start + 3, *(brief.start + e * length for e in shares), brief.due]
            else:
                dues = [brief.start + 30, brief.start + 25, brief.start + 20, brief.start + 120]
            pairs = list(zip(company.DELIVERABLES[brief.kind], dues, strict=True))
            client = self.clients[brief.client].users[0].username
            for title, due in self._share(pairs if brief.gates else pairs[:1]):
                data = {
                    "project": self.projects[brief.key],
                    "name": self._text(title, language),
                    "due_date": self.time.iso(due),
                    "client_visible": self.rng.random() < 0.85,
                }
                created = self.time.at(
                    max(brief.created + 1, min(due - 30, (brief.gates or [brief.created + 1])[0]))
                )
                delivered = (
                    due + self.rng.uniform(-3, 2) + (self.rng.uniform(0, brief.slip) if brief.slip else 0)
                )
                if brief.gates and delivered < -0.5:
                    data["delivered_on"] = self.time.iso(delivered)
                    data["files"] = [self._document(brief, data["name"], title, data["delivered_on"])]
                    handed = self.time.at(delivered)
                    accepted = self.time.later(handed, self.rng.uniform(4, 40))
                    self._fitted(
                        "deliverable", created, brief.manager, data, goal="done",
                        walkers=[client, brief.manager], first=handed, until=min(accepted, self.now),
                    )  # fmt: skip
                else:
                    self._fitted("deliverable", created, brief.manager, data)

    def _document(self, brief: Any, name: str, title: tuple[str, str], delivered_on: str) -> Upload:
        """The deliverable's document: a short bilingual cover note a client downloads in the portal."""
        client = self.clients[brief.client].name
        text = (
            f"# {title[0]} / {title[1]}\n\n"
            f"- 项目 Project: {brief.key}\n- 客户 Client: {client}\n- 交付日期 Delivered on: {delivered_on}\n"
            f"- 版本 Version: 1.0\n\n"
            "本文件为演示数据。 This document is demo data.\n"
        )
        return Upload(f"{name}.md", text)

    def _plan_risk(self) -> None:
        for brief in self.briefs:
            troubled = brief.health != "green"
            for title, mitigation in self._share(self.rng.sample(company.RISKS, self.rng.randint(2, 4))):
                owner = self.rng.choice([brief.manager, brief.lead])
                data = {
                    "project": self.projects[brief.key],
                    "title": self._text(title, brief.language),
                    "probability": self.rng.choice(["medium", "high"] if troubled else ["low", "medium"]),
                    "impact": self.rng.choice(["high", "medium"] if troubled else ["medium", "low"]),
                    "owner": Who(owner),
                    "mitigation": self._text(mitigation, brief.language),
                    "review_date": self.time.iso(self.rng.uniform(3, 30)),
                }
                created = self.time.at(
                    min((brief.gates or [brief.created + 1])[0] + self.rng.uniform(0, 30), -0.5)
                )
                age = self.time.days_ago(created)
                goal = "done" if age > 60 and self.rng.random() < 0.4 else "in_progress" if age > 14 else None
                first = created + dt.timedelta(days=self.rng.uniform(2, min(age, 20)))
                self._fitted(
                    "risk", created, brief.manager, data, {"owner": Who(owner)}, goal,
                    walkers=[brief.manager, owner], first=first,
                    until=self.time.at(-self.rng.uniform(0.5, age / 3)),
                )  # fmt: skip

    def _plan_timesheet(self) -> None:
        for task in self.plans["task"]:
            actual = task.context.get("actual") or 0
            if not actual or task.context.get("summary"):
                continue
            begun, finished = task.context["begun"], task.context["finished"] or self.now
            parts = min(3, math.ceil(actual / 8))
            hours = round(min(8.0, actual / parts) * 2) / 2 or 0.5
            for part in range(parts):
                day = (begun + (finished - begun) * (part + 1) / (parts + 1)).astimezone(ZONE).date()
                logged = dt.datetime.combine(day, dt.time(18, self.rng.randrange(0, 50)), ZONE).astimezone(
                    dt.UTC
                )
                if logged > self.now:
                    continue
                data = {
                    "project": task.data["project"],
                    "task": task,
                    "work_date": day.isoformat(),
                    "hours": hours,
                    "note": task.data["title"],
                }
                self._fitted("timesheet", max(logged, task.at), task.system["assignee"].username, data)

    def _plan_cost_rate(self) -> None:
        """Finance sets each staff member's hourly cost before the first project; the engineers' raise
        applies from `RAISE_DAYS` ago."""
        first = min((b.created for b in self.briefs), default=0) - 2
        self.rates: dict[str, list[tuple[dt.date | None, float]]] = {}
        for member in company.STAFF:
            base = company.HOURLY_COST.get(member.role)
            if base is None:
                continue
            rate = round(base * self.rng.uniform(0.9, 1.1), -1)
            self.rates[member.username] = [(None, rate)]
            self._fitted(
                "cost_rate",
                self.time.at(first),
                "finance.demo",
                {"person": Who(member.username), "hourly_rate": rate},
            )
            if member.role == "engineer":
                raised, day = round(rate * (1 + company.RAISE), -1), self.time.date(-company.RAISE_DAYS)
                self.rates[member.username].append((day, raised))
                data = {"person": Who(member.username), "hourly_rate": raised, "valid_from": day.isoformat()}
                self._fitted("cost_rate", self.time.at(-company.RAISE_DAYS - 3), "finance.demo", data)

    def _labour(self, project: Planned) -> float:
        """The cost of the project's planned timesheets at the planned rates (`_plan_cost_rate`)."""
        cost = 0.0
        for sheet in self.plans["timesheet"]:
            if sheet.data["project"] is project:
                day = dt.date.fromisoformat(sheet.data["work_date"])
                rates = [
                    (start or dt.date.min, r) for start, r in getattr(self, "rates", {}).get(sheet.by, ())
                ]
                applying = [r for r in rates if r[0] <= day]
                cost += sheet.data["hours"] * max(applying)[1] if applying else 0.0
        return cost

    def _plan_expense(self) -> None:
        """Finance books each project's expenses at month ends: subcontracted people (whose hours are not
        on the company's timesheets) take what its hand-entered spent holds beyond its timesheets' cost;
        travel, hardware and licences some 1-3% of its budget besides."""
        for brief in self.briefs:
            closed = len(brief.gates) == len(company.GATES)
            until = brief.gates[-1] - 1 if closed else -1.0
            start = max(brief.start, brief.gates[0]) if brief.gates else brief.start
            if start >= until:
                continue  # not begun
            project = self.projects[brief.key]
            sundry = brief.budget * self.rng.uniform(0.01, 0.03)
            subcontract = self._money(brief, 1.0)["budget_spent"] - self._labour(project) - sundry
            days = self._month_ends(start, until) or [until]
            weights = [self.rng.uniform(0.7, 1.3) for _ in days]
            for day, weight in zip(days, weights, strict=True):
                share = weight / sum(weights)
                kinds = [("subcontract", subcontract * share)] if subcontract > 0 else []
                kinds.append((self.rng.choice(("travel", "hardware", "software")), sundry * share))
                for kind, amount in kinds:
                    if round(amount, -1) <= 0:
                        continue
                    data = {
                        "project": project,
                        "spent_on": self.time.iso(day),
                        "expense_type": kind,
                        "amount": round(amount, -1),
                        "description": self._text(self.rng.choice(company.EXPENSES[kind]), brief.language),
                    }
                    self._fitted("expense", self.time.at(day), "finance.demo", data)

    def _plan_service_request(self) -> None:
        briefs = [b for b in self.briefs if b.incidents and self._in_service(b, 0)]
        for _ in range(round(SERVICE_REQUESTS * self.scale) if briefs else 0):
            brief = self.rng.choices(briefs, [b.incidents for b in briefs])[0]
            start = brief.gates[1 if brief.kind == company.OUTSOURCING else 2]
            created = self.time.at(self.rng.uniform(start + 1, -0.05))
            if created > self.now:
                continue
            title, category, group = self.rng.choice(company.SERVICE_REQUESTS)
            client_users = [m.username for m in self.clients[brief.client].users]
            by = (
                self.rng.choice(client_users)
                if self.rng.random() < 0.6
                else self._next(self._team("service_desk"), "desk")
            )
            requester = self.members[self.rng.choice(client_users)]
            data = {
                "title": self._text(title, brief.language),
                "description": self._text(title, brief.language),
                "project": self.projects[brief.key],
                "category": category,
                "priority": self.rng.choices(["P2", "P3", "P4"], [1, 5, 4])[0],
                "support_group": group,
                "requested_for": f"{requester.first_name} {requester.last_name}",
            }
            age = self.time.days_ago(created)
            goal = (
                ("done" if self.rng.random() < 0.93 else "cancelled")
                if age > 5
                else self.rng.choice([None, "in_progress", "done"])
            )
            assignee = self._next(self._team(group), group)
            first = self.time.later(created, self.rng.uniform(0.2, 6))
            self._fitted(
                "service_request", created, by, data, {"assignee": Who(assignee)}, goal,
                walkers=[assignee, by], first=first, until=self.time.later(first, self.rng.uniform(2, 30)),
                fill={"fulfilment": self._text(company.FULFILMENTS[0], brief.language)},
            )  # fmt: skip

    def _plan_client_feedback(self) -> None:
        for brief in self.briefs:
            if len(brief.gates) < 2:
                continue
            users = [m.username for m in self.clients[brief.client].users]
            manager = self.clients[brief.client].account_manager
            if brief.kind == company.OUTSOURCING:
                days = self._month_ends(brief.gates[1] + 25, 0)
            else:
                days = [d + 3 for d in brief.gates[1:] if d + 3 < 0]
            days = self._share(days)
            for index, day in enumerate(days):
                # satisfaction follows the project's health as it got there
                base = {"green": 4.6, "amber": 3.6, "red": 2.4}[self._health(brief, (index + 1) / len(days))]
                score = max(1, min(5, round(base + self.rng.uniform(-0.8, 0.6))))
                nps = max(
                    0, min(10, round({5: 9.5, 4: 7.5, 3: 6, 2: 4, 1: 1.5}[score] + self.rng.uniform(-1.2, 1)))
                )
                created = self.time.at(day)
                data = {
                    "project": self.projects[brief.key],
                    "satisfaction": score,
                    "nps": nps,
                    "comment": self._text(self.rng.choice(company.FEEDBACK[score]), brief.language),
                    "period": self.time.date(day).strftime("%Y-%m"),
                }
                follow_up = company.FOLLOW_UPS["good" if score >= 4 else "poor"]
                self._fitted(
                    "client_feedback", created, users[index % len(users)], data,
                    goal="done" if self.time.days_ago(created) > 3 else None,
                    walkers=[manager, brief.manager], first=self.time.later(created, self.rng.uniform(2, 20)),
                    fill={"follow_up": self._text(follow_up, brief.language)},
                )  # fmt: skip
        self._plan_quarterly_nps()
        self._plan_surveys()

    def _plan_surveys(self) -> None:
        """The portal's survey answers: stars and a comment when a ticket was resolved or a deliverable
        accepted, from about two in three of the clients asked, within days. Given by the person who
        raised the ticket, else the organisation's lead (who reads all of its tickets), or for a
        deliverable its approver; tickets met in time get better marks."""
        fields = self.catalog.record_types["client_feedback"].fields
        briefs = {id(p): p.context["brief"] for p in self.projects.values()}
        asked: list[tuple[str, Planned, dt.datetime, str, float]] = []
        for planned in self.plans.get("incident", []):
            done = [s for s in planned.steps if s.do == "resolve"]
            if done:
                late = any(s.at - planned.at > dt.timedelta(days=3) for s in done)
                asked.append(("incident", planned, done[0].at, planned.by, 3.2 if late else 4.4))
        for planned in self.plans.get("service_request", []):
            if planned.goal == "done":
                asked.append(("service_request", planned, planned.context["until"], planned.by, 4.3))
        for planned in self.plans.get("deliverable", []):
            if planned.goal == "done" and planned.data.get("client_visible"):
                asked.append(("deliverable", planned, planned.context["until"], "", 4.2))
        for type_name, planned, closed, by, base in asked:
            brief = briefs.get(id(planned.data.get("project")))
            day = closed + dt.timedelta(hours=self.rng.uniform(2, 96))
            if type_name not in fields or brief is None or day > self.now - dt.timedelta(hours=1):
                continue
            if self.rng.random() > 0.65:  # not every survey comes back
                continue
            users = self.clients[brief.client].users
            if by not in {m.username for m in users}:
                by = users[0].username  # the organisation's lead: client manager and approver
            score = max(1, min(5, round(base + self.rng.uniform(-1.2, 0.8))))
            language = "en" if self.members[by].locale == "en" else "zh"
            data = {
                type_name: planned,
                "project": planned.data["project"],
                "satisfaction": score,
                "comment": self._text(self.rng.choice(company.FEEDBACK[score]), language),
            }
            self._fitted("client_feedback", day, by, data)

    def _plan_quarterly_nps(self) -> None:
        """Each quarter that began in the last six months, every client person answered the portal's
        question (how likely they recommend us, 0-10, and their overall stars), as their projects went."""
        today = self.time.today
        starts = [
            dt.date(today.year - back, month, 1)
            for back in (1, 0)
            for month in (1, 4, 7, 10)
            if 0 < (today - dt.date(today.year - back, month, 1)).days <= 183
        ]
        moods = {"green": 4.6, "amber": 3.6, "red": 2.4}
        for key, org in self.clients.items():
            healths = [moods.get(b.health, 4.0) for b in self.briefs if b.client == key] or [4.0]
            for start in starts:
                for member in org.users:
                    day = min(-0.5, (start - today).days + self.rng.uniform(1, 12))
                    score = max(1, min(5, round(sum(healths) / len(healths) + self.rng.uniform(-0.8, 0.6))))
                    nps = max(
                        0,
                        min(
                            10, round({5: 9.5, 4: 7.5, 3: 6, 2: 4, 1: 1.5}[score] + self.rng.uniform(-1.2, 1))
                        ),
                    )
                    language = "en" if member.locale == "en" else "zh"
                    data = {
                        "satisfaction": score,
                        "nps": nps,
                        "comment": self._text(self.rng.choice(company.FEEDBACK[score]), language),
                        "period": f"{start:%Y-%m}",
                    }
                    self._fitted("client_feedback", self.time.at(day), member.username, data)

    # --- writing ------------------------------------------------------------

    def load(self, password: str, progress: Callable[[int], None] | None = None) -> DemoResult:
        """Write the plan in one transaction; the people's password is `password`."""
        problems = password_problems(password, min_length=self.runtime.settings.password_min_length)
        if problems:
            raise DemoRefused(f"the demo accounts' password is refused: {' '.join(problems)}")
        started = time.perf_counter()
        progress = progress or (lambda _n: None)
        self.clock = _Clock(self.now)
        session = self.runtime.sessions.session_factory()
        self.session = session
        event.listen(session, "transient_to_pending", self._backdate)
        self._records: dict[str, Records] = {}
        try:
            accounts = self._people(password, progress)
            self._write_all("customer", progress)
            self._client_users(progress)
            for type_name in ("project", "task", "incident", "change_request", *OPTIONAL_TYPES):
                self._write_all(type_name, progress)
            if "task" in self.types:  # finished projects of the last two years: the forecast's backtest
                history.write(self, progress)
            self._settle()
            self._conversations()
            self._client_reports()
            self._nps_invitations()
            if "task" in self.types:  # their forecasts, replayed week by week: the pages' track record
                history.keep_forecasts(self)
            counts = self._counts()
            session.add(
                AuditEntry(
                    at=self.now,
                    actor="cli",
                    action=DEMO_ACTION,
                    target="demo",
                    detail={
                        "seed": self.seed,
                        "scale": self.scale,
                        "accounts": [a[0] for a in accounts],
                        "records": {t: sum(s.values()) for t, s in counts.items()},
                    },
                )
            )
            session.info.pop("itpm_outbox", None)  # every event is handled already: nothing to wake
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        pilot_goals(self.runtime, self.now)
        return DemoResult(password, accounts, counts, self.notes, time.perf_counter() - started)

    def _conversations(self) -> None:
        """Comments on about half of the incidents taken: the engineer's first reply, the client's answer (to
        a question when the ticket waited on them), now and then a note for colleagues only (internal), and
        the request to confirm the fix. Their own random stream: the rest of the demo stays as it was."""
        chance = random.Random(self.seed * 31 + 7)
        people = dict(self.session.execute(select(Person.username, Person.id)).all())
        briefs = {id(p): p.context["brief"] for p in self.projects.values()}
        minutes = dt.timedelta(minutes=1)
        for planned in self.plans.get("incident", []):
            brief = briefs.get(id(planned.data.get("project")))
            taken = next((s for s in planned.steps if s.do == "take"), None)
            if planned.id is None or brief is None or taken is None or chance.random() > 0.5:
                continue
            clients = [m.username for m in self.clients[brief.client].users]
            asker = planned.by if planned.by in clients else clients[0]
            lines = [(taken.at + chance.randint(3, 40) * minutes, taken.by, "taken", False)]
            resumed = next((s for s in planned.steps if s.do == "resume"), None)
            if resumed is not None:
                lines.append((resumed.at - chance.randint(5, 30) * minutes, asker, "client", False))
            elif chance.random() < 0.35:
                lines.append((lines[0][0] + chance.randint(20, 180) * minutes, asker, "client", False))
            if chance.random() < 0.4:
                lines.append((taken.at + chance.randint(10, 120) * minutes, taken.by, "internal", True))
            done = next((s for s in planned.steps if s.do == "resolve"), None)
            if done is not None:
                lines.append((done.at + chance.randint(1, 10) * minutes, done.by, "confirm", False))
            for at, by, kind, internal in sorted(lines):
                if at >= self.now:
                    continue
                self.clock.now = at  # its audit entry (SQLite's capture) is dated when it was written
                body = self._text(
                    chance.choice(company.CONVERSATION[kind]),
                    brief.language,
                    n=f"{chance.randint(10**5, 10**6 - 1)}",
                )
                self.session.add(
                    Comment(
                        record_type="incident", record_id=planned.id, author_id=people.get(by), author=by,
                        body=body, internal=internal, created_at=at,
                    )
                )  # fmt: skip
                self.session.flush()
        self.clock.now = self.now

    def _client_reports(self) -> None:
        """Each client organisation's lead asked for last month's status report of each of their open
        projects, in the portal. The requests wait for the jobs, rendered as that person: `make run`'s
        thread renders them once the app is up and the portal lists them (here each would take seconds)."""
        from itpm.portal.service import Portal
        from itpm.reports.requests import request_report

        if "project" not in self.types:
            return
        zone = ZoneInfo(self.runtime.settings.timezone)
        first = self.now.astimezone(zone).date().replace(day=1)
        last_month = (first - dt.timedelta(days=1)).strftime("%Y-%m")
        workflow = self.catalog.workflows.get("project")
        final = workflow.final_states if workflow else frozenset()
        for org in self.clients.values():
            lead = self.session.scalar(select(Person).where(Person.username == org.users[0].username))
            if lead is None:
                continue
            records = Records(self.session, self.catalog, Actor.of(lead), clock=self.clock, timezone=zone.key)
            portal = Portal(records, self.now)
            model = records.model("project")
            for project in self.session.scalars(
                records.query("project").where(model.state.not_in(final or {""})).order_by(model.id)
            ):
                for wanted in portal.reports_to_ask(project):
                    months = [n for n, p in wanted.parameters.items() if p.is_month]
                    given = {wanted.attach_to: project.id, **dict.fromkeys(months, last_month)}
                    request_report(
                        records, wanted.name, given, "en" if lead.locale == "en" else "zh", self.now
                    )

    def _nps_invitations(self) -> None:
        """The quarterly NPS invitations the scheduler sent at each quarter's start (in the app; their
        e-mails are history), each read when its person answered: staff's response rates count who was
        asked (`itpm.portal.surveys.nps_response_rate`)."""
        from itpm.automations.notices import NPS_TIME, TEXTS
        from itpm.notifications import APP, channel_key, compose, language_of
        from itpm.portal.surveys import FEEDBACK, nps_key, nps_token, quarter_title

        spec = self.catalog.record_types.get(FEEDBACK)
        if spec is None or not {"nps", "period"} <= set(spec.fields):
            return
        records = Records(self.session, self.catalog, Actor.system())
        model = records.model(FEEDBACK)
        answers = self.session.execute(
            select(model.created_by_id, getattr(model, spec.fields["period"].column), model.created_at).where(
                getattr(model, spec.fields["nps"].column).is_not(None)
            )
        )
        settings = self.runtime.settings
        secret, zone = settings.flask_config()["SECRET_KEY"], ZoneInfo(settings.timezone)
        subject, body = TEXTS["nps"]
        first: dict[tuple[int, str], dt.datetime] = {}
        for person_id, quarter, answered in answers.all():  # a person may have answered twice: asked once
            first[person_id, quarter] = min(answered, first.get((person_id, quarter), answered))
        for (person_id, quarter), answered in first.items():
            person = self.session.get(Person, person_id)
            link = f"/portal/survey/{nps_token(secret, person_id, quarter)}"
            context = {"quarter": quarter_title(quarter)}
            message = compose(subject, body, context, link, language_of(person), settings.base_url)
            self.session.add(
                Notification(
                    person_id=person_id,
                    key=channel_key(nps_key(quarter), APP, person_id),
                    subject=message.subject[:300],
                    body=message.body,
                    link=link,
                    created_at=dt.datetime.combine(dt.date.fromisoformat(f"{quarter}-01"), NPS_TIME, zone),
                    read_at=answered,
                )
            )
        self.session.flush()

    def _backdate(self, _session: Session, obj: Any) -> None:
        """What the engine dates with the wall clock is dated with the demo's; its events count as handled."""
        if isinstance(obj, OutboxEvent):
            obj.handled_at = obj.dispatched_at = obj.created_at or self.clock()
        elif isinstance(obj, AuditEntry) and obj.at is None:
            obj.at = self.clock()

    def _people(self, password: str, progress: Callable[[int], None]) -> list[tuple[str, str, str]]:
        """The departments, teams and staff (client users come once their organisations exist)."""
        session = self.session
        loaded = session.scalar(select(AuditEntry.at).where(AuditEntry.action == DEMO_ACTION).limit(1))
        if loaded is not None:
            raise DemoRefused(f"demo data was loaded already, on {loaded:%Y-%m-%d}; nothing was changed")
        emails = [self._email(m) for m in self.members.values()]
        taken = session.scalars(
            select(Person.username).where(Person.username.in_(list(self.members)) | Person.email.in_(emails))
        ).all()
        if taken:
            raise DemoRefused(f"the accounts {', '.join(sorted(taken))} exist already; nothing was changed")
        self.roles = {role.name: role for role in session.scalars(select(Role))}
        absent = sorted({r for m in self.members.values() for r in m.roles} - set(self.roles))
        if absent:
            raise DemoRefused(f"the roles {', '.join(absent)} are not defined: run `itpm init` first")
        self.departments: dict[str, int] = {}
        for name, (zh, en) in company.DEPARTMENTS.items():
            department = session.scalar(select(Department).where(Department.name == name))
            if department is None:
                department = Department(name=name, title_zh=zh, title_en=en)
                session.add(department)
                session.flush()
            self.departments[name] = department.id
        self.teams: dict[str, int] = {}
        for name, (department, zh, en) in company.TEAMS.items():
            team = session.scalar(select(Team).where(Team.name == name))
            if team is None:
                team = Team(name=name, title_zh=zh, title_en=en, department_id=self.departments[department])
                session.add(team)
                session.flush()
            self.teams[name] = team.id
        config = self.runtime.settings.flask_config()
        # one password for every demo account, so one hash: hashing it 40 times over would cost
        # seconds (scrypt) and protect nothing more
        self.hashed = generate_password_hash(
            password,
            method=config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
            salt_length=config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
        )
        self.actors: dict[str, Actor] = {}
        people = self._add_people(company.STAFF, None, progress)
        heads = {m.department: people[m.username].id for m in company.STAFF if m.role == "department_admin"}
        for member in company.STAFF:
            if member.role != "department_admin" and member.department in heads:
                people[member.username].manager_id = heads[member.department]
        accounts = [(m.username, m.role, f"{m.first_name} {m.last_name}") for m in company.STAFF]
        for org in company.CLIENTS:
            accounts += [
                (m.username, ", ".join(m.roles), f"{m.first_name} {m.last_name} ({org.short_name})")
                for m in org.users
            ]
        return accounts

    def _client_users(self, progress: Callable[[int], None]) -> None:
        for org in company.CLIENTS:
            self._add_people(org.users, self.customers[org.key].id, progress)

    def _email(self, member: company.Member) -> str:
        org = next((o for o in company.CLIENTS if member in o.users), None)
        return f"{member.username}@{org.domain if org else 'itpm-demo.example.com'}"

    def _add_people(
        self, members: Iterable[company.Member], client_id: int | None, progress: Callable[[int], None]
    ) -> dict[str, Person]:
        people = {}
        for member in members:
            department = self.departments[member.department] if member.department else None
            people[member.username] = person = Person(
                first_name=member.first_name,
                last_name=member.last_name,
                username=member.username,
                email=self._email(member),
                active=True,
                password=self.hashed,
                roles=[self.roles[r] for r in member.roles],
                department_id=department,
                team_id=self.teams[member.team] if member.team else None,
                client_id=client_id,
                locale=member.locale,
                timezone=member.timezone,
                skills=list(member.skills) or None,
            )
            self.session.add(person)
            progress(1)
        self.session.flush()
        for username, person in people.items():
            member = self.members[username]
            # the person's name in the history, with the installation's rights and none of their
            # role's limits: the plan decides what each one does
            self.actors[username] = Actor(
                id=person.id,
                username=username,
                department_id=person.department_id,
                team_id=person.team_id,
                client_id=client_id,
                department=member.department,
                is_system=True,
            )
        return people

    def _as(self, username: str) -> Records:
        """The records service acting as a person of the demo."""
        if username not in self._records:
            self._records[username] = Records(
                self.session,
                self.catalog,
                self.actors[username],
                clock=self.clock,
                timezone=self.runtime.settings.timezone,
            )
        return self._records[username]

    def _id(self, value: Any) -> Any:
        """Plan values with the ids they stand for: people, departments, records written before."""
        if isinstance(value, Who):
            return self.actors[value.username].id
        if isinstance(value, Dept):
            return self.departments[value.name]
        if isinstance(value, Planned):
            return value.id
        if isinstance(value, list):
            return [v for v in (self._id(v) for v in value) if v is not None]
        if isinstance(value, dt.datetime):
            return _iso(value)
        return value

    def _write_all(self, type_name: str, progress: Callable[[int], None]) -> None:
        skipped: Counter[str] = Counter()
        for index, planned in enumerate(self.plans.get(type_name, []), 1):
            if planned.fitted:
                problem = self._write_fitted(planned)
                if problem:
                    skipped[problem] += 1
            else:
                self._write(planned)
            if planned.record is not None:
                planned.id, planned.record = planned.record.id, None
            if index % 40 == 0:
                # what is written is no longer needed as objects: a flush looks at every object
                # the session holds, so thousands of them would make each write slower
                self.session.flush()
                self.session.expunge_all()
            progress(1)
        for problem, count in skipped.items():
            self.notes.append(f"{type_name}: {count} demo record(s) left out: {problem}")

    def _write(self, planned: Planned) -> None:
        self.clock.now = planned.at
        data = {name: self._id(value) for name, value in planned.data.items()}
        system = {name: self._id(value) for name, value in planned.system.items()}
        try:
            planned.record = self._as(planned.by).create(planned.type, data, system)
            for step in planned.steps:
                if not self._step(planned, step):
                    break
        except RecordError as error:
            problems = "; ".join(f"{p.path}: {p.message}" for p in error.problems)
            number = planned.record.number if planned.record is not None else "a new record"
            raise RuntimeError(f"demo {planned.type} {number}: {error.message} {problems}") from error

    def _step(self, planned: Planned, step: Step) -> bool:
        """Take one step; False when the record cannot go on (it waits for an approval)."""
        self.clock.now = step.at
        record = planned.record
        if step.do == "update":
            data = {name: self._id(value) for name, value in step.data.items()}
            self._as(step.by).update(planned.type, record.id, data, record.version)
            return True
        pending = self._pending(record) if planned.type in self.approving else None
        if step.do == "decide":
            if pending is None:
                return True  # the chain was shorter than planned
            tasks = self.session.scalars(
                select(ApprovalTask)
                .where(
                    ApprovalTask.approval_id == pending.id,
                    ApprovalTask.step == pending.step,
                    ApprovalTask.decision == PENDING,
                )
                .order_by(ApprovalTask.id)
            ).all()
            names = {actor.id: name for name, actor in self.actors.items()}
            approver = next((names[t.approver_id] for t in tasks if t.approver_id in names), None)
            if approver is None:
                return False
            self.session.expire(pending)  # its tasks as they are now (the engine reads them afresh)
            Workflows(self._as(approver)).decide(pending.id, step.approve, step.note)
            return True
        if pending is not None:
            return False
        data = {name: self._id(value) for name, value in step.data.items()}
        Workflows(self._as(step.by)).take(planned.type, record.id, step.do, data, step.note)
        return True

    def _pending(self, record: Any) -> ApprovalRequest | None:
        return self.session.scalar(
            select(ApprovalRequest).where(
                ApprovalRequest.record_type == record.__record_type__,
                ApprovalRequest.record_id == record.id,
                ApprovalRequest.state == PENDING,
            )
        )

    # --- record types known only by their fields --------------------------------

    def _write_fitted(self, planned: Planned) -> str | None:
        """Write a record of a type the demo knows only from the catalog; the problem if it cannot."""
        spec = self.catalog.record_types[planned.type]
        self.clock.now = planned.at
        context = {**planned.context, "moment": planned.at, "person": Who(planned.by)}
        savepoint = self.session.begin_nested()
        try:
            wanted = {name: self._uploaded(planned, name, value) for name, value in planned.data.items()}
            data = self._fit(spec, wanted, context)
        except _Unfit as unfit:
            savepoint.rollback()
            return str(unfit)
        system = {
            name: self._id(value) for name, value in planned.system.items() if name in kinds.EDITABLE_SYSTEM
        }
        try:
            planned.record = self._as(planned.by).create(planned.type, data, system)
            if planned.goal:
                self._walk(planned, spec)
        except RecordError as error:
            savepoint.rollback()
            planned.record = None
            first = error.problems[0] if error.problems else None
            return f"{first.path}: {first.message}" if first else str(error.message)
        savepoint.commit()
        return None

    def _uploaded(self, planned: Planned, name: str, value: Any) -> Any:
        """A planned file as its author's new upload (the files layer; the records service links it)."""
        if not (isinstance(value, list) and value and all(isinstance(v, Upload) for v in value)):
            return value
        if name not in self.catalog.record_types[planned.type].fields:
            return None
        from itpm.files import store_file

        return [
            store_file(
                self.session, self.runtime.settings.instance_path, io.BytesIO(v.text.encode("utf-8")),
                v.name, v.content_type, self.actors[planned.by], planned.type, name,
            ).id
            for v in value
        ]  # fmt: skip

    def _fit(self, spec: RecordTypeSpec, wanted: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        """`wanted` as the type's fields take it: its fields, choices and limits; required ones filled in."""
        data = {}
        for name, f in spec.fields.items():
            value = self._id(wanted.get(name))
            if value is None:
                if name not in spec.required:
                    continue
                value = self._invent(f, context)
                if value is None:
                    raise _Unfit(f"nothing to put in its required field {name}")
            data[name] = self._coerce(f, value)
        return data

    def _invent(self, f: FieldSpec, context: dict[str, Any]) -> Any:
        """A value for a required field the demo has nothing for."""
        schema = f.schema
        if f.kind == kinds.ENUM:
            return schema["enum"][0]
        if f.kind in (kinds.TEXT, kinds.RICHTEXT):
            return context.get("fill", {}).get(f.name) or _DONE
        if f.kind in (kinds.INTEGER, kinds.NUMBER):
            return (schema.get("enum") or [schema.get("minimum", 1)])[0]
        if f.kind == kinds.BOOLEAN:
            return False
        if f.kind == kinds.DATE:
            return context["moment"].astimezone(ZONE).date().isoformat()
        if f.kind == kinds.DATETIME:
            return _iso(context["moment"])
        if f.kind == kinds.USER:
            return self._id(context["person"])
        return None

    def _coerce(self, f: FieldSpec, value: Any) -> Any:
        schema = f.schema
        choices = schema.get("enum")
        if choices and value not in choices:
            alias = next((a for a in _ALIASES.get(str(value), ()) if a in choices), None)
            return alias if alias is not None else self.rng.choice(choices)
        if f.kind in (kinds.INTEGER, kinds.NUMBER):
            number = float(value)
            if "multipleOf" in schema:
                number = round(number / schema["multipleOf"]) * schema["multipleOf"]
            number = max(schema.get("minimum", number), min(schema.get("maximum", number), number))
            return int(round(number)) if f.kind == kinds.INTEGER else number
        if f.kind in (kinds.TEXT, kinds.RICHTEXT):
            return str(value)[: schema.get("maxLength", 20000)].ljust(schema.get("minLength", 0), "-")
        if f.kind == kinds.BOOLEAN:
            return bool(value)
        if f.kind == kinds.ENUM_LIST and isinstance(value, list):
            return [v for v in value if v in schema.get("items", {}).get("enum", [])]
        return value

    def _walk(self, planned: Planned, spec: RecordTypeSpec) -> None:
        """Take the record along its workflow to a state of the planned category, from `first` to `until`."""
        workflow = self.catalog.workflows.get(planned.type)
        path = _path(workflow, planned.record.state, planned.goal) if workflow else []
        if not path:
            return
        first = max(planned.context.get("first") or planned.at, planned.at + dt.timedelta(minutes=5))
        until = max(planned.context.get("until") or first, first)
        walkers = [*planned.context.get("walkers", ()), planned.by]
        for index, transition in enumerate(path):
            moment = first + (until - first) * (index / max(len(path) - 1, 1)) + dt.timedelta(minutes=index)
            if moment > self.now:
                return
            self.clock.now = moment
            by = next((w for w in walkers if set(self.members[w].roles) & set(transition.roles)), planned.by)
            stored = self._as(by).data(planned.record)
            context = {**planned.context, "moment": moment, "person": Who(by)}
            data = {
                name: self._coerce(spec.fields[name], self._invent(spec.fields[name], context))
                for name in transition.requires
                if name in spec.fields and stored.get(name) in (None, "", [])
            }
            Workflows(self._as(by)).take(planned.type, planned.record.id, transition.name, data)
            if (planned.type, transition.name) == (DELIVERABLE, "accept") and self.actors[by].client_id:
                # as the portal does when a client accepts: the certificate, kept on the deliverable
                accepted = self._as(by).get(DELIVERABLE, planned.record.id, load=("project", "client"))
                keep_certificate(self._as(by), accepted, "", self.runtime.settings.instance_path)
            for _decision in range(8):  # an approval chain: each step decided a little later
                if self._pending(planned.record) is None:
                    break
                moment += dt.timedelta(minutes=30)
                if moment > self.now or not self._step(planned, Step(moment, "", "decide", note=_DONE)):
                    return

    # --- the end ------------------------------------------------------------

    def _settle(self) -> None:
        """Bring what runs by the clock up to now, as the scheduler would have: SLA clocks, escalations."""
        self.clock.now = self.now
        system = Records(
            self.session,
            self.catalog,
            Actor.system(),
            clock=self.clock,
            timezone=self.runtime.settings.timezone,
        )
        for type_name in self.catalog.sla_policies:
            if type_name not in self.types:
                continue
            model = self.catalog.models.models[type_name]
            for record in self.session.scalars(select(model).where(model.sla_next_check <= self.now)):
                refresh_clocks(system, record, self.now)
        due = sorted(
            set(
                self.session.scalars(
                    select(ApprovalTask.due_at)
                    .join(ApprovalRequest)
                    .where(
                        ApprovalTask.decision == PENDING,
                        ApprovalTask.escalated.is_(False),
                        ApprovalTask.due_at <= self.now,
                        ApprovalRequest.state == PENDING,
                    )
                )
            )
        )
        for moment in due:
            self.clock.now = moment
            Workflows(system).escalate_overdue(moment)
        self.clock.now = self.now

    def _counts(self) -> dict[str, dict[str, int]]:
        counts = {}
        for type_name in (*CORE_TYPES, *OPTIONAL_TYPES):
            if type_name in self.types:
                model = self.catalog.models.models[type_name]
                rows = self.session.execute(select(model.state, func.count()).group_by(model.state)).all()
                counts[type_name] = {state: count for state, count in sorted(rows)}
        return counts


class _Clock:
    """The moment the demo is at: the records service and the workflow engine read it."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class _Unfit(Exception):
    """Demo data cannot be made to fit a record type."""


_DONE = "已完成 / Done"
#: Values of other vocabularies a record type may use for the same thing.
_ALIASES = {
    "P1": ("critical", "urgent", "high"),
    "P2": ("high", "urgent"),
    "P3": ("medium", "normal"),
    "P4": ("low",),
    "high": ("P2", "P1"),
    "medium": ("P3", "normal"),
    "low": ("P4",),
}


def _path(workflow: Any, state: str, goal: str | None) -> list[Any]:
    """The shortest way through the workflow to a state of category `goal` (or named `goal`)."""
    if goal is None:
        return []
    seen, queue = {state}, [(state, [])]
    while queue:
        current, path = queue.pop(0)
        target = workflow.state(current)
        if path and (target.category == goal or target.name == goal):
            return path
        for transition in workflow.leaving(current):
            if transition.target not in seen:
                seen.add(transition.target)
                queue.append((transition.target, [*path, transition]))
    return []


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(ZONE).isoformat(timespec="seconds")


def new_password(min_length: int = 12) -> str:
    """The demo accounts' password: random, made for each load, as long as the policy asks."""
    return "demo-" + secrets.token_hex(max(6, (min_length - 4) // 2))


def load_demo(
    runtime: Runtime,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    password: str | None = None,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Plan and write the demo (no questions asked: see `presence` for whether it should be)."""
    return Demo(runtime, seed, scale, now).load(
        password or new_password(runtime.settings.password_min_length), progress
    )


def write_accounts(path: Path, result: DemoResult, database: str) -> None:
    """The demo logins and their password, readable by the owner only (`make run` shows them again)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"itpm demo accounts for {database}",
        f"password (every account): {result.password}",
        "",
        *(f"{username:16} {role:18} {name}" for username, role, name in result.accounts),
        "",
    ]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write("\n".join(lines))


#: The demo's department pilots: (department, KPI, change of the baseline's value or a fixed target, title).
PILOTS = [
    (
        "delivery_1",
        "delivery_cycle",
        ("times", 0.8),
        {"en": "Cut the average delivery cycle by 20% in three months", "zh": "三个月内平均交付周期缩短 20%"},
    ),
    (
        "managed_services",
        "csat",
        ("to", 4.5),
        {"en": "CSAT to 4.5 by the end of the pilot", "zh": "试点结束时客户满意度达到 4.5"},
    ),
]


def pilot_goals(runtime: Runtime, now: dt.datetime) -> list[str]:
    """Give the demo's pilots their SMART goals (`kpi` goals, published as a new version of each KPI): each
    pilot began three months ago, its baseline is the three months before, its deadline three months ahead,
    and "20% shorter" is worked out from the baseline on the demo's own records. A KPI that has goals
    already, or is not published, is left as it is. The goals set, as "department/kpi"."""
    from itpm.definitions.documents import Document
    from itpm.kpis.service import ask

    month = now.year * 12 + now.month - 1
    start = month - 2  # the pilot's first month

    def label(number: int) -> str:
        return f"{number // 12:04d}-{number % 12 + 1:02d}"

    baseline = f"{label(start - 3)}..{label(start - 1)}"
    deadline = now.date() + dt.timedelta(days=91)
    catalog = runtime.catalog()
    documents, done = [], []
    with runtime.session() as session:
        system = Records(session, catalog, Actor.system(), clock=lambda: now)
        for department_name, kpi_name, (how, amount), title in PILOTS:
            document = catalog.configuration.get("kpi", kpi_name)
            department = session.scalar(select(Department).where(Department.name == department_name))
            if document is None or department is None or document.body.get("goals"):
                continue
            target = float(amount)
            if how == "times":
                before = ask(system, kpi_name, baseline, None, {"department": department.id}, cache=None)
                if before.total.value is None:
                    continue
                target = round(before.total.value * amount, 1)
            goal = {
                "department": department_name,
                "baseline": baseline,
                "target": target,
                "deadline": deadline.isoformat(),
                "title": title,
            }
            body = dict(document.body)
            body["goals"] = [*body.get("goals", []), goal]
            documents.append(Document(document.file, body))
            done.append(f"{department_name}/{kpi_name}")
        if documents:
            runtime.registry(session).import_documents(
                documents, "demo", publish=True, comment="the demo's pilot goals"
            )
    return done
