"""Signing in and out, and setting passwords: Flask-AppBuilder's screens, made safer.

- Password checks are rate limited (sign-in, API sign-in, changing one's own password):
  every attempt on a user name counts, and failures count per address, in Flask-Limiter's
  store (Redis when configured, so that N processes do not multiply the limit).
- A session or token carries its person's session generation; signing out or a new
  password raises it, so that every older session cookie and JWT stops working.
- Signing out is a POST with a CSRF token; changing one's own password asks for the
  current one; every new password meets `itpm.passwords`.
The security manager (`itpm.web.security`) wires these views and rules in.
"""

from __future__ import annotations

from typing import Any

import jwt
from flask import current_app, flash, g, redirect, request, session, url_for
from flask_appbuilder import expose
from flask_appbuilder._compat import as_unicode
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security import views as fab_views
from flask_appbuilder.security.api import SecurityApi as FabSecurityApi
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.utils.base import get_safe_redirect
from flask_appbuilder.validators import PasswordComplexityValidator
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_jwt_extended import get_jwt_identity, jwt_required
from flask_login import current_user, login_user, logout_user
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response
from wtforms import Field, Form, PasswordField, ValidationError
from wtforms.validators import DataRequired, EqualTo

from itpm.passwords import password_problems

#: The session key holding the session generation the session was signed in with.
SESSION_GENERATION = "_itpm_generation"
#: The JWT claim holding it.
TOKEN_GENERATION = "itpm_gen"
#: The endpoints that check a password: the rate limits apply to these.
PASSWORD_CHECKS = frozenset(
    {
        "AuthDBView.login",
        "AuthLDAPView.login",
        "AuthOIDCView.login_with_password",
        "SecurityApi.login",
        "ResetMyPasswordView.this_form_post",
    }
)
#: Where an identity provider sends a person back: a refused return counts towards the per-address limit.
SSO_RETURN = "AuthOIDCView.oauth_authorized"
PASSWORD_HINT = _l("At least %(count)d characters; common passwords and your own name or e-mail are refused.")


# --- rate limits -----------------------------------------------------------


def attempted_name() -> str:
    """The rate limit key of the account a request tries a password on ("" when none: not counted)."""
    if request.endpoint == "ResetMyPasswordView.this_form_post":
        name = current_user.username if current_user.is_authenticated else ""
    elif request.is_json:
        body = request.get_json(silent=True)
        name = body.get("username") if isinstance(body, dict) else ""
    else:
        name = request.form.get("username", "")
    name = str(name or "").strip().lower()[:200]
    return f"name:{name}" if name else ""


def not_a_password_check() -> bool:
    return request.endpoint not in PASSWORD_CHECKS


def not_a_sign_in_return() -> bool:
    return request.endpoint != SSO_RETURN


def password_refused(_response: Response) -> bool:
    """Whether this request's password check failed (set by the security manager)."""
    return bool(g.pop("itpm_password_refused", False))


# --- password policy -------------------------------------------------------


def password_policy(password: str) -> None:
    """Flask-AppBuilder's complexity hook: every password form of FAB asks it."""
    problems = password_problems(password, _personal_details(), min_password_length())
    if problems:
        raise PasswordComplexityValidationError(" ".join(problems))


def min_password_length() -> int:
    return current_app.config["ITPM_SETTINGS"].password_min_length


def personal_details(user: Any) -> list[str | None]:
    """What a person's password must not be made of."""
    return [user.username, user.first_name, user.last_name, user.email]


def _personal_details() -> list[str | None]:
    """The details of whoever the password being set is for, as this request tells them."""
    if request.endpoint == "ResetMyPasswordView.this_form_post" and current_user.is_authenticated:
        return personal_details(current_user)
    if request.endpoint == "ResetPasswordView.this_form_post" and request.args.get("pk", "").isdigit():
        user = current_app.appbuilder.sm.get_user_by_id(int(request.args["pk"]))
        if user is not None:
            return personal_details(user)
    return [request.form.get(name) for name in ("username", "first_name", "last_name", "email")]


