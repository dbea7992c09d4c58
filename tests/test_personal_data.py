"""Personal data on SQLite and PostgreSQL: fields marked `x-personal` (and people's own profiles) are
sealed in the audit log under the key of the person they are about; an erasure, approved by a second
admin, pseudonymises and scrubs the person everywhere and destroys their key, and the chain still
verifies; a subject-access export gathers what is held about a person."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, Text, inspect, select, text
from test_worker import (  # noqa: F401 - fixtures
    Processes,
    database,
    processes,
    wait_until,
)

from conftest import ADMIN as ADMIN_LOGIN
from conftest import csrf_token, login, settings_for
from itpm.access import Actor
from itpm.audit import chain
from itpm.automations.scheduler import tick
from itpm.definitions.problems import DefinitionError
from itpm.files import file_path
from itpm.models import AuditEntry, Comment, Notification, PersonalKey, PrivacyRequest, StoredFile
from itpm.privacy import keys
from itpm.privacy.erasure import PrivacyRefused, decide_erasure, request_erasure
from itpm.privacy.jobs import request_export, run_pending_exports
from itpm.privacy.retention import apply_retention
from itpm.records.service import Records
from itpm.web.app import create_app

ADMIN = Actor(1, "admin", frozenset({"admin"}))
NAME_ZH, NAME_EN, EMAIL, PHONE = "林晓雨", "Xiaoyu Lin", "xiaoyu.lin@client.example", "13900139000"


def publish_personal_incident(runtime: Any) -> None:
    """The starter incident with a requester (its subject) and two personal contact fields."""
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
        properties["contact_name"] = {
            "type": "string", "maxLength": 100, "title": "Contact", "x-title-zh": "联系人", "x-personal": True,
        }  # fmt: skip
        properties["contact_phone"] = {
            "type": "string", "maxLength": 40, "title": "Phone", "x-title-zh": "电话", "x-personal": True,
        }  # fmt: skip
        body["subject"] = "requester"
        registry.save_draft(body, "admin")
        registry.publish([("record_type", "incident")], "admin", "personal fields")
        session.commit()


def add_person(app: Any, username: str, first: str, last: str, email: str, role: str = "admin") -> int:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        person = sm.add_user(username, first, last, email, [sm.find_role(role)], "personal-data-pw-1")
        sm.session.commit()
        return person.id


def the_subjects_incident(runtime: Any, person_id: int) -> int:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN)
        record = records.create(
            "incident",
            {
                "title": "Laptop will not boot",
                "priority": "P3",
                "category": "desktop",
                "requester": person_id,
                "contact_name": NAME_ZH,
                "contact_phone": PHONE,
            },
        )
        session.commit()
        return record.id


def all_text(runtime: Any) -> list[str]:
    """Every text and JSON column of every table, as the database holds it ("table.column: value")."""
    with runtime.engine.connect() as connection:
        inspector = inspect(connection)
        chunks = []
        for table in inspector.get_table_names():
            columns = [
                c["name"]
                for c in inspector.get_columns(table)
                if isinstance(c["type"], String | Text) or "JSON" in type(c["type"]).__name__.upper()
            ]
            for column in columns:
                chunks += [
                    f"{table}.{column}: {v}"
                    for v in connection.execute(
                        text(f'SELECT CAST("{column}" AS TEXT) FROM "{table}"')
                    ).scalars()
                ]
        return chunks


def occurrences(texts: list[str] | str, *needles: str) -> list[str]:
    """Where the needles are found, as written or as JSON escapes them (SQLite's JSON text)."""
    texts = [texts] if isinstance(texts, str) else texts
    return [f"{n!r} in {t[:300]}" for n in needles for t in texts if n in t or json.dumps(n)[1:-1] in t]


def verified(runtime: Any) -> chain.Verdict:
    with runtime.engine.connect() as connection:
        return chain.verify(connection)


def test_personal_values_are_sealed_in_the_audit_log_under_their_subjects_key(
    runtime: Any, app: Any, admin_client: Any
) -> None:
    publish_personal_incident(runtime)
    person = add_person(app, "u4711", "Xiaoyu", "Lin", EMAIL)
    record_id = the_subjects_incident(runtime, person)
    with runtime.engine.connect() as connection:
        raw = "\n".join(connection.execute(text("SELECT CAST(detail AS TEXT) FROM itpm_audit")).scalars())
    assert occurrences(raw, NAME_ZH, PHONE, EMAIL, "Xiaoyu") == []  # sealed, not written in the clear
    with runtime.session() as session:
        log = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.target.in_([f"incident/{record_id}", f"user/{person}"]))
            )
        )
        opened = keys.open_changes(session.connection(), log, erased="(erased)")
    created = next(e for e in log if e.action == "record.create")
    assert created.detail["personal"] == {"subject": person, "columns": ["contact_name", "contact_phone"]}
    assert opened[created.id]["contact_name"] == [None, NAME_ZH]
    assert opened[created.id]["contact_phone"] == [None, PHONE]
    assert opened[created.id]["title"] == [None, "Laptop will not boot"]  # not personal: in the clear
    profile = next(e for e in log if e.action == "user.create")
    assert opened[profile.id]["first_name"] == [None, "Xiaoyu"] and opened[profile.id]["email"] == [
        None,
        EMAIL,
    ]
    for page in (f"/audit/?record=incident/{record_id}", f"/audit/record/incident/{record_id}"):
        assert NAME_ZH in admin_client.get(page).get_data(as_text=True)  # opened for whoever reads the log
    with runtime.engine.begin() as connection:
        assert keys.destroy_key(connection, person)
    for page in (f"/audit/?record=incident/{record_id}", f"/audit/record/incident/{record_id}"):
        shown = admin_client.get(page).get_data(as_text=True)
        assert NAME_ZH not in shown and "(erased)" in shown
    with runtime.session() as session:
        after = keys.open_changes(session.connection(), log, erased="(erased)")
    assert after[created.id]["contact_name"] == ["(erased)", "(erased)"]
    assert after[created.id]["title"] == [None, "Laptop will not boot"]
    assert verified(runtime).problem is None


