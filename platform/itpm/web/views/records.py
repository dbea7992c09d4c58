"""The screens of every published record type, generated for each revision.

Each record type gets a Flask-AppBuilder ModelView: FAB's list (filters,
ordering, pagination, counts) over a data interface that asks the records
service for the rows the person may see; and itpm's own detail page and forms,
built from the type's schema and form definition, writing through the service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, flash, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import AppBuilder, BaseView, ModelView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args
from flask_appbuilder.widgets import ListWidget
from flask_babel import LazyString
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import or_, select

from itpm.access import Actor
from itpm.catalog import Catalog
from itpm.db import utcnow
from itpm.definitions.problems import Problem
from itpm.files import FileRefused, file_path, store_file
from itpm.models import Department, Person, StoredFile
from itpm.permissions import RECORD_PERMISSIONS, record_view_name
from itpm.records.fields import (
    EDITABLE_SYSTEM,
    FILE,
    FILE_LIST,
    REF_LIST,
    USER_LIST,
    RecordTypeSpec,
)
from itpm.records.forms import FormSpec, Section
from itpm.records.service import Conflict, RecordError, Records
from itpm.sla.tickets import (
    AT_RISK,
    BREACHED,
    CLOCK_TITLES,
    MET,
    ON_TRACK,
    PAUSED,
    STATUS_TITLES,
    duration_text,
    sla_summary,
    time_left,
)
from itpm.web.i18n import DefinitionText, language, text
from itpm.web.record_display import (
    Bilingual,
    choice_label,
    display,
    format_number,
    list_formatters,
    local_time,
    person_name,
    person_zone,
)
from itpm.web.record_export import EXPORT_LIMIT, export_csv, export_relations
from itpm.web.record_forms import field_path, local_datetime_value, parse_form
from itpm.workflows.engine import Workflows

PERMISSIONS = list(RECORD_PERMISSIONS)


view_name = record_view_name


def current_catalog() -> Catalog:
    return current_app.extensions["itpm_catalog"]


def current_actor() -> Actor:
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return Actor(None, "anonymous")
    return Actor.of(user)


def records_service() -> Records:
    runtime = current_app.extensions["itpm"]
    return Records(runtime.sessions(), current_catalog(), current_actor(), timezone=runtime.settings.timezone)


def lazy_text(texts: dict[str, str]) -> LazyString:
    """A bilingual text for FAB's labels and menus, read in the request's language (and escaped)."""
    return DefinitionText(texts)


class RecordInterface(SQLAInterface):
    """FAB's data interface, reading only the rows the records service lets the person see."""

    def __init__(self, model: type, type_name: str, shown: Iterable[str] = (), action: str = "read") -> None:
        super().__init__(model)
        self.type_name = type_name
        #: The action whose rows this interface reads: read for the list, export for an export.
        self.action = action
        #: The relations the list shows, loaded with each page (none else: no query per row, none wasted).
        self.shown = list(shown)

    def get_related_interface(self, col_name: str) -> SQLAInterface:
        """Related records are read through the service too (a filter's choices never leak rows)."""
        model = self.get_related_model(col_name)
        type_name = getattr(model, "__record_type__", None)
        return RecordInterface(model, type_name) if type_name else SQLAInterface(model)

    def _scoped(self) -> Any:
        records = records_service()
        query = self.session.query(self.obj).filter(records.scope(self.type_name, self.action))
        words = request.args.get("q", "").strip() if request else ""
        if words:
            query = query.filter(records.search_condition(self.type_name, words))
        return query, records

    def query(
        self,
        filters: Any = None,
        order_column: str = "",
        order_direction: str = "",
        page: int | None = None,
        page_size: int | None = None,
        select_columns: list[str] | None = None,
        outer_default_load: bool = False,
    ) -> tuple[int, list[Any]]:
        query, records = self._scoped()
        count = self.query_count(query, filters, select_columns)
        query = self.apply_all(
            query, filters, order_column, order_direction, page, page_size, select_columns, outer_default_load
        )
        return count, query.options(*records.load_options(self.type_name, self.shown)).all()

    def get(
        self, id: Any, filters: Any = None, select_columns: Any = None, outer_default_load: bool = False
    ) -> Any:
        query, records = self._scoped()
        return query.filter(self.obj.id == id).one_or_none()

    def add(self, item: Any, commit: bool = True) -> None:  # pragma: no cover - writes go through the service
        raise NotImplementedError("records are created through itpm.records.service")

    def edit(self, item: Any, commit: bool = True) -> None:  # pragma: no cover
        raise NotImplementedError("records are changed through itpm.records.service")

    def delete(self, item: Any, commit: bool = True) -> None:  # pragma: no cover
        raise NotImplementedError("records are deleted through itpm.records.service")


