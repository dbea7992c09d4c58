"""The application: configuration, login, languages, Swagger UI, and live definitions revisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import ADMIN, csrf_token, login
from itpm.config import ROOT, ConfigurationError, Settings


def test_production_refuses_to_start_without_a_secret_key() -> None:
    with pytest.raises(ConfigurationError, match="ITPM_SECRET_KEY"):
        Settings.from_env({"ITPM_ENV": "production"})
    with pytest.raises(ConfigurationError):
        Settings.from_env({"ITPM_ENV": "production", "ITPM_SECRET_KEY": "changeme"})
    ok = Settings.from_env({"ITPM_ENV": "production", "ITPM_SECRET_KEY": "k" * 40})
    assert ok.production and ok.secret_key == "k" * 40


def test_configuration_comes_from_the_environment() -> None:
    settings = Settings.from_env(
        {"ITPM_DATABASE_URL": "postgresql+psycopg://db/itpm", "ITPM_REDIS_URL": "redis://r:6379/1"}
    )
    assert settings.database_url == "postgresql+psycopg://db/itpm"
    assert settings.redis_url == "redis://r:6379/1"
    assert settings.flask_config()["RATELIMIT_STORAGE_URI"] == "redis://r:6379/1"
    default = Settings.from_env({})
    assert default.database_url == f"sqlite:///{ROOT / 'instance' / 'itpm.db'}"
    assert default.redis_url is None


def test_anonymous_users_are_sent_to_login(sqlite_app: Any) -> None:
    response = sqlite_app.test_client().get("/definitions/list/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_wrong_password_does_not_log_in(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    token = csrf_token(client, "/login/")
    client.post("/login/", data={"username": "admin", "password": "wrong", "csrf_token": token})
    assert client.get("/definitions/list/").status_code == 302


def test_login_without_csrf_token_is_refused(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    client.get("/login/")
    client.post("/login/", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert client.get("/definitions/list/").status_code == 302


def test_login_is_rate_limited(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    token = csrf_token(client, "/login/")
    statuses = [
        client.post(
            "/login/", data={"username": "admin", "password": "guess", "csrf_token": token}
        ).status_code
        for _ in range(12)
    ]
    assert 429 in statuses


def test_api_login_returns_a_jwt_and_rejects_bad_passwords(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    bad = client.post("/api/v1/security/login", json={"username": "admin", "password": "x", "provider": "db"})
    assert bad.status_code == 401
    good = client.post(
        "/api/v1/security/login", json={"username": ADMIN[0], "password": ADMIN[1], "provider": "db"}
    )
    assert good.status_code == 200 and good.get_json()["access_token"]


def test_pages_speak_chinese_and_english(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    login(client, *ADMIN)
    client.get("/lang/zh")
    zh = client.get("/definitions/list/").get_data(as_text=True)
    assert "定义" in zh and "记录类型" in zh and "变更请求" in zh
    client.get("/lang/en")
    en = client.get("/definitions/list/").get_data(as_text=True)
    assert "Definitions" in en and "Record types" in en and "Change request" in en


def test_first_visit_follows_the_browser_language(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    en = client.get("/login/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert "Username" in en or "User Name" in en
    other = sqlite_app.test_client()
    zh = other.get("/login/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "用户名" in zh


def test_swagger_ui_and_openapi_are_served(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    login(client, *ADMIN)
    assert client.get("/swagger/v1").status_code == 200
    assert client.get("/api/v1/_openapi").get_json()["info"]["title"]


def test_a_publish_in_one_app_is_live_in_another_at_once(database_url: str, tmp_path: Path) -> None:
    """Two app objects (two processes, in effect) on one database: a publish through A is served by B."""
    from conftest import settings_for
    from itpm.web.app import create_app

    a = create_app(settings_for(database_url, tmp_path))
    b = create_app(settings_for(database_url, tmp_path))
    try:
        client_b = b.test_client()
        login(client_b, *ADMIN)
        assert b.dispatcher.app.config["ITPM_REVISION"] == 1 if client_b.get("/definitions/list/") else False
        old_app = b.dispatcher.app
        with a.extensions["itpm"].session() as session:
            registry = a.extensions["itpm"].registry(session)
            body = registry.published_body(registry.get("role", "finance"))
            body["title"]["en"] = "Finance office"
            registry.save_draft(body, "alice")
            registry.publish([("role", "finance")], "alice")
        page = client_b.get("/definitions/list/?_flt_0_kind=role", headers={"Accept-Language": "en"})
        assert page.status_code == 200
        assert b.dispatcher.revision == 2 and b.dispatcher.app is not old_app
        client_b.get("/lang/en")
        assert "Finance office" in client_b.get("/definitions/list/?_flt_0_kind=role").get_data(as_text=True)
    finally:
        a.extensions["itpm"].dispose()
        b.extensions["itpm"].dispose()


def test_a_disposed_app_is_freed_with_its_engine_and_catalogs(fresh_database: Any, tmp_path: Path) -> None:
    """A runtime's commit listener sat in SQLAlchemy's registry and reached back to the runtime, so every
    app a process built and disposed (its engine, catalogs and models) lived until the process ended: the
    test workers grew by thousands of objects per test and their full garbage collections slowed."""
    import gc
    import weakref

    from conftest import create_app, settings_for

    app = create_app(settings_for(fresh_database("sqlite"), tmp_path))
    client = app.test_client()
    login(client, *ADMIN)
    assert client.get("/").status_code in (200, 302)
    runtime = app.extensions["itpm"]
    freed = weakref.ref(runtime), weakref.ref(runtime.engine), weakref.ref(runtime.catalog())
    runtime.dispose()
    del app, client, runtime
    gc.collect()
    assert [kept() is None for kept in freed] == [True, True, True]


def test_the_chinese_catalogue_defines_each_text_once() -> None:
    """Texts are appended to the catalogue by hand; a second entry for one text would silently win or lose
    (Babel keeps one, msgfmt refuses the file)."""
    import collections
    import re

    po = ROOT / "platform/itpm/translations/zh/LC_MESSAGES/messages.po"
    entries = re.findall(
        r'^(?:msgctxt "((?:[^"\\]|\\.)*)"\n)?msgid "((?:[^"\\]|\\.)*)"\n', po.read_text("utf-8"), re.M
    )
    twice = [text for text, n in collections.Counter(e for e in entries if e[1]).items() if n > 1]
    assert twice == []
