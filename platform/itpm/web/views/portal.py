"""The client portal's pages (`/portal/`): the home of a client organisation's people.

What is shown is `itpm.portal.service`'s, read as the portal's person through the records
service; signing off a deliverable is its workflow's transition (`itpm.workflows.engine`),
so roles, field rules and history are the usual ones. Staff with the `view_portal` ability
open it "as a client" of an organisation: read-only, with the rights of that organisation's
client roles and no person of theirs (nothing of anyone's own).
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, flash, g, redirect, request, send_file, session, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from itpm.access import Actor
from itpm.db import utcnow
from itpm.files import MAX_FILE_BYTES, FileRefused, file_path, store_file
from itpm.kpis.dashboards import client_tiles
from itpm.models import ApprovalRequest, Person
from itpm.portal import surveys
from itpm.portal.certificate import keep_certificate
from itpm.portal.service import DELIVERABLE, TICKET_TYPES, Portal
from itpm.records.forms import Entry, FormSpec, Section
from itpm.records.service import Forbidden, RecordError, Records
from itpm.reports.requests import request_report
from itpm.texts import language, text
from itpm.web.context import current_catalog, current_runtime, records_service
from itpm.web.record_display import (
    Bilingual,
    choice_label,
    display,
    person_name,
    person_zone,
    sla_status_label,
)
from itpm.web.record_forms import parse_form
from itpm.workflows.engine import Workflows

#: The session key of the organisation a staff member looks at the portal as.
AS_CLIENT = "itpm_portal_client"
#: The roles a staff member borrows to look as a client (those the installation defines).
CLIENT_ROLES = ("client", "client_manager")
CONTACT_TITLES = {"account_manager": _l("Account manager"), "project_manager": _l("Project manager")}


def viewing_as() -> int | None:
    """The organisation a staff member is looking at the portal as, if they may."""
    user = g.user
    if not getattr(user, "is_authenticated", False) or user.client_id:
        return None
    chosen = session.get(AS_CLIENT)
    staff = records_service()
    if not chosen or "view_portal" not in staff.access.abilities(staff.actor):
        return None
    return chosen


def portal_records() -> Records:
    """The records service as the portal's person: the client user, or the organisation a staff looks as."""
    user = g.user
    if user.client_id:
        return records_service()
    client = viewing_as()
    if client is None:
        abort(404)
    runtime = current_runtime()
    catalog = current_catalog()
    actor = Actor(
        id=None,
        username=f"{user.username} (as client)",
        roles=frozenset(r for r in CLIENT_ROLES if r in catalog.roles),
        client_id=client,
    )
    return Records(runtime.sessions(), catalog, actor, timezone=runtime.settings.timezone)


def portal() -> Portal:
    return Portal(portal_records(), utcnow())


def _writable() -> None:
    """A staff member's look as a client changes nothing."""
    if not g.user.client_id:
        abort(403)


