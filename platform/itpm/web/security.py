"""Flask-AppBuilder's security manager, as itpm uses it.

Users, roles and logins stay Flask-AppBuilder's; what each role may do with
records is decided by the domain's access rules (`itpm.access`), not here.
What is here: itpm's user model; permission checks that cost one query per
request instead of one per menu item, link and view; and the sign-in rules of
`itpm.web.sign_in` wired in: rate limits on password checks, the password policy,
and sessions and tokens that end when their person signs out or changes password.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g, has_request_context, jsonify, request, session
from flask_appbuilder.const import AUTH_LDAP, AUTH_OAUTH
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import (
    Permission,
    PermissionView,
    Role,
    ViewMenu,
    assoc_permissionview_role,
)
from flask_jwt_extended import JWTManager
from flask_limiter.util import get_remote_address
from flask_login import current_user, user_logged_in
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from itpm.access import Actor
from itpm.audit import note
from itpm.config import normal_dn
from itpm.db import utcnow
from itpm.integrations.tokens import PREFIX, find_token
from itpm.models import Department, IntegrationToken, Person
from itpm.passwords import check_password
from itpm.permissions import ADMIN_ROLE
from itpm.web.sign_in import (
    SESSION_GENERATION,
    TOKEN_GENERATION,
    AuthDBView,
    AuthLDAPView,
    AuthOIDCView,
    ResetMyPasswordView,
    ResetPasswordView,
    SecurityApi,
    attempted_name,
    min_password_length,
    not_a_password_check,
    not_a_sign_in_return,
    password_policy,
    password_refused,
    personal_details,
)
from itpm.web.views.people import PersonView

#: How a sign-in is audited, by Flask-AppBuilder's AUTH_TYPE (a local password says "password" whatever it is).
SIGN_IN_METHODS = {AUTH_LDAP: "ldap", AUTH_OAUTH: "oidc"}
#: Seconds a sign-in waits for the directory to connect, and for each of its answers.
DIRECTORY_TIMEOUT = 5.0


def audit_sign_in(session: Any, username: str, success: bool, reason: str | None = None) -> None:
    """A sign-in or failed sign-in, and how: "password" (itpm's own), "ldap" (the directory) or "oidc"
    (an identity provider)."""
    method = g.get("itpm_sign_in_method") or SIGN_IN_METHODS.get(
        current_app.config.get("AUTH_TYPE"), "password"
    )
    detail = {"method": method}
    if not success and g.get("itpm_directory_down"):
        detail["reason"] = "directory unreachable"
    elif not success and reason:
        detail["reason"] = reason
    note(
        session,
        "login" if success else "login.failed",
        f"user/{username}",
        detail,
        actor=username if success else "anonymous",
    )


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by its name, or a dotted path into nested claims (Keycloak's realm_access.roles)."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


class ItpmSecurityManager(SecurityManager):
    user_model = Person
    userdbmodelview = PersonView
    authdbview = AuthDBView
    authldapview = AuthLDAPView
    userldapmodelview = PersonView
    authoauthview = AuthOIDCView
    useroauthmodelview = PersonView
    resetmypasswordview = ResetMyPasswordView
    resetpasswordview = ResetPasswordView
    security_api = SecurityApi

    def __init__(self, appbuilder: Any) -> None:
        super().__init__(appbuilder)
        # Every password form of Flask-AppBuilder (user add, both resets, its user API) asks itpm's policy.
        current_app.config["FAB_PASSWORD_COMPLEXITY_ENABLED"] = True
        current_app.config["FAB_PASSWORD_COMPLEXITY_VALIDATOR"] = password_policy

    # --- rate limits on password checks ------------------------------------

    @property
    def is_auth_limited(self) -> bool:
        """Flask-AppBuilder's own limit (every sign-in per address) is replaced by `_limit_password_checks`."""
        return False

    def register_views(self) -> None:
        super().register_views()
        if self.auth_type in (AUTH_LDAP, AUTH_OAUTH):
            # Local passwords (the break-glass admin's, or all under ITPM_LOCAL_PASSWORDS=all) are still
            # set and changed on itpm's screens; the people screens link to these.
            self.appbuilder.add_view_no_menu(self.resetpasswordview())
            self.appbuilder.add_view_no_menu(self.resetmypasswordview())
        if current_app.config.get("AUTH_RATE_LIMITED"):
            self._limit_password_checks()

    def _limit_password_checks(self) -> None:
        """The same limits on every password check, HTML or API, counted together.

        Every attempt on a user name counts (so no burst of parallel guesses gets past it);
        per address only failures count, so that an office behind one address can sign in.
        """
        limit = current_app.config["AUTH_RATE_LIMIT"]
        for name in ("AuthDBView", "AuthLDAPView", "AuthOIDCView", "SecurityApi", "ResetMyPasswordView"):
            blueprint = current_app.blueprints.get(name)
            if blueprint is None:  # the sign-in view of the other ITPM_AUTH
                continue
            self.limiter.shared_limit(
                limit,
                scope="itpm-password-name",
                key_func=attempted_name,
                methods=["POST"],
                exempt_when=not_a_password_check,
            )(blueprint)
            self._failures_per_address(limit, "POST", not_a_password_check)(blueprint)
        sso = current_app.blueprints.get("AuthOIDCView")
        if sso is not None:  # a refused return from the identity provider counts as a failure of the address
            self._failures_per_address(limit, "GET", not_a_sign_in_return)(sso)

    def _failures_per_address(self, limit: str, method: str, exempt_when: Any) -> Any:
        """The limit on refused sign-ins from one address, all sign-in paths counted together."""
        return self.limiter.shared_limit(
            limit,
            scope="itpm-password-address",
            key_func=get_remote_address,
            methods=[method],
            exempt_when=exempt_when,
            deduct_when=password_refused,
        )

    def auth_user_db(self, username: str, password: str) -> Any:
        if self.auth_type == AUTH_LDAP:  # the API's provider "db": the directory's rules still hold
            return self.auth_user_ldap(username, password)
        if self.auth_type == AUTH_OAUTH:  # the sign-in page's password form: the break-glass admin's
            g.itpm_sign_in_method = "password"
            settings = current_app.config["ITPM_SETTINGS"]
            user = self.find_user(username=str(username or "").strip())
            if user is not None and not self._may_use_local_password(user, settings):
                g.itpm_password_refused = True
                audit_sign_in(self.session, user.username, False, "local passwords are for admins only")
                self.session.commit()
                return None
        user = super().auth_user_db(username, password)
        if user is None:
            g.itpm_password_refused = True
            if not g.get("itpm_sign_in_audited"):  # no such person: nothing else said it
                audit_sign_in(self.session, str(username or "")[:64], False)
                self.session.commit()
        return user

    # --- the company directory (ITPM_AUTH=ldap, docs/sso.md) ------------------

    def auth_user_ldap(self, username: str, password: str) -> Any:
        """A local password first for whom `ITPM_LOCAL_PASSWORDS` lets keep one, else the directory.

        A directory sign-in brings the person's mapped roles and department in step with their groups.
        Every refusal counts towards the rate limits and is audited, as for itpm passwords.
        """
        settings = current_app.config["ITPM_SETTINGS"]
        username = str(username or "").strip()
        user = self.find_user(username=username) if username else None
        if user is not None and user.is_active and password and self._may_use_local_password(user, settings):
            # A person created by a directory sign-in holds a random hash: this never matches for them.
            if user.password and check_password_hash(user.password, password):
                g.itpm_sign_in_method = "password"
                self.update_user_auth_stat(user, True)
                return user
        g.itpm_sign_in_method = "ldap"
        g.pop("itpm_directory_entry", None)
        import ldap

        # A directory that does not answer refuses the sign-in within seconds instead of holding the request.
        ldap.set_option(ldap.OPT_NETWORK_TIMEOUT, DIRECTORY_TIMEOUT)
        ldap.set_option(ldap.OPT_TIMEOUT, DIRECTORY_TIMEOUT)
        user = super().auth_user_ldap(username, password)
        if user is not None:
            entry = g.pop("itpm_directory_entry", None)
            if entry is not None:
                self.sync_directory_groups(user, entry)
                self.session.commit()
            return user
        g.itpm_password_refused = True
        if not g.get("itpm_sign_in_audited"):  # no such person, or an inactive one: nothing else said it
            audit_sign_in(self.session, username[:64], False)
            self.session.commit()
        return None

    @staticmethod
    def _may_use_local_password(user: Person, settings: Any) -> bool:
        return settings.local_passwords == "all" or any(role.name == ADMIN_ROLE for role in user.roles)

    def _ldap_bind_indirect(self, ldap: Any, con: Any) -> None:
        try:
            super()._ldap_bind_indirect(ldap, con)
        except (ldap.SERVER_DOWN, ldap.TIMEOUT):
            g.itpm_directory_down = True
            raise

    def _ldap_bind(self, ldap: Any, con: Any, dn: str, password: str) -> bool:
        try:
            return super()._ldap_bind(ldap, con, dn, password)
        except (ldap.SERVER_DOWN, ldap.TIMEOUT):
            g.itpm_directory_down = True
            raise

    def _search_ldap(self, ldap: Any, con: Any, username: str) -> Any:
        """Flask-AppBuilder's search; the entry found is kept for `sync_directory_groups`."""
        user_dn, attributes = super()._search_ldap(ldap, con, username)
        if user_dn is not None:
            g.itpm_directory_entry = attributes
        return user_dn, attributes

    def directory_groups(self, attributes: dict[str, Any]) -> set[str]:
        return {normal_dn(dn) for dn in self.ldap_extract_list(attributes, self.auth_ldap_group_field)}

    def _ldap_calculate_user_roles(self, user_attributes: dict[str, Any]) -> list[Any]:
        """The roles of a new person's groups (at their first sign-in)."""
        settings = current_app.config["ITPM_SETTINGS"]
        return self._mapped_roles(self.directory_groups(user_attributes), settings.ldap_group_roles)

    def _mapped_roles(self, groups: set[str], mapping: Mapping[str, tuple[str, ...]]) -> list[Role]:
        names = sorted({name for group in groups for name in mapping.get(group, ())})
        return list(self.session.scalars(select(Role).where(Role.name.in_(names)))) if names else []

    def sync_directory_groups(self, user: Person, attributes: dict[str, Any]) -> None:
        settings = current_app.config["ITPM_SETTINGS"]
        self.sync_groups(
            user,
            self.directory_groups(attributes),
            settings.ldap_group_roles,
            settings.ldap_group_departments,
        )

    def sync_groups(
        self,
        user: Person,
        groups: set[str],
        group_roles: Mapping[str, tuple[str, ...]],
        group_departments: Mapping[str, str],
    ) -> None:
        """The person's roles named in the group mapping (ITPM_LDAP_GROUP_ROLES, ITPM_OIDC_GROUP_ROLES)
        become those of their groups (other roles, given in itpm, stay); their department becomes that of
        their group in the department mapping (the first by name; in none, it stays as set in itpm)."""
        managed = {name for names in group_roles.values() for name in names}
        kept = [role for role in user.roles if role.name not in managed]
        roles = kept + self._mapped_roles(groups, group_roles)
        if {r.id for r in roles} != {r.id for r in user.roles}:
            user.roles = roles
        departments = sorted(group_departments[group] for group in groups & group_departments.keys())
        if departments:
            department = self.session.scalar(select(Department).where(Department.name == departments[0]))
            if department is not None and user.department_id != department.id:
                user.department = department

    # --- an OpenID Connect identity provider (ITPM_AUTH=oidc, docs/sso.md) ------

    def get_oauth_user_info(self, provider: str, resp: dict[str, Any]) -> dict[str, Any]:
        """The person an ID token names (Authlib checked it: `resp["userinfo"]` holds its claims)."""
        claims = resp.get("userinfo")
        if not claims:
            raise ValueError("the identity provider sent no ID token (is openid among ITPM_OIDC_SCOPES?)")
        settings = current_app.config["ITPM_SETTINGS"]
        groups = claim(claims, settings.oidc_groups_claim)
        if isinstance(groups, str):
            groups = [groups]
        return {
            "username": str(claim(claims, settings.oidc_username_claim) or "").strip()[:64],
            "first_name": str(claims.get("given_name") or "")[:64],
            "last_name": str(claims.get("family_name") or "")[:64],
            "email": str(claims.get("email") or "")[:320],
            "groups": {str(group) for group in groups or () if isinstance(group, str | int)},
        }

    def auth_user_oauth(self, userinfo: dict[str, Any]) -> Any:
        """The itpm person of that name (made at their first sign-in), their mapped roles and department
        in step with their groups. Flask-AppBuilder's own registration stays off: its form would let
        anyone ask for an account."""
        settings = current_app.config["ITPM_SETTINGS"]
        username = userinfo["username"]
        if not username:
            self.sign_in_refused(f"the ID token has no {settings.oidc_username_claim} claim")
            return None
        user = self.find_user(username=username)
        if user is None:
            user = self.add_user(
                username=username,
                first_name=userinfo["first_name"] or username,
                last_name=userinfo["last_name"] or "-",
                email=userinfo["email"] or f"{username}@email.notfound",
                role=self._mapped_roles(userinfo["groups"], settings.oidc_group_roles),
            )
            if not user:
                self.sign_in_refused("the account could not be made", username)
                return None
        elif not user.is_active:
            self.sign_in_refused("deactivated in itpm", username)
            return None
        self.sync_groups(user, userinfo["groups"], settings.oidc_group_roles, settings.oidc_group_departments)
        self.update_user_auth_stat(user, True)
        return user

    def sign_in_refused(self, reason: str, username: str = "") -> None:
        """An identity provider's answer refused: audited, and counted towards the per-address limit."""
        g.itpm_password_refused = True
        audit_sign_in(self.session, username[:64], False, reason)
        self.session.commit()

    def update_user_auth_stat(self, user: Any, success: bool = True) -> None:
        """Every sign-in and failed sign-in (password, directory, OpenID) is in the audit log."""
        audit_sign_in(self.session, user.username, success)
        g.itpm_sign_in_audited = True
        super().update_user_auth_stat(user, success)

    # --- passwords -----------------------------------------------------------

    def reset_password(self, userid: Any, password: str) -> None:
        """Set a password that meets the policy; the person's other sessions and tokens end."""
        user = self.get_user_by_id(userid)
        check_password(password, personal_details(user), min_password_length())
        user.password = generate_password_hash(
            password=password,
            method=current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
            salt_length=current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
        )
        self.end_sessions(user)

    # --- sessions and tokens -------------------------------------------------

    def end_sessions(self, user: Person) -> None:
        """Every session cookie and token of `user` stops working (except this session, if it is theirs)."""
        user.session_generation = (user.session_generation or 0) + 1
        self.update_user(user)
        if has_request_context() and current_user.is_authenticated and current_user.id == user.id:
            session[SESSION_GENERATION] = user.session_generation

    def load_user(self, pk: Any) -> Any:
        """The person a session cookie names, if the session was made in their current generation."""
        user = super().load_user(pk)
        if user is not None and session.get(SESSION_GENERATION) != user.session_generation:
            return None
        return user

    def load_user_jwt(self, _jwt_header: dict[str, Any], jwt_data: dict[str, Any]) -> Any:
        """The person a token names, if the token was made in their current generation."""
        user = self.get_user_by_id(int(jwt_data["sub"]))
        if user is None or not user.is_active or jwt_data.get(TOKEN_GENERATION) != user.session_generation:
            return None
        g.user = user
        return user

    def create_jwt_manager(self, app: Flask) -> JWTManager:
        manager = super().create_jwt_manager(app)
        manager.additional_claims_loader(self._token_claims)
        manager.user_lookup_error_loader(_token_refused)
        manager.invalid_token_loader(_token_invalid)
        return manager

    def _token_claims(self, identity: Any) -> dict[str, Any]:
        user = self.get_user_by_id(int(identity))
        return {TOKEN_GENERATION: user.session_generation if user is not None else None}

    # --- integration tokens (`itpm.integrations.tokens`) ------------------------

    def validate_api_key(self, api_key_string: str) -> Any:
        """The person of the integration token the request carries (`check_integration_token` found it)."""
        token = getattr(g, "itpm_token", None)
        return token.person if token is not None else None

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
        role_ids, enabled = self._standing(user)
        if (permission_name, view_name) not in self.permissions_of_roles(role_ids):
            return False
        token = getattr(g, "itpm_token", None) if has_request_context() else None
        if token is not None and not _in_token_scope(token, permission_name, view_name):
            return False
        return enabled.get(view_name, True)

    def _standing(self, user: object) -> tuple[frozenset[int], dict[str, bool]]:
        """The user's role ids, and which record types' and categories' menu entries are theirs (a
        pilot's entry, and a category of pilots only, shows only in its departments; its screens and
        API answer 404 elsewhere, `itpm.web.views.records.hide_pilot`). Worked out once per request:
        a page's menu asks for some fifty entries."""
        memo = g.setdefault("_itpm_standing", {}) if has_request_context() else {}
        if id(user) not in memo:  # the user is kept beside: its id is no one else's during the request
            role_ids = frozenset(role.id for role in self.get_user_roles(user))
            enabled: dict[str, bool] = {}
            catalog = current_app.extensions.get("itpm_catalog")
            if catalog is not None:
                actor = Actor.of(user)
                for spec in catalog.record_types.values():  # a menu entry is named for its type
                    enabled[spec.name] = catalog.access.enabled(actor, spec)
                for spec in catalog.record_types.values():
                    category = spec.category["en"]
                    if category not in catalog.record_types:  # a type's own entry goes by the type
                        enabled[category] = enabled.get(category, False) or enabled[spec.name]
            memo[id(user)] = (user, role_ids, enabled)
        return memo[id(user)][1], memo[id(user)][2]

    def is_item_public(self, permission_name: str, view_name: str) -> bool:
        cache = g.setdefault("_itpm_public_role", {}) if has_request_context() else {}
        if "ids" not in cache:
            role_id = self.session.scalar(select(Role.id).where(Role.name == self.auth_role_public))
            cache["ids"] = frozenset([role_id] if role_id else [])
        return bool(cache["ids"]) and (permission_name, view_name) in self.permissions_of_roles(cache["ids"])


#: The record action each permission of a record type's API needs in an integration token's scope.
TOKEN_ACTIONS = {
    "can_list": "read",
    "can_show": "read",
    "can_add": "create",
    "can_edit": "write",
    "can_delete": "delete",
    "can_export": "export",
}


def _in_token_scope(token: IntegrationToken, permission_name: str, view_name: str) -> bool:
    """An integration token reaches the records API only, for the types and actions of its scope."""
    type_name = view_name.removeprefix("records_")
    action = TOKEN_ACTIONS.get(permission_name)
    return view_name.startswith("records_") and action in token.scope.get(type_name, [])


def check_integration_token() -> Any:
    """Before an API request: a bearer token that looks like an integration token is one, or 401.

    A valid one makes its person the request's user (as Flask-AppBuilder's API keys do, which its
    `protect` then asks `validate_api_key` about) within the token's scope.
    """
    if not request.path.startswith("/api/"):
        return None
    header = request.headers.get("Authorization", "")
    raw = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not raw.startswith(PREFIX):
        return None
    token = find_token(current_app.appbuilder.session, raw)
    if token is None:
        response = jsonify(
            message="This integration token is not valid: it is unknown, revoked, or its person is no longer active."
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="itpm", error="invalid_token"'
        return response, 401
    g.user = token.person
    g._api_key_user = True
    g.itpm_token = token
    _stamp_use(token)
    return None


def _stamp_use(token: IntegrationToken) -> None:
    """When the token was last used, to the minute: a change is written with the request's own
    changes (it holds SQLite's write lock already); a read writes it apart."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < dt.timedelta(minutes=1):
        return
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        token.last_used_at = now
        return
    with current_app.extensions["itpm"].session() as session:
        session.execute(
            update(IntegrationToken).where(IntegrationToken.id == token.id).values(last_used_at=now)
        )
        session.commit()


def _token_refused(_jwt_header: dict[str, Any], _jwt_data: dict[str, Any]) -> Any:
    return jsonify(msg="This token is no longer valid: sign in again."), 401


def _token_invalid(reason: str) -> Any:
    """A token that is malformed, forged or of the wrong kind: 401, as for none (the library says 422)."""
    return jsonify(msg=f"This token is not valid ({reason}): sign in again."), 401


@user_logged_in.connect
def _stamp_session(_app: Flask, user: Any) -> None:
    """A new session carries its person's current generation (`load_user` compares)."""
    session[SESSION_GENERATION] = getattr(user, "session_generation", 0) or 0
