"""Lists that stay quick when they are big: the count is estimated past a threshold ("about N"), and a
page's statements do not grow with its rows (the records its rows reference are looked up once)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, text

from conftest import login
from itpm.access import Actor
from itpm.models import Department
from itpm.records import counts
from itpm.records.service import Records

PASSWORD = "big-lists-password-7Q"


def _agent_with_incidents(app: Flask, how_many: int) -> None:
    """A support agent of one department, and `how_many` of its incidents, each of another client."""
    runtime = app.extensions["itpm"]
    with runtime.session() as session:
        department = Department(name="ops", title_en="Operations", title_zh="运维部")
        session.add(department)
        session.flush()
        system = Records(session, runtime.catalog(), Actor.system())
        for n in range(how_many):
            client = system.create("customer", {"name": f"Client {n}"})
            system.create(
                "incident",
                {"title": f"Outage {n}", "priority": "P3", "category": "network"},
                {"client": client.id, "department": department.id},
            )
        session.commit()
        department_id = department.id
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        agent = sm.add_user(
            "agent", "Agent", "A", "agent@itpm.invalid", [sm.find_role("support_agent")], PASSWORD
        )
        agent.department_id = department_id
        sm.session.commit()
    if runtime.engine.dialect.name == "postgresql":
        with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))  # the planner's estimate comes from the statistics


def _signed_in(app: Flask) -> Any:
    client = app.test_client()
    login(client, "agent", PASSWORD)
    client.get("/lang/en")
    return client


def test_a_list_past_the_threshold_says_about_how_many_rows_and_an_exact_count_below_it(
    app: Flask, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _agent_with_incidents(app, 6)
    client = _signed_in(app)
    page = client.get("/records/incident/list/").get_data(as_text=True)
    assert "Record Count:</strong> 6" in page

    monkeypatch.setattr(counts, "EXACT_UP_TO", 3)
    page = client.get("/records/incident/list/?psize_records_incident=2").get_data(as_text=True)
    if backend == "postgres":
        assert "Record Count:</strong> about " in page
        assert "page_records_incident=2" in page  # the pages follow the estimate
    else:  # SQLite has no estimate: counted
        assert "Record Count:</strong> 6" in page
    client.get("/lang/zh")
    if backend == "postgres":
        assert "约 " in client.get("/records/incident/list/").get_data(as_text=True)


def test_a_list_page_s_statements_do_not_grow_with_its_rows(app: Flask) -> None:
    """Each row references another client: whether the person may see each is asked once for the page."""
    _agent_with_incidents(app, 12)
    client = _signed_in(app)
    engine = app.extensions["itpm"].engine
    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    statements = {}
    for size in (3, 12):
        client.get(f"/records/incident/list/?psize_records_incident={size}")  # warm
        event.listen(engine, "before_cursor_execute", count)
        try:
            sent.clear()
            page = client.get(f"/records/incident/list/?psize_records_incident={size}").get_data(as_text=True)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        statements[size] = len(sent)
        assert page.count("/records/customer/show/") >= size  # every client named, as a link
    assert statements[3] == statements[12], statements
