"""The jobs page: what automations did, what failed and why, a retry button; the webhook delivery log.

For the administer_jobs ability. A failed action shows its error and its next
automatic retry; "Retry now" runs it at once (once: its key still holds).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from itpm.automations.engine import Automations
from itpm.db import utcnow
from itpm.models import ActionRun, OutboxEvent, WebhookDelivery

PER_PAGE = 50
STATUSES = ("failed", "pending", "running", "done")


def _runtime() -> Any:
    return current_app.extensions["itpm"]


class JobsView(BaseView):
    route_base = "/jobs"
    default_view = "actions"
    base_permissions = ["can_actions", "can_retry", "can_webhooks", "can_redeliver"]

    @expose("/", methods=["GET"])
    @has_access
    def actions(self) -> Any:
        status = request.args.get("status", "failed")
        page = max(request.args.get("page", 0, type=int), 0)
        with _runtime().session() as session:
            counts = dict(
                session.execute(select(ActionRun.status, func.count()).group_by(ActionRun.status)).all()
            )
            query = select(ActionRun).order_by(ActionRun.id.desc())
            if status in STATUSES:
                query = query.where(ActionRun.status == status)
            rows = list(session.scalars(query.offset(page * PER_PAGE).limit(PER_PAGE + 1)))
            waiting = session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.handled_at.is_(None))
            )
            session.expunge_all()
        return self.render_template(
            "itpm/jobs/actions.html",
            rows=rows[:PER_PAGE],
            more=len(rows) > PER_PAGE,
            page=page,
            status=status,
            statuses=STATUSES,
            counts=counts,
            waiting=waiting,
            title=_("Jobs"),
        )

    @expose("/retry", methods=["POST"])
    @has_access
    def retry(self) -> Any:
        key = request.form.get("key", "")
        _runtime().sessions().commit()  # the action runs in sessions of its own: this request's holds no lock
        outcome = Automations(_runtime()).retry(key)
        if outcome == "done":
            flash(_("The action was done."), "success")
        elif outcome == "missing":
            flash(_("There is no such action."), "danger")
        else:
            flash(_("The action failed again; its error is shown below."), "danger")
        return redirect(url_for(".actions", status=request.form.get("status", "failed")))

    @expose("/webhooks", methods=["GET"])
    @has_access
    def webhooks(self) -> Any:
        page = max(request.args.get("page", 0, type=int), 0)
        with _runtime().session() as session:
            rows = list(
                session.scalars(
                    select(WebhookDelivery)
                    .order_by(WebhookDelivery.id.desc())
                    .offset(page * PER_PAGE)
                    .limit(PER_PAGE + 1)
                )
            )
            session.expunge_all()
        return self.render_template(
            "itpm/jobs/webhooks.html",
            rows=rows[:PER_PAGE],
            more=len(rows) > PER_PAGE,
            page=page,
            title=_("Webhook deliveries"),
        )

    @expose("/webhooks/redeliver", methods=["POST"])
    @has_access
    def redeliver(self) -> Any:
        """A failed delivery tried again (at the next scheduler tick, with its backoff started afresh)."""
        delivery_id = request.form.get("id", type=int)
        session = _runtime().sessions()  # this request's
        changed = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=utcnow())
        ).rowcount
        session.commit()
        if changed:
            flash(_("The delivery will be tried again within a minute."), "success")
        else:
            flash(_("Only a failed delivery can be tried again."), "danger")
        return redirect(url_for(".webhooks"))


def add_job_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(JobsView, "Jobs", label=_l("Jobs"), icon="fa-cogs", category="Configuration")
