"""Signing in with OpenID Connect (ITPM_AUTH=oidc): a small identity provider on loopback, end to end.

The provider stands in for Keycloak: a discovery document, its JWKS, an authorization endpoint that
signs in whoever the test says and returns a code, and a token endpoint that exchanges the code (for
itpm's client id and secret) for an RS256-signed ID token with the nonce itpm sent. itpm reaches it over
real HTTP (Authlib); the browser's part (following the redirects) is the test's. The groups claim maps
to itpm roles and a department; a bad state, a wrong nonce and a token signed by another key are refused,
audited and counted towards the per-address limit, like wrong passwords.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask, abort, jsonify, redirect, request
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from werkzeug.serving import make_server

from conftest import ADMIN, csrf_token, settings_for
from itpm.config import ConfigurationError, Settings
from itpm.models import AuditEntry, Department, Person
from itpm.web.app import create_app

CLIENT_ID, CLIENT_SECRET = "itpm", "itpm-client-secret-for-tests"
ENGINEERS, MANAGERS = "itpm-engineers", "itpm-pms"


@dataclass
class Provider:
    """A minimal OpenID Connect provider: who is signed in at it, and what it gets wrong on purpose."""

    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    signed_in: str = "mei"
    tamper: str | None = None  # "nonce": another nonce; "key": signed by a key not in the JWKS
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> Flask:
        app = Flask("identity-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                end_session_endpoint=f"{self.issuer}/logout",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize() -> Any:
            args = request.args
            if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code":
                abort(400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "nonce": args.get("nonce"),
                "person": self.signed_in,
                "uri": args["redirect_uri"],
            }
            return redirect(f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args['state']})}")

        @app.post("/token")
        def token() -> Any:
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(request.form.get("code", ""), None)
            if grant is None or grant["uri"] != request.form.get("redirect_uri"):
                return jsonify(error="invalid_grant"), 400
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "sub": f"id-{grant['person']}",
                "aud": CLIENT_ID,
                "iat": now,
                "exp": now + 300,
                "nonce": "another-nonce" if self.tamper == "nonce" else grant["nonce"],
                **self.people[grant["person"]],
            }
            key = RSAKey.generate_key(2048, parameters={"kid": "k1"}) if self.tamper == "key" else self.key
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
            return jsonify(
                access_token=secrets.token_urlsafe(16), token_type="Bearer", expires_in=300, id_token=id_token
            )

        return app


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    provider = Provider()
    server = make_server("127.0.0.1", 0, provider.app(), threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def oidc_app(provider: Provider, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    provider.tamper, provider.signed_in = None, "mei"
    provider.people = {
        "mei": {"preferred_username": "mei", "given_name": "Mei", "family_name": "Chen",
                "email": "mei@itpm.test", "groups": [ENGINEERS, MANAGERS]},
        "tom": {"preferred_username": "tom", "given_name": "Tom", "family_name": "Wright",
                "email": "tom@itpm.test", "groups": [ENGINEERS]},
    }  # fmt: skip
    settings = settings_for(
        database_url,
        tmp_path,
        auth="oidc",
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_group_roles={ENGINEERS: ("engineer",), MANAGERS: ("project_manager",)},
        oidc_group_departments={MANAGERS: "delivery"},
        local_passwords="admin",
    )
    app = create_app(settings.checked())
    with app.extensions["itpm"].session() as session:
        session.add(Department(name="delivery", title_en="Delivery", title_zh="交付部"))
        session.commit()
    yield app
    app.extensions["itpm"].dispose()


def to_provider(client: FlaskClient, address: str = "192.0.2.10") -> str:
    """The browser asks itpm to sign in with the provider: the provider's authorization URL."""
    response = client.get("/login/sso", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def back_from_provider(authorize_url: str) -> str:
    """The browser at the provider (signed in there): the URL it is sent back to itpm with."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:300]
    return response.headers["Location"]


def returned(client: FlaskClient, url: str, address: str = "192.0.2.10") -> Any:
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}", environ_base={"REMOTE_ADDR": address})


def sso_sign_in(client: FlaskClient, address: str = "192.0.2.10") -> Any:
    return returned(client, back_from_provider(to_provider(client, address)), address)


def signed_in(client: FlaskClient) -> bool:
    return client.get("/users/userinfo/").status_code == 200


def person(app: Flask, username: str) -> tuple[list[str], str | None]:
    with app.extensions["itpm"].session() as session:
        found = session.scalar(select(Person).where(Person.username == username))
        assert found is not None, f"{username} has no itpm account"
        return sorted(r.name for r in found.roles), found.department.name if found.department else None


def sign_in_log(app: Flask) -> list[tuple[Any, ...]]:
    with app.extensions["itpm"].session() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.target, AuditEntry.detail)
            .where(AuditEntry.action.like("login%"))
            .order_by(AuditEntry.id)
        ).all()
    return [(action, target, detail.get("method"), detail.get("reason")) for action, target, detail in rows]


def test_a_person_signs_in_with_the_provider_and_gets_the_roles_of_their_groups(
    oidc_app: Flask, provider: Provider
) -> None:
    client = oidc_app.test_client()
    authorize = to_provider(client)
    assert authorize.startswith(f"{provider.issuer}/authorize?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["scope"] == ["openid email profile"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == ["http://localhost/oauth-authorized/sso"]
    response = returned(client, back_from_provider(authorize))
    assert response.status_code == 302 and signed_in(client)
    assert person(oidc_app, "mei") == (["engineer", "project_manager"], "delivery")

    # signing out is itpm's POST (every session ends), then the provider's own sign-out
    signed_out = client.post("/logout/", data={"csrf_token": csrf_token(client, "/")})
    assert signed_out.headers["Location"].startswith(f"{provider.issuer}/logout?")
    assert parse_qs(urlsplit(signed_out.headers["Location"]).query)["post_logout_redirect_uri"] == [
        "http://localhost/login/"
    ]
    assert not signed_in(client)

    # out of a group at the provider: its role goes at the next sign-in; a role given in itpm stays
    flask_app = oidc_app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        mei = sm.find_user(username="mei")
        mei.roles.append(sm.find_role("finance"))
        sm.session.commit()
    provider.people["mei"]["groups"] = [ENGINEERS]
    assert sso_sign_in(client).status_code == 302 and signed_in(client)
    assert person(oidc_app, "mei") == (["engineer", "finance"], "delivery")
    assert sign_in_log(oidc_app) == [("login", "user/mei", "oidc", None)] * 2


def test_a_bad_state_a_wrong_nonce_and_a_forged_token_are_refused_and_audited(
    oidc_app: Flask, provider: Provider
) -> None:
    client = oidc_app.test_client()
    client.get("/lang/en")
    back = back_from_provider(to_provider(client))
    forged_state = re.sub(r"state=[^&]+", "state=forged", back)
    assert returned(client, forged_state).status_code == 302 and not signed_in(client)
    assert "answer was refused" in client.get("/login/").get_data(as_text=True)

    another_browser = oidc_app.test_client()  # a code and state sent to someone else's browser
    assert returned(another_browser, back).status_code == 302 and not signed_in(another_browser)

    provider.tamper = "nonce"
    assert sso_sign_in(client).status_code == 302 and not signed_in(client)
    provider.tamper = "key"
    assert sso_sign_in(client).status_code == 302 and not signed_in(client)

    log = sign_in_log(oidc_app)
    assert [(action, method) for action, _, method, _ in log] == [("login.failed", "oidc")] * 4
    reasons = [reason for *_, reason in log]
    assert reasons[0].startswith("MismatchingStateError") and reasons[1].startswith("MismatchingStateError")
    assert "nonce" in reasons[2]
    assert reasons[3] and "nonce" not in reasons[3]
    with oidc_app.extensions["itpm"].session() as session:
        assert session.scalar(select(Person.id).where(Person.username == "mei")) is None

    provider.tamper = None
    assert sso_sign_in(client).status_code == 302 and signed_in(client)


def test_refused_returns_from_the_provider_are_rate_limited_per_address(oidc_app: Flask) -> None:
    client = oidc_app.test_client()
    for _ in range(10):
        assert returned(client, "/oauth-authorized/sso?code=x&state=forged", "10.0.0.9").status_code == 302
    refused = returned(client, "/oauth-authorized/sso?code=x&state=forged", "10.0.0.9")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert sso_sign_in(client, "10.0.0.10").status_code == 302 and signed_in(client)


def test_a_person_deactivated_in_itpm_is_refused_whatever_the_provider_says(oidc_app: Flask) -> None:
    client = oidc_app.test_client()
    assert sso_sign_in(client).status_code == 302 and signed_in(client)
    client.post("/logout/", data={"csrf_token": csrf_token(client, "/")})
    flask_app = oidc_app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        sm.find_user(username="mei").active = False
        sm.session.commit()
    assert sso_sign_in(client).status_code == 302 and not signed_in(client)
    assert sign_in_log(oidc_app)[-1] == ("login.failed", "user/mei", "oidc", "deactivated in itpm")


def test_only_the_break_glass_admin_signs_in_with_an_itpm_password(oidc_app: Flask) -> None:
    """ITPM_LOCAL_PASSWORDS=admin: the sign-in page's password form is the admin's; a staff member's itpm
    password is refused there, and the API's password sign-in is off."""
    flask_app = oidc_app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        sm.add_user(
            "lee", "Lee", "Local", "lee@itpm.invalid", [sm.find_role("engineer")], "lee-local-password-1"
        )
        sm.session.commit()
    client = oidc_app.test_client()
    client.get("/lang/en")
    page = client.get("/login/").get_data(as_text=True)
    assert (
        "Sign in with the company account" in page and "Administrators: sign in with an itpm password" in page
    )

    def with_password(username: str, password: str) -> Any:
        token = csrf_token(client, "/login/")
        return client.post("/login/", data={"username": username, "password": password, "csrf_token": token})

    assert with_password("lee", "lee-local-password-1").status_code == 302 and not signed_in(client)
    assert with_password("admin", "not-the-password").status_code == 302 and not signed_in(client)
    body = {"username": ADMIN[0], "password": ADMIN[1], "provider": "db"}
    assert client.post("/api/v1/security/login", json=body).status_code == 400
    assert with_password(*ADMIN).status_code == 302 and signed_in(client)
    assert sign_in_log(oidc_app) == [
        ("login.failed", "user/lee", "password", "local passwords are for admins only"),
        ("login.failed", "user/admin", "password", None),
        ("login", "user/admin", "password", None),
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ITPM_AUTH": "oidc"}, "ITPM_AUTH=oidc needs ITPM_OIDC_ISSUER"),
        (
            {"ITPM_AUTH": "oidc", "ITPM_OIDC_ISSUER": "https://sso.example.com/realms/company"},
            "ITPM_AUTH=oidc needs ITPM_OIDC_CLIENT_ID and ITPM_OIDC_CLIENT_SECRET",
        ),
        (
            {"ITPM_AUTH": "oidc", "ITPM_OIDC_ISSUER": "https://sso.example.com", "ITPM_OIDC_CLIENT_ID": "itpm",
             "ITPM_OIDC_CLIENT_SECRET": "s", "ITPM_OIDC_SCOPES": "email profile"},
            "ITPM_OIDC_SCOPES must include openid",
        ),
        ({"ITPM_OIDC_GROUP_ROLES": '{"itpm-engineers": 3}'}, "the group 'itpm-engineers' maps to 3"),
    ],
)  # fmt: skip
def test_a_provider_misconfigured_is_named_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings.from_env(env)


def test_the_configuration_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "ITPM_AUTH": "oidc",
            "ITPM_OIDC_ISSUER": "https://sso.example.com/realms/company/",
            "ITPM_OIDC_CLIENT_ID": "itpm",
            "ITPM_OIDC_CLIENT_SECRET": "secret",
            "ITPM_OIDC_GROUPS_CLAIM": "realm_access.roles",
            "ITPM_OIDC_GROUP_ROLES": '{"itpm-pms": ["project_manager", "engineer"], "/Delivery/PMs": "engineer"}',
        }
    )
    provider = settings.flask_config()["OAUTH_PROVIDERS"][0]
    assert provider["remote_app"]["server_metadata_url"] == (
        "https://sso.example.com/realms/company/.well-known/openid-configuration"
    )
    assert settings.oidc_group_roles == {
        "itpm-pms": ("project_manager", "engineer"),
        "/Delivery/PMs": ("engineer",),
    }  # group names as the claim gives them: not lower-cased like directory DNs
