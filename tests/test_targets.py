"""Position targets and exits through the relay: `position_size` (TradingView's
{{strategy.position_size}}) and `action: EXIT` read where the instrument stands (net position +
open orders) and send only the difference; racing signals for one instrument are applied one
at a time; ENTRY_WINDOW / the session / the calendar decide by what the order does. Against
moto and the simulator's exchange (orders fill, positions move) over HTTP."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import boto3
import pytest

from chalicelib import services
from chalicelib.config import IST
from chalicelib.relay import IncomingAlert
from local.openapi import request_errors
from tests import test_fno_alerts
from tests.conftest import ORDERS_TABLE, SEEDED_ADMIN_KEY, SEEDED_TOKEN
from tests.test_fno_alerts import futures

SBIN = "3045"
fno = test_fno_alerts.fno


@pytest.fixture
def exchange(stack):
    """The simulator's exchange on: MARKET orders fill at once, positions follow."""
    stack.simulator.fills = True
    return stack


def net(stack, security_id=SBIN, segment="EQUITY", product="INTRADAY"):
    standing = services.get().relay.positions.standing(SEEDED_TOKEN, security_id, segment, product)
    return standing.net


def target(stack, size, **fields):
    return stack.post(stack.alert(quantity=None, position_size=size, **fields))


def sides(stack):
    return [(w.json["txn_type"], w.json["qty"]) for w in stack.simulator.order_writes()]


def journal(key):
    raw = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": key}}, ConsistentRead=True)
    return {name: next(iter(value.values())) for name, value in raw["Item"].items()}


def test_each_target_sends_only_the_difference(exchange):
    steps = [  # (target, what is sent, net after)
        (10, ("BUY", 10), 10),      # flat → long
        (25, ("BUY", 15), 25),      # long → longer
        (5, ("SELL", 20), 5),       # long → shorter
        (-10, ("SELL", 15), -10),   # long → short: one order across zero
        (-30, ("SELL", 20), -30),   # short → shorter still
        (-5, ("BUY", 25), -5),      # short → less short
        (8, ("BUY", 13), 8),        # short → long
        (0, ("SELL", 8), 0),        # long → flat
    ]  # fmt: skip
    before = 0
    for size, sent, after in steps:
        answer = target(exchange, size)
        assert answer.status_code == 200 and answer.json_body["status"] == "placed", (size, answer.json_body)
        assert sides(exchange)[-1] == sent, size
        assert net(exchange) == after
        position = answer.json_body["position"]
        assert (position["target"], position["net"], position["in_flight"], position["change"]) == \
            (size, before, 0, size - before)
        before = after
    for write in exchange.simulator.order_writes():
        assert request_errors(write.method, write.path, write.json) == []


def test_the_target_already_held_is_a_noop_and_nothing_is_sent(exchange):
    assert target(exchange, 7).json_body["status"] == "placed"
    writes = len(exchange.simulator.order_writes())
    answer = target(exchange, 7, alert_id="noop-1")
    assert answer.status_code == 200 and answer.json_body["status"] == "noop"
    assert answer.json_body["position"] == {"target": 7, "net": 7, "in_flight": 0, "change": 0,
                                            "decided": answer.json_body["message"]}
    assert len(exchange.simulator.order_writes()) == writes
    item = journal("id:noop-1")
    assert item["state"] == "noop" and "already the target" in item["message"]
    assert json.loads(item["position"])["net"] == 7


def test_exit_closes_the_position_and_then_has_nothing_to_do(exchange):
    target(exchange, -12)
    answer = exchange.post(exchange.alert(quantity=None, action="exit"))
    assert answer.json_body["status"] == "placed" and sides(exchange)[-1] == ("BUY", 12)
    assert net(exchange) == 0
    again = exchange.post(exchange.alert(quantity=None, action="EXIT"))
    assert again.json_body["status"] == "noop" and len(exchange.simulator.order_writes()) == 2


