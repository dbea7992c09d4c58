"""Inbound integrations (issue 18, items 8-10): integration tokens, Alertmanager's webhook and the
signed generic webhook, replayed against one world per module (SQLite; the race on PostgreSQL).

The Alertmanager payloads follow Alertmanager's documented webhook format (version 4): the two
files in tests/fixtures/alertmanager are what it sends, the rest are made from them (`alert`).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from itpm.access import Actor
from itpm.definitions.documents import Document
from itpm.definitions.problems import DefinitionError
from itpm.integrations.tokens import new_token, revoke, service_person, signing_secret
from itpm.models import AuditEntry, Department, IntegrationItem, IntegrationToken, Person, RecordEvent
from itpm.records.service import Records
from itpm.web.app import create_app
from tests.conftest import ADMIN, SECRET, csrf_token, databases, login, settings_for

FIXTURES = Path(__file__).parent / "fixtures" / "alertmanager"
FIRING = json.loads((FIXTURES / "firing_grouped.json").read_text("utf-8"))
RESOLVED = json.loads((FIXTURES / "resolved_one.json").read_text("utf-8"))
STARTER = json.loads(
    (Path(__file__).parents[1] / "workflows/integrations/alertmanager.json").read_text("utf-8")
)


def integration(name: str, **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(STARTER), "name": name, **changes}


RESOLVING = integration(
    "am_resolve",
    resolved={
        "do": "resolve",
        "state": "resolved",
        "fields": {
            "resolution": {"value": "Recovered in monitoring"},
            "resolved_at": {"from": "/endsAt"},
            "root_cause": {"from": "/annotations/description", "default": "See the monitoring system"},
        },
    },
)
NEW_AFTER = integration("am_new", resolved=RESOLVING["resolved"], fires_again={"do": "new"})
#: The old strict behaviour, chosen explicitly: a label that names nothing refuses the whole delivery.
STRICT = integration("am_strict", unmatched="refuse")
CRM = {
    "kind": "integration",
    "name": "crm_clients",
    "title": {"en": "CRM clients", "zh": "CRM 客户"},
    "source": "webhook",
    "record_type": "customer",
    "key": ["/id"],
    "payload": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string", "minLength": 1}},
    },
    "fields": {
        "name": {"from": "/name"},
        "tier": {"from": "/tier"},
        "contact_email": {"from": "/contact/email"},
    },
}

#: The same, its key held by a field of the record: a client made before the integration is found by it.
CRM_BY_FIELD = {
    **CRM,
    "name": "crm_by_code",
    "key": ["/code"],
    "key_field": "short_name",
    "payload": {"type": "object"},
}


def alert(
    fingerprint: str, status: str, starts: str, ends: str | None = None, **labels: str
) -> dict[str, Any]:
    """One alert as Alertmanager sends it (a copy of the fixture's first, changed)."""
    one = copy.deepcopy(FIRING["alerts"][0])
    one.update(status=status, fingerprint=fingerprint, startsAt=starts, endsAt=ends or "0001-01-01T00:00:00Z")
    one["labels"].update(labels)
    one["annotations"]["summary"] = f"alert {fingerprint}"
    return one


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(FIRING)
    body["alerts"] = list(alerts)
    body["status"] = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return body


class World:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.runtime = app.extensions["itpm"]
        self.client = app.test_client()
        self.tokens: dict[str, str] = {}
        self.secrets: dict[str, str] = {}

    def hook(self, name: str, body: Any, token: str | None = None) -> Any:
        token = self.tokens.get(name) if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post(f"/api/v1/hooks/alertmanager/{name}", json=body, headers=headers)

    def signed(self, name: str, body: Any, secret: str | None = None, at: int | None = None) -> Any:
        raw = json.dumps(body).encode()
        stamp = str(int(time.time()) if at is None else at)
        signature = hmac.new(
            (secret or self.secrets[name]).encode(), f"{stamp}.".encode() + raw, hashlib.sha256
        )
        headers = {
            "X-Itpm-Timestamp": stamp,
            "X-Itpm-Signature": f"sha256={signature.hexdigest()}",
            "Content-Type": "application/json",
        }
        return self.client.post(f"/api/v1/hooks/{name}", data=raw, headers=headers)

    def records(self, session: Any) -> Records:
        return Records(session, self.runtime.catalog(), Actor.system())

    def incidents_of(self, integration: str, fingerprint: str) -> list[Any]:
        with self.runtime.session() as session:
            ids = session.scalars(
                select(IntegrationItem.record_id).where(
                    IntegrationItem.integration == integration, IntegrationItem.group_key == fingerprint
                )
            ).all()
            records = self.records(session)
            return [records.as_json(records.get("incident", i)) for i in sorted(set(ids))]

    def count(self, type_name: str = "incident") -> int:
        with self.runtime.session() as session:
            model = self.records(session).model(type_name)
            return session.scalar(select(func.count()).select_from(model))

    def history(self, record_id: int, type_name: str = "incident") -> list[RecordEvent]:
        with self.runtime.session() as session:
            return list(
                session.scalars(
                    select(RecordEvent)
                    .where(RecordEvent.record_type == type_name, RecordEvent.record_id == record_id)
                    .order_by(RecordEvent.id)
                )
            )


def build_world(app: Any) -> World:
    world = World(app)
    runtime = world.runtime
    with runtime.session() as session:
        ops = Department(name="ops", title_en="Operations", title_zh="运维部")
        session.add(ops)
        session.flush()
        world.department = ops.id
        runtime.registry(session).import_documents(
            [Document(f"{b['name']}.json", b) for b in (RESOLVING, NEW_AFTER, STRICT, CRM, CRM_BY_FIELD)],
            "test",
            publish=True,
        )
    catalog = runtime.catalog()
    with runtime.session() as session:
        records = world.records(session)
        world.customer = records.create("customer", {"name": "East China Bank"}).id
        person = service_person(session, "alertmanager", "support_agent", "ops")
        for name in ("alertmanager", "am_resolve", "am_new", "am_strict"):
            made, world.tokens[name] = new_token(session, catalog, name, person, "test")
        crm_person = service_person(session, "crm_clients", "account_manager", "ops")
        made, world.tokens["crm_clients"] = new_token(
            session, catalog, "crm_clients", crm_person, "test", {"customer": ["read", "create", "write"]}
        )
        world.secrets["crm_clients"] = signing_secret(made, SECRET)
        made, world.tokens["crm_by_code"] = new_token(
            session, catalog, "crm_by_code", crm_person, "test", {"customer": ["read", "create", "write"]}
        )
        world.secrets["crm_by_code"] = signing_secret(made, SECRET)
        session.commit()
    return world


@pytest.fixture(scope="module")
def world(template_databases: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("inbound")
    with databases(template_databases, folder) as make:
        app = create_app(settings_for(make("sqlite"), folder))
        try:
            yield build_world(app)
        finally:
            app.extensions["itpm"].dispose()


# --- Alertmanager ----------------------------------------------------------------------------


def test_two_alerts_firing_make_two_incidents_and_the_same_payload_again_makes_none(world: World) -> None:
    before = world.count()
    first = world.hook("alertmanager", FIRING)
    assert first.status_code == 200, first.get_json()
    assert len(first.get_json()["created"]) == 2
    again = world.hook("alertmanager", FIRING)
    assert again.status_code == 200 and again.get_json()["created"] == []
    assert world.count() == before + 2
    one, two = (world.incidents_of("alertmanager", a["fingerprint"]) for a in FIRING["alerts"])
    assert len(one) == len(two) == 1
    incident = one[0]
    # labels -> client (by number, and by name), priority, support group, service; the client's SLA runs
    assert incident["client"] == world.customer and two[0]["client"] == world.customer
    assert incident["data"]["priority"] == "P1" and two[0]["data"]["priority"] == "P3"
    assert incident["data"]["support_group"] == "network"
    assert incident["data"]["affected_service"] == "Core switching"
    assert incident["data"]["title"] == "core-sw-01 is down"
    assert incident["data"]["occurred_at"] == "2026-12-03T06:00:00Z"
    assert incident["sla"]["due"] and incident["sla"]["clocks"]["resolution"]["target_minutes"]
    history = world.history(incident["id"])
    assert (history[0].action, history[0].actor, history[0].note) == (
        "created",
        "svc_alertmanager",
        "integration alertmanager",
    )
    assert [e.action for e in history[1:]] == ["alert repeated"]


def test_resolved_is_a_note_by_default_and_a_retry_of_it_changes_nothing(world: World) -> None:
    world.hook("alertmanager", FIRING)
    for _attempt in range(2):
        assert world.hook("alertmanager", RESOLVED).status_code == 200
    (incident,) = world.incidents_of("alertmanager", RESOLVED["alerts"][0]["fingerprint"])
    assert incident["state"] == "new"
    assert [e.action for e in world.history(incident["id"])].count("alert resolved") == 1


def test_resolved_resolves_the_incident_when_the_integration_says_so(world: World) -> None:
    fire = alert("res-1", "firing", "2026-12-03T07:00:00Z")
    assert world.hook("am_resolve", payload(fire)).status_code == 200
    done = alert("res-1", "resolved", "2026-12-03T07:00:00Z", "2026-12-03T07:10:00Z")
    answer = world.hook("am_resolve", payload(done))
    assert answer.status_code == 200, answer.get_json()
    (incident,) = world.incidents_of("am_resolve", "res-1")
    assert incident["state"] == "resolved"
    assert incident["data"]["resolution"] == "Recovered in monitoring"
    assert incident["data"]["resolved_at"] == "2026-12-03T07:10:00Z"


def test_an_alert_firing_again_reopens_within_the_window_and_is_new_after_it(world: World) -> None:
    world.hook("am_resolve", payload(alert("again-1", "firing", "2026-12-03T08:00:00Z")))
    world.hook(
        "am_resolve", payload(alert("again-1", "resolved", "2026-12-03T08:00:00Z", "2026-12-03T08:05:00Z"))
    )
    world.hook("am_resolve", payload(alert("again-1", "firing", "2026-12-03T08:30:00Z")))  # 25 min later
    (incident,) = world.incidents_of("am_resolve", "again-1")
    assert incident["state"] == "in_progress"
    assert "alert fired again" not in [e.action for e in world.history(incident["id"])]  # it moved
    world.hook(
        "am_resolve", payload(alert("again-1", "resolved", "2026-12-03T08:30:00Z", "2026-12-03T08:40:00Z"))
    )
    world.hook("am_resolve", payload(alert("again-1", "firing", "2026-12-03T10:00:00Z")))  # 80 min later
    first, second = world.incidents_of("am_resolve", "again-1")
    assert (first["state"], second["state"]) == ("resolved", "new")


def test_an_alert_firing_again_is_a_new_incident_when_the_integration_says_so(world: World) -> None:
    world.hook("am_new", payload(alert("new-1", "firing", "2026-12-03T08:00:00Z")))
    world.hook("am_new", payload(alert("new-1", "resolved", "2026-12-03T08:00:00Z", "2026-12-03T08:05:00Z")))
    world.hook("am_new", payload(alert("new-1", "firing", "2026-12-03T08:06:00Z")))
    first, second = world.incidents_of("am_new", "new-1")
    assert (first["state"], second["state"]) == ("resolved", "new")


def test_firing_again_with_the_note_policy_notes_the_open_incident(world: World) -> None:
    world.hook("alertmanager", payload(alert("note-1", "firing", "2026-12-03T08:00:00Z")))
    world.hook(
        "alertmanager", payload(alert("note-1", "resolved", "2026-12-03T08:00:00Z", "2026-12-03T08:05:00Z"))
    )
    world.hook("alertmanager", payload(alert("note-1", "firing", "2026-12-03T08:10:00Z")))
    (incident,) = world.incidents_of("alertmanager", "note-1")
    assert incident["state"] == "new"
    assert "alert fired again" in [e.action for e in world.history(incident["id"])]


def test_a_resolution_delivered_before_its_alert_makes_one_resolved_incident(world: World) -> None:
    late = alert("late-1", "firing", "2026-12-03T09:00:00Z")
    early = alert("late-1", "resolved", "2026-12-03T09:00:00Z", "2026-12-03T09:03:00Z")
    assert world.hook("am_resolve", payload(early)).status_code == 200
    answer = world.hook("am_resolve", payload(late))
    assert answer.status_code == 200 and answer.get_json()["created"] == []
    world.hook("am_resolve", payload(early))  # and a retry of it
    (incident,) = world.incidents_of("am_resolve", "late-1")
    assert incident["state"] == "resolved"
    assert any("before the alert" in e.note for e in world.history(incident["id"]))


def test_a_flapping_alert_is_noted_on_one_incident_not_multiplied(world: World) -> None:
    for minute in range(0, 50, 10):
        starts = f"2026-12-03T11:{minute:02d}:00Z"
        world.hook("am_resolve", payload(alert("flap-1", "firing", starts)))
        world.hook(
            "am_resolve", payload(alert("flap-1", "resolved", starts, f"2026-12-03T11:{minute + 5:02d}:00Z"))
        )
    (incident,) = world.incidents_of("am_resolve", "flap-1")
    moves = [e.action for e in world.history(incident["id"]) if e.action.startswith("transition")]
    assert len(moves) == 9  # resolved 5 times, reopened 4 times


def test_a_grouped_delivery_with_a_bad_alert_writes_nothing_and_names_it(world: World) -> None:
    before = world.count()
    bad = payload(alert("bad-1", "firing", "2026-12-03T12:00:00Z"), alert("bad-2", "firing", "yesterday"))
    answer = world.hook("alertmanager", bad)
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["path"] == "/alerts/1/startsAt"
    assert world.hook("am_strict", bad).get_json()["errors"][0]["path"] == "/alerts/1/startsAt"
    missing = world.hook("alertmanager", {"version": "4", "status": "firing"})
    assert missing.status_code == 422 and missing.get_json()["errors"][0]["path"] == "/alerts"
    not_json = world.client.post(
        "/api/v1/hooks/alertmanager/alertmanager",
        data="{not json",
        headers={
            "Authorization": f"Bearer {world.tokens['alertmanager']}",
            "Content-Type": "application/json",
        },
    )
    assert not_json.status_code == 422 and not_json.get_json()["errors"][0]["path"] == "/"
    assert world.count() == before


UNMATCHED_NOTE = "label client=acme-prod matched no customer · 标签 client=acme-prod 未匹配到任何客户"


def notes(world: World, record_id: int) -> list[str]:
    return [e.note for e in world.history(record_id) if e.action == "alert label unmatched"]


def test_an_alert_whose_client_label_matches_nothing_makes_its_incident_without_it_and_says_so(
    world: World,
) -> None:
    before = world.count()
    body = payload(alert("um-1", "firing", "2026-12-03T12:10:00Z", client="acme-prod"))
    answer = world.hook("alertmanager", body)
    assert answer.status_code == 200, answer.get_json()
    assert len(answer.get_json()["created"]) == 1
    assert answer.get_json()["unmatched"] == [{"path": "/alerts/0/labels/client", "message": UNMATCHED_NOTE}]
    (incident,) = world.incidents_of("alertmanager", "um-1")
    assert incident["client"] is None
    assert incident["data"]["priority"] == "P1" and incident["data"]["title"] == "alert um-1"
    assert notes(world, incident["id"]) == [UNMATCHED_NOTE]
    again = world.hook("alertmanager", body)  # a re-delivery finds it: no second incident, no second note
    assert again.status_code == 200 and again.get_json()["created"] == []
    assert "unmatched" not in again.get_json()
    assert world.count() == before + 1 and len(world.incidents_of("alertmanager", "um-1")) == 1
    assert notes(world, incident["id"]) == [UNMATCHED_NOTE]


def test_a_group_with_an_unmatched_and_a_matched_alert_makes_both(world: World) -> None:
    with world.runtime.session() as session:  # two clients answer to one short name: no single record
        for name in ("Twin Towers North", "Twin Towers South"):
            world.records(session).create("customer", {"name": name, "short_name": "TWIN"})
        session.commit()
    before = world.count()
    body = payload(
        alert("um-2", "firing", "2026-12-03T12:20:00Z", client="acme-prod", project="no-such-project"),
        alert("um-3", "firing", "2026-12-03T12:20:00Z", client="East China Bank"),
        alert("um-4", "firing", "2026-12-03T12:20:00Z", client="TWIN"),
    )
    answer = world.hook("alertmanager", body)
    assert answer.status_code == 200, answer.get_json()
    assert len(answer.get_json()["created"]) == 3 and world.count() == before + 3
    assert [u["path"] for u in answer.get_json()["unmatched"]] == [
        "/alerts/0/labels/client",
        "/alerts/0/labels/project",
        "/alerts/2/labels/client",
    ]
    (unmatched,) = world.incidents_of("alertmanager", "um-2")
    (matched,) = world.incidents_of("alertmanager", "um-3")
    (twin,) = world.incidents_of("alertmanager", "um-4")
    assert unmatched["client"] is None and unmatched["data"].get("project") is None
    assert notes(world, unmatched["id"]) == [
        UNMATCHED_NOTE,
        "label project=no-such-project matched no project · 标签 project=no-such-project 未匹配到任何项目",
    ]
    assert matched["client"] == world.customer and notes(world, matched["id"]) == []
    assert twin["client"] is None
    assert notes(world, twin["id"]) == [
        "label client=TWIN matched more than one customer · 标签 client=TWIN 匹配到多个客户"
    ]


def test_with_unmatched_refuse_a_label_that_matches_nothing_refuses_the_delivery_and_writes_nothing(
    world: World,
) -> None:
    before = world.count()
    body = payload(
        alert("strict-1", "firing", "2026-12-03T12:30:00Z", client="East China Bank"),
        alert("strict-2", "firing", "2026-12-03T12:30:00Z", client="acme-prod"),
    )
    answer = world.hook("am_strict", body)
    assert answer.status_code == 422
    assert [e["path"] for e in answer.get_json()["errors"]] == ["/alerts/1/labels/client"]
    assert world.count() == before
    with world.runtime.session() as session:
        assert (
            session.scalar(select(IntegrationItem).where(IntegrationItem.integration == "am_strict")) is None
        )


# --- tokens ----------------------------------------------------------------------------------


def test_a_wrong_or_revoked_token_is_refused_and_writes_nothing(world: World) -> None:
    before = world.count()
    body = payload(alert("tok-1", "firing", "2026-12-03T13:00:00Z"))
    for token in ("itpm_not-a-token", "", world.tokens["am_new"], "eyJ.not.a.jwt"):
        answer = world.hook("alertmanager", body, token=token or "-")
        assert answer.status_code == 401, (token, answer.get_json())
        assert "token" in answer.get_json()["message"]
    assert world.client.post("/api/v1/hooks/alertmanager/alertmanager", json=body).status_code == 401
    with world.runtime.session() as session:
        catalog = world.runtime.catalog()
        person = service_person(session, "alertmanager", "support_agent")
        made, raw = new_token(session, catalog, "alertmanager", person, "test")
        session.commit()
        reading = {"Authorization": f"Bearer {raw}"}
        assert world.client.get("/api/v1/records/incident/", headers=reading).status_code == 200
        session.expire_all()
        assert session.get(IntegrationToken, made.id).last_used_at is not None  # a read is a use
        revoke(session, made.id, "test")
        session.commit()
        stored = session.get(IntegrationToken, made.id)
        assert raw not in json.dumps([stored.digest, stored.prefix]) and len(stored.digest) == 64
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.target == "integration/alertmanager")
        ).all()
        assert {"integration.token", "integration.revoke"} <= {a.action for a in audit}
        assert raw not in json.dumps([a.detail for a in audit])
    answer = world.hook("alertmanager", body, token=raw)
    assert answer.status_code == 401 and "revoked" in answer.get_json()["message"]
    assert world.client.get("/api/v1/records/incident/", headers=reading).status_code == 401
    assert world.count() == before