class RecordListWidget(ListWidget):
    template = "itpm/records/list_widget.html"


class RecordView(ModelView):
    """The screens of one record type; a subclass per type sets `type_name` and the columns."""

    type_name = ""
    list_template = "itpm/records/list.html"
    list_widget = RecordListWidget
    page_size = 25
    base_permissions = PERMISSIONS
    # Transitions and decisions are the workflow's to allow (by its roles and approvers), on records one sees.
    method_permission_name = {
        "comment": "show",
        "download": "show",
        "lookup": "list",
        "upload": "add",
        "export": "export",
        "transition": "show",
        "decide": "show",
        "withdraw": "show",
    }

    @property
    def spec(self) -> RecordTypeSpec:
        return current_catalog().record_types[self.type_name]

    # --- list ---------------------------------------------------------------

    def render_template(self, template: str, **kwargs: Any) -> Any:
        kwargs.setdefault("record_type", self.spec)
        kwargs.setdefault("search_words", request.args.get("q", ""))
        kwargs.setdefault("view_permission", self.class_permission_name)
        return super().render_template(template, **kwargs)

    # --- detail -------------------------------------------------------------

    @expose("/show/<int:pk>", methods=["GET"])
    @has_access
    def show(self, pk: int) -> Any:
        records = records_service()
        record = self._get(records, pk, load=records.relations(self.type_name))
        return self.render_template(
            "itpm/records/show.html",
            **self._page(records, record),
            **workflow_panel(Workflows(records), record),
            title=str(record),
        )

    @expose("/transition/<int:pk>/<name>", methods=["GET", "POST"])
    @has_access
    def transition(self, pk: int, name: str) -> Any:
        """Take a transition: ask for the fields it requires and a comment, then take it (or ask for approval)."""
        records = records_service()
        workflows = Workflows(records)
        record = self._get(records, pk)
        workflow = workflows.workflow(self.type_name)
        if workflow is None or name not in workflow.transitions:
            abort(404)
        transition = workflow.transitions[name]
        values = records.data(record)
        problems: list[Any] = []
        if request.method == "POST":
            form = current_catalog().forms[self.type_name]
            entries = [e for e in form.entries if e.field in transition.requires]
            parsed = parse_form(
                self.spec,
                FormSpec((Section({"en": "", "zh": ""}, 1, tuple(entries)),)),
                request.form,
                request.files,
                person_zone(),
            )
            problems = parsed.problems
            if not problems:
                try:
                    outcome = workflows.take(
                        self.type_name,
                        pk,
                        name,
                        parsed.data,
                        request.form.get("comment", ""),
                        request.form.get("version", type=int),
                    )
                    records.session.commit()
                except RecordError as error:
                    records.session.rollback()
                    if error.status == 404:
                        abort(404)
                    problems = error.problems or [Problem("", "/", error.message)]
                else:
                    if outcome.completed:
                        flash(
                            _(
                                "%(number)s: %(transition)s done.",
                                number=record.number,
                                transition=text(transition.title),
                            ),
                            "success",
                        )
                    else:
                        flash(_("%(number)s waits for approval.", number=record.number), "info")
                    return redirect(url_for(".show", pk=pk))
            values = {**values, **parsed.data}
        form = current_catalog().forms[self.type_name]
        widgets = [
            self._widget(records, entry, values.get(entry.field), person_zone(), False)
            for entry in form.entries
            if entry.field in transition.requires
        ]
        for widget in widgets:
            widget["required"] = True
        errors: dict[str, list[str]] = {}
        general = []
        for problem in problems:
            name_ = problem.path.rsplit("/", 1)[-1]
            if problem.path.startswith("/data/") and name_ in transition.requires:
                errors.setdefault(name_, []).append(str(problem.message))
            else:
                general.append(str(problem.message))
        return self.render_template(
            "itpm/records/transition.html",
            record=record,
            spec=self.spec,
            transition=transition,
            widgets=widgets,
            errors=errors,
            general_errors=general,
            title=f"{record.number}: {text(transition.title)}",
        )

    @expose("/decide/<int:pk>/<int:approval_id>", methods=["POST"])
    @has_access
    def decide(self, pk: int, approval_id: int) -> Any:
        records = records_service()
        try:
            Workflows(records).decide(
                approval_id, request.form.get("decision") == "approve", request.form.get("comment", "")
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
        else:
            flash(_("Your decision was recorded."), "success")
        return redirect(request.form.get("next") or url_for(".show", pk=pk))

    @expose("/withdraw/<int:pk>/<int:approval_id>", methods=["POST"])
    @has_access
    def withdraw(self, pk: int, approval_id: int) -> Any:
        records = records_service()
        try:
            Workflows(records).withdraw(approval_id)
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
        return redirect(url_for(".show", pk=pk))

    def _get(self, records: Records, pk: int, action: str = "read", load: Iterable[str] = ()) -> Any:
        try:
            return records.get(self.type_name, pk, action, load)
        except RecordError as error:
            abort(error.status)

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
            if kind == USER_LIST:
                people = records.session.scalars(select(Person).where(Person.id.in_(ids)))
                return Markup(", ").join(person_name(p) for p in people)
            if kind == REF_LIST:
                target = next(
                    f.target
                    for f in spec.fields.values()
                    if f.kind == REF_LIST and getattr(record, f.column) == value
                )
                rows = records.session.scalars(records.query(target).where(records.model(target).id.in_(ids)))
                return Markup(", ").join(
                    Markup('<a href="{}">{}</a>').format(
                        url_for(f"{view_name(target)}.show", pk=r.id), str(r)
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
                    view_name(other.name),
                    field,
                    _state_titles(records.catalog, other.name),
                )
                for other, field, count, rows in records.related(self.type_name, record.id)
            ],
            "history": readable_history(records, spec, records.history(self.type_name, record.id), zone),
            "sla": sla_summary(record, records.catalog.sla_policies.get(self.type_name), utcnow()),
            "sla_clock_titles": {n: Bilingual(t) for n, t in CLOCK_TITLES.items()},
            "comments": records.comments(self.type_name, record.id),
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
                record.sla_due
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
            client = getattr(record, "client", None)
            return (
                Markup('<a href="{}">{}</a>').format(
                    url_for("records_customer.show", pk=client.id), str(client)
                )
                if client
                else ""
            )
        return getattr(record, name) or ""

    @expose("/comment/<int:pk>", methods=["POST"])
    @has_access
    def comment(self, pk: int) -> Any:
        records = records_service()
        try:
            records.add_comment(self.type_name, pk, request.form.get("body", ""))
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
        return redirect(url_for(".show", pk=pk) + "#comments")

    @expose("/download/<int:pk>/<int:file_id>", methods=["GET"])
    @has_access
    def download(self, pk: int, file_id: int) -> Response:
        records = records_service()
        files = {f.id: f for f in records.files(self.type_name, pk)}  # checks the record is visible
        stored = files.get(file_id)
        if stored is None:
            abort(404)
        path = file_path(current_app.extensions["itpm"].settings.instance_path, stored.sha256)
        response = send_file(
            path, mimetype=stored.content_type, as_attachment=True, download_name=stored.filename
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @expose("/export/", methods=["GET"])
    @has_access
    def export(self) -> Response:
        """The list as a CSV file, with the list's filters, search and order; the rows one may export."""
        records = records_service()
        exporting = RecordInterface(
            self.datamodel.obj, self.type_name, export_relations(records, self.spec), "export"
        )
        filters = exporting.get_filters(self.search_columns)
        get_filter_args(filters)
        order_column, order_direction = self.base_order
        _count, rows = exporting.query(
            filters.get_joined_filters(self._base_filters), order_column, order_direction, 0, EXPORT_LIMIT
        )
        return export_csv(records, self.spec, rows, person_zone(), f"{self.type_name}.csv")

    @expose("/lookup/", methods=["GET"])
    @has_access
    def lookup(self) -> Response:
        """Type-ahead for reference pickers (Select2's format): visible records matching the words, or by ids."""
        records = records_service()
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip().isdigit()][:100]
        if ids:
            found = records.lookup_ids(self.type_name, ids)
        else:
            found = records.lookup(self.type_name, request.args.get("q", "")[:100])
        return jsonify({"results": [{"id": i, "text": label} for i, label in found]})

    # --- forms --------------------------------------------------------------

    @expose("/add/", methods=["GET", "POST"])
    @has_access
    def add(self) -> Any:
        records = records_service()
        values: dict[str, Any] = {
            n: f.schema.get("default") for n, f in self.spec.fields.items() if "default" in f.schema
        }
        for name in self.spec.fields:  # prefilled from the URL, e.g. a task's project
            if name in request.args:
                values[name] = request.args[name]
        problems: list[Any] = []
        if request.method == "POST":
            parsed = parse_form(
                self.spec,
                current_catalog().forms[self.type_name],
                request.form,
                request.files,
                person_zone(),
                self._unwritable(records),
            )
            values = {**parsed.data, **parsed.system}
            problems = self._with_other_problems(records, parsed)
            if not problems:
                try:
                    self._attach_uploads(records, parsed)
                    record = records.create(self.type_name, parsed.data, parsed.system)
                    self._link_uploads(records, record, parsed)
                    records.session.commit()
                    flash(_("%(number)s was created.", number=record.number), "success")
                    return redirect(url_for(".show", pk=record.id))
                except (RecordError, FileRefused) as error:
                    records.session.rollback()
                    if isinstance(error, FileRefused):
                        flash(str(error), "danger")
                    elif error.status in (403, 404):
                        abort(error.status)
                    problems = getattr(error, "problems", [])
        return self._form_page(records, None, values, problems)

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk: int) -> Any:
        records = records_service()
        record = self._get(records, pk, "write")
        values = {**records.data(record), **{n: getattr(record, f"{n}_id") for n in EDITABLE_SYSTEM}}
        version = record.version
        problems: list[Any] = []
        conflict = None
        if request.method == "POST":
            parsed = parse_form(
                self.spec,
                current_catalog().forms[self.type_name],
                request.form,
                request.files,
                person_zone(),
                self._unwritable(records),
            )
            values = {**values, **parsed.data, **parsed.system}
            problems = self._with_other_problems(records, parsed, pk)
            submitted_version = request.form.get("version", type=int)
            if not problems:
                try:
                    self._attach_uploads(records, parsed)
                    updated = records.update(
                        self.type_name, pk, parsed.data, submitted_version, parsed.system
                    )
                    self._link_uploads(records, updated, parsed)
                    records.session.commit()
                    flash(_("%(number)s was saved.", number=updated.number), "success")
                    return redirect(url_for(".show", pk=pk))
                except Conflict as error:
                    records.session.rollback()
                    conflict = {
                        "message": error.message,
                        "current": error.current,
                        "history": readable_history(
                            records, self.spec, records.history(self.type_name, pk)[:1], person_zone()
                        ),
                    }
                    version = error.current["version"]
                except (RecordError, FileRefused) as error:
                    records.session.rollback()
                    if isinstance(error, FileRefused):
                        flash(str(error), "danger")
                    elif error.status in (403, 404):
                        abort(error.status)
                    problems = getattr(error, "problems", [])
            else:
                version = submitted_version or version
        return self._form_page(records, record, values, problems, version=version, conflict=conflict)

    @expose("/delete/<int:pk>", methods=["POST"])
    @has_access
    def delete(self, pk: int) -> Any:
        records = records_service()
        try:
            record = records.get(self.type_name, pk, "delete")
            number = record.number
            records.delete(self.type_name, pk, request.form.get("version", type=int))
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status in (403, 404):
                abort(error.status)
            flash(str(error.message), "danger")
            return redirect(url_for(".show", pk=pk))
        flash(_("%(number)s was deleted.", number=number), "success")
        return redirect(url_for(".list"))

    def _unwritable(self, records: Records) -> frozenset[str]:
        """Fields the person's roles hide or make read-only: the form has no input for them."""
        return records.access.hidden_fields(records.actor, self.spec) | records.access.read_only_fields(
            records.actor, self.spec
        )

    def _with_other_problems(self, records: Records, parsed: Any, record_id: int | None = None) -> list[Any]:
        """Values the form could not read, and everything else wrong with the rest, all at once."""
        if not parsed.problems:
            return []
        unread = {p.path for p in parsed.problems}
        others = records.problems(self.type_name, parsed.data, parsed.system, record_id)
        return [*parsed.problems, *[p for p in others if p.path not in unread]]

    def _attach_uploads(self, records: Records, parsed: Any) -> None:
        """Store files uploaded with the form; their ids join the field's value."""
        root = current_app.extensions["itpm"].settings.instance_path
        for name, uploads in parsed.uploads.items():
            stored = [
                store_file(
                    records.session,
                    root,
                    u.stream,
                    u.filename,
                    u.mimetype,
                    records.actor,
                    self.type_name,
                    name,
                )
                for u in uploads
            ]
            field = self.spec.fields[name]
            ids = [s.id for s in stored]
            if field.kind == FILE_LIST:
                parsed.data[name] = [*(parsed.data.get(name) or []), *ids]
            else:
                parsed.data[name] = ids[-1]

    def _link_uploads(self, records: Records, record: Any, parsed: Any) -> None:
        ids = []
        for name in parsed.uploads:
            value = parsed.data.get(name)
            ids += value if isinstance(value, list) else [value]
        if ids:
            for stored in records.session.scalars(select(StoredFile).where(StoredFile.id.in_(ids))):
                stored.record_id = record.id

    def _form_page(
        self,
        records: Records,
        record: Any,
        values: dict[str, Any],
        problems: list[Any],
        version: int | None = None,
        conflict: Any = None,
    ) -> Any:
        spec = self.spec
        form = current_catalog().forms[self.type_name]
        hidden = records.access.hidden_fields(records.actor, spec)
        read_only = records.access.read_only_fields(records.actor, spec)
        zone = person_zone()
        errors: dict[str, list[str]] = {}
        general = []
        for problem in problems:
            name = problem.path.split("/")[-1] if problem.path.startswith(("/data/", "/")) else ""
            key = name if (name in spec.fields or name in EDITABLE_SYSTEM) else ""
            if key:
                errors.setdefault(key, []).append(str(problem.message))
            else:
                general.append(str(problem))
        sections = []
        for section in form.sections:
            entries = []
            for entry in section.entries:
                if entry.field in hidden:
                    continue
                entries.append(
                    self._widget(records, entry, values.get(entry.field), zone, entry.field in read_only)
                )
            sections.append(
                {"title": Bilingual(section.title), "columns": section.columns, "entries": entries}
            )
        return self.render_template(
            "itpm/records/form.html",
            title=_("Edit %(record)s", record=str(record))
            if record
            else _("New %(type)s", type=text(spec.title)),
            record=record,
            spec=spec,
            sections=sections,
            errors=errors,
            general_errors=general,
            version=version,
            conflict=conflict,
        )

    def _widget(
        self, records: Records, entry: Any, value: Any, zone: ZoneInfo, read_only: bool
    ) -> dict[str, Any]:
        """What the form template needs to draw one field."""
        spec = self.spec
        name = entry.field
        field = spec.fields.get(name)
        required = field is not None and name in spec.required and entry.when is None
        widget: dict[str, Any] = {
            "name": name,
            "widget": entry.widget,
            "label": Bilingual(spec.title_of(name)),
            "help": Bilingual(entry.help) if entry.help else None,
            "placeholder": Bilingual(entry.placeholder) if entry.placeholder else "",
            "required": required,
            "readonly": entry.readonly or read_only,
            "when": entry.when,
            "required_when": entry.required_when,
            "value": value,
            "choices": [],
            "options": [],
            "path": field_path(name),
        }
        if field is not None:
            schema = field.schema
            widget["choices"] = [(v, text(labels)) for v, labels in field.choices]
            widget["min"] = schema.get("minimum")
            widget["max"] = schema.get("maximum")
            widget["maxlength"] = schema.get("maxLength")
            widget["step"] = "1" if field.kind == "integer" else "any"
            if field.kind == "datetime":
                widget["value"] = local_datetime_value(value, zone)
            if field.kind in ("ref", "ref_list"):
                widget["lookup"] = url_for(f"{view_name(field.target)}.lookup")
                ids = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
                ids = [int(i) for i in ids if str(i).isdigit()]
                widget["options"] = records.lookup_ids(field.target, ids) if ids else []
            if field.kind in ("user", "user_list"):
                widget["lookup"] = url_for("PeopleLookup.lookup")
                ids = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
                widget["options"] = people_options(records, ids)
            if field.kind in ("file", "file_list"):
                ids = value if isinstance(value, list) else ([value] if value else [])
                widget["options"] = [
                    (f.id, f.filename)
                    for f in records.session.scalars(select(StoredFile).where(StoredFile.id.in_(ids)))
                ]
        elif name in ("assignee", "owner"):
            widget["lookup"] = url_for("PeopleLookup.lookup")
            widget["options"] = people_options(records, [value] if value else [])
        elif name == "client":
            widget["lookup"] = (
                url_for(f"{view_name('customer')}.lookup")
                if "customer" in current_catalog().record_types
                else ""
            )
            widget["options"] = records.lookup_ids("customer", [value]) if value else []
        elif name == "department":
            widget["choices"] = [
                (d.id, text(d.titles))
                for d in records.session.scalars(select(Department).order_by(Department.name))
            ]
        return widget


