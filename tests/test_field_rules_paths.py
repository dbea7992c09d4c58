"""Leaks the generated leak test (tests/test_leaks.py) found on paths beside lists and forms:
files of hidden fields, downloads of records one may not see, notifications naming hidden
fields, and references to records one may not see named by their title."""

from __future__ import annotations

import io
from typing import Any

from leak_pack import publish_test_pack
from sqlalchemy import select, update

from conftest import login
from itpm.access import Actor
from itpm.automations.jobs import drain
from itpm.files import store_file
from itpm.models import Notification, Person, StoredFile
from itpm.records.service import Records

PASSWORD = "field-rules-password-7Q"


def _setup(app: Any) -> dict[str, int]:
    """Organisations A and B, a client user of A and a finance user; a dossier of A with a hidden file."""
    runtime = app.extensions["itpm"]
    publish_test_pack(runtime)
    catalog = runtime.catalog()
    with runtime.session() as session:
        system = Records(session, catalog, Actor.system())
        ids = {
            "a": system.create("customer", {"name": "Org A"}).id,
            "b": system.create("customer", {"name": "Org B"}).id,
        }
        session.commit()
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        for name, role in (("client_a", "client"), ("money", "finance")):
            person = sm.add_user(name, name, "T", f"{name}@itpm.invalid", [sm.find_role(role)], PASSWORD)
            person.client_id = ids["a"] if role == "client" else None
            ids[name] = person.id
        sm.session.commit()
    with runtime.session() as session:
        system = Records(session, catalog, Actor.system())
        root = runtime.settings.instance_path
        hidden = store_file(
            session,
            root,
            io.BytesIO(b"internal"),
            "internal.txt",
            "text/plain",
            Actor.system(),
            "dossier",
            "attachment",
        )
        shown = store_file(
            session,
            root,
            io.BytesIO(b"evidence"),
            "evidence.txt",
            "text/plain",
            Actor.system(),
            "dossier",
            "evidence",
        )
        session.flush()
        dossier = system.create(
            "dossier",
            {
                "title": "Audit",
                "secret_note": "<p>Sell the client short</p>",
                "attachment": hidden.id,
                "evidence": [shown.id],
            },
            {"client": ids["a"]},
        )
        hidden.record_id = shown.record_id = dossier.id
        ids.update(dossier=dossier.id, hidden_file=hidden.id, shown_file=shown.id)
        project = system.create(
            "project",
            {"name": "Org B rollout", "project_type": "outsourcing", "phase": "execution",
             "start_date": "2026-01-01", "due_date": "2026-12-31"},
            {"client": ids["b"]},
        )  # fmt: skip
        task = system.create("task", {"title": "Org B secret task", "project": project.id})
        sheet = system.create(
            "timesheet", {"project": project.id, "task": task.id, "work_date": "2026-03-02", "hours": 2}
        )
        ids.update(timesheet=sheet.id, task=task.id)
        session.commit()
    return ids


def _signed_in(app: Any, username: str) -> Any:
    client = app.test_client()
    login(client, username, PASSWORD)
    client.get("/lang/en")
    return client


def test_a_file_of_a_hidden_field_is_neither_listed_nor_downloadable(sqlite_app: Any) -> None:
    ids = _setup(sqlite_app)
    client = _signed_in(sqlite_app, "client_a")
    page = client.get(f"/records/dossier/show/{ids['dossier']}").get_data(as_text=True)
    assert "evidence.txt" in page and "internal.txt" not in page
    assert client.get(f"/records/dossier/download/{ids['dossier']}/{ids['hidden_file']}").status_code == 404
    assert client.get(f"/records/dossier/download/{ids['dossier']}/{ids['shown_file']}").data == b"evidence"


def test_a_download_from_a_record_one_may_not_see_is_404(sqlite_app: Any) -> None:
    ids = _setup(sqlite_app)
    runtime = sqlite_app.extensions["itpm"]
    with runtime.session() as session:
        model = Records(session, runtime.catalog(), Actor.system()).model("dossier")
        session.execute(update(model).where(model.id == ids["dossier"]).values(client_id=ids["b"]))
        session.commit()
    client = _signed_in(sqlite_app, "client_a")
    assert client.get(f"/records/dossier/download/{ids['dossier']}/{ids['shown_file']}").status_code == 404


def test_a_notification_leaves_out_the_fields_hidden_from_its_reader(sqlite_app: Any) -> None:
    ids = _setup(sqlite_app)
    runtime = sqlite_app.extensions["itpm"]
    drain(runtime)  # the test pack's automation tells the dossier's readers, naming its secret note
    with runtime.session() as session:
        told = session.scalars(select(Notification).where(Notification.person_id == ids["client_a"])).all()
    assert told and all("Sell the client short" not in n.body + n.subject for n in told)
    assert "备注 —" in told[0].body  # the person reads Chinese (the default)


def test_a_reference_to_a_record_one_may_not_see_is_not_named(sqlite_app: Any) -> None:
    """Finance reads every timesheet but no task: the task is "a record you cannot see", never its title."""
    ids = _setup(sqlite_app)
    money = _signed_in(sqlite_app, "money")
    for path in (
        "/records/timesheet/list/",
        f"/records/timesheet/show/{ids['timesheet']}",
        "/records/timesheet/export/",
    ):
        page = money.get(path).get_data(as_text=True)
        assert "Org B secret task" not in page, path
        assert "a record you cannot see" in page, path
    runtime = sqlite_app.extensions["itpm"]
    with runtime.session() as session:
        assert session.get(Person, ids["money"]) is not None
        assert session.scalar(select(StoredFile.id).where(StoredFile.id == ids["hidden_file"]))
