"""Approval requests, their tasks (one per approver and step), and delegations of approvals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:41:56.877021
"""

from alembic import op
import sqlalchemy as sa
import itpm.db
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("itpm_history", sa.Column("note", sa.Text(), nullable=False, server_default=""))
    op.create_table('itpm_approval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('transition', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('requested_at', itpm.db.UTCDateTime(), nullable=False),
    sa.Column('decided_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['requested_by_id'], ['ab_user.id'], name=op.f('fk_itpm_approval_requested_by_id_ab_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_approval'))
    )
    with op.batch_alter_table('itpm_approval', schema=None) as batch_op:
        batch_op.create_index('ix_itpm_approval_record', ['record_type', 'record_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_itpm_approval_state'), ['state'], unique=False)

    op.create_table('itpm_delegation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_id', sa.Integer(), nullable=False),
    sa.Column('to_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('created_at', itpm.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['from_id'], ['ab_user.id'], name=op.f('fk_itpm_delegation_from_id_ab_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_id'], ['ab_user.id'], name=op.f('fk_itpm_delegation_to_id_ab_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_delegation'))
    )
    with op.batch_alter_table('itpm_delegation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_itpm_delegation_from_id'), ['from_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_itpm_delegation_to_id'), ['to_id'], unique=False)

    op.create_table('itpm_approval_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('approval_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('step_name', sa.String(length=40), nullable=False),
    sa.Column('approver_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('decided_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('due_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('escalated', sa.Boolean(), nullable=False),
    sa.Column('via', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['approval_id'], ['itpm_approval.id'], name=op.f('fk_itpm_approval_task_approval_id_itpm_approval'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['approver_id'], ['ab_user.id'], name=op.f('fk_itpm_approval_task_approver_id_ab_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['ab_user.id'], name=op.f('fk_itpm_approval_task_decided_by_id_ab_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_approval_task'))
    )
    with op.batch_alter_table('itpm_approval_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_itpm_approval_task_approval_id'), ['approval_id'], unique=False)
        batch_op.create_index('ix_itpm_approval_task_approver', ['approver_id', 'decision'], unique=False)
        batch_op.create_index(batch_op.f('ix_itpm_approval_task_due_at'), ['due_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("itpm_history") as batch_op:
        batch_op.drop_column("note")
    with op.batch_alter_table('itpm_approval_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_itpm_approval_task_due_at'))
        batch_op.drop_index('ix_itpm_approval_task_approver')
        batch_op.drop_index(batch_op.f('ix_itpm_approval_task_approval_id'))

    op.drop_table('itpm_approval_task')
    with op.batch_alter_table('itpm_delegation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_itpm_delegation_to_id'))
        batch_op.drop_index(batch_op.f('ix_itpm_delegation_from_id'))

    op.drop_table('itpm_delegation')
    with op.batch_alter_table('itpm_approval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_itpm_approval_state'))
        batch_op.drop_index('ix_itpm_approval_record')

    op.drop_table('itpm_approval')
