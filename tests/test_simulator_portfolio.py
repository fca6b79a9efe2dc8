"""The simulator's exchange over real HTTP: fills, smart orders with stop-loss/target legs,
cancels, and the trade book, positions and funds the fills make.

Strategy execution reads positions and funds and sends the difference; these tests pin that
what the simulator reports is what its order book did, and that every reply conforms to the
vendored spec's response schema. Cash prices: SBIN (NSE 3045) starts at 800.00, tick 0.05.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from local.openapi import response_errors
from local.simulator import DEFAULT_BALANCE, IndstocksSimulator
from tests.test_simulator import REPO, TOKEN, assert_error, get, order, post
from tests.test_simulator_fno import OCT13, OCT27, TODAY, derivative_order, nifty

SBIN = ("NSE", "3045")


@pytest.fixture
def sim() -> Iterator[IndstocksSimulator]:
    with IndstocksSimulator(tokens=(TOKEN,), today=TODAY, fills=True) as simulator:
        yield simulator


@pytest.fixture
def still() -> Iterator[IndstocksSimulator]:
    """The default simulator: no exchange, orders stay where they are booked."""
    with IndstocksSimulator(tokens=(TOKEN,), today=TODAY) as simulator:
        yield simulator


def conforming(response: requests.Response, method: str, path: str) -> dict[str, Any]:
    """The reply's JSON, once it is a 200 that conforms to the spec's response schema."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert response_errors(method, path, 200, body) == [], body
    return body


def place(sim: IndstocksSimulator, body: dict[str, Any], path: str = "/order") -> str:
    """Place an order that must be accepted; its id."""
    reply = conforming(post(sim, path, body), "POST", path)
    data = reply["data"]["order_data"][0] if path == "/smart/order" else reply["data"]
    return data["order_id"]


def smart(sim: IndstocksSimulator, body: dict[str, Any]) -> dict[str, Any]:
    """Place a smart order that must be accepted; its order_data entry."""
    return conforming(post(sim, "/smart/order", body), "POST", "/smart/order")["data"]["order_data"][0]


def book(sim: IndstocksSimulator) -> dict[str, dict[str, Any]]:
    rows = conforming(get(sim, "/order-book"), "GET", "/order-book")["data"]
    return {row["id"]: row for row in rows}


def positions(sim: IndstocksSimulator, segment: str = "equity", product: str = "intraday") -> list[dict[str, Any]]:
    response = get(sim, "/portfolio/positions", params={"segment": segment, "product": product})
    return conforming(response, "GET", "/portfolio/positions")["data"]


def funds(sim: IndstocksSimulator) -> dict[str, Any]:
    return conforming(get(sim, "/funds"), "GET", "/funds")["data"]


def trades(sim: IndstocksSimulator, segment: str = "EQUITY") -> list[dict[str, Any]]:
    return conforming(get(sim, "/trade-book", params={"segment": segment}), "GET", "/trade-book")["data"]


def ltp(sim: IndstocksSimulator, code: str) -> float:
    response = get(sim, "/market/quotes/ltp", params={"scrip-codes": code})
    return conforming(response, "GET", "/market/quotes/ltp")["data"][code]["live_price"]


def cancel(sim: IndstocksSimulator, order_id: str, segment: str = "EQUITY", path: str = "/order/cancel") -> requests.Response:
    return post(sim, path, {"order_id": order_id, "segment": segment})


def limit(price: Any, **changes: Any) -> dict[str, Any]:
    return order(order_type="LIMIT", limit_price=price, **changes)


def bracket(**changes: Any) -> dict[str, Any]:
    """A smart LIMIT BUY of 10 SBIN at 795 with a stop-loss leg at 780/779 and a target at 820/821."""
    legs = {"sl_trigger_price": 780, "sl_limit_price": 779, "tgt_trigger_price": 820, "tgt_limit_price": 821}
    return limit(795, **{"qty": 10, "remarks": "tvr:bracket", **legs, **changes})


# --- fills ------------------------------------------------------------------------------------


def test_without_the_exchange_an_order_stays_where_it_was_booked(still):
    order_id = place(still, order(qty=3))
    still.set_price(*SBIN, 700)
    assert book(still)[order_id]["status"] == "INITIATED" and book(still)[order_id]["traded_qty"] == 0
    assert positions(still) == [] and trades(still) == []
    assert funds(still)["detailed_avl_balance"]["eq_cnc"] == float(DEFAULT_BALANCE)


