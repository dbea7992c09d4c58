"""`sla` definitions: the starter policy validates; bad ones are refused with the file and JSON path named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from itpm.cli import main
from itpm.config import ROOT
from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import Document, canonical_json, read_documents
from itpm.definitions.meta import MetaSchemas

META = MetaSchemas()
STARTER_FILE = ROOT / "workflows" / "sla" / "incident_sla.json"
STARTER = json.loads(STARTER_FILE.read_text("utf-8"))
FILE = "workflows/sla/incident_sla.json"
PACK, _unreadable = read_documents([ROOT / "schemas"])


def waiting_workflow(*states: str) -> Document:
    def state(name: str) -> dict[str, Any]:
        return {"name": name, "title": {"en": name, "zh": name}, "category": "open"}

    body = {
        "kind": "workflow",
        "name": "incident_flow",
        "title": {"en": "Incident flow", "zh": "事件流程"},
        "record_type": "incident",
        "initial": states[0],
        "states": [state(s) for s in states],
        "transitions": [
            {
                "name": "move",
                "title": {"en": "Move", "zh": "流转"},
                "from": [states[0]],
                "to": states[-1],
                "roles": ["support_agent"],
            }
        ],
    }
    return Document("workflows/incident_flow.json", body)


def problems(body: dict[str, Any], *others: Document) -> list[tuple[str, str, str]]:
    sla = Document(FILE, body)
    found = check_configuration([*PACK, *others, sla], META, only=[sla])
    return [(p.file, p.path, str(p.message)) for p in found]


def changed(*path: Any, value: Any = None, delete: bool = False) -> dict[str, Any]:
    """The starter policy with one value set (or deleted) at `path`."""
    body = copy.deepcopy(STARTER)
    target = body
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


# --- the starter policy ------------------------------------------------------------------------------


def test_the_starter_policy_is_valid_with_the_starter_pack() -> None:
    assert problems(STARTER) == []


def test_the_starter_policy_is_canonical_json_at_its_export_path() -> None:
    assert STARTER_FILE.read_text("utf-8") == canonical_json(STARTER)
    assert META.export_path("sla", STARTER["name"]) == "workflows/sla/incident_sla.json"
    assert (ROOT / META.export_path("sla", STARTER["name"])) == STARTER_FILE


def test_pausing_states_are_checked_against_the_workflow_once_there_is_one() -> None:
    body = {k: v for k, v in STARTER.items() if k != "response_states"}
    assert problems(body, waiting_workflow("open", "waiting", "resolved")) == []
    responded = {**body, "response_states": ["answered", "resolved"]}
    assert [(p[1], p[2]) for p in problems(responded, waiting_workflow("open", "waiting", "resolved"))] == [
        ("/response_states/0", "names no state of the workflow 'incident_flow': 'answered'")
    ]
    assert problems(body, waiting_workflow("open", "resolved")) == [
        (FILE, "/pausing_states/0", "names no state of the workflow 'incident_flow': 'waiting'")
    ]


def test_a_policy_with_client_targets_a_24_hour_day_and_extra_days_is_valid() -> None:
    body = changed("clients", value={"CUS-0001": {"P1": {"resolution_minutes": 120}}})
    body["calendar"]["working_hours"]["saturday"] = ["00:00-24:00"]
    body["calendar"]["extra_holidays"] = ["2027-01-01"]
    body["calendar"]["extra_working_days"] = ["2027-02-06"]
    assert problems(body) == []


# --- bad policies, each named by file and JSON path ---------------------------------------------------

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # id, the body, the JSON path, words of the message
    ("no targets", changed("targets", delete=True), "/targets", "is required"),
    ("no calendar", changed("calendar", delete=True), "/calendar", "is required"),
    ("unknown record type", changed("record_type", value="outage"), "/record_type", "names no record type: 'outage'"),
    ("priority not in the enum", changed("targets", "P9", value={"resolution_minutes": 60}), "/targets/P9",
     "is not a choice of 'priority': P1, P2, P3, P4"),
    ("client priority not in the enum",
     changed("clients", value={"CUS-0001": {"P0": {"resolution_minutes": 60}}}), "/clients/CUS-0001/P0",
     "is not a choice of 'priority'"),
    ("priority field that does not exist", changed("priority_field", value="urgency"), "/priority_field",
     "'incident' has no field 'urgency'"),
    ("priority field without choices", changed("priority_field", value="title"), "/priority_field",
     "'title' has no list of choices (enum)"),
    ("a target of no minutes", changed("targets", "P1", "resolution_minutes", value=0),
     "/targets/P1/resolution_minutes", "must be at least 1"),
    ("a target in hours", changed("targets", "P1", "resolution_hours", value=4), "/targets/P1/resolution_hours",
     "is not a known property"),
    ("a target that is not a number", changed("targets", "P1", "resolution_minutes", value="4h"),
     "/targets/P1/resolution_minutes", "must be of type integer"),
    ("no target at all for a priority", changed("targets", "P1", value={}), "/targets/P1", "must have at least 1 entries"),
    ("around the clock with no target", changed("targets", "P1", value={"around_the_clock": True}), "/targets/P1",
     "sets no target: give first_response_minutes or resolution_minutes"),
    ("around the clock written as a word", changed("targets", "P1", "around_the_clock", value="24x7"),
     "/targets/P1/around_the_clock", "must be true"),
    ("response slower than resolution", changed("targets", "P1", "first_response_minutes", value=300),
     "/targets/P1/first_response_minutes", "is longer than the resolution target (240 minutes)"),
    ("overlapping hours", changed("calendar", "working_hours", "monday", value=["09:00-12:00", "11:00-18:00"]),
     "/calendar/working_hours/monday/1", "11:00-18:00 overlaps 09:00-12:00"),
    ("hours that end before they start", changed("calendar", "working_hours", "monday", value=["18:00-09:00"]),
     "/calendar/working_hours/monday/0", "18:00-09:00 does not end after it starts"),
    ("hours not written HH:MM-HH:MM", changed("calendar", "working_hours", "monday", value=["9-12"]),
     "/calendar/working_hours/monday/0", "an interval HH:MM-HH:MM"),
    ("a day with no hours", changed("calendar", "working_hours", "monday", value=[]),
     "/calendar/working_hours/monday", "must have at least 1 items"),
    ("no working day", changed("calendar", "working_hours", value={}), "/calendar/working_hours",
     "must have at least 1 entries"),
    ("a weekday that does not exist", changed("calendar", "working_hours", "funday", value=["09:00-18:00"]),
     "/calendar/working_hours/funday", "is not a known property"),
    ("an unknown time zone", changed("calendar", "time_zone", value="Mars/Olympus"), "/calendar/time_zone",
     "'Mars/Olympus' is not a time zone"),
    ("a time zone that is a path", changed("calendar", "time_zone", value="../../etc/passwd"), "/calendar/time_zone",
     "is not a time zone"),
    ("holidays of an unknown country", changed("calendar", "public_holidays", value="atlantis"),
     "/calendar/public_holidays", 'must be one of "china"'),
    ("an impossible date", changed("calendar", "extra_holidays", value=["2025-02-30"]),
     "/calendar/extra_holidays/0", "must be a date (YYYY-MM-DD)"),
    ("a day both off and on",
     changed("calendar", value={**STARTER["calendar"], "extra_holidays": ["2027-01-01"],
                                "extra_working_days": ["2027-01-01"]}),
     "/calendar/extra_working_days/0", "2027-01-01 is also one of extra_holidays"),
    ("a warning at 150 %", changed("warning_share", value=1.5), "/warning_share", "must be less than 1"),
    ("a warning at 0 %", changed("warning_share", value=0), "/warning_share", "must be more than 0"),
    ("warning actions without a warning share", changed("warning_share", delete=True), "/on_warning",
     "needs a warning_share"),
    ("an action that says not what to do", changed("on_breach", value=[{"to": ["assignee"]}]), "/on_breach/0/do",
     "is required"),
    ("an action nobody knows", changed("on_breach", value=[{"do": "phone", "to": ["assignee"]}]), "/on_breach/0/do",
     "must be one of"),
    ("a notification without a subject", changed("on_breach", value=[{"do": "notify", "to": ["assignee"]}]),
     "/on_breach/0/subject", "is required"),
    ("actions that are not a list", changed("on_breach", value={"do": "notify"}), "/on_breach",
     "must be of type array"),
    ("an escalation to a role that does not exist",
     changed("on_breach", value=[{"do": "notify", "to": [{"role": "boss"}], "subject": {"en": "x", "zh": "x"}}]),
     "/on_breach/0/to/0/role", "names no role: 'boss'"),
    ("a pausing state that is not a name", changed("pausing_states", value=["Waiting for client"]),
     "/pausing_states/0", "is not valid"),
    ("an unknown property", changed("escalate_after", value=60), "/escalate_after", "is not a known property"),
    ("a title in English only", changed("title", value={"en": "Incident SLA"}), "/title/zh", "is required"),
    ("a name with spaces", changed("name", value="Incident SLA"), "/name", "is not valid"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_policy_is_refused_with_the_path_named(body: dict[str, Any], path: str, words: str) -> None:
    found = problems(body)
    assert any(file == FILE and where == path and words in message for file, where, message in found), found


def test_a_second_policy_for_the_same_record_type_is_refused() -> None:
    other = Document("workflows/sla/other.json", {**STARTER, "name": "other_incident_sla"})
    assert (
        FILE,
        "/record_type",
        "'incident' already has an SLA policy: workflows/sla/other.json",
    ) in problems(STARTER, other)


def test_the_command_line_names_the_file_and_path_of_a_bad_policy(tmp_path: Path) -> None:
    bad = tmp_path / "workflows" / "sla" / "incident_sla.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(canonical_json(changed("targets", "P5", value={"resolution_minutes": 60})), "utf-8")
    result = CliRunner().invoke(
        main, ["defs", "validate", str(ROOT / "schemas"), str(tmp_path / "workflows")]
    )
    assert result.exit_code != 0
    assert f"{bad}: /targets/P5: is not a choice of 'priority'" in result.output
