"""POST /flatten: pause, cancel the open orders and close the positions, of what the relay
traded today (scope relay) or of the whole account (scope all). Against moto and the
simulator's exchange over HTTP: the cancels and closing orders it received, the positions after."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from chalicelib import services
from chalicelib.broker import OrderWrite
from chalicelib.relay import IncomingAlert
from local.openapi import request_errors
from tests.conftest import ORDERS_TABLE, SEEDED_ADMIN_KEY, SEEDED_TOKEN

ADMIN = {"X-Admin-Key": SEEDED_ADMIN_KEY, "Content-Type": "application/json"}
SBIN, INFY = "3045", "1594"


@pytest.fixture
def exchange(stack):
    stack.simulator.fills = True
    return stack


def flatten(stack, **body):
    return stack.client.http.post("/flatten", headers=ADMIN, body=json.dumps(body))


def net(security_id):
    positions = services.get().relay.broker.positions(SEEDED_TOKEN)
    return sum(p.net_qty for p in positions if p.security_id == security_id)


def outside_the_relay(side, security_id, qty):
    """An order the trader placed elsewhere (the INDstocks app): not in the relay's ledger."""
    body = {"txn_type": side, "exchange": "NSE", "segment": "EQUITY", "product": "INTRADAY", "security_id": security_id,
            "qty": qty, "order_type": "MARKET", "validity": "DAY", "algo_id": "99999"}
    assert services.get().relay.broker.place(SEEDED_TOKEN, OrderWrite("/order", body)).order_id


def test_flatten_pauses_cancels_and_closes_what_the_relay_traded(exchange):
    assert exchange.post(exchange.alert(quantity=7)).json_body["status"] == "placed"            # long 7 SBIN
    resting = exchange.post(exchange.alert(quantity=3, order_type="LIMIT", price="700"))        # open, below market
    outside_the_relay("BUY", INFY, 4)                                                          # not the relay's
    answer = flatten(exchange)
    assert answer.status_code == 200, answer.json_body
    body = answer.json_body
    assert body["status"] == "flattened" and body["paused"] is True and body["scope"] == "relay"
    assert [(c["order_id"], c["status"]) for c in body["cancels"]] == [(resting.json_body["order_id"], "cancelled")]
    [close] = body["closes"]
    assert (close["security_id"], close["net"], close["status"]) == (SBIN, 7, "placed")
    assert net(SBIN) == 0 and net(INFY) == 4  # the account's other position is left alone
    closing = exchange.simulator.order_writes()[-1]
    assert closing.json["txn_type"] == "SELL" and closing.json["qty"] == 7 and closing.json["order_type"] == "MARKET"
    assert request_errors(closing.method, closing.path, closing.json) == []
    item = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": close["key"]}})["Item"]
    assert item["state"]["S"] == "placed" and item["origin"]["S"] == "flatten"
    # Paused: the next alert is journaled paused and not sent.
    assert exchange.post(exchange.alert(quantity=1)).status_code == 409


def test_flatten_all_closes_the_whole_account(exchange):
    outside_the_relay("SELL", INFY, 2)
    answer = flatten(exchange, scope="all")
    [close] = answer.json_body["closes"]
    assert (close["security_id"], close["net"], close["status"]) == (INFY, -2, "placed")
    assert net(INFY) == 0


def test_flatten_of_one_strategy_pauses_only_it_and_closes_only_its_instruments(exchange):
    assert exchange.post(exchange.alert(quantity=5, strategy="alpha")).json_body["status"] == "placed"
    assert exchange.post(exchange.alert(symbol="NSE:INFY", quantity=2, strategy="beta")).json_body["status"] == "placed"
    answer = flatten(exchange, strategy="alpha").json_body
    assert answer["paused"] is False and answer["paused_strategies"] == ["alpha"]
    assert [c["security_id"] for c in answer["closes"]] == [SBIN]
    assert net(SBIN) == 0 and net(INFY) == 2
    assert exchange.post(exchange.alert(quantity=1, strategy="alpha")).status_code == 409
    assert exchange.post(exchange.alert(quantity=1, strategy="beta")).json_body["status"] == "placed"