def export_of(runtime: Any, person: int, requester: Actor = ADMIN) -> tuple[dict[str, Any], bytes]:
    """A subject-access export asked for and made by the jobs: its data.json, and its summary PDF."""
    with runtime.session() as session:
        request = request_export(session, person, requester)
        session.commit()
        request_id = request.id
    assert run_pending_exports(runtime) >= 1
    with runtime.session() as session:
        request = session.get(PrivacyRequest, request_id)
        assert request.status == "done", request.error
        stored = session.get(StoredFile, request.file_id)
        content = file_path(runtime.settings.instance_path, stored.sha256).read_bytes()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return json.loads(archive.read("data.json")), archive.read("summary.pdf")


def test_an_approved_erasure_leaves_the_person_nowhere_and_the_chain_valid(runtime: Any, app: Any) -> None:
    publish_personal_incident(runtime)
    second_admin = add_person(app, "auditor2", "Second", "Admin", "second.admin@itpm.invalid")
    person = add_person(app, "u4711", "Xiaoyu", "Lin", EMAIL)
    record_id = the_subjects_incident(runtime, person)
    with runtime.session() as session:
        Records(session, runtime.catalog(), Actor(person, "u4711", frozenset({"admin"}))).add_comment(
            "incident", record_id, f"This is {NAME_EN} ({NAME_ZH}), please call {EMAIL}"
        )
        session.add(Notification(person_id=person, key="t-1", subject=f"Hello {NAME_EN}", body="Your laptop"))
        session.commit()

    data, pdf = export_of(runtime, person)
    assert data["person"]["email"] == EMAIL and data["person"]["first_name"] == "Xiaoyu"
    (mine,) = [r for r in data["records"] if r["type"] == "incident" and r["subject"]]
    assert mine["personal"] == {"contact_name": NAME_ZH, "contact_phone": PHONE}
    assert (
        NAME_EN in data["comments"][0]["body"] and data["notifications"][0]["subject"] == f"Hello {NAME_EN}"
    )
    assert any(e["action"] == "user.create" and e["changes"]["email"] == [None, EMAIL] for e in data["audit"])
    assert pdf.startswith(b"%PDF")

    with runtime.session() as session:
        request = request_erasure(session, person, ADMIN, f"{NAME_EN} asked for it (GDPR art. 17)")
        session.commit()
        with pytest.raises(PrivacyRefused, match="cannot approve"):
            decide_erasure(
                session, runtime.catalog(), request.id, ADMIN, True, runtime.settings.instance_path
            )
        decided = decide_erasure(
            session,
            runtime.catalog(),
            request.id,
            Actor(second_admin, "auditor2", frozenset({"admin"})),
            True,
            runtime.settings.instance_path,
        )
        assert decided.status == "done" and decided.summary["key_destroyed"] == 1
        assert decided.summary["records"] == 1 and decided.summary["exports"] == 1
        assert session.get(PersonalKey, person) is None

    assert occurrences(all_text(runtime), NAME_ZH, NAME_EN, "Xiaoyu", EMAIL, PHONE) == []
    assert verified(runtime).problem is None
    with runtime.session() as session:
        comment = session.scalar(select(Comment).where(Comment.author_id == person))
        assert comment.body == f"This is erased-{person} (erased-{person}), please call erased-{person}"
        record = Records(session, runtime.catalog(), ADMIN).get("incident", record_id)
        assert (record.contact_name, record.contact_phone) == (f"erased-{person}", f"erased-{person}")
        assert record.title == "Laptop will not boot"  # the record itself stays
    after, _pdf = export_of(runtime, person, Actor(second_admin, "auditor2", frozenset({"admin"})))
    assert occurrences(json.dumps(after, ensure_ascii=False), NAME_ZH, NAME_EN, "Xiaoyu", EMAIL, PHONE) == []


