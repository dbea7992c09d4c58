"""Report requests: who asked for which report PDF, rendered by the jobs, and what came of it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 20:40:45
"""

from alembic import op
import sqlalchemy as sa
import itpm.db
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('itpm_report_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report', sa.String(length=64), nullable=False),
    sa.Column('arguments', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', itpm.db.UTCDateTime(), nullable=False),
    sa.Column('dispatched_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('started_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('finished_at', itpm.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['file_id'], ['itpm_file.id'], name=op.f('fk_itpm_report_request_file_id_itpm_file'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['ab_user.id'], name=op.f('fk_itpm_report_request_requested_by_id_ab_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_report_request'))
    )
    with op.batch_alter_table('itpm_report_request', schema=None) as batch_op:
        batch_op.create_index('ix_itpm_report_request_person', ['requested_by_id', 'report'], unique=False)
        batch_op.create_index(batch_op.f('ix_itpm_report_request_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('itpm_report_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_itpm_report_request_status'))
        batch_op.drop_index('ix_itpm_report_request_person')

    op.drop_table('itpm_report_request')
