"""SLA clocks on every record table (due, status, breached, readings, next check); the outbox indexed by handling.

Record tables are made when record types are published, so this walks the
tables that exist (rec_*) and adds what each lacks; new tables get the
columns from `itpm.records.store.system_columns`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 19:40:00
"""

import sqlalchemy as sa
from alembic import op

from itpm.records.store import constraint_name, sla_columns

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXED = ("sla_due", "sla_next_check")


def _record_tables() -> list[str]:
    return sorted(t for t in sa.inspect(op.get_bind()).get_table_names() if t.startswith("rec_"))


def upgrade() -> None:
    with op.batch_alter_table("itpm_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_itpm_outbox_handled_at"), ["handled_at"], unique=False)
    inspector = sa.inspect(op.get_bind())
    for table in _record_tables():
        present = {c["name"] for c in inspector.get_columns(table)}
        for column in sla_columns():
            if column.name not in present:
                op.add_column(table, column)
        indexes = {i["name"] for i in inspector.get_indexes(table)}
        for name in INDEXED:
            if constraint_name("ix", table, name) not in indexes:
                op.create_index(constraint_name("ix", table, name), table, [name])


def downgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in _record_tables():
        indexes = {i["name"] for i in inspector.get_indexes(table)}
        present = {c["name"] for c in inspector.get_columns(table)}
        with op.batch_alter_table(table) as batch_op:
            for name in INDEXED:
                if constraint_name("ix", table, name) in indexes:
                    batch_op.drop_index(constraint_name("ix", table, name))
            for column in sla_columns():
                if column.name in present:
                    batch_op.drop_column(column.name)
    with op.batch_alter_table("itpm_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_itpm_outbox_handled_at"))
