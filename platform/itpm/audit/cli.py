"""`itpm audit`: make the signing key, seal, sign a checkpoint, verify the chain, export it for auditors."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import click

from itpm.audit import chain, signing
from itpm.audit.context import acting
from itpm.audit.export import export
from itpm.commands import command_runtime

_runtime = command_runtime


def _since(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        day = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(
            f"{value!r} is not a date such as 2026-12-01", param_hint="--from"
        ) from error
    return day if day.tzinfo else day.replace(tzinfo=dt.UTC)


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def keygen(path: Path) -> None:
    """Make the Ed25519 key that signs checkpoints: PATH (private, keep it outside the database) and PATH.pub."""
    try:
        public = signing.keygen(path)
    except FileExistsError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"private key: {path} (set {signing.PRIVATE_KEY_SETTING}={path})\npublic key: {public}")


@audit.command()
def seal() -> None:
    """Chain entries written outside the application (direct SQL changes captured by the triggers)."""
    runtime = _runtime()
    with acting("cli", "cli:audit seal"), runtime.engine.begin() as connection:
        count = chain.seal(connection)
    click.echo(f"{count} entries sealed")


@audit.command()
def checkpoint() -> None:
    """Seal, then sign the chain's head with ITPM_AUDIT_KEY and keep the checkpoint."""
    try:
        key = signing.private_key()
    except signing.KeyMissing as error:
        raise click.ClickException(str(error)) from error
    runtime = _runtime()
    with runtime.engine.begin() as connection:
        point = signing.checkpoint(connection, key)
    click.echo(f"checkpoint: seq {point['seq']} hash {point['hash']} signed at {point['at']}")


@audit.command()
@click.option("--from", "since", help="Start at the first entry of this day (UTC), e.g. 2026-12-01.")
def verify(since: str | None) -> None:
    """Walk the chain; exit 1 naming the first entry or checkpoint that does not match."""
    start = _since(since)
    runtime = _runtime()
    began = time.perf_counter()
    with runtime.engine.connect() as connection:
        verdict = chain.verify(connection, start)
        problem = verdict.problem
        key_note = ""
        if problem is None:
            try:
                problem = signing.check_checkpoints(connection, signing.public_key(), start)
            except signing.KeyMissing as error:
                key_note = f" (checkpoints not checked: {error})"
    seconds = time.perf_counter() - began
    if problem is not None:
        click.echo(f"NOT VERIFIED: {problem}", err=True)
        raise SystemExit(1)
    rate = verdict.checked / seconds if seconds else 0
    click.echo(
        f"verified: {verdict.checked} entries up to seq {verdict.head_seq} in {seconds:.2f} s ({rate:,.0f}/s){key_note}"
    )


@audit.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--from", "since", help="Only entries from this day (UTC) on.")
def export_command(folder: Path, since: str | None) -> None:
    """Write the auditor's export: audit.jsonl, checkpoints.jsonl, the public key and verify_audit.py."""
    runtime = _runtime()
    try:
        public = signing.public_pem(signing.public_key())
    except signing.KeyMissing:
        public = None
    with runtime.engine.connect() as connection:
        count = export(connection, folder, public, _since(since))
    click.echo(
        f"{count} entries written to {folder}; check them with: python3 {folder}/verify_audit.py "
        f"{folder}/audit.jsonl --checkpoints {folder}/checkpoints.jsonl --public-key {folder}/audit-key.pub"
    )
