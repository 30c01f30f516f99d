"""accounts, keys and the instance domain

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 07:17:23.458854
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('mode', sa.String(length=4), nullable=False),
    sa.Column('key_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('scopes', postgresql.ARRAY(sa.String(length=40)), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_api_keys_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_index(op.f('ix_api_keys_account_id'), 'api_keys', ['account_id'], unique=False)
    op.create_table('instance_hourly_counts',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('is_purchase', sa.Boolean(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_instance_hourly_counts_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'hour', 'is_purchase', name=op.f('pk_instance_hourly_counts'))
    )
    op.create_table('instances',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('campaign_id', sa.UUID(), nullable=False),
    sa.Column('insider_id', sa.UUID(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('is_purchase', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('purchased_insider_id', sa.Uuid(), nullable=True),
    sa.Column('ingested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_instances_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_instances'))
    )
    op.create_index('ix_instances_purchase_window', 'instances', ['account_id', 'livemode', 'is_purchase', sa.literal_column('started_at DESC'), 'id'], unique=False, postgresql_include=['insider_id', 'purchased_insider_id'])
    op.create_index('ix_instances_window', 'instances', ['account_id', 'livemode', sa.literal_column('started_at DESC'), 'id'], unique=False, postgresql_include=['is_purchase', 'insider_id', 'purchased_insider_id'])
    op.create_table('events',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('instance_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tracker_type', sa.String(length=20), nullable=False),
    sa.Column('reference_id', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['account_id', 'livemode', 'instance_id'], ['instances.account_id', 'instances.livemode', 'instances.id'], name='fk_events_instance'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_events_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_events'))
    )
    op.create_index('ix_events_instance', 'events', ['account_id', 'livemode', 'instance_id', 'created_at', 'id'], unique=False)
    op.create_table('insider_rewards',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('instance_id', sa.UUID(), nullable=False),
    sa.Column('insider_id', sa.UUID(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id', 'livemode', 'instance_id'], ['instances.account_id', 'instances.livemode', 'instances.id'], name='fk_insider_rewards_instance'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_insider_rewards_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_insider_rewards'))
    )
    op.create_index('ix_insider_rewards_instance', 'insider_rewards', ['account_id', 'livemode', 'instance_id', 'created_at'], unique=False)
    op.create_table('orders',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('instance_id', sa.UUID(), nullable=False),
    sa.Column('purchased_insider_id', sa.UUID(), nullable=False),
    sa.Column('total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('discounted_price', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('cashfunds_used', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('credits_used', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id', 'livemode', 'instance_id'], ['instances.account_id', 'instances.livemode', 'instances.id'], name='fk_orders_instance'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_orders_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'id', name=op.f('pk_orders')),
    sa.UniqueConstraint('account_id', 'livemode', 'instance_id', name='uq_orders_instance')
    )
    op.create_table('order_items',
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['account_id', 'livemode', 'order_id'], ['orders.account_id', 'orders.livemode', 'orders.id'], name='fk_order_items_order'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_order_items_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'livemode', 'order_id', 'line', name=op.f('pk_order_items'))
    )
    # Insert-heavy tables: vacuum after 5% new rows, not 20%, so that the visibility map
    # stays current and the list endpoint keeps its index-only scans (docs/database.md).
    for table in ("instances", "events", "instance_hourly_counts"):
        op.execute(
            f"ALTER TABLE {table} SET (autovacuum_vacuum_insert_scale_factor = 0.05, "
            "autovacuum_analyze_scale_factor = 0.05)"
        )


def downgrade() -> None:
    op.drop_table('order_items')
    op.drop_table('orders')
    op.drop_index('ix_insider_rewards_instance', table_name='insider_rewards')
    op.drop_table('insider_rewards')
    op.drop_index('ix_events_instance', table_name='events')
    op.drop_table('events')
    op.drop_index('ix_instances_window', table_name='instances', postgresql_include=['is_purchase', 'insider_id', 'purchased_insider_id'])
    op.drop_index('ix_instances_purchase_window', table_name='instances', postgresql_include=['insider_id', 'purchased_insider_id'])
    op.drop_table('instances')
    op.drop_table('instance_hourly_counts')
    op.drop_index(op.f('ix_api_keys_account_id'), table_name='api_keys')
    op.drop_table('api_keys')
    op.drop_table('accounts')
