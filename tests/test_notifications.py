"""Notifications in the reader's language: rendering, the in-app bell, and e-mail through a real SMTP server.

The SMTP server is aiosmtpd on a loopback port; what it receives is parsed
the way a mail client would.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from flask import Flask
from sqlalchemy import event, func, select

from conftest import csrf_token, login
from itpm.models import ActionRun, Notification, Person
from itpm.notifications import (
    APP,
    CLAIM_TIMEOUT,
    EmailFailed,
    channel_key,
    compose,
    fill,
    gathered,
    language_of,
    message_id,
    notify,
)

NOW = dt.datetime(2026, 3, 16, 2, 0, tzinfo=dt.UTC)
PASSWORD = "notification-password-1"
SUBJECT = {"en": "{number} is {state}: {title}", "zh": "{number} 已{state}：{title}"}
BODY = {
    "en": "Ticket {number} is now {state}.\nPriority: {priority}\n\nSee {link}",
    "zh": "工单 {number} 现在{state}。\n优先级：{priority}\n\n查看 {link}",
}
CONTEXT = {
    "number": "INC-2026-00041",
    "title": "核心交换机宕机 <b>紧急</b>",
    "state": {"en": "resolved", "zh": "已解决"},
    "priority": "P1",
}
LINK = "/records/incident/show/41"
KEY = "event-41:incident_resolved:0"


# --- rendering (no database) ---------------------------------------------------------------------


def test_placeholders_are_names_only_and_unknown_ones_stay_as_written() -> None:
    context = {"title": "VPN down", "state": {"en": "open", "zh": "处理中"}, "count": 3}
    assert fill("{title} is {state} ({count})", context, "en") == "VPN down is open (3)"
    assert fill("{title}：{state}", context, "zh") == "VPN down：处理中"
    tricks = "{title.__class__} {title[0]} {title!r} {count:>10} {missing} {{title}}"
    assert (
        fill(tricks, context, "en")
        == "{title.__class__} {title[0]} {title!r} {count:>10} {missing} {VPN down}"
    )


def test_a_notification_reads_in_the_readers_language_with_the_link_and_a_bilingual_footer() -> None:
    zh = compose(SUBJECT, BODY, CONTEXT, LINK, "zh", "https://itpm.example.com/")
    assert zh.subject == "INC-2026-00041 已已解决：核心交换机宕机 <b>紧急</b>"
    assert zh.link == "https://itpm.example.com/records/incident/show/41"
    assert zh.body.startswith("工单 INC-2026-00041 现在已解决。\n优先级：P1")
    assert "查看 https://itpm.example.com/records/incident/show/41" in zh.body
    assert "在 itpm 中打开\nhttps://itpm.example.com/records/incident/show/41" in zh.text
    assert zh.text.index("此邮件由 itpm 自动发送") < zh.text.index("Sent automatically by itpm")
    # HTML: everything from the record is escaped, the button leads to the record.
    assert "<b>紧急</b>" not in zh.html and "&lt;b&gt;紧急&lt;/b&gt;" in zh.html
    assert '<a href="https://itpm.example.com/records/incident/show/41"' in zh.html
    assert '<html lang="zh-CN">' in zh.html
    assert "工单 INC-2026-00041 现在已解决。<br>优先级：P1" in zh.html

    en = compose(SUBJECT, BODY, CONTEXT, LINK, "en", "https://itpm.example.com")
    assert en.subject == "INC-2026-00041 is resolved: 核心交换机宕机 <b>紧急</b>"
    assert "Open in itpm" in en.html
    assert en.text.index("Sent automatically by itpm") < en.text.index("此邮件由 itpm 自动发送")


def test_a_subject_is_one_line_and_a_missing_language_falls_back() -> None:
    message = compose({"en": "Line one\r\nBcc: someone@evil.example"}, None, {}, "", "zh", "http://x")
    assert message.subject == "Line one Bcc: someone@evil.example"
    assert message.body == "" and message.link == ""
    assert "在 itpm 中打开" not in message.html


def test_the_readers_language_is_their_own_or_the_companys() -> None:
    assert language_of(Person(locale="en")) == "en"
    assert language_of(Person(locale="zh_CN")) == "zh"
    assert language_of(Person(locale=None)) == "zh"


def test_the_message_id_is_the_same_for_the_same_key_and_differs_between_keys() -> None:
    first = message_id("k:email:1", "itpm <itpm@corp.example>")
    assert first == message_id("k:email:1", "itpm@corp.example")
    assert re.fullmatch(r"<[0-9a-f]{32}@corp\.example>", first)
    assert first != message_id("k:email:2", "itpm@corp.example")


# --- delivery, on SQLite and PostgreSQL, through a real SMTP server --------------------------------


@dataclass
class Inbox:
    """What the SMTP server received: envelope and message, parsed as a mail client would."""

    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=default_policy
        )
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for _, recipients, message in self.received if address in recipients]


class LoopbackController(Controller):
    """aiosmtpd's controller on a port the system chooses (port 0), which it does not expect."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    found = Inbox()
    controller = LoopbackController(found, hostname="127.0.0.1", port=0)
    controller.start()
    yield found, controller.port
    controller.stop()


