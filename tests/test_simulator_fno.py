"""The simulator's futures & options over real HTTP: the generated masters, the option chain,
instrument search and expiries, F&O quotes, and INDstocks' refusals of derivative orders.

Everything runs on one fixed trading day, Monday 12 Oct 2026, chosen for its holidays: Tuesday
20 Oct (Dussehra) moves a NIFTY weekly expiry to Monday 19 Oct, and Tuesday 24 Nov (Gurpurb)
moves the November monthly to Monday 23 Nov.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests

from local.fno_master import (
    FNO_COLUMNS,
    generate_fno_master,
    generate_index_master,
    parse_expiry,
    parse_fno_master,
    underlying_of,
)
from local.openapi import request_errors, schema_errors
from local.simulator import INSTRUMENT_COLUMNS, IndstocksSimulator
from tests.test_simulator import AUTH, TOKEN, assert_error, get

TODAY = date(2026, 10, 12)
OCT13, OCT19, OCT27, NOV23 = date(2026, 10, 13), date(2026, 10, 19), date(2026, 10, 27), date(2026, 11, 23)
BSE_ALGO = "9" * 16
BAD_QUOTE = {"message": "Invalid scrip codes or mode", "success": False}


@pytest.fixture
def sim() -> Iterator[IndstocksSimulator]:
    with IndstocksSimulator(tokens=(TOKEN,), today=TODAY) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def master() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(generate_fno_master(TODAY))))


def rows_of(master: list[dict[str, str]], underlying: str) -> list[dict[str, str]]:
    return [row for row in master if underlying_of(row["TRADING_SYMBOL"]) == underlying]


def expiries(rows: list[dict[str, str]]) -> dict[date, str]:
    """Expiry → its EXPIRY_FLAG."""
    return {date.fromisoformat(row["EXPIRY_DATE"][:10]): row["EXPIRY_FLAG"] for row in rows}


def post(sim: IndstocksSimulator, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(sim.url + path, json=body, headers=AUTH, timeout=5)


def derivative_order(sim: IndstocksSimulator, contract: Any, **changes: Any) -> dict[str, Any]:
    """A MARKET BUY of one lot of `contract`, as the relay would send it (the body must conform)."""
    body = {
        "txn_type": "BUY", "exchange": contract.exchange, "segment": "DERIVATIVE", "product": "MARGIN",
        "order_type": "MARKET", "validity": "DAY", "security_id": contract.security_id, "qty": contract.lot,
        "algo_id": "99999" if contract.exchange == "NSE" else BSE_ALGO,
    }  # fmt: skip
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def nifty(sim: IndstocksSimulator, strike: int | None = 24450, option_type: str | None = "CE", expiry: date = OCT13):
    return sim.find_contract("NIFTY", expiry, strike, option_type)


def chain(sim: IndstocksSimulator, **params: Any) -> requests.Response:
    query = {"exchange": "NSE", "segment": "INDEX", "underlying-scrip": "40000001", "expiry": OCT13.isoformat()}
    query.update(params)
    return get(sim, "/market/option-chain", params={k: v for k, v in query.items() if v is not None})


# --- the F&O master ---------------------------------------------------------------------------


def test_fno_master_is_served_with_the_equity_columns_and_both_exchanges(sim):
    response = get(sim, "/market/instruments", params={"source": "fno"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert response.text == generate_fno_master(TODAY) == sim.fno_csv
    assert next(csv.reader(io.StringIO(response.text))) == list(INSTRUMENT_COLUMNS) == list(FNO_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert 1000 < len(rows) < 5000  # small enough for fast tests
    assert {(row["EXCH"], row["SEGMENT"]) for row in rows} == {("NSE", "D"), ("BSE", "FNO")}
    assert {row["INSTRUMENT_NAME"] for row in rows} == {"FUTIDX", "FUTSTK", "OPTIDX", "OPTSTK"}
    assert len({(row["EXCH"], row["SECURITY_ID"]) for row in rows}) == len(rows)
    assert {row["TICK_SIZE"] for row in rows} == {"0.05"}
    assert {row["EXPIRY_FLAG"] for row in rows} == {"W", "M"}
    for row in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d 14:30:00", row["EXPIRY_DATE"])
        if row["INSTRUMENT_NAME"].startswith("FUT"):
            assert re.fullmatch(r"[A-Z0-9]+-[A-Z][a-z]{2}20\d\d-FUT", row["TRADING_SYMBOL"])
            assert row["STRIKE_PRICE"] == row["OPTION_TYPE"] == ""
        else:
            assert re.fullmatch(r"[A-Z0-9]+-[A-Z][a-z]{2}20\d\d-\d+(\.\d+)?-(CE|PE)", row["TRADING_SYMBOL"])
            assert row["OPTION_TYPE"] in ("CE", "PE") and Decimal(row["STRIKE_PRICE"]) > 0
    nifty_rows = rows_of(rows, "NIFTY")
    assert {row["SYMBOL_NAME"] for row in nifty_rows} == {""}  # blank on indices
    assert "NIFTY-Oct2026-24450-CE" in {row["TRADING_SYMBOL"] for row in nifty_rows}
    assert {row["EXCH"] for row in rows_of(rows, "SENSEX") + rows_of(rows, "BANKEX")} == {"BSE"}


def test_expiries_fall_on_their_weekdays_and_a_holiday_moves_them_back(master):
    # NIFTY: four weekly Tuesdays and three monthly last Tuesdays, plus last week's expired one.
    assert expiries(rows_of(master, "NIFTY")) == {
        date(2026, 10, 6): "W", OCT13: "W", OCT19: "W", OCT27: "M", date(2026, 11, 3): "W", NOV23: "M",
        date(2026, 12, 29): "M",
    }  # fmt: skip
    monthly = {date(2026, 9, 29): "M", OCT27: "M", NOV23: "M", date(2026, 12, 29): "M"}
    for underlying in ("BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "RELIANCE", "TATAMOTORS", "VEDL"):
        assert expiries(rows_of(master, underlying)) == monthly, underlying
    # SENSEX: weekly Thursdays and the last Thursday; BANKEX monthly only.
    assert expiries(rows_of(master, "SENSEX")) == {
        date(2026, 10, 8): "W", date(2026, 10, 15): "W", date(2026, 10, 22): "W", date(2026, 10, 29): "M",
        date(2026, 11, 5): "W", date(2026, 11, 26): "M", date(2026, 12, 31): "M",
    }  # fmt: skip
    assert set(expiries(rows_of(master, "BANKEX"))) == {date(2026, 9, 24), date(2026, 10, 29), date(2026, 11, 26),
                                                       date(2026, 12, 31)}  # fmt: skip


def test_march_holidays_move_weekly_and_monthly_expiries_on_both_exchanges():
    rows = list(csv.DictReader(io.StringIO(generate_fno_master(date(2026, 3, 2)))))
    # Holi (Tue 3 Mar) and Mahavir Jayanti (Tue 31 Mar, the monthly); Ram Navami (Thu 26 Mar, BSE monthly).
    assert expiries(rows_of(rows, "NIFTY"))[date(2026, 3, 2)] == "W"
    assert expiries(rows_of(rows, "NIFTY"))[date(2026, 3, 30)] == "M"
    assert expiries(rows_of(rows, "SENSEX"))[date(2026, 3, 25)] == "M"
    assert {date(2026, 3, 3), date(2026, 3, 31), date(2026, 3, 26)}.isdisjoint(expiries(rows))


def test_expired_rows_stay_in_the_master_but_are_not_live(sim, master):
    expired = [row for row in rows_of(master, "NIFTY") if row["EXPIRY_DATE"].startswith("2026-10-06")]
    assert len(expired) == 62  # 31 strikes, CE and PE
    assert [row for row in rows_of(master, "BANKNIFTY") if row["EXPIRY_DATE"].startswith("2026-09-29")]
    assert get(sim, "/market/instruments/expiries", params={"underlying": "NIFTY", "segment": "DERIVATIVE"}).json()[
        "data"][0] == "2026-10-13"  # fmt: skip


@pytest.mark.parametrize(
    "underlying, lot",
    [("NIFTY", 65), ("BANKNIFTY", 30), ("FINNIFTY", 60), ("MIDCPNIFTY", 120), ("NIFTYNXT50", 25), ("SENSEX", 20),
     ("BANKEX", 30), ("RELIANCE", 500), ("TATAMOTORS", 800), ("VEDL", 1150)],
)  # fmt: skip
def test_lots_follow_the_2026_table(master, underlying, lot):
    assert {row["LOT_UNITS"] for row in rows_of(master, underlying)} == {str(lot)}


def test_strikes_sit_around_the_spot_at_each_underlyings_step(master):
    def strikes(underlying: str) -> list[Decimal]:
        return sorted({Decimal(r["STRIKE_PRICE"]) for r in rows_of(master, underlying) if r["STRIKE_PRICE"]})

    assert strikes("NIFTY")[0] == 23700 and strikes("NIFTY")[-1] == 25200 and len(strikes("NIFTY")) == 31
    assert {s % 100 for s in strikes("BANKNIFTY")} == {0} and {s % 100 for s in strikes("SENSEX")} == {0}
    assert Decimal("292.5") in strikes("VEDL")
    vedl = {row["TRADING_SYMBOL"] for row in rows_of(master, "VEDL")}
    assert {"VEDL-Oct2026-292.5-CE", "VEDL-Oct2026-FUT"} <= vedl
    futures = [row for row in rows_of(master, "RELIANCE") if row["INSTRUMENT_NAME"] == "FUTSTK"]
    assert [row["EXPIRY_CODE"] for row in futures] == ["", "0", "1", "2"]  # the expired one, then near/next/far


def test_weekly_contracts_of_one_month_share_a_trading_symbol(master):
    same = [r for r in rows_of(master, "NIFTY") if r["TRADING_SYMBOL"] == "NIFTY-Oct2026-24450-CE"]
    assert sorted(r["EXPIRY_DATE"][:10] for r in same) == ["2026-10-06", "2026-10-13", "2026-10-19", "2026-10-27"]
    assert len({r["SECURITY_ID"] for r in same}) == 4


def test_master_is_deterministic_per_day_and_has_a_segment_switch():
    assert generate_fno_master(TODAY) == generate_fno_master(TODAY) != generate_fno_master(date(2026, 10, 14))
    assert {row["SEGMENT"] for row in csv.DictReader(io.StringIO(generate_fno_master(TODAY, segment="FNO")))} == {"FNO"}
    with pytest.raises(ValueError):
        generate_fno_master(TODAY, segment="E")


def test_real_size_master_has_about_100000_rows_on_both_exchanges():
    contracts = parse_fno_master(generate_fno_master(TODAY, real_size=True))
    assert 95_000 <= len(contracts) <= 110_000
    assert {c.exchange for c in contracts} == {"NSE", "BSE"}
    assert len({(c.exchange, c.security_id) for c in contracts}) == len(contracts)
    assert 3000 <= sum(c.underlying == "NIFTY" for c in contracts) <= 3600
    assert {"BAJAJ-AUTO", "M&M", "360ONE"} <= {c.underlying for c in contracts}  # real names that trip naive parsing


def test_master_reading_is_tolerant():
    assert underlying_of("BAJAJ-AUTO-Aug2026-FUT") == "BAJAJ-AUTO"
    assert underlying_of("NIFTY-Aug2026-24450-CE") == "NIFTY"
    assert parse_expiry("2026-08-25 14:30:00") == parse_expiry("08/25/2026 14:00") == date(2026, 8, 25)
    text = ",".join(FNO_COLUMNS) + "\nNSE,E,3045,EQUITY,,SBIN,1,SBI,,,,0.05,,,EQ,SBI\n"
    assert parse_fno_master(text) == []  # cash rows are not contracts


# --- the index master -------------------------------------------------------------------------


def test_index_master_has_three_columns_with_the_name_in_segment(sim):
    response = get(sim, "/market/instruments", params={"source": "index"})
    assert response.status_code == 200 and response.text == generate_index_master()
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["EXCH", "SEGMENT", "SECURITY_ID"]
    assert ["NSE", "NIFTY 50", "40000001"] in rows
    names = {(row[0], row[1]) for row in rows[1:]}
    assert {("NSE", "BANK NIFTY"), ("NSE", "Nifty Financial"), ("NSE", "Nifty Midcap Sel"), ("NSE", "Nifty Next 50"),
            ("BSE", "SENSEX"), ("BSE", "BANKEX")} <= names  # fmt: skip


def test_equity_source_still_serves_the_cash_master(sim):
    assert get(sim, "/market/instruments", params={"source": "equity"}).text == sim.instruments_csv


# --- the option chain -------------------------------------------------------------------------


def test_option_chain_lists_strike_count_strikes_each_side_of_the_spot(sim):
    response = chain(sim, strike_count=3)
    assert response.status_code == 200
    body = response.json()
    assert schema_errors("OptionChainResponse", body) == []
    data = body["data"]
    assert data["underlying_ltp"] == 24471.7 and data["expiry"] == "2026-10-13"
    assert sorted(data["strikes"], key=int) == ["24300", "24350", "24400", "24450", "24500", "24550", "24600"]
    atm = data["strikes"]["24450"]
    contract = nifty(sim)
    assert atm["ce"]["security_id"] == contract.security_id and atm["ce"]["trading_symbol"] == "NIFTY-Oct2026-24450-CE"
    assert atm["pe"]["security_id"] == nifty(sim, option_type="PE").security_id
    assert atm["ce"]["last_price"] == float(sim.fno_price(contract))
    calls = [data["strikes"][k]["ce"]["last_price"] for k in sorted(data["strikes"], key=int)]
    puts = [data["strikes"][k]["pe"]["last_price"] for k in sorted(data["strikes"], key=int)]
    assert calls == sorted(calls, reverse=True) and puts == sorted(puts)
    assert atm["ce"]["greeks"]["delta"] > 0 > atm["pe"]["greeks"]["delta"]
    assert len(chain(sim).json()["data"]["strikes"]) == 21  # strike_count defaults to 10


def test_option_chain_follows_set_spot(sim):
    before = chain(sim, strike_count=1).json()["data"]["strikes"]["24450"]["ce"]["last_price"]
    sim.set_spot("NIFTY", 24480)
    data = chain(sim, strike_count=1).json()["data"]
    assert data["underlying_ltp"] == 24480 and sorted(data["strikes"]) == ["24450", "24500", "24550"]
    assert data["strikes"]["24450"]["ce"]["last_price"] > before
    sim.set_spot("NIFTY", 25010)
    assert sorted(chain(sim, strike_count=1).json()["data"]["strikes"]) == ["24950", "25000", "25050"]


def test_option_chain_for_sensex_and_for_a_stock(sim):
    sensex = chain(sim, exchange="BSE", **{"underlying-scrip": "50000001"}, expiry="2026-10-15", strike_count=1)
    assert sensex.status_code == 200 and sorted(sensex.json()["data"]["strikes"]) == ["80400", "80500", "80600"]
    assert sensex.json()["data"]["strikes"]["80500"]["ce"]["trading_symbol"] == "SENSEX-Oct2026-80500-CE"
    vedl = chain(sim, segment="EQUITY", **{"underlying-scrip": "3063"}, expiry="2026-10-27", strike_count=1)
    assert sorted(vedl.json()["data"]["strikes"], key=Decimal) == ["290", "292.5", "295"]
    reliance = chain(sim, segment="EQUITY", **{"underlying-scrip": "2885"}, expiry="2026-10-27", strike_count=0)
    assert reliance.status_code == 400  # strike_count must be at least 1
    reliance = chain(sim, segment="EQUITY", **{"underlying-scrip": "2885"}, expiry="2026-10-27", strike_count=1)
    assert reliance.json()["data"]["underlying_ltp"] == 1400.0


@pytest.mark.parametrize(
    "params",
    [{"exchange": "NFO"}, {"segment": "DERIVATIVE"}, {"underlying-scrip": "40000099"}, {"expiry": "2026-10-14"},
     {"expiry": "2026-10-06"}, {"expiry": "13-10-2026"}, {"expiry": None}, {"exchange": "BSE"},
     {"segment": "EQUITY"}],
)  # fmt: skip
def test_option_chain_refuses_bad_parameters_in_its_own_shape(sim, params):
    response = chain(sim, **params)
    assert response.status_code == 400
    assert response.json() == {"message": "Bad Request",
                               "debug_info": "Invalid exchange, segment, underlying-scrip or expiry passed"}  # fmt: skip
    assert schema_errors("OptionChainErrorResponse", response.json()) == []


def test_option_chain_without_authorization_is_a_400_and_a_wrong_token_a_403(sim):
    params = {"exchange": "NSE", "segment": "INDEX", "underlying-scrip": "40000001", "expiry": "2026-10-13"}
    missing = requests.get(sim.url + "/market/option-chain", params=params, timeout=5)
    assert missing.status_code == 400 and missing.json()["success"] is False and missing.json()["message"]
    assert get(sim, "/market/option-chain", headers={"Authorization": "nope"}, params=params).status_code == 403


# --- search and expiries ----------------------------------------------------------------------


def test_expiries_are_the_live_ones_ascending(sim):
    response = get(sim, "/market/instruments/expiries", params={"underlying": "NIFTY", "segment": "DERIVATIVE"})
    assert response.status_code == 200 and schema_errors("ExpiryListResponse", response.json()) == []
    assert response.json()["data"] == ["2026-10-13", "2026-10-19", "2026-10-27", "2026-11-03", "2026-11-23", "2026-12-29"]
    sensex = get(sim, "/market/instruments/expiries", params={"underlying": "SENSEX", "segment": "DERIVATIVE"})
    assert sensex.json()["data"][0] == "2026-10-15"


@pytest.mark.parametrize(
    "path", ["/market/instruments/expiries", "/market/instruments/search"]
)
@pytest.mark.parametrize("params", [{"underlying": "NOPE", "segment": "DERIVATIVE"}, {"underlying": "NIFTY", "segment": "EQUITY"},
                                    {"underlying": "NIFTY"}])  # fmt: skip
def test_search_and_expiries_refuse_an_unknown_underlying_or_segment(sim, path, params):
    response = get(sim, path, params=params)
    assert response.status_code == 400 and response.json()["message"] == "Bad Request"
    assert response.json()["debug_info"] and schema_errors("DebugInfoErrorResponse", response.json()) == []


def test_search_filters_options_by_expiry_strike_and_side(sim):
    params = {"underlying": "NIFTY", "segment": "DERIVATIVE", "instrument_type": "OPTIDX", "expiry": "2026-10-13",
              "strike_from": 24400, "strike_to": 24500, "option_type": "CE"}  # fmt: skip
    response = get(sim, "/market/instruments/search", params=params)
    assert response.status_code == 200 and schema_errors("InstrumentSearchResponse", response.json()) == []
    data = response.json()["data"]
    assert (data["count"], data["page"], data["page_size"]) == (3, 1, 50)
    first = data["instruments"][0]
    assert first == {"security_id": nifty(sim, 24400).security_id, "trading_symbol": "NIFTY26OCT1324400CE",
                     "instrument_type": "OPTIDX", "expiry": "2026-10-13", "strike_price": 24400.0,
                     "option_type": "CE", "lot_size": 65}  # fmt: skip
    assert [i["strike_price"] for i in data["instruments"]] == [24400.0, 24450.0, 24500.0]


def test_search_lists_futures_with_null_strike_and_pages(sim):
    params = {"underlying": "NIFTY", "segment": "DERIVATIVE", "instrument_type": "FUTIDX"}
    futures = get(sim, "/market/instruments/search", params=params).json()["data"]["instruments"]
    assert [f["trading_symbol"] for f in futures] == ["NIFTY26OCT27FUT", "NIFTY26NOV23FUT", "NIFTY26DEC29FUT"]
    assert {(f["strike_price"], f["option_type"]) for f in futures} == {(None, None)}
    everything = {"underlying": "BANKNIFTY", "segment": "DERIVATIVE", "page_size": 10}
    first = get(sim, "/market/instruments/search", params=everything).json()["data"]
    second = get(sim, "/market/instruments/search", params={**everything, "page": 2}).json()["data"]
    assert first["count"] == second["count"] == 3 * 63  # live expiries only
    assert len(first["instruments"]) == 10 and first["instruments"][0]["instrument_type"] == "FUTIDX"
    assert {i["security_id"] for i in first["instruments"]}.isdisjoint(i["security_id"] for i in second["instruments"])
    too_big = get(sim, "/market/instruments/search", params={**everything, "page_size": 101})
    assert too_big.status_code == 400


# --- quotes -----------------------------------------------------------------------------------


def test_ltp_of_contracts_and_indices(sim):
    option, future = nifty(sim), nifty(sim, None, None, OCT27)
    sensex = sim.find_contract("SENSEX", date(2026, 10, 15), 80500, "PE")
    codes = f"NFO_{option.security_id},NFO_{future.security_id},BFO_{sensex.security_id},NIDX_40000001,BIDX_50000001"
    response = get(sim, "/market/quotes/ltp", params={"scrip-codes": codes})
    assert response.status_code == 200 and schema_errors("LtpQuoteResponse", response.json()) == []
    data = {code: quote["live_price"] for code, quote in response.json()["data"].items()}
    assert data[f"NFO_{option.security_id}"] == float(sim.fno_price(option))
    assert data[f"NFO_{future.security_id}"] > 24471.7  # a future carries
    assert (data["NIDX_40000001"], data["BIDX_50000001"]) == (24471.7, 80540.25)
    sim.set_spot("NIFTY", 24480)
    moved = get(sim, "/market/quotes/ltp", params={"scrip-codes": f"NIDX_40000001,NFO_{option.security_id}"}).json()
    assert moved["data"]["NIDX_40000001"]["live_price"] == 24480
    assert moved["data"][f"NFO_{option.security_id}"]["live_price"] > data[f"NFO_{option.security_id}"]


def test_a_contracts_price_can_be_pinned(sim):
    option = nifty(sim)
    sim.ltp[option.security_id] = Decimal("123.45")
    assert get(sim, "/market/quotes/ltp", params={"scrip-codes": f"NFO_{option.security_id}"}).json()["data"] == {
        f"NFO_{option.security_id}": {"live_price": 123.45}}  # fmt: skip
    assert chain(sim, strike_count=1).json()["data"]["strikes"]["24450"]["ce"]["last_price"] == 123.45


@pytest.mark.parametrize("bad", ["expired", "bse_id_as_nfo", "nse_id_as_bfo", "cash_prefix", "unknown_index",
                                 "bse_index_as_nidx"])  # fmt: skip
def test_one_bad_code_fails_the_whole_batch(sim, bad):
    option, sensex = nifty(sim), sim.find_contract("SENSEX", date(2026, 10, 15), 80500, "CE")
    expired = sim.find_contract("NIFTY", date(2026, 10, 6), 24450, "CE")
    code = {
        "expired": f"NFO_{expired.security_id}", "bse_id_as_nfo": f"NFO_{sensex.security_id}",
        "nse_id_as_bfo": f"BFO_{option.security_id}", "cash_prefix": f"NSE_{option.security_id}",
        "unknown_index": "NIDX_40000099", "bse_index_as_nidx": "NIDX_50000001",
    }[bad]  # fmt: skip
    response = get(sim, "/market/quotes/ltp", params={"scrip-codes": f"NFO_{option.security_id},{code},NSE_3045"})
    assert response.status_code == 400 and response.json() == BAD_QUOTE


# --- derivative orders ------------------------------------------------------------------------


def place(sim: IndstocksSimulator, body: dict[str, Any], path: str = "/order") -> requests.Response:
    assert request_errors("POST", path, body) == []  # what the relay sends conforms to the spec
    return post(sim, path, body)


def test_nifty_option_order_is_booked_with_a_drv_id(sim):
    option = nifty(sim)
    response = place(sim, derivative_order(sim, option, qty=130))
    assert response.status_code == 200, response.text
    order_id = response.json()["data"]["order_id"]
    assert re.fullmatch(r"DRV-\d{8}", order_id) and response.json()["data"]["order_status"] == "INITIATED"
    book = get(sim, "/order-book").json()
    assert schema_errors("OrderBookResponse", book) == []
    [row] = book["data"]
    assert (row["id"], row["segment"], row["exchange"], row["product"]) == (order_id, "DERIVATIVE", "NSE", "MARGIN")
    assert (row["security_id"], row["name"], row["requested_qty"]) == (option.security_id, option.trading_symbol, 130)
    assert row["requested_price"] == f"{sim.fno_price(option):.2f}"  # MARKET books at the contract's price


def test_nifty_future_limit_order_is_booked(sim):
    future = nifty(sim, None, None, OCT27)
    body = derivative_order(sim, future, product="INTRADAY", order_type="LIMIT", limit_price=24500.05, txn_type="SELL")
    response = place(sim, body)
    assert response.status_code == 200, response.text
    [row] = sim.orders
    assert row["id"].startswith("DRV-") and (row["product"], row["requested_price"]) == ("INTRADAY", "24500.05")


def test_sensex_option_order_on_bse_and_an_amo(sim):
    sensex = sim.find_contract("SENSEX", date(2026, 10, 15), 80500, "CE")
    assert place(sim, derivative_order(sim, sensex, qty=40)).status_code == 200
    sim.market_open = False
    response = place(sim, derivative_order(sim, nifty(sim), is_amo=True))
    assert response.json()["data"]["order_status"] == "O-PENDING"
    assert [(row["exchange"], row["off_mkt_flag"]) for row in sim.orders] == [("BSE", "false"), ("NSE", "true")]


@pytest.mark.parametrize(
    "case, status, error_type, message",
    [
        ("unknown", 400, "OrderException", "instrument not found"),
        ("nse_contract_on_bse", 400, "OrderException", "instrument not found"),
        ("expired", 400, "OrderException", "instrument not tradable: the contract has expired"),
        ("not_a_lot_multiple", 400, "OrderException", "QtyMultipleOfLotSize: Qty should be a multiple of lot size 65"),
        ("at_the_freeze_limit", 400, "OrderException", "QtyWithinFreezeQty: Qty should be less than freeze qty"),
        ("above_the_freeze_limit", 400, "OrderException", "QtyWithinFreezeQty: Qty should be less than freeze qty"),
        ("off_tick_limit", 400, "OrderException", "price not a multiple of tick size"),
        ("cnc", 400, "OrderException", None),
    ],
)
def test_derivative_refusals(sim, case, status, error_type, message):
    option, banknifty = nifty(sim), sim.find_contract("BANKNIFTY", OCT27, None, None)
    body = {
        "unknown": derivative_order(sim, option, security_id="424242"),
        "nse_contract_on_bse": derivative_order(sim, option, exchange="BSE", algo_id=BSE_ALGO),
        "expired": derivative_order(sim, sim.find_contract("NIFTY", date(2026, 10, 6), 24450, "CE")),
        "not_a_lot_multiple": derivative_order(sim, option, qty=60),
        "at_the_freeze_limit": derivative_order(sim, banknifty, qty=600),  # BANKNIFTY freezes at 600 (20 lots)
        "above_the_freeze_limit": derivative_order(sim, option, qty=65 * 28),  # NIFTY: 1820 > 1800
        "off_tick_limit": derivative_order(sim, option, order_type="LIMIT", limit_price=85.52),
        "cnc": derivative_order(sim, option, product="CNC"),
    }[case]
    assert_error(place(sim, body), status, error_type, message)
    assert sim.orders == []


def test_just_below_the_freeze_limit_is_accepted(sim):
    banknifty = sim.find_contract("BANKNIFTY", OCT27, None, None)
    assert place(sim, derivative_order(sim, banknifty, qty=570)).status_code == 200


def test_stop_orders_on_bse_derivatives_are_refused_and_on_nse_accepted(sim):
    sensex = sim.find_contract("SENSEX", date(2026, 10, 15), 80500, "CE")
    body = derivative_order(sim, sensex, order_type="TRIGGER", trigger_price=1000)
    response = post(sim, "/smart/order", body)
    assert_error(response, 400, "InputException")
    assert "exchange" in response.json()["message"] and sim.orders == []
    option = nifty(sim)
    price = sim.fno_price(option)
    below = place(sim, derivative_order(sim, option, order_type="TRIGGER", trigger_price=float(price - 5)), "/smart/order")
    assert_error(below, 400, "OrderException")
    stop = derivative_order(sim, option, order_type="TRIGGER", trigger_price=float(price + 5))
    leg = place(sim, stop, "/smart/order").json()["data"]["order_data"][0]
    assert leg["order_id"].startswith("DRV-") and sim.orders[0]["order_type"] == "GTT_LIMIT"


def test_an_account_without_fno_activation_is_refused_with_user_exception(sim):
    profile = get(sim, "/user/profile").json()["data"]
    assert (profile["is_nse_fno_onboarded"], profile["is_bse_fno_onboarded"]) == (True, True)
    sim.fno_enabled = False
    profile = get(sim, "/user/profile").json()
    assert schema_errors("UserProfileResponse", profile) == []
    assert (profile["data"]["is_nse_fno_onboarded"], profile["data"]["is_bse_fno_onboarded"]) == (False, False)
    option = nifty(sim)
    assert_error(place(sim, derivative_order(sim, option)), 403, "UserException")
    stop = derivative_order(sim, option, order_type="TRIGGER", trigger_price=float(sim.fno_price(option) + 5))
    assert_error(place(sim, stop, "/smart/order"), 403, "UserException")
    equity = {"txn_type": "BUY", "exchange": "NSE", "segment": "EQUITY", "product": "CNC", "order_type": "MARKET",
              "validity": "DAY", "security_id": "3045", "qty": 1, "algo_id": "99999"}  # fmt: skip
    assert place(sim, equity).status_code == 200  # cash trading is unaffected
    sim.fno_enabled, sim.fno_exchanges = True, {"NSE"}
    assert get(sim, "/user/profile").json()["data"]["is_bse_fno_onboarded"] is False
    sensex = sim.find_contract("SENSEX", date(2026, 10, 15), 80500, "CE")
    assert_error(place(sim, derivative_order(sim, sensex)), 403, "UserException")
    assert place(sim, derivative_order(sim, option)).status_code == 200


def test_modifying_a_derivative_keeps_lot_and_freeze_rules(sim):
    option = nifty(sim)
    order_id = place(sim, derivative_order(sim, option, order_type="LIMIT", limit_price=80)).json()["data"]["order_id"]
    modify = {"order_id": order_id, "segment": "DERIVATIVE", "qty": 100, "limit_price": 80}
    assert_error(post(sim, "/order/modify", modify), 400, "OrderException")
    assert post(sim, "/order/modify", {**modify, "qty": 195}).status_code == 200
    assert sim.orders[0]["requested_qty"] == 195
    assert post(sim, "/order/cancel", {"order_id": order_id, "segment": "DERIVATIVE"}).status_code == 200


def test_a_new_day_expires_contracts_and_renumbers_the_master(sim):
    first = sim.fno_csv
    sim.today = date(2026, 10, 14)
    assert sim.fno_csv != first and sim.fno_csv == generate_fno_master(date(2026, 10, 14))
    expired = sim.find_contract("NIFTY", OCT13, 24450, "CE")  # still listed, as yesterday's expiry
    assert_error(place(sim, derivative_order(sim, expired)), 400, "OrderException")
    dates = get(sim, "/market/instruments/expiries", params={"underlying": "NIFTY", "segment": "DERIVATIVE"}).json()
    assert dates["data"][0] == "2026-10-19"


def test_a_test_can_serve_its_own_fno_master(sim):
    sim.fno_csv = generate_fno_master(TODAY, segment="FNO")
    assert get(sim, "/market/instruments", params={"source": "fno"}).text == sim.fno_csv
    assert place(sim, derivative_order(sim, nifty(sim))).status_code == 200
    sim.fno_csv = None  # back to the generated master
    assert sim.fno_csv == generate_fno_master(TODAY)


def test_fno_control_calls_over_http(sim):
    assert requests.post(sim.url + "/_sim/spot", json={"underlying": "NIFTY", "price": 24480}, timeout=5).ok
    assert chain(sim, strike_count=1).json()["data"]["underlying_ltp"] == 24480
    assert requests.post(sim.url + "/_sim/fno", json={"enabled": False, "today": "2026-10-13"}, timeout=5).ok
    assert sim.fno_enabled is False and sim.today == OCT13
    bad = requests.post(sim.url + "/_sim/spot", json={"underlying": "NIFTY", "price": 0}, timeout=5)
    assert bad.status_code == 400
