"""Integration tokens: long-lived keys of one integration, shown once and kept as SHA-256 digests.

A token acts as its service person (the person's roles and rows apply, as for anyone), and only
within its scope: the record types and actions it names. It works as `Authorization: Bearer`
on the records API and on its integration's hooks, never on screens or the other APIs. A
token is random (256 bits), so one SHA-256 of it is enough to keep: it is looked up by its
digest and compared in constant time. A signed webhook's signing secret is derived from the
installation's secret key and the token (`signing_secret`), so it is not stored either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask_appbuilder.security.sqla.models import Role
from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from itpm.access import ACTIONS, Actor
from itpm.catalog import Catalog
from itpm.db import utcnow
from itpm.definitions.problems import Problem
from itpm.integrations.mapping import looked_up
from itpm.models import AuditEntry, Department, IntegrationToken, Person

PREFIX = "itpm_"
#: What a token may do unless told: its definition's record type read, created and changed, and
#: the record types its mapping looks up, read.
TOKEN_ACTIONS = ("read", "create", "write")


class TokenError(ValueError):
    """A token that cannot be made as asked (no such integration, person or record type)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def new_token(
    session: Session,
    catalog: Catalog,
    integration: str,
    person: Person,
    author: str,
    scope: Mapping[str, list[str]] | None = None,
) -> tuple[IntegrationToken, str]:
    """Make a token; the raw token is returned once and kept nowhere."""
    definition = catalog.configuration.get("integration", integration)
    problems = []
    if definition is None:
        problems.append(
            Problem("", "/integration", _("there is no published integration %(name)r", name=integration))
        )
    if not person.is_active:
        problems.append(Problem("", "/person", _("%(name)s is not an active person", name=person.username)))
    if scope is None and definition is not None:
        scope = default_scope(definition.body, catalog)
    problems += scope_problems(scope or {}, catalog)
    if problems:
        raise TokenError(problems)
    raw = PREFIX + secrets.token_urlsafe(32)
    token = IntegrationToken(
        integration=integration,
        digest=digest(raw),
        prefix=raw[: len(PREFIX) + 6],
        person_id=person.id,
        scope={name: sorted(set(actions)) for name, actions in (scope or {}).items()},
        created_at=utcnow(),
        created_by=author,
    )
    session.add(token)
    session.flush()
    _audit(session, author, "integration.token", token)
    return token, raw


def default_scope(body: Mapping[str, Any], catalog: Catalog) -> dict[str, list[str]]:
    """What an integration's token may do unless told: see TOKEN_ACTIONS."""
    scope = {body["record_type"]: list(TOKEN_ACTIONS)}
    spec = catalog.record_types.get(body["record_type"])
    for target in looked_up(body, spec) if spec is not None else []:
        scope.setdefault(target, ["read"])
    return scope


def scope_problems(scope: Mapping[str, Any], catalog: Catalog) -> list[Problem]:
    problems = []
    if not scope:
        problems.append(Problem("", "/scope", _("must name at least one record type")))
    for name, actions in scope.items():
        if name not in catalog.record_types:
            problems.append(Problem("", f"/scope/{name}", _("there is no record type %(name)s", name=name)))
        for action in actions if isinstance(actions, list) else [actions]:
            if action not in ACTIONS:
                problems.append(
                    Problem(
                        "",
                        f"/scope/{name}",
                        _(
                            "%(action)r is not an action; actions: %(actions)s",
                            action=action,
                            actions=", ".join(ACTIONS),
                        ),
                    )
                )
    return problems


def parse_scope(text: str) -> dict[str, list[str]]:
    """`incident:read,create,write;customer:read` as a scope."""
    scope: dict[str, list[str]] = {}
    for part in text.replace(" ", "").split(";"):
        if part:
            name, _sep, actions = part.partition(":")
            scope[name] = [a for a in actions.split(",") if a]
    return scope


def scope_text(scope: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(actions)}" for name, actions in sorted(scope.items()))


def find_token(session: Session, raw: str) -> IntegrationToken | None:
    """The active token `raw` is, or None (unknown, revoked, or its person no longer active)."""
    if not raw.startswith(PREFIX):
        return None
    wanted = digest(raw)
    token = session.scalar(select(IntegrationToken).where(IntegrationToken.digest == wanted))
    if token is None or not hmac.compare_digest(token.digest, wanted):
        return None
    if token.revoked_at is not None or token.person is None or not token.person.is_active:
        return None
    return token


def revoke(session: Session, token_id: int, author: str) -> IntegrationToken | None:
    token = session.get(IntegrationToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
        token.revoked_by = author
        _audit(session, author, "integration.revoke", token)
    return token


def _audit(session: Session, author: str, action: str, token: IntegrationToken) -> None:
    """Making and revoking a token are in the audit log (never the token itself)."""
    session.add(
        AuditEntry(
            actor=author,
            action=action,
            target=f"integration/{token.integration}",
            detail={
                "token": token.id,
                "prefix": token.prefix,
                "person": token.person_id,
                "scope": token.scope,
            },
        )
    )


def token_actor(token: IntegrationToken) -> Actor:
    """The token's person, limited to its scope."""
    limits = frozenset((name, action) for name, actions in token.scope.items() for action in actions)
    return replace(Actor.of(token.person), limits=limits, via=f"integration {token.integration}")


def signing_secret(token: IntegrationToken, secret_key: str) -> str:
    """The secret a signed webhook of this token is signed with (shown with the token, once)."""
    return hmac.new(
        secret_key.encode("utf-8"), f"itpm-hook:{token.digest}".encode(), hashlib.sha256
    ).hexdigest()


def service_person(session: Session, integration: str, role: str, department: str | None = None) -> Person:
    """The person an integration acts as unless told: `svc_<integration>`, made with `role` when missing.

    Nobody signs in as it (its password is random and forgotten at once); its role and
    department decide, as for anyone, which records its tokens may touch.
    """
    username = f"svc_{integration}"
    person = session.scalar(select(Person).where(Person.username == username))
    if person is not None:
        return person
    found = session.scalar(select(Role).where(Role.name == role))
    if found is None:
        raise TokenError([Problem("", "/role", _("there is no role %(name)r", name=role))])
    place = None
    if department:
        place = session.scalar(select(Department).where(Department.name == department))
        if place is None:
            raise TokenError(
                [Problem("", "/department", _("there is no department %(name)r", name=department))]
            )
    person = Person(
        username=username,
        first_name="Integration",
        last_name=integration,
        email=f"{username}@itpm.invalid",
        active=True,
        password=generate_password_hash(secrets.token_urlsafe(32)),
        department_id=place.id if place is not None else None,
    )
    session.add(person)
    person.roles.append(found)
    session.flush()
    return person