@pytest.fixture
def people(runtime: Any) -> dict[str, int]:
    """A Chinese-reading engineer, an English-reading manager, and someone who has left."""
    with runtime.session() as session:
        found = {
            "wang": Person(
                username="wang", first_name="王", last_name="工", email="wang@corp.example", locale="zh"
            ),
            "smith": Person(
                username="smith", first_name="Ann", last_name="Smith", email="smith@corp.example", locale="en"
            ),
            "gone": Person(username="gone", first_name="Left", last_name="Us", email="gone@corp.example"),
        }
        for person in found.values():
            person.active = person.username != "gone"
        session.add_all(found.values())
        session.commit()
        return {name: person.id for name, person in found.items()}


def send(runtime: Any, settings: Any, ids: dict[str, int], **more: Any) -> Any:
    with runtime.session() as session:
        recipients = session.scalars(
            select(Person).where(Person.id.in_(ids.values())).order_by(Person.id)
        ).all()
        return notify(
            session,
            settings,
            recipients,
            more.pop("key", KEY),
            SUBJECT,
            BODY,
            CONTEXT,
            LINK,
            now=more.pop("now", NOW),
            automation="incident_resolved",
            **more,
        )


def with_smtp(runtime: Any, port: int, **more: Any) -> Any:
    return replace(
        runtime.settings,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="itpm <itpm@corp.example>",
        base_url="https://itpm.example.com",
        **more,
    )


def email_runs(runtime: Any) -> dict[str, tuple[str, int, str]]:
    with runtime.session() as session:
        return {
            run.key: (run.status, run.attempts, run.error)
            for run in session.scalars(select(ActionRun).where(ActionRun.action == "email"))
        }


def notifications(runtime: Any) -> list[Notification]:
    with runtime.session() as session:
        return list(session.scalars(select(Notification).order_by(Notification.person_id)))


def test_each_person_gets_one_email_in_their_language_and_a_repeated_job_sends_nothing_more(
    runtime: Any, people: dict[str, int], inbox: tuple[Inbox, int]
) -> None:
    received, port = inbox
    settings = with_smtp(runtime, port)
    sent = send(runtime, settings, people)
    assert sorted(sent.email) == sorted([people["wang"], people["smith"]])
    assert sorted(sent.app) == sorted([people["wang"], people["smith"]])

    assert len(received.received) == 2  # the one who left gets nothing
    sender, recipients, chinese = received.received[0]
    assert sender == "itpm@corp.example" and recipients == ["wang@corp.example"]
    assert chinese["Subject"] == "INC-2026-00041 已已解决：核心交换机宕机 <b>紧急</b>"
    assert chinese["To"].addresses[0].display_name == "王 工"
    assert chinese["From"] == "itpm <itpm@corp.example>"
    assert chinese["Auto-Submitted"] == "auto-generated"
    assert chinese["Content-Language"] == "zh-CN"
    assert chinese.get_content_type() == "multipart/alternative"
    text = chinese.get_body(("plain",)).get_content()
    html = chinese.get_body(("html",)).get_content()
    assert "工单 INC-2026-00041 现在已解决。" in text
    assert "https://itpm.example.com/records/incident/show/41" in text
    assert '<a href="https://itpm.example.com/records/incident/show/41"' in html
    assert "&lt;b&gt;紧急&lt;/b&gt;" in html

    [english] = received.to("smith@corp.example")
    assert english["Subject"] == "INC-2026-00041 is resolved: 核心交换机宕机 <b>紧急</b>"
    assert "Ticket INC-2026-00041 is now resolved." in english.get_body(("plain",)).get_content()
    assert chinese["Message-ID"] != english["Message-ID"]

    in_app = notifications(runtime)
    assert [(n.person_id, n.subject, n.link, n.read_at) for n in in_app] == [
        (people["wang"], "INC-2026-00041 已已解决：核心交换机宕机 <b>紧急</b>", LINK, None),
        (people["smith"], "INC-2026-00041 is resolved: 核心交换机宕机 <b>紧急</b>", LINK, None),
    ]
    assert email_runs(runtime) == {
        f"{KEY}:email:{people['wang']}": ("done", 1, ""),
        f"{KEY}:email:{people['smith']}": ("done", 1, ""),
    }

    # The job runs again (at least once means: maybe twice).
    again = send(runtime, settings, people, now=NOW + dt.timedelta(hours=1))
    assert (again.app, again.email) == ([], [])
    assert len(received.received) == 2
    assert len(notifications(runtime)) == 2

    # Another event notifies again: a new key is a new message.
    send(runtime, settings, {"wang": people["wang"]}, key="event-42:incident_resolved:0")
    assert len(received.to("wang@corp.example")) == 2
    assert len(notifications(runtime)) == 3


