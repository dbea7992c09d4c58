"""Definition texts are text: a title carrying markup is shown as written and never runs, on every page.

An admin's titles reach menus, breadcrumbs, list headers, form labels, help
texts, choice labels, state badges, the workflow diagram, charts, e-mails and
PDFs. A record type whose every text carries a script and an image with an
onerror handler is published, and each kind of page is read as the admin and
as a person of a plain role: the markup arrives escaped.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from test_schema_changes import publish

from conftest import ADMIN, login
from itpm.access import Actor
from itpm.models import Person
from itpm.notifications import compose, notify
from itpm.records.service import Records

SCRIPT = '<script>window.itpmXss = "script"</script>'
IMAGE = '<img src="x" onerror="window.itpmXss = \'img\'">'
PAYLOAD = SCRIPT + IMAGE + "50% & more"
#: What must never appear in a page's HTML: the payload's tags as tags.
RAW = re.compile(r"<script>window\.itpmXss|<img src=\"x\" onerror")


def t(en: str) -> dict[str, str]:
    return {"en": f"{en} {PAYLOAD}", "zh": f"{en} {PAYLOAD}"}


def field(kind: str, title: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "title": f"{title} {PAYLOAD}", "x-title-zh": f"{title} {PAYLOAD}", **more}


HOSTILE = {
    "kind": "record_type",
    "name": "hostile",
    "title": t("Hostile"),
    "description": t("Described"),
    "category": t("Category"),
    "numbering": "HOS-{seq:04}",
    "columns": ["number", "title", "level", "state"],
    "filters": ["level", "state"],
    "search": ["title"],
    "schema": {
        "type": "object",
        "required": ["title"],
        "properties": {
            "title": field("string", "Title", maxLength=200),
            "level": field(
                "string",
                "Level",
                enum=["low", "high"],
                **{"x-enum-titles": {"low": t("Low"), "high": t("High")}},
            ),
            "notes": field("string", "Notes", maxLength=2000),
        },
    },
}
FORM = {
    "kind": "form",
    "name": "hostile_form",
    "title": t("Form"),
    "record_type": "hostile",
    "sections": [
        {
            "title": t("Section"),
            "fields": [
                "title",
                {"field": "level", "help": t("Help")},
                {"field": "notes", "placeholder": t("Hint")},
            ],
        }
    ],
}
FLOW = {
    "kind": "workflow",
    "name": "hostile_flow",
    "title": t("Flow"),
    "record_type": "hostile",
    "initial": "new",
    "states": [
        {"name": "new", "title": t("New"), "category": "open"},
        {"name": "done", "title": t("Done"), "category": "done"},
    ],
    "transitions": [
        {
            "name": "finish",
            "title": t("Finish"),
            "from": ["new"],
            "to": "done",
            "roles": ["admin", "engineer"],
        },
    ],
}
READER = {
    "kind": "role",
    "name": "reader",
    "title": t("Reader"),
    "records": {"hostile": {"read": "all", "create": "all", "write": "all"}},
}


@pytest.fixture
def hostile(app: Any, runtime: Any) -> int:
    publish(runtime, HOSTILE, [FORM, FLOW, READER])
    with runtime.session() as session:
        record = Records(session, runtime.catalog(), Actor.system()).create(
            "hostile", {"title": f"Record {PAYLOAD}", "level": "high", "notes": PAYLOAD}
        )
        session.commit()
        record_id = record.id
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        sm.add_user(
            "reader", "Reader", "T", "reader@itpm.invalid", [sm.find_role("reader")], "reader-password-1"
        )
    return record_id


def pages(record_id: int, definitions: dict[str, int]) -> list[str]:
    base = "/records/hostile"
    found = [
        "/my/work/",  # the home of staff roles (/ redirects there)
        f"{base}/list/",
        f"{base}/list/?_flt_0_level=high",
        f"{base}/add/",
        f"{base}/show/{record_id}",
        f"{base}/edit/{record_id}",
        f"{base}/transition/{record_id}/finish",
    ]
    if definitions:
        found += ["/definitions/list/", "/definitions/list/?_flt_0_kind=record_type", "/notifications/"]
    for pk in definitions.values():
        found += [f"/definitions/show/{pk}", f"/definitions/edit/{pk}", f"/definitions/version/{pk}/1"]
    return found


def definition_ids(runtime: Any) -> dict[str, int]:
    from itpm.models import Definition

    with runtime.session() as session:
        rows = session.execute(
            select(Definition.name, Definition.id).where(
                Definition.name.in_(["hostile", "hostile_form", "hostile_flow", "reader"])
            )
        )
        return dict(rows.all())


@pytest.mark.parametrize("language", ["en", "zh"])
def test_definition_texts_are_escaped_on_every_page(
    app: Any, runtime: Any, hostile: int, language: str
) -> None:
    ids = definition_ids(runtime)
    with runtime.session() as session:  # an automation's notification, its subject naming the state
        admin_person = session.scalar(select(Person).where(Person.username == ADMIN[0]))
        notify(
            session,
            runtime.settings,
            [admin_person],
            "hostile:1",
            t("Moved to {state}"),
            t("Body"),
            {"state": FLOW["states"][1]["title"]},
            f"/records/hostile/show/{hostile}",
            ("app",),
        )
        session.commit()
    admin = app.test_client()
    login(admin, *ADMIN)
    admin.get(f"/lang/{language}")
    reader = app.test_client()
    login(reader, "reader", "reader-password-1")
    reader.get(f"/lang/{language}")
    for client, paths in ((admin, pages(hostile, ids)), (reader, pages(hostile, {}))):
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            html = response.get_data(as_text=True)
            assert not RAW.search(html), (path, html[max(RAW.search(html).start() - 300, 0) :][:600])
            if path.startswith("/records/hostile/") and "edit" not in path:
                assert "&lt;script&gt;" in html, path  # the text is there, as text


def test_an_email_shows_definition_texts_as_text() -> None:
    for lang in ("en", "zh"):
        message = compose(
            t("Moved to {state}"),
            t("Body {state}"),
            {"state": t("Done")},
            "/records/hostile/show/1",
            lang,
            "http://x",
        )
        assert not RAW.search(message.html) and "&lt;script&gt;" in message.html
        assert SCRIPT in message.text  # the plain-text part is text: as written


def test_the_workflow_diagram_and_charts_escape_titles() -> None:
    from itpm.charts import svg
    from itpm.workflows.diagram import draw
    from itpm.workflows.spec import WorkflowSpec

    for drawn in (draw(WorkflowSpec(FLOW), "en"), svg.document(100, 100, PAYLOAD, [svg.text(1, 1, PAYLOAD)])):
        assert not RAW.search(str(drawn)) and "&lt;script&gt;" in str(drawn)


def test_a_lazy_translation_made_with_what_a_person_typed_is_shown_as_text(app: Any) -> None:
    """Flask-Babel's lazy strings say they are markup; one formatted with a person's text (a problem's
    message naming a file, a field, a value) is escaped on a page like any other value."""
    from flask import render_template_string
    from flask_babel import lazy_gettext

    flask_app = app.dispatcher.app
    with flask_app.test_request_context("/"):
        message = lazy_gettext("%(file)s is empty.", file=f"{PAYLOAD}.csv")
        html = render_template_string("<p>{{ message }}</p><p>{{ message | safe }}</p>", message=message)
    shown, trusted = html.split("</p><p>")
    assert not RAW.search(shown) and "&lt;script&gt;" in shown
    assert RAW.search(trusted)  # `| safe` is still the template's own, explicit choice