def workflow_panel(workflows: Workflows, record: Any) -> dict[str, Any]:
    """The state, the transitions the person may take, and the approval chains of a record's page."""
    workflow = workflows.workflow(record.__record_type__)
    if workflow is None:
        return {"state": None, "transitions": [], "approvals": [], "people": {}, "my_tasks": set()}
    people = {}
    approvals = workflows.approvals(record)
    ids = {t.approver_id for a in approvals for t in a.tasks}
    if ids:
        people = {
            p.id: person_name(p) for p in workflows.session.scalars(select(Person).where(Person.id.in_(ids)))
        }
    chains = []
    for approval in approvals:
        transition = workflow.transitions.get(approval.transition)
        steps = []
        for index, step in enumerate(transition.approval.steps if transition and transition.approval else []):
            tasks = [t for t in approval.tasks if t.step == index]
            steps.append(
                {
                    "title": Bilingual(step.title),
                    "current": approval.state == "pending" and approval.step == index,
                    "tasks": tasks,
                }
            )
        chains.append(
            {
                "approval": approval,
                "title": Bilingual(transition.title) if transition else approval.transition,
                "steps": steps,
            }
        )
    mine = {t.approval_id for t in workflows.inbox()}
    return {
        "state": workflow.state(record.state),
        "transitions": workflows.available(record),
        "approvals": chains,
        "people": people,
        "my_tasks": mine,
    }


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


