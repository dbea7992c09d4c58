"""Kept report PDFs remember whose sight they were rendered with: only who sees as much may download them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 21:20:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("itpm_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rendered_as", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("itpm_file", schema=None) as batch_op:
        batch_op.drop_column("rendered_as")
