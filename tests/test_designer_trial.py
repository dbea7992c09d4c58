"""Testing a draft process as a role: which transitions the role may take on a made-up record, who
approves each step, which automations would fire (itpm.designers.trial, pure)."""

from __future__ import annotations

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
