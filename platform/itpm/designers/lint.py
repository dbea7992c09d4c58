"""What the workflow designer and the publish preview warn about, beyond what validation refuses:
states no path reaches, states a record can get stuck in, transitions nobody can take (no role of
theirs may edit the record or is held by anyone, a condition that can never hold, no way to their
start), and approval steps nobody could decide (among them a requester's manager when nobody who
may ask has one). Each warning names its state, transition or step.

Pure: reads the workflow, the definitions it names (roles, record types), who holds each role and
who has a manager.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from flask_babel import lazy_gettext as _

from itpm.definitions.problems import Problem, pointer

FINAL = ("done", "cancelled")
#: Person fields every record has (owner, assignee): approvers and waits_for may name them.
SYSTEM_PEOPLE = ("assignee", "owner")
_NEVER = object()  # a test no value passes


def workflow_lint(
    workflow: Mapping[str, Any],
    roles: Mapping[str, Mapping[str, Any]],
    record_types: Mapping[str, Mapping[str, Any]] | None = None,
    holders: Mapping[str, Sequence[str]] | None = None,
    managed: Collection[str] | None = None,
) -> list[Problem]:
    """Warnings on `workflow` (its JSON), given the role definitions and the record types' field
    schemas by name, the active people holding each role and the user names of those with an
    active manager (None: not known, not checked)."""
    return list(_lint(workflow, roles, record_types or {}, holders, managed))


def lint_inputs(documents: Sequence[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The role definitions and record types' fields by name, from the working definitions."""
    roles = {d.name: d.body for d in documents if d.kind == "role"}
    fields = {
        d.name: (d.body.get("schema") or {}).get("properties") or {}
        for d in documents
        if d.kind == "record_type"
    }
    return roles, fields


def _rights(role: Mapping[str, Any] | None, record_type: str) -> Mapping[str, Any]:
    records = (role or {}).get("records") or {}
    return records.get(record_type, records.get("*")) or {}


def _can(role: Mapping[str, Any] | None, record_type: str, action: str) -> bool:
    if role is None:
        return False
    return role.get("name") == "admin" or bool(_rights(role, record_type).get(action))


def _reached(workflow: Mapping[str, Any], transitions: list[dict[str, Any]]) -> set[Any]:
    reached, frontier = {workflow.get("initial")}, [workflow.get("initial")]
    while frontier:
        state = frontier.pop()
        for t in transitions:
            if state in (t.get("from") or []) and t.get("to") not in reached:
                reached.add(t.get("to"))
                frontier.append(t.get("to"))
    return reached


def _lint(
    workflow: Mapping[str, Any],
    roles: Mapping[str, Mapping[str, Any]],
    record_types: Mapping[str, Mapping[str, Any]],
    holders: Mapping[str, Sequence[str]] | None,
    managed: Collection[str] | None,
) -> Iterator[Problem]:
    states = [s for s in workflow.get("states") or [] if isinstance(s, dict)]
    transitions = [t for t in workflow.get("transitions") or [] if isinstance(t, dict)]
    record_type = workflow.get("record_type", "")
    fields = record_types.get(record_type)
    reached = _reached(workflow, transitions)
    for index, state in enumerate(states):
        name = state.get("name")
        if name not in reached:
            yield Problem(
                "",
                f"/states/{index}",
                _("state %(name)r is unreachable: no path from the initial state reaches it", name=name),
            )
        leaves = any(name in (t.get("from") or []) for t in transitions)
        if not leaves and state.get("category") not in FINAL:
            yield Problem(
                "",
                f"/states/{index}",
                _("state %(name)r is a dead end: nothing leaves it, yet it is not final", name=name),
            )
        waits = (state.get("waits_for") or {}).get("field")
        if waits and fields is not None and (why := _not_people(waits, fields, record_types)):
            yield Problem(
                "",
                pointer(["states", index, "waits_for", "field"]),
                _("state %(name)r waits for nobody: %(why)s", name=name, why=why),
            )
    for index, t in enumerate(transitions):
        yield from _transition(
            t, ["transitions", index], record_type, fields, roles, record_types, holders, managed, reached
        )


def _transition(
    t: Mapping[str, Any],
    here: list[Any],
    record_type: str,
    fields: Mapping[str, Any] | None,
    roles: Mapping[str, Mapping[str, Any]],
    record_types: Mapping[str, Mapping[str, Any]],
    holders: Mapping[str, Sequence[str]] | None,
    managed: Collection[str] | None,
    reached: set[Any],
) -> Iterator[Problem]:
    name = t.get("name")
    named = t.get("roles") or []
    editors = [r for r in named if _can(roles.get(r), record_type, "write")]
    if not editors:
        yield Problem(
            "",
            pointer([*here, "roles"]),
            _("nobody can take transition %(name)r: none of its roles may edit the record", name=name),
        )
    elif holders is not None and not any(holders.get(r) for r in editors):
        yield Problem(
            "",
            pointer([*here, "roles"]),
            _(
                "nobody can take transition %(name)r: no active user holds %(roles)s",
                name=name,
                roles=", ".join(editors),
            ),
        )
    if t.get("from") and not any(s in reached for s in t["from"]):
        yield Problem(
            "",
            pointer([*here, "from"]),
            _("nobody can take transition %(name)r: no path reaches the states it leaves", name=name),
        )
    when = t.get("when")
    if isinstance(when, Mapping) and "expression" not in when and fields is not None and _never(when, fields):
        yield Problem(
            "",
            pointer([*here, "when"]),
            _("nobody can take transition %(name)r: its condition can never hold", name=name),
        )
    for number, step in enumerate((t.get("approval") or {}).get("steps") or []):
        if not isinstance(step, Mapping):
            continue
        where = pointer([*here, "approval", "steps", number, "approvers"])
        # who may ask: the people holding the transition's roles (None: not known)
        requesters = None if holders is None else {u for r in named for u in holders.get(r) or []}
        for why in _no_approver(
            step.get("approvers") or {},
            record_type,
            fields,
            roles,
            record_types,
            holders,
            requesters,
            managed,
        ):
            yield Problem(
                "",
                where,
                _(
                    "transition %(name)r, step %(step)r has no possible approver: %(why)s",
                    name=name,
                    step=step.get("name"),
                    why=why,
                ),
            )