def test_open_orders_count_so_a_repeated_target_sends_nothing_more(stack):
    """The exchange off: the first order stays open in the book, unfilled."""
    assert target(stack, 10).json_body["status"] == "placed"
    assert net(stack) == 0
    repeat = target(stack, 10)
    assert repeat.json_body["status"] == "noop" and repeat.json_body["position"]["in_flight"] == 10
    flat = target(stack, 0)
    assert flat.json_body["status"] == "placed" and sides(stack) == [("BUY", 10), ("SELL", 10)]


def test_two_signals_racing_for_one_instrument_are_applied_one_at_a_time(exchange):
    """Without the instrument's lock both would read a flat position and buy 10 each."""
    answers = []

    def send(alert_id):
        answers.append(target(exchange, 10, alert_id=alert_id).json_body["status"])

    threads = [threading.Thread(target=send, args=(f"race-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == ["noop", "placed"]
    assert sides(exchange) == [("BUY", 10)] and net(exchange) == 10


def test_a_target_with_a_quantity_or_off_the_lot_is_refused_naming_the_field(fno):
    lot = futures(fno.simulator, "NIFTY")[0].lot
    both = fno.post(test_fno_alerts.alert(symbol="NIFTY1!", quantity=lot, position_size=lot))
    assert both.status_code == 400 and both.json_body["detail"][0]["field"] == "quantity"
    off_lot = fno.post(test_fno_alerts.alert(symbol="NIFTY1!", position_size=lot + 1))
    assert off_lot.status_code == 400 and off_lot.json_body["detail"][0]["field"] == "position_size"
    assert f"{lot} units" in off_lot.json_body["detail"][0]["message"]
    assert fno.simulator.order_writes() == []


def test_a_futures_target_is_sent_in_lots_from_the_derivative_position(fno):
    fno.simulator.fills = True
    future = futures(fno.simulator, "NIFTY")[0]
    answer = fno.post(test_fno_alerts.alert(symbol="NIFTY1!", position_size=3 * future.lot, product="NRML"))
    assert answer.json_body["status"] == "placed", answer.json_body
    down = fno.post(test_fno_alerts.alert(symbol="NIFTY1!", position_size=future.lot, product="NRML"))
    assert down.json_body["status"] == "placed"
    assert [(w.json["txn_type"], w.json["qty"], w.json["product"]) for w in fno.simulator.order_writes()] == \
        [("BUY", 3 * future.lot, "MARGIN"), ("SELL", 2 * future.lot, "MARGIN")]
    assert net(fno, future.security_id, "DERIVATIVE", "MARGIN") == future.lot


def test_a_target_waits_for_no_queued_order_of_its_instrument(stack):
    relay = services.get().relay
    relay.pacer.hold_lane(f"NSE:{SBIN}", time.time())  # an order of SBIN waits in the queue
    answer = target(stack, 10)
    assert answer.status_code == 503 and "still waits in the order queue" in answer.json_body["message"]
    assert stack.simulator.order_writes() == []


# --- trading windows: entries, exits, closed days ----------------------------------------------

def at_ist(*moment):
    return datetime(*moment, tzinfo=IST).timestamp()


def send_at(stack, now, **fields):
    body = json.dumps(stack.alert(**fields)).encode()
    try:
        return services.get().relay.handle_alert(IncomingAlert(body, {}), now=now)
    except Exception as refused:  # the route maps RelayErrors to answers; here they come raised
        return refused


@pytest.fixture
def exchange_hours(stack):
    settings = stack.settings.model_copy(update={"trading_calendar": "exchange"})
    services.install(services.build(settings))
    stack.simulator.fills = True
    return stack


def test_entries_outside_the_window_are_refused_exits_are_not(exchange_hours):
    stack = exchange_hours
    wednesday = (2026, 12, 2)
    assert send_at(stack, at_ist(*wednesday, 10, 0), quantity=None, position_size=10).body["status"] == "placed"
    late_entry = send_at(stack, at_ist(*wednesday, 15, 20), quantity=None, position_size=20)
    assert late_entry.error == "outside_window" and "ENTRY_WINDOW" in late_entry.public_message
    plain = send_at(stack, at_ist(*wednesday, 15, 20), quantity=5)  # a plain order is an entry
    assert plain.error == "outside_window"
    reduce = send_at(stack, at_ist(*wednesday, 15, 20), quantity=None, position_size=4)
    assert reduce.body["status"] == "placed"  # reducing exposure: an exit, accepted all session
    amo = send_at(stack, at_ist(*wednesday, 20, 0), quantity=5, amo=True)
    assert amo.body["status"] == "placed"  # an after-market order is outside the hours by design
    after_close = send_at(stack, at_ist(*wednesday, 15, 45), quantity=None, action="exit")
    assert after_close.error == "outside_window" and "session" in after_close.public_message
    christmas = send_at(stack, at_ist(2026, 12, 25, 11, 0), quantity=None, action="exit")
    assert christmas.error == "market_closed" and "Christmas" in christmas.public_message
    assert sides(stack) == [("BUY", 10), ("SELL", 6), ("BUY", 5)]


# --- CANCEL: the instrument's open orders --------------------------------------------------------

def cancel(stack, **fields):
    return stack.post(stack.alert(quantity=None, action="cancel", **fields))


def test_cancel_cancels_each_open_order_of_the_instrument_on_its_endpoint(exchange):
    resting = exchange.post(exchange.alert(quantity=3, order_type="LIMIT", price="700"))  # below the market
    stop = exchange.post(exchange.alert(quantity=2, action="sell", order_type="SL-M", trigger_price="750"))
    other = exchange.post(exchange.alert(symbol="NSE:INFY", quantity=1, order_type="LIMIT", price="1"))
    assert {a.json_body["status"] for a in (resting, stop, other)} == {"placed"}
    answer = cancel(exchange, alert_id="cancel-1")
    assert answer.status_code == 200 and answer.json_body["status"] == "cancelled", answer.json_body
    outcomes = {o["order_id"]: (o["endpoint"], o["status"]) for o in answer.json_body["orders"]}
    assert outcomes == {resting.json_body["order_id"]: ("/order/cancel", "cancelled"),
                        stop.json_body["order_id"]: ("/smart/order/cancel", "cancelled")}
    book = {row["id"]: row["status"] for row in exchange.simulator.orders}
    assert book[resting.json_body["order_id"]] == book[stop.json_body["order_id"]] == "CANCELLED"
    assert book[other.json_body["order_id"]] != "CANCELLED"  # another instrument is left alone
    for request in exchange.simulator.requests("/order/cancel") + exchange.simulator.requests("/smart/order/cancel"):
        assert request_errors(request.method, request.path, request.json) == []
    assert journal("id:cancel-1")["state"] == "cancel"
    replay = cancel(exchange, alert_id="cancel-1")
    assert replay.json_body["status"] == "duplicate"
    nothing_left = cancel(exchange, alert_id="cancel-2")
    assert nothing_left.json_body["status"] == "noop" and journal("id:cancel-2")["state"] == "noop"
    assert len(exchange.simulator.requests("/order/cancel")) + len(exchange.simulator.requests("/smart/order/cancel")) == 2


def test_a_cancel_whose_outcome_is_unknown_is_reported_and_never_resent(stack):
    resting = stack.post(stack.alert(quantity=3, order_type="LIMIT", price="700"))
    stack.simulator.inject_fault("/order/cancel", "timeout", place=False, delay=3.0)
    answer = cancel(stack)
    assert answer.status_code == 504
    [outcome] = answer.json_body["orders"]
    assert (outcome["order_id"], outcome["status"]) == (resting.json_body["order_id"], "unknown")
    assert len(stack.simulator.requests("/order/cancel")) == 1


def test_a_paused_relay_sends_no_cancel_either(stack):
    stack.post(stack.alert(quantity=3, order_type="LIMIT", price="700"))
    stack.client.http.post("/pause", headers={"X-Admin-Key": SEEDED_ADMIN_KEY, "Content-Type": "application/json"},
                           body="{}")
    assert cancel(stack).status_code == 409
    assert stack.simulator.requests("/order/cancel") == []


# --- position_scope STRATEGY: two strategies on one symbol never undo each other ---------------

def scoped(stack, size, strategy, **fields):
    return target(stack, size, strategy=strategy, position_scope="strategy", **fields)


def test_strategy_scoped_targets_move_only_their_own_position(exchange):
    assert scoped(exchange, 10, "alpha").json_body["status"] == "placed"    # alpha: 0 → +10
    beta = scoped(exchange, 5, "beta").json_body                              # beta: 0 → +5, though the account holds 10
    assert beta["status"] == "placed" and beta["position"]["net"] + beta["position"]["in_flight"] == 0
    flat = scoped(exchange, 0, "alpha").json_body                             # alpha back to flat: sells its 10 only
    assert flat["status"] == "placed"
    assert sides(exchange) == [("BUY", 10), ("BUY", 5), ("SELL", 10)]
    assert net(exchange) == 5                                                 # beta's 5 stay
    again = scoped(exchange, 5, "beta")
    assert again.json_body["status"] == "noop"                                # beta already holds its 5
    exit_beta = exchange.post(exchange.alert(quantity=None, action="exit", strategy="beta", position_scope="strategy"))
    assert exit_beta.json_body["status"] == "placed" and sides(exchange)[-1] == ("SELL", 5) and net(exchange) == 0


def test_the_account_scope_would_have_undone_the_other_strategy(exchange):
    """The same signals in OpenAlgo's (account) meaning: beta's target is read against alpha's 10."""
    target(exchange, 10, strategy="alpha")
    target(exchange, 5, strategy="beta")
    assert sides(exchange) == [("BUY", 10), ("SELL", 5)]


def test_the_strategy_scope_needs_a_strategy_and_a_target(stack):
    no_strategy = target(stack, 5, position_scope="strategy")
    assert no_strategy.status_code == 400 and no_strategy.json_body["detail"][0]["field"] == "position_scope"
    plain = stack.post(stack.alert(strategy="alpha", position_scope="strategy"))
    assert plain.status_code == 400 and "position_size" in plain.json_body["detail"][0]["message"]
    assert stack.simulator.order_writes() == []


def test_an_exit_racing_an_entry_is_applied_one_after_the_other(exchange):
    """From +5: the exit and the target +10 arrive together. Either order is a consistent story
    (exit first: SELL 5 then BUY 10, ending +10; entry first: BUY 5 then SELL 10, ending flat),
    never both computed from +5 (SELL 5 and BUY 5, ending +5)."""
    assert target(exchange, 5).json_body["status"] == "placed"
    signals = [exchange.alert(quantity=None, action="exit"), exchange.alert(quantity=None, position_size=10)]
    threads = [threading.Thread(target=exchange.post, args=(signal,)) for signal in signals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    story = sides(exchange)[1:]
    assert story in ([("SELL", 5), ("BUY", 10)], [("BUY", 5), ("SELL", 10)]), story
    assert net(exchange) == (10 if story[0] == ("SELL", 5) else 0)


def test_cancel_takes_a_bracket_order_and_its_gtt_leg_on_the_smart_endpoint(exchange):
    bracket = exchange.post(exchange.alert(quantity=2, order_type="LIMIT", price="700", stop_loss="690",
                                           target="720")).json_body
    assert bracket["status"] == "placed", bracket
    legs = [row for row in exchange.simulator.orders if row["id"] != bracket["order_id"]]
    assert legs and all(row["order_type"] == "OCO" for row in legs)  # the GTT child holding the legs
    answer = cancel(exchange).json_body
    assert {(o["order_id"], o["endpoint"], o["status"]) for o in answer["orders"]} == \
        {(bracket["order_id"], "/smart/order/cancel", "cancelled")} | \
        {(row["id"], "/smart/order/cancel", "cancelled") for row in legs}
