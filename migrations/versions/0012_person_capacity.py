"""A person's capacity for planned work: hours a week and leave ahead.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMNs on SQLite too: no rebuild of ab_user, which many tables reference
    op.add_column("ab_user", sa.Column("weekly_hours", sa.Float(), nullable=True))
    op.add_column("ab_user", sa.Column("leave", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ab_user", schema=None) as batch_op:
        batch_op.drop_column("leave")
        batch_op.drop_column("weekly_hours")
