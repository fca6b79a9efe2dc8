"""Every broker fault kind × every path that talks to INDstocks: at most one write, the right
ledger state, a clear answer, and nothing escaping as a 500."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from chalicelib import services
from tests.conftest import (
    ORDERS_TABLE,
    SEEDED_ADMIN_KEY,
    SEEDED_MPIN,
    SEEDED_TOKEN,
    SEEDED_TOTP_SECRET,
    TOKEN_PARAMETER,
)

MAYBE_PLACED = ["timeout", "reset", "http500", "rate_limit", "cloudflare", "shape_e", "garbage"]
REFUSED = ["rms_reject", "user_exception", "error_code_shape"]
ALL_KINDS = MAYBE_PLACED + REFUSED + ["token_expired"]


def ledger_state(alert_id):
    item = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": f"id:{alert_id}"}})["Item"]
    return item["state"]["S"]


def expected(kind: str, placed_anyway: bool) -> tuple[set[int], str]:
    if kind in REFUSED:
        return {422}, "rejected"
    if kind == "token_expired":
        return {503}, "failed"
    if placed_anyway:
        return {200}, "placed"  # found again in the order book
    return {502, 504}, "unknown"


# Only an unknown outcome can hide an order that was placed after all.
CASES = [(kind, False) for kind in ALL_KINDS] + [(kind, True) for kind in MAYBE_PLACED]


@pytest.mark.parametrize("path, fields", [("/order", {}), ("/smart/order", {"order_type": "SL-M", "trigger_price": 900})])
@pytest.mark.parametrize("kind, placed_anyway", CASES)
def test_order_writes(stack, path, fields, placed_anyway, kind):
    stack.simulator.inject_fault(path, kind, place=placed_anyway, delay=1.0)
    alert_id = f"m-{kind}-{placed_anyway}-{path.strip('/').replace('/', '-')}"
    response = stack.post(stack.alert(alert_id=alert_id, **fields))
    statuses, state = expected(kind, placed_anyway)
    assert response.status_code in statuses, response.body
    assert response.json_body.get("status") or response.json_body.get("error")
    time.sleep(0.05)
    assert len(stack.simulator.order_writes()) == 1
    assert ledger_state(alert_id) == state


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_token_validation(stack, kind):
    stack.simulator.add_token("tok-new-matrix")
    stack.simulator.inject_fault("/user/profile", kind, delay=1.0)
    response = stack.client.http.post("/token", headers={"Content-Type": "application/json"},
                                      body=json.dumps({"admin_key": SEEDED_ADMIN_KEY, "token": "tok-new-matrix"}))
    assert response.status_code in (400, 502), response.body  # refused or unverifiable: never stored
    assert response.json_body["message"]
    stored = stack.ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    assert stored == SEEDED_TOKEN
    assert stack.simulator.order_writes() == []


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_rotation(stack, kind):
    settings = stack.settings
    for name, value in ((settings.client_id_parameter, "CID"), (settings.mpin_parameter, SEEDED_MPIN),
                        (settings.totp_secret_parameter, SEEDED_TOTP_SECRET)):
        stack.ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    stack.simulator.configure_generation(client_id="CID", mpin=SEEDED_MPIN, totp_secret=SEEDED_TOTP_SECRET)
    stack.simulator.inject_fault("/generate/token", kind, delay=1.0)
    response = stack.client.http.post("/token/rotate", headers={"Content-Type": "application/json"},
                                      body=json.dumps({"admin_key": SEEDED_ADMIN_KEY}))
    assert response.status_code in (200, 502), response.body
    assert len(stack.simulator.requests("/generate/token")) == 1  # never retried
    if response.status_code == 200:  # a slow but successful generation still counts
        assert stack.ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]["Value"] in stack.simulator.live_tokens


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_reconciliation(stack, kind):
    # The write's outcome is unknown and the order book itself misbehaves while we look.
    stack.simulator.inject_fault("/order", "http500", place=True)
    # Three bad reads: both in-request looks and the first sweep meet the fault.
    stack.simulator.inject_fault("/order-book", kind, count=3, delay=1.0)
    response = stack.post(stack.alert(alert_id=f"r-{kind}"))
    assert response.status_code in (200, 502), response.body
    try:  # the sweep meets the same fault first
        services.get().sweeper.run(time.time())
    except Exception as error:  # the sweep may fail as a whole (logged by the schedule), never crash oddly
        assert type(error).__name__ in ("DependencyUnavailable", "TokenUnavailable"), error
    services.get().sweeper.run(time.time())  # a healthy book now
    assert ledger_state(f"r-{kind}") == "placed"
    assert len(stack.simulator.order_writes()) == 1  # looked for, never resent
