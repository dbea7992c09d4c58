"""Records: itpm's generated table, screens and API against the same table written by hand.

A record type of 15 fields (strings, choices, numbers, dates, one reference to
a second type of 200 records) gets 100k records, on SQLite and on PostgreSQL.
Timed in process around Flask test-client requests (the server's time, no
network), after warm-up requests:

- a list page of 25 filtered on an indexed choice and a date range, sorted by
  a date, with its count: through the screen (HTML) and through the API;
- a create and an update, through the API.

The baseline is what a developer would write for the same data without itpm: a
declarative model with the same columns, types and indexes, FAB's ModelView
and ModelRestApi, in a plain FAB app on the same database with the same engine
settings, logged in as the same admin. Its reference is loaded with a join
(`lazy="joined"`), as a careful hand-written model would. itpm and the
baseline are timed request by request, in turn, so the noise of this shared
machine falls on both and the ratio holds. The SQL statements of one list
page are counted at page sizes 25 and 100 (itpm's include its definitions
revision check, one per request).

The 100k rows are bulk-loaded with SQLAlchemy Core, the same rows into both
tables, then both are analysed. ITPM_BENCH_ROWS, ITPM_BENCH_REPEAT and
ITPM_BENCH_BACKENDS make a quicker run, e.g. ITPM_BENCH_ROWS=5000.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prison
from flask import Flask
from flask.testing import FlaskClient
from flask_appbuilder import AppBuilder, ModelRestApi, ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.models import User as FabUser
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, scoped_session, sessionmaker

from bench._common import (
    BACKENDS,
    SECRET,
    StatementCounter,
    api_headers,
    elapsed_ms,
    login,
    p50,
    p95,
    print_table,
    scratch_database,
)
from itpm.config import ROOT, Settings
from itpm.db import JSONType, UTCDateTime, make_engine, utcnow
from itpm.definitions.documents import Document
from itpm.installation import initialise
from itpm.models import Department
from itpm.models import Sequence as NumberSequence
from itpm.web.app import create_app

ROWS = int(os.environ.get("ITPM_BENCH_ROWS", "100000"))
REPEAT = int(os.environ.get("ITPM_BENCH_REPEAT", "50"))
WARM_UP = 5
ACCOUNTS = 200
ADMIN = ("admin", "benchmark-admin-password")
#: Targets from the issue: every ratio, and the list's p95 on PostgreSQL.
MAX_RATIO = 1.2
MAX_LIST_P95_MS = 100.0

PRIORITIES = ["critical", "high", "medium", "low"]
CATEGORIES = ["hardware", "software", "network", "access", "other"]
CHANNELS = ["email", "phone", "portal", "walk_in"]
IMPACTS = ["high", "medium", "low"]
STATES = ["open", "in_progress", "resolved", "closed"]
FIRST_DAY = dt.date(2025, 1, 1)
DAYS = 730
#: The list page: high priority, due in January or February 2026, latest due first.
PRIORITY = "high"
AFTER, BEFORE = dt.date(2025, 12, 31), dt.date(2026, 3, 1)
WORDS = "printer laptop vpn mailbox password server backup licence screen network access upgrade".split()
DESCRIPTION = "The {words} stopped working after the last change; users report it since this morning. "


def _text(title: str, zh: str, **schema: Any) -> dict[str, Any]:
    return {"type": "string", "title": title, "x-title-zh": zh, **schema}


TICKET = {
    "kind": "record_type",
    "name": "bench_ticket",
    "title": {"en": "Bench ticket", "zh": "基准工单"},
    "due": "due_date",
    "priority": "priority",
    "numbering": "BT-{seq:06}",
    "columns": ["number", "title", "priority", "category", "account", "due_date", "state", "updated_at"],
    "filters": ["priority", "category", "account", "due_date", "state"],
    "indexed": ["priority", "category", "due_date"],
    "order": "-due_date",
    "schema": {
        "type": "object",
        "required": ["title", "priority"],
        "properties": {
            "title": _text("Title", "标题", minLength=1, maxLength=200),
            "description": _text("Description", "描述", maxLength=20000),
            "location": _text("Location", "地点", maxLength=100),
            "contact_email": _text("Contact e-mail", "联系邮箱", maxLength=320),
            "priority": _text("Priority", "优先级", enum=PRIORITIES),
            "category": _text("Category", "类别", enum=CATEGORIES),
            "channel": _text("Channel", "渠道", enum=CHANNELS),
            "impact": _text("Impact", "影响", enum=IMPACTS),
            "effort_hours": {"type": "number", "minimum": 0, "title": "Effort (hours)", "x-title-zh": "工时"},
            "cost": {"type": "number", "minimum": 0, "title": "Cost", "x-title-zh": "费用"},
            "affected_users": {
                "type": "integer",
                "minimum": 0,
                "title": "Affected users",
                "x-title-zh": "受影响用户数",
            },
            "due_date": _text("Due date", "截止日期", format="date"),
            "start_date": _text("Start date", "开始日期", format="date"),
            "reported_at": _text("Reported at", "报告时间", format="date-time"),
            "account": {
                "type": "integer",
                "x-ref": "bench_account",
                "title": "Account",
                "x-title-zh": "账户",
            },
        },
    },
}
ACCOUNT = {
    "kind": "record_type",
    "name": "bench_account",
    "title": {"en": "Bench account", "zh": "基准账户"},
    "numbering": "ACC-{seq:04}",
    "columns": ["number", "name"],
    "schema": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": _text("Name", "名称", maxLength=200)},
    },
}
FIELDS = list(TICKET["schema"]["properties"])
LIST_COLUMNS = TICKET["columns"]
SEARCH_COLUMNS = TICKET["filters"]


# --- the baseline: the same table, written by hand, served by FAB as it comes ---------------


class BaselineBase(DeclarativeBase):
    pass


def _person(indexed: bool) -> Mapped[int | None]:
    return mapped_column(ForeignKey(FabUser.__table__.c.id), index=indexed)


class BaselineAccount(BaselineBase):
    __tablename__ = "bench_baseline_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)

    def __str__(self) -> str:
        return self.name


class BaselineTicket(BaselineBase):
    __tablename__ = "bench_baseline"
    __table_args__ = (Index("uq_bench_baseline_number", "number", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(40), default="open", index=True)
    version: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(ForeignKey(Department.__table__.c.id), index=True)
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    owner_id: Mapped[int | None] = _person(indexed=True)
    assignee_id: Mapped[int | None] = _person(indexed=True)
    created_by_id: Mapped[int | None] = _person(indexed=False)
    updated_by_id: Mapped[int | None] = _person(indexed=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)
    flags: Mapped[Any] = mapped_column(JSONType, nullable=True)
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    contact_email: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str | None] = mapped_column(Text, index=True)
    category: Mapped[str | None] = mapped_column(Text, index=True)
    channel: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[str | None] = mapped_column(Text)
    effort_hours: Mapped[float | None] = mapped_column(Numeric(20, 4, asdecimal=False))
    cost: Mapped[float | None] = mapped_column(Numeric(20, 4, asdecimal=False))
    affected_users: Mapped[int | None] = mapped_column(BigInteger)
    due_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    account_id: Mapped[int | None] = mapped_column(ForeignKey(BaselineAccount.id), index=True)
    # every record table has the SLA clocks' columns (empty for a type without an SLA policy)
    sla_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    sla_status: Mapped[str | None] = mapped_column(String(20))
    sla_breached: Mapped[bool | None] = mapped_column(Boolean)
    sla_clocks: Mapped[Any] = mapped_column(JSONType, nullable=True)
    sla_next_check: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)

    account: Mapped[BaselineAccount | None] = relationship(lazy="joined")
    __mapper_args__ = {"version_id_col": version}


class BaselineView(ModelView):
    route_base = "/bench_baseline"
    datamodel = SQLAInterface(BaselineTicket)
    list_columns = LIST_COLUMNS
    search_columns = SEARCH_COLUMNS
    base_order = ("due_date", "desc")
    page_size = 25


class BaselineApi(ModelRestApi):
    resource_name = "bench_baseline"
    datamodel = SQLAInterface(BaselineTicket)
    # FAB's schemas leave foreign keys out: the record's own columns, and its account's id.
    list_columns = [c.name for c in BaselineTicket.__table__.columns if not c.foreign_keys] + ["account.id"]
    show_columns = list_columns
    add_columns = FIELDS
    edit_columns = FIELDS
    search_columns = SEARCH_COLUMNS
    order_columns = LIST_COLUMNS


def baseline_app(url: str) -> tuple[Flask, Engine]:
    """A plain FAB app serving the hand-written model, on the same database and engine settings as itpm."""
    engine = make_engine(url)
    sessions = scoped_session(sessionmaker(bind=engine))
    app = Flask("bench_baseline")
    app.config.update(
        SECRET_KEY=SECRET,
        AUTH_ROLE_ADMIN="admin",  # itpm's roles, so both apps ask the same security tables the same things
        AUTH_ROLE_PUBLIC="public",
        FAB_UPDATE_PERMS=True,  # give the admin role the baseline's permissions
        FAB_CREATE_DB=False,  # the security tables are itpm's, already there
        FAB_API_MAX_PAGE_SIZE=100,
    )

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        sessions.remove()

    with app.app_context():
        appbuilder = AppBuilder(app, sessions)
        appbuilder.add_view(BaselineView, "Bench baseline")
        appbuilder.add_api(BaselineApi)
        appbuilder.post_init()
    return app, engine


def check_same_shape(itpm: Table, baseline: Table) -> None:
    """Refuse to compare tables whose columns, types or indexes differ."""

    def shape(table: Table) -> tuple[set[tuple[str, str]], set[tuple[tuple[str, ...], bool]]]:
        columns = {(c.name, type(c.type).__name__) for c in table.columns}
        indexes = {(tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes}
        return columns, indexes

    assert shape(itpm) == shape(baseline), (
        f"the baseline differs from itpm's table:\n{shape(itpm)}\n{shape(baseline)}"
    )


#: The tickets' states as a workflow, so My work knows which are open.
FLOW = {
    "kind": "workflow",
    "name": "bench_ticket_flow",
    "title": {"en": "Bench ticket flow", "zh": "基准工单流程"},
    "record_type": "bench_ticket",
    "initial": "open",
    "states": [
        {"name": "open", "title": {"en": "Open", "zh": "待处理"}, "category": "open"},
        {"name": "in_progress", "title": {"en": "In progress", "zh": "处理中"}, "category": "in_progress"},
        {"name": "resolved", "title": {"en": "Resolved", "zh": "已解决"}, "category": "done"},
        {"name": "closed", "title": {"en": "Closed", "zh": "已关闭"}, "category": "done"},
    ],
    "transitions": [
        {
            "name": "take",
            "title": {"en": "Take", "zh": "接手"},
            "from": ["open"],
            "to": "in_progress",
            "roles": ["admin"],
        },
        {
            "name": "resolve",
            "title": {"en": "Resolve", "zh": "解决"},
            "from": ["open", "in_progress"],
            "to": "resolved",
            "roles": ["admin"],
        },
        {
            "name": "close",
            "title": {"en": "Close", "zh": "关闭"},
            "from": ["open", "in_progress"],
            "to": "closed",
            "roles": ["admin"],
        },
    ],
}
#: One ticket in MINE is assigned to the person whose My work is timed (the admin): 100 of 100,000.
MINE = 1000


# --- the data -----------------------------------------------------------------------------


def ticket_rows(count: int, admin_id: int) -> list[dict[str, Any]]:
    """`count` tickets (system columns and fields), the same on every run."""
    rng = random.Random(20261125)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(1, count + 1):
        created = start + dt.timedelta(minutes=rng.randrange(DAYS * 1440))
        due = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
        words = " ".join(rng.choices(WORDS, k=3))
        rows.append(
            {
                "number": f"BT-{i:06}",
                "state": rng.choice(STATES),
                "version": 1,
                "department_id": None,
                "client_id": None,
                "owner_id": admin_id,
                "assignee_id": admin_id if i % MINE == 0 else None,
                "created_by_id": admin_id,
                "updated_by_id": admin_id,
                "created_at": created,
                "updated_at": created,
                "flags": None,
                **ticket_fields(rng, i, words),
                "due_date": due,
                "start_date": due - dt.timedelta(days=rng.randrange(30)),
                "reported_at": created,
            }
        )
    return rows


def ticket_fields(rng: random.Random, i: int, words: str) -> dict[str, Any]:
    """The fields a ticket's creator types (dates apart), as columns hold them."""
    return {
        "title": f"{words} #{i}",
        "description": 3 * DESCRIPTION.format(words=words),
        "location": f"Building {rng.randrange(1, 9)}, floor {rng.randrange(1, 20)}",
        "contact_email": f"user{rng.randrange(1000)}@example.com",
        "priority": rng.choice(PRIORITIES),
        "category": rng.choice(CATEGORIES),
        "channel": rng.choice(CHANNELS),
        "impact": rng.choice(IMPACTS),
        "effort_hours": round(rng.uniform(0.5, 40), 1),
        "cost": round(rng.uniform(0, 5000), 2),
        "affected_users": rng.randrange(1, 500),
        "account_id": rng.randrange(1, ACCOUNTS + 1),
    }


