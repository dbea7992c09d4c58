"""What the benchmarks share: scratch databases per backend, logged-in test clients, timing and tables.

Times are taken in process around Flask test-client requests, so they are the
server's time without a network; this machine is shared and noisy, so each
benchmark measures its baseline in the same run and reports the ratio.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

#: The local PostgreSQL server (trust auth); benchmarks create and drop their own databases on it.
PG_SERVER = os.environ.get("ITPM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [
    b.strip() for b in os.environ.get("ITPM_BENCH_BACKENDS", "sqlite,postgres").split(",") if b.strip()
]
SECRET = "benchmark-secret-key-long-enough-for-production-checks"


def _pg_execute(sql: str) -> None:
    with psycopg.connect(PG_SERVER, autocommit=True) as connection:
        connection.execute(sql)


@contextmanager
def scratch_database(backend: str, name: str) -> Iterator[tuple[str, Path]]:
    """A new empty database on `backend` and a scratch folder, both removed afterwards: (url, folder).
    On PostgreSQL its name carries this process's id: two benchmarks running at once do not drop each
    other's database."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as folder:
        if backend == "sqlite":
            yield f"sqlite:///{folder}/{name}.db", Path(folder)
            return
        name = f"{name}_{os.getpid()}"
        _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        _pg_execute(f"CREATE DATABASE {name}")
        try:
            server = PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            yield f"{server}/{name}", Path(folder)
        finally:
            _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def login(client: FlaskClient, username: str, password: str) -> None:
    """Log `client` in through the login form (with its CSRF token), as a browser does."""
    html = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert token, "no CSRF token on the login page"
    response = client.post(
        "/login/", data={"username": username, "password": password, "csrf_token": token.group(1)}
    )
    assert response.status_code == 302, f"login failed: {response.status_code}"


def api_headers(client: FlaskClient, username: str, password: str) -> dict[str, str]:
    """Headers carrying a JWT for `username`, from FAB's API login."""
    response = client.post(
        "/api/v1/security/login",
        json={"username": username, "password": password, "provider": "db", "refresh": False},
    )
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


class StatementCounter:
    """Counts the SQL statements sent through some engines (an executemany counts once)."""

    def __init__(self, *engines: Engine) -> None:
        self.count = 0
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def during(self, work: Callable[..., Any], *args: Any) -> int:
        """How many statements `work(*args)` sends."""
        before = self.count
        work(*args)
        return self.count - before


def elapsed_ms(work: Callable[..., Any], *args: Any) -> float:
    """How long `work(*args)` takes, in milliseconds."""
    start = time.perf_counter()
    work(*args)
    return (time.perf_counter() - start) * 1000


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile of `samples` (linear interpolation, as numpy's default)."""
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def p50(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p95(samples: Sequence[float]) -> float:
    return percentile(samples, 0.95)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table, columns padded to line up in a terminal too."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
