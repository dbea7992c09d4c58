"""The generated screens of record types: list, detail, forms, errors, conflicts."""

from __future__ import annotations

import re
from typing import Any

from conftest import csrf_token


def add_incident(client: Any, **fields: str) -> Any:
    token = csrf_token(client, "/records/incident/add/")
    form = {"title": "VPN down", "priority": "P3", "category": "network", "csrf_token": token, **fields}
    return client.post("/records/incident/add/", data=form)


def created_id(response: Any) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return int(re.search(r"/show/(\d+)", response.headers["Location"]).group(1))


def test_the_menu_lists_record_types_by_category(admin_client: Any) -> None:
    html = admin_client.get("/records/incident/list/").get_data(as_text=True)
    assert 'href="/records/incident/list/"' in html and 'href="/records/project/list/"' in html
    assert "Tickets" in html and "Projects" in html
    admin_client.get("/lang/zh")
    html = admin_client.get("/records/incident/list/").get_data(as_text=True)
    assert "工单" in html and "事件" in html


def test_create_through_the_form_then_find_it_in_the_list(admin_client: Any) -> None:
    record_id = created_id(add_incident(admin_client, title="Mail bounced", affected_service="Exchange"))
    show = admin_client.get(f"/records/incident/show/{record_id}").get_data(as_text=True)
    assert "Mail bounced" in show and "Exchange" in show and "P3 Medium" in show
    listing = admin_client.get("/records/incident/list/?q=bounced").get_data(as_text=True)
    assert "Mail bounced" in listing
    assert "Mail bounced" not in admin_client.get("/records/incident/list/?q=printer").get_data(as_text=True)
    filtered = admin_client.get("/records/incident/list/?_flt_0_priority=P3").get_data(as_text=True)
    assert "Mail bounced" in filtered


