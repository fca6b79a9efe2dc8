"""Property-based fuzzing of the webhook (hypothesis): more than 10 000 generated bodies, valid,
near-valid, huge, deeply nested, wrong types, unicode, unexpanded placeholders, in both content
types. Whatever arrives: never a 5xx, never a broker write for an invalid or unauthenticated
alert, and every 4xx names a field or a reason."""

from __future__ import annotations

import json
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.alerts import MAX_BODY_BYTES
from tests.conftest import SEEDED_SECRET

KNOWN = ["symbol", "exchange", "action", "quantity", "order_type", "price", "trigger_price",
         "product", "validity", "alert_id", "time"]
GOOD = {"symbol": ["SBIN", "NSE:SBIN", "BSE:RELIANCE", "INFY"], "exchange": ["NSE", "BSE", "nse"],
        "action": ["buy", "SELL"], "quantity": [1, "2", "3.0"], "order_type": ["MARKET", "LIMIT", "SL", "SL-M"],
        "price": [812.35, "100"], "trigger_price": [900, "899.95"], "product": ["CNC", "MIS", "NRML"],
        "validity": ["DAY", "IOC"], "alert_id": ["a-1", "Long Entry", "fz-2", "fz-3"], "time": ["2020-01-01T00:00:00Z"]}
EXAMPLES = 2600  # per property; four properties → more than 10 000 bodies

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40) | st.sampled_from(["{{close}}", "{{ticker}}", "🚀", "\x00", "9" * 400, "-0", "1e999"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def mostly(good, bad, percent_good: int = 80):
    """`good` most of the time, so that valid alerts (which do reach the broker) are common too."""
    return st.integers(0, 99).flatmap(lambda roll: good if roll < percent_good else bad)


def near_valid_value(name: str):
    return mostly(st.sampled_from(GOOD[name]), junk)


REQUIRED = ["symbol", "action", "quantity"]
secrets_ = mostly(st.just(SEEDED_SECRET), st.sampled_from(["wrong", "", None, SEEDED_SECRET.upper()]) | junk, 70)
bodies = st.fixed_dictionaries(
    {"secret": secrets_, **{name: near_valid_value(name) for name in REQUIRED}},
    optional={name: near_valid_value(name) for name in KNOWN if name not in REQUIRED and name != "alert_id"},
).flatmap(lambda base: mostly(st.just({}), st.dictionaries(st.text(max_size=10), junk, max_size=2), 70)
         .map(lambda extra: {**extra, **base}))


@contextmanager
def fuzz_stack(stack):
    """The same stack, with pacing and the simulator's rate limit out of the way (speed only)."""
    from chalicelib import services
    from chalicelib.pacing import WritePacer

    relay = services.get().relay
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=10, spacing=0.0)
    stack.simulator.rate_limit_writes = None
    yield stack


def post(stack, raw: bytes | str, content_type: str):
    before = len(stack.simulator.order_writes())
    response = stack.client.http.post("/webhook", headers={"Content-Type": content_type}, body=raw)
    return response, len(stack.simulator.order_writes()) - before


def check(response, writes, *, may_place: bool):
    assert response.status_code < 500 or response.json_body.get("status") in ("unknown", "not_sent", "token_invalid"), response.body
    body = response.json_body
    if 400 <= response.status_code < 500:
        assert body.get("message") or body.get("Message"), body
        for problem in body.get("detail", []):
            assert problem["field"] and problem["message"]
        if response.status_code != 422:  # 422: the broker itself refused the one write
            assert writes == 0
    if not may_place:
        assert writes == 0
    assert writes <= 1
    assert SEEDED_SECRET not in json.dumps(body)


def _text_form(fields: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in fields.items() if isinstance(value, (str, int, float)))


FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


@FUZZ
@given(body=bodies)
def test_json_bodies(stack, body):
    with fuzz_stack(stack):
        response, writes = post(stack, json.dumps(body), "application/json")
        authenticated = body.get("secret") == SEEDED_SECRET
        check(response, writes, may_place=authenticated)
        if response.status_code == 200 and response.json_body["status"] == "placed":
            assert authenticated and writes == 1


@FUZZ
@given(body=bodies)
def test_text_bodies(stack, body):
    with fuzz_stack(stack):
        text = _text_form(body)
        response, writes = post(stack, text, "text/plain")
        check(response, writes, may_place=f"secret={SEEDED_SECRET}" in text)


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
       content_type=st.sampled_from(["application/json", "text/plain", "text/plain; charset=utf-8"]))
def test_arbitrary_bytes(stack, raw, content_type):
    with fuzz_stack(stack):
        response, writes = post(stack, raw, content_type)
        check(response, writes, may_place=False)
        assert response.status_code in (400, 401)


@FUZZ
@given(depth=st.integers(min_value=1, max_value=5000), size=st.integers(min_value=0, max_value=200_000),
       secret=st.sampled_from([SEEDED_SECRET, "nope"]))
def test_huge_and_deeply_nested_bodies(stack, depth, size, secret):
    with fuzz_stack(stack):
        nested = "[" * depth + "]" * depth
        raw = '{"secret": "%s", "symbol": "SBIN", "action": "buy", "quantity": 1, "note": %s, "pad": "%s"}' % (
            secret, nested, "x" * size)
        response, writes = post(stack, raw, "application/json")
        check(response, writes, may_place=False)
        assert response.status_code in ((413,) if len(raw.encode()) > MAX_BODY_BYTES else (400, 401))
