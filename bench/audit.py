"""Audit: what the trail costs a create and an update, and how fast `itpm audit verify` walks it.

- Capture: records of the starter pack's incident type created and updated through the
  records service, and as API requests (what `bench/records` times: the issue's measure), with the
  audit capture on (PostgreSQL: row triggers, sealing at commit; SQLite: the ORM capture, sealing at
  commit) and off (listeners removed, triggers disabled), in alternating blocks in the same run; p50
  and p95 per operation, and the ratio.
- The same with two personal fields (`x-personal`) set on create and one changed on update: their values
  are sealed (AES-256-GCM under the requester's key) before the entries are chained.
- Verify: ITPM_BENCH_AUDIT_ENTRIES entries (default 100,000) of record-change size sealed,
  then walked by `chain.verify` (streamed from the database, canonical JSON, SHA-256, compare);
  the baseline is plain hashlib over the same canonical bytes already in memory. On a shared machine
  the wall rate follows the load: "per CPU s" divides by the CPU time verify took, this process's and
  (PostgreSQL on this host) its database backend's.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from bench._common import BACKENDS, SECRET, api_headers, p50, p95, print_table, scratch_database
from itpm.access import Actor
from itpm.audit import capture, chain
from itpm.config import Settings
from itpm.installation import STARTER_PACK, initialise
from itpm.models import AuditEntry
from itpm.records.service import Records
from itpm.web.app import create_app

ADMIN = ("admin", "benchmark-admin-password")
ENTRIES = int(os.environ.get("ITPM_BENCH_AUDIT_ENTRIES", "100000"))
BLOCKS = int(os.environ.get("ITPM_BENCH_AUDIT_BLOCKS", "6"))
BLOCK = 40


def _switch(runtime: Any, on: bool) -> None:
    factory = runtime.sessions.session_factory
    (capture.install if on else capture.uninstall)(factory)
    if runtime.engine.dialect.name == "postgresql":
        with runtime.engine.begin() as connection:
            connection.execute(
                text(f"ALTER TABLE rec_incident {'ENABLE' if on else 'DISABLE'} TRIGGER itpm_audit")
            )


def _timed_requests(
    client: Any, headers: dict[str, str], personal: bool = False
) -> tuple[list[float], list[float]]:
    """A block of creates and updates as API requests (what `bench/records` times): ms each."""
    creates, updates = [], []
    extra = {"requester": 1, "contact_name": "林晓雨", "contact_phone": "13900139000"} if personal else {}
    for i in range(BLOCK):
        start = time.perf_counter()
        made = client.post(
            "/api/v1/records/incident/",
            json={"data": {"title": f"VPN down {i}", "priority": "P3", "category": "network", **extra}},
            headers=headers,
        )
        creates.append((time.perf_counter() - start) * 1000)
        assert made.status_code == 201, made.get_json()
        change = {"contact_phone": f"1390013{i:04d}"} if personal else {}
        start = time.perf_counter()
        changed = client.put(
            f"/api/v1/records/incident/{made.get_json()['id']}",
            json={"data": {"title": f"VPN down again {i}", **change}, "version": made.get_json()["version"]},
            headers=headers,
        )
        updates.append((time.perf_counter() - start) * 1000)
        assert changed.status_code == 200, changed.get_json()
    return creates, updates


def _timed_block(runtime: Any, actor: Actor, personal: bool = False) -> tuple[list[float], list[float]]:
    creates, updates = [], []
    extra = (
        {"requester": actor.id, "contact_name": "林晓雨", "contact_phone": "13900139000"} if personal else {}
    )
    for i in range(BLOCK):
        with runtime.session() as session:
            records = Records(session, runtime.catalog(), actor)
            start = time.perf_counter()
            record = records.create(
                "incident", {"title": f"VPN down {i}", "priority": "P3", "category": "network", **extra}
            )
            session.commit()
            creates.append((time.perf_counter() - start) * 1000)
        with runtime.session() as session:
            records = Records(session, runtime.catalog(), actor)
            start = time.perf_counter()
            change = {"contact_phone": f"1390013{i:04d}"} if personal else {}
            records.update(
                "incident", record.id, {"title": f"VPN down again {i}", **change}, version=record.version
            )
            session.commit()
            updates.append((time.perf_counter() - start) * 1000)
    return creates, updates


def _personal_incident(runtime: Any) -> None:
    """The incident with a requester (its subject) and two personal contact fields (`x-personal`)."""
    with runtime.session() as session:
        registry = runtime.registry(session)
        body = copy.deepcopy(registry.published_body(registry.get("record_type", "incident")))
        properties = body["schema"]["properties"]
        properties["requester"] = {
            "type": "integer",
            "x-ref": "user",
            "title": "Requester",
            "x-title-zh": "申请人",
        }
        for name in ("contact_name", "contact_phone"):
            properties[name] = {
                "type": "string",
                "maxLength": 100,
                "title": name,
                "x-title-zh": name,
                "x-personal": True,
            }
        body["subject"] = "requester"
        registry.save_draft(body, "admin")
        registry.publish([("record_type", "incident")], "admin", "personal fields")
        session.commit()


def _capture_rows(backend: str, runtime: Any, personal: bool = False, app: Any = None) -> list[list[Any]]:
    """Capture on and off in alternating blocks: through the records service, or (given the `app`) as API
    requests."""
    actor = Actor(1, ADMIN[0], frozenset({"admin"}))
    if app is None:
        block_of = lambda: _timed_block(runtime, actor, personal)  # noqa: E731
    else:
        client = app.test_client()
        headers = api_headers(client, *ADMIN)
        block_of = lambda: _timed_requests(client, headers, personal)  # noqa: E731
    samples: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    cpu = {True: 0.0, False: 0.0}  # this process's CPU seconds (the triggers' work is the database's)
    block_of()  # warm-up
    for block in range(BLOCKS * 2):
        on = block % 2 == 0
        _switch(runtime, on)
        began = time.process_time()
        creates, updates = block_of()
        cpu[on] += time.process_time() - began
        samples[on][0].extend(creates)
        samples[on][1].extend(updates)
    _switch(runtime, True)
    rows = []
    for index, operation in enumerate(("create", "update")):
        operation = ("API " if app is not None else "") + operation + (" (personal)" if personal else "")
        with_audit, without = samples[True][index], samples[False][index]
        rows.append(
            [
                backend,
                operation,
                f"{p50(with_audit):.2f}",
                f"{p95(with_audit):.2f}",
                f"{p50(without):.2f}",
                f"{p95(without):.2f}",
                f"{p95(with_audit) / p95(without):.2f}",
                f"{cpu[True] / cpu[False]:.2f}",
            ]
        )
    return rows


def _verify_row(backend: str, runtime: Any) -> list[Any]:
    detail = {
        "table": "rec_incident",
        "changes": {f"field_{i}": [f"old value {i}", f"new value {i}"] for i in range(8)},
    }
    now = dt.datetime.now(dt.UTC)
    with runtime.engine.begin() as connection:
        for start in range(0, ENTRIES, 10_000):
            connection.execute(
                insert(AuditEntry.__table__),
                [
                    {
                        "at": now,
                        "actor": "admin",
                        "action": "record.update",
                        "target": f"incident/{n}",
                        "detail": detail,
                        "address": "10.0.0.1",
                        "request": f"req:{n:016x}",
                    }
                    for n in range(start, min(start + 10_000, ENTRIES))
                ],
            )
        chain.seal(connection)
    with runtime.engine.connect() as connection:
        server_cpu = _backend_cpu(connection)
        server = server_cpu()
        began, cpu = time.perf_counter(), time.process_time()
        verdict = chain.verify(connection)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu + server_cpu() - server
        rows = connection.execute(
            select(*chain.CONTENT_COLUMNS, chain.AUDIT.c.seq).order_by(chain.AUDIT.c.seq)
        ).all()
    assert verdict.problem is None, verdict.problem
    payloads = [chain.canonical(chain.content(row.seq, row)) for row in rows]
    began = time.perf_counter()
    prev = chain.GENESIS
    for payload in payloads:
        prev = hashlib.sha256(prev.encode() + b"\n" + payload).hexdigest()
    baseline = time.perf_counter() - began
    return [
        backend,
        verdict.checked,
        f"{verdict.checked / seconds:,.0f}",
        f"{verdict.checked / cpu:,.0f}",
        f"{len(payloads) / baseline:,.0f}",
        f"{seconds / baseline:.1f}",
    ]


def _backend_cpu(connection: Any) -> Any:
    """A function giving the CPU seconds the connection's PostgreSQL backend has used (0 elsewhere)."""
    if connection.dialect.name != "postgresql":
        return lambda: 0.0
    stat = Path(f"/proc/{connection.exec_driver_sql('SELECT pg_backend_pid()').scalar()}/stat")
    if not stat.exists():  # the database on another host
        return lambda: 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return lambda: sum(int(v) for v in stat.read_text().rsplit(")", 1)[1].split()[11:13]) / tick