def test_an_email_whose_sender_vanished_is_sent_again_with_the_same_message_id(
    runtime: Any, people: dict[str, int], inbox: tuple[Inbox, int]
) -> None:
    received, port = inbox
    settings = with_smtp(runtime, port)
    send(runtime, settings, {"wang": people["wang"]}, channels=("email",))
    [first] = received.to("wang@corp.example")
    assert notifications(runtime) == []  # e-mail only, as asked

    # A worker killed after the server took the message, before it recorded so: the claim stays "running".
    with runtime.session() as session:
        run = session.scalar(select(ActionRun).where(ActionRun.key == f"{KEY}:email:{people['wang']}"))
        run.status, run.started_at = "running", NOW
        session.commit()

    # Within the claim's time another worker leaves it alone; after it, the e-mail goes again.
    assert send(runtime, settings, {"wang": people["wang"]}, now=NOW + CLAIM_TIMEOUT / 2).email == []
    assert send(runtime, settings, {"wang": people["wang"]}, now=NOW + CLAIM_TIMEOUT * 2).email == [
        people["wang"]
    ]
    first_copy, second_copy = received.to("wang@corp.example")
    assert first_copy is first
    assert second_copy["Message-ID"] == first["Message-ID"]  # mail clients show one message
    assert email_runs(runtime)[f"{KEY}:email:{people['wang']}"] == ("done", 2, "")


def test_when_the_smtp_server_is_down_the_app_notification_stays_and_the_email_follows_on_the_retry(
    runtime: Any, people: dict[str, int], inbox: tuple[Inbox, int]
) -> None:
    received, port = inbox
    down = with_smtp(runtime, port=1)  # nothing listens on port 1
    with pytest.raises(EmailFailed) as failed:
        send(runtime, down, people)
    assert set(failed.value.failures) == {people["wang"], people["smith"]}
    assert "ConnectionRefusedError" in str(failed.value)
    assert len(notifications(runtime)) == 2
    runs = email_runs(runtime)
    assert {status for status, _, _ in runs.values()} == {"failed"}
    assert all("ConnectionRefusedError" in error for _, _, error in runs.values())

    retried = send(runtime, with_smtp(runtime, port), people, now=NOW + dt.timedelta(minutes=1))
    assert retried.app == [] and sorted(retried.email) == sorted([people["wang"], people["smith"]])
    assert len(received.received) == 2
    assert len(notifications(runtime)) == 2
    assert {run[:2] for run in email_runs(runtime).values()} == {("done", 2)}


