"""Flask-AppBuilder's roles and permissions, kept in step with the published definitions.

Publishing definitions creates, in the publishing transaction, the permissions
of the screens and APIs that record types bring, and sets each role's
Flask-AppBuilder permissions from its `role` definition: what a role may do
with records decides which screens it reaches (list and show for read, add for
create, edit for write, delete for delete), and its abilities which admin
screens. Which rows and fields it sees is decided per request by
`itpm.access.Access`, not here. The admin role keeps every permission.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_appbuilder.security.sqla.models import Permission, PermissionView, Role, ViewMenu
from sqlalchemy import select
from sqlalchemy.orm import Session

from itpm.definitions.checks import Configuration
from itpm.definitions.meta import MetaSchemas
from itpm.records.fields import RecordTypeSpec

ADMIN_ROLE = "admin"
RECORD_PERMISSIONS = ("can_list", "can_show", "can_add", "can_edit", "can_delete", "can_export")
#: Which record permission each action of a role gives.
ACTION_PERMISSIONS = {
    "read": ("can_list", "can_show"),
    "create": ("can_add",),
    "write": ("can_edit",),
    "delete": ("can_delete",),
    "export": ("can_export",),
}

#: What every signed-in person may use: their own profile and password, people pickers, the menu.
EVERYONE = {
    "ResetMyPasswordView": None,
    "UserInfoEditView": None,
    "PeopleLookup": None,
    "MenuApi": None,
    "OpenApi": None,
    "SwaggerView": None,
    "NotificationView": None,
    "ApprovalsView": None,
    "MyWorkView": None,
    # the client portal: a client's user sees their organisation there; staff only with `view_portal`
    "PortalView": None,
    # dashboards and KPIs: which KPI a person reads, over which rows, is `itpm.kpis`'s to decide
    "DashboardsView": None,
    "Dashboards": None,
    "KpisApi": None,
    "My work": None,
    "My to-do": None,
    "My approvals": None,
    "My delegations": None,
    # imports: what a person may import is what they may create and change (`itpm.records.imports`)
    "ImportsView": None,
    "Import": None,
    # the people screens are itpm's PersonView (a UserDBModelView): permissions go by the class name
    "PersonView": ("can_userinfo", "resetmypassword", "userinfoedit"),
}
#: The views (and menu entries) each ability opens; None means every permission on the view.
ABILITY_VIEWS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "manage_definitions": {
        "DefinitionView": None,
        "Configuration": None,
        "Definitions": None,
        **{f"definitions_{kind}": None for kind in MetaSchemas().kinds},  # a menu entry per kind
    },
    "manage_users": {
        "PersonView": None,
        "RoleModelView": ("can_list", "can_show"),
        "DepartmentView": None,
        "TeamView": None,
        "Security": None,
        "List Users": None,
        "List Roles": None,
        "Departments": None,
        "Teams": None,
        "IntegrationTokensView": None,
        "Integration tokens": None,
    },
    "read_audit": {"AuditView": None, "Audit log": None},
    "manage_personal_data": {"PrivacyView": None, "Personal data": None},
    "administer_jobs": {"JobsView": None, "Jobs": None, "Configuration": None},
    "manage_department": {"DepartmentAdminView": None, "My department": None},
    # the portal's page itself is everyone's (`EVERYONE`); this is its menu entry for staff
    "view_portal": {"Client portal": None},
}


#: The planning screens and the schedule API, for staff: roles that read some records beyond their
#: client organisation's (the screens refuse a client organisation's user whatever their role).
PLANNING_VIEWS: dict[str, tuple[str, ...] | None] = {
    "PlanningView": None,
    "PlanningApi": None,
    "Planning": None,
    "Workload": None,
}

#: The reports screen, for roles that may report on some records.
REPORT_VIEWS: dict[str, tuple[str, ...] | None] = {"ReportsView": None, "Reports": None}


def record_view_name(type_name: str) -> str:
    """The view (blueprint and permission) name of a record type's screens and API."""
    return f"records_{type_name}"


