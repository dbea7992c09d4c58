"""A record's page: its fields by the form's sections, system fields, related records,
history, SLA clocks, comments and files, beside its workflow panel; and commenting.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from markupsafe import Markup

from itpm.catalog import Catalog
from itpm.charts.calibration import CALIBRATION_LABELS_ZH, calibration
from itpm.charts.forecast import fan
from itpm.db import utcnow
from itpm.forecast.backtest import track_record
from itpm.forecast.service import forecast_project, forecast_types
from itpm.forecast.simulation import CEILING, FLOOR, OK
from itpm.people import names_of
from itpm.permissions import record_view_name
from itpm.planning.service import plan_type_of
from itpm.records.fields import EDITABLE_SYSTEM, FILE, FILE_LIST, REF_LIST, USER_LIST
from itpm.records.service import RecordError, Records
from itpm.sla.tickets import CLOCK_TITLES, sla_summary
from itpm.texts import language
from itpm.web.context import current_catalog, records_service
from itpm.web.i18n import text
from itpm.web.record_display import (
    Bilingual,
    display,
    person_name,
    person_zone,
    sla_formatters,
    sla_status_label,
    visible_link,
)
from itpm.web.views.records.base import RecordViewBase
from itpm.web.views.records.history import readable_history
from itpm.web.views.records.transitions import workflow_panel
from itpm.workflows.engine import Workflows


def forecast_panel(records: Records, type_name: str, record: Any) -> dict[str, Any] | None:
    """A project's forecast for its page: the figures, the fan chart and the chance as shown."""
    if type_name not in forecast_types(records.catalog):
        return None
    today = records.clock().astimezone(records.zone).date()
    found = forecast_project(records, type_name, record, today)
    if found is None:
        return None
    forecast = found.forecast
    chance = _chance(forecast.on_time)
    labels = {
        "title": _("Finish-date forecast"),
        "planned": _("Planned"),
        "today": _("Today"),
        "axis": _("chance of being done"),
        "empty": _("No forecast"),
    }
    chart = fan(forecast.fan, today, forecast.planned, labels) if forecast.status == OK else None
    milestones = [(m, _chance(m.forecast.on_time)) for m in found.milestones]
    track = track_record(records, type_name, found.kind)
    calibrated = None
    if track is not None and track.hits:  # the chart `itpm forecast backtest --chart` draws, for this kind
        labels = CALIBRATION_LABELS_ZH if language() == "zh" else None
        calibrated = calibration([(_("Projects of this type"), track.forecasts, track.hits)], labels)
    return {
        "found": found,
        "chart": chart,
        "chance": chance,
        "milestones": milestones,
        "track": track,
        "calibration": calibrated,
    }


def _chance(on_time: float | None) -> str | None:
    """A chance as shown: never "0%" nor "100%" (10,000 runs prove neither)."""
    if on_time is None:
        return None
    if on_time <= FLOOR:
        return _("under 1%")
    return _("over 99%") if on_time >= CEILING else f"{100 * on_time:.0f}%"