def test_errors_are_shown_next_to_each_field_and_nothing_is_saved(admin_client: Any) -> None:
    token = csrf_token(admin_client, "/records/incident/add/")
    response = admin_client.post(
        "/records/incident/add/",
        data={"title": "", "priority": "P9", "occurred_at": "soon", "csrf_token": token},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for field, message in (
        ("title", "is required"),
        ("priority", "must be one of"),
        ("category", "is required"),
        ("occurred_at", "must be a date and time"),
    ):
        block = re.search(
            rf'data-field="{field}".*?</div>\s*</div>|data-field="{field}".*?itpm-error">([^<]*)<', html, re.S
        )
        assert block and message in block.group(0), field
    assert "No records found" in admin_client.get("/records/incident/list/").get_data(as_text=True)


def test_errors_are_in_chinese_for_chinese_readers(admin_client: Any) -> None:
    admin_client.get("/lang/zh")
    token = csrf_token(admin_client, "/records/incident/add/")
    html = admin_client.post("/records/incident/add/", data={"title": "x", "csrf_token": token}).get_data(
        as_text=True
    )
    assert "必填" in html and "请更正下面标出的字段" in html


def test_a_number_field_with_letters_is_refused_at_the_field(admin_client: Any) -> None:
    token = csrf_token(admin_client, "/records/project/add/")
    html = admin_client.post(
        "/records/project/add/",
        data={
            "name": "P",
            "project_type": "outsourcing",
            "phase": "planning",
            "start_date": "2026-01-01",
            "due_date": "2026-02-01",
            "budget_plan": "lots",
            "csrf_token": token,
        },
    ).get_data(as_text=True)
    assert re.search(r'data-field="budget_plan".*?must be a number', html, re.S)


def test_the_form_carries_conditions_for_the_browser(admin_client: Any) -> None:
    html = admin_client.get("/records/incident/add/").get_data(as_text=True)
    assert 'data-field="root_cause"' in html
    assert (
        'data-when=\'{"properties": {"priority": {"enum": ["P1", "P2"]}}, "required": ["priority"]}\'' in html
    )


def test_a_stale_edit_shows_the_other_change_and_keeps_your_values(admin_client: Any, app: Any) -> None:
    record_id = created_id(add_incident(admin_client))
    token = csrf_token(admin_client, f"/records/incident/edit/{record_id}")
    first = admin_client.post(
        f"/records/incident/edit/{record_id}",
        data={
            "title": "VPN down",
            "priority": "P1",
            "category": "network",
            "version": "1",
            "csrf_token": token,
        },
    )
    assert first.status_code == 302
    second = admin_client.post(
        f"/records/incident/edit/{record_id}",
        data={
            "title": "VPN is down again",
            "priority": "P4",
            "category": "network",
            "version": "1",
            "csrf_token": token,
        },
    )
    html = second.get_data(as_text=True)
    assert "was changed by someone else (now version 2)" in html
    assert "Priority: P3 Medium → P1 Critical" in html
    assert 'value="VPN is down again"' in html and 'name="version" value="2"' in html
    assert "P1 Critical" in admin_client.get(f"/records/incident/show/{record_id}").get_data(as_text=True)


def test_history_and_comments_on_the_detail_page(admin_client: Any) -> None:
    record_id = created_id(add_incident(admin_client))
    token = csrf_token(admin_client, f"/records/incident/show/{record_id}")
    admin_client.post(
        f"/records/incident/comment/{record_id}",
        data={"body": "<b>Rebooted</b> the gateway", "csrf_token": token},
    )
    html = admin_client.get(f"/records/incident/show/{record_id}").get_data(as_text=True)
    assert "&lt;b&gt;Rebooted&lt;/b&gt; the gateway" in html
    assert "created" in html and "/data/" not in html.split("itpm-history")[1][:2000] or "Title" in html


def test_script_in_a_field_is_shown_escaped(admin_client: Any) -> None:
    record_id = created_id(add_incident(admin_client, title="<script>alert(1)</script>"))
    html = admin_client.get(f"/records/incident/show/{record_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    listing = admin_client.get("/records/incident/list/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in listing


def test_a_form_without_its_csrf_token_is_refused(admin_client: Any) -> None:
    response = admin_client.post(
        "/records/incident/add/", data={"title": "x", "priority": "P1", "category": "network"}
    )
    assert response.status_code == 400


def test_a_record_that_does_not_exist_is_404(admin_client: Any) -> None:
    assert admin_client.get("/records/incident/show/4242").status_code == 404
    assert admin_client.get("/records/incident/edit/4242").status_code == 404


def test_related_records_on_a_projects_page(admin_client: Any, admin_api: Any) -> None:
    project = admin_api.post(
        "/api/v1/records/project/",
        json={
            "data": {
                "name": "Core banking",
                "project_type": "implementation",
                "phase": "execution",
                "start_date": "2026-01-01",
                "due_date": "2026-12-31",
            }
        },
    ).get_json()
    admin_api.post(
        "/api/v1/records/task/", json={"data": {"title": "Install servers", "project": project["id"]}}
    )
    html = admin_client.get(f"/records/project/show/{project['id']}").get_data(as_text=True)
    assert "Install servers" in html and "itpm-related" in html


def test_a_labelled_number_reads_as_its_label_on_the_page_and_in_the_history(
    admin_client: Any, admin_api: Any
) -> None:
    project = admin_api.post(
        "/api/v1/records/project/",
        json={
            "data": {
                "name": "Core banking",
                "project_type": "implementation",
                "phase": "execution",
                "start_date": "2026-01-01",
                "due_date": "2026-12-31",
            }
        },
    ).get_json()
    feedback = admin_api.post(
        "/api/v1/records/client_feedback/", json={"data": {"project": project["id"], "satisfaction": 4}}
    ).get_json()
    admin_api.put(
        f"/api/v1/records/client_feedback/{feedback['id']}",
        json={"version": feedback["version"], "data": {"satisfaction": 2}},
    )
    html = admin_client.get(f"/records/client_feedback/show/{feedback['id']}").get_data(as_text=True)
    history = html.split("itpm-history")[1]
    assert "Dissatisfied" in html.split("itpm-history")[0]  # 2 on the satisfaction scale
    assert "Satisfied" in history and "Dissatisfied" in history  # was 4, now 2


def test_reference_type_ahead_finds_visible_records(admin_client: Any, admin_api: Any) -> None:
    admin_api.post(
        "/api/v1/records/project/",
        json={
            "data": {
                "name": "Core banking",
                "project_type": "implementation",
                "phase": "execution",
                "start_date": "2026-01-01",
                "due_date": "2026-12-31",
            }
        },
    )
    found = admin_client.get("/records/project/lookup/?q=core").get_json()
    assert [r["text"].split(" ", 1)[1] for r in found["results"]] == ["Core banking"]
    assert admin_client.get("/records/project/lookup/?q=nothing").get_json() == {"results": []}


def publish_with_attachments(runtime: Any) -> None:
    """Incidents get a list of files and rich-text notes, on their form."""
    import copy

    with runtime.session() as session:
        registry = runtime.registry(session)
        body = copy.deepcopy(registry.published_body(registry.get("record_type", "incident")))
        body["schema"]["properties"]["evidence"] = {
            "type": "array",
            "items": {"type": "integer", "x-ref": "file"},
            "title": "Evidence",
            "x-title-zh": "证据",
        }
        body["schema"]["properties"]["notes"] = {
            "type": "string",
            "contentMediaType": "text/html",
            "title": "Notes",
            "x-title-zh": "备注",
        }
        form = copy.deepcopy(registry.published_body(registry.get("form", "incident_form")))
        form["sections"][0]["fields"] += ["evidence", "notes"]
        registry.save_draft(body, "admin")
        registry.save_draft(form, "admin")
        registry.publish([("record_type", "incident"), ("form", "incident_form")], "admin")


def test_files_are_attached_through_the_form_and_downloaded(admin_client: Any, runtime: Any) -> None:
    import io

    publish_with_attachments(runtime)
    token = csrf_token(admin_client, "/records/incident/add/")
    response = admin_client.post(
        "/records/incident/add/",
        data={
            "title": "Disk full",
            "priority": "P2",
            "category": "server",
            "notes": "<p>See <b>log</b><script>alert(1)</script></p>",
            "evidence": [(io.BytesIO(b"kernel: disk full\n"), "syslog.txt", "text/plain")],
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    record_id = created_id(response)
    html = admin_client.get(f"/records/incident/show/{record_id}").get_data(as_text=True)
    assert "syslog.txt" in html
    assert "<p>See <b>log</b></p>" in html and "alert(1)" not in html
    link = re.search(rf'href="(/records/incident/download/{record_id}/\d+)"', html).group(1)
    download = admin_client.get(link)
    assert download.status_code == 200 and download.data == b"kernel: disk full\n"
    assert (
        "attachment" in download.headers["Content-Disposition"]
        and download.headers["X-Content-Type-Options"] == "nosniff"
    )
    assert admin_client.get(f"/records/incident/download/{record_id}/4242").status_code == 404


def test_an_empty_file_is_refused(admin_client: Any, runtime: Any) -> None:
    import io

    publish_with_attachments(runtime)
    token = csrf_token(admin_client, "/records/incident/add/")
    response = admin_client.post(
        "/records/incident/add/",
        data={
            "title": "Disk full",
            "priority": "P2",
            "category": "server",
            "evidence": [(io.BytesIO(b""), "empty.txt")],
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and "empty.txt is empty." in response.get_data(as_text=True)


def test_a_list_page_holds_at_most_as_many_records_as_an_api_page(admin_client: Any, runtime: Any) -> None:
    """A page size in the address larger than the API allows shows the API's largest page (issue 13, finding 17)."""
    from itpm.access import Actor
    from itpm.records.list_fields import MAX_PAGE_SIZE
    from itpm.records.service import Records

    with runtime.session() as session:
        system = Records(session, runtime.catalog(), Actor.system())
        for n in range(MAX_PAGE_SIZE + 5):
            system.create("customer", {"name": f"Client {n:03}"})
        session.commit()
    page = admin_client.get("/records/customer/list/?psize_records_customer=100000").get_data(as_text=True)
    assert (
        page.count("/records/customer/show/") == 2 * MAX_PAGE_SIZE
    )  # each row's link, and its card's (a phone's)
    assert page.count('<li class="itpm-card">') == MAX_PAGE_SIZE
    assert admin_client.get("/records/customer/list/?psize_records_customer=lots").status_code == 400
    assert admin_client.get("/records/customer/list/?page_records_customer=99999999999").status_code == 400
    api = admin_client.get(f"/api/v1/records/customer/?q=(page_size:{MAX_PAGE_SIZE + 1})")
    assert api.status_code == 400


def test_text_with_a_nul_character_is_refused_at_its_field_on_the_form(admin_client: Any) -> None:
    """The API's door refused U+0000 but the form reached PostgreSQL with it: a 500 there."""
    response = add_incident(admin_client, title="VPN\x00down", priority="P3", category="network")
    assert response.status_code == 200
    assert "U+0000" in response.get_data(as_text=True)
    assert "VPN" not in admin_client.get("/records/incident/list/").get_data(as_text=True)
