"""The two database roles: the owner that migrates and administers, the app that serves.

`partnerlytics_owner` owns the database, its schema and every table; Alembic, partition
maintenance and the admin CLI connect as it (MIGRATION_DATABASE_URL). The services connect
as `partnerlytics_app` (DATABASE_URL): no superuser, no CREATEDB/CREATEROLE, owns
nothing, and holds only the grants the migrations give it (migration s001: DML on the
tables, INSERT only on `audit_log`, nothing on `alembic_version`; default privileges so
that tables the owner creates later are granted too).

`prepare_database` is what a superuser runs once per database: `make run`'s embedded
server and the test fixtures call it; on a server of your own, run the SQL in
docs/architecture.md ("Security and data protection") instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

OWNER = "partnerlytics_owner"
APP = "partnerlytics_app"
_ATTRIBUTES = {
    OWNER: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
    APP: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
}


@dataclass(frozen=True)
class DatabaseUrls:
    """One database as each role reaches it."""

    superuser: str
    owner: str
    app: str


def as_role(url: str, role: str, password: str | None = None) -> str:
    """`url` with another user (and that user's password, or none: trust or ~/.pgpass)."""
    return make_url(url).set(username=role, password=password).render_as_string(hide_password=False)


def ensure_roles(conn: psycopg.Connection) -> None:
    """Creates both roles unless they exist. Roles are cluster-wide and parallel test runs
    share a server, so a concurrent creation is not an error."""
    for role, attributes in _ATTRIBUTES.items():
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            continue
        try:
            conn.execute(sql.SQL("CREATE ROLE {} " + attributes).format(sql.Identifier(role)))
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            pass


def prepare_database(superuser_url: str, database: str) -> DatabaseUrls:
    """Creates the roles and the database (owned by the owner role) unless they exist.

    A database made before the roles existed (an older `.data/postgres`) is handed to
    the owner with everything in its `public` schema, so that migrations can alter it.
    """
    server = make_url(superuser_url)
    maintenance = server.set(database="postgres").render_as_string(hide_password=False)
    target = server.set(database=database).render_as_string(hide_password=False)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        ensure_roles(conn)
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(OWNER)))
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(OWNER)))
    with psycopg.connect(target, autocommit=True) as conn:
        ident = {"owner": sql.Identifier(OWNER), "app": sql.Identifier(APP), "db": sql.Identifier(database)}
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {owner}").format(**ident))
        # Nobody but the owner creates objects (PostgreSQL 15+ default; older servers granted it).
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {db} TO {app}").format(**ident))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {app}").format(**ident))
        _adopt(conn)
    return DatabaseUrls(superuser=target, owner=as_role(target, OWNER), app=as_role(target, APP))


def _adopt(conn: psycopg.Connection) -> None:
    """Gives the owner role what others (the superuser, before the roles existed) own in `public`."""
    owned = conn.execute(
        """
        SELECT format('ALTER %%s %%I.%%I OWNER TO %%I',
                      CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                     WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                      n.nspname, c.relname, %s::text)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> %s
          AND NOT (c.relkind = 'S' AND EXISTS (
              SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
        UNION ALL
        SELECT format('ALTER FUNCTION %%s OWNER TO %%I', p.oid::regprocedure, %s::text)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s
        """,
        (OWNER, OWNER, OWNER, OWNER),
    ).fetchall()
    for (statement,) in owned:
        conn.execute(statement)


def superuser_role(url: str) -> str | None:
    """The name of the role `url` logs in as when it is a superuser, else None."""
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, connect_timeout=10) as conn:
        name, superuser = conn.execute(
            "SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    return name if superuser else None


def refuse_superuser(url: str) -> None:
    """Stops `make run` when the services' DATABASE_URL is a superuser's: they would run
    with every privilege (past the audit log's grants, able to drop anything) while the
    banner says "the app role". README.md, "Your own PostgreSQL", creates the two roles."""
    role = superuser_role(url)
    if role is not None:
        from platform_core.config import ConfigError

        raise ConfigError(
            f"configuration error: DATABASE_URL logs in as {role!r}, a superuser. The services run as "
            f"the app role {APP} (no superuser, owns nothing) and migrations as the owner role {OWNER}: "
            f"create both once on the server (README.md, 'Your own PostgreSQL'), then set "
            f"DATABASE_URL to {APP}'s URL and MIGRATION_DATABASE_URL to {OWNER}'s."
        )
