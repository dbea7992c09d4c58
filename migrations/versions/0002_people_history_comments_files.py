"""Departments and teams, where a person belongs, record history, comments, files, number sequences.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:18:58.415954
"""

from alembic import op
import sqlalchemy as sa
import itpm.db
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('itpm_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author', sa.String(length=128), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', itpm.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['ab_user.id'], name=op.f('fk_itpm_comment_author_id_ab_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_comment'))
    )
    with op.batch_alter_table('itpm_comment', schema=None) as batch_op:
        batch_op.create_index('ix_itpm_comment_record', ['record_type', 'record_id', 'id'], unique=False)

    op.create_table('itpm_department',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_department')),
    sa.UniqueConstraint('name', name=op.f('uq_itpm_department_name'))
    )
    op.create_table('itpm_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('field', sa.String(length=40), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=128), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_by', sa.String(length=128), nullable=False),
    sa.Column('uploaded_at', itpm.db.UTCDateTime(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['ab_user.id'], name=op.f('fk_itpm_file_uploaded_by_id_ab_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_file'))
    )
    with op.batch_alter_table('itpm_file', schema=None) as batch_op:
        batch_op.create_index('ix_itpm_file_record', ['record_type', 'record_id'], unique=False)

    op.create_table('itpm_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('at', itpm.db.UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('changes', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['ab_user.id'], name=op.f('fk_itpm_history_actor_id_ab_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_history'))
    )
    with op.batch_alter_table('itpm_history', schema=None) as batch_op:
        batch_op.create_index('ix_itpm_history_record', ['record_type', 'record_id', 'id'], unique=False)

    op.create_table('itpm_sequence',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_itpm_sequence'))
    )
    op.create_table('itpm_team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['itpm_department.id'], name=op.f('fk_itpm_team_department_id_itpm_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_itpm_team')),
    sa.UniqueConstraint('name', name=op.f('uq_itpm_team_name'))
    )
    user_columns = [
        ("department_id", sa.Integer(), "itpm_department"),
        ("team_id", sa.Integer(), "itpm_team"),
        ("client_id", sa.Integer(), None),
        ("manager_id", sa.Integer(), "ab_user"),
        ("locale", sa.String(length=8), None),
        ("timezone", sa.String(length=64), None),
    ]
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, type_, target in user_columns:
        if sqlite and target:
            # SQLite adds a column with its reference inline; no table rebuild (ab_user is
            # referenced by many tables, and rebuilding it would need foreign keys off).
            op.execute(f"ALTER TABLE ab_user ADD COLUMN {name} INTEGER REFERENCES {target} (id)")
        else:
            op.add_column("ab_user", sa.Column(name, type_, nullable=True))
            if target:
                op.create_foreign_key(f"fk_ab_user_{name}_{target}", "ab_user", target, [name], ["id"])
    op.create_index("ix_ab_user_client_id", "ab_user", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_ab_user_client_id", "ab_user")
    with op.batch_alter_table("ab_user") as batch_op:
        for name in ("timezone", "locale", "manager_id", "client_id", "team_id", "department_id"):
            batch_op.drop_column(name)
    for table in ("itpm_team", "itpm_sequence", "itpm_history", "itpm_file", "itpm_department", "itpm_comment"):
        op.drop_table(table)
