"""Signing in and out, and passwords: guessing is rate limited, weak passwords are refused on
every path, signing out and a new password end every session cookie and token."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import create_engine, inspect, select

from conftest import ADMIN, api_token, csrf_token, login, settings_for
from itpm.models import Person
from itpm.passwords import PasswordRefused, password_problems
from itpm.web.app import create_app

PASSWORD = "sign-in-password-for-tests"


def add_person(app: Any, username: str, role: str = "engineer", password: str = PASSWORD) -> int:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        person = sm.add_user(
            username, username.title(), "Tester", f"{username}@itpm.invalid", [sm.find_role(role)], password
        )
        sm.session.commit()
        return person.id


def api_login(client: FlaskClient, username: str, password: str, **environ: str) -> Any:
    return client.post(
        "/api/v1/security/login",
        json={"username": username, "password": password, "provider": "db", "refresh": True},
        environ_base=environ,
    )


def html_login(client: FlaskClient, username: str, password: str, **environ: str) -> Any:
    token = csrf_token(client, "/login/")
    return client.post(
        "/login/",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base=environ,
    )


def signed_in(client: FlaskClient) -> bool:
    return client.get("/users/userinfo/").status_code == 200


# --- rate limits (finding 3) -------------------------------------------------


def test_guessing_a_password_through_the_api_is_stopped_with_retry_after(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    statuses = [api_login(client, ADMIN[0], f"guess-{n}").status_code for n in range(10)]
    assert statuses == [401] * 10
    refused = api_login(client, *ADMIN)  # the right password, after ten wrong ones
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 20
    assert "access_token" not in refused.get_json()


def test_the_html_and_api_sign_ins_count_against_one_limit_per_user_name(sqlite_app: Any) -> None:
    """Every attempt on a name counts, from any address: spreading guesses over addresses does not help."""
    client = sqlite_app.test_client()
    client.get("/lang/en")
    for n in range(5):
        assert html_login(client, ADMIN[0], f"guess-{n}", REMOTE_ADDR=f"10.0.0.{n}").status_code == 302
    for n in range(5):
        assert api_login(client, ADMIN[0], f"guess-{n}", REMOTE_ADDR=f"10.0.1.{n}").status_code == 401
    html = html_login(client, ADMIN[0], ADMIN[1], REMOTE_ADDR="10.0.2.1")
    assert html.status_code == 429 and "Retry-After" in html.headers
    assert "Too many wrong passwords were tried." in html.get_data(as_text=True)
    assert not signed_in(client)
    # another person's sign-in is not held up by it
    add_person(sqlite_app, "dora")
    assert api_login(client, "dora", PASSWORD, REMOTE_ADDR="10.0.2.2").status_code == 200


def test_failures_from_one_address_are_limited_across_user_names(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    for n in range(10):
        assert api_login(client, f"nobody-{n}", "guess", REMOTE_ADDR="10.9.9.9").status_code == 401
    assert api_login(client, ADMIN[0], ADMIN[1], REMOTE_ADDR="10.9.9.9").status_code == 429
    assert api_login(client, ADMIN[0], ADMIN[1], REMOTE_ADDR="10.9.9.10").status_code == 200


def test_an_office_behind_one_address_can_all_sign_in(sqlite_app: Any) -> None:
    """Per address only failures count: twelve people signing in from one address all get in."""
    people = [f"office{n}" for n in range(12)]
    for name in people:
        add_person(sqlite_app, name)
    client = sqlite_app.test_client()
    assert [api_login(client, name, PASSWORD).status_code for name in people] == [200] * 12


@pytest.mark.redis
def test_with_redis_the_limit_holds_across_processes(
    fresh_database: Any,
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    """Two app objects (two gunicorn workers, in effect) share the counters in Redis."""
    database = fresh_database("sqlite")
    one = create_app(settings_for(database, tmp_path, redis_url=redis_url))
    two = create_app(settings_for(database, tmp_path, redis_url=redis_url))
    try:
        for n in range(5):
            assert api_login(one.test_client(), ADMIN[0], f"guess-{n}").status_code == 401
            assert api_login(two.test_client(), ADMIN[0], f"guess-{n}").status_code == 401
        assert api_login(one.test_client(), *ADMIN).status_code == 429
        assert api_login(two.test_client(), *ADMIN).status_code == 429
    finally:
        one.extensions["itpm"].dispose()
        two.extensions["itpm"].dispose()


# --- password policy (finding 4) ---------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["short-1", "password1234", "qwertyuiop123", "iloveyou2024!", "abcdefghijklmn", "dora-tester-dora"],
)
def test_short_common_or_personal_passwords_are_refused(password: str) -> None:
    assert password_problems(password, ["dora", "Dora", "Tester", "dora@itpm.invalid"])


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "plum-7-harbour-quietly", "Tr0ub4dor&3xyz"]
)
def test_long_uncommon_passwords_are_accepted(password: str) -> None:
    assert password_problems(password, ["dora"]) == []


def _add_user_form(admin_client: FlaskClient, username: str, password: str) -> str:
    token = csrf_token(admin_client, "/users/add")
    admin = admin_client.application.dispatcher.app  # type: ignore[attr-defined]
    with admin.app_context():
        role_id = admin.appbuilder.sm.find_role("engineer").id
    response = admin_client.post(
        "/users/add",
        data={
            "first_name": "Eve",
            "last_name": "Tester",
            "username": username,
            "email": f"{username}@itpm.invalid",
            "active": "y",
            "roles": str(role_id),
            "password": password,
            "conf_password": password,
            "locale": "",
            "client_id": "",
            "manager_id": "",
            "csrf_token": token,
        },
    )
    return response.get_data(as_text=True)


def _exists(runtime: Any, username: str) -> bool:
    with runtime.session() as session:
        return session.scalar(select(Person.id).where(Person.username == username)) is not None


def test_adding_a_user_with_a_weak_password_is_refused(admin_client: FlaskClient, runtime: Any) -> None:
    page = _add_user_form(admin_client, "eve", "password1234")
    assert "too easy to guess" in page and not _exists(runtime, "eve")
    page = _add_user_form(admin_client, "eve", "short")
    assert "at least 12 characters" in page and not _exists(runtime, "eve")
    _add_user_form(admin_client, "eve", "plum-7-harbour-quietly")
    assert _exists(runtime, "eve")


def _change_my_password(client: FlaskClient, current: str, new: str) -> Any:
    token = csrf_token(client, "/resetmypassword/form")
    return client.post(
        "/resetmypassword/form",
        data={"current_password": current, "password": new, "conf_password": new, "csrf_token": token},
    )


def test_changing_ones_password_asks_for_the_current_one_and_a_strong_new_one(app: Any) -> None:
    add_person(app, "dora")
    client = app.test_client()
    login(client, "dora", PASSWORD)
    client.get("/lang/en")
    assert "Current password" in client.get("/resetmypassword/form").get_data(as_text=True)

    wrong = _change_my_password(client, "not-my-password", "plum-7-harbour-quietly")
    assert "This is not your current password." in wrong.get_data(as_text=True)
    weak = _change_my_password(client, PASSWORD, "dora-tester-dora")
    assert "too easy to guess" in weak.get_data(as_text=True)
    assert api_login(app.test_client(), "dora", PASSWORD).status_code == 200  # unchanged so far

    assert _change_my_password(client, PASSWORD, "plum-7-harbour-quietly").status_code == 302
    assert signed_in(client)  # the session that changed it goes on
    assert api_login(app.test_client(), "dora", PASSWORD).status_code == 401
    assert api_login(app.test_client(), "dora", "plum-7-harbour-quietly").status_code == 200


def test_an_admin_resetting_a_password_is_held_to_the_policy(admin_client: FlaskClient, app: Any) -> None:
    dora = add_person(app, "dora")
    path = f"/resetpassword/form?pk={dora}"
    token = csrf_token(admin_client, path)
    weak = admin_client.post(
        path, data={"password": "password1234", "conf_password": "password1234", "csrf_token": token}
    )
    assert "too easy to guess" in weak.get_data(as_text=True)
    assert api_login(app.test_client(), "dora", PASSWORD).status_code == 200
    strong = "plum-7-harbour-quietly"
    admin_client.post(path, data={"password": strong, "conf_password": strong, "csrf_token": token})
    assert api_login(app.test_client(), "dora", strong).status_code == 200


def test_the_security_manager_refuses_a_weak_password_whoever_calls_it(sqlite_app: Any) -> None:
    dora = add_person(sqlite_app, "dora")
    flask_app = sqlite_app.dispatcher.app
    with flask_app.test_request_context():
        with pytest.raises(PasswordRefused):
            flask_app.appbuilder.sm.reset_password(dora, "Dora-Tester-1")


def test_itpm_init_refuses_a_weak_admin_password_and_writes_nothing(tmp_path: Path) -> None:
    from itpm.cli import main

    database = tmp_path / "itpm.db"
    env = {
        "ITPM_DATABASE_URL": f"sqlite:///{database}",
        "ITPM_INSTANCE_PATH": str(tmp_path),
        "ITPM_SECRET_KEY": "k" * 40,
        "ITPM_JOBS": "none",
    }
    result = CliRunner(env={**os.environ, **env}).invoke(
        main, ["init", "--admin-user", "boss", "--admin-password", "admin1234567", "--no-starter-pack"]
    )
    assert result.exit_code != 0
    assert "--admin-password" in result.output and "Nothing was changed" in result.output
    assert not database.exists() or inspect(create_engine(f"sqlite:///{database}")).get_table_names() == []


def test_the_demo_refuses_a_weak_password(sqlite_app: Any) -> None:
    from itpm.demo import Demo, DemoRefused

    with pytest.raises(DemoRefused, match="password"):
        Demo(sqlite_app.extensions["itpm"], scale=0.05).load("demo1234")


# --- sessions and tokens end (finding 10) ------------------------------------


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replayed(app: Any, cookie: str) -> FlaskClient:
    """A browser that kept (or stole) the cookie of an earlier session."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_signing_out_ends_the_session_everywhere_and_every_token(app: Any) -> None:
    add_person(app, "dora")
    browser, laptop = app.test_client(), app.test_client()
    login(browser, "dora", PASSWORD)
    login(laptop, "dora", PASSWORD)
    kept = _session_cookie(browser)
    tokens = api_login(app.test_client(), "dora", PASSWORD).get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    api = app.test_client()
    assert api.get("/api/v1/approvals/", headers=bearer).status_code == 200

    token = csrf_token(browser, "/users/userinfo/")
    assert browser.post("/logout/", data={"csrf_token": token}).status_code == 302

    assert not signed_in(browser)
    assert not signed_in(_replayed(app, kept))  # the cookie from before does not sign anyone in
    assert not signed_in(laptop)
    assert api.get("/api/v1/approvals/", headers=bearer).status_code == 401
    refresh = api.post(
        "/api/v1/security/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert refresh.status_code == 401
    # signing in again works, with fresh tokens
    login(browser, "dora", PASSWORD)
    assert signed_in(browser)
    fresh = api_token(app.test_client(), "dora", PASSWORD)
    assert api.get("/api/v1/approvals/", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_a_new_password_ends_the_other_sessions_and_tokens(app: Any) -> None:
    add_person(app, "dora")
    mine, other = app.test_client(), app.test_client()
    login(mine, "dora", PASSWORD)
    login(other, "dora", PASSWORD)
    tokens = api_login(app.test_client(), "dora", PASSWORD).get_json()
    _change_my_password(mine, PASSWORD, "plum-7-harbour-quietly")
    assert signed_in(mine) and not signed_in(other)
    api = app.test_client()
    assert (
        api.get(
            "/api/v1/approvals/", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 401
    )
    assert (
        api.post(
            "/api/v1/security/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
        ).status_code
        == 401
    )


def test_the_api_signs_out_its_caller(sqlite_app: Any) -> None:
    add_person(sqlite_app, "dora")
    browser = sqlite_app.test_client()
    login(browser, "dora", PASSWORD)
    token = api_token(sqlite_app.test_client(), "dora", PASSWORD)
    api = sqlite_app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.post("/api/v1/security/logout", headers=bearer).status_code == 200
    assert api.get("/api/v1/approvals/", headers=bearer).status_code == 401
    assert not signed_in(browser)


# --- signing out is a POST (finding 18) ---------------------------------------


def test_a_link_cannot_sign_anyone_out(sqlite_app: Any) -> None:
    """GET /logout/ asks; a POST without the CSRF token is refused; the menu holds a form."""
    client = sqlite_app.test_client()
    login(client, *ADMIN)
    client.get("/lang/en")
    menu = client.get("/users/userinfo/").get_data(as_text=True)
    assert 'action="/logout/"' in menu and 'href="/logout/"' not in menu
    asked = client.get("/logout/")
    assert asked.status_code == 200 and 'method="post"' in asked.get_data(as_text=True)
    assert signed_in(client)
    assert client.post("/logout/").status_code == 400
    assert signed_in(client)
    token = csrf_token(client, "/users/userinfo/")
    assert client.post("/logout/", data={"csrf_token": token}).status_code == 302
    assert not signed_in(client)


def test_the_password_rules_speak_chinese(sqlite_app: Any) -> None:
    add_person(sqlite_app, "dora")
    client = sqlite_app.test_client()
    login(client, "dora", PASSWORD)
    client.get("/lang/zh")
    form = client.get("/resetmypassword/form").get_data(as_text=True)
    assert "当前密码" in form and "至少 12 个字符" in form
    weak = _change_my_password(client, PASSWORD, "password1234").get_data(as_text=True)
    assert "太容易被猜中" in weak
    wrong = _change_my_password(client, "not-my-password", "plum-7-harbour-quietly").get_data(as_text=True)
    assert "这不是您的当前密码" in wrong
    assert "退出登录" in client.get("/logout/").get_data(as_text=True)
