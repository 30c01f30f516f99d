"""the affiliate domain: catalogue, raw tracking rows, daily counts

Revision ID: a001
Revises: v001
Create Date: 2026-11-21 09:06:14.906615
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'a001'
down_revision = "v001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('affiliate_conversions',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('tracking_code', sa.String(length=64), nullable=False),
    sa.Column('order_total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('commission', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('product_ids', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_affiliate_conversions_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'order_id', name=op.f('pk_affiliate_conversions'))
    )
    op.create_index('ix_affiliate_conversions_feed', 'affiliate_conversions', ['account_id', 'livemode', sa.literal_column('occurred_at DESC'), sa.literal_column('id DESC')], unique=False)
    op.create_table('affiliate_daily_counts',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('dimension', sa.String(length=8), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('label', sa.String(length=2048), nullable=False),
    sa.Column('clicks', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('pageviews', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('visitors', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('product_views', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('add_to_carts', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('remove_from_carts', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('thank_you_views', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('conversions', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('revenue', sa.Numeric(precision=16, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('commission', sa.Numeric(precision=16, scale=2), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_affiliate_daily_counts_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'dimension', 'day', 'label', name='pk_affiliate_daily_counts',
                            postgresql_include=['clicks', 'pageviews', 'visitors', 'product_views', 'add_to_carts',
                                                'remove_from_carts', 'thank_you_views', 'conversions', 'revenue',
                                                'commission'])
    )
    op.create_table('affiliate_events',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('event_type', sa.String(length=20), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tracking_code', sa.String(length=64), nullable=True),
    sa.Column('session_id', sa.String(length=128), nullable=True),
    sa.Column('page_url', sa.String(length=2048), nullable=True),
    sa.Column('referrer_url', sa.String(length=2048), nullable=True),
    sa.Column('product_id', sa.String(length=64), nullable=True),
    sa.Column('device', sa.String(length=16), nullable=False),
    sa.Column('browser', sa.String(length=64), nullable=False),
    sa.Column('os', sa.String(length=64), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('traffic_source', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_affiliate_events_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'event_id', name=op.f('pk_affiliate_events'))
    )
    op.create_index('ix_affiliate_events_feed', 'affiliate_events', ['account_id', 'livemode', sa.literal_column('occurred_at DESC'), sa.literal_column('id DESC')], unique=False)
    op.create_index('ix_affiliate_events_type_feed', 'affiliate_events', ['account_id', 'livemode', 'event_type', sa.literal_column('occurred_at DESC'), sa.literal_column('id DESC')], unique=False)
    op.create_table('affiliate_products',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_affiliate_products_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'product_id', name=op.f('pk_affiliate_products'))
    )
    op.create_table('affiliate_session_days',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_affiliate_session_days_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'day', 'session_id', name=op.f('pk_affiliate_session_days'))
    )
    op.create_table('affiliates',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_affiliates_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_affiliates'))
    )
    op.create_table('affiliate_tracking_codes',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('affiliate_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['account_id', 'livemode', 'affiliate_id'], ['affiliates.account_id', 'affiliates.livemode', 'affiliates.id'], name='fk_affiliate_tracking_codes_affiliate'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_affiliate_tracking_codes_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'code', name=op.f('pk_affiliate_tracking_codes'))
    )
    # Updated in place by every batch: vacuum often so that finished days are all-visible
    # and the sections' scans stay index-only.
    op.execute("ALTER TABLE affiliate_daily_counts SET (autovacuum_vacuum_scale_factor = 0.02, "
               "autovacuum_analyze_scale_factor = 0.05)")
    # Insert-only tables: vacuum often enough that feed scans stay index-only.
    for table in ("affiliate_events", "affiliate_conversions", "affiliate_session_days"):
        op.execute(f"ALTER TABLE {table} SET (autovacuum_vacuum_insert_scale_factor = 0.05)")


def downgrade() -> None:
    op.drop_table('affiliate_tracking_codes')
    op.drop_table('affiliates')
    op.drop_table('affiliate_session_days')
    op.drop_table('affiliate_products')
    op.drop_index('ix_affiliate_events_type_feed', table_name='affiliate_events')
    op.drop_index('ix_affiliate_events_feed', table_name='affiliate_events')
    op.drop_table('affiliate_events')
    op.drop_table('affiliate_daily_counts')
    op.drop_index('ix_affiliate_conversions_feed', table_name='affiliate_conversions')
    op.drop_table('affiliate_conversions')
