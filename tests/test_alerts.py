"""The alert model and body parsing: each field rule, both body formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.alerts import (
    Exchange,
    OrderType,
    Product,
    Side,
    Validity,
    parse_body,
    validate_alert,
)
from chalicelib.errors import AlertRejected

BASE = {"symbol": "SBIN", "action": "BUY", "quantity": 1}


def alert(**changes):
    fields = {**BASE, **changes}
    return validate_alert({k: v for k, v in fields.items() if v is not ...})


def problems(**changes) -> dict[str, str]:
    with pytest.raises(AlertRejected) as caught:
        alert(**changes)
    return {p.field: p.message for p in caught.value.detail}


def test_defaults():
    a = alert()
    assert (a.ticker, a.resolved_exchange, a.action, a.quantity) == ("SBIN", Exchange.NSE, Side.BUY, 1)
    assert (a.order_type, a.product, a.validity) == (OrderType.MARKET, Product.INTRADAY, Validity.DAY)
    assert a.alert_id is None and a.time is None and a.amo is False


@pytest.mark.parametrize(
    "symbol, exchange, expected_ticker, expected_exchange",
    [
        ("SBIN", None, "SBIN", Exchange.NSE),
        ("NSE:SBIN", None, "SBIN", Exchange.NSE),
        ("BSE:SBIN", None, "SBIN", Exchange.BSE),
        ("sbin", "bse", "SBIN", Exchange.BSE),
        ("NSE:M&M", "NSE", "M&M", Exchange.NSE),
        ("BAJAJ-AUTO", None, "BAJAJ-AUTO", Exchange.NSE),
    ],
)
def test_symbol_and_exchange(symbol, exchange, expected_ticker, expected_exchange):
    a = alert(symbol=symbol, exchange=exchange if exchange else ...)
    assert (a.ticker, a.resolved_exchange) == (expected_ticker, expected_exchange)


def test_prefix_contradicting_exchange_is_refused():
    assert "exchange" in problems(symbol="NSE:SBIN", exchange="BSE")


@pytest.mark.parametrize("symbol", ["MCX:GOLD", "NFO:NIFTY", "", "SB IN", "{{ticker}}", "x" * 60])
def test_bad_symbols(symbol):
    assert "symbol" in problems(symbol=symbol)


@pytest.mark.parametrize("action, side", [("buy", Side.BUY), ("SELL", Side.SELL), (" Sell ", Side.SELL)])
def test_action_is_case_insensitive(action, side):
    assert alert(action=action).action.side is side


def test_exit_and_targets_take_no_quantity_and_name_the_one_given():
    exit_alert = validate_alert({"symbol": "SBIN", "action": "exit"})
    assert exit_alert.action.value == "EXIT" and exit_alert.action.side is None and exit_alert.quantity is None
    assert validate_alert({"symbol": "SBIN", "action": "buy", "position_size": "-10.0"}).position_size == -10
    for fields, field in (({"action": "exit", "quantity": 5}, "quantity"),
                          ({"action": "buy", "position_size": 5, "quantity": 5}, "quantity"),
                          ({"action": "buy", "position_size": 2.5}, "position_size"),
                          ({"action": "hold", "quantity": 5}, "action")):
        with pytest.raises(AlertRejected) as refused:
            validate_alert({"symbol": "SBIN", **fields})
        assert [problem.field for problem in refused.value.detail] == [field], fields


@pytest.mark.parametrize("action", ["hold", "", 1, None, "{{strategy.order.action}}"])
def test_bad_actions(action):
    assert "action" in problems(action=action)


@pytest.mark.parametrize("quantity, expected", [(5, 5), ("5", 5), ("5.0", 5), (5.0, 5), (" 7 ", 7)])
def test_quantity_accepted(quantity, expected):
    assert alert(quantity=quantity).quantity == expected


@pytest.mark.parametrize("quantity", ["5.5", 2.5, True, False, 0, -1, "0", "abc", None, [], "1e400", "NaN", 10**9])
def test_quantity_refused(quantity):
    assert "quantity" in problems(quantity=quantity)


def test_missing_required_fields_are_named():
    with pytest.raises(AlertRejected) as caught:
        validate_alert({})
    assert {p.field for p in caught.value.detail} == {"symbol", "action", "quantity"}


def test_unknown_field_is_refused_not_defaulted():
    found = problems(qty=5)
    assert found["qty"].startswith("is not a known alert field")


@pytest.mark.parametrize(
    "order_type, extra, expected",
    [
        ("market", {}, OrderType.MARKET),
        ("LIMIT", {"price": "100"}, OrderType.LIMIT),
        ("sl", {"price": "100", "trigger_price": "101"}, OrderType.SL),
        ("SL-M", {"trigger_price": "101"}, OrderType.SL_M),
    ],
)
def test_order_types(order_type, extra, expected):
    assert alert(order_type=order_type, **extra).order_type is expected


def test_limit_needs_price():
    assert problems(order_type="LIMIT")["price"] == "is required for LIMIT orders"


def test_sl_needs_price_and_trigger():
    found = problems(order_type="SL")
    assert set(found) == {"price", "trigger_price"}


def test_sl_m_needs_trigger_only():
    assert set(problems(order_type="SL-M")) == {"trigger_price"}
    assert alert(order_type="SL-M", trigger_price=812.5).trigger_price == Decimal("812.5")


def test_trigger_on_a_non_stop_order_is_refused():
    assert "trigger_price" in problems(order_type="LIMIT", price=10, trigger_price=11)
    assert "trigger_price" in problems(trigger_price=11)


def test_price_on_market_order_is_accepted_and_ignored():
    # TradingView templates often send "price": {{close}} on every alert.
    assert alert(price="812.35").order_type is OrderType.MARKET


@pytest.mark.parametrize("price", [0, -1, "0", "abc", True, "NaN", "Infinity", 1e12])
def test_bad_prices(price):
    assert "price" in problems(order_type="LIMIT", price=price)


@pytest.mark.parametrize("price", [0, -5, False])
def test_bad_trigger_prices(price):
    assert "trigger_price" in problems(order_type="SL-M", trigger_price=price)


def test_stops_are_refused_on_bse():
    found = problems(symbol="BSE:SBIN", order_type="SL-M", trigger_price=800)
    assert "NSE-only" in found["order_type"]


def test_stops_are_day_only():
    assert "validity" in problems(order_type="SL-M", trigger_price=800, validity="IOC")


@pytest.mark.parametrize("amo, expected", [(True, True), ("true", True), ("FALSE", False), (False, False), (1, True)])
def test_amo_flag(amo, expected):
    assert alert(amo=amo, order_type="LIMIT", price=800).amo is expected


@pytest.mark.parametrize("amo", ["maybe", 2, [], "{{amo}}", None])
def test_bad_amo_values_are_named(amo):
    assert "amo" in problems(amo=amo)


@pytest.mark.parametrize("order_type, extra", [("SL", {"price": 800, "trigger_price": 799}), ("SL-M", {"trigger_price": 800})])
def test_amo_stop_orders_are_refused(order_type, extra):
    assert "no AMO flag" in problems(amo=True, order_type=order_type, **extra)["amo"]


@pytest.mark.parametrize("product, expected", [("cnc", Product.CNC), ("MIS", Product.INTRADAY), ("nrml", Product.MARGIN), ("INTRADAY", Product.INTRADAY)])
def test_products_and_aliases(product, expected):
    assert alert(product=product).product is expected


def test_bad_product_and_validity():
    assert "product" in problems(product="BO")
    assert "validity" in problems(validity="GTC")


@pytest.mark.parametrize("alert_id", ["Long Entry", "sig-4471", "a" * 60, "strat/v2:42"])
def test_alert_ids(alert_id):
    assert alert(alert_id=alert_id).alert_id == alert_id


@pytest.mark.parametrize("alert_id", ["", "a" * 61, "bad\nid", "{{strategy.order.id}}", 42])
def test_bad_alert_ids(alert_id):
    assert "alert_id" in problems(alert_id=alert_id)


def test_time_is_parsed_and_naive_means_utc():
    assert alert(time="2026-11-25T03:45:00Z").time == datetime(2026, 11, 25, 3, 45, tzinfo=UTC)
    assert alert(time="2026-11-25T03:45:00").time.tzinfo is not None
    assert "time" in problems(time="yesterday")


def test_secret_is_never_part_of_a_dump():
    a = alert(secret="hunter2-very-secret")
    assert "hunter2" not in a.model_dump_json()
    assert "hunter2" not in repr(a)


def test_every_problem_is_reported_at_once():
    found = problems(action="hold", quantity="2.5", order_type="STOP")
    assert {"action", "quantity", "order_type"} <= set(found)


def test_rejections_never_echo_the_input():
    with pytest.raises(AlertRejected) as caught:
        validate_alert({**BASE, "quantity": "payload-9f8e7d", "symbol": "marker$$$"})
    assert "payload-9f8e7d" not in json.dumps(caught.value.body())
    assert "marker$$$" not in json.dumps(caught.value.body())


# --- body parsing -------------------------------------------------------------------------


def test_json_body():
    parsed = parse_body(b'{"secret":"s","symbol":"SBIN","action":"buy","quantity":"5"}')
    assert parsed.problem is None and parsed.claimed_secret == "s"
    assert validate_alert(parsed.fields).quantity == 5


def test_key_value_text_body():
    parsed = parse_body(b"secret=s symbol=NSE:SBIN action=sell quantity=3 order_type=LIMIT price=812.35\n")
    assert parsed.problem is None
    a = validate_alert(parsed.fields)
    assert (a.ticker, a.action, a.quantity, a.price) == ("SBIN", Side.SELL, 3, Decimal("812.35"))


def test_text_body_with_commas_and_semicolons():
    parsed = parse_body(b"secret=s,symbol=SBIN;action=buy, quantity=2")
    assert parsed.problem is None and parsed.fields["quantity"] == "2"


@pytest.mark.parametrize(
    "raw, field",
    [
        (b"", "body"),
        (b"   ", "body"),
        (b"{not json", "body"),
        (b"[1,2]", "body"),
        (b'"just a string"', "body"),
        (b"Buy SBIN now", "body"),
        (b"\xff\xfe", "body"),
        (b"[" * 100000, "body"),
    ],
)
def test_unparsable_bodies(raw, field):
    parsed = parse_body(raw)
    assert parsed.problem is not None and parsed.problem.field == field


def test_duplicate_json_keys_are_refused_but_secret_still_readable():
    parsed = parse_body(b'{"secret":"s","quantity":1,"quantity":100}')
    assert parsed.problem.field == "quantity"
    assert parsed.claimed_secret == "s"


def test_duplicate_text_keys_are_refused():
    parsed = parse_body(b"secret=s quantity=1 quantity=100")
    assert parsed.problem.field == "quantity"


def test_non_string_secret_is_not_a_claim():
    assert parse_body(b'{"secret": 12345}').claimed_secret is None
