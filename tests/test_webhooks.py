"""Outbound webhooks against a real HTTP server on loopback: signed, logged, retried, never posted twice."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from itpm import webhooks
from itpm.models import WebhookDelivery
from itpm.webhooks import (
    BACKOFF,
    DELIVERED,
    FAILED,
    PENDING,
    WebhookRefused,
    allow_list,
    deliver,
    resolve,
    retry_due,
)

SECRET = "whsec-test-signing-secret"
#: The receivers of these tests listen on loopback, which an installation allows only by its setting.
LOOPBACK = allow_list("127.0.0.1")
NOW = dt.datetime(2026, 3, 16, 2, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up waiting (the timeout test) is no error of the receiver's."""


@dataclass
class Receiver:
    """An HTTP endpoint on loopback that records every POST and answers with the statuses it is given."""

    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    answer: bytes = b"the receiver broke"
    server: QuietServer | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/itpm"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body, "path": self.path})
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else receiver.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


@pytest.fixture
def session(runtime: Any) -> Iterator[Any]:
    with runtime.session() as session:
        yield session


def verified(request: dict[str, Any], now: dt.datetime, tolerance: int = 300) -> dict[str, Any]:
    """What a receiver does: check the timestamp is fresh and the signature matches, then read the JSON."""
    headers = request["headers"]
    timestamp = int(headers["X-Itpm-Timestamp"])
    assert abs(now.timestamp() - timestamp) <= tolerance, "a replayed (stale) request"
    expected = hmac.new(
        SECRET.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(headers["X-Itpm-Signature"], f"sha256={expected}")
    return json.loads(request["body"])


def send(
    session: Any, receiver: Receiver, key: str = "event-41:ticket_to_erp:0", **more: Any
) -> WebhookDelivery:
    return deliver(
        session,
        key=key,
        url=more.pop("url", receiver.url),
        event="sla_breach",
        data={"number": "INC-2026-00041", "title": "核心交换机宕机", "priority": "P1"},
        secret=more.pop("secret", SECRET),
        now=more.pop("now", NOW),
        allow=more.pop("allow", LOOPBACK),
    )


def secrets(_delivery: WebhookDelivery) -> str:
    return SECRET


def log(session: Any, key: str = "event-41:ticket_to_erp:0") -> WebhookDelivery:
    session.expire_all()
    return session.scalars(select(WebhookDelivery).where(WebhookDelivery.key == key)).one()


def test_an_event_is_posted_once_as_signed_json_and_logged_as_delivered(
    runtime: Any, session: Any, receiver: Receiver
) -> None:
    delivery = send(session, receiver)

    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert request["path"] == "/hooks/itpm"
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert request["headers"]["X-Itpm-Delivery"] == "event-41:ticket_to_erp:0"
    assert request["headers"]["X-Itpm-Event"] == "sla_breach"
    assert request["headers"]["X-Itpm-Timestamp"] == str(int(NOW.timestamp()))
    body = verified(request, NOW)
    assert body == {
        "id": "event-41:ticket_to_erp:0",
        "event": "sla_breach",
        "created_at": NOW.isoformat(),
        "data": {"number": "INC-2026-00041", "title": "核心交换机宕机", "priority": "P1"},
    }
    assert "核心交换机宕机".encode() in request["body"]  # UTF-8, not \\u escapes

    logged = log(session)
    assert (logged.id, logged.status, logged.attempts) == (delivery.id, DELIVERED, 1)
    assert (logged.response_status, logged.last_error, logged.next_attempt_at) == (200, "", None)
    assert logged.delivered_at == NOW

    # The job runs again, the scheduler sweeps later: nothing is posted a second time.
    again = send(session, receiver, now=NOW + MINUTE)
    assert again.status == DELIVERED and again.attempts == 1
    assert retry_due(session, NOW + dt.timedelta(days=2), secrets, allow=LOOPBACK) == 0
    assert len(receiver.received) == 1


def test_a_tampered_body_or_a_wrong_secret_fails_the_receivers_check(
    session: Any, receiver: Receiver
) -> None:
    send(session, receiver)
    request = receiver.received[0]
    with pytest.raises(AssertionError):
        verified({**request, "body": request["body"].replace(b"P1", b"P4")}, NOW)
    with pytest.raises(AssertionError):
        verified(
            {**request, "headers": {**request["headers"], "X-Itpm-Timestamp": str(int(NOW.timestamp()) + 1)}},
            NOW,
        )
    with pytest.raises(AssertionError, match="replayed"):
        verified(request, NOW + dt.timedelta(hours=1))


def test_a_failing_endpoint_is_retried_with_backoff_until_it_answers(
    session: Any, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    delivery = send(session, receiver)
    assert (delivery.status, delivery.attempts, delivery.response_status) == (PENDING, 1, 500)
    assert "HTTP 500" in delivery.last_error and "the receiver broke" in delivery.last_error
    assert delivery.next_attempt_at == NOW + BACKOFF[0]

    # Not due yet: nothing happens; the job running again does not hurry it either.
    assert retry_due(session, NOW + 30 * dt.timedelta(seconds=1), secrets, allow=LOOPBACK) == 0
    send(session, receiver, now=NOW + 30 * dt.timedelta(seconds=1))
    assert len(receiver.received) == 1

    # The receiver goes away: the port is closed.
    port = receiver.port
    receiver.stop()
    second = NOW + BACKOFF[0]
    assert retry_due(session, second, secrets, allow=LOOPBACK) == 1
    logged = log(session)
    assert (logged.status, logged.attempts, logged.response_status) == (PENDING, 2, None)
    assert "Connection refused" in logged.last_error or "ConnectionRefused" in logged.last_error
    assert logged.next_attempt_at == second + BACKOFF[1]

    # It is back on the same port, and the next attempt gets through, signed at its own moment.
    receiver.port = port
    receiver.start()
    third = second + BACKOFF[1]
    assert retry_due(session, third, secrets, allow=LOOPBACK) == 1
    logged = log(session)
    assert (logged.status, logged.attempts, logged.response_status, logged.last_error) == (
        DELIVERED,
        3,
        200,
        "",
    )
    assert logged.delivered_at == third
    assert len(receiver.received) == 2
    assert verified(receiver.received[-1], third)["data"]["priority"] == "P1"

    assert retry_due(session, third + dt.timedelta(days=1), secrets, allow=LOOPBACK) == 0
    assert len(receiver.received) == 2


def test_after_the_last_backoff_the_delivery_has_failed_and_is_left_alone(
    session: Any, receiver: Receiver
) -> None:
    receiver.statuses = [503] * 10
    moment = NOW
    send(session, receiver, now=moment)
    waits = []
    while (logged := log(session)).status == PENDING:
        waits.append(logged.next_attempt_at - moment)
        moment = logged.next_attempt_at
        assert retry_due(session, moment, secrets, allow=LOOPBACK) == 1
    assert waits == list(BACKOFF)
    assert (logged.status, logged.attempts, logged.next_attempt_at) == (FAILED, len(BACKOFF) + 1, None)
    assert "HTTP 503" in logged.last_error
    assert retry_due(session, moment + dt.timedelta(days=30), secrets, allow=LOOPBACK) == 0
    assert len(receiver.received) == len(BACKOFF) + 1


def test_a_slow_endpoint_times_out_and_a_redirect_is_not_followed(
    session: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.3)
    receiver.delay = 1.0
    slow = send(session, receiver, key="event-1:slow:0")
    assert slow.status == PENDING and "timed out" in slow.last_error

    receiver.delay = 0.0
    receiver.statuses = [302]
    moved = send(session, receiver, key="event-1:moved:0")
    assert (moved.status, moved.response_status) == (PENDING, 302)
    assert "HTTP 302" in moved.last_error
    assert len(receiver.received) == 2  # nothing was posted to where the redirect pointed


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/hook",
        "javascript:alert(1)",
        "http://",
        "hooks.example.com/in",
        "http://hooks.example.com:https/in",
    ],
)
def test_only_http_and_https_addresses_are_called(session: Any, url: str) -> None:
    with pytest.raises(WebhookRefused, match="http:// or https://"):
        deliver(session, key="event-1:bad:0", url=url, event="created", data={}, secret=SECRET, now=NOW)
    assert session.scalar(select(WebhookDelivery).where(WebhookDelivery.key == "event-1:bad:0")) is None


