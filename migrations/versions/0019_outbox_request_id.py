"""The request an outbox event was saved by (its jobs and the worker's log lines carry the id), and
SLA breaches counted from an index of their own (for /metrics) (issue 21).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 15:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BREACHES = sa.text("kind = 'sla_breach'")


def upgrade() -> None:
    op.add_column("itpm_outbox", sa.Column("request_id", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_itpm_outbox_sla_breach", "itpm_outbox", ["created_at"],
        postgresql_where=BREACHES, sqlite_where=BREACHES,
    )


def downgrade() -> None:
    op.drop_index("ix_itpm_outbox_sla_breach", table_name="itpm_outbox")
    with op.batch_alter_table("itpm_outbox", schema=None) as batch_op:
        batch_op.drop_column("request_id")