class RecordPage(RecordViewBase):
    """A record's page, and commenting on it."""

    @expose("/show/<int:pk>", methods=["GET"])
    @has_access
    def show(self, pk: int) -> Any:
        records = records_service()
        record = self._get(records, pk, load=records.relations(self.type_name))
        return self.render_template(
            "itpm/records/show.html",
            **self._page(records, record),
            **workflow_panel(Workflows(records), record),
            gantt_texts=gantt_texts() if plan_type_of(records.catalog, self.type_name) else None,
            forecast=forecast_panel(records, self.type_name, record),
            title=str(record),
        )

    def _page(self, records: Records, record: Any) -> dict[str, Any]:
        spec = self.spec
        form = current_catalog().forms[self.type_name]
        hidden = records.access.hidden_fields(records.actor, spec)
        zone = person_zone()
        files = {f.id: f for f in records.files(self.type_name, record.id)}

        def resolve(kind: str, value: Any) -> Markup:
            ids = value if isinstance(value, list) else [value]
            if kind in (FILE, FILE_LIST):
                links = [
                    Markup('<a href="{}">{}</a>').format(
                        url_for(".download", pk=record.id, file_id=i), files[i].filename
                    )
                    for i in ids
                    if i in files
                ]
                return Markup(", ").join(links)
            if kind == USER_LIST:  # named as the reader may know them (`itpm.people.names_of`)
                names = names_of(records.session, records.actor, ids)
                return Markup(", ").join(names.get(i) or _("a user of another organisation") for i in ids)
            if kind == REF_LIST:
                target = next(
                    f.target
                    for f in spec.fields.values()
                    if f.kind == REF_LIST and getattr(record, f.column) == value
                )
                rows = records.session.scalars(records.query(target).where(records.model(target).id.in_(ids)))
                return Markup(", ").join(
                    Markup('<a href="{}">{}</a>').format(
                        url_for(f"{record_view_name(target)}.show", pk=r.id), str(r)
                    )
                    for r in rows
                )
            return Markup(", ").join(str(i) for i in ids)

        sections = []
        for section in form.sections:
            rows = []
            for entry in section.entries:
                if entry.field in hidden:
                    continue
                if entry.is_system:
                    value = self._system_display(record, entry.field)
                else:
                    field = spec.fields[entry.field]
                    raw = (
                        getattr(record, field.name)
                        if field.kind in ("ref", "user")
                        else getattr(record, field.column)
                    )
                    value = display(field, raw, zone, entry.widget, resolve)
                rows.append((Bilingual(spec.title_of(entry.field)), value))
            sections.append((Bilingual(section.title), section.columns, rows))
        return {
            "record": record,
            "spec": spec,
            "sections": sections,
            "system": [
                (Bilingual(spec.title_of(n)), self._system_display(record, n))
                for n in (
                    "number",
                    "state",
                    "assignee",
                    "owner",
                    "client",
                    "department",
                    "created_by",
                    "created_at",
                    "updated_by",
                    "updated_at",
                )
            ],
            "related": [
                (
                    Bilingual(other.title),
                    Bilingual(other.title_of(field)),
                    count,
                    rows,
                    record_view_name(other.name),
                    field,
                    _state_titles(records.catalog, other.name),
                    field in records.list_fields(other.name).filters,  # whether "All" can open their list
                )
                for other, field, count, rows in records.related(self.type_name, record.id)
            ],
            "history": readable_history(records, spec, records.history(self.type_name, record.id), zone),
            "sla": sla_summary(record, records.catalog.sla_policies.get(self.type_name), utcnow()),
            "sla_clock_titles": {n: Bilingual(t) for n, t in CLOCK_TITLES.items()},
            "comments": (comments := records.comments(self.type_name, record.id)),
            "authors": records.authors(comments),
            "files": list(files.values()),
            "labels": {f"/data/{n}": Bilingual(spec.title_of(n)) for n in spec.fields}
            | {f"/{n}": Bilingual(spec.title_of(n)) for n in EDITABLE_SYSTEM},
            "zone": zone,
        }

    def _system_display(self, record: Any, name: str) -> Any:
        zone = person_zone()
        if name in ("assignee", "owner", "created_by", "updated_by"):
            return person_name(getattr(record, name))
        if name in ("sla_due",):
            return sla_formatters(current_catalog().sla_policies.get(self.type_name))["sla_due"](
                record.sla_due, record
            )
        if name == "sla_status":
            return sla_status_label(record.sla_status)
        if name in ("created_at", "updated_at"):
            value = getattr(record, name)
            return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""
        if name == "department":
            return text(record.department.titles) if record.department else ""
        if name == "state":
            workflow = current_catalog().workflows.get(self.type_name)
            state = workflow.states.get(record.state) if workflow else None
            return text(state.title) if state else record.state
        if name == "client":
            return visible_link(getattr(record, "client", None))
        return getattr(record, name) or ""

    @expose("/comment/<int:pk>", methods=["POST"])
    @has_access
    def comment(self, pk: int) -> Any:
        records = records_service()
        try:
            records.add_comment(
                self.type_name, pk, request.form.get("body", ""), internal=bool(request.form.get("internal"))
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
        return redirect(url_for(".show", pk=pk) + "#comments")


def gantt_texts() -> dict[str, str]:
    """What the Gantt chart's script says, in the reader's language."""
    return {
        "chart": _("Gantt chart of the project's tasks"),
        "bar": _("%(number)s %(title)s: %(start)s to %(due)s"),
        "summary": _("%(count)s dated tasks."),
        "unscheduled": _("%(count)s without dates are not drawn."),
        "baseline_gate": _("Baseline: the plan as approved at the planning gate."),
        "baseline_first": _(
            "Baseline: the first dates saved (the project has not passed its planning gate)."
        ),
        "moving": _("%(number)s %(title)s moves to %(start)s – %(due)s."),
        "also": _("These %(count)s dependants move with it:"),
        "dependant": _("%(number)s %(title)s: %(old_start)s – %(old_due)s → %(start)s – %(due)s"),
        "alone": _("No dependant has to move."),
        "save": _("Save"),
        "cancel": _("Cancel"),
        "saved": _("Saved: %(count)s tasks moved."),
        "conflict": _("Not saved: someone changed the plan meanwhile."),
        "reload": _("Reload the chart"),
    }


def _state_titles(catalog: Catalog, type_name: str) -> dict[str, Bilingual]:
    workflow = catalog.workflows.get(type_name)
    return {name: Bilingual(state.title) for name, state in workflow.states.items()} if workflow else {}
