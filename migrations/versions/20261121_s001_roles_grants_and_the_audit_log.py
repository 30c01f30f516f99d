"""The app role's grants and the append-only audit log.

The owner role (which runs this) gives `partnerlytics_app` DML on every table and USAGE
on every sequence, now and, through default privileges, for every table it creates later
(new migrations, new partitions); nothing on `alembic_version`; INSERT only on
`audit_log`, which a trigger also keeps append-only for every role. On a database where
the app role does not exist (one role for everything), the grants are skipped.

Revision ID: s001
Revises: d001
Create Date: 2026-11-21 11:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "s001"
down_revision = "d001"
branch_labels = None
depends_on = None

APP = "partnerlytics_app"
GRANTS = [
    f"GRANT USAGE ON SCHEMA public TO {APP}",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP}",
    f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP}",
    f"REVOKE ALL ON alembic_version FROM {APP}",
    f"REVOKE ALL ON audit_log FROM {APP}",
    f"GRANT INSERT ON audit_log TO {APP}",
]
REVOKES = [
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP}",
    f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP}",
    f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP}",
]


def _app_role_exists() -> bool:
    return op.get_bind().execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP}).first() is not None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=True),
        sa.Column("key_id", sa.UUID(), nullable=True),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("grpc_code", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_account_at", "audit_log", ["account_id", "at"], unique=False)
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )
    if _app_role_exists():
        for statement in GRANTS:
            op.execute(statement)


def downgrade() -> None:
    if _app_role_exists():
        for statement in REVOKES:
            op.execute(statement)
    op.drop_index("ix_audit_log_account_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
