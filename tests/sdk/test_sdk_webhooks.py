"""The Python SDK's webhook signature check against the delivery worker's own signing
(services/webhooks/delivery.py): what the worker sends verifies, anything altered does not."""

from __future__ import annotations

import json

from partnerlytics_client.webhooks import verify_signature

from services.webhooks.delivery import signature_header

SECRET = "whsec_current"
OLD = "whsec_previous"
BODY = json.dumps({"id": "evt_1", "type": "voucher.redeemed", "data": {"code": "SUMMER"}}).encode()
NOW = 1_800_000_000


def test_a_delivery_signed_by_the_worker_verifies():
    header = signature_header([SECRET], NOW, BODY)
    assert verify_signature(header, BODY, SECRET, now=NOW)
    assert verify_signature(header, BODY, SECRET, now=NOW + 299)


def test_both_secrets_verify_during_a_rotation():
    header = signature_header([SECRET, OLD], NOW, BODY)
    assert verify_signature(header, BODY, SECRET, now=NOW)
    assert verify_signature(header, BODY, OLD, now=NOW)
    assert not verify_signature(signature_header([SECRET], NOW, BODY), BODY, OLD, now=NOW)


def test_anything_altered_is_refused():
    header = signature_header([SECRET], NOW, BODY)
    assert not verify_signature(header, BODY + b" ", SECRET, now=NOW)  # re-serialized body
    assert not verify_signature(header, BODY, "whsec_other", now=NOW)
    assert not verify_signature(header, BODY, SECRET, now=NOW + 301)  # outside the replay window
    assert not verify_signature(header, BODY, SECRET, now=NOW - 301)
    assert not verify_signature(header.replace(f"t={NOW}", f"t={NOW + 1}"), BODY, SECRET, now=NOW)
    assert not verify_signature(f"t={NOW},{header}", BODY, SECRET, now=NOW)  # two timestamps
    assert not verify_signature(f"v1={header.split('v1=')[1]}", BODY, SECRET, now=NOW)  # none
    assert not verify_signature("", BODY, SECRET, now=NOW)