#: Under every new-password field: what the policy asks (the length is the installation's).
POLICY_DESCRIPTION = LazyString(lambda: str(PASSWORD_HINT % {"count": min_password_length()}))


def new_password_field(label: Any = None) -> PasswordField:
    return PasswordField(
        _l("New password") if label is None else label,
        description=POLICY_DESCRIPTION,
        validators=[DataRequired(), PasswordComplexityValidator()],
        widget=BS3PasswordFieldWidget(),
    )


def confirmation_field() -> PasswordField:
    return PasswordField(
        _l("Confirm Password"),
        validators=[EqualTo("password", message=_l("Passwords must match"))],
        widget=BS3PasswordFieldWidget(),
    )


class CurrentPassword:
    """The signed-in person's current password (a failure counts towards the sign-in limits)."""

    def __call__(self, form: Form, field: Field) -> None:
        if not check_password_hash(current_user.password, field.data or ""):
            g.itpm_password_refused = True
            raise ValidationError(_l("This is not your current password."))


class NewPasswordForm(DynamicForm):
    password = new_password_field()
    conf_password = confirmation_field()


class MyPasswordForm(DynamicForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(), CurrentPassword()],
        widget=BS3PasswordFieldWidget(),
    )
    password = new_password_field()
    conf_password = confirmation_field()


class ResetMyPasswordView(fab_views.ResetMyPasswordView):
    """Changing one's own password: the current one first. The person stays signed in here only."""

    form = MyPasswordForm

    def form_post(self, form: DynamicForm) -> None:
        self.appbuilder.sm.reset_password(g.user.id, form.password.data)
        flash(as_unicode(_l("Your password was changed; your other sessions were signed out.")), "info")


class ResetPasswordView(fab_views.ResetPasswordView):
    """An administrator sets someone's password; that person's sessions and tokens end."""

    form = NewPasswordForm


# --- signing out -----------------------------------------------------------


class SignOut:
    """Signing out by POST (a GET asks first); every session and token of the person ends."""

    @expose("/logout/", methods=["GET"])
    def logout(self) -> Any:
        if not current_user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login)
        return self.render_template("itpm/logout.html", appbuilder=self.appbuilder)

    @expose("/logout/", methods=["POST"])
    @no_cache
    def logout_post(self) -> Any:
        user = self._get_authenticated_user()
        if user is not None:
            self.appbuilder.sm.end_sessions(user)
        logout_user()
        session.pop(SESSION_GENERATION, None)
        if user is not None:
            self.appbuilder.sm.on_user_logout(user)
        return redirect(self.after_sign_out())

    def after_sign_out(self) -> str:
        return self.appbuilder.get_url_for_login


class AuthDBView(SignOut, fab_views.AuthDBView):
    """Signing in with an itpm password, as Flask-AppBuilder does (`SignOut` signs out)."""


class AuthLDAPView(SignOut, fab_views.AuthLDAPView):
    """Signing in with a directory password (ITPM_AUTH=ldap), as Flask-AppBuilder does."""

    @property
    def invalid_login_message(self) -> Any:  # type: ignore[override]
        """A directory that did not answer is said so, not blamed on the password."""
        if g.get("itpm_directory_down"):
            return _l("The company directory did not answer: try again in a moment, or tell an admin.")
        return fab_views.AuthLDAPView.invalid_login_message


