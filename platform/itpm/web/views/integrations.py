"""The integration tokens page: make a token (shown once, with its signing secret), see who uses
which, revoke one. For the manage_users ability: a token acts as a person.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from itpm.integrations.tokens import (
    TokenError,
    default_scope,
    new_token,
    parse_scope,
    revoke,
    scope_text,
    service_person,
    signing_secret,
)
from itpm.models import Department, IntegrationToken, Person
from itpm.web.context import actor_name, current_catalog, current_runtime

PER_PAGE = 100


class IntegrationTokensView(BaseView):
    route_base = "/integrations"
    default_view = "tokens"
    base_permissions = ["can_tokens", "can_make", "can_revoke"]

    @expose("/", methods=["GET"])
    @has_access
    def tokens(self) -> Any:
        return self._page()

    @expose("/make", methods=["POST"])
    @has_access
    def make(self) -> Any:
        """Make a token and show it, this once, on the answer (never stored, never redirected)."""
        name = request.form.get("integration", "")
        username = request.form.get("person", "").strip()
        scope = request.form.get("scope", "").strip()
        session = current_runtime().sessions()
        try:
            if username:
                person = session.scalar(select(Person).where(Person.username == username))
                if person is None:
                    flash(_("There is no user %(name)s: no token was made.", name=username), "danger")
                    return self._page(form=request.form), 422
            else:
                person = service_person(
                    session, name, "support_agent", request.form.get("department") or None
                )
            token, raw = new_token(
                session, current_catalog(), name, person, actor_name(), parse_scope(scope) if scope else None
            )
        except TokenError as error:
            session.rollback()
            for problem in error.problems:
                flash(f"{problem.path}: {problem.message}", "danger")
            return self._page(form=request.form), 422
        session.commit()
        made = {
            "token": raw,
            "secret": signing_secret(token, current_app.config["SECRET_KEY"]),
            "integration": name,
            "person": person.username,
            "source": self._integrations().get(name, {}).get("source"),
        }
        return self._page(made=made)

    @expose("/revoke", methods=["POST"])
    @has_access
    def revoke(self) -> Any:
        session = current_runtime().sessions()
        token = revoke(session, request.form.get("id", type=int) or 0, actor_name())
        session.commit()
        if token is None:
            flash(_("There is no such token."), "danger")
        else:
            flash(
                _("Token %(prefix)s… is revoked: it is refused from now on.", prefix=token.prefix), "success"
            )
        return redirect(url_for(".tokens"))

    def _integrations(self) -> dict[str, dict[str, Any]]:
        return {d.name: d.body for d in current_catalog().configuration.of_kind("integration")}

    def _page(self, made: dict[str, str] | None = None, form: Any = None) -> Any:
        catalog = current_catalog()
        integrations = self._integrations()
        with current_runtime().session() as session:
            rows = list(
                session.scalars(
                    select(IntegrationToken)
                    .order_by(IntegrationToken.revoked_at.is_not(None), IntegrationToken.id.desc())
                    .limit(PER_PAGE)
                )
            )
            for row in rows:
                row.person_name = row.person.username if row.person else "-"
            departments = [
                (d.name, d.titles) for d in session.scalars(select(Department).order_by(Department.name))
            ]
            session.expunge_all()
        return self.render_template(
            "itpm/integrations/tokens.html",
            rows=rows,
            departments=departments,
            integrations=integrations,
            defaults={name: scope_text(default_scope(body, catalog)) for name, body in integrations.items()},
            scope_text=scope_text,
            made=made,
            form=form or {},
            base_url=request.host_url.rstrip("/"),
            title=_("Integration tokens"),
        )


def add_integration_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(
        IntegrationTokensView,
        "Integration tokens",
        label=_l("Integration tokens"),
        icon="fa-plug",
        category="Security",
    )
