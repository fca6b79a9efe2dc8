"""TICK_SIZE's unit is unverified (rupees or paise): both readings pinned. A rupee master rounds
priced orders to its ticks; a master whose ticks read as paise never moves a price by rupees:
LIMIT and stop orders on it are refused with a 422 naming the instrument, MARKET orders still
go, and the 08:45 check warns."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from chalicelib.instruments import InstrumentIndex, plausible_rupee_tick
from local.simulator import INSTRUMENT_COLUMNS
from tests.test_token_routes import run_check, topic  # noqa: F401 - `topic` is a fixture

# (ticker, NSE id, tick in rupees, tick in paise, last price)
STOCKS = (
    ("SBIN", "3045", "0.05", "5", "800"),
    ("YESBANK", "11915", "0.01", "1", "20"),
    ("HDFCBANK", "1333", "0.10", "10", "1900"),
    ("PAGEIND", "14413", "1", "100", "15000"),
    ("MRF", "2277", "5", "500", "140000"),
)


def master(unit: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(INSTRUMENT_COLUMNS)
    for ticker, security_id, rupees, paise, _ in STOCKS:
        row = {"EXCH": "NSE", "SEGMENT": "E", "SECURITY_ID": security_id, "INSTRUMENT_NAME": "EQUITY",
               "TRADING_SYMBOL": ticker, "LOT_UNITS": "1", "TICK_SIZE": rupees if unit == "rupees" else paise,
               "SERIES": "EQ"}
        writer.writerow([row.get(column, "") for column in INSTRUMENT_COLUMNS])
    return out.getvalue()


@pytest.fixture
def in_rupees(stack):
    stack.simulator.instruments_csv = master("rupees")
    stack.simulator.ltp.update({security_id: Decimal(price) for _, security_id, _, _, price in STOCKS})
    return stack


@pytest.fixture
def in_paise(stack):
    stack.simulator.instruments_csv = master("paise")
    stack.simulator.ltp.update({security_id: Decimal(price) for _, security_id, _, _, price in STOCKS})
    return stack


@pytest.mark.parametrize("tick, price, plausible", [
    ("0.05", "803.4", True), ("0.01", "20", True), ("0.10", "1900", True), ("0.5", "7000", True),
    ("1", "15000", True), ("5", "140000", True),
    ("5", "803.4", False), ("1", "20", False), ("10", "1900", False), ("100", "15000", False),
    ("500", "140000", False), ("0.001", "10", False), ("1", "999", False),
])  # fmt: skip
def test_which_ticks_read_as_rupees(tick, price, plausible):
    assert plausible_rupee_tick(Decimal(tick), Decimal(price)) is plausible


@pytest.mark.parametrize("ticker, side, price, sent", [
    ("SBIN", "buy", "803.43", 803.40), ("SBIN", "sell", "803.43", 803.45),
    ("YESBANK", "buy", "20.037", 20.03), ("MRF", "buy", "140003.7", 140000), ("MRF", "sell", "140003.7", 140005),
    ("PAGEIND", "buy", "15000.5", 15000),
])  # fmt: skip
def test_a_master_in_rupees_rounds_limit_orders_to_its_ticks(in_rupees, ticker, side, price, sent):
    response = in_rupees.post(in_rupees.alert(symbol=ticker, action=side, order_type="LIMIT", price=price))
    assert response.json_body["status"] == "placed", response.body
    [write] = in_rupees.simulator.order_writes()
    assert write.json["limit_price"] == sent


@pytest.mark.parametrize("ticker, fields", [
    ("SBIN", {"order_type": "LIMIT", "price": "803.43"}),
    ("YESBANK", {"order_type": "LIMIT", "price": "20.03"}),
    ("HDFCBANK", {"order_type": "SL", "price": "1950", "trigger_price": "1940"}),
    ("SBIN", {"order_type": "SL-M", "trigger_price": "810"}),
    ("MRF", {"order_type": "LIMIT", "price": "140000"}),
])  # fmt: skip
def test_a_master_in_paise_refuses_priced_orders_naming_the_instrument(in_paise, ticker, fields):
    response = in_paise.post(in_paise.alert(symbol=ticker, **fields))
    assert response.status_code == 422, response.body
    body = response.json_body
    assert body["error"] == "implausible_tick" and f"NSE:{ticker}" in body["message"] and "paise" in body["message"]
    assert body["detail"][0]["field"] == "symbol"
    assert in_paise.simulator.order_writes() == []  # never rounded by rupees, never sent


def test_a_master_in_paise_still_places_market_orders(in_paise):
    response = in_paise.post(in_paise.alert(symbol="SBIN"))
    assert response.json_body["status"] == "placed", response.body
    [write] = in_paise.simulator.order_writes()
    assert write.json["order_type"] == "MARKET" and "limit_price" not in write.json


def test_the_index_names_the_implausible_ticks_of_a_paise_master_and_none_of_a_rupee_one():
    assert InstrumentIndex.from_csv(master("rupees")).implausible_ticks() == []
    implausible = InstrumentIndex.from_csv(master("paise")).implausible_ticks()
    assert sorted(implausible) == ["NSE:HDFCBANK 10", "NSE:MRF 500", "NSE:PAGEIND 100", "NSE:SBIN 5", "NSE:YESBANK 1"]


def test_the_premarket_check_warns_about_a_paise_master(in_paise, topic):  # noqa: F811
    result = run_check(in_paise)
    assert result["instruments_ok"] is True and result["instruments_notified"] is True
    assert "5 of 5 instruments have implausible tick sizes" in result["instruments"]
    [message] = topic()
    assert "implausible tick sizes" in message and "NSE:SBIN 5" in message and "MARKET orders still go" in message


def test_the_premarket_check_is_quiet_about_a_rupee_master(in_rupees, topic):  # noqa: F811
    result = run_check(in_rupees)
    assert result["instruments"] == "5 cash-equity instruments" and result["instruments_notified"] is False
    assert topic() == []
