"""The audit log becomes a tamper-evident trail: where from and why, its hash chain, signed
checkpoints; on PostgreSQL, row triggers on the audited tables and the log made append-only.

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-03 12:10:00
"""

from alembic import op
import sqlalchemy as sa
import itpm.db

from itpm.audit import triggers

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("itpm_audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("request", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_itpm_audit_seq"), ["seq"])
        batch_op.create_index(
            "ix_itpm_audit_unsealed",
            ["id"],
            unique=False,
            postgresql_where=sa.text("seq IS NULL"),
            sqlite_where=sa.text("seq IS NULL"),
        )
    op.create_table(
        "itpm_audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", itpm.db.UTCDateTime(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_itpm_audit_checkpoint")),
    )
    triggers.install(op.get_bind())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(
            "DO $$ DECLARE t record; BEGIN"
            " FOR t IN SELECT tgrelid::regclass AS tab, tgname FROM pg_trigger"
            " WHERE tgname IN ('itpm_audit', 'itpm_append_only', 'itpm_no_truncate') LOOP"
            " EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.tab); END LOOP; END $$;"
            " DROP FUNCTION IF EXISTS itpm_audit_row(); DROP FUNCTION IF EXISTS itpm_audit_append_only();"
        )
    op.drop_table("itpm_audit_checkpoint")
    with op.batch_alter_table("itpm_audit", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_itpm_audit_unsealed",
            sqlite_where=sa.text("seq IS NULL"),
            postgresql_where=sa.text("seq IS NULL"),
        )
        batch_op.drop_constraint(batch_op.f("uq_itpm_audit_seq"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
        batch_op.drop_column("request")
        batch_op.drop_column("address")
