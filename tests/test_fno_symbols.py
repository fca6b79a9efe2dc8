"""Symbols traders send for futures and options: every form of issue 16's table, exchanges, the
precedence against cash tickers, and each refusal naming the field and what would be valid."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from chalicelib.errors import AlertRejected
from chalicelib.fno import (
    ContinuousFuture,
    ContractKind,
    EquityTicker,
    ExactContract,
    Exchange,
    ExchangeSaid,
    ExpiryRule,
    MonthFuture,
    Offset,
    OptionType,
    RelativeOption,
    normalise_exchange,
    parse_contract_symbol,
    parse_relative_option,
    parse_symbol,
)

NSE, BSE = Exchange.NSE, Exchange.BSE


def refusal(call, *args, **kwargs):
    with pytest.raises(AlertRejected) as caught:
        call(*args, **kwargs)
    [problem] = caught.value.detail
    return problem


@pytest.mark.parametrize("word, said", [
    ("NSE", ExchangeSaid(NSE)), ("BSE", ExchangeSaid(BSE)), ("nfo", ExchangeSaid(NSE, derivatives=True)),
    ("BFO", ExchangeSaid(BSE, derivatives=True)), ("NSE_DL", ExchangeSaid(NSE)), ("BSE_DL", ExchangeSaid(BSE)),
    ("NFO_DL", ExchangeSaid(NSE, derivatives=True)), ("NSE_INDEX", ExchangeSaid(NSE, index=True)),
    ("BSE_INDEX", ExchangeSaid(BSE, index=True)), (" nse ", ExchangeSaid(NSE)),
])  # fmt: skip
def test_exchange_words(word, said):
    assert normalise_exchange(word) == said


@pytest.mark.parametrize("word", ["MCX", "NYSE", "", "NSEX", "CDS"])
def test_unknown_exchanges_are_refused_naming_the_valid_ones(word):
    problem = refusal(normalise_exchange, word)
    assert problem.field == "exchange"
    assert all(name in problem.message for name in ("NSE", "BSE", "NFO", "BFO", "NSE_INDEX"))


@pytest.mark.parametrize("symbol, exchange, reading", [
    # TradingView continuous futures
    ("NIFTY1!", None, ContinuousFuture("NIFTY", 1, None, "NIFTY1!")),
    ("NSE:BANKNIFTY2!", None, ContinuousFuture("BANKNIFTY", 2, NSE, "NSE:BANKNIFTY2!")),
    ("BSE:SENSEX1!", None, ContinuousFuture("SENSEX", 1, BSE, "BSE:SENSEX1!")),
    ("NIFTYNXT501!", "NSE", ContinuousFuture("NIFTYNXT50", 1, NSE, "NIFTYNXT501!")),
    ("nifty1!", "NSE_DL", ContinuousFuture("NIFTY", 1, NSE, "NIFTY1!")),
    ("M_M1!", "NSE", ContinuousFuture("M_M", 1, NSE, "M_M1!")),
    # TradingView dated futures
    ("NSE:TATAMOTORSM2026", None, MonthFuture("TATAMOTORS", 2026, 6, NSE, "NSE:TATAMOTORSM2026")),
    ("NIFTYF2026", "NSE", MonthFuture("NIFTY", 2026, 1, NSE, "NIFTYF2026")),
    ("RELIANCEZ2026", None, MonthFuture("RELIANCE", 2026, 12, None, "RELIANCEZ2026")),
    ("NIFTYF26", "NFO", MonthFuture("NIFTY", 2026, 1, NSE, "NIFTYF26")),
    ("NFO:TATAMOTORSM26", None, MonthFuture("TATAMOTORS", 2026, 6, NSE, "NFO:TATAMOTORSM26")),
    # TradingView options
    ("NIFTY260106C24000", None, ExactContract("NIFTY", date(2026, 1, 6), ContractKind.CE, Decimal(24000), None, "NIFTY260106C24000")),
    ("NSE:BANKNIFTY260127P52000", None, ExactContract("BANKNIFTY", date(2026, 1, 27), ContractKind.PE, Decimal(52000), NSE, "NSE:BANKNIFTY260127P52000")),
    ("VEDL260127C292.5", "NSE", ExactContract("VEDL", date(2026, 1, 27), ContractKind.CE, Decimal("292.5"), NSE, "VEDL260127C292.5")),
    ("NIFTYNXT50260127C65000", None, ExactContract("NIFTYNXT50", date(2026, 1, 27), ContractKind.CE, Decimal(65000), None, "NIFTYNXT50260127C65000")),
    # OpenAlgo futures and options
    ("NIFTY27JAN26FUT", "NFO", ExactContract("NIFTY", date(2026, 1, 27), ContractKind.FUT, None, NSE, "NIFTY27JAN26FUT")),
    ("NIFTY06JAN2624000CE", "NFO", ExactContract("NIFTY", date(2026, 1, 6), ContractKind.CE, Decimal(24000), NSE, "NIFTY06JAN2624000CE")),
    ("VEDL24APR25292.5CE", "NFO", ExactContract("VEDL", date(2025, 4, 24), ContractKind.CE, Decimal("292.5"), NSE, "VEDL24APR25292.5CE")),
    ("SENSEX08JAN2680000PE", "BFO", ExactContract("SENSEX", date(2026, 1, 8), ContractKind.PE, Decimal(80000), BSE, "SENSEX08JAN2680000PE")),
    ("M&M27JAN26FUT", None, ExactContract("M&M", date(2026, 1, 27), ContractKind.FUT, None, None, "M&M27JAN26FUT")),
    ("BAJAJ-AUTO27JAN269000CE", None, ExactContract("BAJAJ-AUTO", date(2026, 1, 27), ContractKind.CE, Decimal(9000), None, "BAJAJ-AUTO27JAN269000CE")),
    ("360ONE27JAN26FUT", None, ExactContract("360ONE", date(2026, 1, 27), ContractKind.FUT, None, None, "360ONE27JAN26FUT")),
    ("NIFTYNXT5027JAN2665000PE", None, ExactContract("NIFTYNXT50", date(2026, 1, 27), ContractKind.PE, Decimal(65000), None, "NIFTYNXT5027JAN2665000PE")),
])  # fmt: skip
def test_every_derivative_form(symbol, exchange, reading):
    assert parse_symbol(symbol, exchange) == reading


@pytest.mark.parametrize("symbol, exchange, ticker, venue", [
    ("SBIN", None, "SBIN", None), ("NSE:SBIN", None, "SBIN", NSE), ("M&M", "NSE", "M&M", NSE),
    ("BAJAJ-AUTO", "BSE", "BAJAJ-AUTO", BSE), ("RELIANCE", "NSE_DL", "RELIANCE", NSE),
    # A root ending in a month letter and two digits stays a cash ticker outside NFO/BFO:
    # MOM50 = MO + M(June) + 50, SETFNIF50 = SETFNI + F(January) + 50, SGBJUN27 = SGBJU + N + 27.
    ("MOM50", "NSE", "MOM50", NSE), ("SETFNIF50", None, "SETFNIF50", None), ("SGBJUN27", "NSE", "SGBJUN27", NSE),
    ("NIFTYBEES", "NSE", "NIFTYBEES", NSE), ("3MINDIA", None, "3MINDIA", None), ("MON100", "NSE", "MON100", NSE),
    # A month letter followed by something other than a year is no future either.
    ("EBBETF0430", "NSE", "EBBETF0430", NSE), ("RELIANCE", "NSE", "RELIANCE", NSE),
])  # fmt: skip
def test_cash_tickers_are_not_mistaken_for_derivatives(symbol, exchange, ticker, venue):
    assert parse_symbol(symbol, exchange) == EquityTicker(ticker, venue)


def test_the_same_two_digit_year_shape_is_a_future_on_nfo_and_a_ticker_on_nse():
    assert parse_symbol("MOM50", "NFO") == MonthFuture("MO", 2050, 6, NSE, "MOM50")
    assert parse_symbol("MOM50", "NSE") == EquityTicker("MOM50", NSE)
    assert parse_symbol("NFO:NIFTYF26") == MonthFuture("NIFTY", 2026, 1, NSE, "NFO:NIFTYF26")


def test_four_digit_years_read_as_futures_on_any_exchange():
    # The documented precedence: rule 4 comes before the cash reading.
    assert parse_symbol("NSE:TATAMOTORSM2026") == MonthFuture("TATAMOTORS", 2026, 6, NSE, "NSE:TATAMOTORSM2026")
    assert parse_symbol("ABCM2026", "BSE") == MonthFuture("ABC", 2026, 6, BSE, "ABCM2026")


@pytest.mark.parametrize("symbol", ["NIFTY", "BANKNIFTY", "SENSEX", "NSE:FINNIFTY", "BSE:BANKEX", "MIDCPNIFTY"])
def test_an_index_alone_is_refused_naming_the_forms(symbol):
    problem = refusal(parse_symbol, symbol)
    assert problem.field == "symbol"
    assert "is an index" in problem.message
    assert all(form in problem.message for form in ("NIFTY1!", "NIFTY27JAN26FUT", "NIFTY06JAN2624000CE", "relative option"))


@pytest.mark.parametrize("symbol, exchange", [("SBIN", "NFO"), ("RELIANCE", "BFO"), ("NFO:SBIN", None)])
def test_a_cash_ticker_on_a_derivatives_exchange_is_refused(symbol, exchange):
    problem = refusal(parse_symbol, symbol, exchange)
    assert problem.field == "symbol" and "not a futures or options symbol" in problem.message
    assert "NIFTY1!" in problem.message


def test_parse_contract_symbol_refuses_cash_tickers_and_passes_contracts():
    assert parse_contract_symbol("NIFTY1!") == ContinuousFuture("NIFTY", 1, None, "NIFTY1!")
    problem = refusal(parse_contract_symbol, "SBIN", "NSE")
    assert problem.field == "symbol" and "NIFTY06JAN2624000CE" in problem.message


@pytest.mark.parametrize("symbol, written", [
    ("NIFTY260230C24000", "260230"), ("NIFTY261306P24000", "261306"), ("NIFTY31FEB26FUT", "31FEB26"),
    ("NIFTY30FEB2624000CE", "30FEB26"),
])  # fmt: skip
def test_impossible_dates_are_refused_not_read_as_tickers(symbol, written):
    problem = refusal(parse_symbol, symbol)
    assert problem.field == "symbol" and f"{written}" in problem.message and "not a real date" in problem.message


@pytest.mark.parametrize("symbol, exchange, field, words", [
    ("NSE:NIFTY1!", "BSE", "exchange", ("contradicts", "NSE")),
    ("MCX:CRUDEOIL1!", None, "symbol", ("NSE", "BFO")),
    ("NIFTY1!", "NSE_INDEX", "symbol", ("relative option", "NFO")),
    ("NIFTY 1!", None, "symbol", ("SBIN", "NIFTY1!")),
    ("NIFTY260106C0", None, "symbol", ("above zero",)),
    ("1A" * 3000 + "CE", None, "symbol", ("longer than 50", "NIFTY1!")),
])  # fmt: skip
def test_other_refusals_name_the_field_and_the_way_out(symbol, exchange, field, words):
    problem = refusal(parse_symbol, symbol, exchange)
    assert problem.field == field
    assert all(word in problem.message for word in words), problem.message


def test_prefix_and_exchange_field_agree_when_they_name_one_exchange():
    assert parse_symbol("NSE:NIFTY1!", "NFO") == ContinuousFuture("NIFTY", 1, NSE, "NSE:NIFTY1!")
    assert parse_symbol("BSE_DL:SENSEX1!", "BFO") == ContinuousFuture("SENSEX", 1, BSE, "BSE_DL:SENSEX1!")


# --- relative options -----------------------------------------------------------------------

@pytest.mark.parametrize("fields, reading", [
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "OTM2", "expiry": "weekly"},
     RelativeOption("NIFTY", OptionType.CE, Offset("OTM", 2), ExpiryRule.WEEKLY, None)),
    ({"underlying": "banknifty", "option_type": "pe", "offset": "itm20", "expiry": "monthly", "exchange": "NSE_INDEX"},
     RelativeOption("BANKNIFTY", OptionType.PE, Offset("ITM", 20), ExpiryRule.MONTHLY, NSE)),
    ({"underlying": "SENSEX", "option_type": "CE", "offset": "ATM", "expiry": "next_weekly", "exchange": "BSE_INDEX"},
     RelativeOption("SENSEX", OptionType.CE, Offset("ATM", 0), ExpiryRule.NEXT_WEEKLY, BSE)),
    ({"underlying": "NIFTY", "option_type": "PE", "offset": "OTM1", "expiry_date": "25AUG26", "exchange": "NFO"},
     RelativeOption("NIFTY", OptionType.PE, Offset("OTM", 1), date(2026, 8, 25), NSE)),
    ({"underlying": "BSE:SENSEX", "option_type": "PE", "offset": "ATM", "expiry": "2026-01-08"},
     RelativeOption("SENSEX", OptionType.PE, Offset("ATM", 0), date(2026, 1, 8), BSE)),
])  # fmt: skip
def test_relative_options(fields, reading):
    assert parse_relative_option(fields) == reading


@pytest.mark.parametrize("fields, field, words", [
    ({"option_type": "CE", "offset": "ATM", "expiry": "weekly"}, "underlying", ("required",)),
    ({"underlying": "NIFTY", "option_type": "XE", "offset": "ATM", "expiry": "weekly"}, "option_type", ("CE or PE",)),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "OTM21", "expiry": "weekly"}, "offset", ("ATM", "ITM1..ITM20", "OTM1..OTM20")),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "ITM0", "expiry": "weekly"}, "offset", ("ITM1..ITM20",)),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "NEAR", "expiry": "weekly"}, "offset", ("ATM",)),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "ATM", "expiry": "soon"}, "expiry", ("weekly", "next_weekly", "monthly", "YYYY-MM-DD", "DDMMMYY")),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "ATM", "expiry": "2026-02-30"}, "expiry", ("not a real date",)),
    ({"underlying": "NIFTY28OCT25FUT", "option_type": "CE", "offset": "ATM", "expiry": "weekly"}, "underlying", ("NIFTY", "not a futures contract")),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "ATM", "expiry": "weekly", "strike": 1}, "strike", ("underlying, option_type, offset, expiry",)),
    ({"underlying": "NIFTY", "option_type": "CE", "offset": "ATM", "expiry": "weekly", "exchange": "MCX"}, "exchange", ("NSE_INDEX",)),
    ({"underlying": "NSE:NIFTY", "option_type": "CE", "offset": "ATM", "expiry": "weekly", "exchange": "BSE_INDEX"}, "exchange", ("contradicts",)),
])  # fmt: skip
def test_relative_option_refusals_name_the_field_and_valid_values(fields, field, words):
    problem = refusal(parse_relative_option, fields)
    assert problem.field == field
    assert all(word in problem.message for word in words), problem.message


def test_every_bad_relative_field_is_named_at_once():
    with pytest.raises(AlertRejected) as caught:
        parse_relative_option({"underlying": "NIFTY", "option_type": "CX", "offset": "OTM99", "expiry": "later"})
    assert sorted(problem.field for problem in caught.value.detail) == ["expiry", "offset", "option_type"]


@pytest.mark.parametrize("offset, call_steps, put_steps", [
    (Offset("ATM", 0), 0, 0), (Offset("ITM", 3), -3, 3), (Offset("OTM", 2), 2, -2),
])  # fmt: skip
def test_offsets_move_calls_and_puts_in_opposite_directions(offset, call_steps, put_steps):
    assert offset.steps_up(OptionType.CE) == call_steps
    assert offset.steps_up(OptionType.PE) == put_steps