def test_flatten_needs_the_admin_key_and_a_known_scope(exchange):
    assert exchange.client.http.post("/flatten", headers={"Content-Type": "application/json"}, body="{}").status_code == 401
    bad = flatten(exchange, scope="everything")
    assert bad.status_code == 400 and bad.json_body["detail"][0]["field"] == "scope"
    assert exchange.simulator.order_writes() == []


# --- the day's square-off (SQUARE_OFF_AT, run by the minute sweep) --------------------------------

def at_ist(hour, minute):
    from datetime import datetime

    from chalicelib.config import IST

    return datetime(2026, 12, 2, hour, minute, tzinfo=IST).timestamp()


@pytest.fixture
def squaring(exchange):
    settings = exchange.settings.model_copy(update={"square_off_at": "15:15"})
    services.install(services.build(settings))
    return exchange


def test_the_square_off_closes_the_intraday_positions_and_orders_once_and_leaves_delivery(squaring):
    stack = squaring
    assert stack.post(stack.alert(quantity=6)).json_body["status"] == "placed"                     # INTRADAY
    assert stack.post(stack.alert(quantity=2, product="CNC")).json_body["status"] == "placed"       # delivery
    intraday_rest = stack.post(stack.alert(quantity=1, order_type="LIMIT", price="700")).json_body
    delivery_rest = stack.post(stack.alert(quantity=1, order_type="LIMIT", price="700", product="CNC")).json_body
    sweeper = services.get().sweeper
    assert sweeper.run(at_ist(15, 0)).squared_off == []  # not yet
    writes = len(stack.simulator.order_writes())
    report = sweeper.run(at_ist(15, 16))
    assert report.squared_off == [f"cancel {intraday_rest['order_id']}: cancelled", f"close {SBIN} net 6: placed"]
    closing = stack.simulator.order_writes()[writes:]
    assert [(w.path, w.json.get("txn_type"), w.json.get("qty"), w.json.get("product")) for w in closing] == \
        [("/order/cancel", None, None, None), ("/order", "SELL", 6, "INTRADAY")]
    book = {row["id"]: row["status"] for row in stack.simulator.orders}
    assert book[delivery_rest["order_id"]] != "CANCELLED"
    positions = services.get().relay.broker.positions(SEEDED_TOKEN)
    assert {(p.product, p.net_qty) for p in positions if p.security_id == SBIN} == {("INTRADAY", 0), ("CNC", 2)}
    assert sweeper.run(at_ist(15, 17)).squared_off == []  # once a day
    assert len(stack.simulator.order_writes()) == writes + 2
    assert stack.post(stack.alert(quantity=1, product="CNC")).json_body["status"] == "placed"  # still live


# --- the daily loss limit (MAX_DAILY_LOSS, checked by the minute sweep) --------------------------

@pytest.fixture
def loss_limited(exchange):
    from decimal import Decimal

    settings = exchange.settings.model_copy(update={"max_daily_loss": Decimal("500")})
    services.install(services.build(settings))
    return exchange


def test_a_loss_past_the_limit_pauses_until_the_next_session_and_flattens(loss_limited):
    stack = loss_limited
    assert stack.post(stack.alert(quantity=10)).json_body["status"] == "placed"  # long 10 SBIN at 800
    sweeper = services.get().sweeper
    stack.simulator.set_price("NSE", SBIN, "760")  # -400: inside the limit
    report = sweeper.run(at_ist(11, 0))
    assert report.day_pnl == "-400.00" and report.squared_off == []
    writes = len(stack.simulator.order_writes())
    stack.simulator.set_price("NSE", SBIN, "740")  # -600: past it
    report = sweeper.run(at_ist(11, 1))
    assert report.day_pnl == "-600.00"
    assert report.squared_off == [f"close {SBIN} net 10: placed"]
    assert net(SBIN) == 0
    switch = services.get().relay.switch.read()
    assert switch.paused and "MAX_DAILY_LOSS" in (switch.reason or "")
    # Paused until the next session opens (09:15 IST of the next trading day), then live again.
    from datetime import datetime

    from chalicelib.config import IST

    assert datetime.fromtimestamp(switch.until, IST).strftime("%Y-%m-%d %H:%M") == "2026-12-03 09:15"
    relay = services.get().relay
    with pytest.raises(Exception) as paused:
        relay.handle_alert(IncomingAlert(json.dumps(stack.alert(quantity=1)).encode(), {}), now=at_ist(15, 0))
    assert getattr(paused.value, "error", None) == "paused"
    reopened = relay.handle_alert(IncomingAlert(json.dumps(stack.alert(quantity=1)).encode(), {}),
                                  now=switch.until + 1)
    assert reopened.body["status"] == "placed"
    writes += 1
    # Once a day: a later sweep computes the P&L again but flattens nothing more.
    assert sweeper.run(at_ist(11, 2)).squared_off == []
    assert len(stack.simulator.order_writes()) == writes + 1


