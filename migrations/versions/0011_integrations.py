"""Integrations: their tokens (kept as SHA-256 digests) and what each delivered, by its key.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import itpm.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
)


def upgrade() -> None:
    op.create_table(
        "itpm_integration_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("scope", JSON, nullable=False),
        sa.Column("created_at", itpm.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("last_used_at", itpm.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", itpm.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["ab_user.id"],
            name=op.f("fk_itpm_integration_token_person_id_ab_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_itpm_integration_token")),
        sa.UniqueConstraint("digest", name=op.f("uq_itpm_integration_token_digest")),
    )
    with op.batch_alter_table("itpm_integration_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_itpm_integration_token_integration"), ["integration"], unique=False
        )

    op.create_table(
        "itpm_integration_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("group_key", sa.String(length=500), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("starts_at", itpm.db.UTCDateTime(), nullable=True),
        sa.Column("ends_at", itpm.db.UTCDateTime(), nullable=True),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("created_at", itpm.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", itpm.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_itpm_integration_item")),
        sa.UniqueConstraint("integration", "key", name=op.f("uq_itpm_integration_item_integration")),
    )
    with op.batch_alter_table("itpm_integration_item", schema=None) as batch_op:
        batch_op.create_index("ix_itpm_integration_item_group", ["integration", "group_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("itpm_integration_item", schema=None) as batch_op:
        batch_op.drop_index("ix_itpm_integration_item_group")
    op.drop_table("itpm_integration_item")
    with op.batch_alter_table("itpm_integration_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_itpm_integration_token_integration"))
    op.drop_table("itpm_integration_token")
