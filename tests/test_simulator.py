"""The INDstocks simulator over real HTTP, and the OpenAPI validation it relies on.

The relay's money-safety tests are only as good as this stand-in: it must refuse what INDstocks
refuses (a non-conforming body, a wrong algo_id, an off-tick price...) and each injected fault
must do exactly what it promises, including booking the order when the client sees a failure.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from local.openapi import request_body_schema, request_errors, schema_errors, spec
from local.simulator import INSTRUMENT_COLUMNS, IndstocksSimulator

TOKEN = "tok-SIM-TEST-4b1e"
# The rejected "Bearer <token>" form (INDstocks wants the raw token), kept as data.
BEARER_FORM = "Bearer " + TOKEN
AUTH = {"Authorization": TOKEN}
REPO = Path(__file__).resolve().parents[1]
TOKEN_ERROR = {"status": "error", "message": "Invalid or expired token", "error_type": "TokenException"}


@pytest.fixture
def sim() -> Iterator[IndstocksSimulator]:
    with IndstocksSimulator(tokens=(TOKEN,)) as simulator:
        yield simulator


def order(**changes: Any) -> dict[str, Any]:
    """A valid NSE MARKET order for SBIN; `None` removes a field."""
    body = {
        "txn_type": "BUY", "exchange": "NSE", "segment": "EQUITY", "product": "INTRADAY", "order_type": "MARKET",
        "validity": "DAY", "security_id": "3045", "qty": 1, "algo_id": "99999",
    }  # fmt: skip
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def trigger_order(**changes: Any) -> dict[str, Any]:
    """A valid stop-loss BUY for SBIN (last price 800.00), as a /smart/order TRIGGER."""
    return order(**{"order_type": "TRIGGER", "trigger_price": 900, **changes})


def post(sim: IndstocksSimulator, path: str, body: Any, **options: Any) -> requests.Response:
    return requests.post(sim.url + path, json=body, headers=AUTH, timeout=options.pop("timeout", 5), **options)


def get(sim: IndstocksSimulator, path: str, headers: dict[str, str] | None = None, **options: Any) -> requests.Response:
    return requests.get(sim.url + path, headers=AUTH if headers is None else headers, timeout=5, **options)


def assert_error(response: requests.Response, status: int, error_type: str, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["error_type"] == error_type, body
    if message is not None:
        assert body["message"] == message


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "wrong"}, {"Authorization": BEARER_FORM}])
@pytest.mark.parametrize("path", ["/user/profile", "/order-book", "/market/instruments?source=equity"])
def test_reads_need_the_raw_live_token(sim, headers, path):
    response = get(sim, path, headers=headers)
    assert response.status_code == 403 and response.json() == TOKEN_ERROR


@pytest.mark.parametrize("headers", [{}, {"Authorization": "wrong"}, {"Authorization": BEARER_FORM}])
def test_order_writes_need_the_raw_live_token_and_are_not_placed(sim, headers):
    response = requests.post(sim.url + "/order", json=order(), headers=headers, timeout=5)
    assert response.status_code == 403 and response.json() == TOKEN_ERROR
    assert sim.orders == []


def test_token_set_can_be_replaced_and_extended(sim):
    sim.set_tokens(["new-1"])
    assert get(sim, "/user/profile").status_code == 403
    sim.add_token(TOKEN)
    assert sim.live_tokens == {"new-1", TOKEN}
    assert get(sim, "/user/profile").status_code == 200
    assert get(sim, "/user/profile", headers={"Authorization": "new-1"}).status_code == 200


# --- read endpoints ---------------------------------------------------------------------------


def test_profile(sim):
    response = get(sim, "/user/profile")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["data"]["user_id"] == "SIM123" and body["data"]["is_ddpi_active"] is True
    assert schema_errors("UserProfileResponse", body) == []


def instrument_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_instrument_csv_has_the_documented_columns_and_real_cash_rows(sim):
    response = get(sim, "/market/instruments", params={"source": "equity"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert next(csv.reader(io.StringIO(response.text))) == list(INSTRUMENT_COLUMNS)
    assert len(INSTRUMENT_COLUMNS) == 16
    rows = instrument_rows(response.text)
    cash = {(r["EXCH"], r["TRADING_SYMBOL"], r["SERIES"]): r for r in rows if r["SEGMENT"] == "E"}
    expected = {
        "SBIN": ("3045", "500112"), "RELIANCE": ("2885", "500325"), "INFY": ("1594", "500209"),
        "TCS": ("11536", "532540"), "HDFCBANK": ("1333", "500180"), "M&M": ("2031", "500520"),
        "BAJAJ-AUTO": ("16669", "532977"), "YESBANK": ("11915", "532648"),
    }  # fmt: skip
    for ticker, (nse_id, bse_id) in expected.items():
        nse, bse = cash[("NSE", ticker, "EQ")], cash[("BSE", ticker, "A")]
        assert (nse["SECURITY_ID"], bse["SECURITY_ID"]) == (nse_id, bse_id)
        assert nse["INSTRUMENT_NAME"] == bse["INSTRUMENT_NAME"] == "EQUITY"
        assert nse["TICK_SIZE"] == bse["TICK_SIZE"] == ("0.01" if ticker == "YESBANK" else "0.05")
    # Rows a resolver has to skip: another NSE series of SBIN, and a stock future.
    assert cash[("NSE", "SBIN", "BE")]["SECURITY_ID"] not in {"3045", "500112"}
    [future] = [r for r in rows if r["SEGMENT"] == "D"]
    assert future["INSTRUMENT_NAME"] == "FUTSTK" and future["TRADING_SYMBOL"].startswith("SBIN-")


@pytest.mark.parametrize("params", [{}, {"source": "stocks"}, {"source": ""}])
def test_instrument_csv_needs_a_valid_source(sim, params):
    response = get(sim, "/market/instruments", params=params)
    assert response.status_code == 400
    assert response.json() == {"message": "Source not present or invalid", "success": False}


def test_instrument_csv_can_be_replaced_by_a_large_master(sim):
    rows = [f"NSE,E,{7000000 + n},EQUITY,,SYM{n},1,Company {n},,,,0.05,,,EQ,COMPANY {n}" for n in range(100_000)]
    sim.instruments_csv = ",".join(INSTRUMENT_COLUMNS) + "\n" + "\n".join(rows) + "\n"
    response = get(sim, "/market/instruments", params={"source": "equity"})
    assert response.status_code == 200 and response.text == sim.instruments_csv
    assert post(sim, "/order", order(security_id="7099999")).status_code == 200
    assert_error(post(sim, "/order", order()), 400, "OrderException", "instrument not found")  # SBIN is gone


def test_unknown_path_is_404_and_token_generation_is_not_simulated(sim):
    assert get(sim, "/no/such/thing").status_code == 404
    assert_error(get(sim, "/no/such/thing"), 404, "NotFoundException", "Not found")
    response = requests.post(sim.url + "/generate/token", json={"mpin": "1", "totp": "2"}, timeout=5)
    assert response.status_code == 501 and response.json()["status"] == "error"


# --- placing orders ---------------------------------------------------------------------------


def test_market_order_is_placed_and_booked(sim):
    response = post(sim, "/order", order(qty=5))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success" and body["data"]["order_status"] == "INITIATED"
    assert re.fullmatch(r"EQ-\d{8}", body["data"]["order_id"])
    [row] = get(sim, "/order-book").json()["data"]
    assert row["id"] == body["data"]["order_id"]
    assert (row["security_id"], row["txn_type"], row["order_type"]) == ("3045", "BUY", "MARKET")
    assert row["requested_qty"] == 5 and row["requested_price"] == "800.00"  # MARKET books at the last price
    assert (row["traded_qty"], row["traded_price"], row["status"], row["extra_info"]) == (0, "", "INITIATED", "")
    assert "remarks" not in row
    assert row["created_at"].endswith("+05:30") and row["user_id"] == "SIM123"


def test_limit_order_with_remarks_is_booked_with_string_prices(sim):
    first = post(sim, "/order", order()).json()["data"]["order_id"]
    body = order(exchange="BSE", security_id="500112", algo_id="9999999999999999", order_type="LIMIT",
                 limit_price=812.35, txn_type="SELL", product="CNC", remarks="tvr:sig-1:abc")  # fmt: skip
    response = post(sim, "/order", body)
    assert response.status_code == 200, response.text
    second = response.json()["data"]["order_id"]
    assert int(second[3:]) > int(first[3:])
    book = get(sim, "/order-book").json()
    assert schema_errors("OrderBookResponse", book) == []
    row = book["data"][1]
    assert (row["id"], row["exchange"], row["order_type"], row["requested_price"]) == (second, "BSE", "LIMIT", "812.35")
    assert row["remarks"] == "tvr:sig-1:abc" and row["name"] == "State Bank of India"
    assert sim.orders == book["data"]


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/order", order(security_id=3045), "security_id"),
        ("/order", order(qty="5"), "qty"),
        ("/order", order(qty=0), "qty"),
        ("/order", order(qty=5.0), "qty"),
        ("/order", order(qty=True), "qty"),
        ("/order", order(order_type="SL"), "order_type"),
        ("/order", order(validity="GTC"), "validity"),
        ("/order", order(limit_price="812.35", order_type="LIMIT"), "limit_price"),
        ("/order", order(algo_id=None), "algo_id"),
        ("/order", order(remarks="x" * 101), "remarks"),
        ("/smart/order", trigger_order(exchange="BSE"), "exchange"),
        ("/smart/order", trigger_order(validity="IOC"), "validity"),
        ("/smart/order", trigger_order(algo_id=None), "algo_id"),
    ],
)
def test_non_conforming_bodies_are_400_input_exception_naming_the_field(sim, path, body, field):
    response = post(sim, path, body)
    assert_error(response, 400, "InputException")
    assert field in response.json()["message"]
    assert sim.orders == []


def test_a_body_that_is_not_json_is_400_input_exception(sim):
    response = requests.post(sim.url + "/order", data=b"{not json", headers=AUTH, timeout=5)
    assert_error(response, 400, "InputException")


@pytest.mark.parametrize(
    "body",
    [
        order(algo_id="9999999999999999"),
        order(exchange="BSE", security_id="500112", algo_id="99999"),
        order(exchange="BSE", security_id="500112", algo_id="9" * 15),
    ],
)
def test_wrong_algo_id_for_the_exchange_is_rejected(sim, body):
    assert_error(post(sim, "/order", body), 400, "InputException")
    assert sim.orders == []


def test_accepted_bse_algo_ids_are_configurable(sim):
    sim.bse_algo_ids = {"99999"}
    assert post(sim, "/order", order(exchange="BSE", security_id="500112", algo_id="99999")).status_code == 200
    assert post(sim, "/order", order(exchange="BSE", security_id="500112", algo_id="9" * 16)).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        order(security_id="500112"),  # a BSE id on NSE
        order(security_id="424242"),
        order(segment="DERIVATIVE", product="MARGIN"),  # SBIN cash is not a derivative
    ],
)
def test_unknown_instrument_is_rejected(sim, body):
    assert_error(post(sim, "/order", body), 400, "OrderException", "instrument not found")


def test_limit_order_needs_a_limit_price(sim):
    assert_error(post(sim, "/order", order(order_type="LIMIT")), 400, "InputException")


@pytest.mark.parametrize(
    "path, body, accepted",
    [
        ("/order", order(order_type="LIMIT", limit_price=812.33), False),
        ("/order", order(order_type="LIMIT", limit_price=812.35), True),
        ("/order", order(order_type="LIMIT", limit_price=812), True),
        ("/order", order(order_type="LIMIT", limit_price=20.01, security_id="11915"), True),  # YESBANK, tick 0.01
        ("/order", order(order_type="LIMIT", limit_price=20.015, security_id="11915"), False),
        ("/smart/order", trigger_order(trigger_price=900.01), False),
        ("/smart/order", trigger_order(trigger_limit_price=904.52), False),
        ("/smart/order", trigger_order(trigger_limit_price=904.55), True),
    ],
)
def test_prices_must_be_tick_multiples(sim, path, body, accepted):
    response = post(sim, path, body)
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert_error(response, 400, "OrderException", "price not a multiple of tick size")


@pytest.mark.parametrize("remarks", ["TV-TERMINAL", "tv-terminal", " Tv - Terminal "])
@pytest.mark.parametrize("path, body", [("/order", order()), ("/smart/order", trigger_order())])
def test_reserved_remarks_are_rejected(sim, remarks, path, body):
    assert_error(post(sim, path, {**body, "remarks": remarks}), 400, "RequestValidationException")
    assert sim.orders == []


def test_trigger_order_is_booked_as_gtt_limit(sim):
    response = post(sim, "/smart/order", trigger_order(trigger_limit_price=904.5, remarks="tvr:stop"))
    assert response.status_code == 200, response.text
    [leg] = response.json()["data"]["order_data"]
    assert leg["order_status"] == "CREATED" and re.fullmatch(r"EQ-\d{8}", leg["order_id"])
    [row] = sim.orders
    assert (row["id"], row["order_type"], row["requested_price"]) == (leg["order_id"], "GTT_LIMIT", "")
    assert (row["tgt_trigger_price"], row["tgt_limit_price"], row["remarks"]) == ("900.00", "904.50", "tvr:stop")


def test_trigger_limit_defaults_to_the_trigger(sim):
    assert post(sim, "/smart/order", trigger_order()).status_code == 200
    assert sim.orders[0]["tgt_limit_price"] == "900.00"


@pytest.mark.parametrize(
    "side, trigger, accepted",
    [("BUY", 800.05, True), ("BUY", 800, False), ("BUY", 790, False),
     ("SELL", 799.95, True), ("SELL", 800, False), ("SELL", 810, False)],
)  # fmt: skip
def test_trigger_must_be_beyond_the_last_price_on_the_stop_side(sim, side, trigger, accepted):
    response = post(sim, "/smart/order", trigger_order(txn_type=side, trigger_price=trigger))
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert_error(response, 400, "OrderException")
        assert sim.orders == []


def test_last_price_is_settable(sim):
    sim.ltp["3045"] = Decimal("950.00")
    assert post(sim, "/smart/order", trigger_order(trigger_price=900)).status_code == 400
    assert post(sim, "/smart/order", trigger_order(trigger_price=950.05)).status_code == 200


def test_trigger_order_needs_a_trigger_price(sim):
    assert_error(post(sim, "/smart/order", order(order_type="TRIGGER")), 400, "InputException")


def test_smart_limit_order_is_created(sim):
    response = post(sim, "/smart/order", order(order_type="LIMIT", limit_price=790))
    assert response.status_code == 200
    assert sim.orders[0]["order_type"] == "LIMIT" and sim.orders[0]["requested_price"] == "790.00"


# --- modify, cancel, fills --------------------------------------------------------------------


def test_cancel_and_modify(sim):
    order_id = post(sim, "/order", order(order_type="LIMIT", limit_price=790)).json()["data"]["order_id"]
    modified = post(sim, "/order/modify", {"order_id": order_id, "segment": "EQUITY", "qty": 3, "limit_price": 791.5})
    assert modified.json() == {"status": "success", "data": {"order_id": order_id, "order_status": "MODIFIED"}}
    assert (sim.orders[0]["requested_qty"], sim.orders[0]["requested_price"]) == (3, "791.50")
    off_tick = post(sim, "/order/modify", {"order_id": order_id, "segment": "EQUITY", "qty": 3, "limit_price": 791.51})
    assert_error(off_tick, 400, "OrderException")
    cancelled = post(sim, "/order/cancel", {"order_id": order_id, "segment": "EQUITY"})
    assert cancelled.json()["data"] == {"order_id": order_id, "order_status": "CANCELLED"}
    assert sim.orders[0]["status"] == "CANCELLED"
    again = post(sim, "/order/cancel", {"order_id": order_id, "segment": "EQUITY"})
    assert_error(again, 400, "OrderException", "Position could not be found")
    assert_error(post(sim, "/order/cancel", {"order_id": "EQ-1"}), 400, "InputException")  # segment is required


def test_smart_order_cancel(sim):
    order_id = post(sim, "/smart/order", trigger_order()).json()["data"]["order_data"][0]["order_id"]
    assert post(sim, "/smart/order/cancel", {"order_id": order_id, "segment": "EQUITY"}).status_code == 200
    assert sim.orders[0]["status"] == "CANCELLED"


def test_set_order_status_shows_in_the_book(sim):
    order_id = post(sim, "/order", order(qty=2)).json()["data"]["order_id"]
    sim.set_order_status(order_id, "SUCCESS", traded_qty=2, traded_price=801.25)
    [row] = get(sim, "/order-book").json()["data"]
    assert (row["status"], row["traded_qty"], row["traded_price"]) == ("SUCCESS", 2, "801.25")
    sim.set_order_status(order_id, "FAILED", extra_info="RMS: Blocked for trading")
    assert sim.orders[0]["extra_info"] == "RMS: Blocked for trading"
    with pytest.raises(KeyError):
        sim.set_order_status("EQ-00000000", "SUCCESS")


# --- recording --------------------------------------------------------------------------------


def test_every_request_is_recorded_as_received(sim):
    get(sim, "/market/instruments", params={"source": "equity"})
    post(sim, "/order", order(qty="5"))  # rejected, still recorded
    requests.post(sim.url + "/order", data=b"raw", headers={"Authorization": "nope"}, timeout=5)
    requests.get(sim.url + "/_sim/orders", timeout=5)  # control calls are not
    instruments, first, second = sim.requests()
    assert (instruments.method, instruments.path) == ("GET", "/market/instruments")
    assert instruments.query == {"source": "equity"}
    assert first.headers["authorization"] == TOKEN and first.headers["content-type"] == "application/json"
    assert first.json == order(qty="5") and json.loads(first.body) == first.json
    assert (second.body, second.json) == (b"raw", None)
    assert first.received_at <= second.received_at
    assert sim.requests("/order") == [first, second] == sim.order_writes()


# --- faults -----------------------------------------------------------------------------------

FAULT_REPLIES = {
    "http500": (500, {"status": "error", "message": "Something went wrong", "error_type": "GeneralException"}),
    "rate_limit": (429, {"error": "Rate limit exceeded", "success": False}),
    "rms_reject": (
        400, {"status": "error", "message": "RMS: Margin exceeds available funds", "error_type": "OrderException"}
    ),
    "shape_e": (200, {"status": "failure", "error": {"msg": "no order number in rs response"}}),
    "token_expired": (403, TOKEN_ERROR),
    "user_exception": (403, {"status": "error", "message": "Segment not activated", "error_type": "UserException"}),
    "error_code_shape": (400, {"status": "error", "message": "Invalid input", "error_code": "INVALID_INPUT"}),
}
PLACED_BY_DEFAULT = {"shape_e", "garbage"}


@pytest.mark.parametrize("kind", sorted(FAULT_REPLIES))
def test_json_faults_answer_their_shape_and_place_only_when_promised(sim, kind):
    sim.inject_fault("/order", kind)
    response = post(sim, "/order", order())
    status, body = FAULT_REPLIES[kind]
    assert (response.status_code, response.json()) == (status, body)
    assert len(sim.orders) == (1 if kind in PLACED_BY_DEFAULT else 0)


def test_cloudflare_fault_is_an_html_403(sim):
    sim.inject_fault("/order", "cloudflare")
    response = post(sim, "/order", order())
    assert response.status_code == 403 and response.headers["Content-Type"].startswith("text/html")
    assert "Just a moment" in response.text and response.text.startswith("<!DOCTYPE html>")
    assert sim.orders == []


def test_garbage_fault_is_a_200_that_is_not_json_and_places(sim):
    sim.inject_fault("/order", "garbage")
    response = post(sim, "/order", order())
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert len(sim.orders) == 1


@pytest.mark.parametrize(
    "status, error_type",
    [(502, "NetworkException"), (503, "ServiceUnavailableException"), (504, "GatewayTimeoutException")],
)
def test_http500_status_variants(sim, status, error_type):
    sim.inject_fault("/order", "http500", status=status)
    response = post(sim, "/order", order())
    assert_error(response, status, error_type)


def test_token_expired_as_401(sim):
    sim.inject_fault("/order", "token_expired", status=401)
    response = post(sim, "/order", order())
    assert (response.status_code, response.json()) == (401, TOKEN_ERROR)


def test_timeout_places_the_order_while_the_client_times_out(sim):
    sim.inject_fault("/order", "timeout", delay=1.5)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(sim, "/order", order(remarks="tvr:late"), timeout=(1, 0.2))
    assert time.monotonic() - started < 1.2  # gave up long before the reply (wide: busy CI machines)
    [row] = get(sim, "/order-book").json()["data"]
    assert row["remarks"] == "tvr:late"


def test_timeout_answers_the_normal_reply_after_the_delay(sim):
    sim.inject_fault("/order", "timeout", delay=0.3)
    started = time.monotonic()
    response = post(sim, "/order", order())
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and response.json()["data"]["order_id"] == sim.orders[0]["id"]


def test_timeout_without_placing_books_nothing(sim):
    sim.inject_fault("/order", "timeout", delay=0.3, place=False)
    response = post(sim, "/order", order())
    assert_error(response, 504, "GatewayTimeoutException")
    assert sim.orders == []


def test_reset_closes_the_connection_without_an_answer(sim):
    sim.inject_fault("/order", "reset")
    with pytest.raises(requests.exceptions.ConnectionError) as failure:
        post(sim, "/order", order())
    assert "ConnectionResetError" in repr(failure.value)  # a TCP reset, not a clean close
    assert sim.orders == [] and len(sim.order_writes()) == 1


def test_reset_can_place(sim):
    sim.inject_fault("/order", "reset", place=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        post(sim, "/order", order())
    assert len(sim.orders) == 1


def test_place_override_books_a_500(sim):
    sim.inject_fault("/smart/order", "http500", place=True)
    assert post(sim, "/smart/order", trigger_order()).status_code == 500
    assert sim.orders[0]["order_type"] == "GTT_LIMIT"


def test_shape_e_without_placing_books_nothing(sim):
    sim.inject_fault("/order", "shape_e", place=False)
    assert post(sim, "/order", order()).json()["status"] == "failure"
    assert sim.orders == []


def test_placing_fault_still_applies_the_brokers_checks(sim):
    sim.inject_fault("/order", "shape_e")
    assert post(sim, "/order", order(qty=0)).json()["status"] == "failure"
    assert sim.orders == []


def test_count_and_queueing(sim):
    sim.inject_fault("/order", "rms_reject", count=2)
    sim.inject_fault("/order", "http500")
    statuses = [post(sim, "/order", order()).status_code for _ in range(4)]
    assert statuses == [400, 400, 500, 200]
    assert len(sim.orders) == 1


def test_faults_only_hit_their_path(sim):
    sim.inject_fault("/smart/order", "http500")
    assert post(sim, "/order", order()).status_code == 200
    assert post(sim, "/smart/order", trigger_order()).status_code == 500


@pytest.mark.parametrize(
    "path, kind, status",
    [("/user/profile", "http500", 500), ("/order-book", "rate_limit", 429),
     ("/market/instruments?source=equity", "cloudflare", 403), ("/user/profile", "token_expired", 403)],
)  # fmt: skip
def test_faults_on_reads(sim, path, kind, status):
    sim.inject_fault(path.split("?")[0], kind)
    assert get(sim, path).status_code == status
    assert get(sim, path).status_code == 200


def test_reset_and_timeout_on_reads(sim):
    sim.inject_fault("/user/profile", "reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        get(sim, "/user/profile")
    sim.inject_fault("/user/profile", "timeout", delay=0.2)
    assert get(sim, "/user/profile").json()["data"]["user_id"] == "SIM123"


def test_unknown_fault_kind_is_refused(sim):
    with pytest.raises(ValueError):
        sim.inject_fault("/order", "meteor")


def test_reset_forgets_requests_faults_and_orders_but_keeps_tokens(sim):
    post(sim, "/order", order())
    sim.inject_fault("/order", "http500")
    sim.reset()
    assert sim.requests() == [] and sim.orders == []
    assert post(sim, "/order", order()).status_code == 200


# --- the order rate limit ---------------------------------------------------------------------


def fire(sim: IndstocksSimulator, count: int) -> list[int]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda n: post(sim, "/order", order(remarks=f"burst-{n}")).status_code, range(count)))


def test_eleventh_write_within_a_second_is_429_and_not_placed(sim):
    sim.rate_window_seconds = 60.0  # a slow machine must not spread 11 writes over two windows
    statuses = fire(sim, 11)
    assert sorted(statuses) == [200] * 10 + [429]
    assert len(sim.orders) == 10 and len(sim.order_writes()) == 11


def test_rate_limit_can_be_disabled(sim):
    sim.rate_limit_writes = None
    assert fire(sim, 11) == [200] * 11


def test_rate_limit_counts_only_order_writes(sim):
    sim.rate_window_seconds = 60.0
    for _ in range(10):
        post(sim, "/order", order())
    assert get(sim, "/order-book").status_code == 200
    response = post(sim, "/order", order())
    assert (response.status_code, response.json()) == (429, {"error": "Rate limit exceeded", "success": False})


# --- the control API --------------------------------------------------------------------------


def control(sim: IndstocksSimulator, method: str, path: str, body: Any = None, **options: Any) -> requests.Response:
    return requests.request(method, sim.url + "/_sim/" + path, json=body, timeout=5, **options)


def test_control_api_over_http(sim):
    assert control(sim, "POST", "tokens", {"tokens": ["a", "b"]}).status_code == 200
    assert sim.live_tokens == {"a", "b"}
    headers = {"Authorization": "a"}
    fault = {"path": "/order", "kind": "timeout", "count": 1, "place": True, "delay": 0.2}
    assert control(sim, "POST", "faults", fault).status_code == 200
    assert requests.post(sim.url + "/order", json=order(), headers=headers, timeout=5).status_code == 200
    requests.get(sim.url + "/user/profile", headers=headers, timeout=5)
    [recorded] = control(sim, "GET", "requests", params={"path": "/order"}).json()["requests"]
    assert recorded["method"] == "POST" and recorded["json"] == order()
    assert recorded["headers"]["authorization"] == "a" and json.loads(recorded["body"]) == order()
    assert len(control(sim, "GET", "requests").json()["requests"]) == 2
    [row] = control(sim, "GET", "orders").json()["orders"]
    update = {"order_id": row["id"], "status": "SUCCESS", "extra_info": "done", "traded_qty": 1, "traded_price": 800}
    assert control(sim, "POST", "order-status", update).status_code == 200
    assert sim.orders[0]["status"] == "SUCCESS" and sim.orders[0]["traded_price"] == "800.00"
    assert control(sim, "POST", "reset").status_code == 200
    assert control(sim, "GET", "orders").json() == {"orders": []} and sim.live_tokens == {"a", "b"}


@pytest.mark.parametrize(
    "method, path, body, status",
    [("POST", "faults", {"path": "/order", "kind": "meteor"}, 400), ("POST", "faults", {"kind": "reset"}, 400),
     ("POST", "order-status", {"order_id": "EQ-0", "status": "SUCCESS"}, 400), ("POST", "tokens", {}, 400),
     ("GET", "nothing", None, 404)],
)  # fmt: skip
def test_control_api_refuses_bad_calls(sim, method, path, body, status):
    assert control(sim, method, path, body).status_code == status


# --- running it as a program ------------------------------------------------------------------


def test_command_line_serves_until_sigterm_and_logs_no_token(tmp_path):
    stderr_path = tmp_path / "stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.simulator", "--port", "0", "--token", TOKEN, "--token", "second"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            line = process.stdout.readline()
            url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
            for token in (TOKEN, "second"):
                assert requests.get(url + "/user/profile", headers={"Authorization": token}, timeout=5).ok
            assert requests.post(url + "/order", json=order(), headers=AUTH, timeout=5).status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            if process.poll() is None:
                process.kill()
            process.stdout.close()
    logged = stderr_path.read_text()
    assert "POST /order" in logged and TOKEN not in logged and "99999" not in logged


def test_binds_to_loopback_only():
    with pytest.raises(ValueError):
        IndstocksSimulator(host="0.0.0.0")


# --- local/openapi.py -------------------------------------------------------------------------


def test_schema_errors_name_the_field_path():
    assert schema_errors("OrderRequest", order(qty=0)) == ["qty: 0 is less than the minimum of 1"]
    assert schema_errors("OrderRequest", order(security_id=3045)) == ["security_id: 3045 is not of type 'string'"]
    assert schema_errors("OrderRequest", order(order_type="SL")) == [
        "order_type: 'SL' is not one of ['LIMIT', 'MARKET']"
    ]
    assert schema_errors("OrderRequest", order(algo_id=None)) == ["body: 'algo_id' is a required property"]
    assert schema_errors("OrderRequest", order()) == []


def test_schema_errors_follow_refs_into_other_schemas():
    # OrderBookResponse items are a $ref to #/components/schemas/OrderDetails/properties/data.
    book = {"status": "success", "data": [{"id": "EQ-1", "traded_qty": "0"}]}
    assert schema_errors("OrderBookResponse", book) == ["data.0.traded_qty: '0' is not of type 'integer'"]


def test_schemas_allow_unknown_fields_as_the_spec_does():
    assert schema_errors("OrderRequest", order(client_tag="x")) == []


def test_unknown_schema_name_is_an_error():
    with pytest.raises(KeyError):
        schema_errors("NoSuchSchema", {})


def test_request_body_schema_of_an_operation():
    assert request_body_schema("POST", "/order") == spec()["components"]["schemas"]["OrderRequest"]
    assert request_body_schema("post", "/smart/order") == spec()["components"]["schemas"]["SmartOrderRequest"]
    assert request_body_schema("POST", "/generate/token")["required"] == ["mpin", "totp"]
    assert request_body_schema("GET", "/user/profile") is None


def test_request_errors_use_the_operations_schema():
    assert request_errors("POST", "/order", order()) == []
    assert request_errors("POST", "/smart/order", order(validity="IOC")) == ["validity: 'IOC' is not one of ['DAY']"]
    assert request_errors("POST", "/generate/token", {"mpin": 9828, "totp": "012345"}) == [
        "mpin: 9828 is not of type 'string'"
    ]
    assert request_errors("POST", "/order/cancel", {"order_id": "EQ-1", "segment": "EQUITY"}) == []
    with pytest.raises(KeyError):
        request_errors("GET", "/user/profile", {})


def test_response_errors_use_the_operations_documented_reply():
    from local.openapi import response_errors

    assert response_errors("GET", "/funds", 200, {"status": "success", "data": {"sod_balance": 1.5}}) == []
    assert response_errors("GET", "/funds", 200, {"data": {"detailed_avl_balance": {"eq_cnc": "1"}}}) == [
        "data.detailed_avl_balance.eq_cnc: '1' is not of type 'number'"
    ]
    assert "data.0.net_qty: None is not of type 'number'" in response_errors(
        "GET", "/portfolio/positions", 200, {"data": [{"net_qty": None}]}
    )
    assert response_errors("GET", "/portfolio/positions", 200, {"data": [{"cf_buy_qty": None}]}) == []  # nullable
    assert response_errors("POST", "/order", 400, {"status": "error", "error_type": "OrderException"}) == []
    with pytest.raises(KeyError):
        response_errors("GET", "/funds", 400, {})
    with pytest.raises(KeyError):
        response_errors("DELETE", "/funds", 200, {})


def test_query_errors_check_required_parameters_and_their_enums():
    from local.openapi import query_errors

    assert query_errors("GET", "/portfolio/positions", {"segment": "derivative", "product": "margin"}) == []
    assert query_errors("GET", "/portfolio/positions", {"segment": "DERIVATIVE", "product": "margin"}) == [
        "segment: 'DERIVATIVE' is not one of ['equity', 'derivative']"
    ]
    assert query_errors("GET", "/trade-book", {}) == ["segment: a required query parameter is missing"]
    assert query_errors("GET", "/market/quotes/ltp", {"scrip-codes": "NSE_3045"}) == []  # a $ref'd parameter
    assert query_errors("GET", "/market/instruments/search", {"underlying": "NIFTY", "segment": "DERIVATIVE",
                                                              "page_size": "101"}) == [
        "page_size: 101 is greater than the maximum of 100"
    ]  # fmt: skip