def test_a_fill_set_by_a_test_reaches_the_trade_book_and_the_positions(still):
    order_id = place(still, order(qty=3))
    still.set_order_status(order_id, "SUCCESS", traded_qty=3, traded_price=801.25)
    [trade] = trades(still)
    assert (trade["quantity"], trade["price"], trade["exch_order_id"]) == (3, 801.25, book(still)[order_id]["exch_order_id"])
    [position] = positions(still)
    assert (position["net_qty"], position["avg_price"], position["buy_qty"]) == (3, 801.25, 3)
    still.set_order_status(order_id, "SUCCESS", extra_info="again, no new quantity")
    assert len(trades(still)) == 1


def test_a_market_order_fills_at_once_at_the_last_price(sim):
    sim.set_price(*SBIN, 812.35)
    reply = conforming(post(sim, "/order", order(qty=4)), "POST", "/order")
    assert reply["data"]["order_status"] == "INITIATED"  # the placement's answer; the fill follows
    row = book(sim)[reply["data"]["order_id"]]
    assert (row["status"], row["traded_qty"], row["traded_price"]) == ("SUCCESS", 4, "812.35")
    assert ltp(sim, "NSE_3045") == 812.35


@pytest.mark.parametrize(
    "side, price, still_open_at, fills_at",
    [("BUY", 790, 790.05, 789.5), ("SELL", 810, 809.95, 811)],
)
def test_a_limit_order_rests_until_the_price_reaches_it(sim, side, price, still_open_at, fills_at):
    order_id = place(sim, limit(price, txn_type=side, qty=2))
    assert book(sim)[order_id]["status"] == "PENDING"
    sim.set_price(*SBIN, still_open_at)
    assert book(sim)[order_id]["status"] == "PENDING" and trades(sim) == []
    sim.set_price(*SBIN, fills_at)  # through the limit: the fill is at the last price, never worse
    row = book(sim)[order_id]
    assert (row["status"], row["traded_qty"], row["traded_price"]) == ("SUCCESS", 2, f"{fills_at:.2f}")


def test_a_marketable_limit_fills_at_once_at_the_better_last_price(sim):
    order_id = place(sim, limit(805, qty=1))
    assert book(sim)[order_id]["traded_price"] == "800.00"


def test_a_modify_that_makes_a_limit_marketable_fills_it(sim):
    order_id = place(sim, limit(790, qty=1))
    modify = {"order_id": order_id, "segment": "EQUITY", "qty": 1, "limit_price": 800}
    assert conforming(post(sim, "/order/modify", modify), "POST", "/order/modify")["data"]["order_status"] == "MODIFIED"
    assert book(sim)[order_id]["status"] == "SUCCESS"


def test_an_amo_order_waits_for_a_session_the_simulator_does_not_model(sim):
    order_id = place(sim, order(is_amo=True))
    sim.set_price(*SBIN, 799)
    assert book(sim)[order_id]["status"] == "O-PENDING" and trades(sim) == []


def test_set_price_needs_a_known_instrument_and_a_positive_price(sim):
    with pytest.raises(KeyError):
        sim.set_price("NSE", "500112", 800)  # a BSE id
    with pytest.raises(ValueError):
        sim.set_price(*SBIN, 0)


def test_fno_orders_fill_at_the_contracts_quoted_price_and_follow_the_spot(sim):
    option, future = nifty(sim), nifty(sim, None, None, OCT27)
    market = place(sim, derivative_order(sim, option, qty=130))
    assert book(sim)[market]["traded_price"] == f"{ltp(sim, f'NFO_{option.security_id}'):.2f}"
    price = sim.fno_price(future)
    resting = place(sim, derivative_order(sim, future, order_type="LIMIT", limit_price=float(price - 100)))
    assert book(sim)[resting]["status"] == "PENDING"
    sim.set_spot("NIFTY", sim.spots["NIFTY"] - 150)
    row = book(sim)[resting]
    assert row["status"] == "SUCCESS" and row["traded_price"] == f"{ltp(sim, f'NFO_{future.security_id}'):.2f}"
    assert Decimal(row["traded_price"]) <= price - 100


