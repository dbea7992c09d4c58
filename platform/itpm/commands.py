"""What every `itpm` command starts from: its settings and runtime, a bad setting said as a command error."""

from __future__ import annotations

import click

from itpm.config import ConfigurationError, Settings
from itpm.runtime import Runtime


def command_settings(**overrides: str) -> Settings:
    """The settings of a command; a command that exits at once leaves events to the app or a worker."""
    try:
        return Settings.from_env(**{"jobs": "none", **overrides})
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error


def command_runtime() -> Runtime:
    return Runtime(command_settings())
