"""Testing a draft process as a role: the form as the role sees it, which transitions the role may
take on a made-up record, who approves each step, which automations would fire on each outcome
(itpm.designers.trial, pure); and on an existing record picked by its number, read as the role, its
approvers named by the engine's rules (the designers' trial endpoint)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from conftest import csrf_token
from itpm.config import ROOT
from itpm.designers import designer_model
from itpm.designers.trial import trial, trial_form
from itpm.models import Person
from itpm.web.record_display import person_name

FLOW = {
    "record_type": "vendor",
    "initial": "draft",
    "transitions": [
        {
            "name": "submit",
            "title": {"en": "Submit", "zh": "提交"},
            "from": ["draft"],
            "to": "approved",
            "roles": ["engineer"],
            "requires": ["category"],
            "approval": {
                "steps": [
                    {"name": "managers", "title": {"en": "Managers"}, "approvers": {"users": ["pm", "pm2"]}},
                    {
                        "name": "finance",
                        "title": {"en": "Finance"},
                        "approvers": {"role": "finance"},
                        "when": {"properties": {"value": {"minimum": 100}}, "required": ["value"]},
                    },
                ]
            },
        },
        {
            "name": "cancel",
            "title": {"en": "Cancel"},
            "from": ["draft"],
            "to": "cancelled",
            "roles": ["admin"],
        },
    ],
}
TOLD = {
    "kind": "automation",
    "name": "told",
    "record_type": "vendor",
    "trigger": {"on": "approval_decided", "decision": "approved"},
    "actions": [],
}
PEOPLE = {"finance": ["cfo"], "engineer": ["dev"]}


def test_an_engineer_may_submit_and_the_chain_and_automation_are_named() -> None:
    answer = trial("engineer", "draft", {"value": 500}, FLOW, [TOLD], PEOPLE)
    submit, cancel = answer["transitions"]
    assert submit["may_take"] and submit["fill"] == ["category"]
    assert [s["approvers"] for s in submit["steps"]] == ["pm, pm2", "people with the role finance: cfo"]
    assert all(s["applies"] for s in submit["steps"])
    assert not cancel["may_take"] and cancel["why"] == ["the role may not take it"]
    assert [a["name"] for a in answer["automations"]] == ["told"]
    assert submit["automations"] == [
        {"name": "told", "title": None, "on": "approval_decided", "outcome": "approved"}
    ]


def test_a_step_whose_condition_fails_does_not_apply_and_a_finance_user_fires_nothing() -> None:
    small = trial("engineer", "draft", {"value": 5}, FLOW, [TOLD], PEOPLE)
    assert [s["applies"] for s in small["transitions"][0]["steps"]] == [True, False]
    assert trial("finance", "draft", {}, FLOW, [TOLD], PEOPLE)["automations"] == []


def network_incident(admin_client: Any, token: str, title: str, priority: str) -> dict[str, Any]:
    """An incident filed by the admin for the network support group, as the API answers it."""
    data = {"title": title, "priority": priority, "category": "network", "support_group": "network"}
    return admin_client.post(
        "/api/v1/records/incident/", json={"data": data}, headers={"X-CSRFToken": token}
    ).get_json()


def test_an_existing_record_is_read_as_the_role_never_showing_more_than_it_may_see(admin_client: Any) -> None:
    """The admin picks an incident by its number; the trial answers as a client (its own rows, the
    support group hidden), as finance (no incidents: nothing of it), as a support agent (its department)."""
    token = csrf_token(admin_client, "/designers/")
    made = network_incident(admin_client, token, "Mail is down", "P2")
    body = json.loads((ROOT / "workflows" / "incident_flow.json").read_text())

    def as_role(role: str, number: str) -> dict[str, Any]:
        return admin_client.post(
            "/designers/workflow/trial",
            json={"model": designer_model(body), "role": role, "number": number},
            headers={"X-CSRFToken": token},
        ).get_json()

    client = as_role("client", made["number"])
    assert client["record"]["reads"] == ["own"]
    assert "support_group" in client["record"]["hidden"] and "support_group" not in client["record"]["values"]
    assert client["record"]["values"]["title"] == "Mail is down"
    assert client["record"]["state"] == made["state"]
    assert {t["name"]: t["may_take"] for t in client["transitions"]}["cancel"] is True
    finance = as_role("finance", made["number"])
    assert finance["record"]["reads"] == [] and finance["record"]["values"] == {}
    assert as_role("support_agent", made["number"])["record"]["reads"] == ["department"]
    assert as_role("admin", made["number"])["record"]["reads"] == "all"
    missing = as_role("client", "INC-0000-0000")
    assert missing["problems"][0]["path"] == "/number"
    form = {f["field"]: f for s in client["form"]["sections"] for f in s["fields"]}
    assert "support_group" not in form and "support_group" in client["form"]["hidden"]
    assert form["title"]["value"] == "Mail is down" and form["title"]["required"]
    assert form["root_cause"]["read_only"]  # shown for a P2, read only for a client
    assert client["edits"] == ["own"]
    assert finance["form"]["sections"] == [] or all(
        f["value"] is None for s in finance["form"]["sections"] for f in s["fields"]
    )  # nothing of a record it may not read


def test_on_an_existing_record_the_approvers_are_the_people_the_engine_would_ask(
    app: Any, admin_client: Any
) -> None:
    """A draft chain on taking an incident: named users, the record's assignee and a role's people
    whose approve rows hold the record are named as people; the manager of whoever asks is not known yet."""
    token = csrf_token(admin_client, "/designers/")
    made = network_incident(admin_client, token, "VPN drops", "P3")
    body = json.loads((ROOT / "workflows" / "incident_flow.json").read_text())
    take = next(t for t in body["transitions"] if t["name"] == "take")
    take["approval"] = {
        "steps": [
            {"name": "lead", "title": {"en": "Lead"}, "approvers": {"users": ["admin"]}},
            {"name": "boss", "title": {"en": "Boss"}, "approvers": {"requester_manager": True}},
            {"name": "nobody", "title": {"en": "Nobody"}, "approvers": {"role": "finance"}},
        ]
    }
    answer = admin_client.post(
        "/designers/workflow/trial",
        json={"model": designer_model(body), "role": "support_agent", "number": made["number"]},
        headers={"X-CSRFToken": token},
    ).get_json()
    with app.extensions["itpm"].session() as session:
        admin = session.scalar(select(Person).where(Person.username == "admin"))
        name = person_name(admin)
    steps = next(t for t in answer["transitions"] if t["name"] == "take")["steps"]
    assert [s["people"] for s in steps] == [[name], None, []]
    made_up = admin_client.post(
        "/designers/workflow/trial",
        json={"model": designer_model(body), "role": "support_agent", "values": {"priority": "P1"}},
        headers={"X-CSRFToken": token},
    ).get_json()
    assert [s["people"] for s in made_up["transitions"][0]["steps"]] == [None, None, None]
    fields = [f["field"] for s in made_up["form"]["sections"] for f in s["fields"]]
    assert "root_cause" in fields, fields
    assert made_up["edits"] == ["department"]  # a support agent files incidents of its department


def _automation(name: str, trigger: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "kind": "automation",
        "name": name,
        "record_type": "vendor",
        "trigger": trigger,
        "actions": [],
        **more,
    }


def test_each_outcome_fires_the_automations_the_engine_would_start() -> None:
    """Creating, approving and refusing each fire what their events start, by the engine's triggers:
    a state entered, a value the transition sets, a refusal; a condition read on the values after."""
    flow = json.loads(json.dumps(FLOW))
    flow["transitions"][0]["sets"] = {"status": "vetted"}
    flow["transitions"][0]["approval"]["rejected_to"] = "returned"
    automations = [
        _automation("on_new", {"on": "created"}),
        _automation("entered", {"on": "state_entered", "state": "approved"}),
        _automation("vetted", {"on": "field_changed", "field": "status", "to": "vetted"}),
        _automation("refused", {"on": "approval_decided", "decision": "rejected"}),
        _automation("sent_back", {"on": "state_entered", "state": "returned"}),
        _automation(
            "big_only",
            {"on": "state_entered", "state": "approved"},
            condition={"properties": {"value": {"minimum": 1000}}},
        ),
        _automation("off", {"on": "created"}, enabled=False),
        {**_automation("other_type", {"on": "created"}), "record_type": "incident"},
    ]
    answer = trial("engineer", "draft", {"value": 500}, flow, automations, PEOPLE)
    submit = answer["transitions"][0]
    assert [(a["name"], a["outcome"]) for a in submit["automations"]] == [
        ("entered", "approved"),
        ("vetted", "approved"),
        ("refused", "rejected"),
        ("sent_back", "rejected"),
    ]
    assert [a["name"] for a in answer["created"]] == ["on_new"]
    assert [a["name"] for a in trial("engineer", "draft", {"value": 5000}, flow, automations, PEOPLE)["automations"]] == [
        "on_new", "entered", "vetted", "big_only", "refused", "sent_back"
    ]  # fmt: skip
    existing = trial("engineer", "draft", {"value": 500}, flow, automations, PEOPLE, made_up=False)
    assert existing["created"] == []  # an existing record was created before
    cancel = trial(
        "admin",
        "draft",
        {},
        flow,
        [_automation("gone", {"on": "state_entered", "state": "cancelled"})],
        PEOPLE,
    )
    assert [(a["name"], a["outcome"]) for a in cancel["transitions"][1]["automations"]] == [("gone", "taken")]


def test_the_approvers_are_named_when_the_caller_can_name_them() -> None:
    named = {"finance": ["Qian Cai"]}
    answer = trial(
        "engineer", "draft", {"value": 500}, FLOW, [], PEOPLE, named=lambda rule: named.get(rule.get("role"))
    )
    assert [s["people"] for s in answer["transitions"][0]["steps"]] == [None, ["Qian Cai"]]


VENDOR = {
    "kind": "record_type",
    "name": "vendor",
    "title": {"en": "Vendor", "zh": "供应商"},
    "schema": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "maxLength": 100, "title": "Name", "x-title-zh": "名称"},
            "nda": {"type": "boolean", "title": "NDA needed"},
            "contract": {"type": "string", "maxLength": 100, "title": "Contract"},
            "rating": {"type": "integer", "title": "Rating"},
            "bank": {"type": "string", "maxLength": 40, "title": "Bank account"},
        },
    },
}
VENDOR_FORM = {
    "kind": "form",
    "name": "vendor_form",
    "record_type": "vendor",
    "sections": [
        {"title": {"en": "Vendor", "zh": "供应商"}, "fields": ["name", "nda", "bank"]},
        {
            "title": {"en": "Contract", "zh": "合同"},
            "columns": 2,
            "fields": [
                {"field": "contract", "when": {"properties": {"nda": {"const": True}}, "required": ["nda"]}},
                {
                    "field": "rating",
                    "required_when": {"properties": {"nda": {"const": True}}, "required": ["nda"]},
                },
            ],
        },
    ],
}


def test_the_form_is_shown_as_the_role_sees_it() -> None:
    """Its hidden fields are left out, read-only ones marked, a field shown only when its condition
    holds, required when its rule holds; the values shown are only those the role may see."""
    values = {"name": "Acme", "bank": "DE01", "nda": False}
    form = trial_form(
        VENDOR,
        VENDOR_FORM,
        frozenset({"bank"}),
        frozenset({"rating"}),
        values,
        {"name": "Acme", "nda": False},
    )
    assert [[f["field"] for f in s["fields"]] for s in form["sections"]] == [["name", "nda"], ["rating"]]
    assert form["hidden"] == ["bank"] and form["conditional"] == ["contract"]
    fields = {f["field"]: f for s in form["sections"] for f in s["fields"]}
    assert (
        fields["name"]["required"]
        and fields["name"]["value"] == "Acme"
        and fields["name"]["title"]["zh"] == "名称"
    )
    assert fields["rating"]["read_only"] and not fields["rating"]["required"]
    assert form["sections"][1]["columns"] == 2
    nda = trial_form(VENDOR, VENDOR_FORM, frozenset(), frozenset(), {"nda": True}, {"nda": True})
    shown = {f["field"]: f for s in nda["sections"] for f in s["fields"]}
    assert "contract" in shown and shown["rating"]["required"] and nda["conditional"] == []
    stale = json.loads(json.dumps(VENDOR_FORM))  # the drafted type has lost fields the form still places
    stale["sections"][0]["fields"] += ["gone", {"field": "left", "widget": "textarea"}, "assignee"]
    placed = [
        f["field"]
        for s in trial_form(VENDOR, stale, frozenset(), frozenset(), {}, {})["sections"]
        for f in s["fields"]
    ]
    assert placed == ["name", "nda", "bank", "assignee", "rating"]
    plain = trial_form(VENDOR, None, frozenset(), frozenset(), {}, {})  # no form yet: the engine's default
    assert [f["field"] for f in plain["sections"][0]["fields"]][:2] == ["name", "nda"]
