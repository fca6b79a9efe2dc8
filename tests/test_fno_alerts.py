"""Futures and options through the relay's one alert path: the alert model, the masters and
their shared copy, orders, relative options, lots, ticks and freeze limits. Model tests first,
then end to end through chalice.test.Client / the relay against moto and the simulator."""

from __future__ import annotations

import pytest

from chalicelib.alerts import Exchange, validate_alert
from chalicelib.errors import AlertRejected
from chalicelib.fno import ContinuousFuture, ExactContract, MonthFuture, RelativeOption
from chalicelib.ledger import ledger_key


def problems(**fields):
    with pytest.raises(AlertRejected) as caught:
        validate_alert({"action": "buy", **fields})
    return {problem.field: problem.message for problem in caught.value.detail}


@pytest.mark.parametrize("symbol, exchange, kind, venue", [
    ("NIFTY1!", None, ContinuousFuture, Exchange.NSE),
    ("NSE:BANKNIFTY2!", None, ContinuousFuture, Exchange.NSE),
    ("BSE:SENSEX1!", None, ContinuousFuture, Exchange.BSE),
    ("NIFTY260106C24000", "NFO", ExactContract, Exchange.NSE),
    ("NIFTY27JAN26FUT", "NSE_DL", ExactContract, Exchange.NSE),
    ("VEDL24APR25292.5CE", "nfo", ExactContract, Exchange.NSE),
    ("NSE:TATAMOTORSM2026", None, MonthFuture, Exchange.NSE),
    ("SENSEX1!", "BFO", ContinuousFuture, Exchange.BSE),
])
def test_derivative_symbol_forms_are_alerts(symbol, exchange, kind, venue):
    alert = validate_alert({"symbol": symbol, "action": "buy", "lots": 1, **({"exchange": exchange} if exchange else {})})
    assert isinstance(alert.reading(), kind) and alert.resolved_exchange is venue


def test_relative_option_fields_and_openalgo_aliases():
    alert = validate_alert({"underlying": "NIFTY", "option_type": "pe", "offset": "itm2", "expiry_date": "06JAN26",
                            "exchange": "NSE_INDEX", "action": "sell", "quantity": 130})
    reading = alert.reading()
    assert isinstance(reading, RelativeOption) and str(reading.offset) == "ITM2"
    assert alert.summary()["symbol"] == "NIFTY ITM2 PE 06JAN26"


@pytest.mark.parametrize("fields, field, words", [
    ({"symbol": "NIFTY1!", "quantity": 65, "product": "CNC"}, "product", "MARGIN"),
    ({"symbol": "NIFTY1!", "quantity": 65, "lots": 1}, "lots", "not both"),
    ({"symbol": "SBIN", "lots": 2}, "lots", "futures and options only"),
    ({"symbol": "NIFTY1!"}, "quantity", "is required"),
    ({"quantity": 65}, "symbol", "is required"),
    ({"symbol": "NIFTY1!", "offset": "ATM", "lots": 1}, "underlying", "leave those out"),
    ({"underlying": "NIFTY", "offset": "ATM", "lots": 1}, "underlying", "option_type, expiry"),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "ATM9X", "expiry": "weekly", "lots": 1}, "offset", "OTM"),
    ({"underlying": "NIFTY", "option_type": "XX", "offset": "ATM", "expiry": "weekly", "lots": 1}, "option_type", "CE"),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "ATM", "expiry": "soon", "lots": 1}, "expiry", "weekly"),
    ({"symbol": "NFO:NIFTY", "quantity": 65}, "symbol", "index"),
    ({"symbol": "NIFTY", "exchange": "NFO", "quantity": 65}, "symbol", "index"),
    ({"symbol": "BSE:SENSEX1!", "quantity": 20, "order_type": "SL-M", "trigger_price": 80000}, "order_type", "NSE-only"),
    ({"symbol": "SENSEX1!", "exchange": "BFO", "quantity": 20, "order_type": "SL", "price": 1, "trigger_price": 1},
     "order_type", "NSE-only"),
    ({"symbol": "MCX:GOLD1!", "quantity": 1}, "symbol", "NFO"),
])
def test_derivative_alerts_refused_naming_the_field(fields, field, words):
    found = problems(**fields)
    assert field in found and words in found[field], found


def test_cash_alert_keys_are_unchanged_by_the_new_fields():
    # The hash of an alert without alert_id, as released before F&O (a replay across the upgrade).
    alert = validate_alert({"symbol": "NSE:SBIN", "action": "buy", "quantity": 3, "order_type": "LIMIT", "price": 800})
    assert ledger_key(alert) == "sha256:ed97ead5c71fb195e2285352096942b39d2d2db1697940340d5681a816529c73"
