"""`itpm import RECORD_TYPE FILE`: a dry run or an import of a CSV or XLSX file, from the command line.

The same engine as the screens and the API (`itpm.records.imports`): a dry run
prints every error by row, column and reason and writes the error file beside
the input; an import is queued and run here at once, chunk by chunk, with its
progress; a run stopped half-way goes on with `--resume ID`.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import click
from sqlalchemy import select

from itpm.access import Actor
from itpm.commands import command_runtime
from itpm.models import ImportRun, Person
from itpm.records.imports import (
    Importer,
    imports_folder,
    load_mapping,
    messages_by_row,
    open_source,
    parse_mapping,
    progress_of,
    run_import,
    start_import,
)
from itpm.records.service import RecordError, Records


def _problems(error: RecordError) -> None:
    for problem in error.problems:
        click.echo(str(problem), err=True)
    click.echo(f"{error.message} Nothing was written.", err=True)


@click.command("import")
@click.argument("record_type", required=False)
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='A mapping (JSON): {"columns": {header: field or null}, "values": {field: {alias: value}}}.',
)
@click.option("--mapping", "mapping_name", help="A mapping saved by name (in the screens or the API).")
@click.option(
    "--key", help="The business key (number, or a field): a row whose key exists updates its record."
)
@click.option("--dry-run", is_flag=True, help="Check every row and say what would happen; write nothing.")
@click.option("--as", "username", help="Import with this person's permissions (default: the installation's).")
@click.option(
    "--automations", is_flag=True, help="Let automations act on the imported records (off: history)."
)
@click.option("--resume", type=int, help="Go on with import ID where it stopped (its worker died).")
def import_command(
    record_type: str | None,
    file: Path | None,
    mapping_file: Path | None,
    mapping_name: str | None,
    key: str | None,
    dry_run: bool,
    username: str | None,
    automations: bool,
    resume: int | None,
) -> None:
    """Import FILE (CSV in UTF-8 or GB18030, or XLSX) into RECORD_TYPE records."""
    runtime = command_runtime()
    if resume is not None:
        _run(runtime, resume, take_over=True)
        return
    if not record_type or not file:
        raise click.UsageError("give RECORD_TYPE and FILE (or --resume ID)")
    catalog = runtime.catalog()
    with runtime.session() as session:
        actor = Actor.system()
        if username:
            person = session.scalar(select(Person).where(Person.username == username))
            if person is None:
                raise click.ClickException(f"there is no user {username!r}")
            actor = Actor.of(person)
        records = Records(session, catalog, actor, timezone=runtime.settings.timezone)
        try:
            mapping = parse_mapping(mapping_file.read_bytes(), str(mapping_file)) if mapping_file else None
            if mapping_name:
                mapping = load_mapping(session, mapping_name)
            source = open_source(file.resolve())
            if dry_run:
                importer = Importer(records, record_type, source, mapping, key, automations)
                outcome = importer.dry_run()
                for problem in outcome.problems:
                    where = problem.get("column") or problem.get("field") or ""
                    click.echo(f"row {problem['row']}: {where}: {problem['message']}", err=True)
                click.echo(
                    f"Dry run of {outcome.total} rows: {outcome.inserted} to insert, {outcome.updated} to update, "
                    f"{outcome.unchanged} unchanged, {outcome.failed} with errors. Nothing was written."
                )
                if outcome.failed:
                    target = file.with_name(f"{file.stem}.errors{file.suffix}")
                    importer.error_file(outcome.error_rows, messages_by_row(outcome.problems), target)
                    click.echo(f"The rows with errors, each with its reasons: {target}")
                    sys.exit(1)
                return
            kept = _keep(runtime, file)
            source = open_source(kept, file.name)
            run = start_import(records, record_type, source, mapping, key, automations)
            session.commit()
            run_id = run.id
        except RecordError as error:
            _problems(error)
            sys.exit(1)
    _run(runtime, run_id)


def _keep(runtime: object, file: Path) -> Path:
    """The file copied where the jobs find it (by its hash), so a resumed run reads the same bytes."""
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    folder = imports_folder(runtime.settings.instance_path)  # type: ignore[attr-defined]
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / digest.hexdigest()
    if not kept.exists():
        shutil.copyfile(file, kept.with_suffix(".part"))
        kept.with_suffix(".part").replace(kept)
    return kept


def _run(runtime: object, run_id: int, take_over: bool = False) -> None:
    from itpm.db import utcnow

    with runtime.session() as session:  # type: ignore[attr-defined]
        run = session.get(ImportRun, run_id)
        if run is None:
            raise click.ClickException(f"there is no import {run_id}")
        total, done = run.total_rows, run.done_rows
    click.echo(f"Import {run_id}: {total} rows" + (f", going on after row {done}" if done else ""))
    with click.progressbar(length=total, label="Importing", show_pos=True) as bar:
        bar.update(done)
        seen = [done]

        def progress(run: ImportRun) -> None:
            bar.update(run.done_rows - seen[0])
            seen[0] = run.done_rows

        status = run_import(
            runtime, run_id, take_over_before=utcnow() if take_over else None, progress=progress
        )
    with runtime.session() as session:  # type: ignore[attr-defined]
        shown = progress_of(session.get(ImportRun, run_id))
    if status is None:
        raise click.ClickException(
            f"import {run_id} is {shown['status']}: nothing to do (--resume ID takes over a dead one)"
        )
    click.echo(
        f"Import {run_id} {shown['status']}: {shown['insert']} inserted, {shown['update']} updated, "
        f"{shown['unchanged']} unchanged, {shown['error']} with errors"
        + (f" ({shown['rows_per_second']:.0f} rows/s)." if shown["rows_per_second"] else ".")
    )
    if shown["message"]:
        click.echo(shown["message"], err=True)
    for problem in shown["errors"][:20]:
        click.echo(
            f"row {problem['row']}: {problem.get('column') or problem.get('field')}: {problem['message']}",
            err=True,
        )
    if shown["error"]:
        sys.exit(1)