def test_the_personal_data_screens_ask_export_and_a_second_admin_erases(
    runtime: Any, app: Any, admin_client: Any
) -> None:
    second_admin = add_person(app, "auditor2", "Second", "Admin", "second.admin@itpm.invalid")
    person = add_person(app, "u4711", "Xiaoyu", "Lin", EMAIL, role="engineer")
    client_user = add_person(app, "cora", "Cora", "Client", "cora@client.example", role="client")
    outsider = app.test_client()
    login(outsider, "cora", "personal-data-pw-1")
    assert "Xiaoyu" not in outsider.get("/privacy/", follow_redirects=True).get_data(as_text=True)
    token = csrf_token(outsider, "/")
    refused = outsider.post(
        "/privacy/ask", data={"person": person, "kind": "erasure", "reason": "x", "csrf_token": token}
    )
    assert refused.status_code in (302, 403)
    with runtime.session() as session:
        assert session.scalar(select(PrivacyRequest.id)) is None  # a client's user asks nothing

    page = admin_client.get("/privacy/").get_data(as_text=True)
    assert "u4711" in page and "Personal data" in page
    admin_client.post(
        "/privacy/ask",
        data={"person": person, "kind": "export", "csrf_token": csrf_token(admin_client, "/privacy/")},
    )
    assert run_pending_exports(runtime) == 1
    with runtime.session() as session:
        export_id = session.scalar(select(PrivacyRequest.id).where(PrivacyRequest.kind == "export"))
    download = admin_client.get(f"/privacy/download/{export_id}")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.get_data())) as archive:
        assert json.loads(archive.read("data.json"))["person"]["email"] == EMAIL
    assert outsider.get(f"/privacy/download/{export_id}").status_code in (302, 403, 404)

    admin_client.post(
        "/privacy/ask",
        data={
            "person": person,
            "kind": "erasure",
            "reason": "asked",
            "csrf_token": csrf_token(admin_client, "/privacy/"),
        },
    )
    with runtime.session() as session:
        erasure_id = session.scalar(select(PrivacyRequest.id).where(PrivacyRequest.kind == "erasure"))
    mine = admin_client.post(
        "/privacy/decide",
        data={
            "request": erasure_id,
            "decision": "approve",
            "csrf_token": csrf_token(admin_client, "/privacy/"),
        },
        follow_redirects=True,
    )
    assert "cannot approve" in mine.get_data(as_text=True)
    second = app.test_client()
    login(second, "auditor2", "personal-data-pw-1")
    second.get("/lang/zh")
    assert "删除" in second.get("/privacy/").get_data(as_text=True)
    second.post(
        "/privacy/decide",
        data={"request": erasure_id, "decision": "approve", "csrf_token": csrf_token(second, "/privacy/")},
    )
    with runtime.session() as session:
        assert session.get(PrivacyRequest, erasure_id).status == "done"
        assert (
            session.get(PrivacyRequest, export_id).file_id is None
        )  # the earlier export went with the person
        assert session.get(PersonalKey, person) is None
    with runtime.engine.connect() as connection:
        downloads = (
            connection.execute(text("SELECT actor FROM itpm_audit WHERE action = 'privacy.download'"))
            .scalars()
            .all()
        )
    assert downloads == ["admin"]
    assert verified(runtime).problem is None
    assert client_user and second_admin


