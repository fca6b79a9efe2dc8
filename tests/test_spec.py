"""The vendored OpenAPI spec (local/indstocks-openapi.yaml) is the official one, byte for byte.

It is copied verbatim from the INDstocks docs, so it is pinned by its digest here: any edit to the
copy fails this test, and refreshing it from the publisher means updating the digest on purpose.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENDORED = REPO / "local" / "indstocks-openapi.yaml"
VENDORED_SHA256 = "93caf86b4c22abe7d4f63340cd5db01033371c199c2523fbc460d79faf447a5b"


def test_vendored_spec_is_the_published_copy_unedited():
    assert hashlib.sha256(VENDORED.read_bytes()).hexdigest() == VENDORED_SHA256


def test_spec_has_every_endpoint_the_relay_calls():
    from local.openapi import spec

    document = spec()
    assert document["openapi"].startswith("3.0.")
    for path in ("/order", "/smart/order", "/order-book", "/user/profile", "/market/instruments",
                 "/market/quotes/ltp", "/generate/token", "/portfolio/positions", "/funds", "/order/cancel",
                 "/smart/order/cancel"):
        assert path in document["paths"], path


def test_spec_defines_what_the_relay_sends():
    from local.openapi import request_body_schema

    assert request_body_schema("POST", "/order")["required"][-1] == "algo_id"
    assert "trigger_limit_price" in request_body_schema("POST", "/smart/order")["properties"]
