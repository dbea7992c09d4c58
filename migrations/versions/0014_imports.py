"""Imports: runs of CSV/XLSX files into record types (with their checkpoint) and saved column mappings.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 08:10:00
"""

from alembic import op
import sqlalchemy as sa
import itpm.db
from sqlalchemy.dialects import postgresql

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('itpm_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('encoding', sa.String(length=20), nullable=False),
    sa.Column('mapping', JSON, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=True),
    sa.Column('run_automations', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=False),
    sa.Column('done_rows', sa.Integer(), nullable=False),
    sa.Column('inserted', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('problems', JSON, nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('actor', JSON, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', itpm.db.UTCDateTime(), nullable=False),
    sa.Column('dispatched_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('started_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('beat_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('finished_at', itpm.db.UTCDateTime(), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['requested_by_id'], ['ab_user.id'], name=op.f('fk_itpm_import_requested_by_id_ab_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_import'))
    )
    with op.batch_alter_table('itpm_import', schema=None) as batch_op:
        batch_op.create_index('ix_itpm_import_person', ['requested_by_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_itpm_import_status'), ['status'], unique=False)
    op.create_table('itpm_import_mapping',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('body', JSON, nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=False),
    sa.Column('updated_at', itpm.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_import_mapping')),
    sa.UniqueConstraint('name', name=op.f('uq_itpm_import_mapping_name'))
    )


def downgrade() -> None:
    op.drop_table('itpm_import_mapping')
    with op.batch_alter_table('itpm_import', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_itpm_import_status'))
        batch_op.drop_index('ix_itpm_import_person')
    op.drop_table('itpm_import')
