"""The workflow designer's check before publishing (itpm.designers.lint, pure): unreachable states,
dead ends that are not final, transitions nobody can take, approval steps nobody could decide,
each warning naming its state, transition or step, in English and Chinese."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from itpm.config import ROOT
from itpm.designers.lint import workflow_lint

FIELDS = {
    "title": {"type": "string"},
    "impact": {"type": "string", "enum": ["low", "high"]},
    "cost": {"type": "number", "minimum": 0, "maximum": 1000},
    "lead": {"type": "integer", "x-ref": "user"},
    "supplier": {"type": "integer", "x-ref": "vendor"},
}
RECORD_TYPES = {"purchase": FIELDS, "vendor": {"manager": {"type": "integer", "x-ref": "user"}}}
ROLES: dict[str, Any] = {
    "admin": {"name": "admin", "records": {"*": {"read": "all", "write": "all"}}},
    "engineer": {"name": "engineer", "records": {"purchase": {"read": "own", "write": "own"}}},
    "finance": {"name": "finance", "records": {"*": {"read": "all", "write": "all", "approve": "all"}}},
    "auditor": {"name": "auditor", "records": {"purchase": {"read": "all"}}},
    "buyer": {"name": "buyer", "records": {"purchase": {"read": "all", "write": "all", "approve": "all"}}},
}
HOLDERS = {"admin": ["admin"], "engineer": ["dev"], "finance": ["cfo"]}  # nobody is a buyer
CLEAN: dict[str, Any] = {
    "kind": "workflow",
    "name": "purchase_flow",
    "record_type": "purchase",
    "initial": "draft",
    "states": [
        {"name": "draft", "title": {"en": "Draft", "zh": "草稿"}, "category": "open"},
        {"name": "approved", "title": {"en": "Approved", "zh": "已批准"}, "category": "done"},
    ],
    "transitions": [
        {
            "name": "submit",
            "title": {"en": "Submit", "zh": "提交"},
            "from": ["draft"],
            "to": "approved",
            "roles": ["engineer"],
            "approval": {
                "steps": [
                    {"name": "lead", "title": {"en": "Lead"}, "approvers": {"field": "lead"}},
                    {"name": "vendor", "title": {"en": "Vendor"}, "approvers": {"field": "supplier.manager"}},
                    {"name": "money", "title": {"en": "Finance"}, "approvers": {"role": "finance"}},
                    {"name": "named", "title": {"en": "Named"}, "approvers": {"users": ["cfo", "gone"]}},
                ]
            },
        }
    ],
}


def lint(workflow: dict[str, Any], holders: dict[str, list[str]] | None = HOLDERS) -> dict[str, str]:
    """Each warning by its JSON path, in English."""
    return {p.path: str(p.message) for p in workflow_lint(workflow, ROLES, RECORD_TYPES, holders)}


def changed(**changes: Any) -> dict[str, Any]:
    workflow = copy.deepcopy(CLEAN)
    for path, value in changes.items():
        *parents, last = path.split("__")
        here: Any = workflow
        for key in parents:
            here = here[int(key)] if key.isdigit() else here[key]
        here[int(last) if last.isdigit() else last] = value
    return workflow


@pytest.fixture(autouse=True)
def babel_app() -> Any:
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(ROOT / "platform" / "itpm" / "translations")
    Babel(app)
    with app.app_context():
        yield app


def test_a_sound_workflow_has_no_warnings() -> None:
    assert lint(CLEAN) == {}


def test_unreachable_and_dead_end_states_are_named() -> None:
    workflow = copy.deepcopy(CLEAN)
    workflow["states"].append({"name": "limbo", "title": {"en": "Limbo"}, "category": "waiting"})
    warnings = workflow_lint(workflow, ROLES, RECORD_TYPES, HOLDERS)
    assert [p.path for p in warnings] == ["/states/2", "/states/2"]
    assert "state 'limbo' is unreachable" in str(warnings[0].message)
    assert "state 'limbo' is a dead end" in str(warnings[1].message)


def test_a_transition_no_role_of_which_may_edit_or_that_nobody_holds_cannot_be_taken() -> None:
    assert lint(changed(transitions__0__roles=["auditor"])) == {
        "/transitions/0/roles": "nobody can take transition 'submit': none of its roles may edit the record"
    }
    assert lint(changed(transitions__0__roles=["buyer"])) == {
        "/transitions/0/roles": "nobody can take transition 'submit': no active user holds buyer"
    }
    assert lint(changed(transitions__0__roles=["buyer"]), holders=None) == {}  # holders unknown: not judged


@pytest.mark.parametrize(
    "when",
    [
        {"properties": {"impact": {"const": "urgent"}}, "required": ["impact"]},  # not one of its choices
        {"properties": {"cost": {"minimum": 5000}}, "required": ["cost"]},  # above its maximum
        {"properties": {"cost": {"const": "a lot"}}, "required": ["cost"]},  # a text for a number
        {"allOf": [{"required": ["title"]}, {"properties": {"impact": {"enum": ["none"]}}}]},
    ],
)
def test_a_transition_whose_condition_can_never_hold_cannot_be_taken(when: dict[str, Any]) -> None:
    assert lint(changed(transitions__0__when=when)) == {
        "/transitions/0/when": "nobody can take transition 'submit': its condition can never hold"
    }


def test_a_condition_that_may_hold_or_an_expression_is_not_judged() -> None:
    may = {"properties": {"impact": {"enum": ["high", "urgent"]}}, "required": ["impact"]}
    assert lint(changed(transitions__0__when=may)) == {}
    assert lint(changed(transitions__0__when={"expression": "cost > 5000"})) == {}


@pytest.mark.parametrize(
    "approvers, why",
    [
        ({"role": "auditor"}, "the role 'auditor' may not approve 'purchase' records"),
        ({"role": "buyer"}, "no active user holds the role 'buyer'"),
        ({"role": "nobody"}, "there is no role 'nobody'"),
        ({"field": "reviewer"}, "the field 'reviewer' does not exist"),
        ({"field": "title"}, "the field 'title' is not a person field"),
        ({"field": "supplier.boss"}, "the field 'boss' does not exist"),
        ({"field": "title.manager"}, "the field 'title' does not refer to a record"),
        ({"users": ["gone", "left"]}, "no active user is named gone, left"),
    ],
)
def test_a_step_with_no_possible_approver_is_named_with_why(approvers: dict[str, Any], why: str) -> None:
    workflow = changed(transitions__0__approval__steps__2__approvers=approvers)
    assert lint(workflow) == {
        "/transitions/0/approval/steps/2/approvers": f"transition 'submit', step 'money' has no possible approver: {why}"
    }


def test_a_step_for_the_requesters_manager_is_flagged_when_nobody_who_may_ask_has_one() -> None:
    workflow = changed(transitions__0__approval__steps__2__approvers={"requester_manager": True})

    def warned(managed: set[str] | None) -> dict[str, str]:
        return {
            p.path: str(p.message) for p in workflow_lint(workflow, ROLES, RECORD_TYPES, HOLDERS, managed)
        }

    assert warned({"cfo"}) == {
        "/transitions/0/approval/steps/2/approvers": "transition 'submit', step 'money' has no possible "
        "approver: none of the people who may ask (dev) has an active manager"
    }
    assert warned({"dev"}) == {}
    assert warned(None) == {}  # who has a manager not known: not judged
    with force_locale("zh"):
        assert list(warned({"cfo"}).values()) == [
            "转换 'submit' 的步骤 'money' 没有可能的审批人:可发起申请的人(dev)都没有在职的上级"
        ]


def test_the_warnings_are_said_in_chinese() -> None:
    workflow = changed(
        transitions__0__roles=["buyer"], transitions__0__approval__steps__0__approvers={"field": "title"}
    )
    workflow["states"].append({"name": "limbo", "title": {"en": "Limbo"}, "category": "waiting"})
    with force_locale("zh"):
        messages = [str(p.message) for p in workflow_lint(workflow, ROLES, RECORD_TYPES, HOLDERS)]
    assert messages == [
        "状态 'limbo' 不可达:从初始状态没有路径能到达它",
        "状态 'limbo' 是死胡同:没有任何流出的转换,但它不是终态",
        "无人能执行转换 'submit':没有在职用户拥有角色 buyer",
        "转换 'submit' 的步骤 'lead' 没有可能的审批人:字段 'title' 不是人员字段",
    ]


def test_every_pack_workflow_is_clean_but_for_roles_nobody_holds_yet() -> None:
    """The starter pack's workflows lint clean against the pack's own roles and record types."""
    from itpm.definitions.documents import read_documents
    from itpm.designers.lint import lint_inputs

    documents, problems = read_documents([ROOT / f for f in ("schemas", "forms", "workflows", "reports")])
    assert problems == []
    roles, fields = lint_inputs(documents)
    warnings = {
        d.name: [f"{p.path} {p.message}" for p in workflow_lint(d.body, roles, fields)]
        for d in documents
        if d.kind == "workflow"
    }
    assert {name: found for name, found in warnings.items() if found} == {}