APPROVAL_ACTIONS = ("approval requested", "approval withdrawn", "approved", "rejected", "approval escalated")


def _state_titles(catalog: Catalog, type_name: str) -> dict[str, Bilingual]:
    workflow = catalog.workflows.get(type_name)
    return {name: Bilingual(state.title) for name, state in workflow.states.items()} if workflow else {}


def _moved(workflow: Any, action: str) -> Bilingual | None:
    """The title of the transition a history line tells of ("transition submit": Submit)."""
    if workflow is None or not action.startswith("transition "):
        return None
    transition = workflow.transitions.get(action.split(" ", 1)[1])
    return Bilingual(transition.title) if transition else None


def people_options(records: Records, ids: list[Any]) -> list[tuple[int, str]]:
    ids = [int(i) for i in ids if str(i).isdigit()]
    if not ids:
        return []
    return [(p.id, person_name(p)) for p in records.session.scalars(select(Person).where(Person.id.in_(ids)))]


class PeopleLookup(BaseView):
    """Type-ahead of active people for user pickers."""

    route_base = "/people"
    default_view = "lookup"

    @expose("/lookup/", methods=["GET"])
    @has_access
    def lookup(self) -> Response:
        words = request.args.get("q", "").strip()[:100]
        session = current_app.extensions["itpm"].sessions()
        query = select(Person).where(Person.active.is_(True))
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip().isdigit()][:100]
        if ids:
            query = query.where(Person.id.in_(ids))
        for word in words.split()[:4]:
            pattern = f"%{word}%"
            query = query.where(
                or_(
                    Person.username.ilike(pattern),
                    Person.first_name.ilike(pattern),
                    Person.last_name.ilike(pattern),
                    Person.email.ilike(pattern),
                )
            )
        people = session.scalars(query.order_by(Person.first_name, Person.last_name).limit(20))
        return jsonify({"results": [{"id": p.id, "text": person_name(p)} for p in people]})


