"""Brackets (`stop_loss`/`target`) and sizing modes (`quantity_type` + `amount`) through the
relay: the HTTP answer, the exact request the simulator received (validated against the
OpenAPI spec by the simulator and again here), its order book and exchange, and the ledger."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from local.openapi import request_errors
from tests import test_fno_alerts
from tests.test_fno_alerts import futures
from tests.test_targets import SBIN, exchange, journal, net, sides, target  # noqa: F401 - fixtures

fno = test_fno_alerts.fno


def the_write(stack):
    [write] = stack.simulator.order_writes()
    assert request_errors(write.method, write.path, write.json) == []
    return write


def book(stack):
    return {row["id"]: row for row in stack.simulator.orders}


def problems(answer):
    return {problem["field"]: problem["message"] for problem in answer.json_body.get("detail", [])}


# --- brackets -----------------------------------------------------------------------------------

def test_a_market_buy_with_percent_levels_is_one_smart_order_from_the_last_price(stack):
    answer = stack.post(stack.alert(quantity=5, stop_loss="1.5%", target="3%", alert_id="br-1"))
    assert answer.status_code == 200 and answer.json_body["status"] == "placed", answer.json_body
    write = the_write(stack)
    assert write.path == "/smart/order"
    # SBIN's last price is 800.00 (tick 0.05): the stop 788.00 (its limit 0.5 % below, rounded
    # down), the target 824.00 with its trigger one tick before it.
    assert write.json == {**write.json, "txn_type": "BUY", "qty": 5, "order_type": "MARKET", "validity": "DAY",
                          "exchange": "NSE", "sl_trigger_price": 788.0, "sl_limit_price": 784.05,
                          "tgt_trigger_price": 823.95, "tgt_limit_price": 824.0}
    assert "is_amo" not in write.json and "is_tsl" not in write.json
    bracket = answer.json_body["bracket"]
    assert (Decimal(bracket["entry_price"]), bracket["entry_price_from"]) == (Decimal(800), "last price")
    assert bracket["rounding"]["stop_loss"] == {"level": "1.5%", "asked": "788.00", "sent": "788.00", "tick": "0.05"}
    assert bracket["rounding"]["target"]["sent"] == "824.00" and bracket["rounding"]["target"]["level"] == "3%"
    assert len(stack.simulator.requests("/market/quotes/ltp")) == 1  # read once: legs and MAX_ORDER_VALUE
    # The broker booked the parent and a GTT- OCO child with the legs, inactive until it fills.
    rows = book(stack)
    parent = rows[answer.json_body["order_id"]]
    [child] = [row for row in rows.values() if row["id"].startswith("GTT-")]
    assert parent["order_type"] == "MARKET" and parent["requested_qty"] == 5
    assert (child["order_type"], child["txn_type"], child["requested_qty"], child["status"]) == ("OCO", "SELL", 5, "CREATED")
    assert (child["sl_trigger_price"], child["tgt_limit_price"]) == ("788.00", "824.00")
    item = journal("id:br-1")
    assert item["endpoint"] == "/smart/order" and json.loads(item["request"]) == write.json
    assert item["state"] == "placed" and item.get("sizing") is None


def test_a_sell_limit_with_absolute_levels_rounds_each_leg_against_the_trader(stack):
    answer = stack.post(stack.alert(action="sell", quantity=2, order_type="LIMIT", price="801.03",
                                    stop_loss="810.02", target=790))
    assert answer.json_body["status"] == "placed", answer.json_body
    write = the_write(stack)
    # The SELL limit rounds up to 801.05, the legs are checked against it; the stop's trigger
    # rounds away from the entry (up), its limit 0.5 % above; the target (a BUY) never above 790.
    assert (write.path, write.json["limit_price"]) == ("/smart/order", 801.05)
    assert {leg: write.json[leg] for leg in ("sl_trigger_price", "sl_limit_price", "tgt_trigger_price",
                                             "tgt_limit_price")} == {"sl_trigger_price": 810.05, "sl_limit_price": 814.15,
                                                                      "tgt_trigger_price": 790.05, "tgt_limit_price": 790.0}
    bracket = answer.json_body["bracket"]
    assert (bracket["entry_price"], bracket["entry_price_from"]) == ("801.05", "limit price")
    assert bracket["rounding"]["stop_loss"] == {"asked": "810.02", "sent": "810.05", "tick": "0.05"}
    [child] = [row for row in stack.simulator.orders if row["order_type"] == "OCO"]
    assert child["txn_type"] == "BUY" and child["sl_limit_price"] == "814.15"


def test_a_market_entry_carrying_its_close_computes_the_legs_from_it_without_a_read(stack):
    answer = stack.post(stack.alert(quantity=1, price="799.50", stop_loss="790", target="2%"))
    assert answer.json_body["status"] == "placed", answer.json_body
    assert answer.json_body["bracket"]["entry_price_from"] == "alert price"
    assert the_write(stack).json["tgt_limit_price"] == 815.5  # 799.50 + 2 % = 815.49, a SELL exit rounds up
    assert stack.simulator.requests("/market/quotes/ltp") == []


@pytest.mark.parametrize("fields, field, words", [
    ({"stop_loss": "805"}, "stop_loss", "is not below the entry price 800"),       # a BUY's stop above the entry
    ({"target": "790"}, "target", "is not above the entry price 800"),             # a BUY's target below it
    ({"action": "sell", "stop_loss": "795"}, "stop_loss", "is not above"),          # a SELL's stop below it
    ({"action": "sell", "target": "801"}, "target", "is not below"),                # a SELL's target above it
    ({"action": "sell", "order_type": "LIMIT", "price": "800", "target": "2%", "stop_loss": "1%"}, None, None),
])  # fmt: skip
def test_levels_on_the_wrong_side_of_the_entry_are_refused_naming_the_field(stack, fields, field, words):
    answer = stack.post(stack.alert(quantity=1, **fields))
    if field is None:  # the control: the same levels on their side are placed
        assert answer.json_body["status"] == "placed", answer.json_body
        return
    assert answer.status_code == 400 and words in problems(answer)[field], answer.json_body
    assert stack.simulator.order_writes() == []


@pytest.mark.parametrize("fields, field, words", [
    ({"symbol": "BSE:SBIN", "stop_loss": "1%"}, "stop_loss", "NSE-only"),
    ({"symbol": "BSE:SBIN", "target": "2%"}, "target", "NSE-only"),
    ({"trailing_stop": "1%", "stop_loss": "2%"}, "trailing_stop", "INDstocks does not run trailing stops"),
    ({"trailing_stop": 5}, "trailing_stop", "is_tsl is not live"),
    ({"stop_loss": "1.5 percent"}, "stop_loss", "a percent of the entry price"),
    ({"target": "0%"}, "target", "must be above zero"),
    ({"stop_loss": "1%", "validity": "IOC"}, "validity", "DAY-only"),
    ({"stop_loss": "1%", "amo": True}, "amo", "no after-market flag"),
    ({"action": "exit", "quantity": None, "stop_loss": "1%"}, "stop_loss", "EXIT opens nothing"),
    ({"action": "cancel", "quantity": None, "target": "1%"}, "target", "CANCEL opens nothing"),
])  # fmt: skip
def test_brackets_an_entry_cannot_carry_are_refused_before_anything_is_read(stack, fields, field, words):
    answer = stack.post(stack.alert(**{"quantity": 1, **fields}))
    assert answer.status_code == 400 and words in problems(answer).get(field, ""), answer.json_body
    assert stack.simulator.requests() == []  # refused by the alert model: no read, no write


def test_the_stop_leg_fires_when_the_price_crosses_it(exchange):  # noqa: F811 - the fixture
    answer = exchange.post(exchange.alert(quantity=4, stop_loss="2%", target="5%"))
    assert answer.json_body["status"] == "placed", answer.json_body
    assert net(exchange) == 4
    [child] = [row for row in exchange.simulator.orders if row["order_type"] == "OCO"]
    assert child["status"] == "SL-PENDING"  # armed: the entry filled
    exchange.simulator.set_price("NSE", SBIN, "790")  # above the stop (784.00): nothing yet
    assert book(exchange)[child["id"]]["status"] == "SL-PENDING" and net(exchange) == 4
    exchange.simulator.set_price("NSE", SBIN, "783.50")  # through the stop
    fired = book(exchange)[child["id"]]
    assert fired["status"] == "SUCCESS" and "stop-loss leg" in fired["extra_info"]
    assert net(exchange) == 0


def test_a_target_that_opens_carries_the_bracket_one_that_reduces_or_reverses_is_refused(exchange):  # noqa: F811
    opened = target(exchange, 10, stop_loss="1%", alert_id="br-open")
    assert opened.json_body["status"] == "placed", opened.json_body
    assert exchange.simulator.order_writes()[-1].path == "/smart/order"
    assert exchange.simulator.order_writes()[-1].json["sl_trigger_price"] == 792.0
    added = target(exchange, 15, target="2%")
    assert added.json_body["status"] == "placed" and sides(exchange)[-1] == ("BUY", 5)
    reduce = target(exchange, 5, stop_loss="1%", alert_id="br-reduce")
    assert reduce.status_code == 400 and "closes 10 units" in problems(reduce)["stop_loss"]
    reverse = target(exchange, -5, stop_loss="1%", target="1%")
    assert reverse.status_code == 400 and set(problems(reverse)) == {"stop_loss", "target"}
    assert len(exchange.simulator.order_writes()) == 2
    assert journal("id:br-reduce")["state"] == "rejected"
    for write in exchange.simulator.order_writes():
        assert request_errors(write.method, write.path, write.json) == []


def test_a_futures_bracket_goes_on_the_contracts_tick(fno):
    future = futures(fno.simulator, "NIFTY")[0]
    answer = fno.post(test_fno_alerts.alert(symbol="NIFTY1!", lots=1, stop_loss="1%", target="1%", product="NRML"))
    assert answer.json_body["status"] == "placed", answer.json_body
    write = the_write(fno)
    assert write.path == "/smart/order" and write.json["segment"] == "DERIVATIVE" and write.json["qty"] == future.lot
    tick = Decimal(answer.json_body["contract"]["tick_size"])
    for leg in ("sl_trigger_price", "sl_limit_price", "tgt_trigger_price", "tgt_limit_price"):
        assert Decimal(str(write.json[leg])) % tick == 0, leg


# --- sizing ------------------------------------------------------------------------------------

def sized(stack, mode, amount, **fields):
    return stack.post(stack.alert(quantity=None, quantity_type=mode, amount=amount, **fields))


def test_capital_buys_whole_shares_at_the_last_price(stack):
    answer = sized(stack, "capital", 10000, alert_id="sz-capital")
    assert answer.json_body["status"] == "placed", answer.json_body
    assert the_write(stack).json["qty"] == 12  # ₹10,000 ÷ ₹800 = 12.5, rounded down
    sizing = answer.json_body["sizing"]
    assert (sizing["quantity_type"], sizing["units"]) == ("capital", 12)
    assert "₹10,000 buys 12 shares at ₹800" in sizing["description"] and "(last price)" in sizing["description"]
    item = journal("id:sz-capital")
    assert json.loads(item["sizing"]) == sizing and item["qty"] == "12"


def test_capital_on_a_limit_is_valued_at_the_limit(stack):
    answer = sized(stack, "capital", "10000", order_type="LIMIT", price="700")
    assert answer.json_body["status"] == "placed", answer.json_body
    assert the_write(stack).json["qty"] == 14  # ₹10,000 ÷ ₹700 = 14.28
    assert stack.simulator.requests("/market/quotes/ltp") == []


def test_risk_sizes_to_the_rounded_stop_of_the_bracket(stack):
    answer = sized(stack, "risk", 1000, price="800", stop_loss="1%", alert_id="sz-risk")
    assert answer.json_body["status"] == "placed", answer.json_body
    write = the_write(stack)
    # Entry 800 (the alert's price), stop 792.00: ₹8 a share at risk, ₹1,000 ÷ ₹8 = 125 shares.
    assert (write.path, write.json["qty"], write.json["sl_trigger_price"]) == ("/smart/order", 125, 792.0)
    inputs = json.loads(journal("id:sz-risk")["sizing"])["inputs"]
    assert (inputs["stop_loss"], inputs["stop_distance"]) == ("792", "8")


def test_percent_of_funds_reads_the_tradable_cash_once(stack):
    answer = sized(stack, "percent_of_funds", "1.5", price="800")
    assert answer.json_body["status"] == "placed", answer.json_body
    assert the_write(stack).json["qty"] == 18  # 1.5 % of ₹10,00,000 is ₹15,000: 18.75 shares
    assert len(stack.simulator.requests("/funds")) == 1
    assert json.loads(json.dumps(answer.json_body["sizing"]))["inputs"]["funds"] == "1000000"


def test_a_size_that_rounds_to_zero_is_refused_and_nothing_is_sent(stack):
    answer = sized(stack, "capital", 500, alert_id="sz-zero")
    assert answer.status_code == 422 and answer.json_body["error"] == "size_too_small", answer.json_body
    assert "0 shares" in answer.json_body["message"] and problems(answer)["amount"]
    assert stack.simulator.order_writes() == []
    assert journal("id:sz-zero")["state"] == "rejected"


@pytest.mark.parametrize("fields, field, words", [
    ({"quantity_type": "capital"}, "amount", "is required with quantity_type capital"),
    ({"quantity_type": "capital", "amount": 1000, "quantity": 5}, "quantity", "derives the quantity"),
    ({"quantity_type": "capital", "amount": 1000, "position_size": 5}, "position_size", "derives the quantity"),
    ({"amount": 1000, "quantity": 5}, "amount", "applies only with quantity_type"),
    ({"quantity_type": "risk", "amount": 1000}, "stop_loss", "is required with quantity_type risk"),
    ({"quantity_type": "percent_of_funds", "amount": 101}, "amount", "at most 100"),
    ({"quantity_type": "capital", "amount": -5}, "amount", "above zero"),
    ({"quantity_type": "kelly", "amount": 5}, "quantity_type", "must be one of fixed, capital"),
    ({"quantity_type": "capital", "amount": 5, "action": "exit"}, "quantity_type", "EXIT sends no new position"),
])  # fmt: skip
def test_sizing_fields_are_refused_naming_the_field(stack, fields, field, words):
    answer = stack.post(stack.alert(**{"quantity": None, **fields}))
    assert answer.status_code == 400 and words in problems(answer).get(field, ""), answer.json_body
    assert stack.simulator.order_writes() == []


def test_futures_are_sized_in_whole_lots_of_the_contract(fno):
    future = futures(fno.simulator, "NIFTY")[0]
    price = fno.simulator.fno_price(future)
    amount = price * future.lot * Decimal("2.7")  # two and a bit lots
    answer = fno.post(test_fno_alerts.alert(symbol="NIFTY1!", quantity_type="capital", amount=str(amount),
                                            product="NRML", alert_id="sz-lots"))
    assert answer.json_body["status"] == "placed", answer.json_body
    assert the_write(fno).json["qty"] == 2 * future.lot
    assert answer.json_body["contract"]["qty_units"] == 2 * future.lot
    record = json.loads(journal("id:sz-lots")["sizing"])
    assert (record["units"], record["lots"]) == (2 * future.lot, 2)
    too_small = fno.post(test_fno_alerts.alert(symbol="NIFTY1!", quantity_type="capital",
                                               amount=str(price * future.lot / 2), product="NRML"))
    assert too_small.status_code == 422 and too_small.json_body["error"] == "size_too_small"
    assert f"0 lots of {future.lot} units" in too_small.json_body["message"]


# --- the README's strategy messages --------------------------------------------------------------

def readme_strategy_messages():
    import re
    from pathlib import Path

    text = Path(__file__).resolve().parents[1].joinpath("README.md").read_text("utf-8")
    section = text[text.index("## Strategies: targets, exits, brackets and sizing"):text.index("## The kill switch")]
    return [json.loads(block) for block in re.findall(r"^```\n(\{.*\})\n```$", section, re.M)]


def expanded(message, stack, **values):
    said = {"{{ticker}}": "SBIN", "{{strategy.order.action}}": "buy", "{{strategy.order.contracts}}": "3",
            "{{close}}": "800", "{{strategy.order.id}}-{{timenow}}": values.get("alert_id", "readme-1"),
            "{{strategy.position_size}}": "3"}
    fields = {}
    for name, value in message.items():
        if isinstance(value, str):
            for placeholder, text in said.items():
                value = value.replace(placeholder, text)
        fields[name] = value
    return {**fields, "secret": stack.alert()["secret"]}


def test_the_readme_bracket_and_risk_messages_place_what_they_say(stack):
    messages = readme_strategy_messages()
    bracket = next(m for m in messages if "stop_loss" in m and "quantity_type" not in m)
    risk = next(m for m in messages if m.get("quantity_type") == "risk")
    placed = stack.post(expanded(bracket, stack, alert_id="readme-bracket"))
    assert placed.json_body["status"] == "placed", placed.json_body
    sized = stack.post(expanded(risk, stack, alert_id="readme-risk"))
    assert sized.json_body["status"] == "placed", sized.json_body
    first, second = stack.simulator.order_writes()
    assert (first.path, first.json["qty"], first.json["sl_trigger_price"]) == ("/smart/order", 3, 788.0)
    # ₹2,000 at risk, entry 800, stop 2 % below (784.00): ₹16 a share, 125 shares.
    assert (second.path, second.json["qty"], second.json["sl_trigger_price"]) == ("/smart/order", 125, 784.0)


def test_a_queued_bracket_entry_goes_out_later_exactly_as_planned(stack):
    """Over the pace: the plan (legs, size) is made once, recorded in the queued item, and the
    sweep sends that very request."""
    from tests.test_ledger import pace_a_minute_apart, pace_normally, run_sweep

    pace_a_minute_apart()
    assert stack.post(stack.alert(alert_id="q-first")).json_body["status"] == "placed"
    answer = sized(stack, "capital", 10000, price="800", stop_loss="1%", alert_id="q-bracket")
    assert answer.status_code == 202 and answer.json_body["status"] == "queued", answer.json_body
    assert answer.json_body["sizing"]["units"] == 12 and answer.json_body["bracket"]["legs"]["sl_trigger_price"] == 792.0
    queued = journal("id:q-bracket")
    assert queued["state"] == "queued" and json.loads(queued["sizing"])["units"] == 12
    pace_normally()
    assert run_sweep(stack).sent == ["id:q-bracket"]
    assert journal("id:q-bracket")["state"] == "placed"
    sent = stack.simulator.order_writes()[-1]
    assert (sent.path, sent.json) == ("/smart/order", json.loads(queued["request"]))
    assert (sent.json["qty"], sent.json["sl_trigger_price"]) == (12, 792.0)