def matching(rows: list[dict[str, Any]]) -> int:
    """How many rows the benchmark's list filter selects."""
    return sum(1 for r in rows if r["priority"] == PRIORITY and AFTER < r["due_date"] < BEFORE)


def bulk_load(engine: Engine, table: Table, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    with engine.begin() as connection:
        for offset in range(0, len(rows), chunk):
            connection.execute(insert(table), rows[offset : offset + chunk])


def server_version(engine: Engine) -> str:
    with engine.connect() as connection:
        return ".".join(str(part) for part in connection.dialect.server_version_info or ())


def analyse(engine: Engine, tables: list[str]) -> None:
    with engine.begin() as connection:
        for name in tables:
            connection.execute(text(f"ANALYZE {name}"))


# --- one backend --------------------------------------------------------------------------


@dataclass
class Side:
    """One implementation under test: its app's clients and how to ask it for each operation."""

    name: str
    ui: FlaskClient
    api: FlaskClient
    headers: dict[str, str]
    list_url: Callable[[int], str]
    api_list_url: Callable[[int], str]
    create: Callable[[int], tuple[str, dict[str, Any]]]
    update: Callable[[int], tuple[str, dict[str, Any]]]
    engine: Engine
    counter: StatementCounter = field(init=False)

    def __post_init__(self) -> None:
        self.counter = StatementCounter(self.engine)

    def get_list(self, page_size: int) -> Any:
        response = self.ui.get(self.list_url(page_size))
        assert response.status_code == 200, (self.name, response.status_code)
        return response

    def get_api_list(self, page_size: int) -> Any:
        response = self.api.get(self.api_list_url(page_size), headers=self.headers)
        assert response.status_code == 200, (
            self.name,
            response.status_code,
            response.get_data(as_text=True)[:300],
        )
        return response

    def post(self, i: int) -> None:
        url, body = self.create(i)
        response = self.api.post(url, json=body, headers=self.headers)
        assert response.status_code == 201, (self.name, response.status_code, response.get_json())

    def put(self, i: int) -> None:
        url, body = self.update(i)
        response = self.api.put(url, json=body, headers=self.headers)
        assert response.status_code == 200, (self.name, response.status_code, response.get_json())


def _api_filters(page_size: int) -> str:
    query = {
        "filters": [
            {"col": "priority", "opr": "eq", "value": PRIORITY},
            {"col": "due_date", "opr": "gt", "value": AFTER.isoformat()},
            {"col": "due_date", "opr": "lt", "value": BEFORE.isoformat()},
        ],
        "order_column": "due_date",
        "order_direction": "desc",
        "page": 0,
        "page_size": page_size,
    }
    return prison.dumps(query)


def _ui_filters(view: str, page_size: int) -> str:
    # FAB's filter index is the position of the filter in the column type's list:
    # text [.., 3 = equal, ..], date [0 = equal, 1 = greater than, 2 = smaller than, ..].
    return (
        f"_flt_3_priority={PRIORITY}&_flt_1_due_date={AFTER.isoformat()}&_flt_2_due_date={BEFORE.isoformat()}"
        f"&_oc_{view}=due_date&_od_{view}=desc&psize_{view}={page_size}"
    )


def new_ticket(i: int) -> dict[str, Any]:
    """A ticket as an API client sends it (JSON values), different for each `i`."""
    rng = random.Random(i)
    fields = ticket_fields(rng, ROWS + i, " ".join(rng.choices(WORDS, k=3)))
    due = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
    return {
        **{k: v for k, v in fields.items() if k != "account_id"},
        "account": fields["account_id"],
        "due_date": due.isoformat(),
        "start_date": (due - dt.timedelta(days=3)).isoformat(),
        "reported_at": "2026-01-15T08:30:00Z",
    }


def change(i: int) -> dict[str, Any]:
    """What an update changes: a few fields, as a person editing a ticket does."""
    return {
        "title": f"Changed #{i}",
        "priority": PRIORITIES[i % 4],
        "effort_hours": 1.5 + i,
        "due_date": "2026-02-14",
    }


def itpm_side(app: Flask) -> Side:
    ui, api = app.test_client(), app.test_client()
    login(ui, *ADMIN)
    view = "records_bench_ticket"
    base = "/api/v1/records/bench_ticket/"
    return Side(
        name="itpm",
        ui=ui,
        api=api,
        headers=api_headers(api, *ADMIN),
        list_url=lambda size: f"/records/bench_ticket/list/?{_ui_filters(view, size)}",
        api_list_url=lambda size: f"{base}?q={_api_filters(size)}",
        create=lambda i: (base, {"data": new_ticket(i)}),
        update=lambda i: (f"{base}{update_target(i)}", {"version": 1, "data": change(i)}),
        engine=app.extensions["itpm"].engine,
    )


def baseline_side(app: Flask, engine: Engine) -> Side:
    ui, api = app.test_client(), app.test_client()
    login(ui, *ADMIN)
    view = "BaselineView"
    base = "/api/v1/bench_baseline/"
    return Side(
        name="baseline",
        ui=ui,
        api=api,
        headers=api_headers(api, *ADMIN),
        list_url=lambda size: f"/bench_baseline/list/?{_ui_filters(view, size)}",
        api_list_url=lambda size: f"{base}?q={_api_filters(size)}",
        create=lambda i: (base, new_ticket(i)),
        update=lambda i: (f"{base}{update_target(i)}", change(i)),
        engine=engine,
    )


def update_target(i: int) -> int:
    """The record the `i`th update changes: spread over the table, each changed once."""
    return 1 + (i * 7919) % ROWS


def ui_count(html: str) -> int:
    """The record count FAB's list page shows (itpm's screens speak Chinese by default)."""
    found = re.search(r"(?:Record Count|记录数目):</strong>\s*(\d+)", html)
    assert found, "no record count on the list page"
    return int(found.group(1))


#: What is timed, by name: the `i`th request of an operation on one side.
OPERATIONS: list[tuple[str, Callable[[Side, int], Any]]] = [
    ("list page (UI)", lambda side, i: side.get_list(25)),
    ("list page (API)", lambda side, i: side.get_api_list(25)),
    ("create (API)", lambda side, i: side.post(i)),
    ("update (API)", lambda side, i: side.put(i)),
]


@dataclass
class Results:
    """Timings (ms) per operation and side, and statements per list page."""

    timings: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    statements: dict[tuple[str, int], int] = field(default_factory=dict)


def measure(itpm: Side, baseline: Side, expected: int) -> Results:
    results = Results()
    for side in (itpm, baseline):
        assert ui_count(side.get_list(25).get_data(as_text=True)) == expected, f"{side.name}: wrong UI count"
        assert side.get_api_list(25).get_json()["count"] == expected, f"{side.name}: wrong API count"
        for size in (25, 100):
            results.statements[(f"{side.name} UI", size)] = side.counter.during(side.get_list, size)
            results.statements[(f"{side.name} API", size)] = side.counter.during(side.get_api_list, size)
    for operation, work in OPERATIONS:
        for i in range(WARM_UP + REPEAT):
            # Alternate who goes first, so neither always runs on a cache the other warmed.
            for side in (itpm, baseline) if i % 2 else (baseline, itpm):
                took = elapsed_ms(work, side, i)
                if i >= WARM_UP:
                    results.timings.setdefault((operation, side.name), []).append(took)
    return results


def setup_itpm(url: str, folder: Path) -> Flask:
    """An itpm installation with the two record types and the admin role published (no starter pack)."""
    # no automations thread: the record engine is measured (the baseline has none either)
    app = create_app(Settings(database_url=url, secret_key=SECRET, instance_path=folder, jobs="none"))
    runtime = app.extensions["itpm"]
    initialise(runtime, app, *ADMIN, starter_pack=None)
    with runtime.session() as session:
        documents = [
            Document("schemas/bench_account.json", ACCOUNT),
            Document("schemas/bench_ticket.json", TICKET),
            Document("workflows/bench_ticket_flow.json", FLOW),
            Document(
                "schemas/roles/admin.json", json.loads((ROOT / "schemas/roles/admin.json").read_text("utf-8"))
            ),
        ]
        runtime.registry(session).import_documents(documents, "benchmark", publish=True)
    return app


def run_backend(backend: str) -> tuple[Results, dict[str, Any]]:
    with scratch_database(backend, "itpm_bench") as (url, folder):
        started = time.perf_counter()
        app = setup_itpm(url, folder)
        runtime = app.extensions["itpm"]
        tables = runtime.catalog().models.tables
        base_app, base_engine = baseline_app(url)
        BaselineBase.metadata.create_all(base_engine)
        check_same_shape(tables["bench_ticket"], BaselineTicket.__table__)

        with runtime.engine.connect() as connection:
            admin_id = connection.scalar(
                text("SELECT id FROM ab_user WHERE username = :name"), {"name": ADMIN[0]}
            )
        accounts = [{"number": f"ACC-{i:04}", "name": f"Account {i}"} for i in range(1, ACCOUNTS + 1)]
        rows = ticket_rows(ROWS, admin_id)
        now = utcnow()
        system = {"state": "open", "version": 1, "created_at": now, "updated_at": now, "owner_id": admin_id}
        bulk_load(runtime.engine, tables["bench_account"], [{**system, **a} for a in accounts])
        bulk_load(runtime.engine, tables["bench_ticket"], rows)
        with runtime.engine.begin() as connection:
            connection.execute(
                insert(NumberSequence),
                [{"key": "bench_account:", "value": ACCOUNTS}, {"key": "bench_ticket:", "value": ROWS}],
            )
        bulk_load(base_engine, BaselineAccount.__table__, [{"name": a["name"]} for a in accounts])
        bulk_load(base_engine, BaselineTicket.__table__, rows)
        analyse(
            runtime.engine,
            ["rec_bench_account", "rec_bench_ticket", "bench_baseline_account", "bench_baseline"],
        )
        loaded = time.perf_counter() - started
        info = {"setup_s": loaded, "matching": matching(rows), "version": server_version(base_engine)}
        try:
            results = measure(itpm_side(app), baseline_side(base_app, base_engine), matching(rows))
            measure_my_work(results, app, base_engine, admin_id, rows)
        finally:
            runtime.dispose()
            base_engine.dispose()
        return results, info


def measure_my_work(
    results: Results, app: Flask, engine: Engine, admin_id: int, rows: list[dict[str, Any]]
) -> None:
    """My work of a person with 1 ticket in MINE: `GET /api/v1/my/work` (every type with a workflow,
    their approvals and mentions, through the access layer), against the hand-written query of their
    open tickets, most urgent first, on the baseline table."""
    client = app.test_client()
    headers = api_headers(client, *ADMIN)
    expected = sum(1 for r in rows if r["assignee_id"] == admin_id and r["state"] in ("open", "in_progress"))
    answer = client.get("/api/v1/my/work", headers=headers)
    assert answer.status_code == 200 and answer.get_json()["count"] == expected, answer.get_data(
        as_text=True
    )[:300]
    table = BaselineTicket.__table__
    query = (
        select(table)
        .where(table.c.assignee_id == admin_id, table.c.state.in_(["open", "in_progress"]))
        .order_by(table.c.due_date, table.c.id)
    )

    def mine(_i: int) -> None:
        assert client.get("/api/v1/my/work", headers=headers).status_code == 200

    def hand_written(_i: int) -> None:
        with engine.connect() as connection:
            assert len(connection.execute(query).all()) == expected

    for i in range(WARM_UP + REPEAT):
        for name, work in (
            (("itpm", mine), ("baseline", hand_written))
            if i % 2
            else (
                ("baseline", hand_written),
                ("itpm", mine),
            )
        ):
            took = elapsed_ms(work, i)
            if i >= WARM_UP:
                results.timings.setdefault(("my work (API)", name), []).append(took)


def timing_rows(backend: str, results: Results) -> list[list[str]]:
    """One row per operation: percentiles of both sides, the ratio, and whether the targets are met."""
    rows = []
    for operation in [*(name for name, _work in OPERATIONS), "my work (API)"]:
        mine, base = results.timings[(operation, "itpm")], results.timings[(operation, "baseline")]
        ratio = round(p50(mine) / p50(base), 2)  # judged as printed
        # my work is a page's worth of queries against one hand-written query: only its p95 is a target
        missed = [f"ratio > {MAX_RATIO}"] if ratio > MAX_RATIO and operation != "my work (API)" else []
        if (
            backend == "postgres"
            and operation.startswith(("list", "my work"))
            and p95(mine) > MAX_LIST_P95_MS
        ):
            missed.append(f"p95 > {MAX_LIST_P95_MS:.0f} ms")
        numbers = [f"{value:.1f}" for value in (p50(mine), p95(mine), p50(base), p95(base))]
        rows.append(
            [backend, operation, *numbers, f"{ratio:.2f}", "no: " + ", ".join(missed) if missed else "yes"]
        )
    return rows


def statement_rows(backend: str, results: Results) -> list[list[Any]]:
    rows = []
    for page in ("itpm UI", "itpm API", "baseline UI", "baseline API"):
        small, large = results.statements[(page, 25)], results.statements[(page, 100)]
        rows.append([backend, page, small, large, "yes" if small == large else "no"])
    return rows


def run() -> None:
    # FAB warns at every login without a `next` page; it says nothing about what is measured.
    logging.getLogger("flask_appbuilder.utils.base").setLevel(logging.ERROR)
    print(f"{ROWS:,} records of a 15-field type referring to {ACCOUNTS} records of another type.")
    print(f"Server-side time in process (Flask test client), {REPEAT} requests each after {WARM_UP} warm-up;")
    print("ratio = itpm p50 / baseline p50.\n")
    timings, statements = [], []
    for backend in BACKENDS:
        results, info = run_backend(backend)
        print(
            f"{backend} {info['version']}: set up and loaded in {info['setup_s']:.1f} s; "
            f"the list filter selects {info['matching']:,} records."
        )
        timings += timing_rows(backend, results)
        statements += statement_rows(backend, results)
    print()
    headers = ["backend", "operation", "itpm p50 ms", "itpm p95 ms", "baseline p50 ms", "baseline p95 ms"]
    print_table([*headers, "ratio", "target met"], timings)
    print("\nSQL statements per list page (itpm's include its revision check, one per request):\n")
    print_table(["backend", "list", "page size 25", "page size 100", "same at both sizes"], statements)
