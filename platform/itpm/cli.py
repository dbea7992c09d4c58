"""The `itpm` command: set up, serve, run workers, and manage definitions."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import click
from sqlalchemy import select

from itpm.audit.cli import audit
from itpm.audit.context import acting
from itpm.commands import command_runtime, command_settings
from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import read_documents
from itpm.definitions.packs import held_lines, import_pack
from itpm.definitions.problems import DefinitionError, Problem
from itpm.definitions.registry import NotFound
from itpm.forecast.cli import forecast
from itpm.integrations.cli import integrations
from itpm.models import Department
from itpm.records.import_cli import import_command
from itpm.reports.cli import report

CLI_ACTOR = "cli"


_settings, _runtime = command_settings, command_runtime


def _report(problems: list[Problem] | tuple[Problem, ...]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(
        f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found; nothing was changed.", err=True
    )


@click.group()
@click.version_option(package_name="itpm")
@click.pass_context
def main(ctx: click.Context) -> None:
    """itpm: IT service project management, configured with JSON definitions."""
    ctx.with_resource(acting(CLI_ACTOR, f"cli:{ctx.invoked_subcommand}"))


@main.command()
@click.option("--admin-user", help="Name of the admin account to create.")
@click.option("--admin-password", help="Its password (generated and printed when omitted).")
@click.option("--no-starter-pack", is_flag=True, help="Do not import the starter pack.")
def init(admin_user: str | None, admin_password: str | None, no_starter_pack: bool) -> None:
    """Create or upgrade the database, the admin account and the starter pack."""
    from itpm.installation import STARTER_PACK, initialise
    from itpm.passwords import PasswordRefused
    from itpm.web.app import create_app

    if bool(admin_user) != bool(admin_password) and admin_password:
        raise click.UsageError("--admin-password needs --admin-user")
    app = create_app(_settings())
    runtime = app.extensions["itpm"]
    click.echo(f"Database: {runtime.engine.url.render_as_string(hide_password=True)}")
    try:
        result = initialise(
            runtime, app, admin_user, admin_password, None if no_starter_pack else STARTER_PACK
        )
    except DefinitionError as error:
        _report(error.problems)
        sys.exit(1)
    except PasswordRefused as error:
        raise click.ClickException(f"--admin-password: {error} Nothing was changed.") from error
    if result.starter_pack is not None:
        pack = result.starter_pack
        if pack.revision:
            click.echo(f"Starter pack: {len(pack.drafts)} definitions published as revision {pack.revision}.")
        elif not pack.held:
            click.echo(f"Starter pack: up to date ({len(pack.unchanged)} definitions).")
        for line in held_lines(pack):
            click.echo(f"Starter pack: {line}")
    for note in result.notes:
        click.echo(note)
    if result.admin_user:
        click.echo("")
        click.echo("An admin account was created. Its password is shown this once; keep it safe:")
        click.echo(f"    user:     {result.admin_user}")
        if result.admin_password:
            click.echo(f"    password: {result.admin_password}")
        click.echo("")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """Serve the web application (development server; use gunicorn in production)."""
    from werkzeug.serving import run_simple

    from itpm import logs
    from itpm.web.app import create_app

    overrides = {"jobs": os.environ.get("ITPM_JOBS", "auto")}
    if not os.environ.get("ITPM_BASE_URL"):  # links in e-mails lead where this serves
        overrides["base_url"] = served_at(host, port)
    settings = _settings(**overrides)
    logs.configure(settings)
    app = create_app(settings)
    app.dispatcher.app  # noqa: B018 - build the first app now, so errors show at start
    runtime = app.extensions["itpm"]
    runtime.jobs  # noqa: B018 - automations start now: events left waiting are handled, schedules tick
    if runtime.settings.redis_url and runtime.settings.jobs in ("auto", "rq"):
        click.echo("Automations run on RQ workers: start `itpm worker` beside this.")
    click.echo(f"itpm is serving on http://{host}:{port}/ (links in e-mails: {runtime.settings.base_url})")
    run_simple(host, port, app, threaded=True, use_reloader=False)


def served_at(host: str, port: int) -> str:
    """The address people open for `itpm run --host HOST --port PORT` (this machine's name when it
    serves on every interface)."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@main.command()
