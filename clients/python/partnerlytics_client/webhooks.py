"""Verifying a webhook delivery's `Partnerlytics-Signature` header (docs/webhooks.md,
"Verifying a delivery"): `t=<unix seconds>,v1=<hex>[,v1=<hex>]`, each `v1` the hex
HMAC-SHA256, keyed by the endpoint's secret, of `<t>.` + the raw body.

    from partnerlytics_client.webhooks import verify_signature
    if not verify_signature(request.headers["Partnerlytics-Signature"], raw_body, secret):
        return 400
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Partnerlytics-Signature"
# A delivery signed longer ago than this (or this far in the future) is refused: the
# replay window of the documented recipe.
DEFAULT_TOLERANCE_S = 300


def verify_signature(header: str, body: bytes, secret: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
                     now: float | None = None) -> bool:
    """True when `header` holds exactly one `t` within `tolerance_s` of `now` (the clock by
    default) and a `v1` equal to the HMAC of `t.body` under `secret`. During a secret
    rotation the header carries one `v1` per secret, so either secret verifies. `body` must
    be the bytes as received, not re-serialized JSON."""
    parts = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in parts if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    moment = time.time() if now is None else now
    if abs(moment - int(stamps[0])) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in parts if key == "v1")
