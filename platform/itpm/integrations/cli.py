"""`itpm integrations`: tokens of the integrations, for operators and scripts."""

from __future__ import annotations

import click
from sqlalchemy import select

from itpm.commands import command_runtime
from itpm.integrations.tokens import (
    TokenError,
    new_token,
    parse_scope,
    revoke,
    scope_text,
    service_person,
    signing_secret,
)
from itpm.models import IntegrationToken, Person

CLI_ACTOR = "cli"


_runtime = command_runtime


@click.group()
def integrations() -> None:
    """Integrations: their tokens."""


@integrations.command("token")
@click.argument("name")
@click.option("--person", help="The user name the token acts as (default: svc_NAME, made when missing).")
@click.option(
    "--role", default="support_agent", show_default=True, help="The role of svc_NAME when it is made."
)
@click.option("--department", help="The department of svc_NAME when it is made.")
@click.option(
    "--scope",
    help="What it may do, e.g. 'incident:read,create,write;customer:read' (default: what NAME needs).",
)
def token(name: str, person: str | None, role: str, department: str | None, scope: str | None) -> None:
    """Make a token for the integration NAME and print it (this once: only its digest is kept)."""
    runtime = _runtime()
    catalog = runtime.catalog()
    with runtime.session() as session:
        try:
            if person:
                who = session.scalar(select(Person).where(Person.username == person))
                if who is None:
                    raise click.ClickException(f"--person: there is no user {person!r}; nothing was changed.")
            else:
                who = service_person(session, name, role, department)
            made, raw = new_token(
                session, catalog, name, who, CLI_ACTOR, parse_scope(scope) if scope else None
            )
        except TokenError as error:
            raise click.ClickException(f"{error}; nothing was changed.") from error
        session.commit()
        click.echo(f"Token {made.id} of the integration {name}, acting as {who.username}")
        click.echo(f"  scope: {scope_text(made.scope)}")
        click.echo("Shown this once (only its digest is kept):")
        click.echo(f"  token:          {raw}")
        click.echo(f"  signing secret: {signing_secret(made, runtime.settings.secret_key)}")
        click.echo("Alertmanager: http_config.authorization.credentials is the token;")
        click.echo("a signed webhook signs '<timestamp>.<body>' with the signing secret (HMAC-SHA256).")


@integrations.command("list")
def list_tokens() -> None:
    """The tokens: id, integration, person, scope, made, last used, revoked."""
    runtime = _runtime()
    with runtime.session() as session:
        for made in session.scalars(select(IntegrationToken).order_by(IntegrationToken.id)):
            state = f"revoked {made.revoked_at:%Y-%m-%d %H:%M}" if made.revoked_at else "active"
            used = f"{made.last_used_at:%Y-%m-%d %H:%M}" if made.last_used_at else "never"
            click.echo(
                f"{made.id:4}  {made.integration:20} {made.prefix}…  {made.person.username:20} "
                f"used {used:16}  {state}  [{scope_text(made.scope)}]"
            )


@integrations.command("revoke")
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke a token: it is refused from the next request on."""
    runtime = _runtime()
    with runtime.session() as session:
        found = revoke(session, token_id, CLI_ACTOR)
        if found is None:
            raise click.ClickException(f"There is no token {token_id}.")
        session.commit()
        click.echo(f"Token {token_id} of {found.integration} is revoked.")
