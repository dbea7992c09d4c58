"""Outbound webhooks: an event POSTed as signed JSON, retried with backoff, every call in a delivery log.

The body is `{"id": key, "event": kind, "created_at": ..., "data": ...}`,
serialised the same way on every attempt. Headers:

    X-Itpm-Delivery:  the delivery's key (the same on every attempt: receivers deduplicate by it)
    X-Itpm-Event:     the event kind
    X-Itpm-Timestamp: the attempt's moment, in Unix seconds
    X-Itpm-Signature: sha256=<hex HMAC-SHA256, with the secret, of "<timestamp>.<raw body>">

A receiver recomputes the signature over the timestamp, a dot and the raw
body, compares it in constant time, and refuses a timestamp older than a
few minutes, so a captured request cannot be replayed later. Without a
secret nothing is signed.

Only public addresses are called: the host is resolved at each attempt and
refused if any of its addresses is loopback, private, link-local (the cloud
metadata address among them), shared, multicast or reserved, unless the
operator's allow-list (`ITPM_WEBHOOK_ALLOW`: addresses or networks, each
with an optional port, e.g. `127.0.0.1:8080,10.0.0.0/8`) names it. The
request then goes to the address that was checked (no second look-up a
changed DNS answer could turn inward); https still verifies the host's name.
A refused address fails the delivery at once, naming the address.

A `WebhookDelivery` row per key is the log: one that was delivered is never
posted again. A failed attempt (connection refused, timeout, an answer other
than 2xx, a redirect) is retried after 1 minute, 5 minutes, 30 minutes,
2 hours and 12 hours, then the delivery is failed. An attempt is claimed
(committed) before the POST, so two workers never post at once; a worker
killed mid-POST leaves its claim to expire, and the POST is made again
(at least once: hence the delivery header). Time is always passed in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import re
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from itpm import chat
from itpm.models import WebhookDelivery

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
#: How long to wait after each failed attempt; after the last, the delivery has failed.
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT_SECONDS = 10
#: How long an attempt's claim holds: past it, an attempt whose worker vanished is made again.
CLAIM_TIMEOUT = dt.timedelta(minutes=2)
USER_AGENT = "itpm-webhooks/1"

#: Gives the signing secret of a delivery being retried (None: unsigned).
SecretLookup = Callable[[WebhookDelivery], str | None]


#: How much of a receiver's answer the log keeps: enough to tell why, too little to read a service through.
EXCERPT_CHARS = 120

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(ValueError):
    """A webhook that must not be called (an address that is not http or https, or not a public one)."""


@dataclass(frozen=True)
class Allowed:
    """An entry of the allow-list: a network, and the one port allowed on it (None: any)."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None = None

    def admits(self, address: IPAddress, port: int) -> bool:
        return address in self.network and self.port in (None, port)


AllowList = Sequence[Allowed]


def allow_list(text: str) -> tuple[Allowed, ...]:
    """The entries of an `ITPM_WEBHOOK_ALLOW` value: `127.0.0.1:8080`, `10.0.0.0/8`, `[::1]:8080`, `fd00::/8`.

    Raises ValueError naming an entry that is not an address or network with an optional port.
    """
    found = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", entry)
        if bracketed:
            network, port = bracketed.group(1), bracketed.group(2)
        elif entry.count(":") == 1:
            network, port = entry.split(":")
        else:
            network, port = entry, None
        try:
            allowed = Allowed(ipaddress.ip_network(network, strict=False), int(port) if port else None)
        except ValueError:
            raise ValueError(
                f"ITPM_WEBHOOK_ALLOW: {entry!r} is not an address or network with an optional port "
                "(e.g. 127.0.0.1:8080 or 10.0.0.0/8)"
            ) from None
        if allowed.port is not None and not 0 < allowed.port < 65536:
            raise ValueError(f"ITPM_WEBHOOK_ALLOW: {entry!r} names a port out of range")
        found.append(allowed)
    return tuple(found)


