"""The landing page after login: staff land on their work (or, where the installation chooses it, their
home dashboard), a client organisation's people on the portal, others (signed out) on the welcome page.

This is the one place the landing is decided: `ITPM_HOME_PAGE=dashboard` (Flask config, e.g. through
`Settings.extra`) sends staff whose role has a home dashboard there; by default they land on My work,
and the dashboards are one click away in the navigation bar.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, redirect, url_for
from flask_appbuilder import IndexView, expose


class HomeView(IndexView):
    index_template = "itpm/index.html"

    @expose("/")
    def index(self) -> Any:
        user = getattr(g, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            if user.client_id:
                return redirect(url_for("PortalView.index"))  # the portal is the home of client roles
            if current_app.config.get("ITPM_HOME_PAGE") == "dashboard" and _has_home_dashboard():
                return redirect(url_for("DashboardsView.index"))
            return redirect(url_for("MyWorkView.index"))  # My work is the home of staff roles
        return super().index()


def _has_home_dashboard() -> bool:
    from itpm.kpis.dashboards import home_dashboard
    from itpm.web.context import records_service

    return home_dashboard(records_service()) is not None
