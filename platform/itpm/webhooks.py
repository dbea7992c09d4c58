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
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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


class WebhookRefused(ValueError):
    """A webhook that must not be called (an address that is not http or https)."""


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
) -> WebhookDelivery:
    """Post the event once per `key`: the first call records and attempts it, a later one only reports.

    A call for a key still pending and due (its worker died, say) attempts
    it again; one waiting for its next attempt is left to `retry_due`.
    Commits. Raises `WebhookRefused` for an address that is not http(s).
    """
    check_url(url)
    delivery = session.scalar(_by_key(key))
    if delivery is None:
        payload = {"id": key, "event": event, "created_at": now.isoformat(), "data": dict(data)}
        try:
            with session.begin_nested():
                delivery = WebhookDelivery(
                    key=key, url=url, payload=payload, status=PENDING, next_attempt_at=now, created_at=now
                )
                session.add(delivery)
        except IntegrityError:
            delivery = session.scalars(_by_key(key)).one()
        session.commit()
    _attempt_if_due(session, delivery, secret, now)
    return delivery


def retry_due(session: Session, now: dt.datetime, secret_for: SecretLookup, limit: int = 100) -> int:
    """Attempt the pending deliveries whose next attempt is due at `now`; how many were attempted. Commits."""
    due = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    ).all()
    return sum(_attempt_if_due(session, delivery, secret_for(delivery), now) for delivery in due)


def _by_key(key: str) -> Select[tuple[WebhookDelivery]]:
    """The delivery of a key, as the database has it now (not as this session last saw it)."""
    return select(WebhookDelivery).where(WebhookDelivery.key == key).execution_options(populate_existing=True)


def _attempt_if_due(
    session: Session, delivery: WebhookDelivery, secret: str | None, now: dt.datetime
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
    status, error = _post(delivery, secret, now)
    delivery.attempts += 1
    delivery.response_status = status
    if error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, now, None
        delivery.last_error = ""
    else:
        delivery.last_error = error
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = FAILED, None
        else:
            delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
    session.commit()
    return True


def _post(delivery: WebhookDelivery, secret: str | None, now: dt.datetime) -> tuple[int | None, str | None]:
    """One POST: the answer's status, and what went wrong (None when it was a 2xx)."""
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
    request = urllib.request.Request(check_url(delivery.url), data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, None
    except urllib.error.HTTPError as answer:
        try:
            detail = answer.read(500).decode("utf-8", "replace").strip()
        except (OSError, http.client.HTTPException):
            detail = ""
        return answer.code, f"HTTP {answer.code} {answer.reason}: {detail}".rstrip(": ")
    except (OSError, ValueError, http.client.HTTPException) as error:
        # Refused, timed out, reset, a malformed answer or address: an attempt that failed, never a stuck one.
        reason = getattr(error, "reason", error)
        return None, f"{type(reason).__name__}: {reason}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 2xx: following it would post the event (as a GET) elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)
