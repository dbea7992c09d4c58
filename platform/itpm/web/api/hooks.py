"""Inbound hooks: /api/v1/hooks/alertmanager/<integration> (Alertmanager's webhook, with the
integration's token as `Authorization: Bearer`) and /api/v1/hooks/<integration> (a JSON body
signed with HMAC-SHA256 over "<timestamp>.<body>", as itpm's own webhooks are signed).

What a delivery does is the integration definition's (`itpm.integrations.inbound`); here: who
sends it (a token of that integration, or a valid signature of one), the body's size, and one
transaction per delivery, run again when another delivery made the same key at the same moment.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from flask import Response, current_app, g, request
from flask_appbuilder.api import BaseApi, expose, safe
from sqlalchemy import select

from itpm.db import utcnow, will_write
from itpm.integrations.inbound import Duplicate, Inbound, Outcome
from itpm.integrations.tokens import find_token, signing_secret, token_actor
from itpm.models import IntegrationToken
from itpm.records.service import Conflict, RecordError, Records
from itpm.web.api.records.base import MAX_BODY_BYTES
from itpm.web.context import current_catalog, current_runtime

#: How far a signed request's timestamp may be from now, either way (seconds): older ones are replays.
SIGNATURE_WINDOW = 300
#: How often a delivery is run again when another one made the same key meanwhile.
ATTEMPTS = 3


class HooksApi(BaseApi):
    """Inbound hooks of the published integrations."""

    resource_name = "hooks"
    openapi_spec_tag = "Integrations"

    @expose("/alertmanager/<name>", methods=["POST"])
    @safe
    def alertmanager(self, name: str) -> Response:
        """Alertmanager's webhook.
        ---
        post:
          summary: Alerts from Prometheus Alertmanager (webhook version 4), as the integration says
          description: >-
            Authorization is Bearer and a token of this integration. Each alert is one
            record however often it is delivered (by its key, by default fingerprint and startsAt);
            a repeat, a resolution and an alert firing again do what the integration says. A label
            that names no single client or project is left out and noted on the record (listed
            under unmatched), unless the integration says `unmatched: refuse` (then 422).
          parameters:
          - {in: path, name: name, required: true, schema: {type: string}, description: The integration}
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object, description: 'The webhook body of Alertmanager, version 4'}
          responses:
            200: {description: 'What was done: created, updated, noted (record numbers), unchanged; unmatched (path, note) when a label named nothing'}
            401: {description: No valid token of this integration}
            403: {description: The token's person or scope may not do this}
            404: {description: No such integration}
            413: {description: The body is too large}
            422: {description: 'Problems, each with its JSON path in the body; nothing written'}
          security:
          - api_key: []
        """
        token = getattr(g, "itpm_token", None)
        if token is None or token.integration != name:
            return _refused(name)
        return self._deliver(name, "alertmanager", token)

    @expose("/<name>", methods=["POST"])
    @safe
    def webhook(self, name: str) -> Response:
        """A signed JSON webhook.
        ---
        post:
          summary: Create or update a record from a signed JSON body, by its key, as the integration says
          description: >-
            Signed as itpm signs its own webhooks: the header X-Itpm-Timestamp (Unix seconds, within
            5 minutes of now) and X-Itpm-Signature, sha256= and the hex HMAC-SHA256 of the timestamp,
            a dot and the body, keyed with the signing secret shown with the token of the integration.
          parameters:
          - {in: path, name: name, required: true, schema: {type: string}, description: The integration}
          - {in: header, name: X-Itpm-Timestamp, required: true, schema: {type: string}}
          - {in: header, name: X-Itpm-Signature, required: true, schema: {type: string}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object}
          responses:
            200: {description: 'What was done: created, updated (record numbers), unchanged'}
            401: {description: 'No valid signature, or a timestamp too old or too new (a replay)'}
            403: {description: The token's person or scope may not do this}
            404: {description: No such integration}
            413: {description: The body is too large}
            422: {description: 'Problems, each with its JSON path in the body; nothing written'}
        """
        token, refusal = _signed(name)
        if token is None:
            return self.response(401, message=refusal)
        return self._deliver(name, "webhook", token)

    def _deliver(self, name: str, source: str, token: IntegrationToken) -> Response:
        definition = current_catalog().configuration.get("integration", name)
        if definition is None or definition.body["source"] != source:
            return self.response(404, message=f"There is no {source} integration {name}.")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return self.response(413, message=f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.")
        payload = request.get_json(silent=True)
        if payload is None:
            return self.response(
                422,
                message="The request body must be JSON.",
                errors=[{"path": "/", "message": "must be JSON"}],
            )
        runtime = current_runtime()
        session = runtime.sessions()
        for attempt in range(ATTEMPTS):
            records = Records(
                session, current_catalog(), token_actor(token), timezone=runtime.settings.timezone
            )
            inbound = Inbound(records, name, definition.body)
            try:
                outcome: Outcome = (
                    inbound.alerts(payload) if source == "alertmanager" else inbound.upsert(payload)
                )
                token = session.merge(token)
                token.last_used_at = utcnow()
                session.commit()
            except Duplicate:
                session.rollback()
                will_write(session)
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            except RecordError as error:
                session.rollback()
                body: dict[str, Any] = {"message": str(error.message)}
                if error.problems:
                    body["errors"] = [p.as_json() for p in error.problems]
                if isinstance(error, Conflict):
                    body["current"] = error.current
                return self.response(error.status, **body)
            return self.response(200, integration=name, **outcome.as_json())
        raise AssertionError("unreachable")


def _refused(name: str) -> Response:
    response = current_app.response_class(
        response=current_app.json.dumps(
            {
                "message": f"A valid token of the integration {name} is required: Authorization: Bearer itpm_..."
            }
        ),
        status=401,
        mimetype="application/json",
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="itpm"'
    return response


def _signed(name: str) -> tuple[IntegrationToken | None, str]:
    """The token of `name` whose signing secret signed this request; or None and why not."""
    stamp = request.headers.get("X-Itpm-Timestamp", "")
    signature = request.headers.get("X-Itpm-Signature", "")
    if not stamp or not signature.startswith("sha256="):
        return (
            None,
            "The request is not signed: X-Itpm-Timestamp and X-Itpm-Signature: sha256=... are required.",
        )
    try:
        sent = int(stamp)
    except ValueError:
        return None, "X-Itpm-Timestamp must be Unix seconds."
    if abs(time.time() - sent) > SIGNATURE_WINDOW:
        return None, (
            f"X-Itpm-Timestamp is more than {SIGNATURE_WINDOW} seconds from now: "
            "the request is refused as a replay (check the sender's clock)."
        )
    body = request.get_data(cache=True)
    secret_key = current_app.config["SECRET_KEY"]
    session = current_runtime().sessions()
    tokens = session.scalars(
        select(IntegrationToken).where(
            IntegrationToken.integration == name, IntegrationToken.revoked_at.is_(None)
        )
    )
    given = signature.removeprefix("sha256=")
    for token in tokens:
        expected = hmac.new(
            signing_secret(token, secret_key).encode(), f"{stamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        if hmac.compare_digest(expected, given) and token.person is not None and token.person.is_active:
            bearer = _bearer()
            if bearer and (found := find_token(session, bearer)) is not None and found.id != token.id:
                return None, "The bearer token and the signature are of different tokens."
            return token, ""
    return None, f"The signature is not valid for the integration {name} (or its token was revoked)."


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None
