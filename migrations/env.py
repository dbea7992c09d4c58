"""Alembic environment for the engine's own tables and Flask-AppBuilder's ab_* tables.

Record tables (rec_*) are managed by the record store on publish, not here.
"""

from alembic import context
from flask_appbuilder.models.sqla import Model as FabModel
from flask_appbuilder.security.sqla import models as _fab_security_models  # noqa: F401

from itpm import models as _itpm_models  # noqa: F401
from itpm.db import Base, make_engine

config = context.config
target_metadata = [Base.metadata, FabModel.metadata]


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001
    if type_ == "table" and name and name.startswith("rec_"):
        return False
    return True


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
