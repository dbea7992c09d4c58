"""The personal-data screens (Security → Personal data), for the manage_personal_data ability: ask for a
person's subject-access export and download it once a job made it; ask for a person's erasure, and
approve or reject one asked by another admin. The services (`itpm.privacy`) hold the rules."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, send_file, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from itpm.audit import note_read
from itpm.files import file_path
from itpm.models import Person, PrivacyRequest, StoredFile
from itpm.privacy.erasure import PrivacyRefused, decide_erasure, request_erasure
from itpm.privacy.export import EXPORT_FILES
from itpm.privacy.jobs import request_export
from itpm.web.context import current_actor, current_catalog, current_runtime

STATUSES = {
    "awaiting_approval": _l("Awaiting approval"),
    "queued": _l("Waiting"),
    "running": _l("Running"),
    "done": _l("Done"),
    "rejected": _l("Rejected"),
    "failed": _l("Failed"),
}
KINDS = {"export": _l("Subject-access export"), "erasure": _l("Erasure")}


class PrivacyView(BaseView):
    route_base = "/privacy"
    default_view = "index"
    base_permissions = ["can_index", "can_ask", "can_decide", "can_download"]

    @expose("/", methods=["GET"])
    @has_access
    def index(self) -> Any:
        session = current_runtime().sessions()
        people = session.execute(
            select(Person.id, Person.username, Person.first_name, Person.last_name).order_by(Person.username)
        ).all()
        requests = list(session.scalars(select(PrivacyRequest).order_by(PrivacyRequest.id.desc()).limit(200)))
        return self.render_template(
            "itpm/privacy/index.html",
            people=people,
            names={p.id: p.username for p in people},
            requests=requests,
            statuses=STATUSES,
            kinds=KINDS,
            me=current_actor().id,
            title=_("Personal data"),
        )

    @expose("/ask", methods=["POST"])
    @has_access
    def ask(self) -> Any:
        """An export (made by a job) or an erasure (waiting for a second admin) of the person chosen."""
        session = current_runtime().sessions()
        person_id = request.form.get("person", type=int)
        if person_id is None:
            flash(_("person: choose the person."), "danger")
            return redirect(url_for(".index"))
        try:
            if request.form.get("kind") == "erasure":
                request_erasure(session, person_id, current_actor(), request.form.get("reason", ""))
                flash(_("The erasure waits for a second admin's approval."), "success")
            else:
                request_export(session, person_id, current_actor())
                flash(_("The export is being made; download it here when it is done."), "success")
            session.commit()
        except PrivacyRefused as error:
            session.rollback()
            flash(str(error), "danger")
        return redirect(url_for(".index"))

    @expose("/decide", methods=["POST"])
    @has_access
    def decide(self) -> Any:
        session = current_runtime().sessions()
        approve = request.form.get("decision") == "approve"
        try:
            done = decide_erasure(
                session,
                current_catalog(),
                request.form.get("request", type=int) or 0,
                current_actor(),
                approve,
                current_runtime().settings.instance_path,
            )
            flash(
                _("The person was erased.") if done.status == "done" else _("The erasure was rejected."),
                "success",
            )
        except PrivacyRefused as error:
            session.rollback()
            flash(str(error), "danger")
        return redirect(url_for(".index"))

    @expose("/download/<int:pk>", methods=["GET"])
    @has_access
    def download(self, pk: int) -> Any:
        session = current_runtime().sessions()
        found = session.get(PrivacyRequest, pk)
        stored = session.get(StoredFile, found.file_id) if found is not None and found.file_id else None
        if stored is None or stored.record_type != EXPORT_FILES:
            abort(404)
        note_read(session, "privacy.download", f"privacy_request/{pk}", {"person": found.person_id})
        response = send_file(
            file_path(current_runtime().settings.instance_path, stored.sha256),
            mimetype="application/zip",
            as_attachment=True,
            download_name=stored.filename,
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def add_privacy_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(
        PrivacyView, "Personal data", label=_l("Personal data"), icon="fa-user-secret", category="Security"
    )
