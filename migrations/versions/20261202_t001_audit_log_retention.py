"""The audit log gets a retention: one sanctioned way to delete its expired rows.

The append-only trigger of s001 now lets a DELETE through only for rows older than the
cutoff that `audit_log_expire(before, max_rows)` sets for its own statement (a
transaction-local setting it clears again, passed on to Citus workers too); UPDATE, TRUNCATE and any other DELETE are
still refused for every role. The app role keeps INSERT only on `audit_log` and gets no
EXECUTE on the function, so the guarantee against the services is unchanged. Each call
looks at the `max_rows` oldest rows by id (the primary key, in insertion order) and
deletes those older than the cutoff: a bounded read whatever the table's size, and no
index added to the write path. The maintenance job calls it with AUDIT_RETENTION_DAYS
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
            -- SET LOCAL, not set_config(): on Citus the triggers fire on the workers'
            -- shard placements, and Citus passes a SET LOCAL on to the workers'
            -- connections when citus.propagate_set_commands is 'local' (on plain
            -- PostgreSQL the citus.* setting is an inert placeholder).
            SET LOCAL citus.propagate_set_commands = 'local';
            EXECUTE format('SET LOCAL {SETTING} = %L', before);
            DELETE FROM audit_log WHERE id IN (
                SELECT id FROM (SELECT id, at FROM audit_log ORDER BY id LIMIT max_rows) AS oldest
                WHERE at < before);
            GET DIAGNOSTICS deleted = ROW_COUNT;
            SET LOCAL {SETTING} = '';
            RETURN deleted;
        END $$
    """)
    op.execute("REVOKE ALL ON FUNCTION audit_log_expire(timestamptz, integer) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION audit_log_expire(timestamptz, integer)")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {REFUSE}
        END $$
    """)
