"""Generated workflows, driven by generated clicks: the record never leaves the graph, and
every transition completes exactly once per approved chain (or direct take)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from itpm.access import Actor
from itpm.models import Person, RecordEvent
from itpm.records.service import RecordError, Records
from itpm.workflows.engine import Workflows

PEOPLE = ["w0", "w1", "w2", "w3"]


@st.composite
def workflows(draw: Any) -> dict[str, Any]:
    count = draw(st.integers(2, 5))
    states = [f"s{i}" for i in range(count)]
    categories = ["open"] + ["in_progress"] * (count - 1)
    transitions = []
    for i in range(draw(st.integers(1, 7))):
        sources = draw(st.lists(st.sampled_from(states), min_size=1, max_size=3, unique=True))
        transition: dict[str, Any] = {
            "name": f"t{i}",
            "title": {"en": f"t{i}", "zh": f"t{i}"},
            "from": sources,
            "to": draw(st.sampled_from(states)),
            "roles": ["engineer"],
        }
        if draw(st.booleans()):
            steps = []
            for s in range(draw(st.integers(1, 3))):
                approvers = draw(st.lists(st.sampled_from(PEOPLE[1:]), min_size=1, max_size=3, unique=True))
                decide = draw(st.sampled_from(["any", "all", {"quorum": 2}]))
                steps.append(
                    {
                        "name": f"step{s}",
                        "title": {"en": "S", "zh": "S"},
                        "approvers": {"users": approvers},
                        "decide": decide,
                    }
                )
            transition["approval"] = {"steps": steps}
            if draw(st.booleans()):
                transition["approval"]["rejected_to"] = draw(st.sampled_from(states))
        transitions.append(transition)
    # every state reachable: a chain s0 -> s1 -> ... guarantees it
    for i in range(count - 1):
        transitions.append(
            {
                "name": f"next{i}",
                "title": {"en": "n", "zh": "n"},
                "from": [states[i]],
                "to": states[i + 1],
                "roles": ["engineer"],
            }
        )
    return {
        "kind": "workflow",
        "name": "task_flow",
        "title": {"en": "Generated", "zh": "生成"},
        "record_type": "task",
        "initial": "s0",
        "states": [
            {"name": s, "title": {"en": s, "zh": s}, "category": c}
            for s, c in zip(states, categories, strict=True)
        ],
        "transitions": transitions,
    }


def people(app: Any) -> dict[str, int]:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        found = {}
        for name in PEOPLE:
            person = sm.find_user(username=name) or sm.add_user(
                name,
                name,
                "T",
                f"{name}@itpm.invalid",
                [sm.find_role("engineer"), sm.find_role("admin")],
                "password-123",
            )
            found[name] = person.id
        return found


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    definition=workflows(),
    clicks=st.lists(
        st.tuples(st.sampled_from(PEOPLE), st.integers(0, 20), st.booleans()), min_size=5, max_size=25
    ),
)
def test_records_stay_in_the_graph_and_transitions_complete_once(
    sqlite_app: Any, definition: dict[str, Any], clicks: list[Any]
) -> None:
    runtime = sqlite_app.extensions["itpm"]
    ids = people(sqlite_app)
    with runtime.session() as session:
        registry = runtime.registry(session)
        registry.save_draft(definition, "admin")
        registry.publish([("workflow", "task_flow")], "admin")
    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        project = system.create(
            "project",
            {
                "name": "P",
                "project_type": "outsourcing",
                "phase": "initiation",
                "start_date": "2026-01-01",
                "due_date": "2026-02-01",
            },
        )
        task = system.create("task", {"title": "T", "project": project.id})
        session.commit()
        task_id = task.id
    states = {s["name"] for s in definition["states"]}
    transitions = {t["name"]: t for t in definition["transitions"]}
    completed: Counter[str] = Counter()
    for who, pick, approve in clicks:
        with runtime.session() as session:
            actor = Actor.of(session.get(Person, ids[who]))
            records = Records(session, runtime.catalog(), actor)
            engine = Workflows(records)
            before = records.get("task", task_id).state
            try:
                pending = [t for t in engine.inbox() if t.approval.record_id == task_id]
                if pending and who != "w0":
                    task_ = pending[pick % len(pending)]
                    was = task_.approval.state
                    approval = engine.decide(task_.approval_id, approve, "" if approve else "no")
                    if was == "pending" and approval.state == "approved":
                        completed[approval.transition] += 1
                else:
                    name = sorted(transitions)[pick % len(transitions)]
                    outcome = engine.take("task", task_id, name)
                    if outcome.completed:
                        completed[name] += 1
                session.commit()
            except RecordError:
                session.rollback()
                assert records.get("task", task_id).state == before  # a refusal changes nothing
            state = records.get("task", task_id).state
            assert state in states
    with runtime.session() as session:
        events = session.scalars(
            select(RecordEvent.action).where(
                RecordEvent.record_type == "task", RecordEvent.record_id == task_id
            )
        )
        moved = Counter(
            action.removeprefix("transition ") for action in events if action.startswith("transition ")
        )
    assert moved == completed
