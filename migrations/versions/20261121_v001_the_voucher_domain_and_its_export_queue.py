"""The voucher domain (vouchers, customers, validations, redemptions) and its export queue.

Revision ID: v001
Revises: 0003
Create Date: 2026-11-21 09:05:16.588677
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'v001'
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('voucher_customers',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('segment', sa.String(length=64), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_voucher_customers_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_voucher_customers'))
    )
    op.create_table('voucher_daily',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('voucher_id', sa.String(length=18), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('uses', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('discount', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('gross', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('validations', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_voucher_daily_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'voucher_id', 'day', name='pk_voucher_daily',
                            postgresql_include=['uses', 'discount', 'gross', 'validations'])
    )
    op.create_table('voucher_exports',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=23), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('format', sa.String(length=4), nullable=False),
    sa.Column('voucher_ids', postgresql.ARRAY(sa.String(length=18)), nullable=False),
    sa.Column('metrics', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('estimated_completion', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('file_name', sa.Text(), nullable=True),
    sa.Column('file_size', sa.BigInteger(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_voucher_exports_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_voucher_exports'))
    )
    op.create_index('ix_voucher_exports_expiry', 'voucher_exports', ['expires_at'], unique=False, postgresql_where=sa.text("status = 'completed'"))
    op.create_index('ix_voucher_exports_queue', 'voucher_exports', ['created_at'], unique=False, postgresql_where=sa.text("status = 'processing'"))
    op.create_table('voucher_redemptions',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('voucher_id', sa.String(length=18), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('order_total', sa.BigInteger(), nullable=False),
    sa.Column('discount', sa.BigInteger(), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_voucher_redemptions_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_voucher_redemptions'))
    )
    op.create_index('ix_voucher_redemptions_customer', 'voucher_redemptions', ['account_id', 'livemode', 'customer_id', 'redeemed_at'], unique=False, postgresql_include=['order_total'])
    op.create_index('ix_voucher_redemptions_period', 'voucher_redemptions', ['account_id', 'livemode', 'voucher_id', 'redeemed_at'], unique=False, postgresql_include=['customer_id', 'order_total', 'discount'])
    op.create_table('voucher_validations',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('voucher_id', sa.String(length=18), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('order_amount', sa.BigInteger(), nullable=False),
    sa.Column('validated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_voucher_validations_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_voucher_validations'))
    )
    op.create_index('ix_voucher_validations_period', 'voucher_validations', ['account_id', 'livemode', 'voucher_id', 'validated_at'], unique=False, postgresql_include=['customer_id'])
    op.create_table('vouchers',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=18), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_vouchers_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_vouchers'))
    )
    # Insert-heavy tables: vacuum after 5% new rows so that the analytics reads stay
    # index-only scans (docs/database.md).
    for table in ("voucher_validations", "voucher_redemptions", "voucher_daily"):
        op.execute(
            f"ALTER TABLE {table} SET (autovacuum_vacuum_insert_scale_factor = 0.05, "
            "autovacuum_analyze_scale_factor = 0.05)"
        )


def downgrade() -> None:
    op.drop_table('vouchers')
    op.drop_index('ix_voucher_validations_period', table_name='voucher_validations', postgresql_include=['customer_id'])
    op.drop_table('voucher_validations')
    op.drop_index('ix_voucher_redemptions_period', table_name='voucher_redemptions', postgresql_include=['customer_id', 'order_total', 'discount'])
    op.drop_index('ix_voucher_redemptions_customer', table_name='voucher_redemptions', postgresql_include=['order_total'])
    op.drop_table('voucher_redemptions')
    op.drop_index('ix_voucher_exports_queue', table_name='voucher_exports', postgresql_where=sa.text("status = 'processing'"))
    op.drop_index('ix_voucher_exports_expiry', table_name='voucher_exports', postgresql_where=sa.text("status = 'completed'"))
    op.drop_table('voucher_exports')
    op.drop_table('voucher_customers')
    op.drop_table('voucher_daily')
