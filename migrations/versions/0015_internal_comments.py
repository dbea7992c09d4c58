"""Internal comments: a comment the company's staff keep from the client (issue 14).

Revision ID: 0015
Revises: 0017
Create Date: 2026-12-03 12:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "itpm_comment", sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("itpm_comment", schema=None) as batch_op:
        batch_op.drop_column("internal")
