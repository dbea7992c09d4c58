"""A definition published through one process is live in every process on its next request."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import ADMIN, SECRET, api_token, settings_for
from itpm.config import ROOT
from itpm.web.app import create_app


def incident_with_vendor() -> dict[str, Any]:
    body = json.loads((ROOT / "schemas" / "incident.json").read_text("utf-8"))
    body["schema"]["properties"]["vendor"] = {"type": "string", "title": "Vendor", "x-title-zh": "厂商"}
    return body


def test_two_apps_on_one_database(database_url: str, tmp_path: Path) -> None:
    a = create_app(settings_for(database_url, tmp_path))
    b = create_app(settings_for(database_url, tmp_path))
    try:
        client_b = b.test_client()
        token = api_token(client_b, *ADMIN)
        headers = {"Authorization": f"Bearer {token}"}
        created = client_b.post(
            "/api/v1/records/incident/",
            json={"data": {"title": "x", "priority": "P3", "category": "network"}},
            headers=headers,
        )
        assert "vendor" not in created.get_json()["data"]

        with a.extensions["itpm"].session() as session:
            registry = a.extensions["itpm"].registry(session)
            registry.save_draft(incident_with_vendor(), "alice")
            registry.publish([("record_type", "incident")], "alice", "vendor")

        record_id = created.get_json()["id"]
        fetched = client_b.get(f"/api/v1/records/incident/{record_id}", headers=headers).get_json()
        assert fetched["data"]["vendor"] is None
        changed = client_b.put(
            f"/api/v1/records/incident/{record_id}",
            json={"version": 1, "data": {"vendor": "Cisco"}},
            headers=headers,
        )
        assert changed.status_code == 200 and changed.get_json()["data"]["vendor"] == "Cisco"
    finally:
        a.extensions["itpm"].dispose()
        b.extensions["itpm"].dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.postgres
def test_every_gunicorn_worker_serves_a_new_field_without_a_restart(
    fresh_database: Any, tmp_path: Path
) -> None:
    url = fresh_database("postgres")
    port = free_port()
    env = {
        **os.environ,
        "ITPM_DATABASE_URL": url,
        "ITPM_SECRET_KEY": SECRET,
        "ITPM_INSTANCE_PATH": str(tmp_path),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "3",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "itpm.wsgi:app",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = (
            time.monotonic() + 60
        )  # workers build their app on their first request: slow on a busy machine
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/login/", timeout=20)
                break
            except requests.RequestException:
                time.sleep(0.5)
        token = requests.post(
            f"{base}/api/v1/security/login",
            json={"username": ADMIN[0], "password": ADMIN[1], "provider": "db"},
            timeout=30,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = requests.post(
            f"{base}/api/v1/records/incident/",
            json={"data": {"title": "x", "priority": "P3", "category": "network"}},
            headers=headers,
            timeout=30,
        ).json()
        for _ in range(12):  # every worker has built its app for the current revision
            assert (
                "vendor"
                not in requests.get(
                    f"{base}/api/v1/records/incident/{created['id']}", headers=headers, timeout=30
                ).json()["data"]
            )

        draft = tmp_path / "incident.json"
        draft.write_text(json.dumps(incident_with_vendor()), encoding="utf-8")
        published = subprocess.run(
            [sys.executable, "-m", "itpm.cli", "defs", "import", str(draft), "--publish"],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert published.returncode == 0, published.stderr

        for _ in range(12):
            data = requests.get(
                f"{base}/api/v1/records/incident/{created['id']}", headers=headers, timeout=30
            ).json()["data"]
            assert "vendor" in data
    finally:
        server.terminate()
        server.wait(timeout=20)
