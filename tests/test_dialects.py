"""The alert formats people already have (chalicelib/dialects): OpenAlgo's API paths and answers,
TradersPost's signal bodies, PineConnector-style text and the detection on /webhook. Each sample
body below is the one its product documents (the symbol and price changed only where the
simulator's instrument master has no such stock: it lists real NSE ids only); each goes through
chalice.test.Client to the simulator over HTTP, and the test asserts the answer, the exact order
the broker received and what the journal holds."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from chalicelib.dialects import Format, read_alert
from local.openapi import request_errors
from tests.conftest import SEEDED_ADMIN_KEY, SEEDED_SECRET
from tests.test_fno_alerts import dmy, fno, live  # noqa: F401 - fno: the fixture


def post_openalgo(stack, endpoint, body, content_type="application/json"):
    raw = body if isinstance(body, str) else json.dumps(body)
    return stack.client.http.post(f"/api/v1/{endpoint}", headers={"Content-Type": content_type}, body=raw)


def writes(stack):
    found = stack.simulator.order_writes()
    for write in found:
        assert request_errors(write.method, write.path, write.json) == [], write.json
    return found


def journal(stack):
    answer = stack.client.http.get("/orders", headers={"X-Admin-Key": SEEDED_ADMIN_KEY})
    assert answer.status_code == 200
    return answer.json_body["orders"]


def without_remarks(write):
    body = dict(write.json)
    assert body.pop("remarks").startswith("tvr:")
    return body


MARKET_SBIN = {"txn_type": "BUY", "exchange": "NSE", "segment": "EQUITY", "product": "INTRADAY",
               "order_type": "MARKET", "validity": "DAY", "security_id": "3045", "algo_id": "99999"}


# --- OpenAlgo: its paths, its bodies, its answers ----------------------------------------------

# OpenAlgo's API documentation, PlaceOrder "Sample API Request" (symbol SAIL there).
OPENALGO_PLACEORDER = {"apikey": SEEDED_SECRET, "strategy": "Test Strategy", "symbol": "SBIN", "action": "BUY",
                       "exchange": "NSE", "pricetype": "MARKET", "product": "MIS", "quantity": "1"}
# OpenAlgo's API documentation, PlaceSmartOrder "Sample API Request" (symbol IDEA there).
OPENALGO_SMARTORDER = {"apikey": SEEDED_SECRET, "strategy": "Test Strategy", "exchange": "NSE", "symbol": "YESBANK",
                       "action": "BUY", "product": "MIS", "pricetype": "MARKET", "quantity": "1",
                       "position_size": "5", "price": "0", "trigger_price": "0", "disclosed_quantity": "0"}


def test_openalgo_placeorder_sample_places_one_order_and_answers_in_openalgo_shape(stack):
    response = post_openalgo(stack, "placeorder", OPENALGO_PLACEORDER)
    assert response.status_code == 200, response.json_body
    body = response.json_body
    assert body["status"] == "success" and body["orderid"].startswith("EQ-")
    [write] = writes(stack)
    assert write.path == "/order" and without_remarks(write) == {**MARKET_SBIN, "qty": 1}
    [item] = journal(stack)
    assert (item["format"], item["strategy"], item["order_id"]) == ("openalgo", "Test Strategy", body["orderid"])


def test_openalgo_values_as_numbers_limit_and_stop_orders(stack):
    limit = {**OPENALGO_PLACEORDER, "quantity": 2, "pricetype": "LIMIT", "price": 801.23, "product": "CNC"}
    assert post_openalgo(stack, "placeorder", limit).json_body["status"] == "success"
    stop = {**OPENALGO_PLACEORDER, "action": "SELL", "pricetype": "SL-M", "trigger_price": "790", "price": "0"}
    assert post_openalgo(stack, "placeorder", stop).json_body["status"] == "success"
    first, second = writes(stack)
    assert without_remarks(first) == {**MARKET_SBIN, "qty": 2, "order_type": "LIMIT", "limit_price": 801.2,
                                      "product": "CNC"}
    assert second.path == "/smart/order" and second.json["order_type"] == "TRIGGER"
    assert (second.json["txn_type"], second.json["trigger_price"]) == ("SELL", 790.0)


def test_openalgo_smart_order_sample_sends_the_difference_to_its_position_size(stack):
    response = post_openalgo(stack, "placesmartorder", OPENALGO_SMARTORDER)
    assert response.status_code == 200, response.json_body
    assert response.json_body["status"] == "success"
    [write] = writes(stack)
    assert write.json["security_id"] == "11915" and write.json["qty"] == 5 and write.json["txn_type"] == "BUY"
    # An Amibroker-style square-off: quantity 0, the target 0; nothing held here, so nothing to send.
    flat = post_openalgo(stack, "placesmartorder", {**OPENALGO_SMARTORDER, "symbol": "SBIN", "action": "SELL",
                                                    "quantity": 0, "position_size": 0})
    assert flat.status_code == 200 and flat.json_body["status"] == "success", flat.json_body
    assert flat.json_body["relay"]["status"] == "noop" and len(writes(stack)) == 1


def test_openalgo_amibroker_style_short_by_target(stack):
    """OpenAlgo's Amibroker module posts placesmartorder with every value a string; a short entry
    is a negative position_size."""
    body = {"apikey": SEEDED_SECRET, "strategy": "Amibroker", "symbol": "SBIN", "action": "SELL", "exchange": "NSE",
            "pricetype": "MARKET", "product": "MIS", "quantity": "3", "position_size": "-3"}
    response = post_openalgo(stack, "placesmartorder", body, content_type="text/plain")
    assert response.status_code == 200 and response.json_body["status"] == "success", response.json_body
    [write] = writes(stack)
    assert without_remarks(write) == {**MARKET_SBIN, "txn_type": "SELL", "qty": 3}


def test_openalgo_options_order_picks_the_strike_and_answers_success(fno):  # noqa: F811 - the fixture
    sim = fno.simulator
    weekly = live(sim, "NIFTY", option=True)[0].expiry
    strikes = sorted({c.strike for c in live(sim, "NIFTY", option=True) if c.expiry == weekly})
    sim.set_spot("NIFTY", strikes[len(strikes) // 2] + Decimal("2"))
    expected = sim.find_contract("NIFTY", weekly, strikes[len(strikes) // 2], "CE")
    # OpenAlgo's API documentation, OptionsOrder "Sample API Request" (its expiry date long past: a live one here).
    body = {"apikey": SEEDED_SECRET, "strategy": "test_strategy", "underlying": "NIFTY", "exchange": "NSE_INDEX",
            "expiry_date": dmy(weekly), "offset": "ATM", "option_type": "CE", "action": "BUY",
            "quantity": str(expected.lot), "pricetype": "MARKET", "product": "NRML", "splitsize": "0"}
    response = post_openalgo(fno, "optionsorder", body)
    assert response.status_code == 200 and response.json_body["status"] == "success", response.json_body
    answer = response.json_body
    assert (answer["symbol"], answer["exchange"], answer["offset"], answer["option_type"]) == \
        (f"NIFTY{dmy(weekly)}{expected.strike.normalize():f}CE", "NFO", "ATM", "CE"), answer
    assert answer["orderid"] and answer["underlying_ltp"] == float(strikes[len(strikes) // 2] + 2)
    [write] = writes(fno)
    assert (write.json["security_id"], write.json["qty"], write.json["product"]) == \
        (expected.security_id, expected.lot, "MARGIN")


def test_openalgo_cancelallorder_and_closeposition(stack):
    assert post_openalgo(stack, "placeorder", {**OPENALGO_PLACEORDER, "pricetype": "LIMIT", "price": "700"}) \
        .json_body["status"] == "success"
    [order] = stack.simulator.orders
    # OpenAlgo's API documentation, CancelAllOrder and ClosePosition "Sample API Request".
    response = post_openalgo(stack, "cancelallorder", {"apikey": SEEDED_SECRET, "strategy": "Test Strategy"})
    assert response.status_code == 200, response.json_body
    assert response.json_body | {"relay": None} == {
        "status": "success", "canceled_orders": [order["id"]], "failed_cancellations": [],
        "message": "Canceled 1 orders. Failed to cancel 0 orders.", "relay": None}
    response = post_openalgo(stack, "closeposition", {"apikey": SEEDED_SECRET, "strategy": "Test Strategy"})
    assert response.status_code == 200 and response.json_body["status"] == "success", response.json_body
    assert [w.path for w in writes(stack)] == ["/order", "/order/cancel"]


@pytest.mark.parametrize("change, field", [
    ({"pricetype": "LIMIT"}, "price"),  # OpenAlgo's price "0": none, and a limit needs one
    ({"pricetype": "STOP"}, "pricetype"),
    ({"exchange": "MCX"}, "exchange"),
    ({"exchange": "BSE", "pricetype": "SL-M", "trigger_price": "790"}, "pricetype"),
    ({"quantity": "1.5"}, "quantity"),
    ({"disclosed_quantity": "5"}, "disclosed_quantity"),
    ({"qty": "5"}, "qty"),
    ({"symbol": "{{ticker}}"}, "symbol"),
])
def test_openalgo_refusals_name_openalgo_fields_in_its_error_shape(stack, change, field):
    response = post_openalgo(stack, "placeorder", {**OPENALGO_PLACEORDER, **change})
    assert response.status_code == 400, response.json_body
    body = response.json_body
    assert body["status"] == "error" and field in [d["field"] for d in body["detail"]], body
    assert field in body["message"] and SEEDED_SECRET not in json.dumps(body)
    assert writes(stack) == []


def test_openalgo_wrong_apikey_is_401_in_its_shape_and_never_echoed(stack):
    response = post_openalgo(stack, "placeorder", {**OPENALGO_PLACEORDER, "apikey": SEEDED_SECRET + "x"})
    assert response.status_code == 401
    assert response.json_body["status"] == "error" and SEEDED_SECRET not in json.dumps(response.json_body)
    response = post_openalgo(stack, "placeorder", f"apikey={SEEDED_SECRET} symbol=SBIN", content_type="text/plain")
    assert response.status_code == 400 and response.json_body["detail"][0]["field"] == "body"
    assert writes(stack) == []


def test_openalgo_duplicate_and_unknown_outcomes(stack):
    assert post_openalgo(stack, "placeorder", OPENALGO_PLACEORDER).json_body["status"] == "success"
    again = post_openalgo(stack, "placeorder", OPENALGO_PLACEORDER)  # the same body within the dedupe window
    assert again.status_code == 200 and again.json_body["status"] == "success"
    assert again.json_body["relay"]["status"] == "duplicate" and len(writes(stack)) == 1
    stack.simulator.inject_fault("/order", "http500", place=False)
    unknown = post_openalgo(stack, "placeorder", {**OPENALGO_PLACEORDER, "quantity": "3"})
    assert unknown.status_code in (502, 504) and unknown.json_body["status"] == "error"
    assert "Do not resend" in unknown.json_body["message"]


def test_openalgo_body_on_webhook_is_read_by_its_fields(stack):
    response = stack.post({**OPENALGO_PLACEORDER, "quantity": 4})
    assert response.status_code == 200 and response.json_body["status"] == "placed", response.json_body
    assert writes(stack)[0].json["qty"] == 4 and journal(stack)[0]["format"] == "openalgo"


# --- TradersPost ---------------------------------------------------------------------------------

# TradersPost's "Signal Message Reference": its first example (AMD at 143.12 there), with the secret.
TRADERSPOST_BRACKET = {"secret": SEEDED_SECRET, "ticker": "SBIN", "action": "buy", "signalPrice": 800,
                       "quantity": 1, "takeProfit": {"percent": 10}, "stopLoss": {"type": "stop", "percent": 5}}


def test_traderspost_reference_example_places_a_bracket(stack):
    response = stack.post(TRADERSPOST_BRACKET)
    assert response.status_code == 200 and response.json_body["status"] == "placed", response.json_body
    [write] = writes(stack)
    assert write.path == "/smart/order"
    assert without_remarks(write) == {**MARKET_SBIN, "qty": 1, "sl_trigger_price": 760.0, "sl_limit_price": 756.2,
                                      "tgt_trigger_price": 879.95, "tgt_limit_price": 880.0}
    assert journal(stack)[0]["format"] == "traderspost"


def test_traderspost_strategy_template_sentiment_flat_closes_the_position(stack):
    # TradersPost's TradingView page, the strategy alert message, as TradingView fills it on a closing sell.
    template = {"ticker": "SBIN", "action": "sell", "sentiment": "flat", "quantity": "7", "price": "801.5"}
    response = stack.post({"secret": SEEDED_SECRET, **template})
    assert response.status_code == 200 and response.json_body["status"] == "noop", response.json_body  # nothing held
    assert writes(stack) == []
    entry = stack.post({"secret": SEEDED_SECRET, **template, "action": "buy", "sentiment": "long"})
    assert entry.json_body["status"] == "placed"
    [write] = writes(stack)
    assert without_remarks(write) == {**MARKET_SBIN, "qty": 7}


def test_traderspost_limit_stop_and_sizing(stack):
    assert stack.post({"secret": SEEDED_SECRET, "ticker": "NSE:SBIN", "action": "sell", "orderType": "limit",
                       "limitPrice": "805.07", "quantity": 3}).json_body["status"] == "placed"
    assert stack.post({"secret": SEEDED_SECRET, "ticker": "SBIN", "action": "buy", "orderType": "stop_limit",
                       "stopPrice": 810, "limitPrice": 812, "quantity": 2}).json_body["status"] == "placed"
    sized = stack.post({"secret": SEEDED_SECRET, "ticker": "SBIN", "action": "buy", "quantityType": "dollar_amount",
                        "quantity": 8000, "signalPrice": 800})
    assert sized.json_body["status"] == "placed", sized.json_body
    limit, stop, capital = writes(stack)
    assert (limit.json["txn_type"], limit.json["limit_price"], limit.json["qty"]) == ("SELL", 805.1, 3)
    assert (stop.json["trigger_price"], stop.json["trigger_limit_price"]) == (810.0, 812.0)
    assert capital.json["qty"] == 10 and sized.json_body["sizing"]["quantity_type"] == "capital"


@pytest.mark.parametrize("change, field, words", [
    ({"action": "exit", "sentiment": "flat"}, "sentiment", "not allowed with action exit"),
    ({"orderType": "trailing_stop"}, "orderType", "trailing"),
    ({"stopLoss": {"type": "trailing_stop", "trailPercent": 2}}, "stopLoss", "trailing"),
    ({"quantityType": "percent_of_position", "quantity": 50}, "quantityType", "percent_of_position"),
    ({"orderType": "limit"}, "limitPrice", "required"),
    ({"takeProfit": {"amount": 5}}, "takeProfit", "percent"),
    ({"quantityType": "risk_dollar_amount", "quantity": 500}, "stopLoss", "risk"),
    ({"action": "add"}, "sentiment", "bullish"),
    ({"timeInForce": "gtc"}, "timeInForce", "day or ioc"),
    ({"sentimnet": "long"}, "sentimnet", "not a known field"),
    ({"ticker": "{{ticker}}"}, "ticker", "placeholder"),
    ({"quantity": "1.5"}, "quantity", "whole number"),
])
def test_traderspost_refusals_name_its_fields(stack, change, field, words):
    body = {"secret": SEEDED_SECRET, "ticker": "SBIN", "action": "buy", "quantity": 1, **change}
    response = stack.post(body)
    assert response.status_code == 400, response.json_body
    detail = response.json_body["detail"]
    assert any(d["field"] == field and words in d["message"] for d in detail), detail
    assert writes(stack) == [] and SEEDED_SECRET not in json.dumps(response.json_body)


def test_traderspost_wrong_secret_is_401(stack):
    response = stack.post({**TRADERSPOST_BRACKET, "secret": "nope"})
    assert response.status_code == 401 and writes(stack) == []


# --- PineConnector-style text ---------------------------------------------------------------------


def test_pineconnector_line_with_percent_bracket(stack):
    response = stack.post(f"{SEEDED_SECRET},buy,NSE:SBIN,qty=10,sl=1.5%,tp=3%", content_type="text/plain")
    assert response.status_code == 200 and response.json_body["status"] == "placed", response.json_body
    [write] = writes(stack)
    assert without_remarks(write) == {**MARKET_SBIN, "qty": 10, "sl_trigger_price": 788.0, "sl_limit_price": 784.05,
                                      "tgt_trigger_price": 823.95, "tgt_limit_price": 824.0}
    assert journal(stack)[0]["format"] == "pineconnector"


def test_pineconnector_commands(stack):
    # PineConnector's syntax guide: "60123456789,closelong,GBPUSD", spaces around commas allowed.
    for line in (f"{SEEDED_SECRET} , closelong , NSE:SBIN", f"{SEEDED_SECRET},closeshort,SBIN",
                 f"{SEEDED_SECRET},cancellong,SBIN", f"{SEEDED_SECRET},closeall"):
        response = stack.post(line, content_type="text/plain")
        assert response.status_code == 200 and response.json_body["status"] == "noop", (line, response.json_body)
    response = stack.post(f"{SEEDED_SECRET},sell,SBIN,qty=2,price=805.02,id=pc-1", content_type="text/plain")
    assert response.json_body["status"] == "placed", response.json_body
    [write] = writes(stack)
    assert (write.json["txn_type"], write.json["order_type"], write.json["limit_price"], write.json["qty"]) == \
        ("SELL", "LIMIT", 805.05, 2)
    assert write.json["remarks"].startswith("tvr:pc-1:")


@pytest.mark.parametrize("line, field", [
    ("{s},buy,SBIN,qty=abc", "token 4 (qty)"),
    ("{s},buy,SBIN,qty=5,qty=6", "token 5 (qty)"),
    ("{s},buy,SBIN,risk=1", "token 4 (risk)"),
    ("{s},buy,SBIN,foo=1", "token 4 (foo)"),
    ("{s},buy,SBIN,5", "token 4"),
    ("{s},buy,SBIN", "qty"),
    ("{s},buy,qty=5", "token 3 (symbol)"),
    ("{s},buy,SBIN,qty=5,sl=-1", "token 5 (sl)"),
    ("{s},closelong,SBIN,qty=5", "token 4 (qty)"),
])
def test_pineconnector_refusals_name_the_token(stack, line, field):
    response = stack.post(line.format(s=SEEDED_SECRET), content_type="text/plain")
    assert response.status_code == 400, response.json_body
    assert field in [d["field"] for d in response.json_body["detail"]], response.json_body
    assert writes(stack) == [] and SEEDED_SECRET not in json.dumps(response.json_body)


def test_pineconnector_wrong_secret_is_401_and_key_value_text_stays_native(stack):
    assert stack.post("wrong,buy,SBIN,qty=1", content_type="text/plain").status_code == 401
    native = stack.post(f"secret={SEEDED_SECRET},symbol=NSE:SBIN,action=buy,quantity=2", content_type="text/plain")
    assert native.json_body["status"] == "placed" and journal(stack)[0]["format"] == "native"


# --- detection --------------------------------------------------------------------------------------


def test_a_body_with_the_fields_of_two_formats_is_refused_naming_them(stack):
    response = stack.post({"secret": SEEDED_SECRET, "ticker": "SBIN", "symbol": "SBIN", "action": "buy",
                           "quantity": 1, "pricetype": "MARKET", "alert_id": "x-1"})
    assert response.status_code == 400
    body = response.json_body
    assert body["error"] == "ambiguous_format"
    assert body["formats"] == {"native": ["alert_id"], "openalgo": ["pricetype"], "traderspost": ["ticker"]}
    assert writes(stack) == []
    assert stack.post({"ticker": "SBIN", "apikey": "wrong", "action": "buy"}).status_code == 401  # auth first


def test_the_alert_log_line_names_the_format(stack, capsys):
    stack.post(f"{SEEDED_SECRET},buy,SBIN,qty=1", content_type="text/plain")
    stack.post({"secret": SEEDED_SECRET, "ticker": "SBIN", "apikey": SEEDED_SECRET, "action": "buy"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{") and '"event":"alert"' in line]
    assert [(line["format"], line["outcome"]) for line in lines] == [("pineconnector", "placed"),
                                                                     ("ambiguous", "ambiguous_format")]


@pytest.mark.parametrize("raw, expected", [
    (b'{"secret":"s","symbol":"SBIN","action":"buy","quantity":1}', Format.NATIVE),
    (b"secret=s symbol=SBIN action=buy quantity=1", Format.NATIVE),
    (b'{"secret":"s","ticker":"SBIN","action":"buy"}', Format.TRADERSPOST),
    (b'{"apikey":"s","strategy":"x","symbol":"SBIN","action":"BUY","exchange":"NSE","quantity":"1"}', Format.OPENALGO),
    (b"s,buy,SBIN,qty=1", Format.PINECONNECTOR),
    (b"s=x=,sell,SBIN", Format.PINECONNECTOR),  # a base64 secret ending in '='
])
def test_format_detection(raw, expected):
    assert read_alert(raw).format is expected


def test_the_format_is_recorded_without_changing_an_alert_s_identity():
    from chalicelib.alerts import validate_alert
    from chalicelib.ledger import ledger_key

    fields = {"symbol": "SBIN", "action": "buy", "quantity": 1, "time": "2026-01-02T03:04:05Z"}
    native = validate_alert(fields)
    pine = read_alert(b"s,buy,SBIN,qty=1,time=2026-01-02T03:04:05Z").alert()
    assert ledger_key(native) == ledger_key(pine)
    assert (native.summary()["format"], pine.summary()["format"]) == ("native", "pineconnector")
    assert "format" not in native.model_dump()


def test_no_secret_or_apikey_in_any_log_line(stack, capsys):
    post_openalgo(stack, "placeorder", {**OPENALGO_PLACEORDER, "pricetype": "LIMIT"})
    stack.post(f"{SEEDED_SECRET},buy,SBIN,qty=x", content_type="text/plain")
    stack.post({**TRADERSPOST_BRACKET, "orderType": "trailing_stop"})
    time.sleep(0)
    assert SEEDED_SECRET not in capsys.readouterr().out


def test_a_signed_traderspost_body_on_the_signed_route(stack):
    from chalicelib import auth

    raw = json.dumps({"ticker": "SBIN", "action": "buy", "quantity": 2, "signalPrice": 800})
    header = auth.sign(raw.encode(), SEEDED_SECRET, int(time.time()))
    unsigned = stack.client.http.post("/webhook/signed", headers={"Content-Type": "application/json"}, body=raw)
    assert unsigned.status_code == 401
    signed = stack.client.http.post("/webhook/signed", body=raw,
                                    headers={"Content-Type": "application/json", "X-Relay-Signature": header})
    assert signed.status_code == 200 and signed.json_body["status"] == "placed", signed.json_body
    [write] = writes(stack)
    assert write.json["qty"] == 2 and journal(stack)[0]["format"] == "traderspost"


def test_the_dialects_are_pure_mappings():
    """Importing every format loads no AWS or HTTP library and none of the relay's adapters or flows."""
    import subprocess
    import sys
    from pathlib import Path

    never = ("boto3", "botocore", "requests", "urllib3", "chalicelib.broker", "chalicelib.ledger", "chalicelib.state",
             "chalicelib.tokens", "chalicelib.relay", "chalicelib.services", "chalicelib.orders")
    code = ("import json, sys\nimport chalicelib.dialects.detect\nprint(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert [name for name in never if name in loaded] == []


# --- whatever arrives: a field-named refusal or an alert, never anything else ---------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402 - the fuzzing below only
from hypothesis import strategies as st  # noqa: E402

from chalicelib.errors import AlertRejected  # noqa: E402

_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.sampled_from(["{{close}}", "0", "-1", "1e999", "NaN", "5%", "SBIN", "NSE:SBIN", "9" * 60]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
_TRADERSPOST = {"ticker": ["SBIN", "NSE:SBIN", "NIFTY1!"], "action": ["buy", "sell", "exit", "cancel", "add"],
                "sentiment": ["bullish", "long", "bearish", "short", "flat"], "quantity": [1, "5", 1000.5],
                "quantityType": ["fixed_quantity", "dollar_amount", "risk_dollar_amount", "percent_of_equity",
                                 "percent_of_position"],
                "orderType": ["market", "limit", "stop", "stop_limit", "trailing_stop"], "limitPrice": [801, "800.5"],
                "stopPrice": [790, "810"], "signalPrice": [800], "price": ["800"],
                "takeProfit": [{"percent": 3}, {"limitPrice": 850}, {"amount": 5}, {"percent": 3, "limitPrice": 1}],
                "stopLoss": [{"type": "stop", "percent": 1.5}, {"stopPrice": 780}, {"type": "stop_limit"},
                             {"type": "trailing_stop", "trailPercent": 1}],
                "timeInForce": ["day", "ioc", "gtc"], "time": ["2026-01-01T00:00:00Z"], "extras": [{"a": 1}]}
_OPENALGO = {"strategy": ["Test Strategy"], "symbol": ["SBIN", "NIFTY27JAN26FUT"], "action": ["BUY", "sell"],
             "exchange": ["NSE", "BSE", "NFO", "NSE_INDEX", "MCX"], "pricetype": ["MARKET", "LIMIT", "SL", "SL-M"],
             "product": ["MIS", "CNC", "NRML"], "quantity": ["1", 0, 5], "price": ["0", 800.5],
             "trigger_price": ["0", "790"], "disclosed_quantity": ["0", 3], "position_size": ["5", "-5", 0],
             "underlying": ["NIFTY"], "expiry_date": ["27JAN26"], "offset": ["ATM", "OTM2"], "option_type": ["CE", "PE"],
             "splitsize": ["0"]}


def _fields(known):
    value = {name: st.integers(0, 9).flatmap(lambda roll, good=good: st.sampled_from(good) if roll < 7 else _junk)
             for name, good in known.items()}
    return st.fixed_dictionaries({}, optional=value).flatmap(
        lambda base: st.dictionaries(st.text(max_size=8), _junk, max_size=1).map(lambda extra: {**extra, **base})
        | st.just(base))


def _refused_or_built(reading):
    try:
        reading.alert()
    except AlertRejected as refused:
        assert refused.detail and all(problem.field and problem.message for problem in refused.detail)


@settings(max_examples=700, deadline=None, suppress_health_check=list(HealthCheck))
@given(_fields(_TRADERSPOST))
def test_any_traderspost_body_is_refused_by_field_or_mapped(fields):
    _refused_or_built(read_alert(json.dumps({"secret": "s", "ticker": "SBIN", **fields}).encode()))


@settings(max_examples=700, deadline=None, suppress_health_check=list(HealthCheck))
@given(_fields(_OPENALGO), st.sampled_from(["placeorder", "placesmartorder", "optionsorder", "closeposition",
                                            "cancelallorder"]))
def test_any_openalgo_body_is_refused_by_field_or_mapped(fields, endpoint):
    _refused_or_built(read_alert(json.dumps({"apikey": "s", **fields}).encode(), f"openalgo/{endpoint}"))


@settings(max_examples=700, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted({"buy", "sell", "closelong", "closeall", "cancelshort", "long"})),
       st.lists(st.sampled_from(["SBIN", "NSE:SBIN", "qty=5", "qty=x", "lots=1", "sl=1.5%", "tp=3%", "sl=-1",
                                 "price=800", "risk=1", "id=a b", "strategy=s", "time=bad", "amo=true", "", "=",
                                 "foo=1", "{{ticker}}", "qty=5=6"]), max_size=5))
def test_any_pineconnector_line_is_refused_by_token_or_mapped(command, words):
    _refused_or_built(read_alert(",".join(["s", command, *words]).encode()))