def run() -> None:
    capture_rows, verify_rows = [], []
    for backend in BACKENDS:
        with scratch_database(backend, os.environ.get("ITPM_BENCH_AUDIT_DATABASE", "itpm_bench_audit")) as (
            url,
            folder,
        ):
            app = create_app(Settings(database_url=url, secret_key=SECRET, instance_path=folder, jobs="none"))
            runtime = app.extensions["itpm"]
            initialise(runtime, app, *ADMIN, starter_pack=STARTER_PACK)
            capture_rows += _capture_rows(backend, runtime)
            capture_rows += _capture_rows(backend, runtime, app=app)
            _personal_incident(runtime)
            capture_rows += _capture_rows(backend, runtime, personal=True)
            capture_rows += _capture_rows(backend, runtime, personal=True, app=app)
            verify_rows.append(_verify_row(backend, runtime))
            runtime.dispose()
    print(
        "Create and update through the records service (ms), audit capture on and off, alternating blocks:\n"
    )
    print_table(
        ["backend", "operation", "p50 on", "p95 on", "p50 off", "p95 off", "p95 ratio", "CPU ratio"],
        capture_rows,
    )
    print("\n`itpm audit verify` (entries/s) against plain hashlib over the same canonical bytes:\n")
    print_table(["backend", "entries", "verify /s", "per CPU s", "hashlib /s", "ratio"], verify_rows)
    print(f"\nload average: {os.getloadavg()[0]:.1f}")
