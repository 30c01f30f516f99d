"""The audit log gets a retention: one sanctioned way to delete its expired rows.

The append-only trigger of s001 now lets a DELETE through only for rows older than the
cutoff that `audit_log_expire(before, max_rows)` sets for its own statement (a
transaction-local setting it clears again); UPDATE, TRUNCATE and any other DELETE are
still refused for every role. The app role keeps INSERT only on `audit_log` and gets no
EXECUTE on the function, so the guarantee against the services is unchanged. A BRIN
index on `at` (a few pages for an append-only table) bounds each batch's scan to the
expired block ranges. The maintenance job calls it with AUDIT_RETENTION_DAYS
(docs/lifecycle.md).

Revision ID: t001
Revises: r001
Create Date: 2026-12-02 16:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "t001"
down_revision = "r001"
branch_labels = None
depends_on = None

SETTING = "partnerlytics.audit_log_expire_before"
REFUSE = """
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
"""


def upgrade() -> None:
    op.execute(f"""
        CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' THEN
                IF OLD.at < nullif(current_setting('{SETTING}', true), '')::timestamptz THEN
                    RETURN OLD;
                END IF;
            END IF;
            {REFUSE}
        END $$
    """)
    op.execute(f"""
        CREATE FUNCTION audit_log_expire(before timestamptz, max_rows integer) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
            deleted integer;
        BEGIN
            PERFORM set_config('{SETTING}', before::text, true);
            DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < before LIMIT max_rows);
            GET DIAGNOSTICS deleted = ROW_COUNT;
            PERFORM set_config('{SETTING}', '', true);
            RETURN deleted;
        END $$
    """)
    op.execute("REVOKE ALL ON FUNCTION audit_log_expire(timestamptz, integer) FROM PUBLIC")
    op.create_index("ix_audit_log_at", "audit_log", ["at"], postgresql_using="brin")


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log", postgresql_using="brin")
    op.execute("DROP FUNCTION audit_log_expire(timestamptz, integer)")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {REFUSE}
        END $$
    """)