@click.option("--burst", is_flag=True, help="Stop once the queue is empty (scripts, tests).")
@click.option("--tick", default=30.0, show_default=True, type=float, help="Seconds between scheduler ticks.")
@click.option("--name", default=None, help="The worker's name (unique among running workers).")
def worker(burst: bool, tick: float, name: str | None) -> None:
    """Run automations: the RQ worker with its scheduler, the outbox dispatcher and the cron ticks.

    Needs ITPM_REDIS_URL. Stops after the current job on SIGTERM or Ctrl-C.
    """
    from itpm.automations.worker import run_worker

    _settings()  # configuration errors show here, plainly
    run_worker(burst=burst, tick_seconds=tick, name=name)


@main.command()
@click.option(
    "--seed",
    default=2026,
    show_default=True,
    type=int,
    help="The same seed gives the same company and history.",
)
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 10),
    help="Tasks, tickets and their kin as a share of the full demo (about 800 tasks and 400 tickets).",
)
@click.option(
    "--if-empty", is_flag=True, help="Load it only into a database without records; otherwise just say so."
)
@click.option("--force", is_flag=True, help="Load it even though the database holds records of its own.")
def demo(seed: int, scale: float, if_empty: bool, force: bool) -> None:
    """Load demo data: a company with its people, clients, projects and six months of history.

    The demo accounts share one password, made up now and shown once at the
    end (and kept in the instance folder's demo-accounts.txt, readable by you
    only). Demo data is never loaded twice.
    """
    from itpm import migrate
    from itpm.demo import Demo, DemoRefused, new_password, presence, write_accounts

    runtime = _runtime()
    accounts = runtime.settings.instance_path / "demo-accounts.txt"
    if migrate.current_revision(runtime.engine) is None:
        raise click.ClickException("The database is not set up yet: run `itpm init` first.")
    found = presence(runtime)
    if found.loaded is not None:
        when = found.loaded.at.astimezone().strftime("%Y-%m-%d %H:%M")
        message = (
            f"Demo data was loaded on {when} (seed {found.loaded.detail.get('seed')}); nothing was changed."
        )
        if not if_empty:
            raise click.ClickException(message)
        click.echo(message)
        if accounts.exists():
            click.echo(f"Its accounts ({accounts}):")
            click.echo(accounts.read_text("utf-8"))
        return
    if found.records and not force:
        message = f"The database already holds {found.records} records"
        if if_empty:
            click.echo(f"{message}: no demo data loaded.")
            return
        raise click.ClickException(
            f"{message}; demo data would be mixed with them. Add --force to load it anyway."
        )
    database = runtime.engine.url.render_as_string(hide_password=True)
    click.echo(f"Database: {database}")
    try:
        plan = Demo(runtime, seed=seed, scale=scale)
        with click.progressbar(length=plan.total, label="Loading demo data", show_pos=True) as bar:
            result = plan.load(new_password(runtime.settings.password_min_length), bar.update)
    except DemoRefused as error:
        raise click.ClickException(f"No demo data loaded: {error}.") from error
    click.echo(f"Loaded in {result.seconds:.1f} s:")
    for type_name, states in result.counts.items():
        spread = ", ".join(f"{state} {count}" for state, count in sorted(states.items(), key=lambda s: -s[1]))
        click.echo(f"  {type_name:16} {sum(states.values()):5}  ({spread})")
    for note in result.notes:
        click.echo(f"  note: {note}")
    write_accounts(accounts, result, database)
    logins = [a for a in result.accounts if a[0].endswith(".demo")]
    click.echo("")
    click.echo("Demo accounts, one for each role (the password is shown this once; it and all")
    click.echo(f"{len(result.accounts)} accounts are kept in {accounts}, readable by you only):")
    click.echo(f"    password: {result.password}")
    for username, role, name in logins:
        click.echo(f"    {username:16} {role:18} {name}")


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations of the engine's tables."""
    from itpm import migrate

    runtime = _runtime()
    migrate.upgrade(runtime.engine)
    click.echo(f"Database at migration {migrate.current_revision(runtime.engine)}.")


