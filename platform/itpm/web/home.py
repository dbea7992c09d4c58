"""The landing page after login: staff land on their work, a client organisation's people on the portal,
others (signed out) on the welcome page."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose


class HomeView(IndexView):
    index_template = "itpm/index.html"

    @expose("/")
    def index(self) -> Any:
        user = getattr(g, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            if user.client_id:
                return redirect(url_for("PortalView.index"))  # the portal is the home of client roles
            return redirect(url_for("MyWorkView.index"))  # My work is the home of staff roles
        return super().index()
