"""Flask-AppBuilder's security manager, as itpm uses it.

Users, roles and logins stay Flask-AppBuilder's; what each role may do with
records is decided by the domain's access rules (`itpm.access`), not here.
What is here: itpm's user model, and permission checks that cost one query per
request instead of one per menu item, link and view.
"""

from __future__ import annotations

from flask import current_app, g, has_request_context
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import (
    Permission,
    PermissionView,
    Role,
    ViewMenu,
    assoc_permissionview_role,
)
from sqlalchemy import select

from itpm.access import Actor
from itpm.models import Person
from itpm.web.views.people import PersonView


class ItpmSecurityManager(SecurityManager):
    user_model = Person
    userdbmodelview = PersonView

    def permissions_of_roles(self, role_ids: frozenset[int]) -> frozenset[tuple[str, str]]:
        """Every (permission, view) the roles hold; read once per request."""
        cache = g.setdefault("_itpm_permissions", {}) if has_request_context() else {}
        if role_ids not in cache:
            rows = self.session.execute(
                select(Permission.name, ViewMenu.name)
                .select_from(PermissionView)
                .join(Permission, PermissionView.permission_id == Permission.id)
                .join(ViewMenu, PermissionView.view_menu_id == ViewMenu.id)
                .join(
                    assoc_permissionview_role,
                    assoc_permissionview_role.c.permission_view_id == PermissionView.id,
                )
                .where(assoc_permissionview_role.c.role_id.in_(role_ids))
            )
            cache[role_ids] = frozenset((permission, view) for permission, view in rows)
        return cache[role_ids]

    def _has_view_access(self, user: object, permission_name: str, view_name: str) -> bool:
        role_ids = frozenset(role.id for role in self.get_user_roles(user))
        if (permission_name, view_name) not in self.permissions_of_roles(role_ids):
            return False
        return self._record_type_enabled(user, view_name)

    def _record_type_enabled(self, user: object, view_name: str) -> bool:
        """A pilot's menu entry (and a category of pilots only) shows only in its departments.

        Its screens and API answer 404 elsewhere (`itpm.web.views.records.hide_pilot`).
        """
        catalog = current_app.extensions.get("itpm_catalog")
        if catalog is None:
            return True
        actor = Actor.of(user)
        spec = catalog.record_types.get(view_name)  # a menu entry is named for its type
        if spec is not None:
            return catalog.access.enabled(actor, spec)
        in_category = [s for s in catalog.record_types.values() if s.category["en"] == view_name]
        return not in_category or any(catalog.access.enabled(actor, s) for s in in_category)

    def is_item_public(self, permission_name: str, view_name: str) -> bool:
        cache = g.setdefault("_itpm_public_role", {}) if has_request_context() else {}
        if "ids" not in cache:
            role_id = self.session.scalar(select(Role.id).where(Role.name == self.auth_role_public))
            cache["ids"] = frozenset([role_id] if role_id else [])
        return bool(cache["ids"]) and (permission_name, view_name) in self.permissions_of_roles(cache["ids"])
