"""Action runs indexed by automation and finish time: round-robin assignment asks whom a rule chose last.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 20:40:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_itpm_action_run_last", "itpm_action_run", ["automation", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_itpm_action_run_last", "itpm_action_run")
