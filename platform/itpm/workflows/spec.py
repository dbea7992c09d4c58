"""A workflow as the engine uses it, read from its definition: states, transitions, approval chains.

Pure: what a workflow says, and which of its conditions hold for a record's
values. Who takes a transition and who decides an approval is the engine's
(`itpm.workflows.engine`), with the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from itpm.expressions import holds as expression_holds
from itpm.expressions import parse_expression
from itpm.records.forms import holds as schema_holds

FINAL = ("done", "cancelled")
#: The state of records of a type that has no workflow.
NO_WORKFLOW_STATE = "open"


def condition_holds(condition: Mapping[str, Any] | None, values: Mapping[str, Any]) -> bool:
    """A JSON Schema condition, or {"expression": ...}, on a record's values (None holds)."""
    if condition is None:
        return True
    if "expression" in condition:
        return expression_holds(parse_expression(condition["expression"]), dict(values))
    return schema_holds(dict(condition), dict(values))


@dataclass(frozen=True)
class State:
    name: str
    title: dict[str, str]
    category: str
    #: A field (or reference.field) naming whose move it is in this state, besides the assignee.
    waits_for: str | None = None

    @property
    def final(self) -> bool:
        return self.category in FINAL


@dataclass(frozen=True)
class Step:
    """One step of an approval chain."""

    name: str
    title: dict[str, str]
    approvers: dict[str, Any]
    decide: str | int = "any"  # "any", "all", or the quorum
    when: dict[str, Any] | None = None
    allow_self: bool = False
    #: When the requester is the step's only approver: "skip", "manager", {"role": ...}, or None (refused).
    self_approval: str | dict[str, str] | None = None
    escalate_after_hours: float | None = None
    escalate_to_role: str | None = None

    def needed(self, approvers: int, approved: int) -> bool:
        """Whether `approved` approvals out of `approvers` decide the step."""
        if self.decide == "any":
            return approved >= 1
        if self.decide == "all":
            return approved >= approvers
        return approved >= min(int(self.decide), approvers)

    def hopeless(self, approvers: int, rejected: int) -> bool:
        """Whether rejections already make approval impossible (a quorum or all can no longer be reached)."""
        if self.decide == "any":
            return rejected >= approvers
        if self.decide == "all":
            return rejected >= 1
        return approvers - rejected < min(int(self.decide), approvers)


@dataclass(frozen=True)
class Approval:
    steps: tuple[Step, ...]
    rejected_to: str | None = None


@dataclass(frozen=True)
class Transition:
    name: str
    title: dict[str, str]
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...]
    when: dict[str, Any] | None = None
    requires: tuple[str, ...] = ()
    sets: dict[str, Any] = field(default_factory=dict)
    approval: Approval | None = None


@dataclass(frozen=True)
class WorkflowSpec:
    body: dict[str, Any] = field(compare=False, hash=False)

    @property
    def name(self) -> str:
        return self.body["name"]

    @property
    def record_type(self) -> str:
        return self.body["record_type"]

    @property
    def initial(self) -> str:
        return self.body["initial"]

    @cached_property
    def states(self) -> dict[str, State]:
        return {
            s["name"]: State(s["name"], s["title"], s["category"], s.get("waits_for", {}).get("field"))
            for s in self.body["states"]
        }

    @cached_property
    def transitions(self) -> dict[str, Transition]:
        return {t["name"]: _transition(t) for t in self.body["transitions"]}

    @cached_property
    def final_states(self) -> frozenset[str]:
        """The states a record is finished in (closed, done, cancelled...)."""
        return frozenset(s.name for s in self.states.values() if s.final)

    @cached_property
    def open_states(self) -> list[str]:
        """The states a record is still being worked in, in the workflow's order."""
        return [s.name for s in self.states.values() if not s.final]

    def state(self, name: str) -> State:
        """A state by name; a name no longer in the workflow reads as an open state of that name."""
        return self.states.get(name) or State(name, {"en": name, "zh": name}, "open")

    def leaving(self, state: str) -> list[Transition]:
        return [t for t in self.transitions.values() if state in t.sources]

    def reachable(self) -> set[str]:
        """The states a record can reach from the initial one."""
        seen, todo = {self.initial}, [self.initial]
        while todo:
            for transition in self.leaving(todo.pop()):
                targets = [transition.target]
                if transition.approval and transition.approval.rejected_to:
                    targets.append(transition.approval.rejected_to)
                for target in targets:
                    if target not in seen:
                        seen.add(target)
                        todo.append(target)
        return seen


def _transition(raw: dict[str, Any]) -> Transition:
    approval = None
    if "approval" in raw:
        steps = []
        for step in raw["approval"]["steps"]:
            decide = step.get("decide", "any")
            escalate = step.get("escalate", {})
            steps.append(
                Step(
                    name=step["name"],
                    title=step["title"],
                    approvers=step["approvers"],
                    decide=decide["quorum"] if isinstance(decide, dict) else decide,
                    when=step.get("when"),
                    allow_self=bool(step.get("allow_self")),
                    self_approval=step.get("self_approval"),
                    escalate_after_hours=escalate.get("after_hours"),
                    escalate_to_role=escalate.get("to_role"),
                )
            )
        approval = Approval(tuple(steps), raw["approval"].get("rejected_to"))
    return Transition(
        name=raw["name"],
        title=raw["title"],
        sources=tuple(raw["from"]),
        target=raw["to"],
        roles=tuple(raw["roles"]),
        when=raw.get("when"),
        requires=tuple(raw.get("requires", ())),
        sets=dict(raw.get("sets", {})),
        approval=approval,
    )
