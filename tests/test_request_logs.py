"""Log lines with request ids: taken from X-Request-ID (or made up), sent back, written as JSON or
plain text, kept on the outbox events the request saved and carried into the RQ job a worker runs."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from rq.job import Job
from sqlalchemy import select
from test_automations import automation
from test_schema_changes import publish

from conftest import ADMIN, SECRET, api_token, settings_for
from itpm import logs
from itpm.automations.jobs import dispatch
from itpm.automations.queue import rq_queue
from itpm.config import ConfigurationError, Settings
from itpm.models import ActionRun, AuditEntry, OutboxEvent
from itpm.web.app import create_app

ITPM = str(Path(sys.executable).with_name("itpm"))
GIVEN = "3f2a9c1e-5b7d-4e10-9a6b-0c8d7e6f5a4b"
INCIDENT = {"data": {"title": "Mail is down", "priority": "P2", "category": "network"}}


@pytest.fixture
def captured(app: Flask) -> Iterator[io.StringIO]:
    """The lines every logger writes, formatted as the app's settings say, with JSON chosen."""
    with configured(app.extensions["itpm"].settings._replace(log_format="json")) as stream:
        yield stream


@contextmanager
def configured(settings: Settings) -> Iterator[io.StringIO]:
    """Logging as `itpm.logs.configure` sets it up, into a string; as it was afterwards (level too)."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = logs.configure(settings, stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_is_logged_as_one_json_object_with_its_id_route_person_status_and_time(
    app: Flask, captured: io.StringIO
) -> None:
    client = app.test_client()
    token = api_token(client, *ADMIN)
    response = client.post(
        "/api/v1/records/incident/",
        json=INCIDENT,
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": GIVEN},
    )
    assert response.status_code == 201, response.get_json()
    assert response.headers["X-Request-ID"] == GIVEN
    (line,) = [e for e in lines(captured) if e["logger"] == "itpm.request" and e["request_id"] == GIVEN]
    assert set(line) >= {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "user",
        "route",
        "status",
        "duration_ms",
    }
    assert line["level"] == "INFO"
    assert line["message"] == "POST /api/v1/records/incident/ 201"
    assert (line["route"], line["status"], line["user"]) == ("/api/v1/records/incident/", 201, ADMIN[0])
    assert line["duration_ms"] > 0
    assert line["time"].startswith("20") and "T" in line["time"]
    runtime = app.extensions["itpm"]
    with runtime.session() as session:  # kept for the jobs, and in the audit log, under the same id
        assert session.scalars(select(OutboxEvent.request_id)).all() == [GIVEN]
        created = session.execute(
            select(AuditEntry.actor, AuditEntry.request).where(AuditEntry.action == "record.create")
        ).one()
        assert tuple(created) == (ADMIN[0], f"req:{GIVEN}")  # the token's person, not "anonymous"


def test_a_missing_or_malformed_request_id_is_replaced_by_a_new_one(
    app: Flask, captured: io.StringIO
) -> None:
    client = app.test_client()
    made = set()
    for header in (None, "short", "x" * 65, "has spaces in it", "<script>alert(1)</script>", "ok;forged=1"):
        response = client.get("/login/", headers={"X-Request-ID": header} if header else {})
        made.add(response.headers["X-Request-ID"])
        assert len(response.headers["X-Request-ID"]) == 32
    assert len(made) == 6  # each a new one
    logged = {e["request_id"] for e in lines(captured) if e["logger"] == "itpm.request"}
    assert made <= logged
    assert not logged & {"short", "has spaces in it"}


def test_plain_text_is_the_default_and_names_the_request_id(sqlite_app: Flask) -> None:
    settings = sqlite_app.extensions["itpm"].settings
    assert Settings.from_env({}).log_format == "plain"
    with configured(settings) as stream:
        sqlite_app.test_client().get("/login/", headers={"X-Request-ID": GIVEN})
    (line,) = [line for line in stream.getvalue().splitlines() if "itpm.request" in line]
    assert f"INFO itpm.request [{GIVEN}] GET /login/ 200" in line
    with pytest.raises(ConfigurationError, match="ITPM_LOG_FORMAT is plain or json"):
        Settings.from_env({"ITPM_LOG_FORMAT": "xml"})


@pytest.mark.postgres
@pytest.mark.redis
def test_the_request_id_goes_with_the_job_and_the_worker_logs_it(
    fresh_database: Any, tmp_path: Path, redis_url: str
) -> None:
    database = fresh_database("postgres")
    app = create_app(settings_for(database, tmp_path, redis_url=redis_url))  # events wait: sent below
    publish(
        app.extensions["itpm"],
        automation("escalate", "incident", {"on": "created"}, [{"do": "set", "fields": {"impact": "high"}}]),
    )
    client = app.test_client()
    token = api_token(client, *ADMIN)
    for request_id in (GIVEN, None):  # one with an id of its own, one without (made up)
        headers = {"Authorization": f"Bearer {token}", **({"X-Request-ID": request_id} if request_id else {})}
        response = client.post("/api/v1/records/incident/", json=INCIDENT, headers=headers)
        assert response.status_code == 201
    other = response.headers["X-Request-ID"]
    runtime = app.extensions["itpm"]
    queue = rq_queue(redis_url)
    assert dispatch(runtime, queue) >= 2
    (job_id,) = queue.get_job_ids()  # both events in one job: it names both requests
    assert Job.fetch(job_id, connection=queue.connection).meta["request_ids"] == [GIVEN, other]
    env = {**os.environ, "ITPM_DATABASE_URL": database, "ITPM_REDIS_URL": redis_url,
           "ITPM_INSTANCE_PATH": str(tmp_path), "ITPM_SECRET_KEY": SECRET, "ITPM_LOG_FORMAT": "json"}  # fmt: skip
    done = subprocess.run([ITPM, "worker", "--burst"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    written = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert len(written) == len(done.stderr.splitlines()), done.stderr[-3000:]  # every line is JSON
    started = [w for w in written if w["message"].startswith(f"job {job_id} started")]
    assert started and started[0]["request_id"] == f"{GIVEN},{other}"
    assert started[0]["job_id"] == job_id
    with runtime.session() as session:
        assert session.scalar(select(OutboxEvent.id).where(OutboxEvent.handled_at.is_(None))) is None
        runs = session.execute(
            select(ActionRun.status, ActionRun.error).where(ActionRun.automation == "escalate")
        )
        assert [tuple(r) for r in runs] == [("done", ""), ("done", "")]
        # the updates the job's actions made are events too: of no one request (the job carried two)
        assert session.scalars(select(OutboxEvent.request_id).where(OutboxEvent.kind == "updated")).all() == [
            None,
            None,
        ]
    runtime.dispose()


def test_events_saved_in_a_job_of_one_request_keep_its_id_and_of_several_none(sqlite_app: Flask) -> None:
    """What a job's actions save (an assignment is an update) belongs to the job's request when it has one."""
    from itpm.access import Actor
    from itpm.records.service import Records

    runtime = sqlite_app.extensions["itpm"]
    saved = {}
    for bound in (GIVEN, f"{GIVEN},{'b' * 32}", None):
        with logs.bound(request_id=bound), runtime.session() as session:
            record = Records(session, runtime.catalog(), Actor.system()).create(
                "incident",
                {"title": "Mail is down", "priority": "P3", "category": "network"},
                {"assignee": 1},
            )
            session.commit()
            saved[bound] = session.scalar(
                select(OutboxEvent.request_id).where(OutboxEvent.record_id == record.id)
            )
    assert saved == {GIVEN: GIVEN, f"{GIVEN},{'b' * 32}": None, None: None}