# --- stops and smart orders -------------------------------------------------------------------


def test_a_stop_waits_for_its_trigger_then_works_as_a_limit(sim):
    stop = smart(sim, order(order_type="TRIGGER", trigger_price=810, trigger_limit_price=812, qty=5))
    assert stop["order_status"] == "CREATED" and "child_order_details" not in stop
    assert book(sim)[stop["order_id"]]["status"] == "SL-PENDING"
    sim.set_price(*SBIN, 809.95)
    assert book(sim)[stop["order_id"]]["status"] == "SL-PENDING"
    sim.set_price(*SBIN, 815)  # gapped through the trigger and past the limit: working, not filled
    assert book(sim)[stop["order_id"]]["status"] == "PENDING"
    sim.set_price(*SBIN, 808)  # back under the limit (and under the trigger: it already fired)
    row = book(sim)[stop["order_id"]]
    assert (row["status"], row["traded_qty"], row["traded_price"]) == ("SUCCESS", 5, "808.00")


def test_a_sell_stop_triggers_as_the_price_falls(sim):
    stop = smart(sim, order(order_type="TRIGGER", trigger_price=790, txn_type="SELL"))
    sim.set_price(*SBIN, 790)
    assert book(sim)[stop["order_id"]]["traded_price"] == "790.00"


def test_a_bracket_books_a_gtt_oco_child_that_waits_for_its_parent(sim):
    placed = smart(sim, bracket())
    child_id = placed["child_order_details"]["order_id"]
    assert placed["child_order_details"]["order_status"] == "CREATED" and child_id.startswith("GTT-")
    rows = book(sim)
    parent, child = rows[placed["order_id"]], rows[child_id]
    assert (parent["order_type"], parent["sl_trigger_price"], parent["status"]) == ("LIMIT", "", "PENDING")
    assert (child["order_type"], child["txn_type"], child["requested_qty"], child["status"]) == ("OCO", "SELL", 10, "CREATED")
    assert (child["sl_trigger_price"], child["sl_limit_price"]) == ("780.00", "779.00")
    assert (child["tgt_trigger_price"], child["tgt_limit_price"]) == ("820.00", "821.00")
    assert (child["segment"], child["product"], child["remarks"]) == ("EQUITY", "INTRADAY", "tvr:bracket")
    sim.set_price(*SBIN, 825)  # the target's price, but the parent has not executed: nothing happens
    assert book(sim)[child_id]["status"] == "CREATED" and trades(sim) == []


def test_the_child_arms_when_the_parent_fills_and_its_stop_closes_the_position(sim):
    placed = smart(sim, bracket())
    child_id = placed["child_order_details"]["order_id"]
    sim.set_price(*SBIN, 794)
    assert book(sim)[placed["order_id"]]["status"] == "SUCCESS"
    assert book(sim)[child_id]["status"] == "SL-PENDING"
    assert positions(sim)[0]["net_qty"] == 10
    sim.set_price(*SBIN, 779.5)  # through the stop's trigger, above its limit
    child = book(sim)[child_id]
    assert (child["status"], child["traded_qty"], child["traded_price"]) == ("SUCCESS", 10, "779.50")
    assert child["extra_info"].startswith("stop-loss leg triggered")
    [position] = positions(sim)
    assert (position["net_qty"], position["realized_profit"]) == (0, -145.0)  # (779.50 - 794) x 10
    sim.set_price(*SBIN, 830)  # the target can no longer fire: one leg cancels the other
    assert len(trades(sim)) == 2


def test_after_the_target_fires_the_stop_no_longer_can(sim):
    placed = smart(sim, bracket())
    child_id = placed["child_order_details"]["order_id"]
    sim.set_price(*SBIN, 795)
    sim.set_price(*SBIN, 820.5)  # the target fires; its limit (821) is not reached
    assert book(sim)[child_id]["status"] == "PENDING"
    sim.set_price(*SBIN, 770)  # below the stop's trigger: the stop leg is gone, the target's limit waits
    assert book(sim)[child_id]["status"] == "PENDING"
    sim.set_price(*SBIN, 821)
    assert book(sim)[child_id]["traded_price"] == "821.00" and positions(sim)[0]["net_qty"] == 0


