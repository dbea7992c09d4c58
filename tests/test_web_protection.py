"""What every response and state-changing request is held to: CSRF on the API for cookie
sessions, security headers and a nonce'd script policy, secure cookies in production."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from test_workflows import PASSWORD, cast, change_request

from conftest import ADMIN, SECRET, api_token, csrf_token, login, settings_for
from itpm.config import Settings
from itpm.web.app import create_app

INCIDENT = {"data": {"title": "Mail is down", "priority": "P2", "category": "network"}}


# --- CSRF on the API (finding 13) --------------------------------------------


def test_a_cookie_session_cannot_change_anything_through_the_api_without_the_csrf_token(
    admin_client: FlaskClient,
) -> None:
    refused = admin_client.post("/api/v1/records/incident/", json=INCIDENT)
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["message"]
    assert admin_client.get("/api/v1/records/incident/").get_json()["count"] == 0
    token = csrf_token(admin_client, "/users/userinfo/")
    made = admin_client.post("/api/v1/records/incident/", json=INCIDENT, headers={"X-CSRFToken": token})
    assert made.status_code == 201
    assert admin_client.get("/api/v1/records/incident/").get_json()["count"] == 1  # reading needs no token


def test_a_bearer_token_needs_no_csrf_token(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    token = api_token(client, *ADMIN)
    made = client.post(
        "/api/v1/records/incident/", json=INCIDENT, headers={"Authorization": f"Bearer {token}"}
    )
    assert made.status_code == 201


def test_an_approval_cannot_be_decided_by_a_cookie_alone(app: Any, runtime: Any) -> None:
    """The outside test decided an approval with the session cookie and no token."""
    people = cast(app, runtime)
    record_id = change_request(runtime, people)
    dev = app.test_client()
    login(dev, "dev", PASSWORD)
    token = csrf_token(dev, f"/records/change_request/transition/{record_id}/approve")
    dev.post(
        f"/records/change_request/transition/{record_id}/approve", data={"comment": "", "csrf_token": token}
    )
    pm = app.test_client()
    login(pm, "pm", PASSWORD)
    [approval] = pm.get("/api/v1/approvals/").get_json()["result"]

    assert pm.post(f"/api/v1/approvals/{approval['id']}/approve", json={}).status_code == 400
    assert pm.get("/api/v1/approvals/").get_json()["count"] == 1  # still waiting
    token = csrf_token(pm, "/approvals/")
    decided = pm.post(f"/api/v1/approvals/{approval['id']}/approve", json={}, headers={"X-CSRFToken": token})
    assert decided.status_code == 200
    assert pm.get("/api/v1/approvals/").get_json()["count"] == 0


# --- headers (finding 14) -----------------------------------------------------


def test_pages_carry_a_script_policy_their_own_scripts_satisfy(admin_client: FlaskClient) -> None:
    anonymous = admin_client.application.test_client()
    for path in ("/login/", "/records/incident/list/", "/definitions/list/", "/swagger/v1"):
        response = (anonymous if path == "/login/" else admin_client).get(path)
        assert response.status_code == 200, path
        policy = response.headers["Content-Security-Policy"]
        nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", policy)
        assert nonce, policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'self'" in policy and "object-src 'none'" in policy
        html = response.get_data(as_text=True)
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts and all(f'nonce="{nonce.group(1)}"' in tag for tag in scripts), (path, scripts)
        assert not re.search(r"\son(click|submit|load|change)=", html), path
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_the_api_answers_with_the_same_headers(admin_client: FlaskClient) -> None:
    response = admin_client.get("/api/v1/records/incident/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response.headers


def _session_cookie_header(client: FlaskClient) -> str:
    token = csrf_token(client, "/login/")
    response = client.post("/login/", data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token})
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


def test_cookies_are_secure_in_production(fresh_database: Any, tmp_path: Path) -> None:
    url = fresh_database("sqlite")
    production = Settings(
        database_url=url,
        secret_key=SECRET,
        instance_path=tmp_path,
        production=True,
        jobs="none",
        extra=settings_for(url, tmp_path).extra,
    )
    app = create_app(production)
    try:
        cookie = _session_cookie_header(app.test_client())
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        app.extensions["itpm"].dispose()


def test_cookies_are_http_only_in_development(sqlite_app: Any) -> None:
    cookie = _session_cookie_header(sqlite_app.test_client())
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
