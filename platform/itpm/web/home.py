"""The landing page after login: staff land on their work, others on the welcome page."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose


class HomeView(IndexView):
    index_template = "itpm/index.html"

    @expose("/")
    def index(self) -> Any:
        user = getattr(g, "user", None)
        if user is not None and getattr(user, "is_authenticated", False) and not user.client_id:
            return redirect(url_for("MyWorkView.index"))  # My work is the home of staff roles
        return super().index()