def test_a_short_bracket_mirrors_the_legs(sim):
    body = order(txn_type="SELL", qty=2, sl_trigger_price=810, sl_limit_price=811, tgt_trigger_price=780,
                 tgt_limit_price=779)  # fmt: skip
    placed = smart(sim, body)  # MARKET: the entry is the last price, 800
    child_id = placed["child_order_details"]["order_id"]
    assert book(sim)[child_id]["txn_type"] == "BUY" and book(sim)[child_id]["status"] == "SL-PENDING"
    sim.set_price(*SBIN, 779)
    assert book(sim)[child_id]["traded_price"] == "779.00"
    assert positions(sim)[0]["realized_profit"] == 42.0  # (800 - 779) x 2


def test_a_cancelled_parent_leaves_its_child_inactive(sim):
    placed = smart(sim, bracket())
    child_id = placed["child_order_details"]["order_id"]
    conforming(cancel(sim, placed["order_id"], path="/smart/order/cancel"), "POST", "/smart/order/cancel")
    sim.set_price(*SBIN, 700)
    assert book(sim)[child_id]["status"] == "CREATED" and trades(sim) == []
    reply = conforming(cancel(sim, child_id, path="/smart/order/cancel"), "POST", "/smart/order/cancel")
    assert reply["data"] == {"order_id": child_id, "order_status": "CANCELLED"}


def test_a_trigger_parent_can_carry_legs_checked_against_its_trigger_limit(sim):
    body = order(order_type="TRIGGER", trigger_price=810, trigger_limit_price=812, sl_trigger_price=805,
                 sl_limit_price=804, tgt_trigger_price=830, tgt_limit_price=831)  # fmt: skip
    placed = smart(sim, body)
    sim.set_price(*SBIN, 811)
    assert book(sim)[placed["child_order_details"]["order_id"]]["status"] == "SL-PENDING"
    wrong = {**body, "sl_trigger_price": 812, "sl_limit_price": 811}  # not below the entry (812)
    assert_error(post(sim, "/smart/order", wrong), 400, "OrderException")


@pytest.mark.parametrize(
    "changes, error_type, words",
    [
        ({"sl_limit_price": None}, "InputException", "together"),
        ({"tgt_trigger_price": None}, "InputException", "together"),
        ({"sl_trigger_price": 795, "sl_limit_price": 794}, "OrderException", "stop-loss trigger must be below"),
        ({"sl_limit_price": 780}, "OrderException", "stop-loss limit must be below"),
        ({"tgt_trigger_price": 795, "tgt_limit_price": 796}, "OrderException", "target trigger must be above"),
        ({"tgt_limit_price": 819}, "OrderException", "target limit must be above"),
        ({"sl_trigger_price": 780.02}, "OrderException", "tick"),
        ({"txn_type": "SELL"}, "OrderException", "stop-loss trigger must be above"),
        ({"exchange": "BSE", "security_id": "500112", "algo_id": "9" * 16}, "InputException", "exchange"),
    ],
)
def test_legs_are_refused_as_indstocks_refuses_them(sim, changes, error_type, words):
    body = {key: value for key, value in {**bracket(), **changes}.items() if value is not None}
    response = post(sim, "/smart/order", body)
    assert_error(response, 400, error_type)
    assert words in response.json()["message"] and sim.orders == []


def test_legs_alone_are_accepted_without_the_other_pair(sim):
    placed = smart(sim, bracket(tgt_trigger_price=None, tgt_limit_price=None))
    child = book(sim)[placed["child_order_details"]["order_id"]]
    assert (child["sl_trigger_price"], child["tgt_trigger_price"]) == ("780.00", "")


def test_a_leg_is_modified_by_the_childs_own_id_on_the_smart_endpoint(sim):
    placed = smart(sim, bracket())
    child_id = placed["child_order_details"]["order_id"]
    modify = {"order_id": child_id, "segment": "EQUITY", "algo_id": "99999", "sl_trigger_price": 785, "sl_limit_price": 784}
    conforming(post(sim, "/smart/order/modify", modify), "POST", "/smart/order/modify")
    assert book(sim)[child_id]["sl_trigger_price"] == "785.00"
    parent_legs = {**modify, "order_id": placed["order_id"]}
    assert_error(post(sim, "/smart/order/modify", parent_legs), 400, "OrderException")
    sim.set_price(*SBIN, 795)
    sim.set_price(*SBIN, 784.5)
    assert book(sim)[child_id]["traded_price"] == "784.50"


