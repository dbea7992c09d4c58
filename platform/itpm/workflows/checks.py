"""Checks of `workflow` definitions beyond their meta-schema.

States and transitions that name each other, roles and fields that exist, no
state a record can never reach, no way out of a final state, approval steps
whose approvers, conditions and escalations make sense.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask_babel import lazy_gettext as _

from itpm.definitions.checks import Configuration, check, condition_problems
from itpm.definitions.documents import Document
from itpm.definitions.problems import Problem, pointer
from itpm.expressions import check_expression
from itpm.records.fields import EDITABLE_SYSTEM
from itpm.workflows.spec import FINAL, WorkflowSpec


@check("workflow")
def workflow_problems(document: Document, configuration: Configuration) -> Iterator[Problem]:
    body, file = document.body, document.file
    fields = configuration.fields(body["record_type"])
    if fields is None:
        yield Problem(file, "/record_type", _("names no record type: %(name)r", name=body["record_type"]))
        fields = {}
    others = [
        d.file
        for d in configuration.of_kind("workflow")
        if d.body.get("record_type") == body["record_type"] and d.name != document.name
    ]
    if others:
        yield Problem(
            file,
            "/record_type",
            _(
                "%(name)r already has a workflow: %(files)s",
                name=body["record_type"],
                files=", ".join(others),
            ),
        )
    states = [s["name"] for s in body["states"]]
    for index, name in enumerate(states):
        if states.index(name) != index:
            yield Problem(file, f"/states/{index}/name", _("the state %(name)r is defined twice", name=name))
    for index, state in enumerate(body["states"]):
        if "waits_for" in state and fields:
            problem = _user_field(state["waits_for"]["field"], fields, configuration)
            if problem:
                yield Problem(file, pointer(["states", index, "waits_for", "field"]), problem)
    if body["initial"] not in states:
        yield Problem(file, "/initial", _("names no state: %(name)r", name=body["initial"]))
    roles = configuration.names("role")
    final = {s["name"] for s in body["states"] if s["category"] in FINAL}
    names: set[str] = set()
    for t, transition in enumerate(body["transitions"]):
        here = ["transitions", t]
        if transition["name"] in names:
            yield Problem(
                file,
                pointer([*here, "name"]),
                _("the transition %(name)r is defined twice", name=transition["name"]),
            )
        names.add(transition["name"])
        for i, state in enumerate(transition["from"]):
            if state not in states:
                yield Problem(file, pointer([*here, "from", i]), _("names no state: %(name)r", name=state))
            elif state in final:
                yield Problem(
                    file,
                    pointer([*here, "from", i]),
                    _("%(name)r is a final state: nothing leaves it", name=state),
                )
        if transition["to"] not in states:
            yield Problem(file, pointer([*here, "to"]), _("names no state: %(name)r", name=transition["to"]))
        for i, role in enumerate(transition["roles"]):
            if role not in roles:
                yield Problem(file, pointer([*here, "roles", i]), _("names no role: %(name)r", name=role))
        if fields:
            for i, name in enumerate(transition.get("requires", [])):
                if name not in fields:
                    yield Problem(
                        file, pointer([*here, "requires", i]), _("names no field: %(name)r", name=name)
                    )
            for name in transition.get("sets", {}):
                if name not in fields:
                    yield Problem(
                        file, pointer([*here, "sets", name]), _("names no field: %(name)r", name=name)
                    )
            if "when" in transition:
                yield from _when(transition["when"], fields, configuration, [*here, "when"], file)
        if "approval" in transition:
            yield from _approval(
                transition["approval"], states, roles, fields, configuration, [*here, "approval"], file
            )
    if body["initial"] in states:
        reachable = WorkflowSpec(body).reachable()
        for index, name in enumerate(states):
            if name not in reachable:
                yield Problem(
                    file, f"/states/{index}", _("no transition reaches the state %(name)r", name=name)
                )


def _approval(
    approval: Mapping[str, Any],
    states: list[str],
    roles: set[str],
    fields: Mapping[str, Any],
    configuration: Configuration,
    path: list[Any],
    file: str,
) -> Iterator[Problem]:
    if approval.get("rejected_to") is not None and approval["rejected_to"] not in states:
        yield Problem(
            file, pointer([*path, "rejected_to"]), _("names no state: %(name)r", name=approval["rejected_to"])
        )
    seen: set[str] = set()
    for s, step in enumerate(approval["steps"]):
        here = [*path, "steps", s]
        if step["name"] in seen:
            yield Problem(
                file, pointer([*here, "name"]), _("the step %(name)r is defined twice", name=step["name"])
            )
        seen.add(step["name"])
        approvers = step["approvers"]
        if "role" in approvers and approvers["role"] not in roles:
            yield Problem(
                file,
                pointer([*here, "approvers", "role"]),
                _("names no role: %(name)r", name=approvers["role"]),
            )
        if "field" in approvers and fields:
            problem = _user_field(approvers["field"], fields, configuration)
            if problem:
                yield Problem(file, pointer([*here, "approvers", "field"]), problem)
        rule = step.get("self_approval")
        if isinstance(rule, Mapping) and rule["role"] not in roles:
            yield Problem(
                file,
                pointer([*here, "self_approval", "role"]),
                _("names no role: %(name)r", name=rule["role"]),
            )
        if rule is not None and step.get("allow_self"):
            yield Problem(
                file,
                pointer([*here, "self_approval"]),
                _("is never used: allow_self lets the requester decide the step themselves"),
            )
        escalate = step.get("escalate")
        if escalate and escalate["to_role"] not in roles:
            yield Problem(
                file,
                pointer([*here, "escalate", "to_role"]),
                _("names no role: %(name)r", name=escalate["to_role"]),
            )
        if "when" in step and fields:
            yield from _when(step["when"], fields, configuration, [*here, "when"], file)


def _user_field(path: str, fields: Mapping[str, Any], configuration: Configuration) -> Any:
    """Why a field path cannot name approvers (None when it can): a person, here or on a referenced record."""
    name, _dot, inner = path.partition(".")
    if not inner:
        if name in ("assignee", "owner"):
            return None
        field = fields.get(name)
        if field is None:
            return _("names no field: %(name)r", name=name)
        if field.get("x-ref") != "user" and field.get("items", {}).get("x-ref") != "user":
            return _("%(name)r does not name people", name=name)
        return None
    reference = fields.get(name)
    if (
        reference is None
        or reference.get("type") != "integer"
        or reference.get("x-ref") in (None, "user", "file")
    ):
        return _("%(name)r does not refer to a record", name=name)
    target = configuration.fields(reference["x-ref"]) or {}
    return _user_field(inner, target, configuration)


def _when(
    condition: Mapping[str, Any],
    fields: Mapping[str, Any],
    configuration: Configuration,
    path: list[Any],
    file: str,
) -> Iterator[Problem]:
    if "expression" in condition:
        names = set(fields) | set(EDITABLE_SYSTEM)
        for name, field in fields.items():
            target = configuration.fields(field.get("x-ref", "")) if field.get("type") == "integer" else None
            if target:
                names |= {f"{name}__{inner}" for inner in target}
        for error in check_expression(condition["expression"], sorted(names)):
            yield Problem(file, pointer([*path, "expression"]), str(error))
    else:
        yield from condition_problems(condition, fields, path, file)
