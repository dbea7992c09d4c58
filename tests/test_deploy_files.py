"""deploy/: the compose file, the systemd units, the Dockerfile and gunicorn's settings name real things:
`itpm` commands and options that exist, the WSGI module, settings itpm reads. (`docker compose
config` checks the compose file's syntax where Docker's compose is installed.)"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from itpm.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
#: Variables read outside itpm's settings: gunicorn's (deploy/gunicorn.conf.py) and the compose file's own.
OTHERS = {"PROMETHEUS_MULTIPROC_DIR"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))


def commands() -> list[tuple[str, list[str]]]:
    """Every command line the deployment files run: (where, words)."""
    found = []
    for name, service in compose()["services"].items():
        command = service.get("command")
        if command is None or not service.get("image", "").startswith("itpm"):  # PostgreSQL's, Redis's
            continue
        words = command if isinstance(command, list) else shlex.split(command)
        if words[:2] == ["sh", "-c"]:
            words = shlex.split(words[2].split("exec ", 1)[1])
        found.append((f"compose {name}", [str(w) for w in words]))
    for unit in UNITS:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(unit)
        words = shlex.split(parser["Service"]["ExecStart"])
        found.append((unit.name, [Path(words[0]).name, *words[1:]]))
    cmd = re.search(r"^CMD (\[.*\])$", (DEPLOY / "Dockerfile").read_text("utf-8"), re.M)
    assert cmd, "the Dockerfile has no CMD"
    found.append(("Dockerfile", yaml.safe_load(cmd.group(1))))
    return found


def test_compose_runs_the_database_redis_web_workers_and_init() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "init", "web", "worker"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["worker"]["deploy"]["replicas"] >= 2  # one may stop; the scheduler runs in each
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["init"] == {"condition": "service_completed_successfully"}
    assert "/ready" in " ".join(services["web"]["healthcheck"]["test"])


@pytest.mark.parametrize("where, words", commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_command_is_a_real_itpm_command_or_serves_itpm_wsgi(where: str, words: list[str]) -> None:
    if words[0] == "itpm":
        result = CliRunner().invoke(main, [*words[1:], "--help"])
        assert result.exit_code == 0, f"{where}: `{' '.join(words)}`: {result.output}"
    else:
        assert words[0] == "gunicorn", where
        assert words[-1] == "itpm.wsgi:app" and importlib.util.find_spec("itpm.wsgi"), where
        config = words[words.index("--config") + 1]
        assert (ROOT / config).is_file(), f"{where}: no {config}"


def test_the_settings_named_are_settings_itpm_reads() -> None:
    sources = "\n".join(p.read_text("utf-8") for p in (ROOT / "platform" / "itpm").rglob("*.py"))
    sources += (DEPLOY / "gunicorn.conf.py").read_text("utf-8")
    named = set()
    for service in compose()["services"].values():
        named |= {k for k in service.get("environment", {}) if k.startswith(("ITPM_", "PROMETHEUS_"))}
    for path in [*UNITS, DEPLOY / "itpm.env.example", DEPLOY / "Dockerfile"]:
        named |= set(re.findall(r"\b(ITPM_[A-Z_]+)=", path.read_text("utf-8")))
    unknown = sorted(n for n in named - OTHERS if f'"{n}"' not in sources)
    assert not unknown, f"settings nothing reads: {unknown}"


def test_gunicorn_settings_do_not_preload_and_mark_dead_processes() -> None:
    settings: dict[str, Any] = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text("utf-8"), "gunicorn.conf.py", "exec"), settings)  # noqa: S102
    assert settings["preload_app"] is False
    assert settings["workers"] >= 1 and callable(settings["child_exit"])


def compose_command() -> list[str] | None:
    """Docker Compose as installed: the plugin (`docker compose`) or the standalone `docker-compose`."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_docker_compose_reads_the_compose_file() -> None:
    """Compose parses and checks the file (`config`); no Docker engine runs here to start it."""
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose here (.ci/system-packages test installs docker-compose)")
    env = {**os.environ, "POSTGRES_PASSWORD": "x" * 20, "ITPM_SECRET_KEY": "y" * 40}
    done = subprocess.run([*command, "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_gunicorn_serves_itpm_with_the_deploy_settings(fresh_database: Any, tmp_path: Path) -> None:
    """gunicorn as compose and systemd start it: two processes, JSON logs, metrics added up across them."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families
    from test_probes import TOKEN, value
    from test_worker import free_port, wait_until

    from conftest import SECRET

    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = free_port()
    env = {**os.environ, "ITPM_DATABASE_URL": fresh_database("sqlite"), "ITPM_INSTANCE_PATH": str(tmp_path),
           "ITPM_SECRET_KEY": SECRET, "ITPM_JOBS": "none", "ITPM_LOG_FORMAT": "json", "ITPM_METRICS_TOKEN": TOKEN,
           "ITPM_BIND": f"127.0.0.1:{port}", "ITPM_WEB_WORKERS": "2", "ITPM_WEB_THREADS": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(folder)}  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("w")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = subprocess.Popen([gunicorn, "--config", "deploy/gunicorn.conf.py", "itpm.wsgi:app"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return requests.get(f"{base}/ready", timeout=10).status_code == 200
            except requests.RequestException:  # not listening, or still importing itpm
                return False

        wait_until(ready, 120, "gunicorn did not become ready")
        for _ in range(8):  # spread over both processes
            assert requests.get(f"{base}/login/", timeout=30).status_code == 200
        scraped = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert scraped.status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGINT)  # quick shutdown: the requests are answered
        server.wait(timeout=60)
        log.close()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(scraped.text) for s in f.samples}  # fmt: skip
    assert value(samples, "itpm_http_requests_total", method="GET", route="/login/", status="200") == 8
    written = (tmp_path / "gunicorn.log").read_text("utf-8").splitlines()
    requests_logged = [json.loads(line) for line in written if '"logger": "itpm.request"' in line]
    assert len(requests_logged) == 8 and {r["route"] for r in requests_logged} == {"/login/"}
    assert len({r["request_id"] for r in requests_logged}) == 8