class FilterPicker:
    """The value box of a list filter on a reference: type-ahead instead of every record in a list."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        return Markup(
            '<select class="form-control itpm-filter-picker" name="{}" data-lookup="{}"></select>'
        ).format(field.name, url_for(self.endpoint))


SLA_LABELS = {ON_TRACK: "success", AT_RISK: "warning", PAUSED: "default", BREACHED: "danger", MET: "info"}


def sla_status_label(status: str | None) -> Markup:
    if not status:
        return Markup("")
    return Markup('<span class="label label-{} itpm-sla itpm-sla-{}">{}</span>').format(
        SLA_LABELS.get(status, "default"),
        status,
        Bilingual(STATUS_TITLES.get(status, {"en": status, "zh": status})),
    )


def sla_formatters(policy: Any) -> dict[str, Any]:
    """The SLA columns of a list: when due with the business time left, the status, whether breached."""

    def due(value: dt.datetime | None) -> Markup:
        if value is None:
            return Markup("")
        shown = value.astimezone(person_zone()).strftime("%Y-%m-%d %H:%M")
        if policy is None:
            return Markup("{}").format(shown)
        now = utcnow()
        left = int(time_left(policy, value, now).total_seconds() // 60)
        lang = language()
        if value <= now:  # past due, if perhaps by no business time yet (overnight)
            note = (
                _("%(time)s overdue", time=duration_text(left, lang)) if left < 0 else _("overdue"),
                "text-danger",
            )
        else:
            note = (_("%(time)s left", time=duration_text(left, lang)), "text-muted")
        return Markup('{} <small class="{}">{}</small>').format(shown, note[1], note[0])

    return {
        "sla_due": due,
        "sla_status": sla_status_label,
        "sla_breached": lambda v: (
            Markup('<span class="text-danger">{}</span>').format(_("Yes"))
            if v
            else (_("No") if v is False else "")
        ),
    }


def state_formatter(workflow: Any) -> Any:
    """A state in a list: its title, coloured by its category."""

    def format_state(name: str) -> Markup:
        if workflow is None:
            return Markup("{}").format(name)
        state = workflow.state(name)
        return Markup('<span class="label itpm-state itpm-state-{}">{}</span>').format(
            state.category, Bilingual(state.title)
        )

    return format_state


def filter_pickers(spec: RecordTypeSpec, catalog: Catalog, searchable: list[str]) -> dict[str, Any]:
    """Search-form fields for the reference and people filters of a list."""
    from wtforms import StringField

    pickers = {}
    for name in searchable:
        field = spec.fields.get(name)
        if name in ("assignee", "owner", "created_by", "updated_by") or (
            field is not None and field.kind == "user"
        ):
            endpoint = "PeopleLookup.lookup"
        elif name == "client" and "customer" in catalog.record_types:
            endpoint = f"{view_name('customer')}.lookup"
        elif field is not None and field.kind == "ref" and field.target in catalog.record_types:
            endpoint = f"{view_name(field.target)}.lookup"
        else:
            continue
        pickers[name] = StringField(lazy_text(spec.title_of(name)), widget=FilterPicker(endpoint))
    return pickers


def record_view_class(spec: RecordTypeSpec, catalog: Catalog, zone: ZoneInfo) -> type[RecordView]:
    model = catalog.models.models[spec.name]
    form = catalog.forms[spec.name]
    widgets = {e.field: e.widget for e in form.entries}
    columns = [c for c in spec.columns if c != "id"]
    searchable = [
        c
        for c in spec.filters
        if c in spec.fields
        or c
        in (
            "state",
            "assignee",
            "owner",
            "client",
            "department",
            "created_at",
            "updated_at",
            "sla_due",
            "sla_status",
            "sla_breached",
        )
    ]
    searchable = [c for c in searchable if not (c in spec.fields and spec.fields[c].is_list)]
    order_columns = [
        c
        for c in columns
        if c not in ("client", "department", "assignee", "owner", "created_by", "updated_by")
        and not (
            c in spec.fields
            and spec.fields[c].kind in ("ref", "user")
            or (c in spec.fields and spec.fields[c].is_list)
        )
    ]
    field, direction = spec.order
    base_order = (spec.fields[field].column if field in spec.fields else field, direction)
    attributes = {
        "type_name": spec.name,
        "route_base": f"/records/{spec.name}",
        "datamodel": RecordInterface(model, spec.name, columns),
        "list_title": lazy_text(spec.title),
        "list_columns": columns,
        "search_columns": searchable,
        "order_columns": order_columns,
        "base_order": base_order,
        "label_columns": {n: lazy_text(spec.title_of(n)) for n in {*columns, *searchable, *spec.fields}},
        "formatters_columns": {
            **list_formatters(spec, widgets, zone),
            "state": state_formatter(catalog.workflows.get(spec.name)),
            **sla_formatters(catalog.sla_policies.get(spec.name)),
        },
        "search_form_extra_fields": filter_pickers(spec, catalog, searchable),
    }
    return type(view_name(spec.name), (RecordView,), attributes)


def hide_pilot(spec: RecordTypeSpec) -> Any:
    """A request hook: a pilot's screens and API answer 404 outside its departments, as if absent."""

    def gate() -> None:
        from flask_jwt_extended import current_user as current_user_jwt
        from flask_jwt_extended import verify_jwt_in_request

        user = getattr(g, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            try:
                verify_jwt_in_request(optional=True)
            except Exception:  # an invalid token is refused by the API itself
                return
            user = (
                current_user_jwt
                if current_user_jwt and getattr(current_user_jwt, "is_active", False)
                else None
            )
        if user is not None and not current_catalog().access.enabled(Actor.of(user), spec):
            abort(404)

    return gate


def add_record_views(appbuilder: AppBuilder, catalog: Catalog) -> None:
    """A menu entry and screens for every published record type, under its category."""
    zone = ZoneInfo(current_app.extensions["itpm"].settings.timezone)
    appbuilder.add_view_no_menu(PeopleLookup)
    for spec in sorted(catalog.record_types.values(), key=lambda s: (s.category["en"], s.name)):
        view = record_view_class(spec, catalog, zone)
        if spec.departments is not None:
            for blueprint in (view_name(spec.name), f"{view_name(spec.name)}_api"):
                current_app.before_request_funcs.setdefault(blueprint, []).append(hide_pilot(spec))
        appbuilder.add_view(
            view,
            spec.name,
            label=lazy_text(spec.title),
            icon=f"fa {spec.icon}",
            category=spec.category["en"],
            category_label=lazy_text(spec.category),
        )
