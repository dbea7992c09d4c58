"""Notifications that reach people (issue 16, item 2): each trigger (assignment, approval asked,
mention, client reply, SLA warning to the group's lead) in the app and by e-mail, as each person
chose; team chat robots (WeCom, DingTalk, Feishu) in their documented formats, checked by a receiver
on loopback; links relative in the app and absolute (ITPM_BASE_URL) in e-mails; the digest lists
approvals waiting.

One world for the module on SQLite (nothing here depends on the database), with a real SMTP server
(aiosmtpd) and an HTTP receiver on loopback. The outbox is drained in the test, at a fixed clock.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from test_notifications import Inbox, LoopbackController
from test_schema_changes import publish
from test_workflows import NOW, PASSWORD, Cast, act, cast, change_request

from conftest import csrf_token, databases, login, settings_for
from itpm.access import Actor
from itpm.automations.digest import send_digests
from itpm.automations.jobs import drain
from itpm.automations.scheduler import tick
from itpm.chat import DINGTALK, FEISHU, WECOM, message, refusal
from itpm.models import Notification, Person, WebhookDelivery
from itpm.my_work import MyWork
from itpm.records.service import Records
from itpm.web.app import create_app
from itpm.webhooks import allow_list

BASE = "https://itpm.example.com"
DING_SECRET = "SEC-dingtalk-test-secret"
FEISHU_SECRET = "feishu-test-secret"


class Robots(BaseHTTPRequestHandler):
    """Group robots as their platforms document them: each checks the format (and the signature)
    and answers 200 with its own error code, as they do."""

    seen: list[tuple[str, dict[str, Any], str]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.loads(raw)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        platform = parts.path.strip("/")
        error = {WECOM: _wecom, DINGTALK: _dingtalk, FEISHU: _feishu}[platform](body, query)
        type(self).seen.append((platform, body, error))
        answer = (
            {"code": 19021 if error else 0, "msg": error or "success"}
            if platform == FEISHU
            else {
                "errcode": 310000 if error else 0,
                "errmsg": error or "ok",
            }
        )
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


def _wecom(body: dict[str, Any], query: dict[str, str]) -> str:
    # https://developer.work.weixin.qq.com/document/path/91770: key in the address, markdown.content
    if query.get("key") != "wecom-key":
        return "invalid webhook url"
    if body.get("msgtype") != "markdown" or not isinstance(body.get("markdown", {}).get("content"), str):
        return "invalid message"
    return ""


def _dingtalk(body: dict[str, Any], query: dict[str, str]) -> str:
    # https://open.dingtalk.com/document/robots/customize-robot-security-settings:
    # sign = urlEncode(base64(HmacSHA256(key=secret, timestamp + "\n" + secret))), timestamp in ms
    stamp = query.get("timestamp", "")
    expected = base64.b64encode(
        hmac.new(DING_SECRET.encode(), f"{stamp}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    if query.get("access_token") != "ding-token" or query.get("sign") != expected:
        return "sign not match"
    if abs(int(stamp) - int(NOW.timestamp() * 1000)) > 3_600_000:
        return "timestamp is not within one hour"
    markdown = body.get("markdown", {})
    if body.get("msgtype") != "markdown" or not markdown.get("title") or not markdown.get("text"):
        return "invalid message"
    return ""


def _feishu(body: dict[str, Any], query: dict[str, str]) -> str:
    # https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot: sign = base64(HmacSHA256(
    # key=timestamp + "\n" + secret, message="")), timestamp in seconds, both in the body
    stamp = body.get("timestamp", "")
    expected = base64.b64encode(
        hmac.new(f"{stamp}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()
    ).decode()
    if body.get("sign") != expected:
        return "sign match fail or timestamp is not within one hour from current time"
    post = body.get("content", {}).get("post", {}).get("zh_cn", {})
    if body.get("msg_type") != "post" or not post.get("title") or not isinstance(post.get("content"), list):
        return "params error"
    if not all(
        isinstance(e, dict) and e.get("tag") in ("text", "a") for line in post["content"] for e in line
    ):
        return "params error"
    return ""


class World:
    def __init__(self, app: Any, runtime: Any, people: Cast, inbox: Inbox, robots: str) -> None:
        self.app, self.runtime, self.people, self.inbox, self.robots = app, runtime, people, inbox, robots

    def run(self, now: dt.datetime = NOW) -> None:
        drain(self.runtime, clock=lambda: now)

    def told(self, who: str) -> list[Notification]:
        with self.runtime.session() as session:
            return list(
                session.scalars(
                    select(Notification)
                    .where(Notification.person_id == self.people.ids[who])
                    .order_by(Notification.id)
                )
            )

    def mail(self, who: str) -> list[Any]:
        return self.inbox.to(f"{who}@itpm.invalid")

    def records(self, who: str | None = None, now: dt.datetime = NOW) -> tuple[Any, Records]:
        session = self.runtime.sessions.session_factory()
        actor = self.people.actor(self.runtime, who) if who else Actor.system()
        return session, Records(session, self.runtime.catalog(), actor, clock=lambda: now)

    def incident(self, who: str | None = None, now: dt.datetime = NOW, **system: Any) -> int:
        session, records = self.records(who, now)
        record = records.create(
            "incident", {"title": "Core switch down", "priority": "P1", "category": "network"}, system
        )
        session.commit()
        session.close()
        return record.id


@pytest.fixture(scope="module")
def world(template_databases: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("notices")
    inbox = Inbox()
    smtp = LoopbackController(inbox, hostname="127.0.0.1", port=0)
    smtp.start()
    server = HTTPServer(("127.0.0.1", 0), Robots)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with databases(template_databases, folder) as make:
        settings = settings_for(
            make("sqlite"),
            folder,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            base_url=BASE,
            webhook_allow=allow_list(f"127.0.0.1:{server.server_port}"),
        )
        app = create_app(settings)
        runtime = app.extensions["itpm"]
        people = cast(app, runtime)
        with runtime.session() as session:  # the engineers' group lead
            session.get(Person, people.ids["dev"]).manager_id = people.ids["lead"]
            session.get(Person, people.ids["lead"]).manager_id = people.ids["boss"]
            session.get(Person, people.ids["pm"]).locale = "en"
            session.commit()
        yield World(app, runtime, people, inbox, f"http://127.0.0.1:{server.server_port}")
        runtime.dispose()
    server.shutdown()
    server.server_close()
    smtp.stop()


def test_the_new_assignee_is_told_in_the_app_and_by_email_with_the_right_links(world: World) -> None:
    record = world.incident(assignee=world.people.ids["dev"])
    world.run()
    [note] = [n for n in world.told("dev") if "分配给您" in n.subject]
    assert note.subject == "分配给您：INC-2026-00001 Core switch down"
    assert note.link == f"/records/incident/show/{record}"  # inside the app: whatever port it runs on
    [mail] = [m for m in world.mail("dev") if "分配给您" in m["Subject"]]
    text = mail.get_body(("plain",)).get_content()
    assert f"{BASE}/records/incident/show/{record}" in text and ":5000" not in text
    client = world.app.test_client()
    login(client, "dev", PASSWORD)
    opened = client.get(f"/notifications/{note.id}")
    assert opened.headers["Location"] == f"/records/incident/show/{record}"  # the bell opens the record

    # reassigned by an admin: the new assignee is told; a change by the assignee tells nobody
    session, records = world.records("root")
    found = records.get("incident", record)
    records.update("incident", record, {}, found.version, {"assignee": world.people.ids["lead"]})
    session.commit()
    session.close()
    world.run()
    assert [n.subject for n in world.told("lead")] == ["分配给您：INC-2026-00001 Core switch down"]
    before = len(world.told("lead"))
    session, records = world.records("lead")
    found = records.get("incident", record)
    records.update("incident", record, {"description": "Looking"}, found.version)
    session.commit()
    session.close()
    world.run()
    assert len(world.told("lead")) == before


def test_every_approver_of_the_step_and_their_delegate_are_told(world: World) -> None:
    session, _records, workflows = act(world.runtime, world.people.actor(world.runtime, "pm"))
    workflows.delegate(world.people.ids["cfo"], NOW.date(), NOW.date() + dt.timedelta(days=3))
    session.commit()
    session.close()
    record = change_request(world.runtime, world.people)
    session, _records, workflows = act(world.runtime, world.people.actor(world.runtime, "dev"))
    workflows.take("change_request", record, "approve", comment="Please")
    session.commit()
    session.close()
    world.run()
    [pm] = [n for n in world.told("pm") if n.subject.startswith("Approval requested")]
    assert pm.subject == "Approval requested: CHG-2026-00001 Add SSO"  # in his language
    assert "step: Project manager" in pm.body and pm.link == f"/records/change_request/show/{record}"
    assert [n.subject for n in world.told("cfo") if "审批" in n.subject] == [
        "待您审批：CHG-2026-00001 Add SSO"
    ]
    assert [m["Subject"] for m in world.mail("pm") if "Approval" in m["Subject"]] == [
        "Approval requested: CHG-2026-00001 Add SSO"
    ]
    assert len([m for m in world.mail("cfo") if "审批" in m["Subject"]]) == 1


def test_the_digest_lists_the_approvals_waiting(world: World) -> None:
    eight = dt.datetime(2026, 3, 17, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai
    assert send_digests(world.runtime, eight - dt.timedelta(minutes=1), eight) >= 1
    [mail] = [m for m in world.mail("pm") if m["Subject"].startswith("Your open work")]
    assert mail["Subject"] == "Your open work today: 1 item, 1 approval waiting"
    text = mail.get_body(("plain",)).get_content()
    assert "Approvals waiting for your decision (1)" in text and "CHG-2026-00001 Add SSO" in text
    assert f"{BASE}/records/change_request/show/" in text


def test_a_mention_tells_the_people_named_who_may_read_and_lands_in_their_work(world: World) -> None:
    record = world.incident(assignee=world.people.ids["lead"])
    world.run()
    session, records = world.records("lead")
    records.add_comment("incident", record, "@dev please check the uplink; cc @buyer @nobody (lead@x.cn)")
    session.commit()
    session.close()
    world.run()
    [note] = [n for n in world.told("dev") if "提到了您" in n.subject]
    assert note.subject == "Lead T 在 INC-2026-00002 中提到了您"
    assert "@dev please check the uplink" in note.body
    assert [n for n in world.told("buyer") if "提到" in n.subject] == []  # not their organisation's incident
    session, records = world.records("dev")
    mentions = [i for i in MyWork(records, NOW).items() if i.kind == "mention"]
    session.close()
    assert [(i.record.id, i.notification_id) for i in mentions] == [(record, note.id)]


def test_a_clients_reply_tells_the_assignee(world: World) -> None:
    # a client's contact reads the incidents they raised (their organisation's others: the client manager)
    record = world.incident("buyer", assignee=world.people.ids["dev"])
    world.run()
    session, records = world.records("buyer")
    records.add_comment("incident", record, "It is still down on our side.")
    session.commit()
    session.close()
    world.run()
    replies = [n for n in world.told("dev") if n.subject.startswith("客户回复")]
    with world.runtime.session() as session:
        model = world.runtime.catalog().models.models["incident"]
        number = session.scalar(select(model.number).where(model.id == record))
    assert [n.subject for n in replies] == [f"客户回复：{number} Core switch down"]
    assert "It is still down on our side." in replies[0].body
    assert [m for m in world.mail("dev") if m["Subject"].startswith("客户回复")]


def test_an_sla_warning_tells_the_group_lead_too(world: World) -> None:
    opened = dt.datetime(2026, 3, 18, 18, 40, tzinfo=dt.UTC)  # 02:40 in Beijing: P1 runs around the clock
    record = world.incident(assignee=world.people.ids["dev"], now=opened)
    world.run(opened)
    warned = opened + dt.timedelta(minutes=25)  # 80 % of the 30-minute response: 02:04 + 24 min
    tick(world.runtime, opened, warned)
    world.run(warned)
    with world.runtime.session() as session:  # its number depends on how many incidents ran before
        model = world.runtime.catalog().models.models["incident"]
        number = session.scalar(select(model.number).where(model.id == record))
    assert [n.subject for n in world.told("dev") if "预警" in n.subject][
        -1
    ] == f"SLA 预警：{number} Core switch down"
    [lead] = [n for n in world.told("lead") if "预警" in n.subject]
    assert lead.subject == f"您组内的 SLA 预警：{number} Core switch down"
    assert "Dev T" in lead.body and "2026-03-19 03:10" in lead.body
    assert lead.link == f"/records/incident/show/{record}"


def test_each_person_chooses_what_reaches_them_by_email(world: World) -> None:
    client = world.app.test_client()
    login(client, "lead", PASSWORD)
    client.get("/lang/en")
    page = client.get("/notifications/settings").get_data(as_text=True)
    assert page.count('type="checkbox"') == 8 and page.count("checked") == 8  # everything, until chosen
    token = csrf_token(client, "/notifications/settings")
    bad = client.post("/notifications/settings", data={"csrf_token": token, "kind": ["approval", "gossip"]})
    assert bad.status_code == 302
    assert "There is no kind of notification gossip." in client.get("/notifications/settings").get_data(
        as_text=True
    )
    with world.runtime.session() as session:
        assert session.get(Person, world.people.ids["lead"]).email_kinds is None  # nothing written
    client.post("/notifications/settings", data={"csrf_token": token, "kind": ["approval", "sla"]})
    with world.runtime.session() as session:
        assert session.get(Person, world.people.ids["lead"]).email_kinds == ["approval", "sla"]
    mails = len(world.mail("lead"))
    world.incident(assignee=world.people.ids["lead"])
    world.run()
    assert world.told("lead")[-1].subject.startswith("分配给您")  # in the app still
    assert len(world.mail("lead")) == mails  # not by e-mail
    client.get("/lang/zh")
    assert "哪些通知发到我的邮箱" in client.get("/notifications/settings").get_data(as_text=True)


def test_chat_robots_get_their_documented_formats_signed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITPM_TEST_DING_SECRET", DING_SECRET)
    monkeypatch.setenv("ITPM_TEST_FEISHU_SECRET", FEISHU_SECRET)
    subject = {"en": "P1: {number} {title}", "zh": "P1 事件：{number} {title}"}
    body = {"en": "{title} is down.", "zh": "{title} 故障，请立即处理。\n优先级 {priority}"}
    actions = [
        {
            "do": "webhook",
            "chat": WECOM,
            "url": f"{world.robots}/wecom?key=wecom-key",
            "subject": subject,
            "body": body,
        },
        {
            "do": "webhook",
            "chat": DINGTALK,
            "url": f"{world.robots}/dingtalk?access_token=ding-token",
            "secret_env": "ITPM_TEST_DING_SECRET",
            "subject": subject,
            "body": body,
        },
        {
            "do": "webhook",
            "chat": FEISHU,
            "url": f"{world.robots}/feishu",
            "secret_env": "ITPM_TEST_FEISHU_SECRET",
            "subject": subject,
            "body": body,
        },
    ]
    publish(
        world.runtime,
        {
            "kind": "automation",
            "name": "p1_to_chat",
            "title": {"en": "P1 incidents to the team chat", "zh": "P1 事件发到团队群"},
            "record_type": "incident",
            "trigger": {"on": "created"},
            "condition": {"properties": {"priority": {"const": "P1"}}, "required": ["priority"]},
            "actions": actions,
        },
    )
    Robots.seen.clear()
    record = world.incident()
    world.run()
    assert {(platform, error) for platform, _body, error in Robots.seen} == {
        (WECOM, ""),
        (DINGTALK, ""),
        (FEISHU, ""),
    }
    bodies = {platform: sent for platform, sent, _error in Robots.seen}
    assert bodies[WECOM]["markdown"]["content"].startswith("**P1 事件：INC-2026-")
    assert f"{BASE}/records/incident/show/{record}" in bodies[DINGTALK]["markdown"]["text"]
    assert bodies[FEISHU]["content"]["post"]["zh_cn"]["content"][-1] == [
        {"tag": "a", "text": "在 itpm 中打开", "href": f"{BASE}/records/incident/show/{record}"}
    ]
    with world.runtime.session() as session:
        assert set(
            session.scalars(select(WebhookDelivery.status).where(WebhookDelivery.key.like("%p1_to_chat%")))
        ) == {"delivered"}

    # a robot that refuses (a wrong secret) answers 200 with its error code: the delivery is not done
    monkeypatch.setenv("ITPM_TEST_DING_SECRET", "wrong")
    Robots.seen.clear()
    world.incident()
    world.run()
    assert (DINGTALK, "sign not match") in {(p, e) for p, _b, e in Robots.seen}
    with world.runtime.session() as session:
        failed = session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.status == "pending", WebhookDelivery.url.like("%dingtalk%")
            )
        ).all()
        assert [d.last_error for d in failed] == ["dingtalk error 310000: sign not match"]


def test_chat_messages_and_answers_read_as_documented() -> None:
    assert message(WECOM, "T", "x", "") == {"msgtype": "markdown", "markdown": {"content": "**T**\nx"}}
    assert message(FEISHU, "T", "a\nb", "", "en")["content"]["post"]["en_us"]["content"] == [
        [{"tag": "text", "text": "a"}],
        [{"tag": "text", "text": "b"}],
    ]
    assert refusal(FEISHU, b'{"code":0,"msg":"success"}') is None
    assert (
        refusal(WECOM, b'{"errcode":93000,"errmsg":"invalid webhook url"}')
        == "wecom error 93000: invalid webhook url"
    )
    with pytest.raises(ValueError, match="unknown chat platform 'slack'"):
        message("slack", "T", "x", "")
