"""Risk limits per stage: quantity, value (the last price for MARKET orders) and orders per IST
day. Through chalice.test.Client against moto and the simulator: the answer, the journal item,
and what the broker received."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import boto3
import pytest
import requests

from chalicelib import services
from chalicelib.broker import BrokerClient
from chalicelib.config import settings_from_env
from chalicelib.errors import DependencyUnavailable, RiskLimitExceeded
from chalicelib.relay import IncomingAlert
from chalicelib.risk import RiskLimits, check_order, day_counter
from chalicelib.state import StateTable
from local.openapi import schema_errors
from local.simulator import FAULT_KINDS
from tests.conftest import SEEDED_ADMIN_KEY, SEEDED_TOKEN, STATE_TABLE


def limited(stack, **limits):
    """Rebuild the relay's services with these limits (the stage's settings otherwise)."""
    services.install(services.build(stack.settings.model_copy(update=limits)))


def journal_item(stack, alert_id):
    orders = stack.client.http.get("/orders", headers={"X-Admin-Key": SEEDED_ADMIN_KEY}).json_body["orders"]
    return next(order for order in orders if order["alert_id"] == alert_id)


def assert_refused(stack, response, alert_id, *words):
    assert response.status_code == 422, response.body
    body = response.json_body
    assert body["error"] == "risk_limit"
    for word in words:
        assert word in body["message"]
    item = journal_item(stack, alert_id)
    assert item["state"] == "rejected" and item["message"] == body["message"]
    assert stack.simulator.order_writes() == []


def ltp_reads(stack):
    return stack.simulator.requests("/market/quotes/ltp")


# --- defaults ----------------------------------------------------------------------------------


def test_defaults_are_generous_but_finite_and_read_from_the_environment():
    defaults = settings_from_env({})
    assert (defaults.max_order_qty, defaults.max_order_value, defaults.max_orders_per_day) == (10_000, Decimal(1_000_000), 500)
    tuned = settings_from_env({"MAX_ORDER_QTY": "50", "MAX_ORDER_VALUE": "25000.50", "MAX_ORDERS_PER_DAY": "20"})
    assert RiskLimits.from_settings(tuned) == RiskLimits(50, Decimal("25000.50"), 20)


@pytest.mark.parametrize("qty, price, refused", [
    (100, Decimal("10"), None), (101, Decimal("1"), "MAX_ORDER_QTY"),
    (10, Decimal("100"), None), (10, Decimal("100.01"), "MAX_ORDER_VALUE"),
])  # fmt: skip
def test_the_pure_check(qty, price, refused):
    limits = RiskLimits(max_order_qty=100, max_order_value=Decimal(1000), max_orders_per_day=5)
    if refused is None:
        check_order(qty, price, limits)
        return
    with pytest.raises(RiskLimitExceeded) as refusal:
        check_order(qty, price, limits)
    assert refusal.value.status_code == 422 and refused in refusal.value.public_message


# --- quantity ----------------------------------------------------------------------------------


def test_a_quantity_over_the_limit_is_refused_and_one_at_the_limit_goes(stack):
    limited(stack, max_order_qty=100)
    response = stack.post(stack.alert(alert_id="qty-over", quantity=101))
    assert_refused(stack, response, "qty-over", "MAX_ORDER_QTY", "101", "100")
    assert response.json_body["detail"][0]["field"] == "quantity"
    assert ltp_reads(stack) == []  # refused before any read
    assert stack.post(stack.alert(alert_id="qty-at", quantity=100)).json_body["status"] == "placed"
    [sent] = stack.simulator.order_writes()
    assert sent.json["qty"] == 100


# --- value -------------------------------------------------------------------------------------


def test_a_limit_order_over_the_value_limit_is_refused_at_its_price(stack):
    limited(stack, max_order_value=Decimal(8000))
    over = stack.post(stack.alert(alert_id="val-over", order_type="LIMIT", price="800", quantity=11))
    assert_refused(stack, over, "val-over", "MAX_ORDER_VALUE", "₹8,800.00", "11 × ₹800.00", "₹8,000.00")
    assert ltp_reads(stack) == []  # a priced order needs no last price
    at = stack.post(stack.alert(alert_id="val-at", order_type="LIMIT", price="800", quantity=10))
    assert at.json_body["status"] == "placed", at.body
    assert stack.simulator.order_writes()[0].json["limit_price"] == 800


def test_a_stop_order_is_valued_at_its_trigger_limit(stack):
    limited(stack, max_order_value=Decimal(9000))
    # SL-M BUY 10 at trigger 900: the trigger-limit 904.50 (0.5 % above) is what it may pay.
    over = stack.post(stack.alert(alert_id="slm-over", order_type="SL-M", trigger_price="900", quantity=10))
    assert_refused(stack, over, "slm-over", "MAX_ORDER_VALUE", "₹9,045.00")


def test_a_market_order_is_valued_at_the_last_price(stack):
    limited(stack, max_order_value=Decimal(8000))  # the simulator's SBIN last price is 800
    over = stack.post(stack.alert(alert_id="mkt-over", quantity=11))
    assert_refused(stack, over, "mkt-over", "MAX_ORDER_VALUE", "₹8,800.00", "last price")
    [read] = ltp_reads(stack)
    assert read.query == {"scrip-codes": "NSE_3045"} and read.headers["authorization"] == SEEDED_TOKEN
    assert stack.post(stack.alert(alert_id="mkt-at", quantity=10)).json_body["status"] == "placed"


def test_a_market_order_carrying_a_price_is_valued_at_it_without_a_quote_read(stack):
    """TradingView's {{close}} in `price`: no quote read (INDstocks allows 5 a second), and the
    order still goes as MARKET."""
    limited(stack, max_order_value=Decimal(8000))
    over = stack.post(stack.alert(alert_id="mkt-priced-over", quantity=11, price=790))
    assert_refused(stack, over, "mkt-priced-over", "MAX_ORDER_VALUE", "₹8,690.00", "alert price")
    placed = stack.post(stack.alert(alert_id="mkt-priced-at", quantity=10, price=790))
    assert placed.json_body["status"] == "placed"
    assert ltp_reads(stack) == []
    [write] = stack.simulator.order_writes()
    assert write.json["order_type"] == "MARKET" and "limit_price" not in write.json


def test_a_burst_of_market_orders_carrying_prices_reads_no_quote(stack):
    for n in range(12):
        assert stack.post(stack.alert(alert_id=f"burst-priced-{n}", price=800)).json_body["status"] in ("placed", "queued")
    assert ltp_reads(stack) == []


@pytest.mark.parametrize("failure", [*FAULT_KINDS, "unpriced"])
def test_a_market_order_whose_last_price_cannot_be_read_is_not_sent(stack, failure):
    """Every broker fault kind on the price read: a clear 503, nothing written."""
    if failure == "unpriced":
        del stack.simulator.ltp["3045"]  # INDstocks answers 400 for the whole batch
    else:
        stack.simulator.inject_fault("/market/quotes/ltp", failure, delay=1.0)
    response = stack.post(stack.alert(alert_id="ltp-down"))
    assert response.status_code == 503, response.body
    if failure == "token_expired":  # the same token after the re-read: renew it
        assert response.json_body["error"] == "token_unavailable"
    else:
        assert response.json_body["error"] == "dependency_unavailable"
        assert "MAX_ORDER_VALUE" in response.json_body["message"] and "not sent" in response.json_body["message"]
    assert stack.simulator.order_writes() == []
    assert journal_item(stack, "ltp-down")["state"] == "failed"  # provably not sent: may be sent again


def test_a_market_order_meeting_a_dead_token_rereads_it_once_and_writes_once_with_the_new_one(stack):
    stack.post(stack.alert())  # warms the token cache with the seeded token
    stack.simulator.set_tokens(["tok-RENEWED-3"])
    stack.ssm.put_parameter(Name=stack.settings.token_parameter, Value="tok-RENEWED-3", Type="SecureString", Overwrite=True)
    stack.simulator.reset()
    response = stack.post(stack.alert(alert_id="renewed"))
    assert response.json_body["status"] == "placed", response.body
    assert [read.headers["authorization"] for read in ltp_reads(stack)] == [SEEDED_TOKEN, "tok-RENEWED-3"]
    [sent] = stack.simulator.order_writes()
    assert sent.headers["authorization"] == "tok-RENEWED-3"


def test_a_market_order_meeting_a_dead_token_that_did_not_change_is_not_sent(stack):
    stack.post(stack.alert())
    stack.simulator.set_tokens(["someone-elses-token"])
    stack.simulator.reset()
    response = stack.post(stack.alert(alert_id="dead"))
    assert response.status_code == 503 and response.json_body["error"] == "token_unavailable"
    assert len(ltp_reads(stack)) == 1 and stack.simulator.order_writes() == []  # the same token: not read again
    assert journal_item(stack, "dead")["state"] == "failed"


# --- orders per day ------------------------------------------------------------------------------


def test_orders_over_the_daily_limit_are_refused(stack):
    limited(stack, max_orders_per_day=2)
    assert [stack.post(stack.alert(alert_id=f"day-{n}")).json_body["status"] for n in range(2)] == ["placed"] * 2
    over = stack.post(stack.alert(alert_id="day-over"))
    assert over.status_code == 422 and over.json_body["error"] == "risk_limit"
    assert "MAX_ORDERS_PER_DAY" in over.json_body["message"] and "2 orders" in over.json_body["message"]
    item = journal_item(stack, "day-over")
    assert item["state"] == "rejected" and item["message"] == over.json_body["message"]
    assert len(stack.simulator.order_writes()) == 2


def test_a_refusal_on_another_limit_does_not_use_up_the_day(stack):
    limited(stack, max_orders_per_day=1, max_order_qty=5)
    assert stack.post(stack.alert(alert_id="big", quantity=6)).status_code == 422
    assert stack.post(stack.alert(alert_id="small", quantity=5)).json_body["status"] == "placed"
    state = StateTable(lambda: boto3.client("dynamodb"), STATE_TABLE)
    assert state.read_count(day_counter(time.time())) == 1


def test_the_daily_count_holds_under_concurrent_alerts_and_starts_again_the_next_ist_day(stack):
    limited(stack, max_orders_per_day=3)
    relay = services.get().relay
    # Priced orders: the count is the point here, not twelve price reads racing a 0.5 s timeout.
    bodies = [json.dumps(stack.alert(alert_id=f"par-{n}", order_type="LIMIT", price="800")).encode() for n in range(12)]
    now = time.time()

    def send(raw):
        try:
            return relay.handle_alert(IncomingAlert(raw, {}), now=now).body["status"]
        except RiskLimitExceeded:
            return "refused"

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(send, bodies))
    assert sorted(outcomes) == ["placed"] * 3 + ["refused"] * 9
    assert len(stack.simulator.order_writes()) == 3
    assert relay.risk.orders_today(now) == 3 and relay.risk.orders_today(now + 86400) == 0
    relay.risk.take(now + 86400)  # a new IST day
    assert relay.risk.orders_today(now + 86400) == 1


# --- the last-price read -------------------------------------------------------------------------


def test_the_simulator_answers_last_prices_as_the_spec_says(simulator):
    reply = requests.get(simulator.url + "/market/quotes/ltp", params={"scrip-codes": "NSE_3045,BSE_500325"},
                         headers={"Authorization": SEEDED_TOKEN}, timeout=5)
    assert reply.status_code == 200
    body = reply.json()
    assert schema_errors("LtpQuoteResponse", body) == []
    assert body["data"] == {"NSE_3045": {"live_price": 800.0}, "BSE_500325": {"live_price": 1400.0}}
    unknown = requests.get(simulator.url + "/market/quotes/ltp", params={"scrip-codes": "NSE_3045,NSE_1"},
                           headers={"Authorization": SEEDED_TOKEN}, timeout=5)
    assert unknown.status_code == 400 and unknown.json() == {"message": "Invalid scrip codes or mode", "success": False}


def test_the_broker_client_reads_one_last_price(simulator):
    client = BrokerClient(simulator.url, connect_timeout=1, read_timeout=1)
    assert client.last_price(SEEDED_TOKEN, "BSE", "500112") == Decimal("800.0")
    with pytest.raises(DependencyUnavailable):
        client.last_price(SEEDED_TOKEN, "NSE", "500112")  # a BSE id on NSE: no such instrument