class AuthOIDCView(SignOut, fab_views.AuthOAuthView):
    """Signing in with an OpenID Connect identity provider (ITPM_AUTH=oidc), through Flask-AppBuilder's
    OAuth views and Authlib (which check the state, the nonce and the ID token).

    The sign-in page offers the provider and, for whom `ITPM_LOCAL_PASSWORDS` lets keep one (the
    break-glass admin), an itpm password. A refused return from the provider is audited and counts
    towards the per-address limit, as a wrong password does."""

    login_template = "itpm/login_oidc.html"

    @expose("/login/")
    @expose("/login/<provider>")
    @no_cache
    def login(self, provider: str | None = None) -> Any:
        if provider is not None or (g.user is not None and g.user.is_authenticated):
            return super().login(provider)
        return self._sign_in_page(LoginForm_db())

    @expose("/login/", methods=["POST"])
    @no_cache
    def login_with_password(self) -> Any:
        form = LoginForm_db()
        if not form.validate_on_submit():
            return self._sign_in_page(form)
        user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
        if user is None:
            flash(as_unicode(self.invalid_login_message), "warning")
            return redirect(self.appbuilder.get_url_for_login)
        login_user(user, remember=False)
        return redirect(self._get_safe_next_url())

    def _sign_in_page(self, form: Any) -> Any:
        settings = current_app.config["ITPM_SETTINGS"]
        return self.render_template(
            self.login_template,
            providers=self.appbuilder.sm.oauth_providers,
            form=form,
            admins_only=settings.local_passwords == "admin",
            title=self.title,
            appbuilder=self.appbuilder,
        )

    @expose("/oauth-authorized/<provider>")
    def oauth_authorized(self, provider: str) -> Any:
        sm = self.appbuilder.sm
        g.itpm_sign_in_method = "oidc"
        remote = sm.oauth_remotes.get(provider)
        if remote is None:
            return redirect(self.appbuilder.get_url_for_login)
        try:
            # Authlib: the state is this browser's, the code is exchanged, and the ID token is signed by
            # the provider's key, for this client, not expired, and carries the nonce sent.
            token = remote.authorize_access_token()
            claims = sm.oauth_user_info(provider, token)
        except Exception as error:  # noqa: BLE001 - any failure of the exchange refuses the sign-in
            sm.sign_in_refused(f"{type(error).__name__}: {error}"[:200])
            flash(as_unicode(_l("The identity provider's answer was refused: sign in again.")), "warning")
            return redirect(self.appbuilder.get_url_for_login)
        user = sm.auth_user_oauth(claims)
        if user is None:
            flash(as_unicode(self.invalid_login_message), "warning")
            return redirect(self.appbuilder.get_url_for_login)
        login_user(user)
        return redirect(self._next_of_state())

    def after_sign_out(self) -> str:
        """The identity provider's sign-out too, when it has one (else the next sign-in would not ask)."""
        remote = next(iter(self.appbuilder.sm.oauth_remotes.values()))
        try:
            metadata = remote.load_server_metadata()
        except Exception:  # noqa: BLE001 - the provider unreachable: signed out of itpm all the same
            return self.appbuilder.get_url_for_login
        if not metadata.get("end_session_endpoint"):
            return self.appbuilder.get_url_for_login
        back = url_for(f"{type(self).__name__}.login", _external=True)
        return remote.create_logout_url(post_logout_redirect_uri=back, client_id=remote.client_id)["url"]

    def _next_of_state(self) -> str:
        """Where the person was going: Flask-AppBuilder put it in the state (which Authlib checked)."""
        try:
            state = jwt.decode(request.args["state"], session.pop("oauth_state", ""), algorithms=["HS256"])
        except (jwt.InvalidTokenError, KeyError):
            return self.appbuilder.get_url_for_index
        wanted = state.get("next") or []
        return get_safe_redirect(wanted[0]) if wanted else self.appbuilder.get_url_for_index


class SecurityApi(FabSecurityApi):
    """Flask-AppBuilder's API sign-in, and a sign-out that ends the caller's tokens and sessions."""

    @expose("/logout", methods=["POST"])
    @jwt_required()
    def logout(self) -> Response:
        """Sign out: every token and session of the caller stops working
        ---
        post:
          description: >-
            Ends every access and refresh token and every browser session of the caller.
          responses:
            200:
              description: Signed out
            401:
              $ref: '#/components/responses/401'
          security:
            - jwt: []
        """
        user = self.appbuilder.sm.get_user_by_id(int(get_jwt_identity()))
        self.appbuilder.sm.end_sessions(user)
        return self.response(200, message="Signed out")
