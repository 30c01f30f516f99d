"""Read-only sessions through the real gateway: a key exchanged for a token that reads its
own account and mode only, writes nothing, expires and is refused once revoked."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.landing.test_landing_grpc import create_tenant


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def create_session(http: httpx.Client, key: str) -> dict:
    response = http.post("/partner/v1/sessions", headers=bearer(key), json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def without_request_ids(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("request_id", "meta")}


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway.gateway_url, timeout=10) as client:
        yield client


async def test_a_session_is_a_short_lived_token_stored_only_as_its_hash(http, make_tenant, deps):
    account = await make_tenant()
    session = create_session(http, account.test_key)
    assert session["token"].startswith("sess_test_") and len(session["token"]) == len("sess_test_") + 40
    assert session["scope"] == "analytics:read" and session["livemode"] is False
    assert session["expires_in"] == 3600
    async with deps.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM api_sessions WHERE id = :id"), {"id": session["id"]})).one()
    assert row.account_id == account.account_id and row.mode == "test"
    assert (row.expires_at - row.created_at).total_seconds() == 3600
    assert session["token"].encode() not in bytes(row.token_hash) and len(row.token_hash) == 32
    # It reads like the key: the instance list, the affiliate report (reports:read).
    assert http.get("/partner/v1/instances/analytics", headers=bearer(session["token"])).status_code == 200
    affiliate = http.get("/v1/affiliate/analytics", params={"section": "stats"}, headers=bearer(session["token"]))
    assert affiliate.status_code == 200, affiliate.text


async def test_a_session_cannot_read_another_account(http, make_tenant, landing_channel):
    mine, theirs = await make_tenant("mine"), await make_tenant("theirs")
    their_tenant = await create_tenant(landing_channel, theirs.test_key)
    token = create_session(http, mine.test_key)["token"]
    other = http.get(f"/api/analytics/{their_tenant.id}", headers=bearer(token))
    missing = http.get(f"/api/analytics/{their_tenant.id + 10_000_000}", headers=bearer(token))
    assert other.status_code == missing.status_code == 404
    assert without_request_ids(other.json()) == without_request_ids(missing.json())
    # Their own session reads it; a live key's session does not see the test mode's tenant.
    assert http.get(f"/api/analytics/{their_tenant.id}",
                    headers=bearer(create_session(http, theirs.test_key)["token"])).status_code == 200
    live = create_session(http, theirs.live_key)
    assert live["token"].startswith("sess_live_") and live["livemode"] is True
    assert http.get(f"/api/analytics/{their_tenant.id}", headers=bearer(live["token"])).status_code == 404


async def test_a_session_cannot_write(http, make_tenant, deps):
    account = await make_tenant()
    token = create_session(http, account.test_key)["token"]
    export = http.post("/v1/analytics/export", headers=bearer(token),
                       json={"voucher_ids": [str(uuid.uuid4())], "metrics": ["uses"], "format": "csv"})
    events = http.post("/v1/affiliate/events:batch", headers=bearer(token),
                       json={"events": [{"id": str(uuid.uuid4()), "type": "click", "tracking_code": "X"}]})
    again = http.post("/partner/v1/sessions", headers=bearer(token), json={})
    assert export.status_code == events.status_code == again.status_code == 403, (export.text, events.text, again.text)
    assert again.json()["error"] == "Forbidden"
    async with deps.engine.connect() as conn:
        for table in ("voucher_exports", "affiliate_events", "api_sessions"):
            stored = (await conn.execute(text(f"SELECT count(*) FROM {table} WHERE account_id = :a"),
                                         {"a": account.account_id})).scalar_one()
            assert stored == (1 if table == "api_sessions" else 0), table
    # A key without analytics:read gets no session.
    assert http.post("/partner/v1/sessions", headers=bearer(account.write_only_key), json={}).status_code == 403


async def test_a_session_expires(http, make_tenant, deps):
    account = await make_tenant()
    session = create_session(http, account.test_key)
    assert http.get("/partner/v1/instances/analytics", headers=bearer(session["token"])).status_code == 200
    async with deps.engine.begin() as conn:  # the controlled clock: its end moved to the past
        await conn.execute(text("UPDATE api_sessions SET expires_at = now() - interval '1 second' WHERE id = :id"),
                           {"id": session["id"]})
    refused = http.get("/partner/v1/instances/analytics", headers=bearer(session["token"]))
    assert refused.status_code == 401 and refused.json()["error"] == "Unauthorized"
    # An expired session cannot be revoked either: it looks missing.
    assert http.delete(f"/partner/v1/sessions/{session['id']}", headers=bearer(account.test_key)).status_code == 404


async def test_a_revoked_session_is_refused(http, make_tenant, deps):
    account, other = await make_tenant(), await make_tenant("other")
    session = create_session(http, account.test_key)
    path = f"/partner/v1/sessions/{session['id']}"
    # Another account's key, a malformed id: missing.
    assert http.delete(path, headers=bearer(other.test_key)).status_code == 404
    assert http.delete("/partner/v1/sessions/not-a-uuid", headers=bearer(account.test_key)).status_code == 404
    revoked = http.delete(path, headers=bearer(session["token"]))
    assert revoked.status_code == 200 and revoked.json() == {"success": True, "id": session["id"]}
    assert http.get("/partner/v1/instances/analytics", headers=bearer(session["token"])).status_code == 401
    assert http.delete(path, headers=bearer(account.test_key)).status_code == 404
    # Revoking the key ends its sessions too.
    second = create_session(http, account.test_key)
    async with deps.engine.begin() as conn:
        await conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE account_id = :a AND mode = 'test'"),
                           {"a": account.account_id})
    assert http.get("/partner/v1/instances/analytics", headers=bearer(second["token"])).status_code == 401
