"""Operator command line: accounts and API keys.

    python -m services.admin create-account "Acme Partners"
    python -m services.admin create-key ACCOUNT_ID --mode test [--scopes analytics:read,ingest:write]
    python -m services.admin list-keys ACCOUNT_ID
    python -m services.admin revoke-key KEY_ID
    python -m services.admin set-retention ACCOUNT_ID [--raw-days N] [--aggregate-days M]
    python -m services.admin show-retention ACCOUNT_ID
    python -m services.admin reset-retention ACCOUNT_ID
    python -m services.admin erase --kind instance|customer|visitor --account ACCOUNT_ID --id ID
    python -m services.admin erase --kind visitor --account ACCOUNT_ID --ip 203.0.113.7

The secret of a new key is printed once and never stored; only its SHA-256 digest is.
Admin commands connect as the owner role: MIGRATION_DATABASE_URL, else DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import json
import pathlib
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from platform_core import accounts, db, erasure, lifecycle
from platform_core.config import migration_database_url


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a UUID") from None


async def _erase(engine, args: argparse.Namespace, hooks: Hooks) -> int:
    """One subject erased in one transaction (platform_core/erasure.py); files after commit."""
    async with engine.begin() as conn:
        subjects = ([args.id] if args.id else
                    await erasure.visitor_hashes_of_ip(conn, args.account, args.ip, hooks.landing))
        done = await erasure.erase(conn, args.kind, args.account, subjects, actor=args.actor,
                                   export_dir=hooks.export_dir(), landing=hooks.landing,
                                   family_exports=hooks.family_exports)
    for path in done.files:
        path.unlink(missing_ok=True)
    print(json.dumps({"erased": args.kind, "account": str(args.account), "subjects": len(subjects),
                      "rows": done.counts, "export_files_deleted": len(done.files)}))
    return 0


async def _run(args: argparse.Namespace, hooks: Hooks) -> int:
    engine = db.create_engine(migration_database_url(), pool_size=1)
    try:
        if args.command == "erase":
            return await _erase(engine, args, hooks)
        async with db.sessionmaker(engine)() as session:
            if args.command == "create-account":
                account = await accounts.create_account(session, args.name)
                await session.commit()
                print(f"account {account.id} {account.name!r}")
            elif args.command == "create-key":
                scopes = args.scopes.split(",") if args.scopes else None
                try:
                    key, secret = await accounts.create_key(session, args.account_id, args.mode, scopes, args.name)
                except (ValueError, LookupError) as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return 2
                await session.commit()
                print(f"key {key.id} mode={key.mode} scopes={','.join(key.scopes)}")
                print(f"secret (shown once, store it now): {secret}")
            elif args.command == "list-keys":
                for key in await accounts.list_keys(session, args.account_id):
                    state = f"revoked {key.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if key.revoked_at else "active"
                    print(f"{key.id}  sk_{key.mode}_...{key.last4}  {','.join(key.scopes)}  {state}  {key.name}")
            elif args.command == "revoke-key":
                if not await accounts.revoke_key(session, args.key_id):
                    print(f"error: no active key {args.key_id}", file=sys.stderr)
                    return 2
                await session.commit()
                print(f"revoked {args.key_id}")
            elif args.command in RETENTION_COMMANDS:
                return await _retention(session, args)
    finally:
        await engine.dispose()
    return 0


RETENTION_COMMANDS = ("set-retention", "show-retention", "reset-retention")


def _add_retention_commands(commands) -> None:
    """How long an account keeps raw and pre-aggregated rows (docs/lifecycle.md)."""
    set_retention = commands.add_parser(
        "set-retention", help="set an account's retention (an option left out keeps its current value)")
    set_retention.add_argument("account_id", type=_uuid)
    set_retention.add_argument("--raw-days", type=int, help=f"raw events (default {lifecycle.DEFAULT_RAW_DAYS})")
    set_retention.add_argument(
        "--aggregate-days", type=int,
        help=f"pre-aggregated rows, at least --raw-days (default {lifecycle.DEFAULT_AGGREGATE_DAYS})")
    for name, text in (("show-retention", "show an account's retention"),
                       ("reset-retention", "return an account to the default retention")):
        commands.add_parser(name, help=text).add_argument("account_id", type=_uuid)


async def _retention(session, args: argparse.Namespace) -> int:
    if await session.get(accounts.Account, args.account_id) is None:
        print(f"error: no account {args.account_id}", file=sys.stderr)
        return 2
    if args.command == "set-retention":
        current = await lifecycle.get_retention(session, args.account_id)
        raw = current.raw_days if args.raw_days is None else args.raw_days
        aggregate = current.aggregate_days if args.aggregate_days is None else args.aggregate_days
        try:
            await lifecycle.set_retention(session, args.account_id, raw, aggregate)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        await session.commit()
    elif args.command == "reset-retention":
        await lifecycle.reset_retention(session, args.account_id)
        await session.commit()
    policy = await lifecycle.get_retention(session, args.account_id)
    source = "set" if policy.explicit else "default"
    print(f"retention {policy.account_id} raw_days={policy.raw_days} aggregate_days={policy.aggregate_days} ({source})")
    return 0


@dataclass(frozen=True)
class Hooks:
    """What the CLI needs from the families, passed in by its entry point (services/admin.py)
    so that platform_core imports no service."""

    landing: erasure.LandingHooks
    export_dir: Callable[[], pathlib.Path]  # the voucher exports' folder (read when erasing)
    # The export service's jobs and files (services/exports); None: not erased.
    family_exports: erasure.FamilyExports | None = None


def main(hooks: Hooks, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create_account = commands.add_parser("create-account", help="create a partner account")
    create_account.add_argument("name")
    create_key = commands.add_parser("create-key", help="create a secret key (printed once)")
    create_key.add_argument("account_id", type=_uuid)
    create_key.add_argument("--mode", choices=accounts.MODES, required=True)
    create_key.add_argument("--scopes", help=f"comma-separated, from {','.join(accounts.SCOPES)} (default: all)")
    create_key.add_argument("--name", default="", help="a label for operators")
    list_keys = commands.add_parser("list-keys", help="list an account's keys (never their secrets)")
    list_keys.add_argument("account_id", type=_uuid)
    revoke = commands.add_parser("revoke-key", help="revoke a key")
    revoke.add_argument("key_id", type=_uuid)
    _add_retention_commands(commands)
    erase = commands.add_parser("erase", help="erase one person's data from every table of one account")
    erase.add_argument("--kind", choices=erasure.KINDS, required=True)
    erase.add_argument("--account", type=_uuid, required=True, help="the account whose data it is")
    subject = erase.add_mutually_exclusive_group(required=True)
    subject.add_argument("--id", help="the instance id (UUID), the voucher customer id, or a landing visitor hash")
    subject.add_argument("--ip", help="visitor only: every hash of this IP address under the salts still kept")
    erase.add_argument("--actor", default=getpass.getuser(), help="who asked for it (audit log; default: you)")
    args = parser.parse_args(argv)
    if args.command == "erase":
        if args.ip and args.kind != "visitor":
            parser.error("--ip identifies a landing visitor only (--kind visitor)")
        try:
            if args.kind == "instance" and args.id:
                _uuid(args.id)
            if args.ip:
                ipaddress.ip_address(args.ip)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            parser.error(str(exc))
    return asyncio.run(_run(args, hooks))