class PortalView(BaseView):
    route_base = "/portal"
    default_view = "index"

    def render(self, template: str, **context: Any) -> str:
        catalog = current_catalog()
        return self.render_template(
            f"itpm/portal/{template}",
            Bilingual=Bilingual,
            choice_label=choice_label,
            display=display,
            person_name=person_name,
            sla_status=sla_status_label,
            zone=person_zone(),
            spec=catalog.record_types.get,
            as_client=viewing_as(),
            lang=language(),
            file_limit_mb=MAX_FILE_BYTES // 1024 // 1024,
            **context,
        )

    @expose("/", methods=["GET"])
    @has_access
    def index(self) -> Any:
        if not g.user.client_id and viewing_as() is None:
            return self._choose()
        view = portal()
        return self.render(
            "home.html",
            portal=view,
            cards=view.projects(),
            tickets=view.tickets(open_only=True, limit=10),
            approvals=view.my_approvals(),
            figures=client_tiles(view.records, language()),
            nps_asked=surveys.asks_nps(view.records, self._quarter(view.records)),
            title=_("Client portal"),
        )

    def _choose(self) -> Any:
        """Staff: the organisations they may look at the portal as."""
        staff = records_service()
        if "view_portal" not in staff.access.abilities(staff.actor) or not staff.catalog.record_types.get(
            "customer"
        ):
            abort(403)
        model = staff.model("customer")
        customers = list(staff.session.scalars(staff.query("customer").order_by(model.id).limit(500)))
        return self.render(
            "choose.html", customers=customers, rates=response_rates(staff), title=_("Client portal")
        )

    @expose("/as/<int:client>", methods=["POST"])
    @has_access
    def look_as(self, client: int) -> Any:
        staff = records_service()
        if g.user.client_id or "view_portal" not in staff.access.abilities(staff.actor):
            abort(403)
        try:
            staff.get("customer", client)
        except RecordError:
            abort(404)
        session[AS_CLIENT] = client
        return redirect(url_for(".index"))

    @expose("/as/stop", methods=["POST"])
    @has_access
    def stop_looking(self) -> Any:
        session.pop(AS_CLIENT, None)
        return redirect(url_for(".index"))

    @expose("/project/<int:pk>", methods=["GET"])
    @has_access
    def project(self, pk: int) -> Any:
        view = portal()
        try:
            page = view.project(pk)
        except RecordError as error:
            abort(error.status)
        return self.render(
            "project.html", portal=view, page=page, contact_titles=CONTACT_TITLES, title=str(page.card.record)
        )

    @expose("/project/<int:pk>/report/<name>", methods=["POST"])
    @has_access
    def ask_report(self, pk: int, name: str) -> Any:
        """Ask for a report about the project (this month's), rendered by the jobs as the person: it is
        kept on the project, listed under its reports, and the person is told when it is ready."""
        _writable()
        records = records_service()
        view = Portal(records, utcnow())
        try:
            wanted = next(
                (d for d in view.reports_to_ask(records.get("project", pk)) if d.name == name), None
            )
            if wanted is None:
                abort(404)
            request_report(records, name, {wanted.attach_to: pk}, language())
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status in (403, 404):
                abort(error.status)
            flash(str(error.message), "danger")
        else:
            flash(_("The report is being prepared; it will be listed here, and you will be told."), "info")
        return redirect(url_for(".project", pk=pk) + "#reports")

    @expose("/deliverable/<int:pk>", methods=["GET"])
    @has_access
    def deliverable(self, pk: int) -> Any:
        view = portal()
        records = view.records
        try:
            record = records.get(DELIVERABLE, pk)
            files = records.files(DELIVERABLE, pk)
            history = records.history(DELIVERABLE, pk)
        except RecordError as error:
            abort(error.status)
        workflows = Workflows(records)
        may_decide = g.user.client_id and {t.name for t in workflows.available(record)} >= {
            "accept",
            "reject",
        }
        return self.render(
            "deliverable.html",
            portal=view,
            record=record,
            data=records.data(record),
            files=files,
            history=history,
            may_decide=may_decide,
            survey=surveys.asks(records, record),
            title=str(record),
        )

    @expose("/deliverable/<int:pk>/decide", methods=["POST"])
    @has_access
    def decide(self, pk: int) -> Any:
        """Accept or reject a deliverable (its workflow's transition), with the client's comment."""
        _writable()
        records = records_service()
        decision = request.form.get("decision")
        comment = request.form.get("comment", "").strip()
        if decision not in ("accept", "reject"):
            abort(400)
        data = {"acceptance_note": comment} if decision == "reject" and comment else {}
        try:
            record = records.get(DELIVERABLE, pk, load=("project", "client"))
            Workflows(records).take(
                DELIVERABLE, pk, decision, data, comment, request.form.get("version", type=int)
            )
            if decision == "accept":
                keep_certificate(records, record, comment, current_runtime().settings.instance_path)
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
            spec = records.catalog.record_types[DELIVERABLE]
            for problem in error.problems:
                f = spec.fields.get(problem.path.rsplit("/", 1)[-1])
                label = text({"en": f.schema.get("title"), "zh": f.schema.get("x-title-zh")}) if f else ""
                flash(f"{label}: {problem.message}" if label else str(problem.message), "danger")
            return redirect(url_for(".deliverable", pk=pk))
        flash(
            _("Accepted: thank you.") if decision == "accept" else _("Rejected: the team has your reasons.")
        )
        return redirect(url_for(".deliverable", pk=pk))

    @expose("/file/<type_name>/<int:pk>/<int:file_id>", methods=["GET"])
    @has_access
    def download(self, type_name: str, pk: int, file_id: int) -> Response:
        """A file of a record the portal's person may read (its own rules: `Records.files`)."""
        if type_name not in (DELIVERABLE, "project", *TICKET_TYPES):
            abort(404)
        try:
            files = {f.id: f for f in portal_records().files(type_name, pk)}
        except RecordError as error:
            abort(error.status)
        stored = files.get(file_id)
        if stored is None:
            abort(404)
        path = file_path(current_runtime().settings.instance_path, stored.sha256)
        response = send_file(
            path, mimetype=stored.content_type, as_attachment=True, download_name=stored.filename
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @expose("/tickets/", methods=["GET"])
    @has_access
    def tickets(self) -> Any:
        view = portal()
        return self.render("tickets.html", portal=view, tickets=view.tickets(), title=_("Tickets"))

    @expose("/ticket/<type_name>/<int:pk>", methods=["GET"])
    @has_access
    def ticket(self, type_name: str, pk: int) -> Any:
        view = portal()
        records = view.records
        try:
            record = view.ticket(type_name, pk)
            comments = records.comments(type_name, pk)
            files = records.files(type_name, pk)
        except RecordError as error:
            abort(error.status)
        return self.render(
            "ticket.html",
            portal=view,
            record=record,
            data=records.data(record),
            comments=comments,
            authors=records.authors(comments),
            files=files,
            sla=records.as_json(record).get("sla"),
            survey=surveys.asks(records, record),
            waiting=view.waiting_approval(record),
            title=str(record),
        )

    @expose("/ticket/<type_name>/<int:pk>/approval/<int:approval_id>", methods=["POST"])
    @has_access
    def approve(self, type_name: str, pk: int, approval_id: int) -> Any:
        """The client's step of a ticket's approval (a change request's client sign-off), decided by the
        person it waits for (`Workflows.decide`: their task, a reason to reject, a line in the history)."""
        _writable()
        if type_name not in TICKET_TYPES:
            abort(404)
        records = records_service()
        approve = request.form.get("decision") == "approve"
        if request.form.get("decision") not in ("approve", "reject"):
            abort(400)
        try:
            approval = records.session.get(ApprovalRequest, approval_id)
            if approval is None or (approval.record_type, approval.record_id) != (type_name, pk):
                abort(404)
            Workflows(records).decide(approval_id, approve, request.form.get("comment", ""))
            records.session.commit()
        except Forbidden:
            records.session.rollback()
            abort(403)
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
        else:
            flash(
                _("Approved: thank you.") if approve else _("Rejected: the team has your reasons."), "success"
            )
        return redirect(url_for(".ticket", type_name=type_name, pk=pk))

    @expose("/ticket/<type_name>/<int:pk>/survey", methods=["POST"])
    @has_access
    def rate(self, type_name: str, pk: int) -> Any:
        """The closing survey answered on the ticket's page."""
        _writable()
        return self._answer(records_service(), type_name, pk)

    @expose("/survey/<token>", methods=["GET", "POST"])
    def survey(self, token: str) -> Any:
        """The one-click link of a survey e-mail: no sign-in, answered once, as the person it was sent to."""
        records = self._survey_records(token)
        ticket = surveys.read_token(current_app.config["SECRET_KEY"], token)
        if ticket.type_name == surveys.NPS:
            return self._nps(records, surveys.token_quarter(ticket), url_for(".survey", token=token))
        if request.method == "POST":
            return self._answer(records, ticket.type_name, ticket.record_id, token)
        try:
            record = records.get(ticket.type_name, ticket.record_id)
        except RecordError:
            abort(404)
        return self.render(
            "survey.html",
            portal=Portal(records, utcnow()),
            record=record,
            asks=surveys.asks(records, record),
            token=token,
            title=_("How did we do?"),
        )

    @expose("/nps", methods=["GET", "POST"])
    @has_access
    def nps(self) -> Any:
        """This quarter's question, answered in the portal (the e-mail's link is `survey`)."""
        _writable()
        records = records_service()
        return self._nps(records, self._quarter(records), url_for(".nps"))

    @staticmethod
    def _quarter(records: Records) -> str:
        return surveys.quarter_of(records.clock().astimezone(records.zone).date())

    def _nps(self, records: Records, quarter: str, action: str) -> Any:
        if request.method == "POST":
            try:
                surveys.answer_nps(
                    records,
                    quarter,
                    request.form.get("nps"),
                    request.form.get("stars"),
                    request.form.get("comment", ""),
                )
                records.session.commit()
            except RecordError as error:
                records.session.rollback()
                flash(str(error.message), "danger")
                for problem in error.problems:
                    flash(str(problem.message), "danger")
            else:
                flash(_("Thank you for your answer."), "success")
            return redirect(action)
        return self.render(
            "nps.html",
            asks=surveys.asks_nps(records, quarter),
            quarter=surveys.quarter_title(quarter),
            action=action,
            title=_("Would you recommend us?"),
        )

    def _survey_records(self, token: str) -> Records:
        try:
            ticket = surveys.read_token(current_app.config["SECRET_KEY"], token)
        except RecordError:
            abort(404)
        runtime = current_runtime()
        person = runtime.sessions().get(Person, ticket.person_id)
        if person is None or not person.active or not person.client_id:
            abort(404)
        return Records(
            runtime.sessions(), current_catalog(), Actor.of(person), timezone=runtime.settings.timezone
        )

    def _answer(self, records: Records, type_name: str, pk: int, token: str | None = None) -> Any:
        if type_name not in surveys.SURVEYED:
            abort(404)
        try:
            surveys.answer(records, type_name, pk, request.form.get("stars"), request.form.get("comment", ""))
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
        else:
            flash(_("Thank you for your answer."), "success")
        if token is not None:
            return redirect(url_for(".survey", token=token))
        if type_name == DELIVERABLE:
            return redirect(url_for(".deliverable", pk=pk))
        return redirect(url_for(".ticket", type_name=type_name, pk=pk))

    @expose("/new/<type_name>", methods=["GET", "POST"])
    @has_access
    def new_ticket(self, type_name: str) -> Any:
        """File a ticket with the form the admin defines, less what the person's roles hide or make read-only."""
        _writable()
        records = records_service()
        view = Portal(records, utcnow())
        spec = next((s for s in view.ticket_types("create") if s.name == type_name), None)
        if spec is None:
            abort(404)
        entries = ticket_entries(records, spec)
        values: dict[str, Any] = {n: request.args.get(n) for n in spec.fields if request.args.get(n)}
        problems: list[Any] = []
        if request.method == "POST":
            form = FormSpec((Section({"en": "", "zh": ""}, 1, tuple(entries)),))
            parsed = parse_form(spec, form, request.form, request.files, person_zone())
            values = {**parsed.data}
            problems = parsed.problems
            if not problems:
                try:
                    record = records.create(
                        type_name, {k: v for k, v in parsed.data.items() if v is not None}
                    )
                    records.attach(type_name, record.id, stored_uploads(records, type_name))
                    records.session.commit()
                except FileRefused as error:
                    records.session.rollback()
                    flash(str(error), "danger")
                except RecordError as error:
                    records.session.rollback()
                    if error.status in (403, 404):
                        abort(error.status)
                    problems = error.problems or []
                    flash(str(error.message), "danger")
                else:
                    flash(_("%(number)s was created.", number=record.number), "success")
                    return redirect(url_for(".ticket", type_name=type_name, pk=record.id))
        return self.render(
            "new_ticket.html",
            portal=view,
            form_spec=spec,
            entries=entries,
            values=values,
            problems={p.path.rsplit("/", 1)[-1]: p.message for p in problems},
            projects=view.project_records(),  # the choices only: a card reads each project's work
            title=text(spec.title),
        )

    @expose("/ticket/<type_name>/<int:pk>/reply", methods=["POST"])
    @has_access
    def reply(self, type_name: str, pk: int) -> Any:
        """A public comment on one's ticket, with files if any (a client's user never writes an internal one)."""
        _writable()
        if type_name not in TICKET_TYPES:
            abort(404)
        records = records_service()
        try:
            records.add_comment(type_name, pk, request.form.get("body", ""))
            records.attach(type_name, pk, stored_uploads(records, type_name))
            records.session.commit()
        except FileRefused as error:
            records.session.rollback()
            flash(str(error), "danger")
        except Forbidden:
            records.session.rollback()
            abort(403)
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
        return redirect(url_for(".ticket", type_name=type_name, pk=pk) + "#comments")


def response_rates(records: Records) -> list[tuple[str, int, int]]:
    """How many of the surveys asked came back (of what the staff member may read): closed tickets and
    accepted deliverables, and this quarter's NPS."""
    found = []
    for type_name in surveys.SURVEYED:
        if type_name in records.catalog.record_types and records.access.can(
            records.actor, records.catalog.record_types[type_name], "read"
        ):
            asked, answered = surveys.response_rate(records, type_name)
            found.append((text(records.catalog.record_types[type_name].title), asked, answered))
    quarter = surveys.quarter_of(records.clock().astimezone(records.zone).date())
    asked, answered = surveys.nps_response_rate(records, quarter)
    found.append((_("NPS, %(quarter)s", quarter=surveys.quarter_title(quarter)), asked, answered))
    return found


#: The form input a client's files come in (on a new ticket and on a reply).
ATTACHMENTS = "attachments"


def stored_uploads(records: Records, type_name: str) -> list[int]:
    """Keep the files sent with the form (the files layer's size rule; FileRefused names the file), as
    the person's new uploads for `type_name`: `Records.attach` then puts them on the record."""
    root = current_runtime().settings.instance_path
    uploads = [u for u in request.files.getlist(ATTACHMENTS) if u and u.filename]
    return [
        store_file(records.session, root, u.stream, u.filename, u.mimetype, records.actor, type_name).id
        for u in uploads
    ]


#: The kinds of field the portal's ticket form has inputs for (others stay on the staff screens).
FORM_KINDS = ("text", "richtext", "enum", "integer", "number", "boolean", "date", "datetime", "ref")


def ticket_entries(records: Records, spec: Any) -> list[Entry]:
    """The admin's form for a ticket type as the portal's person fills it: the entries their roles may
    write, of the kinds the portal has inputs for, a reference only to a project."""
    unwritable = records.access.hidden_fields(records.actor, spec) | records.access.read_only_fields(
        records.actor, spec
    )
    found = []
    for entry in records.catalog.forms[spec.name].entries:
        f = spec.fields.get(entry.field)
        if f is None or entry.readonly or entry.field in unwritable or f.schema.get("readOnly"):
            continue
        if f.kind not in FORM_KINDS or (f.kind == "ref" and f.target != "project"):
            continue
        found.append(entry)
    return found


def add_portal_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view_no_menu(PortalView)
    # staff with `view_portal` (its menu permission, `itpm.permissions`) open it as a client organisation
    appbuilder.add_link("Client portal", href="/portal/", label=_l("Client portal"), icon="fa-handshake")