class PermissionViews:
    """Flask-AppBuilder's permissions on views, read in one query and created when missing (a publish
    asks for some 500 of them: one query each made the permissions most of a publish's time)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        rows = session.execute(
            select(PermissionView, Permission.name, ViewMenu.name)
            .join(Permission, PermissionView.permission_id == Permission.id)
            .join(ViewMenu, PermissionView.view_menu_id == ViewMenu.id)
        )
        self.found: dict[tuple[str, str], PermissionView] = {(p, v): pv for pv, p, v in rows}
        self.permissions = {pv.permission.name: pv.permission for pv in self.found.values()}
        self.menus = {pv.view_menu.name: pv.view_menu for pv in self.found.values()}

    def get(self, permission: str, view: str) -> PermissionView:
        """The permission on a view, created if missing."""
        found = self.found.get((permission, view))
        if found is not None:
            return found
        perm = self.permissions.get(permission) or self.session.scalar(
            select(Permission).where(Permission.name == permission)
        )
        menu = self.menus.get(view) or self.session.scalar(select(ViewMenu).where(ViewMenu.name == view))
        perm, menu = perm or Permission(name=permission), menu or ViewMenu(name=view)
        self.session.add_all([perm, menu])
        found = PermissionView(permission=perm, view_menu=menu)
        self.session.add(found)
        self.session.flush()
        self.found[(permission, view)] = found
        self.permissions[permission], self.menus[view] = perm, menu
        return found

    def on_views(self, views: dict[str, tuple[str, ...] | None]) -> list[PermissionView]:
        """The existing permissions on the named views (those given, or all of them)."""
        return [
            pv
            for (permission, view), pv in self.found.items()
            if view in views and (views[view] is None or permission in views[view])
        ]


def record_type_permissions(grants: PermissionViews, spec: RecordTypeSpec) -> list[PermissionView]:
    view = record_view_name(spec.name)
    found = [grants.get(p, view) for p in RECORD_PERMISSIONS]
    found.append(grants.get("menu_access", spec.name))
    found.append(grants.get("menu_access", spec.category["en"]))
    return found


def role_permissions(
    grants: PermissionViews, body: dict[str, Any], specs: Iterable[RecordTypeSpec]
) -> set[PermissionView]:
    """The Flask-AppBuilder permissions a role definition gives."""
    granted = set(grants.on_views(EVERYONE))
    records = body.get("records", {})
    for spec in specs:
        entry = records.get(spec.name, records.get("*"))
        if not entry:
            continue
        view = record_view_name(spec.name)
        for action, permissions in ACTION_PERMISSIONS.items():
            if entry.get(action) is not None:
                granted.update(grants.get(p, view) for p in permissions)
        if entry.get("read") is not None:
            granted.add(grants.get("menu_access", spec.name))
            granted.add(grants.get("menu_access", spec.category["en"]))
    for ability in body.get("abilities", []):
        granted.update(grants.on_views(ABILITY_VIEWS.get(ability, {})))
    if any(_reads_beyond_client(entry.get("read")) for entry in records.values() if entry):
        granted.update(grants.on_views(PLANNING_VIEWS))
    if any(entry.get("report") is not None for entry in records.values()):
        granted.update(grants.on_views(REPORT_VIEWS))  # which reports, on which records: the report rows
    return granted


def _reads_beyond_client(scopes: Any) -> bool:
    given = scopes if isinstance(scopes, list) else [scopes] if scopes else []
    return any(scope != "client" for scope in given)


def sync_view_permissions(
    session: Session, views: dict[str, set[str]], menus: Iterable[str], admin_role: str
) -> None:
    """The permissions of the app's views (`views`: each view's permission names) and menu entries,
    created where missing and all given to the admin role, in one transaction. Flask-AppBuilder's own
    `add_permissions` does the same with some ten queries and a commit per permission (a third of
    `itpm init`). A permission a view no longer has is kept, as Flask-AppBuilder keeps one a role holds
    (the admin holds them all)."""
    admin = session.scalar(select(Role).where(Role.name == admin_role))
    if admin is None:
        admin = Role(name=admin_role)
        session.add(admin)
    grants = PermissionViews(session)
    owned = set(admin.permissions)
    wanted = [(permission, view) for view, names in views.items() for permission in sorted(names)]
    wanted += [("menu_access", name) for name in menus]
    for permission, view in wanted:
        found = grants.get(permission, view)
        if found not in owned:
            admin.permissions.append(found)
            owned.add(found)
    session.flush()


def publish_hook(session: Session, before: Configuration, after: Configuration) -> None:
    """The registry's publish hook: permissions follow the configuration being published."""
    sync_roles(session, after)


def sync_roles(session: Session, configuration: Configuration) -> None:
    """Create the permissions of every record type and set each defined role's permissions."""
    specs = [RecordTypeSpec(d.body) for d in configuration.of_kind("record_type")]
    admin = session.scalar(select(Role).where(Role.name == ADMIN_ROLE))
    if admin is None:
        admin = Role(name=ADMIN_ROLE)
        session.add(admin)
    owned = set(admin.permissions)
    grants = PermissionViews(session)
    for spec in specs:
        for found in record_type_permissions(grants, spec):
            if found not in owned:
                admin.permissions.append(found)
                owned.add(found)
    for document in configuration.of_kind("role"):
        if document.name == ADMIN_ROLE:
            continue  # the admin keeps every permission, whatever its definition says
        role = session.scalar(select(Role).where(Role.name == document.name))
        if role is None:
            role = Role(name=document.name)
            session.add(role)
        role.permissions = sorted(role_permissions(grants, document.body, specs), key=lambda pv: pv.id)
    session.flush()
