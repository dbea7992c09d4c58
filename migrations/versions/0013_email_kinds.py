"""Each person chooses which kinds of notification reach them by e-mail.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 08:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on SQLite too: no rebuild of ab_user, which many tables reference.
    json = sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
    )
    op.add_column("ab_user", sa.Column("email_kinds", json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ab_user", schema=None) as batch_op:
        batch_op.drop_column("email_kinds")