def _no_approver(
    approvers: Mapping[str, Any],
    record_type: str,
    fields: Mapping[str, Any] | None,
    roles: Mapping[str, Mapping[str, Any]],
    record_types: Mapping[str, Mapping[str, Any]],
    holders: Mapping[str, Sequence[str]] | None,
    requesters: set[str] | None,
    managed: Collection[str] | None,
) -> Iterator[Any]:
    if "role" in approvers:
        role = approvers["role"]
        if role not in roles:
            yield _("there is no role %(role)r", role=role)
        elif not _can(roles.get(role), record_type, "approve"):
            yield _("the role %(role)r may not approve %(type)r records", role=role, type=record_type)
        elif holders is not None and not holders.get(role):
            yield _("no active user holds the role %(role)r", role=role)
    elif "field" in approvers and fields is not None:
        why = _not_people(approvers["field"], fields, record_types)
        if why:
            yield why
    elif "users" in approvers and holders is not None:
        known = {u for people in holders.values() for u in people}
        missing = [u for u in approvers["users"] if u not in known]
        if missing and len(missing) == len(approvers["users"]):
            yield _("no active user is named %(names)s", names=", ".join(missing))
    elif "requester_manager" in approvers and requesters and managed is not None:
        if not requesters & set(managed):
            yield _(
                "none of the people who may ask (%(names)s) has an active manager",
                names=", ".join(sorted(requesters)),
            )


def _not_people(path: str, fields: Mapping[str, Any], record_types: Mapping[str, Mapping[str, Any]]) -> Any:
    """Why a field path names no person (None when it can): a person field here or on a referenced record."""
    name, _dot, inner = path.partition(".")
    if not inner:
        if name in SYSTEM_PEOPLE:
            return None
        field = fields.get(name)
        if not isinstance(field, Mapping):
            return _("the field %(name)r does not exist", name=name)
        items = field.get("items") if isinstance(field.get("items"), Mapping) else {}
        if field.get("x-ref") != "user" and items.get("x-ref") != "user":
            return _("the field %(name)r is not a person field", name=name)
        return None
    reference = fields.get(name)
    target = record_types.get(reference.get("x-ref", "")) if isinstance(reference, Mapping) else None
    if target is None:
        return _("the field %(name)r does not refer to a record", name=name)
    return _not_people(inner, target, record_types)


def _never(condition: Any, fields: Mapping[str, Any]) -> bool:
    """Whether a JSON Schema condition on a record can never hold, as far as can be seen from the
    fields' schemas (a value outside a field's choices or limits, of the wrong type; false)."""
    if condition is False:
        return True
    if not isinstance(condition, Mapping):
        return False
    if any(_never(part, fields) for part in condition.get("allOf") or []):
        return True
    parts = condition.get("anyOf") or condition.get("oneOf")
    if parts and all(_never(part, fields) for part in parts):
        return True
    for name, test in (condition.get("properties") or {}).items():
        field = fields.get(name)
        if isinstance(field, Mapping) and _field_never(
            test, field, name in (condition.get("required") or [])
        ):
            return True
    return False


def _field_never(test: Any, field: Mapping[str, Any], required: bool) -> bool:
    if test is False:
        return required
    if not isinstance(test, Mapping):
        return False
    wanted = [test["const"]] if "const" in test else test.get("enum")
    if isinstance(wanted, list):
        possible = [v for v in wanted if _may_hold(v, field)]
        if not possible:
            return True
    low, high = test.get("minimum"), test.get("maximum")
    top, bottom = field.get("maximum"), field.get("minimum")
    numbers = (int, float)
    if isinstance(low, numbers) and isinstance(top, numbers) and low > top:
        return True
    if isinstance(high, numbers) and isinstance(bottom, numbers) and high < bottom:
        return True
    return isinstance(low, numbers) and isinstance(high, numbers) and low > high


def _may_hold(value: Any, field: Mapping[str, Any]) -> bool:
    """Whether a field of this schema may hold `value`."""
    if isinstance(field.get("enum"), list):
        return value in field["enum"]
    kind = field.get("type")
    types = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    return value is None or kind not in types or types[kind](value)
