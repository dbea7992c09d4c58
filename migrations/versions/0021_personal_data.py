"""Personal data: per-person keys sealing personal values in the audit log, privacy requests (subject-access
exports and erasures); the audit triggers again, now marking personal columns and their subject.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-03 15:10:00
"""

import sqlalchemy as sa
from alembic import op

import itpm.db
from itpm.audit import triggers

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "itpm_personal_key",
        sa.Column("person_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", itpm.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_itpm_personal_key")),
    )
    op.create_table(
        "itpm_privacy_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("requested_at", itpm.db.UTCDateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", itpm.db.UTCDateTime(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("summary", itpm.db.JSONType, nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("dispatched_at", itpm.db.UTCDateTime(), nullable=True),
        sa.Column("started_at", itpm.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", itpm.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_itpm_privacy_request")),
    )
    with op.batch_alter_table("itpm_privacy_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_itpm_privacy_request_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_itpm_privacy_request_status"), ["status"], unique=False)
    triggers.install(op.get_bind())  # the row function reads its arguments in a new order: every trigger again


def downgrade() -> None:
    with op.batch_alter_table("itpm_privacy_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_itpm_privacy_request_status"))
        batch_op.drop_index(batch_op.f("ix_itpm_privacy_request_person_id"))
    op.drop_table("itpm_privacy_request")
    op.drop_table("itpm_personal_key")
