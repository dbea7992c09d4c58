"""What a request is served with: the installation's runtime, the definitions revision's
catalog, the person acting, and the records service for them.

Below every screen and API module (they all import it; it imports none of them).
"""

from __future__ import annotations

from flask import current_app, g, has_request_context, request
from werkzeug.local import LocalProxy

from itpm.access import Actor
from itpm.audit.context import AuditContext, new_request_id
from itpm.catalog import Catalog
from itpm.integrations.tokens import token_actor
from itpm.records.service import Records
from itpm.runtime import Runtime


def current_runtime() -> Runtime:
    return current_app.extensions["itpm"]


def current_catalog() -> Catalog:
    return current_app.extensions["itpm_catalog"]


def current_actor() -> Actor:
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return Actor(None, "anonymous")
    token = getattr(g, "itpm_token", None)
    if token is not None:  # an integration: its person, within the token's scope
        return token_actor(token)
    return Actor.of(user)


def actor_name() -> str:
    """Who is acting, for history and the audit log."""
    user = getattr(g, "user", None)
    return getattr(user, "username", None) or "anonymous"


def audit_context() -> AuditContext | None:
    """Who acts in the request in hand, from which address, under which request id (for the audit log)."""
    if not has_request_context():
        return None
    if "itpm_request_id" not in g:
        g.itpm_request_id = new_request_id()
    # The person as loaded already (flask-login's, or the token's): never loaded from here, in a transaction.
    user = g.get("_login_user")
    # a token's person is `g.user` itself, while flask-login's stays anonymous for the request
    if not getattr(user, "is_authenticated", False) and not isinstance(g.get("user"), LocalProxy):
        user = g.get("user")
    name = getattr(user, "username", None) or "anonymous"
    return AuditContext(name, request.remote_addr, g.itpm_request_id)


def records_service() -> Records:
    runtime = current_runtime()
    actor = current_actor()
    known = g.setdefault("itpm_actors", {})  # the actor as resolved (their organisations): once per request
    records = Records(
        runtime.sessions(), current_catalog(), known.get(actor, actor), timezone=runtime.settings.timezone
    )
    known[actor] = records.actor
    return records
