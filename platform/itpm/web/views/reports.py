"""The report screens: pick a report and its parameters, preview it as HTML, ask for the PDF (rendered
by the jobs, kept on its record, the person told), follow one's requests, download kept PDFs.
Everything goes through `itpm.reports` as the person logged in, so the records service decides what
they may see, render and download.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from flask import Response, abort, current_app, flash, redirect, request, send_file, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access, limit
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from itpm.audit import note_read
from itpm.files import file_path
from itpm.models import Department
from itpm.records.service import RecordError, Records
from itpm.reports.definition import ReportDefinition, report_definition, report_definitions
from itpm.reports.requests import PENDING, request_report, requests_of
from itpm.reports.service import DEPARTMENT, LANGUAGES, Subject, preview_report, stored_report, stored_reports
from itpm.reports.templates import RenderError
from itpm.web.context import current_catalog, records_service
from itpm.web.i18n import language, text

#: The preview is the admin's HTML: it may load its own files and inline images, and run no script.
PREVIEW_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self'"
PICKER_SIZE = 200
#: Previews a person may ask for (each renders the admin's template in a child process for up to a
#: minute), counted in the rate limits' store: Redis when configured, so every process counts alike.
PREVIEW_LIMIT = "20 per minute"


def _preview_limit() -> str:
    return current_app.config.get("ITPM_PREVIEW_LIMIT", PREVIEW_LIMIT)


def _previewer() -> str:
    """Whose previews count (the limits run before Flask-AppBuilder sets `g.user`)."""
    who = current_user.get_id() if current_user.is_authenticated else f"address:{request.remote_addr}"
    return f"report-preview:{who}"


def _not_a_preview() -> bool:
    return request.endpoint != "ReportsView.preview"


class ReportsView(BaseView):
    route_base = "/reports"
    default_view = "index"
    base_permissions = ["can_show", "can_render", "can_download"]
    method_permission_name = {
        "index": "show",
        "show": "show",
        "preview": "show",
        "asset": "show",
        "activity": "show",
        "render": "render",
        "download": "download",
    }

    @expose("/")
    @has_access
    def index(self) -> Any:
        return self.render_template(
            "itpm/reports/index.html", title=_("Reports"), reports=report_definitions(current_catalog())
        )

    @expose("/<name>/")
    @has_access
    def show(self, name: str) -> Any:
        records = records_service()
        definition = self._definition(records, name)
        given = {n: request.args.get(n, "") for n in definition.parameters}
        fields = self._fields(records, definition, given)
        return self.render_template(
            "itpm/reports/show.html",
            title=text(definition.title),
            definition=definition,
            fields=fields,
            lang=request.args.get("lang") or language(),
            languages=LANGUAGES,
            **self._activity(records, definition, given, fields),
        )

    @expose("/<name>/activity")
    @has_access
    def activity(self, name: str) -> Any:
        """The person's requests and the kept PDFs, as the page shows them: what its script refreshes."""
        records = records_service()
        definition = self._definition(records, name)
        given = {n: request.args.get(n, "") for n in definition.parameters}
        fields = self._fields(records, definition, given)
        return self.render_template(
            "itpm/reports/_activity.html",
            definition=definition,
            **self._activity(records, definition, given, fields),
        )

    @expose("/<name>/preview/")
    @has_access
    @limit(_preview_limit, key_func=_previewer, exempt_when=_not_a_preview)
    def preview(self, name: str) -> Any:
        records = records_service()
        given, lang = self._given(records, name)
        try:
            html = preview_report(records, name, given, lang)
        except RecordError as error:
            if error.status in (403, 404):
                abort(error.status)
            return self._refused(name, given, error)
        except RenderError as error:
            return self._refused(name, given, error)
        response = Response(html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = PREVIEW_POLICY
        return response

    @expose("/<name>/preview/<path:asset>")
    @has_access
    def asset(self, name: str, asset: str) -> Any:
        content = self._definition(records_service(), name).files.get(asset)
        if content is None:
            abort(404)
        response = Response(content, mimetype=mimetypes.guess_type(asset)[0] or "application/octet-stream")
        response.headers["Content-Security-Policy"] = PREVIEW_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @expose("/<name>/render", methods=["POST"])
    @has_access
    def render(self, name: str) -> Any:
        """Ask for the PDF: checked now (a refusal is shown on the form, nothing queued), rendered by the jobs."""
        records = records_service()
        given, lang = self._given(records, name, request.form)
        try:
            asked = request_report(records, name, given, lang)
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status in (403, 404):
                abort(error.status)
            return self._refused(name, given, error)
        flash(_("The report is being rendered; you will be notified when it is ready."), "info")
        return redirect(url_for(".show", name=name, lang=lang, **asked.arguments))

    @expose("/file/<int:file_id>")
    @has_access
    def download(self, file_id: int) -> Any:
        records = records_service()
        try:
            stored = stored_report(records, file_id)
        except RecordError as error:
            abort(error.status)
        note_read(
            records.session,
            "report.download",
            f"{stored.record_type}/{stored.record_id}",
            {"file": stored.id, "name": stored.filename},
        )
        path = file_path(current_app.extensions["itpm"].settings.instance_path, stored.sha256)
        response = send_file(
            path, mimetype="application/pdf", as_attachment=True, download_name=stored.filename
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    # --- helpers ------------------------------------------------------------

    def _definition(self, records: Records, name: str) -> ReportDefinition:
        try:
            return report_definition(records.catalog, name)
        except RecordError as error:
            abort(error.status)

    def _given(self, records: Records, name: str, source: Any = None) -> tuple[dict[str, str], str]:
        source = request.args if source is None else source
        definition = self._definition(records, name)
        lang = source.get("lang") or language()
        return {n: source.get(n, "") for n in definition.parameters if source.get(n)}, lang

    def _subject(
        self, records: Records, definition: ReportDefinition, given: dict[str, str]
    ) -> Subject | None:
        """The record (or department) whose kept reports the page lists, once it is chosen."""
        for name, parameter in definition.parameters.items():
            value = given.get(name, "")
            if value.isdigit() and (name == definition.attach_to or parameter.ref == DEPARTMENT):
                return Subject(parameter.ref or DEPARTMENT, int(value))
        return None

    def _activity(
        self,
        records: Records,
        definition: ReportDefinition,
        given: dict[str, str],
        fields: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """The person's latest requests for the report, and the PDFs kept on the chosen record."""
        kept: list[Any] = []
        subject = self._subject(records, definition, given)
        if subject is not None:
            try:
                kept = stored_reports(records, subject)
            except RecordError as error:
                abort(error.status)
        asked = requests_of(records.session, records.actor.id, definition.name) if records.actor.id else []
        labels = {f["name"]: f["label"] for f in fields}
        readable = {f["name"]: dict(f["choices"] or []) for f in fields}
        requests = [
            {
                "request": r,
                "parameters": [
                    (labels.get(n, n), readable.get(n, {}).get(str(v), v)) for n, v in r.arguments.items()
                ],
            }
            for r in asked
        ]
        pending = any(r.status in PENDING for r in asked)
        refresh = url_for(".activity", name=definition.name, **{n: v for n, v in given.items() if v})
        return {"kept": kept, "requests": requests, "refresh": refresh if pending else None}

    def _fields(
        self, records: Records, definition: ReportDefinition, given: dict[str, str]
    ) -> list[dict[str, Any]]:
        """What the form needs to draw each parameter: a choice of visible records, departments, or a box."""
        fields = []
        for name, parameter in definition.parameters.items():
            field: dict[str, Any] = {
                "name": name,
                "label": text(parameter.title),
                "required": parameter.required,
                "value": given.get(name, ""),
                "month": parameter.is_month,
                "choices": None,
            }
            if parameter.ref == DEPARTMENT:
                departments = records.session.scalars(select(Department).order_by(Department.name))
                field["choices"] = [(str(d.id), text(d.titles)) for d in departments]
            elif parameter.ref in records.catalog.record_types:
                model = records.model(parameter.ref)
                rows = records.page(parameter.ref, order=[model.id.desc()], page_size=PICKER_SIZE)[1]
                field["choices"] = [(str(r.id), str(r)) for r in rows]
            elif "enum" in parameter.schema:
                titles = parameter.schema.get("x-enum-titles", {})
                field["choices"] = [
                    (str(v), text(titles.get(str(v), str(v)))) for v in parameter.schema["enum"]
                ]
            fields.append(field)
        return fields

    def _refused(self, name: str, given: dict[str, str], error: Exception) -> Any:
        flash(
            _("The report could not be rendered: %(reason)s", reason=str(getattr(error, "message", error))),
            "danger",
        )
        for problem in getattr(error, "problems", []):
            flash(str(problem), "danger")
        return redirect(url_for(".show", name=name, **given))


def reports_about(type_name: str) -> list[ReportDefinition]:
    """The reports kept on records of a type (their `attach_to` refers to it): buttons on a record's page."""
    return [
        d
        for d in report_definitions(current_catalog())
        if d.attach_to and d.parameters[d.attach_to].ref == type_name
    ]


def add_report_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(ReportsView, "Reports", label=_l("Reports"), icon="fa-file-pdf")
    current_app.jinja_env.globals["reports_about"] = reports_about
