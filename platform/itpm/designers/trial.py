"""Test a process as a role before publishing it: for a role and a record (made up, or an existing
one read as that role), the form as the role would see it, which transitions the role may take
(and why not), who would be asked to approve each step, and which automations would fire on each
outcome (creating it; taking a transition; its approval granted or refused). Automations are
matched by the engine's own triggers (`itpm.automations.spec`) on the events each outcome writes.

Pure: reads the draft definitions, the values and who holds each role; naming the people of an
existing record is left to the caller (`named`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask_babel import lazy_gettext as _

from itpm.automations.spec import AutomationSpec, Event
from itpm.records.fields import EDITABLE_SYSTEM, RecordTypeSpec
from itpm.records.forms import form_spec
from itpm.records.forms import holds as form_holds
from itpm.workflows.spec import condition_holds

#: Who a step's rule names on the record: people's names, or None when the caller cannot say.
Named = Callable[[Mapping[str, Any]], list[str] | None]


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


def trial_form(
    record_type: Mapping[str, Any],
    form: Mapping[str, Any] | None,
    hidden: frozenset[str],
    read_only: frozenset[str],
    values: Mapping[str, Any],
    shown: Mapping[str, Any],
) -> dict[str, Any]:
    """The form of `record_type` (laid out by the draft `form`, or the engine's default) as a role
    with these field rules sees it: its sections with the fields it shows, their values, which are
    read only and which required; the fields its rules hide and those whose show-when fails."""
    spec = RecordTypeSpec(dict(record_type))
    if form:  # a drafted record type may have lost a field its form still places: not on the form
        known = set(spec.fields) | set(EDITABLE_SYSTEM)
        sections = [
            {
                **s,
                "fields": [
                    e for e in s.get("fields", []) if (e if isinstance(e, str) else e.get("field")) in known
                ],
            }
            for s in form.get("sections", [])
        ]
        form = {**form, "sections": sections}
    layout = form_spec(spec, dict(form) if form else None)
    sections, conditional = [], []
    for section in layout.sections:
        entries = []
        for entry in section.entries:
            name = entry.field
            if name in hidden:
                continue
            if not form_holds(entry.when, dict(values)):
                conditional.append(name)
                continue
            entries.append(
                {
                    "field": name,
                    "title": spec.title_of(name),
                    "widget": entry.widget,
                    "help": entry.help,
                    "value": shown.get(name),
                    "read_only": entry.readonly or name in read_only,
                    "required": name in spec.required
                    or (entry.required_when is not None and form_holds(entry.required_when, dict(values))),
                }
            )
        if entries:
            sections.append({"title": section.title, "columns": section.columns, "fields": entries})
    placed = {e.field for s in layout.sections for e in s.entries}
    return {
        "sections": sections,
        "hidden": sorted(n for n in hidden if n in placed),
        "conditional": conditional,
    }


def _moves(
    workflow: Mapping[str, Any], t: Mapping[str, Any], state: str, values: Mapping[str, Any]
) -> list[tuple[str, list[Event], dict[str, Any]]]:
    """The outcomes of taking `t` from `state`: each its name, the outbox events it writes (as
    `itpm.workflows.engine` writes them) and the record's values after it."""
    record_type = workflow.get("record_type")
    sets = t.get("sets") or {}
    after = {**values, **sets}

    def moved(to: Any, changed: Mapping[str, Any]) -> Event:
        changes = [{"path": "/state", "old": state, "new": to}] if to != state else []
        changes += [
            {"path": f"/data/{n}", "old": values.get(n), "new": v}
            for n, v in changed.items()
            if values.get(n) != v
        ]
        return Event(0, "transition", record_type, None, {"changes": changes, "transition": t.get("name")})

    if not (t.get("approval") or {}).get("steps"):
        return [("taken", [moved(t.get("to"), sets)], after)]

    def decided(decision: str) -> Event:
        return Event(0, "approval", record_type, None, {"transition": t.get("name"), "decision": decision})

    back = (t.get("approval") or {}).get("rejected_to")
    refused = [decided("rejected")] + ([moved(back, {})] if back and back != state else [])
    return [
        ("approved", [decided("approved"), moved(t.get("to"), sets)], after),
        ("rejected", refused, dict(values)),
    ]


def _fired(
    automations: Sequence[Mapping[str, Any]], events: list[Event], values: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The automations one of `events` starts whose condition holds on `values`, as the engine decides."""
    fired = []
    for body in automations:
        automation = AutomationSpec(dict(body))
        try:
            started = any(automation.starts_on(event) for event in events)
        except (KeyError, TypeError):  # a draft automation still missing its trigger's settings
            started = False
        if not started:
            continue
        expression = body.get("expression")
        if _holds(body.get("condition"), values) and (
            not expression or _holds({"expression": expression}, values)
        ):
            fired.append({"name": body.get("name"), "title": body.get("title"), "on": body["trigger"]["on"]})
    return fired


def trial(
    role: str,
    state: str,
    values: Mapping[str, Any],
    workflow: Mapping[str, Any],
    automations: Sequence[Mapping[str, Any]],
    people: Mapping[str, Sequence[str]],
    shown: Mapping[str, Any] | None = None,
    named: Named | None = None,
    made_up: bool = True,
) -> dict[str, Any]:
    """What `role` meets on a record in `state` holding `values`, by the draft `workflow`.

    `shown`: the values the role may see, when they are fewer (an existing record's hidden fields):
    conditions read every value, as the engine does, but only these are named in the answer.
    `named`: the people a step's rule names on the record (None: not known, the rule is described).
    `made_up`: a record not yet created; in the initial state, creating it starts `created`'s automations."""
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
        steps = []
        for step in (t.get("approval") or {}).get("steps") or []:
            rule = step.get("approvers") or {}
            people_named = named(rule) if named is not None else None
            steps.append(
                {
                    "title": step.get("title"),
                    "applies": _holds(step.get("when"), values),
                    "decide": step.get("decide", "any"),
                    "approvers": _approvers(rule, shown, people),
                    "people": people_named,
                }
            )
        fires = (
            [
                {**automation, "outcome": outcome}
                for outcome, events, after in _moves(workflow, t, state, values)
                for automation in _fired(automations, events, after)
            ]
            if not why
            else []
        )
        transitions.append(
            {
                "name": t.get("name"),
                "title": t.get("title"),
                "to": t.get("to"),
                "may_take": not why,
                "why": why,
                "fill": missing,
                "steps": steps,
                "automations": fires,
            }  # fmt: skip
        )
    created = []
    if made_up and state == workflow.get("initial"):
        changes = [{"path": f"/data/{n}", "old": None, "new": v} for n, v in values.items()]
        event = Event(0, "created", workflow.get("record_type"), None, {"state": state, "changes": changes})
        created = [{**a, "outcome": "created"} for a in _fired(automations, [event], values)]
    return {
        "transitions": transitions,
        "created": created,
        "automations": created + [a for t in transitions for a in t["automations"]],
    }