# --- EXIT_ALL and CANCEL_ALL alerts -----------------------------------------------------------------

def every(stack, action, **fields):
    body = {k: v for k, v in stack.alert(action=action, **fields).items() if k not in ("symbol", "quantity")}
    return stack.post(body)


def test_exit_all_closes_the_positions_of_the_strategys_instruments(exchange):
    assert exchange.post(exchange.alert(quantity=5, strategy="alpha")).json_body["status"] == "placed"
    assert exchange.post(exchange.alert(symbol="NSE:INFY", quantity=2, strategy="beta")).json_body["status"] == "placed"
    answer = every(exchange, "exit_all", strategy="alpha", alert_id="exit-all-1")
    assert answer.status_code == 200 and answer.json_body["status"] == "exited", answer.json_body
    assert [(c["security_id"], c["net"], c["status"]) for c in answer.json_body["closes"]] == [(SBIN, 5, "placed")]
    assert net(SBIN) == 0 and net(INFY) == 2
    assert exchange.post(exchange.alert(quantity=1, strategy="alpha")).json_body["status"] == "placed"  # not paused
    replay = every(exchange, "exit_all", strategy="alpha", alert_id="exit-all-1")
    assert replay.json_body["status"] == "duplicate"
    item = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": "id:exit-all-1"}})["Item"]
    assert item["state"]["S"] == "cancel" and "placed" in item["message"]["S"]


def test_cancel_all_cancels_the_open_orders_and_closes_nothing(exchange):
    assert exchange.post(exchange.alert(quantity=4)).json_body["status"] == "placed"
    resting = exchange.post(exchange.alert(quantity=1, order_type="LIMIT", price="700")).json_body
    answer = every(exchange, "cancel_all")
    assert answer.json_body["status"] == "cancelled"
    assert [(o["order_id"], o["status"]) for o in answer.json_body["orders"]] == [(resting["order_id"], "cancelled")]
    assert net(SBIN) == 4
    nothing = every(exchange, "cancel_all")
    assert nothing.json_body["status"] == "noop"


def test_every_instrument_actions_refuse_a_symbol_or_a_quantity(exchange):
    with_symbol = exchange.post(exchange.alert(action="exit_all", quantity=None))
    assert with_symbol.status_code == 400 and with_symbol.json_body["detail"][0]["field"] == "symbol"
    with_quantity = exchange.post({k: v for k, v in exchange.alert(action="cancel_all").items() if k != "symbol"})
    assert with_quantity.status_code == 400 and with_quantity.json_body["detail"][0]["field"] == "quantity"
    assert exchange.simulator.order_writes() == []


def test_a_flatten_through_one_instance_stops_another_at_its_next_alert(exchange):
    other = services.build(exchange.settings)  # a second warm instance: its own clients
    first = IncomingAlert(json.dumps(exchange.alert(quantity=3)).encode(), {})
    assert other.relay.handle_alert(first, now=time.time()).body["status"] == "placed"
    assert flatten(exchange).json_body["closes"][0]["status"] == "placed"  # through the first instance
    with pytest.raises(Exception) as paused:
        other.relay.handle_alert(IncomingAlert(json.dumps(exchange.alert(quantity=1)).encode(), {}), now=time.time())
    assert getattr(paused.value, "error", None) == "paused" and net(SBIN) == 0