def _public(address: IPAddress) -> bool:
    """Whether an address is on the public internet (not loopback, private, link-local, reserved...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(url: str, allow: AllowList = ()) -> tuple[str, int, str]:
    """The host, port and checked address a webhook is posted to.

    Every address the host resolves to must be public or allowed: a name that
    answers with one inward address among outward ones is refused as a whole.
    """
    parts = urlsplit(check_url(url))
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise WebhookRefused(f"{host} could not be resolved: {error}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(a[4][0].split("%")[0]) for a in answers))
    for address in addresses:
        if not _public(address) and not any(a.admits(address, port) for a in allow):
            raise WebhookRefused(
                f"{host} resolves to {address}, which is not a public address; "
                "an operator may allow it in ITPM_WEBHOOK_ALLOW"
            )
    if not addresses:
        raise WebhookRefused(f"{host} could not be resolved")
    return host, port, str(addresses[0])


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable line of a receiver's answer: control characters and runs of space collapsed."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def check_url(url: str) -> str:
    """`url`, if it is an http or https address with a host (and a port, if any, that is a number)."""
    parts = urlsplit(url)
    try:
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number in range
        usable = False
    if not usable:
        raise WebhookRefused(f"a webhook address must be http:// or https:// with a host, not {url!r}")
    return url


def raw_body(payload: Mapping[str, Any]) -> bytes:
    """The bytes posted and signed: the same for the same payload, whatever the database did to key order."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Itpm-Signature value of `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def deliver(
    session: Session,
    *,
    key: str,
    url: str,
    event: str,
    data: Mapping[str, Any],
    secret: str | None,
    now: dt.datetime,
    allow: AllowList = (),
    chat: str | None = None,
) -> WebhookDelivery:
    """Post the event once per `key`: the first call records and attempts it, a later one only reports.

    With `chat` (a platform of `itpm.chat`), `data` is that group robot's message, posted as the
    robot documents it (signed per attempt as it asks) instead of the event envelope.

    A call for a key still pending and due (its worker died, say) attempts
    it again; one waiting for its next attempt is left to `retry_due`.
    Commits. Raises `WebhookRefused` for an address that is not http(s);
    one that is not public (nor in `allow`) fails the delivery.
    """
    check_url(url)
    delivery = session.scalar(_by_key(key))
    if delivery is None:
        payload = {"id": key, "event": event, "created_at": now.isoformat(), "data": dict(data)}
        if chat:
            payload["chat"] = chat
        try:
            with session.begin_nested():
                delivery = WebhookDelivery(
                    key=key, url=url, payload=payload, status=PENDING, next_attempt_at=now, created_at=now
                )
                session.add(delivery)
        except IntegrityError:
            delivery = session.scalars(_by_key(key)).one()
        session.commit()
    _attempt_if_due(session, delivery, secret, now, allow)
    return delivery


def retry_due(
    session: Session, now: dt.datetime, secret_for: SecretLookup, limit: int = 100, allow: AllowList = ()
) -> int:
    """Attempt the pending deliveries whose next attempt is due at `now`; how many were attempted. Commits."""
    due = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    ).all()
    return sum(_attempt_if_due(session, delivery, secret_for(delivery), now, allow) for delivery in due)


def _by_key(key: str) -> Select[tuple[WebhookDelivery]]:
    """The delivery of a key, as the database has it now (not as this session last saw it)."""
    return select(WebhookDelivery).where(WebhookDelivery.key == key).execution_options(populate_existing=True)


def _attempt_if_due(
    session: Session, delivery: WebhookDelivery, secret: str | None, now: dt.datetime, allow: AllowList
) -> bool:
    if delivery.status != PENDING or delivery.next_attempt_at is None or delivery.next_attempt_at > now:
        return False
    # The claim: whoever moves next_attempt_at first makes this attempt.
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at == delivery.next_attempt_at,
        )
        .values(next_attempt_at=now + CLAIM_TIMEOUT)
    )
    session.commit()
    if claimed.rowcount != 1:
        session.refresh(delivery)
        return False
    refused = False
    try:
        status, error = _post(delivery, secret, now, resolve(delivery.url, allow))
    except WebhookRefused as refusal:
        status, error, refused = None, str(refusal), True
    delivery.attempts += 1
    delivery.response_status = status
    if error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, now, None
        delivery.last_error = ""
    else:
        delivery.last_error = error
        if refused or delivery.attempts >= MAX_ATTEMPTS:  # an address refused now is refused at every try
            delivery.status, delivery.next_attempt_at = FAILED, None
        else:
            delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
    session.commit()
    return True


def _post(
    delivery: WebhookDelivery, secret: str | None, now: dt.datetime, target: tuple[str, int, str]
) -> tuple[int | None, str | None]:
    """One POST to the checked address: the answer's status, and what went wrong (None when a 2xx).

    A redirect is an answer other than 2xx: following it would post the event elsewhere.
    """
    platform = delivery.payload.get("chat")
    url = delivery.url
    if platform:  # a group robot's own message, signed the way it asks
        url, body = chat.request(platform, url, delivery.payload["data"], secret, now)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    else:
        body = raw_body(delivery.payload)
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Itpm-Delivery": delivery.key,
            "X-Itpm-Event": str(delivery.payload.get("event", "")),
            "X-Itpm-Timestamp": str(timestamp),
        }
        if secret:
            headers["X-Itpm-Signature"] = signature(secret, timestamp, body)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _connection(parts.scheme, *target)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        if 200 <= response.status < 300:
            refused = chat.refusal(platform, response.read(2000)) if platform else None
            return response.status, excerpt(refused) if refused else None
        try:
            detail = response.read(500).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            detail = ""
        return response.status, excerpt(f"HTTP {response.status} {response.reason}: {detail}".rstrip(": "))
    except (OSError, ValueError, http.client.HTTPException) as error:
        # Refused, timed out, reset, a malformed answer: an attempt that failed, never a stuck one.
        return None, excerpt(f"{type(error).__name__}: {error}")
    finally:
        connection.close()


def _connection(scheme: str, host: str, port: int, address: str) -> http.client.HTTPConnection:
    """A connection to `host` made to the address checked for it (the Host header and TLS name stay `host`)."""

    def pinned(_where: tuple[str, int], timeout: float, source: Any = None) -> socket.socket:
        return socket.create_connection((address, port), timeout, source)

    if scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
    connection._create_connection = pinned  # type: ignore[attr-defined]  # http.client's own hook
    return connection
