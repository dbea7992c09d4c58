"""The bell: a person's in-app notifications, and the unread count in the navigation bar.

Each person sees only their own; another's is a 404. What notifications are
written, and when, is the automations' business (`itpm.notifications`).
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _

from itpm.db import utcnow
from itpm.models import Person
from itpm.notifications import KINDS, mark_all_read, mark_read, notifications_of, unread_count
from itpm.web.record_display import Bilingual

PER_PAGE = 50


def _session() -> Any:
    return current_app.extensions["itpm"].sessions()


def _me() -> int:
    return g.user.id


def bell_count() -> int:
    """The signed-in person's unread count, asked of the database once per request however often shown."""
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    if "itpm_unread" not in g:
        g.itpm_unread = unread_count(_session(), user.id)
    return g.itpm_unread


def _inside(link: str) -> bool:
    """Whether a notification's link stays in the app (never a redirect to elsewhere)."""
    return link.startswith("/") and not link.startswith(("//", "/\\"))


class NotificationView(BaseView):
    route_base = "/notifications"
    default_view = "list"

    @expose("/", methods=["GET"])
    @has_access
    def list(self) -> Any:
        page = max(request.args.get("page", 0, type=int), 0)
        rows = notifications_of(_session(), _me(), page=page, per_page=PER_PAGE + 1)
        return self.render_template(
            "itpm/notifications/list.html",
            notifications=rows[:PER_PAGE],
            page=page,
            more=len(rows) > PER_PAGE,
            title=_("Notifications"),
        )

    @expose("/<int:notification_id>", methods=["GET"])
    @has_access
    def open(self, notification_id: int) -> Any:
        found = mark_read(_session(), _me(), notification_id, utcnow())
        if found is None:
            abort(404)
        return redirect(found.link if _inside(found.link) else url_for(".list"))

    @expose("/settings", methods=["GET", "POST"])
    @has_access
    def settings(self) -> Any:
        """Which kinds of notification also reach the person by e-mail (all, until they choose)."""
        session = _session()
        person = session.get(Person, _me())
        if request.method == "POST":
            chosen = request.form.getlist("kind")
            unknown = sorted(set(chosen) - set(KINDS))
            if unknown:
                flash(_("There is no kind of notification %(kind)s.", kind=", ".join(unknown)), "danger")
                return redirect(url_for(".settings"))
            person.email_kinds = [k for k in KINDS if k in chosen]
            session.commit()
            flash(_("Your e-mail choices are saved."), "success")
            return redirect(url_for(".settings"))
        return self.render_template(
            "itpm/notifications/settings.html",
            kinds=KINDS,
            chosen=set(KINDS) if person.email_kinds is None else set(person.email_kinds),
            Bilingual=Bilingual,
            title=_("What reaches me by e-mail"),
        )

    @expose("/read", methods=["POST"])
    @has_access
    def read_all(self) -> Any:
        if mark_all_read(_session(), _me(), utcnow()):
            flash(_("All notifications are marked as read."), "info")
        return redirect(url_for(".list"))


def add_notification_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view_no_menu(NotificationView)
    current_app.jinja_env.globals["bell_count"] = bell_count
