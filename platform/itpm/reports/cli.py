"""`itpm report`: render a report from the command line, for operators and scripts."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import select

from itpm.access import Actor
from itpm.automations.jobs import start_jobs
from itpm.config import ConfigurationError, Settings
from itpm.models import Person
from itpm.records.service import RecordError, Records
from itpm.reports.definition import report_definitions
from itpm.reports.service import LANGUAGES, render_report
from itpm.reports.templates import RenderError
from itpm.runtime import Runtime


def _runtime() -> Runtime:
    try:
        return Runtime(Settings.from_env(), jobs=start_jobs)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error


def _parameters(values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE", param_hint="--param")
        pairs[key.strip()] = text.strip()
    return pairs


@click.group()
def report() -> None:
    """PDF reports: list them, render them."""


@report.command("list")
def report_list() -> None:
    """The published reports and their parameters."""
    runtime = _runtime()
    for definition in report_definitions(runtime.catalog()):
        parameters = ", ".join(f"{p.name}{'' if p.required else '?'}" for p in definition.parameters.values())
        click.echo(f"{definition.name:24} {definition.title['en']}  ({parameters})")


@report.command("render")
@click.argument("name")
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter, e.g. project=12 (repeat)."
)
@click.option("--lang", type=click.Choice(LANGUAGES), default="zh", show_default=True)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), required=True, help="The PDF file to write."
)
@click.option("--as", "username", help="Render with this person's permissions (default: the installation's).")
def report_render(name: str, params: tuple[str, ...], lang: str, out: str, username: str | None) -> None:
    """Render report NAME to a PDF file."""
    given = _parameters(params)
    runtime = _runtime()
    catalog = runtime.catalog()  # before the session's first query: on SQLite, its transaction holds the lock
    with runtime.session() as session:
        actor = Actor.system()
        if username:
            person = session.scalar(select(Person).where(Person.username == username))
            if person is None:
                raise click.ClickException(f"there is no user {username!r}")
            actor = Actor.of(person)
        records = Records(session, catalog, actor, timezone=runtime.settings.timezone)
        try:
            rendered = render_report(records, name, given, lang)
        except RecordError as error:
            for problem in error.problems:
                click.echo(str(problem), err=True)
            raise click.ClickException(str(error.message)) from error
        except RenderError as error:
            raise click.ClickException(str(error)) from error
    Path(out).write_bytes(rendered.pdf)
    click.echo(f"Wrote {out} ({len(rendered.pdf) // 1024} KB) in {rendered.seconds:.1f} s.", file=sys.stdout)
