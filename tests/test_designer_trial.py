"""Testing a draft process as a role: which transitions the role may take on a made-up record, who
approves each step, which automations would fire (itpm.designers.trial, pure); and on an existing record picked by
its number, read as the role (the designers' trial endpoint)."""

from __future__ import annotations

import json
from typing import Any

from conftest import csrf_token
from itpm.config import ROOT
from itpm.designers import designer_model
from itpm.designers.trial import trial

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


def test_a_step_whose_condition_fails_does_not_apply_and_a_finance_user_fires_nothing() -> None:
    small = trial("engineer", "draft", {"value": 5}, FLOW, [TOLD], PEOPLE)
    assert [s["applies"] for s in small["transitions"][0]["steps"]] == [True, False]
    assert trial("finance", "draft", {}, FLOW, [TOLD], PEOPLE)["automations"] == []


def test_an_existing_record_is_read_as_the_role_never_showing_more_than_it_may_see(admin_client: Any) -> None:
    """The admin picks an incident by its number; the trial answers as a client (its own rows, the
    support group hidden), as finance (no incidents: nothing of it), as a support agent (its department)."""
    token = csrf_token(admin_client, "/designers/")
    made = admin_client.post(
        "/api/v1/records/incident/",
        json={
            "data": {
                "title": "Mail is down",
                "priority": "P2",
                "category": "network",
                "support_group": "network",
            }
        },
        headers={"X-CSRFToken": token},
    ).get_json()
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
