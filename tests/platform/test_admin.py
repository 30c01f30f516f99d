"""The operator CLI and the key format: keys are shown once and stored only as hashes."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

import psycopg
import pytest

from platform_core import accounts
from platform_core.config import ConfigError, load_settings
from platform_core.server import grpc_port
from services.registry import family


def admin(database_url: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI as operators run it: as the owner role (MIGRATION_DATABASE_URL)."""
    env = {**os.environ, "MIGRATION_DATABASE_URL": database_url}
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "services.admin", *args], env=env, capture_output=True, text=True)


def test_create_list_and_revoke_keys(owner_database_url):
    database_url = owner_database_url
    created = admin(database_url, "create-account", "Acme Partners")
    account_id = re.search(r"account (\S+)", created.stdout).group(1)
    made = admin(database_url, "create-key", account_id, "--mode", "live", "--scopes", "analytics:read")
    secret = re.search(r"(sk_live_[A-Za-z0-9]{32})", made.stdout).group(1)
    key_id = re.search(r"key (\S+)", made.stdout).group(1)
    listed = admin(database_url, "list-keys", account_id)
    assert secret not in listed.stdout and f"sk_live_...{secret[-4:]}" in listed.stdout and "active" in listed.stdout
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT key_hash, scopes FROM api_keys WHERE id = %s", (key_id,)).fetchone()
        dump = conn.execute("SELECT string_agg(t::text, '') FROM api_keys t").fetchone()[0]
    assert bytes(stored[0]) == hashlib.sha256(secret.encode()).digest()
    assert stored[1] == ["analytics:read"]
    assert secret[8:] not in dump
    assert admin(database_url, "revoke-key", key_id).returncode == 0
    assert "revoked" in admin(database_url, "list-keys", account_id).stdout
    assert admin(database_url, "revoke-key", key_id).returncode == 2


def test_unknown_scopes_are_refused(owner_database_url):
    database_url = owner_database_url
    created = admin(database_url, "create-account", "Scoped")
    account_id = re.search(r"account (\S+)", created.stdout).group(1)
    result = admin(database_url, "create-key", account_id, "--mode", "test", "--scopes", "admin:all")
    assert result.returncode == 2 and "unknown scopes" in result.stderr


@pytest.mark.parametrize("mode", accounts.MODES)
def test_generated_keys_have_the_documented_format(mode):
    keys = {accounts.generate_key(mode) for _ in range(200)}
    assert len(keys) == 200
    assert all(re.fullmatch(rf"sk_{mode}_[A-Za-z0-9]{{32}}", k) for k in keys)


def _with_checksum(body: str) -> str:
    return body + accounts.key_checksum(body)


@pytest.mark.parametrize("key,ok", [
    (_with_checksum("sk_live_" + "a" * 26), True), (_with_checksum("sk_test_" + "A1" * 13), True),
    ("sk_live_" + "a" * 32, False), ("sk_test_" + "A1" * 16, False),  # the format, not the checksum
    (_with_checksum("sk_live_" + "a" * 25), False), (_with_checksum("sk_live_" + "a" * 27), False),
    (_with_checksum("sk_prod_" + "a" * 26), False), ("sk_test_" + "a" * 31 + "-", False),
    # a valid key's checksum moved to the other mode's prefix
    ("sk_test_" + _with_checksum("sk_live_" + "a" * 26)[8:], False),
])
def test_key_format_check(key, ok):
    assert accounts.is_well_formed(key) is ok


def test_the_demo_key_carries_a_valid_checksum():
    from stack.demo import DEMO_KEY

    assert accounts.is_well_formed(DEMO_KEY) and DEMO_KEY.startswith("sk_test_")


def test_missing_database_url_stops_with_a_clear_message(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        load_settings()


def test_malformed_numbers_stop_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://x/y")
    monkeypatch.setenv("INSTANCE_GRPC_PORT", "eighty")
    with pytest.raises(ConfigError, match="INSTANCE_GRPC_PORT='eighty' is not an integer"):
        grpc_port(family("instance"))  # what run_service reads before anything starts
    monkeypatch.setenv("DB_POOL_SIZE", "ten")
    with pytest.raises(ConfigError, match="DB_POOL_SIZE='ten' is not an integer"):
        load_settings()


def test_rate_limits_are_configurable_per_deployment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://x/y")
    monkeypatch.setenv("RATE_LIMITS", "instances.list=5/60")
    limits = load_settings().rate_limits
    assert (limits["instances.list"], limits["instances.details"]) == ((5, 60), (50, 3600))


def test_the_service_refuses_to_start_without_a_database_url():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run([sys.executable, "-m", "services.instance"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr
