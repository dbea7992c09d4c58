"""People and where they belong: users (Flask-AppBuilder's screens, with department,
team, client organisation, manager, language and time zone), departments, teams,
and the audit log.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, ModelView, expose
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.security.views import UserDBModelView
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import FloatField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from itpm.access import Actor
from itpm.definitions.problems import DefinitionError
from itpm.departments import DepartmentAdministration, DepartmentRefused
from itpm.models import Department, Team
from itpm.planning.workload import parse_leave
from itpm.records.fields import CLIENT_TYPE
from itpm.web.sign_in import new_password_field

PEOPLE_COLUMNS = [
    "department",
    "team",
    "client_id",
    "manager_id",
    "locale",
    "timezone",
    "weekly_hours",
    "leave",
]
PEOPLE_LABELS = {
    "department": _l("Department"),
    "team": _l("Team"),
    "client_id": _l("Client organisation"),
    "manager_id": _l("Manager"),
    "locale": _l("Language"),
    "timezone": _l("Time zone"),
    "weekly_hours": _l("Hours a week"),
    "leave": _l("Leave"),
}


def _client_choices() -> list[tuple[str, str]]:
    """Client organisations to pick a client user's from (the customer records)."""
    catalog = current_app.extensions["itpm_catalog"]
    choices = [("", "—")]
    if CLIENT_TYPE in catalog.record_types:
        model = catalog.models.models[CLIENT_TYPE]
        session = current_app.extensions["itpm"].sessions()
        choices += [(str(r.id), str(r)) for r in session.scalars(select(model).order_by(model.number))]
    return choices


def _manager_choices() -> list[tuple[str, str]]:
    from itpm.models import Person

    session = current_app.extensions["itpm"].sessions()
    people = session.scalars(select(Person).where(Person.active.is_(True)).order_by(Person.first_name))
    return [("", "—")] + [(str(p.id), f"{p.first_name} {p.last_name} ({p.username})") for p in people]


def _readable_leave(_form: Any, field: Any) -> None:
    """Leave that does not read as days or periods is refused at the field, naming the part."""
    try:
        parse_leave(field.data)
    except ValueError as error:
        raise ValidationError(str(error)) from None


def _optional_int(value: Any) -> int | None:
    return int(value) if value not in (None, "", "None") else None


PEOPLE_FIELDS = {
    "client_id": SelectField(
        PEOPLE_LABELS["client_id"],
        choices=_client_choices,
        coerce=_optional_int,
        widget=Select2Widget(),
        description=_l("For a client's users: the organisation whose records they see."),
    ),
    "manager_id": SelectField(
        PEOPLE_LABELS["manager_id"], choices=_manager_choices, coerce=_optional_int, widget=Select2Widget()
    ),
    "locale": SelectField(PEOPLE_LABELS["locale"], choices=[("", "—"), ("zh", "中文"), ("en", "English")]),
    "weekly_hours": FloatField(
        PEOPLE_LABELS["weekly_hours"],
        validators=[Optional(), NumberRange(min=0, max=168)],
        description=_l("Hours a week given to planned work (40 when empty)."),
    ),
    "leave": StringField(
        PEOPLE_LABELS["leave"],
        validators=[Optional(), Length(max=2000), _readable_leave],
        filters=[lambda v: v.strip() if isinstance(v, str) and v.strip() else None],
        description=_l(
            "Days away: 2026-12-10..2026-12-14, 2027-01-04 (periods or single days, separated by commas)."
        ),
    ),
}


class PersonView(UserDBModelView):
    """Flask-AppBuilder's user screens, with where a person belongs."""

    list_columns = ["first_name", "last_name", "username", "email", "department", "team", "active", "roles"]
    add_columns = [*UserDBModelView.add_columns, *PEOPLE_COLUMNS]
    edit_columns = ["first_name", "last_name", "username", "active", "email", "roles", *PEOPLE_COLUMNS]
    show_fieldsets = [
        *UserDBModelView.show_fieldsets,
        (_l("Where they belong"), {"fields": PEOPLE_COLUMNS, "expanded": True}),
    ]
    search_columns = ["first_name", "last_name", "username", "email", "department", "team", "active", "roles"]
    label_columns = {**UserDBModelView.label_columns, **PEOPLE_LABELS}
    add_form_extra_fields = {
        **UserDBModelView.add_form_extra_fields,
        "password": new_password_field(_l("Password")),
        **PEOPLE_FIELDS,
    }
    edit_form_extra_fields = PEOPLE_FIELDS


class DepartmentView(ModelView):
    datamodel = SQLAInterface(Department)
    list_columns = ["name", "title_en", "title_zh"]
    add_columns = edit_columns = show_columns = ["name", "title_en", "title_zh"]
    label_columns = {"name": _l("Name"), "title_en": _l("Title (English)"), "title_zh": _l("Title (Chinese)")}
    base_order = ("name", "asc")


class TeamView(ModelView):
    datamodel = SQLAInterface(Team)
    list_columns = ["name", "title_en", "title_zh", "department"]
    add_columns = edit_columns = show_columns = ["name", "title_en", "title_zh", "department"]
    label_columns = {
        "name": _l("Name"),
        "title_en": _l("Title (English)"),
        "title_zh": _l("Title (Chinese)"),
        "department": _l("Department"),
    }
    base_order = ("name", "asc")


def add_people_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(
        DepartmentView, "Departments", label=_l("Departments"), icon="fa-sitemap", category="Security"
    )
    appbuilder.add_view(TeamView, "Teams", label=_l("Teams"), icon="fa-users", category="Security")
    appbuilder.add_view(
        DepartmentAdminView,
        "My department",
        label=_l("My department"),
        icon="fa-building",
        category="Security",
    )


class DepartmentAdminView(BaseView):
    """A department admin's page: the pilots their department runs, and its people's roles."""

    route_base = "/my-department"
    default_view = "index"
    method_permission_name = {"index": "show", "pilot": "edit", "roles": "edit"}
    base_permissions = ["can_show", "can_edit"]

    def _administration(self) -> DepartmentAdministration:
        runtime = current_app.extensions["itpm"]
        session = runtime.sessions()
        try:
            return DepartmentAdministration(
                session, runtime.registry(session), current_app.extensions["itpm_catalog"], Actor.of(g.user)
            )
        except DepartmentRefused:
            abort(403)

    @expose("/", methods=["GET"])
    @has_access
    def index(self) -> Any:
        administration = self._administration()
        people = administration.people()
        return self.render_template(
            "itpm/my_department.html",
            department=administration.department,
            me=administration.actor.id,
            pilots=administration.pilots(),
            people=people,
            assignable=administration.assignable_roles(),
            roles={p.id: {r.name for r in p.roles} for p in people},
            role_titles={
                name: body["title"] for name, body in current_app.extensions["itpm_catalog"].roles.items()
            },
        )

    @expose("/pilot/<type_name>", methods=["POST"])
    @has_access
    def pilot(self, type_name: str) -> Any:
        try:
            self._administration().run_pilot(type_name, request.form.get("enabled") == "1")
        except (DepartmentRefused, DefinitionError) as error:
            flash(str(error), "danger")
        return redirect(url_for(".index"))

    @expose("/roles/<int:person_id>", methods=["POST"])
    @has_access
    def roles(self, person_id: int) -> Any:
        try:
            self._administration().set_roles(person_id, request.form.getlist("role"))
        except DepartmentRefused as error:
            flash(str(error), "danger")
        else:
            flash(_l("Roles saved."), "success")
        return redirect(url_for(".index"))
