"""The import screens: upload a file, map its columns (saved by name), check it (a dry run), import it
and follow its progress. Everything goes through `itpm.records.imports` as the person logged in, so
the records service decides what they may create and change; the types offered are those they may.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from itpm.models import ImportMapping, ImportRun
from itpm.records.imports import (
    Importer,
    ImportRefused,
    Mapping_,
    Source,
    keep_upload,
    load_mapping,
    match_columns,
    open_source,
    parse_mapping,
    progress_of,
    read_rows,
    save_mapping,
    start_import,
    targets,
    upload_path,
)
from itpm.records.service import RecordError, Records
from itpm.web.api.imports import check_file, may_see_all
from itpm.web.context import current_runtime, records_service
from itpm.web.i18n import text

SHOWN_ERRORS = 100


def importable_types(records: Records) -> list[Any]:
    """The record types the person may create (or change) records of."""
    return [
        spec
        for spec in records.catalog.record_types.values()
        if records.access.enabled(records.actor, spec)
        and (
            records.access.can(records.actor, spec, "create")
            or records.access.can(records.actor, spec, "write")
        )
    ]


class ImportsView(BaseView):
    route_base = "/imports"
    default_view = "index"
    base_permissions = ["can_list", "can_add"]
    method_permission_name = {"index": "list", "show": "list", "check": "add", "start": "add"}

    @expose("/", methods=["GET"])
    @has_access
    def index(self) -> Any:
        records = records_service()
        query = select(ImportRun).order_by(ImportRun.id.desc()).limit(20)
        if not may_see_all(records):
            query = query.where(ImportRun.requested_by_id == records.actor.id)
        runs = [progress_of(r) for r in records.session.scalars(query)]
        mappings = list(records.session.scalars(select(ImportMapping).order_by(ImportMapping.name)))
        return self.render_template(
            "itpm/imports/index.html",
            type_titles={n: text(s.title) for n, s in records.catalog.record_types.items()},
            types=importable_types(records),
            runs=runs,
            mappings=mappings,
            title=_("Import"),
        )

    @expose("/check", methods=["POST"])
    @has_access
    def check(self) -> Any:
        """Upload (or the file uploaded before), map, and run the dry run: the page says what would happen."""
        records = records_service()
        root = current_runtime().settings.instance_path
        form = request.form
        try:
            upload = request.files.get("file")
            if upload is not None and upload.filename:
                source = keep_upload(root, upload.stream, upload.filename)
            else:
                path = upload_path(root, form.get("sha256", ""))
                if path is None:
                    flash(_("Choose a file to import."), "danger")
                    return redirect(url_for(".index"))
                source = open_source(path, form.get("filename") or "import")
            mapping = self._mapping(records, form)
            key = form.get("key") or None
            importer = Importer(records, form.get("record_type", ""), source, mapping, key)
            if form.get("save_as", "").strip():
                save_mapping(
                    records.session, form["save_as"], importer.spec.name, importer.mapping, records.actor
                )
                records.session.commit()
                flash(_("Mapping %(name)s saved.", name=form["save_as"].strip()), "success")
            answer = check_file(records, importer)
        except RecordError as error:
            records.session.rollback()
            source = locals().get("source")
            if isinstance(error, ImportRefused) and source is not None and form.get("record_type"):
                return self._to_map(records, source, form, error)  # columns to map: shown to be mapped
            return self._refused(records, form, error, source)
        return self.render_template(
            "itpm/imports/check.html",
            spec=importer.spec,
            source=source,
            header=importer.header,
            columns=importer.columns,
            choices=self._choices(importer.spec),
            aliases=json.dumps(importer.mapping.values, ensure_ascii=False, indent=1)
            if importer.mapping.values
            else "",
            key=key or "",
            answer=answer,
            errors=answer["errors"][:SHOWN_ERRORS],
            title=_("Check the import"),
        )

    def _to_map(self, records: Records, source: Source, form: Any, error: RecordError) -> Any:
        """The check page without a dry run: the columns as far as they match, and what is wrong."""
        try:
            spec = records.spec(form["record_type"])
            header, rows = read_rows(source)
            rows.close()
            mapping = self._mapping(records, form) or Mapping_()
            hidden = records.access.hidden_fields(records.actor, spec)
            try:
                columns = match_columns(spec, header, mapping, source.filename, hidden, on_screen=True)
                problems = error.problems  # the columns fit: what is wrong is the importer's to say
            except ImportRefused as unmatched:  # worded for this page: skip a column by "(skip this column)"
                problems = unmatched.problems
                columns = match_columns(spec, header, mapping, source.filename, hidden, lenient=True)
        except RecordError:
            return self._refused(records, form, error, source)
        for problem in problems[:30]:
            flash(str(problem.message), "danger")
        return self.render_template(
            "itpm/imports/check.html",
            spec=spec,
            source=source,
            header=header,
            columns=columns,
            choices=self._choices(spec),
            aliases=form.get("aliases", ""),
            key=form.get("key", ""),
            answer=None,
            errors=[],
            title=_("Check the import"),
        )

    @expose("/start", methods=["POST"])
    @has_access
    def start(self) -> Any:
        records = records_service()
        root = current_runtime().settings.instance_path
        form = request.form
        path = upload_path(root, form.get("sha256", ""))
        if path is None:
            flash(_("Choose a file to import."), "danger")
            return redirect(url_for(".index"))
        try:
            source = open_source(path, form.get("filename") or "import")
            run = start_import(
                records,
                form.get("record_type", ""),
                source,
                self._mapping(records, form),
                form.get("key") or None,
                form.get("automations") == "on",
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._refused(records, form, error, None)
        return redirect(url_for(".show", import_id=run.id))

    @expose("/<int:import_id>", methods=["GET"])
    @has_access
    def show(self, import_id: int) -> Any:
        records = records_service()
        run = records.session.get(ImportRun, import_id)
        if run is None or (run.requested_by_id != records.actor.id and not may_see_all(records)):
            abort(404)
        progress = progress_of(run)
        spec = records.catalog.record_types.get(run.record_type)
        return self.render_template(
            "itpm/imports/show.html",
            run=progress,
            type_title=text(spec.title) if spec else run.record_type,
            running=run.status in ("queued", "running"),
            title=_("Import %(id)s", id=run.id),
        )

    # --- helpers ---

    def _mapping(self, records: Records, form: Any) -> Mapping_ | None:
        """The mapping of the form: a saved one, the columns chosen on the check page, their aliases."""
        mapping = load_mapping(records.session, form["mapping_name"]) if form.get("mapping_name") else None
        chosen = {k: v for k, v in form.items() if k.startswith("column:")}
        if chosen or form.get("aliases", "").strip():
            body: dict[str, Any] = {"columns": {k[7:]: (v or None) for k, v in chosen.items()}}
            if form.get("aliases", "").strip():
                try:
                    body["values"] = json.loads(form["aliases"])
                except ValueError:
                    body["values"] = form["aliases"]  # parse_mapping names the problem
                if not isinstance(body["values"], dict):
                    return parse_mapping(json.dumps(body), _("the value aliases"))
            mapping = parse_mapping(body)
        return mapping

    def _choices(self, spec: Any) -> list[tuple[str, str]]:
        return [(name, text(title)) for name, title in targets(spec).items()]

    def _refused(self, records: Records, form: Any, error: RecordError, source: Source | None) -> Any:
        flash(str(error.message), "danger")
        for problem in error.problems[:30]:
            where = " ".join(p for p in (problem.file, problem.path) if p)
            flash(f"{where}: {problem.message}" if where else str(problem.message), "danger")
        return redirect(url_for(".index"))


def add_import_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(ImportsView, "Import", label=_l("Import"), icon="fa-upload", category="My work")
