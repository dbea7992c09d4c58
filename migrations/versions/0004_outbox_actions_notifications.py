"""The outbox of record events, action runs (idempotency keys, delays, retries), in-app notifications, webhook deliveries; skills and absences of people.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 19:18:35.935785
"""

from alembic import op
import sqlalchemy as sa
import itpm.db
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('itpm_action_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('automation', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('started_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('finished_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('spec', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_action_run')),
    sa.UniqueConstraint('key', name=op.f('uq_itpm_action_run_key'))
    )
    with op.batch_alter_table('itpm_action_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_itpm_action_run_automation'), ['automation'], unique=False)
        batch_op.create_index(batch_op.f('ix_itpm_action_run_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_itpm_action_run_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_itpm_action_run_status'), ['status'], unique=False)

    op.create_table('itpm_notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=False),
    sa.Column('created_at', itpm.db.UTCDateTime(), nullable=False),
    sa.Column('read_at', itpm.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['ab_user.id'], name=op.f('fk_itpm_notification_person_id_ab_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_notification')),
    sa.UniqueConstraint('key', name=op.f('uq_itpm_notification_key'))
    )
    with op.batch_alter_table('itpm_notification', schema=None) as batch_op:
        batch_op.create_index('ix_itpm_notification_person', ['person_id', 'read_at'], unique=False)

    op.create_table('itpm_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', itpm.db.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=True),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('dispatched_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('handled_at', itpm.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_outbox'))
    )
    with op.batch_alter_table('itpm_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_itpm_outbox_dispatched_at'), ['dispatched_at'], unique=False)

    op.create_table('itpm_webhook_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('payload', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('next_attempt_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', itpm.db.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', itpm.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_webhook_delivery')),
    sa.UniqueConstraint('key', name=op.f('uq_itpm_webhook_delivery_key'))
    )
    with op.batch_alter_table('itpm_webhook_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_itpm_webhook_delivery_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_itpm_webhook_delivery_status'), ['status'], unique=False)

    with op.batch_alter_table('ab_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skills', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('away_until', sa.Date(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('ab_user', schema=None) as batch_op:
        batch_op.drop_column('away_until')
        batch_op.drop_column('skills')

    with op.batch_alter_table('itpm_webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_itpm_webhook_delivery_status'))
        batch_op.drop_index(batch_op.f('ix_itpm_webhook_delivery_next_attempt_at'))

    op.drop_table('itpm_webhook_delivery')
    with op.batch_alter_table('itpm_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_itpm_outbox_dispatched_at'))

    op.drop_table('itpm_outbox')
    with op.batch_alter_table('itpm_notification', schema=None) as batch_op:
        batch_op.drop_index('ix_itpm_notification_person')

    op.drop_table('itpm_notification')
    with op.batch_alter_table('itpm_action_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_itpm_action_run_status'))
        batch_op.drop_index(batch_op.f('ix_itpm_action_run_event_id'))
        batch_op.drop_index(batch_op.f('ix_itpm_action_run_due_at'))
        batch_op.drop_index(batch_op.f('ix_itpm_action_run_automation'))

    op.drop_table('itpm_action_run')
