"""The PostgreSQL store of the rate limiter keeps two window counters per key instead of a log of hits.

The sliding log (an array of every allowed hit's time) made a check O(hits in the window);
the sliding-window counter keeps the current fixed window's start and the counts of it and
of the window before it, so a check costs the same at any load. The table is UNLOGGED and
short-lived: its rows are dropped rather than converted (a limit starts empty, as after a crash).

Revision ID: r001
Revises: s001
Create Date: 2026-12-02 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "r001"
down_revision = "e001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("TRUNCATE rate_limit_windows")
    op.drop_column("rate_limit_windows", "hits")
    op.add_column("rate_limit_windows", sa.Column("window_start_ms", sa.BigInteger(), nullable=False))
    op.add_column("rate_limit_windows", sa.Column("prev_count", sa.Integer(), nullable=False))
    op.add_column("rate_limit_windows", sa.Column("cur_count", sa.Integer(), nullable=False))


def downgrade() -> None:
    op.execute("TRUNCATE rate_limit_windows")
    op.drop_column("rate_limit_windows", "cur_count")
    op.drop_column("rate_limit_windows", "prev_count")
    op.drop_column("rate_limit_windows", "window_start_ms")
    op.add_column("rate_limit_windows", sa.Column("hits", postgresql.ARRAY(sa.BigInteger()), nullable=False))