def test_gathered_notifications_racing_another_worker_are_each_written_once_and_keep_the_callers_work(
    runtime: Any, people: dict[str, int]
) -> None:
    """Another worker writes one of the gathered notifications just before they are written together: the
    rest are written one by one, each once, and what the caller wrote meanwhile is not rolled back."""
    raced = []
    wangs = channel_key(KEY, APP, people["wang"])

    def another_worker_first(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO itpm_notification") and not raced:
            raced.append(statement)
            connection.exec_driver_sql(
                "INSERT INTO itpm_notification (person_id, key, subject, body, link, created_at)"
                f" VALUES ({people['wang']}, '{wangs}', 's', 'b', '/', CURRENT_TIMESTAMP)"
            )

    with runtime.session() as session:
        event.listen(session.connection(), "before_cursor_execute", another_worker_first)
        with gathered(session):
            session.add(
                ActionRun(key="caller-work", automation="incident_resolved", action="set", status="done")
            )
            recipients = session.scalars(select(Person).where(Person.id.in_(people.values()))).all()
            notify(session, runtime.settings, recipients, KEY, SUBJECT, BODY, CONTEXT, LINK, now=NOW)
    assert raced, "the bulk INSERT never ran"
    assert sorted(n.person_id for n in notifications(runtime)) == sorted([people["wang"], people["smith"]])
    with runtime.session() as session:
        assert session.scalar(select(func.count()).where(ActionRun.key == "caller-work")) == 1


def test_without_an_smtp_host_notifications_are_in_app_only(runtime: Any, people: dict[str, int]) -> None:
    sent = send(runtime, replace(runtime.settings, smtp_host=None), people)
    assert sorted(sent.app) == sorted([people["wang"], people["smith"]]) and sent.email == []
    assert email_runs(runtime) == {}


def test_with_a_user_the_mailer_logs_in(runtime: Any, people: dict[str, int]) -> None:
    logins: list[tuple[str, str]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"mail-password")

    received = Inbox()
    controller = LoopbackController(
        received, hostname="127.0.0.1", port=0, authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        settings = with_smtp(runtime, controller.port, smtp_user="itpm", smtp_password="mail-password")
        send(runtime, settings, {"wang": people["wang"]}, channels=("email",))
    finally:
        controller.stop()
    assert logins == [("itpm", "mail-password")]
    assert len(received.received) == 1


def test_a_key_too_long_or_an_unknown_channel_is_refused(runtime: Any, people: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="at most 160 characters"):
        send(runtime, runtime.settings, people, key="k" * 161)
    with pytest.raises(ValueError, match="unknown notification channels: sms"):
        send(runtime, runtime.settings, people, channels=("app", "sms"))
    assert notifications(runtime) == []


# --- the bell --------------------------------------------------------------------------------------


@pytest.fixture
def engineer(app: Flask) -> int:
    flask_app = app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        person = sm.add_user("li", "Li", "Na", "li@corp.example", [sm.find_role("engineer")], PASSWORD)
        sm.session.commit()
        return person.id


def bell(html: str) -> str | None:
    found = re.search(r'class="badge itpm-bell-count"[^>]*>([^<]+)<', html)
    return found.group(1) if found else None


def test_the_bell_counts_unread_notifications_and_the_list_opens_them(
    app: Flask, runtime: Any, engineer: int, people: dict[str, int]
) -> None:
    with runtime.session() as session:
        recipients = [session.get(Person, engineer), session.get(Person, people["wang"])]
        for number in (1, 2, 3):
            notify(
                session,
                runtime.settings,
                recipients,
                f"event-{number}:incident_assigned:0",
                {"en": "{number} is assigned to you", "zh": "{number} 已分派给你"},
                None,
                {"number": f"INC-2026-0000{number}"},
                f"/records/incident/show/{number}",
                now=NOW + dt.timedelta(minutes=number),
            )
        others = session.scalar(select(Notification.id).where(Notification.person_id == people["wang"]))
        mine = session.scalars(
            select(Notification.id).where(Notification.person_id == engineer).order_by(Notification.id)
        ).all()

    client = app.test_client()
    login(client, "li", PASSWORD)
    client.get("/lang/en")
    page = client.get("/notifications/").get_data(as_text=True)
    assert bell(page) == "3"
    titles = re.findall(r"(INC-2026-0000\d) 已分派给你", page)  # written in her language (the default)
    assert titles == ["INC-2026-00003", "INC-2026-00002", "INC-2026-00001"]  # newest first
    assert page.count("itpm-unread") == 3

    # Opening one marks it read and goes to its record.
    opened = client.get(f"/notifications/{mine[0]}")
    assert opened.status_code == 302 and opened.headers["Location"] == "/records/incident/show/1"
    page = client.get("/notifications/").get_data(as_text=True)
    assert bell(page) == "2" and page.count("itpm-unread") == 2

    # Someone else's notification does not exist for me, and stays unread.
    assert client.get(f"/notifications/{others}").status_code == 404
    with runtime.session() as session:
        assert session.get(Notification, others).read_at is None

    token = csrf_token(client, "/notifications/")
    assert client.post("/notifications/read", data={"csrf_token": token}).status_code == 302
    page = client.get("/notifications/").get_data(as_text=True)
    assert bell(page) is None and "itpm-unread" not in page
    with runtime.session() as session:
        unread = select(func.count(Notification.id)).where(Notification.read_at.is_(None))
        assert session.scalar(unread.where(Notification.person_id == engineer)) == 0
        assert session.scalar(unread.where(Notification.person_id == people["wang"])) == 3


def test_the_bell_costs_one_query_per_page_and_is_not_shown_to_visitors(
    app: Flask, runtime: Any, engineer: int
) -> None:
    client = app.test_client()
    assert 'class="itpm-bell"' not in client.get("/login/").get_data(as_text=True)
    login(client, "li", PASSWORD)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "itpm_notification" in statement:
            statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        page = client.get("/approvals/").get_data(as_text=True)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)
    assert 'class="itpm-bell"' in page and bell(page) is None
    assert len(statements) == 1


def test_a_link_out_of_the_app_is_never_followed(app: Flask, runtime: Any, engineer: int) -> None:
    with runtime.session() as session:
        notify(
            session,
            runtime.settings,
            [session.get(Person, engineer)],
            "event-9:phish:0",
            "Look",
            None,
            {},
            "//evil.example/login",
            now=NOW,
        )
        found = session.scalar(select(Notification.id))
    client = app.test_client()
    login(client, "li", PASSWORD)
    opened = client.get(f"/notifications/{found}")
    assert opened.status_code == 302 and opened.headers["Location"] == "/notifications/"
