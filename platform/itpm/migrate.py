"""Run the Alembic migrations of the engine's tables (`itpm db upgrade`)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from itpm.config import ROOT

#: Alembic's table of the database's migration (its default name).
VERSION_TABLE = "alembic_version"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, target: str = "head") -> None:
    """Bring the database behind `engine` to `target` (creating it when empty)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return current_revision_on(connection)


def current_revision_on(connection: Connection) -> str | None:
    """The migration the database behind `connection` is at (None: not set up).

    Read from Alembic's table itself: Alembic's own reader logs two lines at each call, and /ready
    asks at every probe."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


def head_revision() -> str | None:
    """The newest migration this itpm ships (what `itpm init` brings a database to)."""
    return _scripts().get_current_head()


def known_revisions() -> frozenset[str]:
    """Every migration this itpm ships: a database at one of them (and not the head) is behind."""
    return frozenset(script.revision for script in _scripts().walk_revisions())