# --- cancels ----------------------------------------------------------------------------------


def test_cancels_go_to_the_endpoint_family_of_the_order(sim):
    regular = place(sim, limit(700))
    placed = smart(sim, bracket())
    child_id = placed["child_order_details"]["order_id"]
    for order_id, wrong_path in ((regular, "/smart/order/cancel"), (placed["order_id"], "/order/cancel"),
                                 (child_id, "/order/cancel")):  # fmt: skip
        assert_error(cancel(sim, order_id, path=wrong_path), 400, "OrderException", "Position could not be found")
    assert_error(cancel(sim, child_id, "DERIVATIVE", "/smart/order/cancel"), 400, "OrderException")
    assert {row["status"] for row in book(sim).values()} == {"PENDING", "CREATED"}
    for order_id, path in ((regular, "/order/cancel"), (child_id, "/smart/order/cancel")):
        reply = conforming(cancel(sim, order_id, path=path), "POST", path)
        assert reply["data"] == {"order_id": order_id, "order_status": "CANCELLED"}
    sim.set_price(*SBIN, 690)
    assert book(sim)[regular]["status"] == "CANCELLED"


def test_an_armed_child_can_be_cancelled_and_then_never_fires(sim):
    placed = smart(sim, bracket())
    child_id = placed["child_order_details"]["order_id"]
    sim.set_price(*SBIN, 795)
    conforming(cancel(sim, child_id, path="/smart/order/cancel"), "POST", "/smart/order/cancel")
    sim.set_price(*SBIN, 700)
    assert book(sim)[child_id]["status"] == "CANCELLED" and positions(sim)[0]["net_qty"] == 10


def test_a_child_cancelled_before_its_parent_executes_stays_cancelled(sim):
    placed = smart(sim, bracket())
    child_id = placed["child_order_details"]["order_id"]
    conforming(cancel(sim, child_id, path="/smart/order/cancel"), "POST", "/smart/order/cancel")
    sim.set_price(*SBIN, 795)  # the parent executes
    sim.set_price(*SBIN, 700)
    assert book(sim)[child_id]["status"] == "CANCELLED" and positions(sim)[0]["net_qty"] == 10


def test_a_filled_or_cancelled_order_cannot_be_cancelled(sim):
    filled = place(sim, order())
    assert_error(cancel(sim, filled), 400, "OrderException", "Position could not be found")
    resting = place(sim, limit(700))
    conforming(cancel(sim, resting), "POST", "/order/cancel")
    assert_error(cancel(sim, resting), 400, "OrderException", "Position could not be found")
    assert_error(cancel(sim, "GTT-1", path="/smart/order/cancel"), 400, "OrderException", "Position could not be found")


# --- positions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, named",
    [({"segment": "EQUITY", "product": "cnc"}, "segment"), ({"segment": "equity", "product": "CNC"}, "product"),
     ({"segment": "equity"}, "product"), ({"product": "cnc"}, "segment"), ({"segment": "cash", "product": "cnc"}, "segment")],
)  # fmt: skip
def test_positions_take_lower_case_segment_and_product_only(sim, params, named):
    place(sim, order(product="CNC"))
    response = get(sim, "/portfolio/positions", params=params)
    assert_error(response, 400, "InputException")
    assert response.json()["message"].startswith(named)


def test_positions_are_per_security_and_product_in_each_of_the_four_reads(sim):
    option = nifty(sim)
    place(sim, order(qty=5, product="CNC"))
    place(sim, order(qty=3))  # INTRADAY
    place(sim, order(qty=2, txn_type="SELL", security_id="11915"))  # a YESBANK short, INTRADAY
    place(sim, derivative_order(sim, option, qty=65))  # MARGIN
    place(sim, derivative_order(sim, option, qty=130, product="INTRADAY", txn_type="SELL"))
    [cnc] = positions(sim, "equity", "cnc")
    assert (cnc["security_id"], cnc["product"], cnc["segment"], cnc["exchange"], cnc["net_qty"]) == (
        "3045", "CNC", "EQUITY", "NSE", 5)  # fmt: skip
    intraday = {row["security_id"]: row for row in positions(sim, "equity", "intraday")}
    assert (intraday["3045"]["net_qty"], intraday["11915"]["net_qty"]) == (3, -2)
    assert (intraday["11915"]["sell_qty"], intraday["11915"]["avg_price"], intraday["11915"]["symbol"]) == (2, 20.0, "YESBANK")
    [margin] = positions(sim, "derivative", "margin")
    [short] = positions(sim, "derivative", "intraday")
    assert (margin["net_qty"], short["net_qty"]) == (65, -130)
    assert margin["exchange"] == "" and margin["security_id"] == option.security_id  # an index derivative
    assert (margin["drv_instrument"], margin["drv_option_type"], margin["drv_strike_price"]) == ("OPTIDX", "CE", 24450.0)
    assert margin["drv_expiry_date"] == f"{OCT13:%m/%d/%Y} 14:30"
    assert positions(sim, "equity", "margin") == [] and positions(sim, "derivative", "cnc") == []


