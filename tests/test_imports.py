"""Importing records from CSV and XLSX (issue 18): a dry run that tells the truth, upserts by a key, chunks
that resume after a kill, files in the encodings people send, and nobody importing what they may not write.

One world per module (SQLite: the import's behaviour does not depend on the database; the benchmark runs
both): customers, projects and people to refer to, and a 10,000-row incident file with 5 bad rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import func, select

from conftest import ADMIN, api_token, databases, login, settings_for
from itpm.access import Actor
from itpm.models import AuditEntry, ImportRun, OutboxEvent, RecordEvent
from itpm.records.import_jobs import run_pending_imports
from itpm.records.imports import (
    Importer,
    ImportRefused,
    messages_by_row,
    open_source,
    parse_mapping,
    run_import,
    start_import,
)
from itpm.records.service import Forbidden, Records
from itpm.sla.tickets import refresh_clocks
from itpm.web.app import create_app
from itpm.workflows.engine import Workflows

ROWS = 10_000
#: The file of the import killed half-way (in chunks of 250).
KILLED_ROWS = 2_000
#: The 5 bad rows: (row number in the file, column, what is wrong, the fix)
BAD = {
    101: ("Priority", "P9", "P3"),
    2002: ("Project", "No such project", "Core banking upgrade"),
    3003: ("Created", "yesterday-ish", "2024-03-05 09:00"),
    4004: ("Assignee", "nobody@nowhere.invalid", "eng_li"),
    5005: ("Title", "", "Printer jammed"),
}
HEADER = ["Number", "Title", "Priority", "类别", "Project", "Assignee", "Created", "State", "Resolved at"]
PASSWORD = "a-long-password-for-import-tests"


def _row(n: int) -> list[str]:
    created = dt.datetime(2024, 1, 1, 8, 0) + dt.timedelta(minutes=37 * n)
    resolved = n % 3 == 0
    return [
        f"INC-2024-{n:05d}",
        f"Imported incident {n}",
        ["P3", "P4 Low", "p3", "P4 低"][n % 4],
        ["网络", "Server", "application", "数据库"][n % 4],
        ["Core banking upgrade", "ERP rollout"][n % 2],
        ["eng_li", "Li Wei", "wang@itpm.invalid", ""][n % 4],
        created.strftime("%Y-%m-%d %H:%M"),
        "已解决" if resolved else "New",
        (created + dt.timedelta(hours=5)).strftime("%Y-%m-%d %H:%M") if resolved else "",
    ]


def _table(fixed: bool = False) -> list[list[str]]:
    rows = [HEADER]
    for n in range(1, ROWS + 1):
        row = _row(n)
        if n + 1 in BAD:  # row numbers count the header as row 1
            column, bad, fix = BAD[n + 1]
            row[HEADER.index(column)] = fix if fixed else bad
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as stream:
        csv.writer(stream).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


#: What an incident holds, as `World.snapshot` compares it.
HELD = (
    "title",
    "priority",
    "category",
    "project_id",
    "client_id",
    "assignee_id",
    "state",
    "created_at",
    "resolved_at",
    "version",
)


class World:
    def __init__(self, app: Any, folder: Path) -> None:
        self.app = app
        self.runtime = app.extensions["itpm"]
        self.folder = folder
        flask_app = app.dispatcher.app
        with flask_app.app_context():
            sm = flask_app.appbuilder.sm
            self.users = {}
            for username, first, last, role in (
                ("eng_li", "Wei", "Li", "engineer"),
                ("eng_wang", "Fang", "Wang", "engineer"),
                ("client_zhao", "Min", "Zhao", "client"),
                ("finance_qian", "Lei", "Qian", "finance"),
                ("agent_sun", "Li", "Sun", "support_agent"),
            ):
                email = "wang@itpm.invalid" if username == "eng_wang" else f"{username}@itpm.invalid"
                user = sm.add_user(username, first, last, email, [sm.find_role(role)], PASSWORD)
                self.users[username] = user.id
            sm.session.commit()
        with self.runtime.session() as session:
            system = Records(session, self.runtime.catalog(), Actor.system())
            self.bank = system.create("customer", {"name": "华东银行", "short_name": "East China Bank"}).id
            self.globex = system.create("customer", {"name": "Globex"}).id
            self.projects = {}
            for name, client in (("Core banking upgrade", self.bank), ("ERP rollout", self.globex)):
                project = system.create(
                    "project",
                    {
                        "name": name,
                        "project_type": "implementation",
                        "phase": "execution",
                        "start_date": "2024-01-01",
                        "due_date": "2026-12-31",
                    },
                    {"client": client},
                )
                self.projects[name] = project.id
            session.commit()
        with flask_app.app_context():
            person = flask_app.appbuilder.sm.get_user_by_id(self.users["client_zhao"])
            person.client_id = self.bank
            flask_app.appbuilder.sm.session.commit()
        self.bad = write_csv(folder / "incidents.csv", _table())
        self.fixed = write_csv(folder / "incidents-fixed.csv", _table(fixed=True))

    def records(self, session: Any, username: str) -> Records:
        flask_app = self.app.dispatcher.app
        with flask_app.app_context():
            actor = Actor.of(flask_app.appbuilder.sm.get_user_by_id(self.users[username]))
        return Records(session, self.runtime.catalog(), actor, timezone=self.runtime.settings.timezone)

    def count(self, type_name: str = "incident") -> int:
        with self.runtime.session() as session:
            model = self.runtime.catalog().models.models[type_name]
            return session.scalar(select(func.count()).select_from(model)) or 0

    def snapshot(self, names: tuple[str, ...] = HELD, key: str = "number") -> dict[str, tuple[Any, ...]]:
        """Every incident by its `key`: the columns `names` (by default what it holds: not its id, nor when it
        was written)."""
        with self.runtime.session() as session:
            model = self.runtime.catalog().models.models["incident"]
            rows = session.execute(select(getattr(model, key), *(getattr(model, name) for name in names)))
            return {row[0]: tuple(row[1:]) for row in rows}

    def clear(self) -> None:
        with self.runtime.session() as session:
            model = self.runtime.catalog().models.models["incident"]
            session.execute(model.__table__.delete())
            session.execute(RecordEvent.__table__.delete().where(RecordEvent.record_type == "incident"))
            session.commit()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(
    template_databases: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[World]:
    """On PostgreSQL, an import reads each chunk while the one before it is written (`_overlapped`)."""
    folder = tmp_path_factory.mktemp("imports")
    with databases(template_databases, folder) as make:
        app = create_app(settings_for(make(request.param), folder))
        try:
            yield World(app, folder)
        finally:
            app.extensions["itpm"].dispose()


def _admin_records(world: World, session: Any) -> Records:
    flask_app = world.app.dispatcher.app
    with flask_app.app_context():
        admin = flask_app.appbuilder.sm.find_user(ADMIN[0])
        actor = Actor.of(admin)
    return Records(session, world.runtime.catalog(), actor, timezone=world.runtime.settings.timezone)


def _import(world: World, path: Path, key: str | None = "number", mapping: Any = None) -> ImportRun:
    with world.runtime.session() as session:
        records = _admin_records(world, session)
        run = start_import(records, "incident", open_source(path), parse_mapping(mapping or {}), key)
        session.commit()
        run_id = run.id
    run_import(world.runtime, run_id, path=path)
    with world.runtime.session() as session:
        run = session.get(ImportRun, run_id)
        session.expunge(run)
        return run


def test_the_dry_run_names_the_bad_rows_and_writes_nothing_then_the_import_and_the_fixed_file(
    world: World,
) -> None:
    world.clear()
    before_events = _outbox(world)
    with world.runtime.session() as session:
        importer = Importer(_admin_records(world, session), "incident", open_source(world.bad), key="number")
        outcome = importer.dry_run()
    assert world.count() == 0
    assert (outcome.inserted, outcome.failed) == (ROWS - 5, 5)
    assert sorted({p["row"] for p in outcome.problems}) == sorted(BAD)
    told = {p["row"]: p for p in outcome.problems}
    for row, (column, _bad, _fix) in BAD.items():
        assert told[row]["column"] == column, told[row]
        assert str(told[row]["message"])
    assert "P9" in str(told[101]["message"]) and "No such project" in str(told[2002]["message"])
    assert str(told[5005]["message"]) == "is required"

    run = _import(world, world.bad)
    assert (run.status, run.inserted, run.failed, run.done_rows) == ("done", ROWS - 5, 5, ROWS)
    assert world.count() == ROWS - 5
    first = world.snapshot()
    # history stays history: the source's number, created_at, state and resolved_at; "imported" in the history
    state, created_at, resolved_at, client = 6, 7, 8, 4
    assert first["INC-2024-00003"][state] == "resolved" and first["INC-2024-00002"][state] == "new"
    shanghai = dt.datetime.strptime(_row(3)[6], "%Y-%m-%d %H:%M").replace(
        tzinfo=dt.timezone(dt.timedelta(hours=8))
    )
    assert first["INC-2024-00003"][created_at] == shanghai
    assert first["INC-2024-00003"][resolved_at] == shanghai + dt.timedelta(hours=5)
    # the project's client, as a created incident gets it
    assert first["INC-2024-00001"][client] == world.globex
    with world.runtime.session() as session:
        actions = set(
            session.scalars(select(RecordEvent.action).where(RecordEvent.record_type == "incident"))
        )
        assert actions == {"imported"}
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "records.imported"))
        assert audit.detail["inserted"] == ROWS - 5 and len(audit.detail["sha256"]) == 64
    assert _outbox(world) == before_events  # no automation hears of imported history
    errors = world.runtime.settings.instance_path / "imports" / f"errors-{run.id}.csv"
    with errors.open(encoding="utf-8-sig", newline="") as stream:
        lines = list(csv.reader(stream))
    assert lines[0] == [*HEADER, "Import errors"] and len(lines) == 6
    assert lines[1][:-1] == _table()[100] and "Priority" in lines[1][-1]

    again = _import(world, world.fixed)
    assert (again.inserted, again.updated, again.unchanged, again.failed) == (5, 0, ROWS - 5, 0)
    after = world.snapshot()
    assert len(after) == ROWS
    assert {k: v for k, v in after.items() if k in first} == first  # nothing else changed


def _outbox(world: World) -> int:
    with world.runtime.session() as session:
        return session.scalar(select(func.count()).select_from(OutboxEvent)) or 0


def test_an_xlsx_and_a_gb18030_csv_of_the_same_data_import_identically(world: World) -> None:
    rows = _table(fixed=True)[:301]
    typed = [rows[0]] + [
        [*row[:6], dt.datetime.strptime(row[6], "%Y-%m-%d %H:%M"), row[7], row[8]] for row in rows[1:]
    ]
    gb = write_csv(world.folder / "gb.csv", rows, "gb18030")
    xlsx = write_xlsx(world.folder / "same.xlsx", typed)
    assert open_source(gb).encoding == "gb18030"
    snapshots = []
    for path in (gb, xlsx):
        world.clear()
        run = _import(world, path)
        assert (run.inserted, run.failed) == (300, 0), run.problems
        snapshots.append({k: v[:-1] for k, v in world.snapshot().items()})
    assert snapshots[0] == snapshots[1]


@pytest.mark.parametrize(
    ("content", "mapping", "expected"),
    [
        (b"Title,Priority\n" + "caf\xe9,P3\n".encode("latin-1"), None, "line 2"),
        (b"Title,Priority,Colour\nA,P3,red\n", None, "Colour"),
        (b"Title,Priority\nA,P3\n", '{"columns": {"Title": "title",}', "not JSON"),
        (b"Title,Priority\nA,P3\n", '{"columns": {"Title": "heading"}}', "heading is not a field"),
        (b"Title,Priority\nA,P3\n", '{"columns": ["Title"]}', "must be an object"),
    ],
)
def test_bad_files_and_mappings_are_refused_naming_what_and_where(
    world: World, content: bytes, mapping: str | None, expected: str
) -> None:
    path = world.folder / "bad.csv"
    path.write_bytes(content)
    before = world.count()
    with world.runtime.session() as session, pytest.raises(ImportRefused) as refused:
        Importer(
            _admin_records(world, session), "incident", open_source(path), parse_mapping(mapping or "{}")
        )
    told = str(refused.value.message) + " ".join(f"{p.path} {p.message}" for p in refused.value.problems)
    assert expected in told
    assert world.count() == before


def test_people_cannot_import_into_types_or_fields_they_may_not_write(world: World) -> None:
    path = write_csv(
        world.folder / "small.csv",
        [["Title", "Priority", "Category", "Support group"], ["A", "P3", "网络", "network"]],
    )
    customers = write_csv(world.folder / "customers.csv", [["Name"], ["Initech"]])
    with world.runtime.session() as session:
        client = world.records(session, "client_zhao")
        with pytest.raises(ImportRefused) as refused:  # hidden from a client: not there, as an unknown column
            Importer(client, "incident", open_source(path))
        assert "Support group" in " ".join(str(p.message) for p in refused.value.problems)
        read_only = write_csv(
            world.folder / "ro.csv",
            [["Title", "Priority", "Category", "Root cause"], ["A", "P3", "网络", "x"]],
        )
        with pytest.raises(Forbidden) as refused:  # read-only for a client
            Importer(client, "incident", open_source(read_only))
        assert "Root cause" in " ".join(str(p.message) for p in refused.value.problems)
        with pytest.raises(Forbidden):  # a client creates no client organisations
            Importer(client, "customer", open_source(customers))
        finance = world.records(session, "finance_qian")
        with pytest.raises(Exception) as nothing:  # finance does not even have incidents
            Importer(finance, "incident", open_source(path))
        assert getattr(nothing.value, "status", None) in (403, 404)
        history = write_csv(
            world.folder / "history.csv",
            [["Title", "Priority", "Category", "Created"], ["A", "P3", "网络", "2020-01-01"]],
        )
        agent = world.records(session, "agent_sun")
        with pytest.raises(Forbidden) as refused:  # created_at rewrites history: for who manages definitions
            Importer(agent, "incident", open_source(history))
        assert "Created" in " ".join(str(p.message) for p in refused.value.problems)


def test_a_killed_import_resumes_to_the_same_end_state_with_no_duplicates(world: World) -> None:
    world.clear()
    killed = write_csv(world.folder / "killed.csv", _table(fixed=True)[: KILLED_ROWS + 1])
    with world.runtime.session() as session:
        run = start_import(_admin_records(world, session), "incident", open_source(killed), key=None)
        session.commit()
        run_id = run.id
    script = (
        "import sys; from itpm.config import Settings; from itpm.runtime import Runtime;"
        "from itpm.records.imports import run_import; from pathlib import Path;"
        f"run_import(Runtime(Settings.from_env()), {run_id}, chunk_size=250, path=Path(sys.argv[1]))"
    )
    settings = world.runtime.settings
    env = {
        **os.environ,
        "ITPM_DATABASE_URL": settings.database_url,
        "ITPM_SECRET_KEY": settings.secret_key,
        "ITPM_INSTANCE_PATH": str(settings.instance_path),
        "ITPM_JOBS": "none",
    }
    worker = subprocess.Popen([sys.executable, "-c", script, str(killed)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with world.runtime.session() as session:
                done = session.scalar(select(ImportRun.done_rows).where(ImportRun.id == run_id))
            if done and done >= 500:
                break
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(10)
    with world.runtime.session() as session:
        half = session.get(ImportRun, run_id)
        assert half.status == "running" and 0 < half.done_rows < KILLED_ROWS, (half.status, half.done_rows)
        assert world.count() == half.done_rows  # the checkpoint and the rows were committed together
    assert run_import(world.runtime, run_id, path=killed) is None  # a live-looking run is left alone
    assert (
        run_import(
            world.runtime,
            run_id,
            take_over_before=dt.datetime.now(dt.UTC) + dt.timedelta(1),
            path=killed,
        )
        == "done"
    )
    with world.runtime.session() as session:
        run = session.get(ImportRun, run_id)
        assert (run.done_rows, run.inserted, run.attempts) == (KILLED_ROWS, KILLED_ROWS, 2)
    snapshot = world.snapshot()
    assert len(snapshot) == KILLED_ROWS == world.count()  # every row once: none lost, none twice


def test_messages_by_row_join_every_problem_of_a_row() -> None:
    problems = [
        {"row": 3, "column": "Priority", "field": "priority", "message": "bad"},
        {"row": 3, "column": "", "field": "", "message": "worse"},
    ]
    assert messages_by_row(problems) == {3: "Priority: bad; worse"}


def _client(world: World, username: str, password: str) -> Any:
    client = world.app.test_client()
    login(client, username, password)
    client.get("/lang/en")
    return client


def _post(client: Any, headers: dict[str, str], path: Path, **form: str) -> Any:
    with path.open("rb") as stream:
        return client.post(
            "/api/v1/imports/",
            data={"file": (stream, path.name), **form},
            headers=headers,
            content_type="multipart/form-data",
        )


def test_the_api_checks_imports_and_refuses_what_the_caller_may_not_write(world: World) -> None:
    client = world.app.test_client()
    admin = {"Authorization": f"Bearer {api_token(client, *ADMIN)}"}
    small = write_csv(world.folder / "api.csv", _table()[:3] + [_table()[100]])  # file row 101: P9
    checked = _post(client, admin, small, record_type="incident", key="number", dry_run="true")
    assert checked.status_code == 200, checked.get_json()
    body = checked.get_json()
    assert (body["rows"], body["error"]) == (3, 1) and body["errors"][0]["row"] == 4
    assert body["errors"][0]["column"] == "Priority"
    assert client.get(f"/api/v1/imports/checks/{body['error_file']}", headers=admin).status_code == 200
    before = world.count()
    started = _post(client, admin, small, record_type="incident", key="number", save_mapping="incidents-api")
    assert started.status_code == 202, started.get_json()
    assert started.headers["Location"] == f"/api/v1/imports/{started.get_json()['id']}"
    assert run_pending_imports(world.runtime) == 1
    progress = client.get(started.headers["Location"], headers=admin).get_json()
    assert (progress["status"], progress["done"], progress["error"]) == ("done", 3, 1)
    assert world.count() == before + 2 - progress["unchanged"] - progress["update"]
    errors = client.get(f"{started.headers['Location']}/errors", headers=admin)
    assert errors.status_code == 200 and "Import errors" in errors.get_data(as_text=True)
    mappings = client.get("/api/v1/imports/mappings/?record_type=incident", headers=admin).get_json()
    assert [m["name"] for m in mappings["result"]] == ["incidents-api"]

    bad = _post(client, admin, small, record_type="incident", mapping='{"columns": ')
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["file"] == "mapping"
    unknown = _post(client, admin, small, record_type="no_such_type")
    assert unknown.status_code == 404
    missing = client.post("/api/v1/imports/", data={}, headers=admin, content_type="multipart/form-data")
    assert missing.status_code == 422

    zhao = {"Authorization": f"Bearer {api_token(client, 'client_zhao', PASSWORD)}"}
    hidden = write_csv(
        world.folder / "hidden.csv",
        [["Title", "Priority", "Category", "Support group"], ["A", "P3", "网络", "network"]],
    )
    refused = _post(client, zhao, hidden, record_type="incident")  # hidden: as a column that matches nothing
    assert refused.status_code == 422 and "Support group" in json.dumps(
        refused.get_json(), ensure_ascii=False
    )
    read_only = write_csv(
        world.folder / "ro.csv", [["Title", "Priority", "Category", "Root cause"], ["A", "P3", "网络", "x"]]
    )
    refused = _post(client, zhao, read_only, record_type="incident")
    assert refused.status_code == 403 and "Root cause" in json.dumps(refused.get_json(), ensure_ascii=False)
    customers = write_csv(world.folder / "customers.csv", [["Name"], ["Initech"]])
    assert _post(client, zhao, customers, record_type="customer").status_code == 403
    assert client.get(started.headers["Location"], headers=zhao).status_code == 404  # not theirs
    assert world.count() == before + 2 - progress["unchanged"] - progress["update"]


def test_an_xlsx_export_reimports_to_the_same_records(world: World) -> None:
    client = world.app.test_client()
    admin = {"Authorization": f"Bearer {api_token(client, *ADMIN)}", "Accept-Language": "zh"}
    before = world.snapshot()
    exported = client.get("/api/v1/records/incident/export.xlsx?q=(page_size:100)", headers=admin)
    assert exported.status_code == 200 and exported.mimetype.endswith("spreadsheetml.sheet")
    path = world.folder / "export.xlsx"
    path.write_bytes(exported.get_data())
    header = next(openpyxl.load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert "标题" in header and "优先级" in header  # labels in the reader's language
    run = _import(world, path, key="number")
    assert (run.inserted, run.updated, run.failed, run.unchanged) == (0, 0, 0, len(before)), run.problems[:3]
    assert world.snapshot() == before
    csv_export = client.get("/api/v1/records/incident/export.csv", headers=admin)
    csv_header = next(csv.reader(io.StringIO(csv_export.get_data(as_text=True).lstrip("\ufeff"))))
    assert list(header) == csv_header  # the same columns, by the same rules (`Records.list_fields`)
    zhao = {"Authorization": f"Bearer {api_token(client, 'client_zhao', PASSWORD)}"}
    for suffix in ("csv", "xlsx"):  # a client's role exports no incidents: neither file
        assert client.get(f"/api/v1/records/incident/export.{suffix}", headers=zhao).status_code == 403


def test_the_import_screens_upload_check_and_import_in_either_language(world: World) -> None:
    client = _client(world, *ADMIN)
    small = write_csv(world.folder / "screen.csv", [HEADER, _row(20001), _row(20002)])
    for lang, words in (("zh", "导入"), ("en", "Import")):
        client.get(f"/lang/{lang}")
        page = client.get("/imports/")
        assert page.status_code == 200 and words in page.get_data(as_text=True)
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/imports/").get_data(as_text=True)
    ).group(1)
    with small.open("rb") as stream:
        checked = client.post(
            "/imports/check",
            data={
                "csrf_token": token,
                "record_type": "incident",
                "key": "number",
                "file": (stream, "screen.csv"),
            },
            content_type="multipart/form-data",
        )
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "Check the import" in html, html[:500]
    assert "built-in method" not in html  # the counts read as numbers
    sha = re.search(r'name="sha256" value="([0-9a-f]{64})"', html).group(1)
    started = client.post(
        "/imports/start",
        data={
            "csrf_token": token,
            "record_type": "incident",
            "key": "number",
            "sha256": sha,
            "filename": "screen.csv",
            "column:Number": "number",
            **{
                f"column:{h}": t
                for h, t in zip(
                    HEADER[1:],
                    (
                        "title",
                        "priority",
                        "category",
                        "project",
                        "assignee",
                        "created_at",
                        "state",
                        "resolved_at",
                    ),
                    strict=True,
                )
            },
        },
    )
    assert started.status_code == 302, started.get_data(as_text=True)[:300]
    run_pending_imports(world.runtime)
    shown = client.get(started.headers["Location"]).get_data(as_text=True)
    assert "100%" in shown and "Done" in shown and "built-in method" not in shown
    agent = _client(world, "client_zhao", PASSWORD)
    assert agent.get(started.headers["Location"]).status_code == 404
    # a column that matches nothing: the page names the type by its title and says how to skip it there
    unmatched = write_csv(world.folder / "unmatched.csv", [[*HEADER, "备注"], [*_row(20003), "x"]])
    told = {
        "zh": "列 备注(J)与事件的任何字段都不对应:请为它选择一个字段,或选择“(跳过此列)”",
        "en": "column 备注 (J) matches no field of Incident: choose a field for it, or choose &#34;(skip this column)&#34;",
    }
    for lang, words in told.items():
        client.get(f"/lang/{lang}")
        with unmatched.open("rb") as stream:
            page = client.post(
                "/imports/check",
                data={"csrf_token": token, "record_type": "incident", "file": (stream, "unmatched.csv")},
                content_type="multipart/form-data",
            ).get_data(as_text=True)
        assert words in page, page[:3000]
        assert "null" not in page and "incident 的" not in page


def test_a_chunk_inserts_its_new_rows_together_and_a_key_seen_twice_is_one_record(world: World) -> None:
    """The bulk path (`Records.create_many`): new rows wait and are inserted with the chunk's others; a later
    row with the key of a waiting one updates it, a refused row between them writes nothing, and the numbers
    drawn for rows without one are the type's next, in the rows' order, with no gap."""
    world.clear()
    head = ["Title", "Priority", "类别", "Project", "Created"]
    rows = [
        head,
        ["First", "P3", "网络", "ERP rollout", "2024-05-01 09:00", ""],
        ["Second", "P9", "网络", "ERP rollout", "2024-05-01 10:00", ""],  # refused: no such priority
        ["Third", "P4", "Server", "Core banking upgrade", "2024-05-01 11:00", ""],
        ["Third", "P3", "Server", "Core banking upgrade", "2024-05-01 11:00", ""],  # same key: an update
    ]
    path = write_csv(world.folder / "chunk.csv", rows)
    with world.runtime.session() as session:
        records = _admin_records(world, session)
        run = start_import(records, "incident", open_source(path), parse_mapping({}), "title")
        session.commit()
        run_id = run.id
    assert run_import(world.runtime, run_id, path=path) == "done"
    with world.runtime.session() as session:
        run = session.get(ImportRun, run_id)
        assert (run.inserted, run.updated, run.failed) == (2, 1, 1), run.problems
        assert [p["row"] for p in run.problems] == [3]
        model = world.runtime.catalog().models.models["incident"]
        made = session.execute(
            select(model.title, model.priority, model.number, model.id).order_by(model.id)
        ).all()
        assert [(title, priority) for title, priority, _n, _i in made] == [("First", "P3"), ("Third", "P3")]
        numbers = [int(number.rsplit("-", 1)[1]) for _t, _p, number, _i in made]
        assert numbers[1] == numbers[0] + 1  # drawn together, in order, none left for the refused row
        lines = session.execute(
            select(RecordEvent.record_id, RecordEvent.action)
            .where(RecordEvent.record_type == "incident")
            .order_by(RecordEvent.id)
        ).all()
        third = made[1][3]
        assert [action for record, action in lines if record == third] == ["imported", "imported"]
        sla = session.execute(select(model.sla_status, model.sla_due).where(model.id == third)).one()
        assert sla.sla_status is not None and sla.sla_due is not None  # its clocks read at once


def test_a_chunk_naming_what_the_chunk_before_it_writes_finds_it_written(world: World) -> None:
    """On PostgreSQL a chunk is read while the one before it is written (`_overlapped`); a chunk naming a key
    or a number of that one waits for it: the key's record is updated, not made twice, and a number taken
    there is refused. Numbers drawn for rows without one follow the rows' order across chunks."""
    world.clear()
    head = ["Title", "Priority", "类别", "Project", "Created"]
    keyed = [
        head,
        *(["A", "P3"], ["B", "P4"]),  # chunk 1
        *(["A", "P4"], ["C", "P3"]),  # chunk 2: A again, an update of chunk 1's
        *(["D", "P3"], ["E", "P3"]),
        *(["F", "P3"], ["E", "P4"]),  # chunk 4: E again
    ]
    keyed = [keyed[0]] + [[*row, "网络", "ERP rollout", "2024-05-01 09:00"] for row in keyed[1:]]
    path = write_csv(world.folder / "keyed.csv", keyed)
    with world.runtime.session() as session:
        run = start_import(_admin_records(world, session), "incident", open_source(path), key="title")
        session.commit()
        run_id = run.id
    assert run_import(world.runtime, run_id, chunk_size=2, path=path) == "done"
    model = world.runtime.catalog().models.models["incident"]
    with world.runtime.session() as session:
        run = session.get(ImportRun, run_id)
        assert (run.inserted, run.updated, run.failed) == (6, 2, 0), run.problems
        made = session.execute(select(model.title, model.priority, model.number).order_by(model.number)).all()
    assert [(title, priority) for title, priority, _n in made] == [
        ("A", "P4"),
        ("B", "P4"),
        ("C", "P3"),
        ("D", "P3"),
        ("E", "P4"),
        ("F", "P3"),
    ]
    numbers = [int(number.rsplit("-", 1)[1]) for _t, _p, number in made]
    assert numbers == list(range(numbers[0], numbers[0] + 6))

    world.clear()
    numbered = [HEADER, _row(1), _row(2), _row(3), _row(1), _row(4)]  # chunk 2 repeats chunk 1's number
    path = write_csv(world.folder / "numbered.csv", numbered)
    with world.runtime.session() as session:
        run = start_import(_admin_records(world, session), "incident", open_source(path), key=None)
        session.commit()
        run_id = run.id
    assert run_import(world.runtime, run_id, chunk_size=3, path=path) == "done"
    with world.runtime.session() as session:
        run = session.get(ImportRun, run_id)
        assert (run.inserted, run.failed) == (4, 1)
        assert [(p["row"], p["field"]) for p in run.problems] == [(5, "number")]
    assert sorted(world.snapshot()) == [
        "INC-2024-00001",
        "INC-2024-00002",
        "INC-2024-00003",
        "INC-2024-00004",
    ]


