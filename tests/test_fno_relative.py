"""Relative options: ATM / ITMn / OTMn picked from an option chain, for calls and puts, and the
contract it names checked against the master."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from chalicelib.config import IST
from chalicelib.errors import AlertRejected, DependencyUnavailable
from chalicelib.fno import (
    Exchange,
    ExpiryRule,
    FnoIndex,
    IndexUnderlyings,
    Offset,
    OptionType,
    choose_leg,
    option_chain_params,
    parse_relative_option,
    read_chain,
    resolve_relative,
    strike_count_for,
)
from tests import fno_master

CE, PE = OptionType.CE, OptionType.PE
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=IST).timestamp()


def chain(spot: str, strikes: range | list[int] = range(24000, 25001, 50), legs: tuple[str, ...] = ("ce", "pe")) -> dict:
    """The option chain's `data`: keys in no particular order, as INDstocks warns."""
    body = {}
    for strike in sorted(strikes, key=lambda value: (value * 7919) % 101):
        body[str(strike)] = {leg: {"security_id": f"{leg}{strike}", "trading_symbol": f"NIFTY-Jan2026-{strike}-{leg.upper()}",
                                   "last_price": 100.5, "oi": 10} for leg in legs}
    return {"underlying_ltp": float(spot), "expiry": "2026-01-06", "strikes": body}


@pytest.mark.parametrize("spot, atm", [
    ("24471.7", 24450), ("24476", 24500), ("24500", 24500), ("23000", 24000), ("26000", 25000),
    ("24475", 24450),  # exactly halfway: the lower strike, calls and puts alike
    ("24425", 24400),
])  # fmt: skip
def test_atm_is_the_listed_strike_nearest_the_spot(spot, atm):
    for option_type in (CE, PE):
        leg = choose_leg(chain(spot), option_type, Offset("ATM", 0))
        assert (leg.strike, leg.atm_strike, leg.spot) == (Decimal(atm), Decimal(atm), Decimal(spot))
        assert leg.security_id == f"{option_type.value.lower()}{atm}"


@pytest.mark.parametrize("option_type, offset, strike", [
    (CE, Offset("ITM", 1), 24400), (CE, Offset("ITM", 3), 24300), (CE, Offset("OTM", 1), 24500),
    (CE, Offset("OTM", 2), 24550), (CE, Offset("ITM", 9), 24000), (CE, Offset("OTM", 11), 25000),
    (PE, Offset("ITM", 1), 24500), (PE, Offset("ITM", 3), 24600), (PE, Offset("OTM", 1), 24400),
    (PE, Offset("OTM", 2), 24350), (PE, Offset("OTM", 9), 24000), (PE, Offset("ITM", 11), 25000),
])  # fmt: skip
def test_each_offset_for_calls_and_puts(option_type, offset, strike):
    leg = choose_leg(chain("24471.7"), option_type, offset)  # ATM 24450
    assert leg.strike == Decimal(strike)
    assert leg.security_id == f"{option_type.value.lower()}{strike}"
    assert leg.trading_symbol == f"NIFTY-Jan2026-{strike}-{option_type.value}"
    assert (leg.option_type, leg.offset, leg.atm_strike) == (option_type, offset, Decimal(24450))


@pytest.mark.parametrize("option_type, offset, reach", [
    (CE, Offset("OTM", 12), "11 CE strikes above it and 9 below (up to OTM11 and ITM9)"),
    (CE, Offset("ITM", 10), "11 CE strikes above it and 9 below (up to OTM11 and ITM9)"),
    (PE, Offset("ITM", 12), "11 PE strikes above it and 9 below (up to ITM11 and OTM9)"),
    (PE, Offset("OTM", 10), "11 PE strikes above it and 9 below (up to ITM11 and OTM9)"),
])  # fmt: skip
def test_an_offset_beyond_the_chain_names_how_far_it_goes(option_type, offset, reach):
    with pytest.raises(AlertRejected) as caught:
        choose_leg(chain("24471.7"), option_type, offset)
    [problem] = caught.value.detail
    assert problem.field == "offset"
    assert f"{offset} is beyond the option chain: ATM is 24450" in problem.message and reach in problem.message


def test_the_ladder_holds_only_strikes_with_a_leg_of_the_asked_type():
    data = chain("24471.7", legs=("ce",))
    data["strikes"]["24500"]["pe"] = {"security_id": "pe24500"}
    assert choose_leg(data, PE, Offset("ATM", 0)).strike == Decimal(24500)  # the only put listed
    with pytest.raises(AlertRejected):
        choose_leg(data, PE, Offset("OTM", 1))


def test_decimal_strike_keys_and_the_whole_response_are_read():
    data = {"status": "success", "data": {"underlying_ltp": 291.1, "strikes": {
        "290.0": {"ce": {"security_id": "1"}}, "292.5": {"ce": {"security_id": "2"}}, "295.00": {"ce": {"security_id": "3"}}}}}
    leg = choose_leg(data, CE, Offset("OTM", 1))
    assert (leg.strike, leg.security_id, leg.atm_strike) == (Decimal("292.5"), "2", Decimal("290"))


