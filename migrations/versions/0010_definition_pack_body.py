"""The text a pack last brought for each definition, so `itpm init` never replaces an admin's version.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 04:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "itpm_definition",
        sa.Column(
            "pack_body", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
    )
    # Until now `itpm init` published the starter pack as "system" with this comment: its latest
    # such version is the text the pack last brought.
    op.execute(
        "UPDATE itpm_definition SET pack_body = ("
        " SELECT v.body FROM itpm_definition_version v"
        " WHERE v.definition_id = itpm_definition.id AND v.author = 'system' AND v.comment = 'starter pack'"
        " ORDER BY v.version DESC LIMIT 1)"
    )


def downgrade() -> None:
    with op.batch_alter_table("itpm_definition", schema=None) as batch_op:
        batch_op.drop_column("pack_body")
