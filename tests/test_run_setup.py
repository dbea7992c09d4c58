"""What `make run` does before serving, and what `itpm run` serves (issue 12, item 5): the system
packages wait for another program's dpkg lock, and links in notifications lead to the address
`itpm run` actually serves."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from itpm.cli import main
from itpm.config import ROOT
from itpm.notifications import compose
from tests.conftest import SECRET

STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
{body}
"""


def fake_system(tmp_path: Path, apt_get: str) -> tuple[dict[str, str], Path]:
    """A PATH where no package is installed, sudo just runs the command, and apt-get does `apt_get`."""
    folder, log = tmp_path / "bin", tmp_path / "calls.log"
    folder.mkdir()
    for name, body in {"dpkg-query": "exit 1", "sudo": 'exec "$@"', "apt-get": apt_get}.items():
        (folder / name).write_text(STUB.format(log=log, body=body))
        (folder / name).chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}, log


def test_the_system_packages_wait_for_another_programs_lock(tmp_path: Path) -> None:
    env, log = fake_system(tmp_path, "exit 0")
    done = subprocess.run(
        [str(ROOT / ".ci/system-packages"), "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "waits for it to finish (up to 5 minutes)" in done.stdout
    [install] = [line for line in log.read_text().splitlines() if line.startswith("apt-get ")]
    assert install.startswith("apt-get -o DPkg::Lock::Timeout=300 install -y")
    assert "fonts-noto-cjk" in install


def test_a_lock_held_too_long_says_what_to_do(tmp_path: Path) -> None:
    env, log = fake_system(tmp_path, 'echo "E: Could not get lock /var/lib/dpkg/lock-frontend" >&2; exit 100')
    done = subprocess.run(
        [str(ROOT / ".ci/system-packages"), "run"],
        env={**env, "APT_LOCK_WAIT": "120"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "held the package manager's lock for\nmore than 2 minutes, run this again" in done.stderr
    assert all(
        "DPkg::Lock::Timeout=120" in line for line in log.read_text().splitlines() if "apt-get" in line
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [([], "http://127.0.0.1:5000"), (["--port", "8123"], "http://127.0.0.1:8123"),
     (["--host", "localhost", "--port", "5055"], "http://localhost:5055")],
)  # fmt: skip
def test_links_in_notifications_lead_to_the_address_itpm_run_serves(
    args: list[str], expected: str, fresh_database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: dict[str, Any] = {}

    def run_simple(host: str, port: int, app: Any, **options: Any) -> None:
        served["app"] = app

    monkeypatch.setattr("werkzeug.serving.run_simple", run_simple)
    env = {
        "ITPM_DATABASE_URL": fresh_database("sqlite"),
        "ITPM_INSTANCE_PATH": str(tmp_path),
        "ITPM_SECRET_KEY": SECRET,
        "ITPM_JOBS": "none",
    }
    monkeypatch.delenv("ITPM_BASE_URL", raising=False)
    result = CliRunner(env=env).invoke(main, ["run", *args])
    assert result.exit_code == 0, result.output
    runtime = served["app"].extensions["itpm"]
    try:
        assert runtime.settings.base_url == expected
        assert f"(links in e-mails: {expected})" in result.output
        message = compose(
            "Incident assigned",
            "Open {link}",
            {},
            "/records/incident/show/7",
            "en",
            runtime.settings.base_url,
        )
        assert message.link == f"{expected}/records/incident/show/7"
        assert f"Open {expected}/records/incident/show/7" in message.text
    finally:
        runtime.dispose()


def test_an_explicit_base_url_is_kept(
    fresh_database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr("werkzeug.serving.run_simple", lambda host, port, app, **o: served.update(app=app))
    env = {
        "ITPM_DATABASE_URL": fresh_database("sqlite"),
        "ITPM_INSTANCE_PATH": str(tmp_path),
        "ITPM_SECRET_KEY": SECRET,
        "ITPM_JOBS": "none",
        "ITPM_BASE_URL": "https://itpm.example.com",
    }
    result = CliRunner(env=env).invoke(main, ["run", "--port", "8123"])
    assert result.exit_code == 0, result.output
    runtime = served["app"].extensions["itpm"]
    try:
        assert runtime.settings.base_url == "https://itpm.example.com"
    finally:
        runtime.dispose()
