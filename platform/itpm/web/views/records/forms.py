"""A record's form: adding, editing (with the conflict of a stale version), deleting, and how
each field is drawn from the type's schema and form definition.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from sqlalchemy import select

from itpm.files import FileRefused
from itpm.models import Department
from itpm.permissions import record_view_name
from itpm.records.attachments import nameable_files
from itpm.records.fields import EDITABLE_SYSTEM, RecordTypeSpec
from itpm.records.service import Conflict, RecordError, Records
from itpm.web.context import current_catalog, records_service
from itpm.web.i18n import text
from itpm.web.record_display import Bilingual, person_zone
from itpm.web.record_forms import field_path, local_datetime_value, parse_form
from itpm.web.views.records.base import RecordViewBase
from itpm.web.views.records.files import attach_uploads
from itpm.web.views.records.history import readable_history
from itpm.web.views.records.lookups import people_options


class RecordForms(RecordViewBase):
    """Adding, editing and deleting a record through the form its type defines."""

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
                    attach_uploads(records, self.spec, parsed)
                    record = records.create(self.type_name, parsed.data, parsed.system)
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
                    attach_uploads(records, self.spec, parsed)
                    updated = records.update(
                        self.type_name, pk, parsed.data, submitted_version, parsed.system
                    )
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
                    field_widget(
                        records, spec, entry, values.get(entry.field), zone, entry.field in read_only, record
                    )
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


def field_widget(
    records: Records,
    spec: RecordTypeSpec,
    entry: Any,
    value: Any,
    zone: ZoneInfo,
    read_only: bool,
    record: Any = None,
) -> dict[str, Any]:
    """What the form template needs to draw one field (of `record`, or of a new one)."""
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
            widget["lookup"] = url_for(f"{record_view_name(field.target)}.lookup")
            ids = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
            ids = [int(i) for i in ids if str(i).isdigit()]
            widget["options"] = records.lookup_ids(field.target, ids) if ids else []
        if field.kind in ("user", "user_list"):
            widget["lookup"] = url_for("PeopleLookup.lookup")
            ids = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
            widget["options"] = people_options(records, ids)
        if field.kind in ("file", "file_list"):
            ids = value if isinstance(value, list) else ([value] if value else [])
            files = nameable_files(
                records.session, records.actor, spec.name, record.id if record else None, ids
            )
            widget["options"] = [(f.id, f.filename) for f in files]
    elif name in ("assignee", "owner"):
        widget["lookup"] = url_for("PeopleLookup.lookup")
        widget["options"] = people_options(records, [value] if value else [])
    elif name == "client":
        widget["lookup"] = (
            url_for(f"{record_view_name('customer')}.lookup")
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
