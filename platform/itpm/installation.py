"""Setting up an installation: the database, the permissions, the first admin, the starter pack.

`itpm init` runs `initialise`; it is safe to run again (each step does only
what is missing), which is what `make run` does at every start: the starter
pack never replaces a definition an admin changed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from itpm import migrate
from itpm.audit import triggers as audit_triggers
from itpm.config import ROOT
from itpm.definitions.checks import Configuration
from itpm.definitions.documents import read_documents
from itpm.definitions.packs import import_pack
from itpm.definitions.registry import ImportResult
from itpm.passwords import check_password
from itpm.permissions import sync_roles, sync_view_permissions
from itpm.runtime import Runtime

STARTER_PACK = [ROOT / folder for folder in ("schemas", "forms", "workflows", "reports")]
SYSTEM_ACTOR = "system"


@dataclass
class Initialised:
    admin_user: str | None = None
    admin_password: str | None = None
    starter_pack: ImportResult | None = None
    notes: list[str] = field(default_factory=list)


def initialise(
    runtime: Runtime,
    app: Flask,
    admin_user: str | None = None,
    admin_password: str | None = None,
    starter_pack: list[Path] | None = STARTER_PACK,
) -> Initialised:
    """Create or upgrade everything an installation needs; report what was created."""
    result = Initialised()
    if admin_password is not None:  # refused before anything is written
        check_password(
            admin_password,
            [admin_user, "admin", f"{admin_user}@itpm.invalid"],
            runtime.settings.password_min_length,
        )
    migrate.upgrade(runtime.engine)
    sync_security(_newest(app))  # the screens' own permissions, before roles are given theirs
    if starter_pack:
        result.starter_pack = import_starter_pack(runtime, starter_pack)
    app = _newest(app)
    sync_security(app)
    with runtime.session() as session:
        configuration = Configuration(runtime.registry(session).live())
        sync_roles(session, configuration)
        # the audit triggers as this version writes them (what they leave out, how they seal), on PostgreSQL
        audit_triggers.install(session.connection(), audit_triggers.record_personal(configuration))
        session.commit()
    with app.app_context():
        sm = app.appbuilder.sm
        admin_role = sm.find_role(app.config["AUTH_ROLE_ADMIN"])
        has_admin = any(admin_role in user.roles for user in sm.get_all_users())
        if admin_user or not has_admin:
            username = admin_user or "admin"
            if sm.find_user(username=username) is None:
                password = admin_password or secrets.token_urlsafe(18)
                user = sm.add_user(
                    username, "Admin", "User", f"{username}@itpm.invalid", [admin_role], password
                )
                if not user:
                    raise RuntimeError(f"could not create the admin account {username!r}")
                result.admin_user = username
                result.admin_password = None if admin_password else password
            else:
                result.notes.append(f"the account {username!r} already exists; its password is unchanged")
    return result


def _newest(app: Flask) -> Flask:
    """The app of the newest revision (the shell from `create_app` dispatches to it)."""
    return app.dispatcher.app if hasattr(app, "dispatcher") else app


def import_starter_pack(runtime: Runtime, folders: list[Path]) -> ImportResult:
    """Publish what is new in the pack, never over a definition an admin changed (see definitions.packs)."""
    documents, problems = read_documents(folders)
    with runtime.session() as session:
        return import_pack(
            runtime.registry(session), documents, SYSTEM_ACTOR, comment="starter pack", read_problems=problems
        )


def sync_security(app: Flask) -> None:
    """Built-in roles, and the permissions of every view and API of `app` (what Flask-AppBuilder's
    `add_permissions(update_perms=True)` does, in one transaction)."""
    with app.app_context():
        appbuilder = app.appbuilder
        sm = appbuilder.sm
        sm.add_role(app.config["AUTH_ROLE_ADMIN"])
        sm.add_role(app.config["AUTH_ROLE_PUBLIC"])
        views: dict[str, set[str]] = {}
        for view in appbuilder.baseviews:
            names = views.setdefault(view.class_permission_name, set())
            names.update(view.base_permissions or ())
        menus = []
        for category in appbuilder.menu.get_list() if appbuilder.menu is not None else []:
            menus.append(category.name)
            menus += [item.name for item in category.childs if item.name != "-"]
        session = appbuilder.session
        sync_view_permissions(session, views, dict.fromkeys(menus), app.config["AUTH_ROLE_ADMIN"])
        session.commit()
