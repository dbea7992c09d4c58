"""Self-approval made explicit (issue 16, item 4): when the requester is a step's only approver, the
step follows the rule its workflow declares (skip with a note, the requester's manager, a named
role), shown in the history; without a rule the request is refused, never handed to the admins.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from test_workflows import Cast, act, cast, change_request, decide

from conftest import ADMIN, databases, login, settings_for
from itpm.config import ROOT
from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import Document, read_documents
from itpm.definitions.meta import MetaSchemas
from itpm.models import ApprovalRequest, Person, RecordEvent
from itpm.records.service import Invalid
from itpm.web.app import create_app
from itpm.workflows.engine import Workflows
from itpm.workflows.spec import WorkflowSpec

FLOW_FILE = "workflows/change_request_flow.json"
FLOW = json.loads((ROOT / FLOW_FILE).read_text("utf-8"))


@pytest.fixture(scope="module")
def world(template_databases: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("self_approval")
    with databases(template_databases, folder) as make:
        app = create_app(settings_for(make("sqlite"), folder))
        runtime = app.extensions["itpm"]
        runtime.app = app  # the history page's test reads it
        yield runtime, cast(app, runtime)
        runtime.dispose()


def flow_with(rule: Any) -> dict[str, Any]:
    """The starter change request flow with the project manager's step under another rule (None: none)."""
    body = copy.deepcopy(FLOW)
    step = next(t for t in body["transitions"] if t["name"] == "approve")["approval"]["steps"][0]
    step.pop("self_approval", None)
    if rule is not None:
        step["self_approval"] = rule
    return body


def ask(runtime: Any, people: Cast, record_id: int, rule: Any = "starter") -> Any:
    """The project manager asks for approval of a change on his own project, under `rule`."""
    session, records, workflows = act(runtime, people.actor(runtime, "pm"))
    if rule != "starter":
        catalog = copy.copy(records.catalog)
        catalog.__dict__["workflows"] = {
            **records.catalog.workflows,
            "change_request": WorkflowSpec(flow_with(rule)),
        }
        records.catalog = catalog
        workflows = Workflows(records)
    try:
        outcome = workflows.take("change_request", record_id, "approve", comment="Mine")
        session.commit()
        approval = outcome.approval
        return (
            approval.id,
            [(t.step_name, t.approver_id, t.via) for t in approval.tasks],
            [
                (e.action, e.note)
                for e in session.scalars(
                    select(RecordEvent)
                    .where(RecordEvent.record_type == "change_request", RecordEvent.record_id == record_id)
                    .order_by(RecordEvent.id)
                )
            ][-2:],
        )
    finally:
        session.close()


def requests_of(runtime: Any, record_id: int) -> int:
    with runtime.session() as session:
        return len(
            session.scalars(select(ApprovalRequest).where(ApprovalRequest.record_id == record_id)).all()
        )


def set_manager(runtime: Any, people: Cast, who: str, manager: str | None) -> None:
    with runtime.session() as session:
        session.get(Person, people.ids[who]).manager_id = people.ids[manager] if manager else None
        session.commit()


def test_without_a_manager_the_starter_rule_refuses_and_writes_nothing(world: Any) -> None:
    runtime, people = world
    record_id = change_request(runtime, people)
    with pytest.raises(Invalid, match="you have no active manager") as refused:
        ask(runtime, people, record_id)
    assert [p.path for p in refused.value.problems] == ["/approval/steps/0/self_approval"]
    assert requests_of(runtime, record_id) == 0


def test_the_starter_rule_passes_the_project_managers_own_step_to_his_manager(world: Any) -> None:
    runtime, people = world
    set_manager(runtime, people, "pm", "boss")
    try:
        record_id = change_request(runtime, people)
        approval_id, tasks, history = ask(runtime, people, record_id)
    finally:
        set_manager(runtime, people, "pm", None)
    assert tasks == [("project_manager", people.ids["boss"], "self_approval")]
    assert history == [
        ("approval requested", "approve: Mine"),
        ("approval step passed on", "Project manager"),
    ]
    decide(runtime, people, "boss", approval_id)
    with runtime.session() as session:
        approval = session.get(ApprovalRequest, approval_id)
        assert [(t.step_name, t.approver_id) for t in approval.tasks if t.step == 1] == [
            ("technical_lead", people.ids["lead"])
        ]


def test_a_skip_rule_skips_the_step_with_a_note(world: Any) -> None:
    runtime, people = world
    record_id = change_request(runtime, people)
    _approval, tasks, history = ask(runtime, people, record_id, "skip")
    assert tasks == [("technical_lead", people.ids["lead"], "field")]
    assert history[-1] == ("approval step skipped", "Project manager")


def test_a_role_rule_gives_the_step_to_that_roles_people(world: Any) -> None:
    runtime, people = world
    record_id = change_request(runtime, people)
    _approval, tasks, history = ask(runtime, people, record_id, {"role": "admin"})
    assert {(step, via) for step, _who, via in tasks} == {("project_manager", "self_approval")}
    approvers = {who for _step, who, _via in tasks}
    assert people.ids["root"] in approvers and people.ids["pm"] not in approvers  # every admin but him
    assert history[-1] == ("approval step passed on", "Project manager")


def test_no_rule_refuses_rather_than_going_to_the_admins(world: Any) -> None:
    runtime, people = world
    record_id = change_request(runtime, people)
    with pytest.raises(Invalid, match="does not say who decides it then") as refused:
        ask(runtime, people, record_id, None)
    assert [(p.path, str(p.message)) for p in refused.value.problems] == [
        ("/approval/steps/0/self_approval", "is not declared")
    ]
    assert requests_of(runtime, record_id) == 0


def test_the_history_page_says_the_step_was_passed_on(world: Any) -> None:
    runtime, people = world
    record_id = change_request(runtime, people)
    ask(runtime, people, record_id, {"role": "admin"})
    client = runtime.app.test_client()
    login(client, *ADMIN)
    client.get("/lang/en")
    page = client.get(f"/records/change_request/show/{record_id}").get_data(as_text=True)
    assert "passed on a step they would approve themselves" in page
    client.get("/lang/zh")
    page = client.get(f"/records/change_request/show/{record_id}").get_data(as_text=True)
    assert "将本应由自己审批的步骤转交他人" in page and "项目经理" in page


META = MetaSchemas()
PACK, _unreadable = read_documents([ROOT / "schemas"])
ROLES, _ = read_documents([ROOT / "schemas" / "roles"])


@pytest.mark.parametrize(
    ("rule", "allow_self", "path", "words"),
    [
        (
            {"role": "nobody"},
            False,
            "/transitions/2/approval/steps/0/self_approval/role",
            "names no role: 'nobody'",
        ),
        ("ask_boss", False, "/transitions/2/approval/steps/0/self_approval", "ask_boss"),
        ({"role": "admin", "then": "x"}, False, "/transitions/2/approval/steps/0/self_approval", ""),
        ("skip", True, "/transitions/2/approval/steps/0/self_approval", "is never used: allow_self"),
    ],
)
def test_a_bad_self_approval_rule_is_refused_by_path(
    rule: Any, allow_self: bool, path: str, words: str
) -> None:
    body = flow_with(rule)
    if allow_self:
        body["transitions"][2]["approval"]["steps"][0]["allow_self"] = True
    flow = Document(FLOW_FILE, body)
    found = [
        (p.file, p.path, str(p.message))
        for p in check_configuration([*PACK, *ROLES, flow], META, only=[flow])
    ]
    assert found and all(f == FLOW_FILE and p.startswith(path) for f, p, _m in found), found
    assert any(words in m for _f, _p, m in found), found
