"""Alert + instrument → the exact INDstocks request body, checked against the official spec."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.alerts import validate_alert
from chalicelib.config import Settings
from chalicelib.errors import AlertRejected
from chalicelib.instruments import Instrument
from chalicelib.orders import build_order, remarks_tag, round_to_tick
from local.openapi import request_errors

SETTINGS = Settings()
SBIN_NSE = Instrument("NSE", "SBIN", "3045", Decimal("0.05"))
SBIN_BSE = Instrument("BSE", "SBIN", "500112", Decimal("0.05"))
YES_NSE = Instrument("NSE", "YESBANK", "11915", Decimal("0.01"))


def order(fields, instrument=SBIN_NSE, settings=SETTINGS, remarks="tvr:abc"):
    write = build_order(validate_alert(fields), instrument, remarks, settings)
    method_path = ("POST", write.path)
    assert request_errors(*method_path, write.body) == [], write.body
    return write


def test_nse_market_order_exact_payload():
    write = order({"symbol": "NSE:SBIN", "action": "buy", "quantity": "5"})
    assert write.path == "/order"
    assert write.body == {
        "txn_type": "BUY",
        "exchange": "NSE",
        "segment": "EQUITY",
        "product": "INTRADAY",
        "order_type": "MARKET",
        "validity": "DAY",
        "security_id": "3045",
        "qty": 5,
        "algo_id": "99999",
        "remarks": "tvr:abc",
    }


def test_bse_limit_order_exact_payload():
    write = order(
        {"symbol": "SBIN", "exchange": "BSE", "action": "SELL", "quantity": 2, "order_type": "LIMIT",
         "price": "812.35", "product": "CNC", "validity": "IOC"},
        instrument=SBIN_BSE,
    )
    assert write.path == "/order"
    assert write.body == {
        "txn_type": "SELL",
        "exchange": "BSE",
        "segment": "EQUITY",
        "product": "CNC",
        "order_type": "LIMIT",
        "validity": "IOC",
        "security_id": "500112",
        "qty": 2,
        "algo_id": "9999999999999999",
        "limit_price": 812.35,
        "remarks": "tvr:abc",
    }


@pytest.mark.parametrize("bse_algo_id", ["9999999999999999", "99999"])
def test_bse_algo_id_follows_configuration(bse_algo_id):
    # Open question 5: the rule says sixteen 9s, one doc example sends 99999.
    settings = Settings(bse_algo_id=bse_algo_id)
    write = order({"symbol": "BSE:SBIN", "action": "buy", "quantity": 1}, SBIN_BSE, settings)
    assert write.body["algo_id"] == bse_algo_id


@pytest.mark.parametrize(
    "side, price, expected",
    [("BUY", "812.33", 812.30), ("SELL", "812.33", 812.35), ("BUY", "812.35", 812.35), ("SELL", "100", 100.0)],
)
def test_limit_price_rounds_to_tick_never_against_the_trader(side, price, expected):
    write = order({"symbol": "SBIN", "action": side, "quantity": 1, "order_type": "LIMIT", "price": price})
    assert write.body["limit_price"] == expected


def test_fine_tick_instruments_keep_their_precision():
    write = order({"symbol": "YESBANK", "action": "buy", "quantity": 1, "order_type": "LIMIT", "price": "22.89"}, YES_NSE)
    assert write.body["limit_price"] == 22.89


@pytest.mark.parametrize("extra", [{}, {"order_type": "LIMIT", "price": 812.33}])
def test_amo_alert_sets_is_amo_and_nothing_else(extra):
    plain = order({"symbol": "SBIN", "action": "buy", "quantity": 1, **extra})
    amo = order({"symbol": "SBIN", "action": "buy", "quantity": 1, "amo": True, **extra})
    assert amo.path == plain.path == "/order"
    assert amo.body == {**plain.body, "is_amo": True}
    assert "is_amo" not in plain.body  # the broker's default (false) is never sent explicitly


def test_sl_order_is_a_trigger_smart_order():
    write = order({"symbol": "SBIN", "action": "buy", "quantity": 3, "order_type": "SL",
                   "price": "815.02", "trigger_price": "814.98", "product": "CNC"})
    assert write.path == "/smart/order"
    assert write.body == {
        "txn_type": "BUY",
        "exchange": "NSE",
        "segment": "EQUITY",
        "product": "CNC",
        "order_type": "TRIGGER",
        "validity": "DAY",
        "security_id": "3045",
        "qty": 3,
        "algo_id": "99999",
        "trigger_price": 815.0,
        "trigger_limit_price": 815.0,
        "remarks": "tvr:abc",
    }


@pytest.mark.parametrize(
    "side, trigger, expected_limit",
    [
        ("BUY", "800", 804.0),  # 800 * 1.005 = 804.00
        ("SELL", "800", 796.0),  # 800 * 0.995 = 796.00
        ("BUY", "812.35", 816.45),  # 816.41175 rounded UP to the tick
        ("SELL", "812.35", 808.25),  # 808.28825 rounded DOWN to the tick
    ],
)
def test_sl_m_limit_is_the_trigger_plus_protection(side, trigger, expected_limit):
    write = order({"symbol": "SBIN", "action": side, "quantity": 1, "order_type": "SL-M", "trigger_price": trigger})
    assert write.path == "/smart/order"
    assert write.body["trigger_price"] == float(Decimal(trigger))
    assert write.body["trigger_limit_price"] == expected_limit
    assert "limit_price" not in write.body


def test_sl_m_protection_is_configurable():
    settings = Settings(sl_m_protection_pct=Decimal("1"))
    write = order({"symbol": "SBIN", "action": "buy", "quantity": 1, "order_type": "SL-M", "trigger_price": 800}, settings=settings)
    assert write.body["trigger_limit_price"] == 808.0


def test_price_below_one_tick_is_refused():
    with pytest.raises(AlertRejected) as caught:
        build_order(validate_alert({"symbol": "SBIN", "action": "buy", "quantity": 1, "order_type": "LIMIT", "price": "0.01"}),
                    SBIN_NSE, "tvr:x", SETTINGS)
    assert caught.value.detail[0].field == "price"


def test_remarks_tag():
    assert remarks_tag("Long Entry", "a1b2c3") == "tvr:Long Entry:a1b2c3"
    assert remarks_tag(None, "a1b2c3") == "tvr:a1b2c3"
    assert len(remarks_tag("x" * 60, "f" * 12)) <= 100


def test_round_to_tick():
    from decimal import ROUND_CEILING, ROUND_FLOOR
    assert round_to_tick(Decimal("100.07"), Decimal("0.05"), ROUND_FLOOR) == Decimal("100.05")
    assert round_to_tick(Decimal("100.07"), Decimal("0.05"), ROUND_CEILING) == Decimal("100.10")