@main.group()
def defs() -> None:
    """Definitions: validate, import, export, publish, compare, restore."""


def _read(paths: tuple[str, ...]) -> tuple[list, list[Problem]]:
    documents, problems = read_documents([Path(p) for p in paths])
    return documents, problems


@defs.command("validate")
@click.argument("paths", nargs=-1, required=True)
def defs_validate(paths: tuple[str, ...]) -> None:
    """Validate definition files (and folders) as one configuration."""
    from itpm.definitions.meta import MetaSchemas

    documents, problems = _read(paths)
    problems += check_configuration(documents, MetaSchemas())
    if problems:
        for problem in sorted(problems, key=lambda p: (p.file, p.path)):
            click.echo(str(problem), err=True)
        click.echo(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {len(documents)} definitions.",
            err=True,
        )
        sys.exit(1)
    click.echo(f"{len(documents)} definitions are valid.")


@defs.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option("--publish", is_flag=True, help="Publish them (as one revision).")
@click.option("--comment", default="", help="The comment of the published versions.")
@click.option(
    "--pilot",
    "pilots",
    multiple=True,
    metavar="DEPARTMENT",
    help="Enable the record types imported for this department only (repeat for several): a pilot.",
)
def defs_import(paths: tuple[str, ...], publish: bool, comment: str, pilots: tuple[str, ...]) -> None:
    """Import definition files as drafts: all of them, or none.

    A folder is a pack: a definition you changed is never replaced by its text (that waits as a
    draft beside yours). A file named on its own is imported (and published) as it is.
    """
    documents, problems = _read(paths)
    runtime = _runtime()
    with runtime.session() as session:
        if pilots:
            known = set(session.scalars(select(Department.name)))
            unknown = sorted(set(pilots) - known)
            if unknown:
                click.echo(
                    f"--pilot: there is no department {', '.join(unknown)} "
                    f"(there are: {', '.join(sorted(known)) or 'none'}); nothing was changed.",
                    err=True,
                )
                sys.exit(1)
            for document in documents:
                if document.kind == "record_type":
                    document.body["departments"] = sorted(set(pilots))
        named = {str(Path(p)) for p in paths if Path(p).is_file()}
        try:
            result = import_pack(
                runtime.registry(session),
                documents,
                CLI_ACTOR,
                publish=publish,
                comment=comment,
                read_problems=problems,
                own={d.key for d in documents if d.file in named},
            )
        except DefinitionError as error:
            _report(error.problems)
            sys.exit(1)
    click.echo(f"{len(result.drafts)} imported, {len(result.unchanged)} unchanged.")
    if result.revision:
        click.echo(f"Published as revision {result.revision}.")
    for line in held_lines(result, "the folder"):
        click.echo(line)


@defs.command("export")
@click.argument("folder", type=click.Path(file_okay=False))
def defs_export(folder: str) -> None:
    """Write the published definitions as canonical JSON files."""
    runtime = _runtime()
    with runtime.session() as session:
        written = runtime.registry(session).export(Path(folder))
    click.echo(f"{len(written)} definitions written to {folder}.")


@defs.command("list")
@click.option("--kind", help="Only this kind.")
def defs_list(kind: str | None) -> None:
    """The definitions, with their state and live version."""
    runtime = _runtime()
    with runtime.session() as session:
        for d in runtime.registry(session).list(kind):
            click.echo(f"{d.kind:12} {d.name:32} {d.state:10} v{d.published_version or '-'}  {d.title_en}")