def test_a_token_works_on_the_records_api_within_its_scope_only(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['alertmanager']}"}
    made = world.client.post(
        "/api/v1/records/incident/",
        json={
            "data": {"title": "Disk full", "priority": "P2", "category": "server"},
            "client": world.customer,
        },
        headers=headers,
    )
    assert made.status_code == 201, made.get_json()
    assert world.history(made.get_json()["id"])[0].note == "integration alertmanager"
    customers = world.count("customer")
    refused = world.client.post(
        "/api/v1/records/customer/", json={"data": {"name": "Not allowed"}}, headers=headers
    )
    assert refused.status_code == 403
    assert world.count("customer") == customers
    assert world.client.get("/api/v1/records/customer/", headers=headers).status_code == 200  # it reads them
    assert world.client.get("/api/v1/records/project/", headers=headers).status_code == 200
    assert (
        world.client.delete(f"/api/v1/records/incident/{made.get_json()['id']}", headers=headers).status_code
        == 403
    )
    assert world.client.get("/api/v1/definitions/", headers=headers).status_code in (401, 403)
    with world.runtime.session() as session:  # a token that only reads takes no transition
        person = service_person(session, "alertmanager", "support_agent")
        _made, reader = new_token(
            session, world.runtime.catalog(), "alertmanager", person, "test", {"incident": ["read"]}
        )
        session.commit()
    incident = made.get_json()["id"]
    take = f"/api/v1/records/incident/{incident}/transitions/take"
    assert world.client.post(take, json={}, headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    assert world.client.post(take, json={}, headers=headers).status_code == 200
    assert world.client.get("/records/incident/list/", headers=headers).status_code in (302, 401, 403)


def test_the_command_makes_a_token_and_prints_it_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from itpm.cli import main

    settings = world.runtime.settings
    monkeypatch.setenv("ITPM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ITPM_SECRET_KEY", SECRET)
    monkeypatch.setenv("ITPM_INSTANCE_PATH", str(settings.instance_path))
    result = CliRunner().invoke(main, ["integrations", "token", "alertmanager", "--department", "ops"])
    assert result.exit_code == 0, result.output
    raw = next(line.split()[-1] for line in result.output.splitlines() if line.strip().startswith("token:"))
    body = payload(alert("cli-1", "firing", "2026-12-03T14:00:00Z"))
    assert world.hook("alertmanager", body, token=raw).status_code == 200
    refused = CliRunner().invoke(main, ["integrations", "token", "nothing_here"])
    assert refused.exit_code != 0 and "no published integration" in refused.output


# --- the signed webhook ------------------------------------------------------------------------


def test_a_signed_push_creates_then_updates_by_its_key(world: World) -> None:
    customers = world.count("customer")
    body = {
        "id": "ERP-7",
        "name": "Pudong Logistics",
        "tier": "key",
        "contact": {"email": "it@pudong.example"},
    }
    created = world.signed("crm_clients", body)
    assert created.status_code == 200, created.get_json()
    assert len(created.get_json()["created"]) == 1
    updated = world.signed("crm_clients", {**body, "tier": "strategic"})
    assert updated.get_json()["updated"] == created.get_json()["created"]
    assert world.signed("crm_clients", {**body, "tier": "strategic"}).get_json()["unchanged"] == 1
    assert world.count("customer") == customers + 1
    with world.runtime.session() as session:
        records = world.records(session)
        (number,) = created.get_json()["created"]
        model = records.model("customer")
        record = session.scalar(select(model).where(model.number == number))
        assert records.data(record)["tier"] == "strategic"
        assert world.history(record.id, "customer")[0].note == "integration crm_clients"


def test_a_push_finds_a_record_made_before_the_integration_by_its_key_field(world: World) -> None:
    with world.runtime.session() as session:
        earlier = world.records(session).create("customer", {"name": "Suzhou Metro", "short_name": "SZM"})
        session.commit()
    customers = world.count("customer")
    push = {"code": "SZM", "name": "Suzhou Metro Group"}
    refused = world.signed(
        "crm_by_code", push
    )  # the account manager's role writes its own or assigned clients
    assert refused.status_code == 403
    with world.runtime.session() as session:
        assert session.scalar(select(IntegrationItem).where(IntegrationItem.key == "SZM")) is None
        person = session.scalar(select(Person.id).where(Person.username == "svc_crm_clients"))
        records = world.records(session)
        records.update("customer", earlier.id, {}, earlier.version, {"assignee": person})
        session.commit()
    answer = world.signed("crm_by_code", push)
    assert answer.status_code == 200 and answer.get_json()["updated"] == [earlier.number]
    assert world.signed("crm_by_code", {"code": "NEW-1", "name": "Wuxi Port"}).get_json()["created"]
    assert world.count("customer") == customers + 1
    with world.runtime.session() as session:
        records = world.records(session)
        assert records.data(records.get("customer", earlier.id))["name"] == "Suzhou Metro Group"


def test_a_bad_signature_an_old_timestamp_or_a_bad_body_is_refused_and_writes_nothing(world: World) -> None:
    customers = world.count("customer")
    body = {"id": "ERP-8", "name": "Hangzhou Water"}
    assert world.signed("crm_clients", body, secret="wrong").status_code == 401
    old = world.signed("crm_clients", body, at=int(time.time()) - 3600)
    assert old.status_code == 401 and "replay" in old.get_json()["message"]
    assert world.client.post("/api/v1/hooks/crm_clients", json=body).status_code == 401
    bad = world.signed("crm_clients", {"id": "ERP-8", "name": "Hangzhou Water", "tier": "gold"})
    assert bad.status_code == 422
    assert [e["path"] for e in bad.get_json()["errors"]] == ["/tier"]
    missing = world.signed("crm_clients", {"id": "ERP-8"})
    assert missing.status_code == 422 and missing.get_json()["errors"][0]["path"] == "/name"
    assert world.count("customer") == customers
    with world.runtime.session() as session:
        assert session.scalar(select(IntegrationItem).where(IntegrationItem.key == "ERP-8")) is None


# --- definitions -------------------------------------------------------------------------------


def test_a_bad_integration_definition_is_refused_naming_the_json_path(world: World) -> None:
    bad = integration(
        "am_bad",
        fields={**STARTER["fields"], "priority": {"from": "/labels/severity", "values": {"critical": "P9"}}},
        resolved={"do": "resolve", "state": "closed"},
        fires_again={"do": "reopen"},
    )
    bad["fields"]["nope"] = {"from": "/labels/x"}
    with world.runtime.session() as session, pytest.raises(DefinitionError) as refused:
        world.runtime.registry(session).import_documents([Document("am_bad.json", bad)], "test", publish=True)
    paths = {p.path for p in refused.value.problems}
    assert {
        "/fields/priority/values/critical",
        "/fields/nope",
        "/resolved/state",
        "/fires_again/within_minutes",
        "/fires_again/state",
    } <= paths
    for bad, message in (
        (integration("am_bad", unmatched="ignore"), 'must be one of "note", "refuse"; got "ignore"'),
        ({**CRM, "name": "crm_bad", "unmatched": "note"}, "is not allowed here"),
    ):
        with world.runtime.session() as session, pytest.raises(DefinitionError) as refused:
            world.runtime.registry(session).import_documents(
                [Document("bad.json", bad)], "test", publish=True
            )
        assert [(p.path, str(p.message)) for p in refused.value.problems] == [("/unmatched", message)]


# --- PostgreSQL: deliveries at the same moment -------------------------------------------------


@pytest.mark.postgres
def test_concurrent_deliveries_of_one_alert_make_one_incident_on_postgres(
    template_databases: dict[str, Any], tmp_path: Path
) -> None:
    with databases(template_databases, tmp_path) as make:
        app = create_app(settings_for(make("postgres"), tmp_path))
        try:
            world = build_world(app)
            body = payload(
                alert("race-1", "firing", "2026-12-03T15:00:00Z"),
                alert("race-2", "firing", "2026-12-03T15:00:00Z"),
            )
            answers: list[int] = []
            start = threading.Barrier(6)

            def deliver() -> None:
                client = app.test_client()
                start.wait()
                headers = {"Authorization": f"Bearer {world.tokens['alertmanager']}"}
                answers.append(
                    client.post(
                        "/api/v1/hooks/alertmanager/alertmanager", json=body, headers=headers
                    ).status_code
                )

            threads = [threading.Thread(target=deliver) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert answers == [200] * 6
            assert len(world.incidents_of("alertmanager", "race-1")) == 1
            assert len(world.incidents_of("alertmanager", "race-2")) == 1
            assert world.count() == 2
        finally:
            app.extensions["itpm"].dispose()


# --- the admin page ----------------------------------------------------------------------------


def test_the_admin_makes_a_token_on_the_page_sees_it_once_and_revokes_it(world: World) -> None:
    browser = world.app.test_client()
    login(browser, *ADMIN)
    browser.get("/lang/en")
    page = browser.get("/integrations/")
    assert page.status_code == 200 and "Make a token" in page.get_data(as_text=True)
    made = browser.post(
        "/integrations/make",
        data={
            "csrf_token": csrf_token(browser, "/integrations/"),
            "integration": "alertmanager",
            "person": "svc_alertmanager",
        },
    )
    html = made.get_data(as_text=True)
    assert made.status_code == 200 and "not shown again" in html
    raw = re.search(r'id="itpm-new-token"[^>]*value="(itpm_[^"]+)"', html).group(1)
    assert "/api/v1/hooks/alertmanager/alertmanager" in html
    listing = browser.get("/integrations/").get_data(as_text=True)
    assert raw not in listing and raw[:11] in listing
    body = payload(alert("page-1", "firing", "2026-12-03T16:00:00Z"))
    assert world.hook("alertmanager", body, token=raw).status_code == 200
    with world.runtime.session() as session:
        token_id = session.scalar(select(IntegrationToken.id).where(IntegrationToken.prefix == raw[:11]))
    browser.post(
        "/integrations/revoke", data={"csrf_token": csrf_token(browser, "/integrations/"), "id": token_id}
    )
    assert world.hook("alertmanager", body, token=raw).status_code == 401
    refused = browser.post(
        "/integrations/make",
        data={
            "csrf_token": csrf_token(browser, "/integrations/"),
            "integration": "alertmanager",
            "scope": "nothing:read",
        },
    )
    assert refused.status_code == 422 and "/scope/nothing" in refused.get_data(as_text=True)
    fresh = browser.post(
        "/integrations/make",
        data={
            "csrf_token": csrf_token(browser, "/integrations/"),
            "integration": "am_new",
            "department": "ops",
        },
    )
    assert fresh.status_code == 200 and "svc_am_new" in fresh.get_data(as_text=True)
    with world.runtime.session() as session:
        person = session.scalar(select(Person).where(Person.username == "svc_am_new"))
        assert person.department_id == world.department and [r.name for r in person.roles] == [
            "support_agent"
        ]
    browser.get("/lang/zh")
    assert "集成令牌" in browser.get("/integrations/").get_data(as_text=True)
    engineer = world.app.test_client()
    assert engineer.get("/integrations/").status_code in (302, 401, 403)