def test_a_stock_future_position_keeps_its_exchange(sim):
    future = sim.find_contract("RELIANCE", OCT27)
    place(sim, derivative_order(sim, future))
    [row] = positions(sim, "derivative", "margin")
    assert (row["exchange"], row["drv_instrument"], row["drv_option_type"]) == ("NSE", "FUTSTK", "")


def test_average_cost_realised_profit_and_a_flip_through_flat(sim):
    place(sim, order(qty=10))  # 10 @ 800
    sim.set_price(*SBIN, 810)
    place(sim, order(qty=10))  # 10 @ 810: average 805
    sim.set_price(*SBIN, 815)
    place(sim, order(qty=4, txn_type="SELL"))  # closes 4 at +10
    [row] = positions(sim)
    assert (row["net_qty"], row["avg_price"], row["realized_profit"]) == (16, 805.0, 40.0)
    sim.set_price(*SBIN, 790)
    place(sim, order(qty=20, txn_type="SELL"))  # closes 16 at -15, opens 4 short at 790
    [row] = positions(sim)
    assert (row["net_qty"], row["avg_price"], row["realized_profit"]) == (-4, 790.0, 40.0 - 240.0)
    assert (row["buy_qty"], row["buy_avg"], row["sell_qty"]) == (20, 805.0, 24)
    assert row["sell_avg"] == pytest.approx((4 * 815 + 20 * 790) / 24, abs=1e-4)
    assert (row["day_buy_val"], row["day_sell_val"]) == (16100.0, 19060.0)
    assert row["cf_buy_qty"] is None
    place(sim, order(qty=4))  # flat again
    [row] = positions(sim)
    assert (row["net_qty"], row["avg_price"], row["realized_profit"]) == (0, 0.0, -200.0 + 4 * (790 - 790))


# --- funds, P&L, RMS --------------------------------------------------------------------------


def test_funds_start_at_the_configured_balance(sim):
    sim.sod_balance = Decimal("250000")
    data = funds(sim)
    assert data["sod_balance"] == data["withdrawal_balance"] == 250000.0
    assert set(data["detailed_avl_balance"].values()) == {250000.0, 0.0}
    assert data["detailed_avl_balance"]["eq_cnc"] == 250000.0 and data["realized_pnl"] == data["unrealized_pnl"] == 0.0


@pytest.mark.parametrize(
    "kind, blocked",
    [("cnc", Decimal("8000")),  # 10 x 800, all of it
     ("intraday", Decimal("1600")),  # a fifth
     ("future", None), ("option buy", None), ("option sell", None)],
)  # fmt: skip
def test_a_fill_blocks_the_margin_of_its_product(sim, kind, blocked):
    future, option = nifty(sim, None, None, OCT27), nifty(sim)
    bodies = {
        "cnc": order(qty=10, product="CNC"), "intraday": order(qty=10),
        "future": derivative_order(sim, future), "option buy": derivative_order(sim, option),
        "option sell": derivative_order(sim, option, txn_type="SELL"),
    }  # fmt: skip
    expected = {
        "future": Decimal(65) * sim.fno_price(future) * Decimal("0.15"),
        "option buy": Decimal(65) * sim.fno_price(option),
        "option sell": Decimal(65) * 24450 * Decimal("0.15"),
    }  # fmt: skip
    place(sim, bodies[kind])
    free = Decimal(str(funds(sim)["detailed_avl_balance"]["eq_cnc"]))
    assert free == DEFAULT_BALANCE - (blocked if blocked is not None else expected[kind]).quantize(Decimal("0.01"))


