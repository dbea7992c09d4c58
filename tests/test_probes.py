"""What monitoring reads: /health (the process answers), /ready (database, Redis, migrations) and
/metrics (Prometheus text behind a bearer token), on SQLite and PostgreSQL, with a real Redis."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update

from conftest import ADMIN, login, settings_for
from itpm.access import Actor
from itpm.automations.jobs import dispatch
from itpm.automations.queue import rq_queue
from itpm.db import utcnow
from itpm.models import ActionRun, OutboxEvent
from itpm.records.service import Records
from itpm.web.app import create_app

TOKEN = "metrics-token-for-the-tests-0123456789"
UNREACHABLE_PG = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def app_on(url: str, folder: Path, **settings: Any) -> Flask:
    return create_app(settings_for(url, folder, **settings))


def new_incident(app: Flask) -> int:
    runtime = app.extensions["itpm"]
    with runtime.session() as session:
        record = Records(session, runtime.catalog(), Actor.system()).create(
            "incident", {"title": "Printer down", "priority": "P3", "category": "network"}, {"assignee": 1}
        )
        session.commit()
        return record.id


def scrape(app: Flask, token: str = TOKEN) -> dict[str, Any]:
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    samples: dict[str, Any] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> Any:
    return samples.get((name, tuple(sorted(labels.items()))))


# --- /health and /ready ---------------------------------------------------------------------------


def test_health_answers_without_the_database_and_ready_says_the_database_is_unreachable(
    tmp_path: Path,
) -> None:
    app = app_on(UNREACHABLE_PG, tmp_path)
    client = app.test_client()
    health = client.get("/health")
    assert (health.status_code, health.get_json()) == (200, {"status": "ok"})
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.get_json() == {
        "status": "not ready",
        "checks": {"database": "unreachable", "migrations": "unknown"},
    }
    assert "127.0.0.1" not in ready.get_data(as_text=True)  # nothing of the address or the error
    assert client.post("/health").status_code == 405
    app.extensions["itpm"].dispose()


def test_ready_when_the_database_is_reachable_and_migrated(app: Flask) -> None:
    response = app.test_client().get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_not_ready_while_the_database_s_migrations_are_behind_or_ahead(app: Flask) -> None:
    engine = app.extensions["itpm"].engine
    client = app.test_client()
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0015'"))  # an upgrade not run yet
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "migrations": "behind"}
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))  # a newer itpm's
    assert client.get("/ready").get_json()["checks"]["migrations"] == "ahead"
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))  # never set up
    assert client.get("/ready").get_json()["checks"]["migrations"] == "behind"


@pytest.mark.redis
def test_ready_checks_redis_when_jobs_go_through_rq(
    fresh_database: Any, tmp_path: Path, redis_url: str
) -> None:
    url = fresh_database("sqlite")
    with_redis = app_on(url, tmp_path, redis_url=redis_url, jobs="rq")
    response = with_redis.test_client().get("/ready")
    assert (response.status_code, response.get_json()["checks"]["redis"]) == (200, "ok")
    without = app_on(url, tmp_path, redis_url=UNREACHABLE_REDIS, jobs="rq")
    response = without.test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "unreachable"}
    in_thread = app_on(url, tmp_path, redis_url=UNREACHABLE_REDIS, jobs="thread")  # Redis is not used
    assert in_thread.test_client().get("/ready").status_code == 200
    for app in (with_redis, without, in_thread):
        app.extensions["itpm"].dispose()


# --- /metrics -------------------------------------------------------------------------------------


def test_metrics_are_not_found_without_a_token_configured_and_refused_without_the_right_one(
    sqlite_app: Flask, fresh_database: Any, tmp_path: Path
) -> None:
    assert sqlite_app.test_client().get("/metrics").status_code == 404
    app = app_on(fresh_database("sqlite"), tmp_path, metrics_token=TOKEN)
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):  # fmt: skip
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "itpm_" not in response.get_data(as_text=True)
    login(client, *ADMIN)  # an admin's session is no token
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    app.extensions["itpm"].dispose()


def test_metrics_say_the_database_is_down_rather_than_fail(tmp_path: Path) -> None:
    app = app_on(UNREACHABLE_PG, tmp_path, metrics_token=TOKEN)
    samples = scrape(app)
    assert value(samples, "itpm_database_up") == 0
    assert value(samples, "itpm_outbox_lag_seconds") is None  # nothing made up
    app.extensions["itpm"].dispose()


def test_metrics_count_requests_by_route_not_by_path(
    fresh_database: Any, backend: str, tmp_path: Path
) -> None:
    app = app_on(fresh_database(backend), tmp_path, metrics_token=TOKEN)
    record = new_incident(app)
    client = app.test_client()
    login(client, *ADMIN)
    before = scrape(app)
    shown = "/records/incident/show/<int:pk>"
    count_before = value(before, "itpm_http_requests_total", method="GET", route=shown, status="200") or 0
    for _ in range(3):
        assert client.get(f"/records/incident/show/{record}").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(app)
    assert (
        value(after, "itpm_http_requests_total", method="GET", route=shown, status="200") == count_before + 3
    )
    assert value(after, "itpm_http_request_duration_seconds_count", method="GET", route=shown) >= 3
    assert value(after, "itpm_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    routes = {dict(labels).get("route") for (_name, labels) in after}
    assert f"/records/incident/show/{record}" not in routes and "/no/such/page" not in routes
    app.extensions["itpm"].dispose()


def test_metrics_say_where_a_request_s_time_goes_database_and_rendering(
    fresh_database: Any, backend: str, tmp_path: Path
) -> None:
    app = app_on(fresh_database(backend), tmp_path, metrics_token=TOKEN)
    record = new_incident(app)
    client = app.test_client()
    login(client, *ADMIN)
    shown = "/records/incident/show/<int:pk>"
    before = scrape(app)

    def seconds(samples: dict[str, Any], name: str) -> float:
        return value(samples, name, method="GET", route=shown) or 0.0

    for _ in range(3):
        assert client.get(f"/records/incident/show/{record}").status_code == 200
    after = scrape(app)
    parts = {
        name: seconds(after, f"{name}_sum") - seconds(before, f"{name}_sum")
        for name in (
            "itpm_http_request_duration_seconds",
            "itpm_http_request_database_seconds",
            "itpm_http_request_render_seconds",
        )
    }
    whole = parts.pop("itpm_http_request_duration_seconds")
    assert all(part > 0 for part in parts.values()), parts  # a record's page reads it and renders a page
    assert sum(parts.values()) < whole
    assert seconds(after, "itpm_http_request_database_seconds_count") >= 3
    app.extensions["itpm"].dispose()


def test_metrics_tell_the_outbox_lag_sla_breaches_and_actions_waiting(
    fresh_database: Any, backend: str, tmp_path: Path
) -> None:
    app = app_on(fresh_database(backend), tmp_path, metrics_token=TOKEN)
    empty = scrape(app)
    assert value(empty, "itpm_database_up") == 1
    assert value(empty, "itpm_outbox_lag_seconds") == 0
    new_incident(app)  # its event waits in the outbox (no one runs jobs here)
    runtime = app.extensions["itpm"]
    now = utcnow()
    with runtime.session() as session:
        session.execute(update(OutboxEvent).values(created_at=now - dt.timedelta(minutes=10)))
        session.add(OutboxEvent(kind="sla_breach", record_type="incident", record_id=1, payload={},
                                handled_at=now, created_at=now))  # fmt: skip
        for n, (status, due) in enumerate(
            [("failed", now), ("failed", None), ("pending", now), ("done", None)]
        ):
            session.add(ActionRun(key=f"k{n}", automation="a", action="set", status=status, due_at=due))
        session.commit()
    samples = scrape(app)
    assert value(samples, "itpm_outbox_unhandled_events") >= 1
    assert 600 <= value(samples, "itpm_outbox_lag_seconds") < 3600
    assert value(samples, "itpm_sla_breaches_total") == 1
    assert value(samples, "itpm_automation_actions", state="retrying") == 1
    assert value(samples, "itpm_automation_actions", state="failed") == 1
    assert value(samples, "itpm_automation_actions", state="delayed") == 1
    assert value(samples, "itpm_redis_up") is None  # no Redis configured: no queue figures
    runtime.dispose()


@pytest.mark.redis
@pytest.mark.postgres
def test_metrics_tell_the_rq_queue_depth_and_failed_jobs(
    fresh_database: Any, tmp_path: Path, redis_url: str
) -> None:
    app = app_on(fresh_database("postgres"), tmp_path, metrics_token=TOKEN, redis_url=redis_url, jobs="rq")
    runtime = app.extensions["itpm"]
    new_incident(app)
    runtime.jobs.stop()  # the app's dispatcher thread: this test sends the events itself
    queue = rq_queue(redis_url)
    dispatch(runtime, queue)
    samples = scrape(app)
    assert value(samples, "itpm_redis_up") == 1
    assert value(samples, "itpm_rq_queue_depth", queue="itpm") == 1
    assert value(samples, "itpm_rq_jobs", queue="itpm", state="failed") == 0
    assert value(samples, "itpm_rq_workers") == 0
    runtime.dispose()


def test_metrics_of_several_processes_are_added_up_in_multiprocess_mode(
    fresh_database: Any, tmp_path: Path
) -> None:
    """Two processes (as gunicorn's workers, forked) each answer a request; a scrape counts both."""
    url = fresh_database("sqlite")
    folder = tmp_path / "prometheus"
    folder.mkdir()
    script = f"""
import os, sys
from pathlib import Path
from conftest import settings_for
from itpm.web.app import create_app
app = create_app(settings_for({url!r}, Path({str(tmp_path)!r}), metrics_token={TOKEN!r}))
app.dispatcher.app
app.extensions["itpm"].engine.dispose()
child = os.fork()
client = app.test_client()
assert client.get("/login/").status_code == 200
if child == 0:
    os._exit(0)
assert os.waitpid(child, 0)[1] == 0
sys.stdout.write(client.get("/metrics", headers={{"Authorization": "Bearer {TOKEN}"}}).get_data(as_text=True))
"""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=Path(__file__).parent,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    samples = {}
    for family in text_string_to_metric_families(done.stdout):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert value(samples, "itpm_http_requests_total", method="GET", route="/login/", status="200") == 2
    assert value(samples, "itpm_outbox_lag_seconds") == 0  # the installation's figures are there too


def test_probe_bodies_say_nothing_of_the_installation(app: Flask) -> None:
    """No login is needed for /health and /ready, and their bodies name checks and states only."""
    client = app.test_client()
    for path in ("/health", "/ready", "/health/", "/ready/"):
        response = client.get(path)
        assert response.status_code == 200
        body = json.loads(response.get_data(as_text=True))
        words = json.dumps(body)
        for secret in ("postgres", "sqlite", "itpm_", "admin", "0019", "alembic"):
            assert secret not in words, (path, secret)