@defs.command("publish")
@click.argument("kind")
@click.argument("name")
@click.option("--comment", default="", help="What changed, and why.")
@click.option("--dry-run", is_flag=True, help="Only show what publishing would do.")
def defs_publish(kind: str, name: str, comment: str, dry_run: bool) -> None:
    """Publish the draft of a definition (--dry-run: show what it would do to records)."""
    from itpm.records.publishing import publish_preview

    runtime = _runtime()
    with runtime.session() as session:
        registry = runtime.registry(session)
        if dry_run:
            try:
                _before, _after, problems, plans = publish_preview(registry, [(kind, name)])
            except NotFound as error:
                raise click.ClickException(str(error)) from error
            for plan in plans:
                click.echo(f"{plan.name}:")
                for step in plan.steps:
                    click.echo(f"  - {step}")
                for problem in plan.problems:
                    click.echo(f"  ! {problem}")
                if plan.violations.count:
                    click.echo(f"  {plan.violations.count} existing records would be flagged, e.g.:")
                    for sample in plan.violations.sample:
                        reasons = "; ".join(f"{p['path']}: {p['message']}" for p in sample["problems"])
                        click.echo(f"    {sample['number']}: {reasons}")
            refused = [problem for plan in plans for problem in plan.problems]
            if problems or refused:
                _report([*problems, *refused])
                sys.exit(1)
            return
        try:
            revision = registry.publish([(kind, name)], CLI_ACTOR, comment)
        except NotFound as error:
            raise click.ClickException(str(error)) from error
        except DefinitionError as error:
            _report(error.problems)
            sys.exit(1)
        if revision is None:
            click.echo("Nothing to publish: the draft is the same as the live version.")
        else:
            version = registry.get(kind, name).published_version
            click.echo(f"{kind}/{name} published as version {version} (revision {revision.id}).")


@defs.command("purge")
@click.argument("record_type")
@click.argument("columns", nargs=-1, required=True)
def defs_purge(record_type: str, columns: tuple[str, ...]) -> None:
    """Delete, for good, the data a record type kept from removed fields."""
    from itpm.records.publishing import purge_kept_data

    runtime = _runtime()
    with runtime.session() as session:
        try:
            purged = purge_kept_data(runtime.registry(session), record_type, list(columns), CLI_ACTOR)
        except NotFound as error:
            raise click.ClickException(str(error)) from error
        except DefinitionError as error:
            _report(error.problems)
            sys.exit(1)
    click.echo(f"Purged: {', '.join(purged)}.")


@defs.command("versions")
@click.argument("kind")
@click.argument("name")
def defs_versions(kind: str, name: str) -> None:
    """The published versions of a definition."""
    runtime = _runtime()
    with runtime.session() as session:
        try:
            definition = runtime.registry(session).get(kind, name)
        except NotFound as error:
            raise click.ClickException(str(error)) from error
        for v in reversed(definition.versions):
            live = " (live)" if v.version == definition.published_version else ""
            when = f"{v.created_at:%Y-%m-%d %H:%M}"
            click.echo(f"v{v.version}{live}  revision {v.revision_id}  {when}  {v.author}  {v.comment}")


@defs.command("diff")
@click.argument("kind")
@click.argument("name")
@click.argument("versions", nargs=-1)
def defs_diff(kind: str, name: str, versions: tuple[str, ...]) -> None:
    """Compare two versions (numbers, or 'draft'); by default the latest change."""
    if len(versions) not in (0, 2):
        raise click.UsageError("give two versions, or none")
    old, new = versions if versions else (None, None)
    runtime = _runtime()
    with runtime.session() as session:
        try:
            click.echo(runtime.registry(session).diff(kind, name, old, new), nl=False)
        except (NotFound, ValueError) as error:
            raise click.ClickException(str(error)) from error


@defs.command("restore")
@click.argument("kind")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--comment", default="", help="Why.")
def defs_restore(kind: str, name: str, version: int, comment: str) -> None:
    """Publish an older version again, as a new version."""
    runtime = _runtime()
    with runtime.session() as session:
        try:
            restored = runtime.registry(session).restore(kind, name, version, CLI_ACTOR, comment)
        except NotFound as error:
            raise click.ClickException(str(error)) from error
        except DefinitionError as error:
            _report(error.problems)
            sys.exit(1)
        click.echo(f"{kind}/{name} version {version} restored as version {restored.version}.")


main.add_command(audit)
main.add_command(report)
main.add_command(integrations)
main.add_command(import_command)
main.add_command(forecast)

if __name__ == "__main__":
    main()
