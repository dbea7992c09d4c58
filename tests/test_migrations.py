"""The Alembic migrations create exactly the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder.models.sqla import Model as FabModel

from itpm.db import Base, make_engine


def test_the_migrated_database_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": False,
                    "include_object": lambda obj, name, type_, reflected, compare_to: (
                        not (
                            type_ == "table"
                            and name
                            and (name.startswith("rec_") or name == "alembic_version")
                        )
                    ),
                },
            )
            differences: list[Any] = compare_metadata(context, [Base.metadata, FabModel.metadata])
    finally:
        engine.dispose()
    meaningful = [d for d in differences if not (isinstance(d, tuple) and d[0] in ("add_fk", "remove_fk"))]
    assert meaningful == []