def test_without_a_secret_the_call_is_unsigned(session: Any, receiver: Receiver) -> None:
    assert send(session, receiver, secret=None).status == DELIVERED
    assert "X-Itpm-Signature" not in receiver.received[0]["headers"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hooks/itpm",
        "http://localhost:{port}/hooks/itpm",
        "http://[::ffff:127.0.0.1]:{port}/hooks/itpm",
        "http://0.0.0.0:{port}/hooks/itpm",
        "http://2130706433:{port}/hooks/itpm",  # 127.0.0.1 written as a number
    ],
)
def test_loopback_is_refused_without_the_allow_list_and_nothing_is_posted(
    session: Any, receiver: Receiver, url: str
) -> None:
    refused = send(session, receiver, url=url.format(port=receiver.port), allow=())
    assert (refused.status, refused.attempts, refused.response_status) == (FAILED, 1, None)
    assert "not a public address" in refused.last_error and "ITPM_WEBHOOK_ALLOW" in refused.last_error
    assert receiver.received == []
    assert retry_due(session, NOW + dt.timedelta(days=1), secrets) == 0  # failed at once, not retried


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("100.64.0.1", "shared address space"),
        ("fd00:ec2::254", "metadata, unique local"),
        ("fe80::1", "link-local"),
        ("::1", "loopback"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_inward_addresses_are_refused_after_resolution(
    monkeypatch: pytest.MonkeyPatch, address: str, why: str
) -> None:
    """A public-looking name whose DNS answer points inward is refused too."""
    monkeypatch.setattr(webhooks.socket, "getaddrinfo", lambda *a, **k: [(0, 1, 6, "", (address, 443))])
    with pytest.raises(WebhookRefused, match="not a public address"):
        resolve("https://hooks.example.com/in")


def test_the_allow_list_admits_named_addresses_and_ports_only(monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = allow_list("127.0.0.1:8080, 10.0.0.0/8, [::1]:9000")
    assert resolve("http://127.0.0.1:8080/in", allowed) == ("127.0.0.1", 8080, "127.0.0.1")
    with pytest.raises(WebhookRefused):
        resolve("http://127.0.0.1:6379/", allowed)  # Redis: another port
    assert resolve("http://10.9.8.7/in", allowed)[2] == "10.9.8.7"
    assert resolve("http://[::1]:9000/in", allowed)[2] == "::1"
    with pytest.raises(ValueError, match="ITPM_WEBHOOK_ALLOW: 'ten.0.0.0/8'"):
        allow_list("ten.0.0.0/8")


def test_the_request_goes_to_the_address_that_was_checked(
    session: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No second look-up: a DNS answer that changes after the check cannot turn the POST inward."""
    real, asked = webhooks.socket.getaddrinfo, []

    def dns(host: str, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.example.com":
            return real(host, *args, **kwargs)  # a literal address, as a connection reads it
        asked.append(host)
        if len(asked) > 1:
            raise OSError("the name now points elsewhere")
        return [(0, 1, 6, "", ("127.0.0.1", receiver.port))]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", dns)
    url = f"http://hooks.example.com:{receiver.port}/hooks/itpm"
    delivered = send(session, receiver, url=url)
    assert delivered.status == DELIVERED
    assert receiver.received[0]["headers"]["Host"] == f"hooks.example.com:{receiver.port}"


def test_the_log_keeps_a_short_printable_excerpt_of_an_answer(session: Any, receiver: Receiver) -> None:
    receiver.statuses = [500]
    receiver.answer = b"\x1b[31mroot:x:0:0\r\n" + b"secret " * 200
    failed = send(session, receiver)
    assert failed.last_error.startswith("HTTP 500")
    assert len(failed.last_error) <= webhooks.EXCERPT_CHARS
    assert "\x1b" not in failed.last_error and "\r" not in failed.last_error


def test_a_malformed_allow_list_stops_the_start() -> None:
    from itpm.config import ConfigurationError, Settings

    with pytest.raises(ConfigurationError, match="ITPM_WEBHOOK_ALLOW"):
        Settings.from_env({"ITPM_WEBHOOK_ALLOW": "127.0.0.1:redis"})
    assert Settings.from_env({"ITPM_WEBHOOK_ALLOW": "10.0.0.0/8"}).webhook_allow == allow_list("10.0.0.0/8")