@pytest.mark.parametrize("data", [
    {"strikes": {}}, {"underlying_ltp": 0, "strikes": {}}, {"underlying_ltp": 100, "strikes": {"1": {"ce": {}}}},
    {"underlying_ltp": "NaN", "strikes": {}},
])  # fmt: skip
def test_an_unusable_chain_is_the_brokers_problem(data):
    with pytest.raises(DependencyUnavailable):
        read_chain(data)


def test_an_empty_ladder_is_the_brokers_problem_too():
    with pytest.raises(DependencyUnavailable, match="lists no PE strikes"):
        choose_leg(chain("24471.7", legs=("ce",)), PE, Offset("ATM", 0), "NIFTY")


def test_the_chain_is_asked_for_one_strike_more_than_the_offset():
    assert strike_count_for(Offset("ATM", 0)) == 1
    assert strike_count_for(Offset("OTM", 20)) == 21


# --- against the master ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def index() -> FnoIndex:
    return FnoIndex.from_csv(fno_master.master_csv(date(2026, 1, 5), stocks=3))


def chain_from(index: FnoIndex, series, spot: str) -> dict:
    strikes = {}
    for option_type in OptionType:
        for strike in index.listed_strikes(series, option_type):
            contract = index.option_contract(series, option_type, strike)
            strikes.setdefault(str(strike), {})[option_type.value.lower()] = {
                "security_id": contract.security_id, "trading_symbol": contract.trading_symbol}
    return {"underlying_ltp": float(spot), "strikes": strikes}


def test_a_relative_option_resolves_to_the_masters_contract(index):
    query = parse_relative_option({"underlying": "NIFTY", "option_type": "PE", "offset": "ITM2", "expiry": "weekly"})
    series = index.option_series(query.underlying, query.exchange, query.expiry, NOW)
    assert series.expiry == date(2026, 1, 6)
    contract, leg = resolve_relative(index, query, series, chain_from(index, series, "24010"))
    assert (contract.strike, contract.kind.value, contract.expiry, contract.lot_units) == (Decimal(24100), "PE", date(2026, 1, 6), 65)
    assert contract.security_id == leg.security_id and leg.spot == Decimal(24010)


def test_sensex_monthly_call(index):
    query = parse_relative_option({"underlying": "SENSEX", "option_type": "CE", "offset": "OTM1",
                                   "expiry": "monthly", "exchange": "BSE_INDEX"})
    assert query.expiry is ExpiryRule.MONTHLY
    series = index.option_series(query.underlying, query.exchange, query.expiry, NOW)
    contract, _ = resolve_relative(index, query, series, chain_from(index, series, "80020"))
    assert (contract.exchange.value, contract.expiry, contract.strike, contract.lot_units) == ("BSE", date(2026, 1, 29), Decimal(80100), 20)


def test_a_chain_that_disagrees_with_the_master_sends_nothing(index):
    query = parse_relative_option({"underlying": "NIFTY", "option_type": "CE", "offset": "ATM", "expiry": "weekly"})
    series = index.option_series(query.underlying, query.exchange, query.expiry, NOW)
    data = chain_from(index, series, "24000")
    data["strikes"]["24000"]["ce"]["security_id"] = "999999"
    with pytest.raises(DependencyUnavailable, match="does not match the instrument master"):
        resolve_relative(index, query, series, data)
    data = chain("24012", strikes=[24012])  # a strike the master does not list
    with pytest.raises(DependencyUnavailable):
        resolve_relative(index, query, series, data)


# --- the option-chain request ---------------------------------------------------------------

def test_index_ids_for_the_option_chain_come_from_the_index_master():
    text = "EXCH,SEGMENT,SECURITY_ID\nNSE,NIFTY 50,40000001\nNSE,Nifty Bank,40000002\nNSE,Nifty Financial,40000003\n" \
           "NSE,Nifty Midcap Sel,40000004\nNSE,Nifty Next 50,40000005\nBSE,SENSEX,50000001\nNSE,NIFTY IT,40000009\nbad\n"
    ids = IndexUnderlyings.from_csv(text)
    assert ids.ids == {
        (Exchange.NSE, "NIFTY"): "40000001", (Exchange.NSE, "BANKNIFTY"): "40000002",
        (Exchange.NSE, "FINNIFTY"): "40000003", (Exchange.NSE, "MIDCPNIFTY"): "40000004",
        (Exchange.NSE, "NIFTYNXT50"): "40000005", (Exchange.BSE, "SENSEX"): "50000001",
    }
    assert ids.security_id(Exchange.BSE, "NIFTY") is None


def test_option_chain_params(index):
    series = index.option_series("NIFTY", None, ExpiryRule.WEEKLY, NOW)
    assert option_chain_params(series, "40000001", Offset("OTM", 2), is_index=True) == {
        "exchange": "NSE", "segment": "INDEX", "underlying-scrip": "40000001", "expiry": "2026-01-06", "strike_count": 3}