def test_retention_rules_anonymise_or_delete_old_closed_records_on_the_daily_tick(
    runtime: Any, app: Any
) -> None:
    publish_personal_incident(runtime)
    with runtime.session() as session:
        registry = runtime.registry(session)
        body = copy.deepcopy(registry.published_body(registry.get("record_type", "incident")))
        body["retention"] = {"states": ["resolved", "cancelled"], "years": 3, "action": "anonymise"}
        registry.save_draft(body, "admin")
        registry.publish([("record_type", "incident")], "admin", "retention")
        session.commit()
    person = add_person(app, "u4711", "Xiaoyu", "Lin", EMAIL)
    old, fresh = the_subjects_incident(runtime, person), the_subjects_incident(runtime, person)
    with runtime.session() as session:
        model = runtime.catalog().models.models["incident"]
        for record_id, state in ((old, "resolved"), (fresh, "new")):
            session.get(model, record_id).state = state
        session.commit()
    now = dt.datetime.now(dt.UTC)
    in_four_years = now + dt.timedelta(days=4 * 366)
    assert tick(runtime, now - dt.timedelta(minutes=1), now)["retention"] == 0  # not across midnight
    midnight = dt.datetime.combine(in_four_years.date(), dt.time(), dt.UTC)
    done = tick(runtime, midnight - dt.timedelta(seconds=30), midnight + dt.timedelta(seconds=1))
    assert done["retention"] == 1  # the resolved one; the open one is kept
    assert apply_retention(runtime, in_four_years) == {}  # twice does nothing more
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), ADMIN)
        kept, aged = records.get("incident", fresh), records.get("incident", old)
        assert (aged.contact_name, aged.contact_phone, aged.title) == (
            "anonymised",
            "anonymised",
            "Laptop will not boot",
        )
        assert kept.contact_name == NAME_ZH
        history = json.dumps(records.history("incident", old), ensure_ascii=False, default=str)
        assert NAME_ZH not in history and PHONE not in history

    with runtime.session() as session:
        registry = runtime.registry(session)
        body = copy.deepcopy(registry.published_body(registry.get("record_type", "incident")))
        body["retention"] = {"states": ["new"], "years": 3, "action": "delete"}
        registry.save_draft(body, "admin")
        registry.publish([("record_type", "incident")], "admin", "retention")
        session.commit()
    assert apply_retention(runtime, in_four_years) == {"incident": 1}
    with runtime.session() as session:
        assert session.get(runtime.catalog().models.models["incident"], fresh) is None
    assert verified(runtime).problem is None


def test_a_retention_rule_must_name_states_of_the_workflow(runtime: Any) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        body = copy.deepcopy(registry.published_body(registry.get("record_type", "incident")))
        body["retention"] = {"states": ["closed"], "years": 3, "action": "delete"}
        body["subject"] = "title"
        with pytest.raises(DefinitionError) as refused:
            registry.save_draft(body, "admin")
            registry.publish([("record_type", "incident")], "admin", "retention")
    messages = {(p.path, str(p.message)) for p in refused.value.problems}
    assert ("/retention/states/0", "names no state of this type's workflow: 'closed'") in messages
    assert ("/subject", "'title' is not a person field") in messages


@pytest.mark.postgres
def test_an_itpm_worker_makes_the_export_an_admin_asked_for_on_redis_and_postgresql(
    database: str,  # noqa: F811
    tmp_path: Path,
    redis_url: str,  # noqa: F811
    processes: Processes,  # noqa: F811
) -> None:
    app = create_app(settings_for(database, tmp_path, redis_url=redis_url, jobs="rq"))
    runtime = app.extensions["itpm"]
    try:
        person = add_person(app, "u4711", "Xiaoyu", "Lin", EMAIL, role="engineer")
        processes.worker(database, redis_url, "privacy")
        admin = app.test_client()
        login(admin, *ADMIN_LOGIN)
        asked = admin.post(
            "/privacy/ask",
            data={"person": person, "kind": "export", "csrf_token": csrf_token(admin, "/privacy/")},
        )
        assert asked.status_code == 302  # the commit hands the export to Redis at once

        def finished() -> PrivacyRequest | None:
            with runtime.session() as session:
                found = session.scalar(select(PrivacyRequest))
                return found if found.status in ("done", "failed") else None

        done = wait_until(finished, 120, "the worker never made the export")
        assert (done.status, done.error) == ("done", "")
        download = admin.get(f"/privacy/download/{done.id}")
        with zipfile.ZipFile(io.BytesIO(download.get_data())) as archive:
            assert json.loads(archive.read("data.json"))["person"]["email"] == EMAIL
    finally:
        runtime.dispose()
