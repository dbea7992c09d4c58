"""Flask-AppBuilder permissions of the screens and APIs that definitions create.

Publishing a record type creates the permissions of its screens and API in
the publishing transaction, and gives them to the admin role, so every process
finds them in place when it builds the app of the new revision.
"""

from __future__ import annotations

from flask_appbuilder.security.sqla.models import Permission, PermissionView, Role, ViewMenu
from sqlalchemy import select
from sqlalchemy.orm import Session

from itpm.definitions.checks import Configuration
from itpm.records.fields import RecordTypeSpec

ADMIN_ROLE = "admin"
RECORD_PERMISSIONS = ("can_list", "can_show", "can_add", "can_edit", "can_delete")


def record_view_name(type_name: str) -> str:
    """The view (blueprint and permission) name of a record type's screens and API."""
    return f"records_{type_name}"


def permission_view(session: Session, permission: str, view: str) -> PermissionView:
    """The permission on a view, created if missing."""
    found = session.scalar(
        select(PermissionView)
        .join(Permission, PermissionView.permission_id == Permission.id)
        .join(ViewMenu, PermissionView.view_menu_id == ViewMenu.id)
        .where(Permission.name == permission, ViewMenu.name == view)
    )
    if found is not None:
        return found
    perm = session.scalar(select(Permission).where(Permission.name == permission)) or Permission(
        name=permission
    )
    menu = session.scalar(select(ViewMenu).where(ViewMenu.name == view)) or ViewMenu(name=view)
    session.add_all([perm, menu])
    found = PermissionView(permission=perm, view_menu=menu)
    session.add(found)
    session.flush()
    return found


def record_type_permissions(session: Session, spec: RecordTypeSpec) -> list[PermissionView]:
    view = record_view_name(spec.name)
    found = [permission_view(session, p, view) for p in RECORD_PERMISSIONS]
    found.append(permission_view(session, "menu_access", spec.name))
    found.append(permission_view(session, "menu_access", spec.category["en"]))
    return found


def publish_hook(session: Session, before: Configuration, after: Configuration) -> None:
    """Create the permissions of every published record type; the admin role gets them all."""
    admin = session.scalar(select(Role).where(Role.name == ADMIN_ROLE))
    if admin is None:
        admin = Role(name=ADMIN_ROLE)
        session.add(admin)
    owned = set(admin.permissions)
    for document in after.of_kind("record_type"):
        for found in record_type_permissions(session, RecordTypeSpec(document.body)):
            if found not in owned:
                admin.permissions.append(found)
                owned.add(found)
    session.flush()
