"""The audit log sealed in one call on PostgreSQL (`itpm_audit_seal`), and the append-only rule letting an
entry of the sealing transaction take the context the application gives as it seals.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 04:40:00
"""

from alembic import op
from sqlalchemy import text

from itpm.audit import chain, triggers

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    connection.execute(text(triggers.FUNCTIONS))  # CREATE OR REPLACE: the triggers keep their arguments
    connection.execute(text(chain.SEAL_FUNCTION))


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP FUNCTION IF EXISTS itpm_audit_seal(bigint, text, text, text, boolean, integer[], text[])"))
