"""A backup restores (docs/operations.md): pg_dump in custom format and the files folder, pg_restore
into a new database, and the app on it serves the same records and files, and its audit chain
(with a signed checkpoint) verifies — on the real PostgreSQL, with its own pg_dump and pg_restore."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import func, make_url, select
from test_records_ui import created_id, publish_with_attachments

from conftest import ADMIN, PG_SERVER, SECRET, _pg_execute, api_token, csrf_token, login, settings_for
from itpm.cli import main
from itpm.models import AuditEntry
from itpm.web.app import create_app

pytestmark = pytest.mark.postgres


def server_major(url: str) -> int:
    with psycopg.connect(url) as connection:
        return int(connection.execute("SHOW server_version_num").fetchone()[0]) // 10000


def client_major(program: str) -> int:
    version = subprocess.run([program, "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"(\d+)\.", version).group(1))


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def itpm(database: str, folder: Path, *args: str) -> Any:
    """An `itpm` command on `database`, as an operator runs it (settings from the environment)."""
    env = {"ITPM_DATABASE_URL": database, "ITPM_INSTANCE_PATH": str(folder), "ITPM_SECRET_KEY": SECRET,
           "ITPM_AUDIT_KEY": str(folder.parent / "audit.key")}  # fmt: skip
    return CliRunner().invoke(main, list(args), env=env)


def seen(client: Any, token: str) -> dict[int, Any]:
    """Every incident as the API gives it (without the SLA's minutes left, which move with the clock)."""
    listing = client.get(
        "/api/v1/records/incident/?q=(page_size:100)", headers={"Authorization": f"Bearer {token}"}
    )
    assert listing.status_code == 200
    return {r["id"]: {k: v for k, v in r.items() if k != "sla"} for r in listing.get_json()["result"]}


def test_a_dump_restored_into_a_new_database_serves_the_same_records_and_its_audit_chain_verifies(
    fresh_database: Any, tmp_path: Path
) -> None:
    for program in ("pg_dump", "pg_restore"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is missing: .ci/system-packages test installs postgresql-client")
        assert client_major(program) >= server_major(PG_SERVER), f"{program} is older than the server"
    source = fresh_database("postgres")
    original, restored_folder = tmp_path / "original", tmp_path / "restored"
    app = create_app(settings_for(source, original))
    publish_with_attachments(app.extensions["itpm"])
    client = app.test_client()
    login(client, *ADMIN)
    files = {}
    for n, data in enumerate([b"kernel: disk full\n", "日志：磁盘已满\n".encode()]):
        response = client.post(
            "/records/incident/add/",
            data={
                "title": f"Disk full {n}",
                "priority": "P2",
                "category": "server",
                "evidence": [(io.BytesIO(data), f"syslog-{n}.txt", "text/plain")],
                "csrf_token": csrf_token(client, "/records/incident/add/"),
            },  # fmt: skip
            content_type="multipart/form-data",
        )
        record = created_id(response)
        page = client.get(f"/records/incident/show/{record}").get_data(as_text=True)
        files[record] = (re.search(rf'href="(/records/incident/download/{record}/\d+)"', page).group(1), data)
    token = api_token(client, *ADMIN)
    changed = client.put(f"/api/v1/records/incident/{record}", json={"data": {"priority": "P1"}, "version": 1},
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    before = seen(client, token)
    assert len(before) == 2
    assert itpm(source, original, "audit", "keygen", str(tmp_path / "audit.key")).exit_code == 0
    signed = itpm(source, original, "audit", "checkpoint")
    assert signed.exit_code == 0, signed.output
    with app.extensions["itpm"].session() as session:
        entries = session.scalar(select(func.count()).select_from(AuditEntry))
    app.extensions["itpm"].dispose()

    dump = tmp_path / "itpm.dump"
    done = subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", libpq(source)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    name = f"{make_url(source).database}_restored"
    target = make_url(source).set(database=name).render_as_string(hide_password=False)
    _pg_execute(f"CREATE DATABASE {name}")
    try:
        done = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq(target)}", str(dump)],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        shutil.copytree(original / "files", restored_folder / "files")

        verified = itpm(target, restored_folder, "audit", "verify")
        assert verified.exit_code == 0, verified.output
        assert f"verified: {entries} entries" in verified.output and "not checked" not in verified.output

        again = create_app(settings_for(target, restored_folder))
        client = again.test_client()
        assert client.get("/ready").status_code == 200
        login(client, *ADMIN)
        assert seen(client, api_token(client, *ADMIN)) == before
        for record, (link, data) in files.items():
            assert client.get(f"/records/incident/show/{record}").status_code == 200
            download = client.get(link)
            assert (download.status_code, download.data) == (200, data)
        with again.extensions["itpm"].session() as session:
            assert session.scalar(select(func.count()).select_from(AuditEntry)) > entries  # sign-ins since
        again.extensions["itpm"].dispose()
        assert itpm(target, restored_folder, "audit", "verify").exit_code == 0  # and the chain goes on
    finally:
        _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
