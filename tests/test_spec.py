"""The vendored OpenAPI spec is the official one, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENDORED = REPO / "local" / "indstocks-openapi.yaml"
SHARED = REPO.parent / "shared" / "indstocks-openapi.yaml"


@pytest.mark.skipif(not SHARED.exists(), reason="the project's shared/ folder is not beside this checkout")
def test_vendored_spec_is_the_shared_one():
    assert VENDORED.read_bytes() == SHARED.read_bytes()


def test_spec_defines_what_the_relay_sends():
    from local.openapi import request_body_schema

    assert request_body_schema("POST", "/order")["required"][-1] == "algo_id"
    assert "trigger_limit_price" in request_body_schema("POST", "/smart/order")["properties"]
