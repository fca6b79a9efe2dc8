"""Sizing modes: units rounded down to whole shares or lots, the arithmetic said for the ledger, a
size of zero refused (422) with that arithmetic, and levels written as prices or percents."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.alerts import Side
from chalicelib.errors import AlertRejected, SizeTooSmall
from chalicelib.strategy import Level, QuantityType, parse_level, size_order

D = Decimal
BUY, SELL = Side.BUY, Side.SELL


def refused(kind, *args, **kwargs):
    with pytest.raises(kind) as caught:
        size_order(*args, **kwargs)
    assert type(caught.value) is kind
    [problem] = caught.value.detail
    return caught.value, problem


# mode, amount, side, price, lot, extra → units, description (start)
@pytest.mark.parametrize("mode, amount, side, price, lot, extra, units, said", [
    ("fixed", 50, BUY, None, 1, {}, 50, "50 shares as given"),
    ("fixed", "130", SELL, None, 65, {}, 130, "130 units (2 lots of 65 units) as given"),
    ("capital", 50_000, BUY, D("812.35"), 1, {}, 61, "₹50,000 buys 61 shares at ₹812.35: ₹50,000 ÷ ₹812.35 = 61.55, rounded down"),
    ("capital", "10000", SELL, D("100"), 1, {}, 100, "₹10,000 sells 100 shares at ₹100"),  # exact: no rounding needed
    ("capital", 5_000, BUY, D("24.5"), 65, {}, 195, "₹5,000 buys 3 lots of 65 units at ₹24.50: ₹5,000 ÷ ₹1,592.50 = 3.14"),
    ("risk", 2_000, BUY, D("500"), 1, {"stop_loss": D("485")}, 133,
     "₹2,000 at risk over a ₹15 stop distance is 133 shares (entry ₹500, stop ₹485): ₹2,000 ÷ (₹15 × 1) = 133.33, rounded down"),
    ("risk", 2_000, SELL, D("500"), 1, {"stop_loss": D("515")}, 133, "₹2,000 at risk over a ₹15 stop distance"),
    ("risk", 2_000, BUY, D("500"), 1, {"stop_loss": "2%"}, 200, "₹2,000 at risk over a ₹10 stop distance is 200 shares (entry ₹500, stop ₹490)"),
    ("risk", 2_000, SELL, D("500"), 1, {"stop_loss": "2%"}, 200, "(entry ₹500, stop ₹510)"),
    ("risk", 10_000, BUY, D("120"), 65, {"stop_loss": D("100")}, 455, "₹10,000 at risk over a ₹20 stop distance is 7 lots of 65 units"),
    ("percent_of_funds", 10, BUY, D("812.35"), 1, {"funds": D("100000")}, 12,
     "10% of ₹100,000 tradable cash is ₹10,000, which buys 12 shares at ₹812.35"),
    ("percent_of_funds", "2.5", SELL, D("24.5"), 65, {"funds": D("200000")}, 195, "2.5% of ₹200,000 tradable cash is ₹5,000, which sells 3 lots"),
    ("percent_of_funds", 100, BUY, D("99.95"), 1, {"funds": D("1000")}, 10, "100% of ₹1,000"),
])  # fmt: skip
def test_each_mode_rounds_down_to_whole_shares_or_lots(mode, amount, side, price, lot, extra, units, said):
    sizing = size_order(mode, amount, side=side, price=price, lot_units=lot, **extra)
    assert sizing.units == units and sizing.units % lot == 0 and sizing.mode is QuantityType(mode)
    assert said in sizing.description, sizing.description
    assert sizing.inputs["quantity_type"] == mode and "lot_units" in sizing.inputs


def test_the_ledger_inputs_name_every_number_and_the_formula():
    sizing = size_order("risk", 2000, side=BUY, price=D("500"), stop_loss=D("485"))
    assert dict(sizing.inputs) == {"quantity_type": "risk", "quantity": "2000", "price": "500", "lot_units": "1",
                                   "stop_loss": "485", "stop_distance": "15",
                                   "formula": "₹2,000 ÷ (₹15 × 1) = 133.33, rounded down"}
    assert size_order("percent_of_funds", 5, side=BUY, price=D("10"), funds=D("1000")).inputs["funds"] == "1000"


def test_the_price_source_is_named():
    sizing = size_order("capital", 1000, side=BUY, price=D("99"), price_is="last price")
    assert sizing.description.startswith("₹1,000 buys 10 shares at ₹99 (last price)")


# --- zero is a refusal, 422, with the arithmetic ------------------------------------------------

@pytest.mark.parametrize("mode, amount, side, price, lot, extra, says", [
    ("capital", 500, BUY, D("24.5"), 65, {}, "₹500 buys 0 lots of 65 units at ₹24.50"),
    ("capital", 50, BUY, D("812.35"), 1, {}, "₹50 buys 0 shares at ₹812.35"),
    ("risk", 10, BUY, D("500"), 1, {"stop_loss": D("485")}, "₹10 at risk over a ₹15 stop distance is 0 shares"),
    ("risk", 1_000, SELL, D("120"), 65, {"stop_loss": D("140")}, "₹1,000 at risk over a ₹20 stop distance is 0 lots of 65 units"),
    ("percent_of_funds", 1, BUY, D("812.35"), 1, {"funds": D("50000")}, "1% of ₹50,000 tradable cash is ₹500, which buys 0 shares"),
    ("percent_of_funds", 50, BUY, D("10"), 1, {"funds": D("-300")}, "50% of ₹0 tradable cash is ₹0"),  # owes money: nothing to spend
])  # fmt: skip
def test_a_size_of_zero_is_refused_with_the_arithmetic(mode, amount, side, price, lot, extra, says):
    error, problem = refused(SizeTooSmall, mode, amount, side=side, price=price, lot_units=lot, **extra)
    assert error.status_code == 422 and error.body()["error"] == "size_too_small"
    assert problem.field == "quantity" and problem.message.startswith(says)
    assert error.public_message.startswith(says) and error.public_message.endswith("; nothing was sent")
    assert "rounded down" in problem.message


# --- inputs that cannot size an order: 400 naming the field ------------------------------------

@pytest.mark.parametrize("mode, amount, side, extra, field, says", [
    ("risk", 2000, BUY, {}, "stop_loss", "is required with quantity_type risk"),
    ("risk", 2000, BUY, {"stop_loss": D("505")}, "stop_loss", "₹505 is not below the entry price ₹500: a BUY's stop must be below it"),
    ("risk", 2000, BUY, {"stop_loss": D("500")}, "stop_loss", "is not below the entry price"),
    ("risk", 2000, SELL, {"stop_loss": D("495")}, "stop_loss", "₹495 is not above the entry price ₹500: a SELL's stop must be above it"),
    ("risk", 2000, BUY, {"stop_loss": "100%"}, "stop_loss", "100% below the entry price ₹500 is at or below zero"),
    ("risk", 2000, BUY, {"stop_loss": "abc"}, "stop_loss", "must be a price"),
    ("risk", 0, BUY, {"stop_loss": D("485")}, "quantity", "rupees at risk"),
    ("capital", -5, BUY, {}, "quantity", "rupees to spend"),
    ("capital", "lots", BUY, {}, "quantity", "must be a number"),
    ("capital", True, BUY, {}, "quantity", "must be a number"),
    ("percent_of_funds", 0, BUY, {"funds": D("1000")}, "quantity", "above 0 and at most 100"),
    ("percent_of_funds", 101, BUY, {"funds": D("1000")}, "quantity", "above 0 and at most 100"),
    ("fixed", "5.5", BUY, {}, "quantity", "whole number of units"),
    ("fixed", 0, BUY, {}, "quantity", "whole number of units"),
    ("capital", 10**12, BUY, {}, "quantity", "more than the 1000000 units one alert can send"),
])  # fmt: skip
def test_impossible_inputs_are_refused_naming_the_field(mode, amount, side, extra, field, says):
    error, problem = refused(AlertRejected, mode, amount, side=side, price=D("500"), **extra)
    assert error.status_code == 400 and problem.field == field and says in problem.message


def test_fixed_futures_stay_on_the_lot():
    error, problem = refused(AlertRejected, "fixed", 100, side=BUY, lot_units=65, instrument="NIFTY26JUL26FUT")
    assert "lot size of NIFTY26JUL26FUT, 65 units" in problem.message


@pytest.mark.parametrize("word", ["Capital", " RISK ", "percent_of_funds", QuantityType.FIXED])
def test_the_mode_is_read_in_any_case(word):
    assert QuantityType.parse(word) in QuantityType


@pytest.mark.parametrize("word", ["percent", "", None, 3])
def test_an_unknown_mode_is_refused_listing_the_modes(word):
    with pytest.raises(AlertRejected) as caught:
        QuantityType.parse(word)
    [problem] = caught.value.detail
    assert problem.field == "quantity_type" and problem.message == "must be one of fixed, capital, risk, percent_of_funds"


def test_missing_context_is_a_programming_error():
    with pytest.raises(ValueError):
        size_order("capital", 1000, side=BUY)  # no price
    with pytest.raises(ValueError):
        size_order("percent_of_funds", 5, side=BUY, price=D("10"))  # no funds read
    with pytest.raises(ValueError):
        size_order("fixed", 5, side=BUY, lot_units=0)


# --- levels -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, level, text", [
    (D("101.5"), Level(D("101.5")), "101.5"),
    ("101.5", Level(D("101.5")), "101.5"),
    (101, Level(D(101)), "101"),
    (99.95, Level(D("99.95")), "99.95"),
    ("1.5%", Level(D("1.5"), percent=True), "1.5%"),
    (" 2 % ", Level(D("2"), percent=True), "2%"),
    ("250%", Level(D("250"), percent=True), "250%"),  # an option's target may be a multiple of the premium
])  # fmt: skip
def test_a_level_is_a_price_or_a_percent(value, level, text):
    assert parse_level(value, "target") == level and str(level) == text


@pytest.mark.parametrize("value, says", [
    ("0", "above zero"), ("-1%", "above zero"), ("0%", "above zero"), ("1001%", "at most 1000%"),
    ("20000000", "at most 10000000"), ("NaN", "above zero"), ("{{plot_0}}", "placeholder"), (True, "must be a price"),
    ([1], "must be a price"), ("1.5 %%", "must be a price"), ("%", "must be a price"),
])  # fmt: skip
def test_a_bad_level_is_refused_naming_its_field(value, says):
    with pytest.raises(AlertRejected) as caught:
        parse_level(value, "target")
    [problem] = caught.value.detail
    assert problem.field == "target" and says in problem.message


@pytest.mark.parametrize("level, below, price", [
    (Level(D("1.5"), percent=True), True, D("985")), (Level(D("1.5"), percent=True), False, D("1015")),
    (Level(D("990")), True, D("990")), (Level(D("990")), False, D("990")),  # a price is a price
])  # fmt: skip
def test_a_percent_is_a_distance_from_the_entry(level, below, price):
    assert level.price(D("1000"), below=below) == price
