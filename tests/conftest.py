"""Fixtures: fresh databases on SQLite and on the local PostgreSQL, apps, and logged-in clients.

Each backend gets a template database once per test process (migrated, the
starter pack published, an admin created); every test then works on a copy of
it: a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL.
"""

from __future__ import annotations

import gc
import itertools
import os
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, got_request_exception
from flask.testing import FlaskClient

from itpm.config import Settings
from itpm.installation import STARTER_PACK, initialise
from itpm.web.app import create_app

PG_SERVER = os.environ.get("ITPM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN = ("admin", "admin-password-for-tests")
SECRET = "test-secret-key-that-is-long-enough-to-pass-checks"
BACKENDS = ["sqlite", "postgres"]
_counter = itertools.count()
CATALOGUE = Path(__file__).parents[1] / "platform/itpm/translations/zh/LC_MESSAGES/messages"


def pytest_configure(config: pytest.Config) -> None:
    """Compile the Chinese catalogue when its source is newer (as `make` does), once, in the controller."""
    po, mo = CATALOGUE.with_suffix(".po"), CATALOGUE.with_suffix(".mo")
    if hasattr(config, "workerinput") or (mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime):
        return
    with po.open("rb") as source:
        catalog = read_po(source, locale="zh")
    with mo.open("wb") as target:
        write_mo(target, catalog)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Garbage collection tuned for a process that builds an app per test: what is loaded once (modules,
    definitions, the test modules) is frozen out of collections, and full collections come rarely.

    Measured on 16 app builds in one process (on a machine at load 14, so only the ratio says much): the
    collector took 9.3 s of 15.2 s with the defaults, 3.8 s of 12.9 s with this; peak memory 209 MB and
    232 MB (cycles are still collected, only less often)."""
    _check_the_groups(session)
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def _check_the_groups(session: pytest.Session) -> None:
    """On an xdist worker with --dist loadgroup, a grouped test's id carries its group ("...@group"): that is
    how the scheduler keeps a module's tests on one worker. Some pytest and xdist versions together drop
    it silently (pytest 9.2 with xdist 3.8: pytest-xdist#1386), and tests that share a module's world run
    out of order on two workers. Say so rather than fail at random."""
    if not getattr(session.config.option, "loadgroup", False):  # set on xdist's workers only
        return
    for item in session.items:
        if any(True for _ in item.iter_markers("xdist_group")) and "@" not in item.nodeid:
            raise pytest.UsageError(
                f"xdist --dist loadgroup does not group {item.nodeid}: this pytest and pytest-xdist do not work"
                " together (see the pytest pin in pyproject.toml)"
            )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of a module that builds something once for the module (a `scope="module"` fixture: a
    demo company, the leak test's world) run on one xdist worker, in order, so it is built once, not once
    per worker (`make test` runs with --dist loadgroup; other tests are shared out one by one).

    First of the hooks, so that the markers are there when xdist's worker reads them in its own."""
    for item in items:
        definitions = getattr(item, "_fixtureinfo", None)
        if definitions is None:
            continue
        if any(d.scope == "module" for defs in definitions.name2fixturedefs.values() for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__ if item.module else item.nodeid))


#: Unhandled exceptions in requests of the running test (a 500 where a 4xx or an answer belongs).
_server_errors: list[str] = []


def _record_server_error(sender: Flask, exception: BaseException, **_: Any) -> None:
    _server_errors.append(f"{type(exception).__name__}: {exception}")


got_request_exception.connect(_record_server_error)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Every test fails when one of its requests ended in an unhandled exception, whatever it asserted,
    unless it is marked `server_error` (it makes a page fail on purpose)."""
    _server_errors.clear()
    result = yield
    if _server_errors and item.get_closest_marker("server_error") is None:
        errors = "; ".join(_server_errors[:3])
        _server_errors.clear()
        pytest.fail(f"a request answered 500 (unhandled): {errors}", pytrace=False)
    return result


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_execute(sql: str) -> None:
    with psycopg.connect(PG_SERVER, autocommit=True) as connection:
        connection.execute(sql)


def _pg_url(database: str) -> str:
    """The URL of one test database. Its sessions commit without waiting for the WAL to reach the disk
    (`synchronous_commit=off`): a test database is dropped at the end, so a server crash loses nothing
    that matters, and each commit costs 0.1 ms instead of 1.3 ms on this machine's disk. Everything a
    test can see stays the same: commits are still atomic, ordered and visible to other sessions."""
    base = PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{database}?options=-csynchronous_commit%3Doff"


#: Passwords hashed cheaply: tests create and log in many people; production keeps FAB's scrypt.
FAST_HASHING = {"FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}


def settings_for(url: str, instance: Path, **extra: Any) -> Settings:
    extra.setdefault("jobs", "none")  # automations run when a test drains the outbox, not behind its back
    return Settings(
        database_url=url,
        secret_key=SECRET,
        instance_path=instance,
        extra={**FAST_HASHING, **extra.pop("extra", {})},
        **extra,
    )


def _initialise(url: str, instance: Path) -> None:
    app = create_app(settings_for(url, instance))
    initialise(app.extensions["itpm"], app, *ADMIN, starter_pack=STARTER_PACK)
    app.extensions["itpm"].dispose()


class _Spares:
    """PostgreSQL test databases copied from the template one test ahead, and dropped after it, on a
    thread of their own: a copy takes 0.1-0.5 s of which half is the server waiting for the disk, and
    the test before runs meanwhile. One thread, so copies and drops never race each other."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="itpm-test-databases")
        self.next: Future[str] | None = None

    def take(self, template: str) -> str:
        made = self.next.result() if self.next is not None else _copy_of(template)
        self.next = self.pool.submit(_copy_of, template)
        return made

    def drop(self, name: str) -> None:
        self.pool.submit(_pg_execute, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        if self.next is not None:
            self.drop(self.next.result())
            self.next = None
        self.pool.shutdown(wait=True)


def _copy_of(template: str) -> str:
    name = f"itpm_{_worker()}_{os.getpid()}_{next(_counter)}"
    _pg_execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return name


@pytest.fixture(scope="session")
def template_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Built lazily: a backend's template is made the first time a test asks for it."""
    templates: dict[str, Any] = {"folder": tmp_path_factory.mktemp("templates"), "spares": _Spares()}
    yield templates
    templates["spares"].close()
    if "postgres" in templates:
        _pg_execute(f"DROP DATABASE IF EXISTS {templates['postgres']} WITH (FORCE)")


def _template(backend: str, templates: dict[str, Any]) -> str:
    if backend in templates:
        return templates[backend]
    folder: Path = templates["folder"]
    if backend == "sqlite":
        path = folder / "template.db"
        _initialise(f"sqlite:///{path}", folder)
        templates[backend] = str(path)
    else:
        name = f"itpm_tpl_{_worker()}_{os.getpid()}"  # two test runs at once never share one
        _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        _pg_execute(f"CREATE DATABASE {name}")
        _initialise(_pg_url(name), folder)
        templates[backend] = name
    return templates[backend]


@contextmanager
def databases(templates: dict[str, Any], folder: Path) -> Iterator[Any]:
    """A function making fresh databases (copies of the template) by backend, dropped at the end."""
    made: list[str] = []

    def make(backend: str) -> str:
        template = _template(backend, templates)
        if backend == "sqlite":
            path = folder / f"itpm-{next(_counter)}.db"
            shutil.copyfile(template, path)
            return f"sqlite:///{path}"
        name = templates["spares"].take(template)
        made.append(name)
        return _pg_url(name)

    yield make
    for name in made:
        templates["spares"].drop(name)


@pytest.fixture
def fresh_database(template_databases: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    """A function making fresh databases by backend, for one test."""
    with databases(template_databases, tmp_path) as make:
        yield make


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    return request.param


@pytest.fixture
def database_url(fresh_database: Any, backend: str) -> str:
    return fresh_database(backend)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(settings_for(database_url, tmp_path))
    yield app
    app.extensions["itpm"].dispose()


@pytest.fixture
def sqlite_app(fresh_database: Any, tmp_path: Path) -> Iterator[Flask]:
    """An app on SQLite only, for behaviour that does not depend on the database."""
    app = create_app(settings_for(fresh_database("sqlite"), tmp_path))
    yield app
    app.extensions["itpm"].dispose()


@pytest.fixture
def runtime(app: Flask) -> Any:
    return app.extensions["itpm"]


def csrf_token(client: FlaskClient, path: str) -> str:
    html = client.get(path, follow_redirects=True).get_data(as_text=True)  # staff's / is My work
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str) -> None:
    token = csrf_token(client, "/login/")
    response = client.post("/login/", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture
def admin_client(app: Flask) -> FlaskClient:
    """The admin, logged in, reading English (tests that read Chinese switch with /lang/zh)."""
    client = app.test_client()
    login(client, *ADMIN)
    client.get("/lang/en")
    return client


def api_token(client: FlaskClient, username: str, password: str) -> str:
    response = client.post(
        "/api/v1/security/login",
        json={"username": username, "password": password, "provider": "db", "refresh": False},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@pytest.fixture
def admin_api(app: Flask) -> Any:
    """A test client that sends the admin's JWT (and asks for English) with every request."""
    client = app.test_client()
    token = api_token(client, *ADMIN)

    class Api:
        def __getattr__(self, method: str) -> Any:
            call = getattr(client, method)

            def send(path: str, **kwargs: Any) -> Any:
                headers = kwargs.setdefault("headers", {})
                headers["Authorization"] = f"Bearer {token}"
                headers.setdefault("Accept-Language", "en")
                return call(path, **kwargs)

            return send

    return Api()


@pytest.fixture
def starter_pack_folders() -> list[Path]:
    return list(STARTER_PACK)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of the shared server for this test alone (one per xdist worker, emptied).

    `ITPM_TEST_REDIS_BASE` moves the range (default 8: databases 8 to 15), so that
    two test runs on one machine, each with its own base, never empty each other's.
    """
    from redis import Redis

    base = int(os.environ.get("ITPM_TEST_REDIS_BASE", "8"))
    index = (base + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)) % 16
    url = f"redis://127.0.0.1:6379/{index}"
    Redis.from_url(url).flushdb()
    yield url
    Redis.from_url(url).flushdb()