def test_pnl_from_positions_and_quotes_is_the_funds_pnl(sim):
    option = nifty(sim)
    place(sim, order(qty=10))
    place(sim, order(qty=7, txn_type="SELL", security_id="11915"))
    place(sim, derivative_order(sim, option, qty=130))
    sim.set_price(*SBIN, 806.5)
    place(sim, order(qty=4, txn_type="SELL"))
    sim.set_price(*SBIN, 790.25)
    sim.set_price("NSE", "11915", 21.37)
    sim.set_spot("NIFTY", sim.spots["NIFTY"] + 80)
    rows = positions(sim) + positions(sim, "derivative", "margin")
    code = {"3045": "NSE_3045", "11915": "NSE_11915", option.security_id: f"NFO_{option.security_id}"}
    realized = sum(Decimal(str(row["realized_profit"])) for row in rows)
    unrealized = sum(
        (Decimal(str(ltp(sim, code[row["security_id"]]))) - Decimal(str(row["avg_price"]))) * row["net_qty"] for row in rows
    )
    data = funds(sim)
    assert realized == Decimal("26.00") and Decimal(str(data["realized_pnl"])) == realized
    assert Decimal(str(data["unrealized_pnl"])) == unrealized.quantize(Decimal("0.01"))
    assert unrealized != 0
    # Average cost: what was realised plus what is open is what the trades made, at today's prices.
    cash_flow = sum(Decimal(str(row["day_sell_val"])) - Decimal(str(row["day_buy_val"])) for row in rows)
    marked = sum(Decimal(str(ltp(sim, code[row["security_id"]]))) * row["net_qty"] for row in rows)
    assert realized + unrealized == cash_flow + marked


def test_realised_profit_frees_cash_and_a_new_day_books_it(sim):
    place(sim, order(qty=10, product="CNC"))
    sim.set_price(*SBIN, 820)
    place(sim, order(qty=10, product="CNC", txn_type="SELL"))
    data = funds(sim)
    assert (data["realized_pnl"], data["detailed_avl_balance"]["eq_cnc"]) == (200.0, float(DEFAULT_BALANCE) + 200)
    sim.new_trading_day()
    data = funds(sim)
    assert (data["sod_balance"], data["realized_pnl"]) == (float(DEFAULT_BALANCE) + 200, 0.0)
    assert positions(sim, "equity", "cnc") == [] and trades(sim) == []


def test_rms_refuses_an_order_over_the_free_cash_but_not_one_that_reduces(sim):
    sim.sod_balance = Decimal("10000")
    place(sim, order(qty=12, product="CNC"))  # 9600 blocked
    assert_error(post(sim, "/order", order(qty=1, product="CNC")), 400, "OrderException", "RMS: Margin exceeds available funds")
    assert_error(post(sim, "/order", limit(790, qty=1, product="CNC")), 400, "OrderException")  # priced at its limit
    place(sim, order(qty=2))  # INTRADAY: a fifth of 1600 fits in the 400 left
    place(sim, order(qty=12, product="CNC", txn_type="SELL"))  # closing needs no margin
    assert len(book(sim)) == 3


def test_the_rms_check_is_part_of_the_exchange(still):
    still.sod_balance = Decimal("100")
    assert post(still, "/order", order(qty=10, product="CNC")).status_code == 200


# --- trade book -------------------------------------------------------------------------------


def test_the_trade_book_lists_a_segments_fills_joined_by_exchange_order_id(sim):
    first = place(sim, order(qty=2, remarks="tvr:a"))
    placed = smart(sim, bracket(remarks=None))
    sim.set_price(*SBIN, 794)
    place(sim, derivative_order(sim, nifty(sim)))
    rows = book(sim)
    equity = trades(sim)
    assert [(t["exch_order_id"], t["quantity"], t["price"]) for t in equity] == [
        (rows[first]["exch_order_id"], 2, 800.0), (rows[placed["order_id"]]["exch_order_id"], 10, 794.0)]  # fmt: skip
    assert equity[0]["remarks"] == "tvr:a" and "remarks" not in equity[1]
    assert {t["scrip_code"] for t in equity} == {"3045"} and len({t["fill_id"] for t in equity}) == 2
    assert equity[0]["trade_date"].endswith("+05:30")
    assert rows[placed["order_id"]]["exch_order_id"] != ""  # a smart order has one once it executed
    [derivative] = trades(sim, "DERIVATIVE")
    assert derivative["quantity"] == 65


