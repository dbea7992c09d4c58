"""What the workflow designer warns about before publishing, beyond what validation refuses:
states no path reaches, states a record can get stuck in, transitions no role can take, and
approval steps nobody could decide. Pure: reads the workflow and the roles' definitions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask_babel import lazy_gettext as _

from itpm.definitions.problems import Problem, pointer

FINAL = ("done", "cancelled")


def workflow_lint(workflow: Mapping[str, Any], roles: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """Warnings on `workflow` (its JSON), given the role definitions by name."""
    return list(_lint(workflow, roles))


def _can(role: Mapping[str, Any] | None, record_type: str, action: str) -> bool:
    if role is None:
        return False
    if role.get("name") == "admin":
        return True
    rights = (role.get("records") or {}).get(record_type) or {}
    return bool(rights.get(action))


def _lint(workflow: Mapping[str, Any], roles: Mapping[str, Mapping[str, Any]]) -> Iterator[Problem]:
    states = [s for s in workflow.get("states") or [] if isinstance(s, dict)]
    transitions = [t for t in workflow.get("transitions") or [] if isinstance(t, dict)]
    record_type = workflow.get("record_type", "")
    reached, frontier = {workflow.get("initial")}, [workflow.get("initial")]
    while frontier:
        state = frontier.pop()
        for t in transitions:
            if state in (t.get("from") or []) and t.get("to") not in reached:
                reached.add(t.get("to"))
                frontier.append(t.get("to"))
    for index, state in enumerate(states):
        name = state.get("name")
        if name not in reached:
            yield Problem(
                "",
                f"/states/{index}",
                _("unreachable: no path from the initial state reaches %(name)r", name=name),
            )
        leaves = any(name in (t.get("from") or []) for t in transitions)
        if not leaves and state.get("category") not in FINAL:
            yield Problem(
                "", f"/states/{index}", _("dead end: nothing leaves %(name)r, yet it is not final", name=name)
            )
    for index, t in enumerate(transitions):
        here = ["transitions", index]
        takers = [r for r in t.get("roles") or [] if _can(roles.get(r), record_type, "write") or r == "admin"]
        if not takers:
            yield Problem(
                "",
                pointer([*here, "roles"]),
                _("nobody can take %(name)r: none of its roles may edit the record", name=t.get("name")),
            )
        for number, step in enumerate((t.get("approval") or {}).get("steps") or []):
            approvers = step.get("approvers") or {}
            role = approvers.get("role")
            if role is not None and not (_can(roles.get(role), record_type, "approve") or role == "admin"):
                yield Problem(
                    "",
                    pointer([*here, "approval", "steps", number, "approvers"]),
                    _(
                        "no possible approver: the role %(role)r may not approve %(type)r records",
                        role=role,
                        type=record_type,
                    ),
                )
