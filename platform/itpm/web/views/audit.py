"""The audit log's screens: the whole log for admins and auditors (the read_audit ability), filtered
by record, person, kind and date; and a record's own trail for whoever may read the record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, g, request
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_babel import lazy_gettext as _l

from itpm.audit import trail
from itpm.records.service import NotFound, Records, to_json_datetime
from itpm.web.context import current_catalog, current_runtime, records_service
from itpm.web.record_display import person_zone
from itpm.web.views.records.history import readable_history

#: What each kind of entry is, in the reader's language.
KIND_TITLES = {
    "record": _l("Record"), "comment": _l("Comment"), "file": _l("File"), "approval_task": _l("Approval"),
    "definition": _l("Definition"), "definition_version": _l("Definition version"), "user": _l("Person"),
    "user_role": _l("Person's role"), "role": _l("Role"), "role_permission": _l("Role's permission"),
    "department": _l("Department"), "team": _l("Team"), "login": _l("Sign-in"), "records": _l("Import or export"),
    "report": _l("Report"), "integration": _l("Integration"), "privacy_request": _l("Personal data request"),
    "privacy": _l("Personal data"),
}  # fmt: skip
OPERATIONS = {
    "create": _l("created"),
    "update": _l("changed"),
    "delete": _l("deleted"),
    "failed": _l("failed"),
}


def _day(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), person_zone())
    except ValueError:
        abort(400, description=f"{name}: {value!r} is not a date such as 2026-12-01")


class AuditView(BaseView):
    route_base = "/audit"
    default_view = "index"
    base_permissions = ["can_list"]
    method_permission_name = {"index": "list"}

    @expose("/", methods=["GET"])
    @has_access
    def index(self) -> Any:
        args = request.args
        until = _day(args.get("until"), "until")
        session = current_runtime().sessions()
        entries = trail.log(
            session,
            record=args.get("record", "").strip() or None,
            person=args.get("person", "").strip() or None,
            kind=args.get("kind") or None,
            since=_day(args.get("since"), "since"),
            until=until + dt.timedelta(days=1) if until else None,
        )
        values = trail.opened(session, entries)
        return self.render_template(
            "itpm/audit/log.html",
            entries=[_readable(records_service(), entry, values[entry.id]) for entry in entries],
            kinds=[(kind, KIND_TITLES.get(kind, kind)) for kind in trail.KINDS],
            filters=args,
            title=_l("Audit log"),
        )

    @expose("/record/<type_name>/<int:pk>", methods=["GET"])
    def record(self, type_name: str, pk: int) -> Any:
        """A record's trail: for whoever may read it (the access layer decides), hidden fields left out."""
        if not getattr(g.user, "is_authenticated", False):
            abort(404)
        records = records_service()
        try:
            events = trail.record_trail(records, type_name, pk)
            record = records.get(type_name, pk)
        except NotFound:
            abort(404)
        spec = records.spec(type_name)
        readable = readable_history(records, spec, events, person_zone())
        for event, raw in zip(readable, events, strict=True):
            moves = [c for c in raw["changes"] if c["path"] == "/state"]
            event["changes"] = [
                {"label": _l("State"), "old": m["old"] or "—", "new": m["new"]} for m in moves
            ] + event["changes"]
        return self.render_template(
            "itpm/audit/trail.html",
            record=record,
            spec=spec,
            events=readable,
            operations=OPERATIONS,
            title=str(record),
        )


def _readable(records: Records, entry: Any, opened: dict[str, Any]) -> dict[str, Any]:
    """An entry as a reader reads it: its kind and operation in their language, a record's field
    changes by field title with values as the record's page shows them."""
    kind, _dot, operation = entry.action.partition(".")
    changes: list[dict[str, Any]] = []
    table = (entry.detail or {}).get("table", "")
    spec = (
        current_catalog().record_types.get(table.removeprefix("rec_")) if table.startswith("rec_") else None
    )
    if spec is not None:
        event = {
            "at": to_json_datetime(entry.at),
            "actor": entry.actor,
            "action": entry.action,
            "note": "",
            "changes": trail.record_changes(spec, entry, changes_opened=opened),
        }
        changes = readable_history(records, spec, [event], person_zone())[0]["changes"]
    else:
        for name, values in sorted(opened.items()):
            old, new = values
            changes.append(
                {
                    "label": name,
                    "old": "—" if old is None else _short(old),
                    "new": "—" if new is None else _short(new),
                }
            )
        if not changes and entry.detail:  # an event (a sign-in, an export): what it says, item by item
            changes = [
                {"label": name, "old": "", "new": _short(value)}
                for name, value in sorted(entry.detail.items())
            ]
    return {
        "entry": entry,
        "kind": KIND_TITLES.get(kind, kind),
        "operation": OPERATIONS.get(operation, operation),
        "changes": changes,
    }


def _short(value: Any) -> str:
    text_value = str(value)
    return text_value if len(text_value) <= 160 else text_value[:157] + "…"


def add_audit_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(AuditView, "Audit log", label=_l("Audit log"), icon="fa-history", category="Security")