@pytest.mark.parametrize("params", [{}, {"segment": "equity"}, {"segment": "FNO"}])
def test_the_trade_book_needs_its_segment(sim, params):
    assert_error(get(sim, "/trade-book", params=params), 400, "InputException")


def test_reads_need_the_token(sim):
    for path in ("/funds", "/trade-book?segment=EQUITY", "/portfolio/positions?segment=equity&product=cnc"):
        assert get(sim, path, headers={"Authorization": "wrong"}).status_code == 403


# --- control API and command line ----------------------------------------------------------------


def control(sim: IndstocksSimulator, path: str, body: Any) -> requests.Response:
    return requests.post(sim.url + "/_sim/" + path, json=body, timeout=5)


def test_price_and_account_over_the_control_api(still):
    order_id = place(still, limit(790))
    assert control(still, "account", {"fills": True, "balance": 5000}).status_code == 200
    assert still.sod_balance == Decimal("5000") and book(still)[order_id]["status"] == "PENDING"
    assert control(still, "price", {"exchange": "NSE", "security_id": "3045", "price": 789.5}).status_code == 200
    assert book(still)[order_id]["traded_price"] == "789.50"
    assert control(still, "price", {"exchange": "NSE", "security_id": "424242", "price": 1}).status_code == 400
    assert control(still, "price", {"exchange": "NSE", "security_id": "3045", "price": -1}).status_code == 400


def test_command_line_runs_the_exchange_with_a_balance():
    command = [sys.executable, "-m", "local.simulator", "--port", "0", "--token", TOKEN, "--fills", "--balance", "12345.5"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline()).group(0)
        headers = {"Authorization": TOKEN}
        placed = requests.post(url + "/order", json=order(), headers=headers, timeout=5).json()["data"]["order_id"]
        [row] = requests.get(url + "/order-book", headers=headers, timeout=5).json()["data"]
        assert (row["id"], row["status"]) == (placed, "SUCCESS")
        assert requests.get(url + "/funds", headers=headers, timeout=5).json()["data"]["sod_balance"] == 12345.5
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=5)
        process.stdout.close()


def test_reset_forgets_fills_and_keeps_the_balance(sim):
    sim.sod_balance = Decimal("50000")
    place(sim, order(qty=3))
    sim.reset()
    assert trades(sim) == [] and positions(sim) == [] and funds(sim)["sod_balance"] == 50000.0


def test_every_read_the_simulator_serves_conforms_to_the_spec_after_a_trading_day(sim):
    option = nifty(sim)
    smart(sim, bracket())
    place(sim, order(product="CNC"))
    place(sim, derivative_order(sim, option, qty=130))
    place(sim, derivative_order(sim, option, product="INTRADAY", txn_type="SELL"))
    sim.set_price(*SBIN, 794)
    sim.set_price(*SBIN, 779)
    reads = [
        ("/user/profile", {}), ("/order-book", {}), ("/funds", {}), ("/trade-book", {"segment": "EQUITY"}),
        ("/trade-book", {"segment": "DERIVATIVE"}),
        ("/market/quotes/ltp", {"scrip-codes": f"NSE_3045,NFO_{option.security_id},NIDX_40000001"}),
        ("/market/option-chain", {"exchange": "NSE", "segment": "INDEX", "underlying-scrip": "40000001",
                                  "expiry": OCT13.isoformat(), "strike_count": "2"}),
        ("/market/instruments/search", {"underlying": "NIFTY", "segment": "DERIVATIVE", "page_size": "5"}),
        ("/market/instruments/expiries", {"underlying": "NIFTY", "segment": "DERIVATIVE"}),
    ] + [("/portfolio/positions", {"segment": s, "product": p}) for s, p in
         (("equity", "cnc"), ("equity", "intraday"), ("derivative", "margin"), ("derivative", "intraday"))]  # fmt: skip
    for path, params in reads:
        body = conforming(get(sim, path, params=params), "GET", path)
        assert body["status"] == "success" and body["data"], path