#: Tickets on the starter incident SLA's business hours (Shanghai, 09:00-12:00 and 13:00-18:00 on working days,
#: China's holidays off and their make-up days on): (title, priority, created, resolved or None: still open).
#: Resolved ones are resolved before a warning of a clock still running, so neither ever escalated.
SLA_TICKETS = [
    ("Friday evening, open over the weekend and national day", "P3", "2024-09-27 17:30", None),
    ("Into national day, open", "P4", "2024-09-30 16:00", None),
    ("Opened at lunch, resolved that afternoon", "P3", "2024-03-05 12:30", "2024-03-05 14:00"),
    ("Saturday night, resolved Monday morning", "P2", "2024-03-09 23:00", "2024-03-11 09:20"),
    ("Before hours, answered late, resolved next day", "P4", "2024-05-06 08:00", "2024-05-07 17:00"),
    ("On a make-up Sunday", "P3", "2024-09-29 10:00", "2024-09-29 11:30"),
    ("An hour before the reading, running", "P4", "2025-01-06 09:00", None),
]
#: A ticket's SLA columns (`itpm.sla.tickets`).
SLA_COLUMNS = ("sla_clocks", "sla_due", "sla_status", "sla_breached", "sla_next_check")
#: When the clocks are read: the import's moment, and the scheduler's for the tickets made in the app.
SLA_NOW = dt.datetime(2025, 1, 6, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _system_records_at(world: World, session: Any, moment: dt.datetime) -> Records:
    return Records(session, world.runtime.catalog(), Actor.system(), clock=lambda: moment)


def test_an_imported_tickets_sla_clocks_read_as_those_of_the_same_ticket_worked_in_the_app(
    world: World,
) -> None:
    """The import reads a ticket's clocks (both at once, before its insert) as the app reads them for a ticket
    created, taken and resolved at those moments and read by the scheduler at the same moment."""
    world.clear()
    cause = "Loose cable"  # a P2 is resolved with its root cause
    rows = [["Title", "Priority", "类别", "Project", "Created", "State", "Resolved at", "Root cause"]]
    for title, priority, created, resolved in SLA_TICKETS:
        state, known = ("已解决", cause if priority == "P2" else "") if resolved else ("New", "")
        rows.append([title, priority, "网络", "ERP rollout", created, state, resolved or "", known])
    path = write_csv(world.folder / "sla.csv", rows)
    with world.runtime.session() as session:
        records = _admin_records(world, session)
        records.clock = lambda: SLA_NOW
        importer = Importer(records, "incident", open_source(path))
        verdicts = [v for chunk in importer.chunks() for v in importer.run_chunk(chunk)]
        assert [v.verdict for v in verdicts] == ["insert"] * len(SLA_TICKETS), [v.problems for v in verdicts]
        session.commit()
    imported = world.snapshot(SLA_COLUMNS, key="title")

    world.clear()
    shanghai = ZoneInfo("Asia/Shanghai")
    for title, priority, created, resolved in SLA_TICKETS:
        opened = dt.datetime.fromisoformat(created).replace(tzinfo=shanghai)
        with world.runtime.session() as session:
            records = _system_records_at(world, session, opened)
            data = {"title": title, "priority": priority, "category": "network"}
            record_id = records.create("incident", {**data, "project": world.projects["ERP rollout"]}).id
            session.commit()
        if resolved:
            done = dt.datetime.fromisoformat(resolved).replace(tzinfo=shanghai)
            with world.runtime.session() as session:
                records = _system_records_at(world, session, done)
                workflows = Workflows(records)
                workflows.take("incident", record_id, "take")
                if priority == "P2":
                    record = records.get("incident", record_id)
                    records.update("incident", record_id, {"root_cause": cause}, record.version)
                fields = {"resolution": "Fixed", "resolved_at": done.isoformat()}
                workflows.take("incident", record_id, "resolve", fields)
                session.commit()
        with world.runtime.session() as session:  # the scheduler reads it again at the import's moment
            records = _system_records_at(world, session, SLA_NOW)
            refresh_clocks(records, records.get("incident", record_id), SLA_NOW)
            session.commit()
    made = world.snapshot(SLA_COLUMNS, key="title")

    assert imported == made
    statuses = {title: columns[2] for title, columns in made.items()}
    assert statuses == {
        "Friday evening, open over the weekend and national day": "breached",
        "Into national day, open": "breached",
        "Opened at lunch, resolved that afternoon": "met",
        "Saturday night, resolved Monday morning": "met",
        "Before hours, answered late, resolved next day": "breached",
        "On a make-up Sunday": "met",
        "An hour before the reading, running": "on_track",
    }
    clocks = made["Into national day, open"][0]
    # a P4 answers in 8 working hours: opened Monday 30 September 16:00, 2 that day, none in the holiday
    # to 7 October, 6 on Tuesday 8 October (09:00-12:00, 13:00-16:00)
    assert clocks["first_response"]["due"] == "2024-10-08T08:00:00+00:00"  # 16:00 in Shanghai
    running = made["An hour before the reading, running"]
    assert running[0]["first_response"]["elapsed"] == 60 and running[4] is not None


def test_a_run_thought_dead_but_alive_stops_at_its_next_chunk_when_another_took_it_over(world: World) -> None:
    """A worker too slow to beat in time is taken over; when it comes back with its next chunk, it finds the
    run is no longer its own, rolls that chunk back and stops: the rows are written once, by the heir."""
    world.clear()
    path = write_csv(world.folder / "slow.csv", _table(fixed=True)[:1201])
    with world.runtime.session() as session:
        run = start_import(_admin_records(world, session), "incident", open_source(path), key=None)
        session.commit()
        run_id = run.id
    taken_over: list[str | None] = []

    def after_first_chunk(_run: ImportRun) -> None:
        if not taken_over:  # while the first runner is "away", the next round takes the run over
            later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            taken_over.append(
                run_import(world.runtime, run_id, take_over_before=later, chunk_size=400, path=path)
            )

    assert run_import(world.runtime, run_id, chunk_size=400, progress=after_first_chunk, path=path) is None
    assert taken_over == ["done"]
    with world.runtime.session() as session:
        run = session.get(ImportRun, run_id)
        assert (run.done_rows, run.inserted, run.attempts) == (1200, 1200, 2)
    assert world.count() == 1200 == len(world.snapshot())  # every row once
