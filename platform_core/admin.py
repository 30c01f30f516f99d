"""Operator command line: accounts and API keys.

    python -m platform_core.admin create-account "Acme Partners"
    python -m platform_core.admin create-key ACCOUNT_ID --mode test [--scopes analytics:read,ingest:write]
    python -m platform_core.admin list-keys ACCOUNT_ID
    python -m platform_core.admin revoke-key KEY_ID

The secret of a new key is printed once and never stored; only its SHA-256 digest is.
Admin commands connect as the owner role: MIGRATION_DATABASE_URL, else DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

from platform_core import accounts, db
from platform_core.config import migration_database_url


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a UUID") from None


async def _run(args: argparse.Namespace) -> int:
    engine = db.create_engine(migration_database_url(), pool_size=1)
    try:
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
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_core.admin", description=__doc__,
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
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
