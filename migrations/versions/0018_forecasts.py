"""Issued forecasts, kept for the backtest (issue 17).

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-03 15:05:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import itpm.db

revision = "0018"
down_revision = "0015"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
)


def upgrade() -> None:
    op.create_table(
        "itpm_forecast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_type", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=True),
        sa.Column("issued_at", itpm.db.UTCDateTime(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("p50", sa.Date(), nullable=True),
        sa.Column("p85", sa.Date(), nullable=True),
        sa.Column("p95", sa.Date(), nullable=True),
        sa.Column("on_time", sa.Float(), nullable=True),
        sa.Column("planned", sa.Date(), nullable=True),
        sa.Column("linear", sa.Date(), nullable=True),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("inputs", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_itpm_forecast")),
        sa.UniqueConstraint(
            "project_type", "project_id", "as_of", name=op.f("uq_itpm_forecast_project_type")
        ),
    )
    op.create_index(op.f("ix_itpm_forecast_project_id"), "itpm_forecast", ["project_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_itpm_forecast_project_id"), table_name="itpm_forecast")
    op.drop_table("itpm_forecast")
