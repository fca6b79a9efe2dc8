"""Lots, freeze splitting and tick rounding of derivative orders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.errors import AlertRejected
from chalicelib.fno import (
    DEFAULT_FREEZE_UNITS,
    RoundedPrice,
    freeze_limits,
    marketable_limit,
    order_units,
    parse_freeze_overrides,
    plausible_fno_tick,
    round_limit,
    round_trigger,
    split_for_freeze,
)

D = Decimal


def refusal(call, *args, **kwargs):
    with pytest.raises(AlertRejected) as caught:
        call(*args, **kwargs)
    [problem] = caught.value.detail
    return problem


# --- lots -----------------------------------------------------------------------------------

@pytest.mark.parametrize("lot, quantity, lots, units", [
    (65, 65, None, 65), (65, 130, None, 130), (65, None, 1, 65), (65, None, 3, 195), (20, None, 50, 1000),
])  # fmt: skip
def test_units_from_quantity_or_lots(lot, quantity, lots, units):
    assert order_units(lot, quantity=quantity, lots=lots) == units


@pytest.mark.parametrize("quantity, nearest", [(100, "65 or 130"), (1, "65"), (64, "65"), (131, "130 or 195")])
def test_a_quantity_off_the_lot_is_refused_naming_the_lot_size(quantity, nearest):
    problem = refusal(order_units, 65, quantity=quantity, instrument="NIFTY")
    assert problem.field == "quantity"
    assert "lot size of NIFTY, 65 units" in problem.message and f"nearest: {nearest}" in problem.message


def test_quantity_and_lots_together_or_neither_are_refused():
    assert refusal(order_units, 65, quantity=65, lots=1).field == "quantity"
    assert "either quantity" in refusal(order_units, 65).message
    assert refusal(order_units, 65, lots=0).field == "lots"


# --- freeze limits --------------------------------------------------------------------------

def test_the_shipped_freeze_table():
    limits = freeze_limits()
    assert {name: limits.for_underlying(name) for name in DEFAULT_FREEZE_UNITS} == {
        "NIFTY": 1800, "BANKNIFTY": 600, "FINNIFTY": 1800, "MIDCPNIFTY": 2800, "NIFTYNXT50": 600,
        "SENSEX": 1000, "BANKEX": 900,
    }
    assert limits.for_underlying("RELIANCE") is None  # stock derivatives: no limit unless configured


def test_a_stage_overrides_adds_and_lifts_limits():
    limits = freeze_limits(" NIFTY=1755, reliance=5000 ; BANKEX=off")
    assert limits.for_underlying("NIFTY") == 1755
    assert limits.for_underlying("RELIANCE") == 5000
    assert limits.for_underlying("BANKEX") is None
    assert limits.for_underlying("SENSEX") == 1000  # untouched
    assert freeze_limits("").for_underlying("NIFTY") == 1800


@pytest.mark.parametrize("text", ["NIFTY", "NIFTY=", "NIFTY=lots", "=1800", "NIFTY=-5", "NIFTY=1.5", "NIF TY=5"])
def test_bad_overrides_name_the_pair(text):
    with pytest.raises(ValueError) as caught:
        parse_freeze_overrides(text)
    assert "UNDERLYING=UNITS" in str(caught.value) or "whole number of units" in str(caught.value)


@pytest.mark.parametrize("units, lot, freeze, children", [
    (1755, 65, 1800, (1755,)),                      # below the limit: the order itself
    (1820, 65, 1800, (910, 910)),                   # 28 lots above 1800: two children of 14 lots
    (600, 30, 600, (300, 300)),                     # exactly at the limit is not below it: split
    (570, 30, 600, (570,)),                         # the largest child allowed
    (1200, 30, 600, (420, 390, 390)),               # 40 lots, 19 at most each: 3 children, even
    (1000, 20, 1000, (500, 500)),                   # SENSEX at its limit
    (2000, 20, 1000, (680, 660, 660)),              # 100 lots, 49 at most: 34+33+33
    (3510, 65, 1800, (1755, 1755)),                 # an exact multiple of the largest child: 27 + 27 lots
    (500, 20, None, (500,)),                        # no limit configured
])  # fmt: skip
def test_freeze_splitting(units, lot, freeze, children):
    split = split_for_freeze(units, lot, freeze)
    assert split == children
    assert sum(split) == units
    assert all(child % lot == 0 and (freeze is None or child < freeze) for child in split)


def test_twenty_children_at_most():
    # BANKNIFTY: 19 lots (570 units) per child, 20 children: 11 400 units is the most.
    assert split_for_freeze(11400, 30, 600) == (570,) * 20
    problem = refusal(split_for_freeze, 11430, 30, 600)
    assert problem.field == "quantity"
    assert "21 orders" in problem.message and "at most 20" in problem.message and "11400 units" in problem.message


def test_a_lot_at_or_above_the_freeze_limit_is_refused():
    assert "freeze table" in refusal(split_for_freeze, 1800, 1800, 1800).message


# --- ticks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("tick, price, plausible", [
    ("0.05", "150", True), ("0.05", "24000", True), ("0.10", "2500", True), ("0.05", None, True),
    ("1", "3.5", False),      # a rupee tick on an option priced in single rupees
    ("5", "24000", False),    # the paise reading of 0.05: refused even on a NIFTY future
    ("5", "150", False), ("0.001", "10", False), ("1", None, False),
])  # fmt: skip
def test_tick_size_is_read_as_rupees_and_a_paise_reading_is_implausible(tick, price, plausible):
    assert plausible_fno_tick(D(tick), D(price) if price else None) is plausible


@pytest.mark.parametrize("price, side, rounded", [
    ("150.03", "BUY", "150.00"), ("150.03", "SELL", "150.05"), ("150.05", "BUY", "150.05"),
    ("150.05", "SELL", "150.05"), ("0.07", "BUY", "0.05"), ("24000.01", "sell", "24000.05"),
])  # fmt: skip
def test_limit_prices_round_in_the_traders_favour(price, side, rounded):
    result = round_limit(D(price), D("0.05"), side)
    assert result == RoundedPrice(D(price), D(rounded), D("0.05"))
    assert result.changed is (D(price) != D(rounded))


@pytest.mark.parametrize("price, side, rounded", [
    ("150.03", "BUY", "150.05"), ("150.03", "SELL", "150.00"), ("150.10", "BUY", "150.10"),
])  # fmt: skip
def test_stop_triggers_round_away_from_triggering_early(price, side, rounded):
    assert round_trigger(D(price), D("0.05"), side).rounded == D(rounded)


def test_a_price_that_rounds_to_zero_is_refused():
    problem = refusal(round_limit, D("0.03"), D("0.05"), "BUY")
    assert problem.field == "price" and "lowest price is 0.05" in problem.message
    assert round_limit(D("0.03"), D("0.05"), "SELL").rounded == D("0.05")
    assert refusal(round_trigger, D("0.01"), D("0.05"), "SELL").field == "trigger_price"


@pytest.mark.parametrize("ltp, pct, side, original, rounded", [
    ("100", "1", "BUY", "101", "101.00"),
    ("100.02", "1", "BUY", "101.0202", "101.05"),     # up: at least LTP + 1 %
    ("100.02", "1", "SELL", "99.0198", "99.00"),      # down: at most LTP − 1 %
    ("0.05", "5", "SELL", "0.0475", "0.05"),          # never below one tick
    ("24000", "0.5", "BUY", "24120.0", "24120.00"),
])  # fmt: skip
def test_marketable_limits_cross_by_at_least_the_percentage(ltp, pct, side, original, rounded):
    result = marketable_limit(D(ltp), D(pct), side, D("0.05"))
    assert result.original == D(original) and result.rounded == D(rounded)
    if side == "BUY":
        assert result.rounded >= result.original
    else:
        assert result.rounded <= result.original or result.rounded == D("0.05")


@pytest.mark.parametrize("ltp, pct", [("0", "1"), ("100", "-1"), ("100", "60"), ("NaN", "1")])
def test_marketable_limit_refuses_nonsense_inputs(ltp, pct):
    with pytest.raises(ValueError):
        marketable_limit(D(ltp), D(pct), "BUY", D("0.05"))


def test_side_must_be_buy_or_sell():
    with pytest.raises(ValueError):
        round_limit(D("1"), D("0.05"), "HOLD")
