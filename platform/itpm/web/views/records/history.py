"""A record's history as a person reads it: field labels, choice labels, names and local
times instead of paths, codes and ids; transitions and approval steps by their titles.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from itpm.models import Department
from itpm.records.fields import EDITABLE_SYSTEM, RecordTypeSpec
from itpm.records.service import Records
from itpm.web.i18n import text
from itpm.web.record_display import Bilingual, choice_label, format_number, local_time
from itpm.web.views.records.lookups import people_options


def readable_history(
    records: Records, spec: RecordTypeSpec, events: list[dict[str, Any]], zone: ZoneInfo
) -> list[dict[str, Any]]:
    """History as a person reads it: field labels, choice labels, names and local times, not ids and codes."""
    people: set[int] = set()
    references: dict[str, set[int]] = {}
    for event in events:
        for change in event["changes"]:
            name = change["path"].rsplit("/", 1)[-1]
            field = spec.fields.get(name) if change["path"].startswith("/data/") else None
            kind = field.kind if field else {"owner": "user", "assignee": "user", "client": "ref"}.get(name)
            target = field.target if field else ("customer" if name == "client" else None)
            for value in (change["old"], change["new"]):
                ids = value if isinstance(value, list) else [value]
                ids = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
                if kind in ("user", "user_list"):
                    people.update(ids)
                elif kind in ("ref", "ref_list") and target:
                    references.setdefault(target, set()).update(ids)
    names = dict(people_options(records, sorted(people)))
    departments = {d.id: text(d.titles) for d in records.session.scalars(select(Department))}
    workflow = records.catalog.workflows.get(spec.name)
    labels = {
        (t, i): label for t, ids in references.items() for i, label in records.lookup_ids(t, sorted(ids))
    }

    def readable(name: str, value: Any, data: bool) -> str:
        if value is None or value == [] or value == "":
            return "—"
        field = spec.fields.get(name) if data else None
        kind = (
            field.kind if field else {"owner": "user", "assignee": "user", "client": "ref"}.get(name, "text")
        )
        target = field.target if field else ("customer" if name == "client" else None)
        values = value if isinstance(value, list) else [value]
        if name == "department" and not data:
            return departments.get(value, f"#{value}")
        if kind in ("user", "user_list"):
            return ", ".join(names.get(v, f"#{v}") for v in values)
        if kind in ("ref", "ref_list"):
            return ", ".join(labels.get((target, v), f"#{v}") for v in values)
        if field is not None and (field.kind in ("enum", "enum_list") or field.schema.get("x-enum-titles")):
            return "、".join(choice_label(field, v) for v in values)
        if field is not None and field.kind == "datetime":
            return local_time(value)
        if field is not None and field.kind == "boolean":
            return _("Yes") if value else _("No")
        if field is not None and field.kind in ("integer", "number"):
            return format_number(value)
        text_value = str(value)
        return text_value if len(text_value) <= 120 else text_value[:117] + "…"

    readable_events = []
    for event in events:
        changes = []
        for change in event["changes"]:
            data = change["path"].startswith("/data/")
            name = change["path"].rsplit("/", 1)[-1]
            if not data and name not in EDITABLE_SYSTEM:
                continue
            changes.append(
                {
                    "label": Bilingual(spec.title_of(name)),
                    "old": readable(name, change["old"], data),
                    "new": readable(name, change["new"], data),
                }
            )
        readable_events.append(
            {
                **event,
                "changes": changes,
                "moved": _moved(workflow, event["action"]),
                "note": _readable_note(workflow, event["action"], event.get("note") or ""),
            }
        )
    return readable_events


def _readable_note(workflow: Any, action: str, note: str) -> Any:
    """An approval's note names its transition or step as stored ("approve: …", "Technical lead: …"):
    shown by its title in the reader's language."""
    if workflow is None or not note or action not in APPROVAL_ACTIONS:
        return note
    names: dict[str, Any] = {}
    for name, transition in workflow.transitions.items():
        names[name] = transition.title
        for step in transition.approval.steps if transition.approval else ():
            names[step.title["en"]] = step.title
    head, colon, rest = note.partition(": ")
    if head in names:
        return Markup("{}{}{}").format(Bilingual(names[head]), colon, rest)
    return note


APPROVAL_ACTIONS = (
    "approval requested",
    "approval withdrawn",
    "approved",
    "rejected",
    "approval escalated",
    "approval step skipped",
    "approval step passed on",
)


def _moved(workflow: Any, action: str) -> Bilingual | None:
    """The title of the transition a history line tells of ("transition submit": Submit)."""
    if workflow is None or not action.startswith("transition "):
        return None
    transition = workflow.transitions.get(action.split(" ", 1)[1])
    return Bilingual(transition.title) if transition else None
