"""Test a process as a role before publishing it: for a role, a state and a made-up record, which
transitions the role may take (and why not), who would be asked to approve each step, and which
automations would fire. Pure: reads the draft workflow, the automations and who holds each role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import lazy_gettext as _

from itpm.workflows.spec import condition_holds


def _holds(condition: Mapping[str, Any] | None, values: Mapping[str, Any]) -> bool:
    try:
        return condition_holds(condition, values)
    except (ValueError, TypeError, KeyError):  # a draft's expression may not read yet
        return False


def _approvers(
    approvers: Mapping[str, Any], values: Mapping[str, Any], people: Mapping[str, Sequence[str]]
) -> str:
    if "role" in approvers:
        names = people.get(approvers["role"]) or []
        return str(
            _(
                "people with the role %(role)s: %(names)s",
                role=approvers["role"],
                names=", ".join(names) or "—",
            )
        )
    if "field" in approvers:
        return str(
            _(
                "the person in %(field)s (%(value)s)",
                field=approvers["field"],
                value=values.get(approvers["field"], "—"),
            )
        )
    if "users" in approvers:
        return ", ".join(approvers["users"])
    return str(_("the requester's manager"))


def trial(
    role: str,
    state: str,
    values: Mapping[str, Any],
    workflow: Mapping[str, Any],
    automations: Sequence[Mapping[str, Any]],
    people: Mapping[str, Sequence[str]],
    shown: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What `role` meets on a record in `state` holding `values`, by the draft `workflow`.

    `shown`: the values the role may see, when they are fewer (an existing record's hidden fields):
    conditions read every value, as the engine does, but only these are named in the answer."""
    shown = values if shown is None else shown
    transitions = []
    for t in workflow.get("transitions") or []:
        if state not in (t.get("from") or []):
            continue
        why = []
        if role not in (t.get("roles") or []):
            why.append(str(_("the role may not take it")))
        if not _holds(t.get("when"), values):
            why.append(str(_("its condition does not hold for this record")))
        missing = [f for f in t.get("requires") or [] if values.get(f) in (None, "", [])]
        steps = [
            {
                "title": step.get("title"),
                "applies": _holds(step.get("when"), values),
                "decide": step.get("decide", "any"),
                "approvers": _approvers(step.get("approvers") or {}, shown, people),
            }
            for step in (t.get("approval") or {}).get("steps") or []
        ]
        transitions.append(
            {
                "name": t.get("name"),
                "title": t.get("title"),
                "to": t.get("to"),
                "may_take": not why,
                "why": why,
                "fill": missing,
                "steps": steps,
            }  # fmt: skip
        )
    fired = []
    for automation in automations:
        if automation.get("record_type") != workflow.get("record_type") or automation.get("enabled") is False:
            continue
        trigger = automation.get("trigger") or {}
        moments = {
            "created": state == workflow.get("initial"),
            "state_entered": any(t["to"] == trigger.get("state") for t in transitions if t["may_take"]),
            "approval_decided": any(
                t["steps"] and t["may_take"] and trigger.get("transition") in (None, t["name"])
                for t in transitions
            ),
        }
        if not moments.get(trigger.get("on"), False):
            continue
        condition = automation.get("condition")
        expression = automation.get("expression")
        if _holds(condition, values) and (not expression or _holds({"expression": expression}, values)):
            fired.append(
                {"name": automation.get("name"), "title": automation.get("title"), "on": trigger.get("on")}
            )
    return {"transitions": transitions, "automations": fired}
