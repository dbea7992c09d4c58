"""A person's approvals: the inbox of requests waiting for them, and the delegations they have given."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from itpm.models import Delegation, Person
from itpm.permissions import record_view_name
from itpm.records.service import RecordError
from itpm.web.context import current_catalog, records_service
from itpm.web.record_display import Bilingual, person_name
from itpm.workflows.engine import Workflows


def inbox_rows(workflows: Workflows) -> list[dict[str, Any]]:
    """The actor's pending approvals, with what a person needs to decide them."""
    rows = []
    for task in workflows.inbox():
        approval = task.approval
        try:
            record = workflows.records.get(approval.record_type, approval.record_id)
        except RecordError:
            continue  # a record no longer visible is not decided from the inbox
        workflow = workflows.workflow(approval.record_type)
        transition = workflow.transitions.get(approval.transition) if workflow else None
        step = transition.approval.steps[approval.step] if transition and transition.approval else None
        rows.append(
            {
                "task": task,
                "approval": approval,
                "record": record,
                "record_view": record_view_name(approval.record_type),
                "type": Bilingual(current_catalog().record_types[approval.record_type].title),
                "transition": Bilingual(transition.title) if transition else approval.transition,
                "step": Bilingual(step.title) if step else task.step_name,
                "delegated": task.approver_id != workflows.actor.id,
            }
        )
    return rows


class ApprovalsView(BaseView):
    route_base = "/approvals"
    default_view = "inbox"
    base_permissions = ["can_inbox", "can_decide", "can_delegations"]

    @expose("/", methods=["GET"])
    @has_access
    def inbox(self) -> Any:
        return self.render_template(
            "itpm/approvals/inbox.html",
            rows=inbox_rows(Workflows(records_service())),
            title=_("My approvals"),
        )

    @expose("/<int:approval_id>/decide", methods=["POST"])
    @has_access
    def decide(self, approval_id: int) -> Any:
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
        return redirect(url_for(".inbox"))

    @expose("/delegations", methods=["GET", "POST"])
    @has_access
    def delegations(self) -> Any:
        records = records_service()
        workflows = Workflows(records)
        if request.method == "POST":
            if request.form.get("delete"):
                delegation = records.session.get(Delegation, request.form.get("delete", type=int))
                if delegation is None or delegation.from_id != workflows.actor.id:
                    abort(404)
                records.session.delete(delegation)
                records.session.commit()
                flash(_("The delegation was removed."), "info")
            else:
                try:
                    to_id = request.form.get("to", type=int)
                    starts = dt.date.fromisoformat(request.form.get("starts_on", ""))
                    ends = dt.date.fromisoformat(request.form.get("ends_on", ""))
                    workflows.delegate(to_id or 0, starts, ends)
                    records.session.commit()
                    flash(_("Your approvals are delegated."), "success")
                except ValueError:
                    flash(_("Give the first and last day as dates."), "danger")
                except RecordError as error:
                    records.session.rollback()
                    reasons = "; ".join(str(p.message) for p in error.problems)
                    flash(f"{error.message} ({reasons})" if reasons else str(error.message), "danger")
            return redirect(url_for(".delegations"))
        given = workflows.delegations()
        names = {
            p.id: person_name(p)
            for p in records.session.scalars(select(Person).where(Person.id.in_({d.to_id for d in given})))
        }
        return self.render_template(
            "itpm/approvals/delegations.html", delegations=given, names=names, title=_("My delegations")
        )


def add_approval_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(
        ApprovalsView,
        "My approvals",
        label=_l("My approvals"),
        icon="fa-stamp",
        category="My work",
        category_label=_l("My work"),
    )
    appbuilder.add_link(
        "My delegations",
        label=_l("My delegations"),
        href="/approvals/delegations",
        icon="fa-user-clock",
        category="My work",
        baseview=ApprovalsView,
    )
