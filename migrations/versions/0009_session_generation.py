"""Sessions and tokens end when their person signs out or changes password: a generation per person.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on SQLite too: no rebuild of ab_user, which many tables reference.
    op.add_column("ab_user", sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("ab_user", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
