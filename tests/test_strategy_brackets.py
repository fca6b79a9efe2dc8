"""Bracket legs: stop_loss and target (prices or percents of the entry) as smart-order leg
fields, on the tick by the documented rules, on their side of the entry, and the entries that
cannot carry them (BSE, IOC, after-market, a trailing stop)."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest

from chalicelib.alerts import Side
from chalicelib.errors import AlertRejected
from chalicelib.fno.symbols import Exchange
from chalicelib.strategy import LEG_FIELDS, Bracket, bracket_legs

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
NSE, BSE = Exchange.NSE, Exchange.BSE


def legs(side, entry, tick, stop=None, target=None, pct="0.5"):
    return dict(bracket_legs(side, D(entry), D(tick), exchange=NSE, stop_loss=stop, target=target,
                             protection_pct=D(pct)).legs)


@pytest.mark.parametrize("side, entry, tick, stop, target, pct, expected", [
    # BUY: stop trigger rounds down (fires no earlier), its limit 0.5 % lower, rounded down;
    # target limit rounds up (sells no lower), its trigger one tick before it
    (BUY, "500", "0.05", "485.03", "530.02", "0.5",
     {"sl_trigger_price": 485.0, "sl_limit_price": 482.55, "tgt_trigger_price": 530.0, "tgt_limit_price": 530.05}),
    # SELL: mirrored
    (SELL, "500", "0.05", "515.02", "470.03", "0.5",
     {"sl_trigger_price": 515.05, "sl_limit_price": 517.65, "tgt_trigger_price": 470.05, "tgt_limit_price": 470.0}),
    # percents of the entry
    (BUY, "200", "0.05", "1.5%", "3%", "0.5",
     {"sl_trigger_price": 197.0, "sl_limit_price": 196.0, "tgt_trigger_price": 205.95, "tgt_limit_price": 206.0}),
    (SELL, "200", "0.05", "1.5%", "3%", "0.5",
     {"sl_trigger_price": 203.0, "sl_limit_price": 204.05, "tgt_trigger_price": 194.05, "tgt_limit_price": 194.0}),
    # an option at ₹24.50: 20 % stop, a 100 % target
    (BUY, "24.5", "0.05", "20%", "100%", "0.5",
     {"sl_trigger_price": 19.6, "sl_limit_price": 19.5, "tgt_trigger_price": 48.95, "tgt_limit_price": 49.0}),
    # no buffer: the stop's limit is still one tick beyond its trigger
    (BUY, "100", "0.05", "95", None, "0", {"sl_trigger_price": 95.0, "sl_limit_price": 94.95}),
    (SELL, "100", "0.05", "105", None, "0", {"sl_trigger_price": 105.0, "sl_limit_price": 105.05}),
    # a small buffer that rounds to less than a tick: one tick
    (BUY, "10", "0.05", "9", None, "0.1", {"sl_trigger_price": 9.0, "sl_limit_price": 8.95}),
    # a tick of 0.10, target only
    (BUY, "5000", "0.10", None, "5100.05", "0.5", {"tgt_trigger_price": 5100.0, "tgt_limit_price": 5100.1}),
    # a 10 % buffer
    (SELL, "1000", "0.05", "1010", None, "10", {"sl_trigger_price": 1010.0, "sl_limit_price": 1111.0}),
])  # fmt: skip
def test_the_leg_fields(side, entry, tick, stop, target, pct, expected):
    assert legs(side, entry, tick, stop, target, pct) == expected


def test_the_rounding_is_shown_asked_sent_and_tick_with_the_percent_when_one_was_given():
    bracket = bracket_legs(BUY, D("200"), D("0.05"), exchange=NSE, stop_loss="1.53%", target=D("206.02"))
    assert {name: dict(shown) for name, shown in bracket.rounding.items()} == {
        "stop_loss": {"level": "1.53%", "asked": "196.94", "sent": "196.90", "tick": "0.05"},
        "target": {"asked": "206.02", "sent": "206.05", "tick": "0.05"},
    }
    assert (bracket.stop_price, bracket.target_price) == (D("196.90"), D("206.05"))


def test_no_levels_is_no_bracket():
    bracket = bracket_legs(BUY, D("500"), D("0.05"), exchange=BSE)  # nothing asked: BSE is fine
    assert bracket == Bracket() and not bracket and dict(bracket.legs) == {} and bracket.stop_price is None


ENTRIES = ("0.95", "24.5", "101", "812.35", "4999.9")
LEVELS = ("0.7%", "1.5%", "3%", "12.5%", "40%")


@pytest.mark.parametrize("side, entry, tick", list(product((BUY, SELL), ENTRIES, ("0.05", "0.10"))))
def test_every_leg_is_on_the_tick_on_its_side_and_never_worse_than_asked(side, entry, tick):
    entry, tick = D(entry), D(tick)
    placed = 0
    for stop, target in product(LEVELS, LEVELS):
        try:
            bracket = bracket_legs(side, entry, tick, exchange=NSE, stop_loss=stop, target=target)
        except AlertRejected as refused:  # only a target within two ticks of the entry may be refused
            assert [problem.field for problem in refused.detail] == ["target"], (stop, target, refused.detail)
            assert "too close to the entry" in refused.detail[0].message
            continue
        placed += 1
        got = {name: D(str(value)) for name, value in bracket.legs.items()}
        assert set(got) == set(LEG_FIELDS) and all(value % tick == 0 and value > 0 for value in got.values())
        asked_stop = entry * (1 - D(stop[:-1]) / 100) if side is BUY else entry * (1 + D(stop[:-1]) / 100)
        asked_target = entry * (1 + D(target[:-1]) / 100) if side is BUY else entry * (1 - D(target[:-1]) / 100)
        if side is BUY:  # §5: SL limit < SL trigger < entry < target trigger < target limit
            assert got["sl_limit_price"] < got["sl_trigger_price"] < entry < got["tgt_trigger_price"] < got["tgt_limit_price"]
            assert got["sl_trigger_price"] <= asked_stop and got["tgt_limit_price"] >= asked_target
        else:
            assert got["sl_limit_price"] > got["sl_trigger_price"] > entry > got["tgt_trigger_price"] > got["tgt_limit_price"]
            assert got["sl_trigger_price"] >= asked_stop and got["tgt_limit_price"] <= asked_target
        assert got["sl_trigger_price"] - asked_stop < tick if side is SELL else asked_stop - got["sl_trigger_price"] < tick
    assert placed >= 10  # most pairs place: the grid tests legs, not refusals


# --- refusals, naming the field --------------------------------------------------------------------

@pytest.mark.parametrize("side, entry, stop, target, field, says", [
    (BUY, "500", "505", None, "stop_loss", "505 is not below the entry price 500: a BUY's stop_loss must be below it"),
    (BUY, "500", "500", None, "stop_loss", "is not below the entry price"),
    (BUY, "500", None, "495", "target", "495 is not above the entry price 500: a BUY's target must be above it"),
    (SELL, "500", "495", None, "stop_loss", "495 is not above the entry price 500: a SELL's stop_loss must be above it"),
    (SELL, "500", None, "505", "target", "505 is not below the entry price 500: a SELL's target must be below it"),
    (BUY, "100", None, "100.03", "target", "100.03 is too close to the entry price 100: its leg triggers one tick before "
                                           "the target, at 100.00, which must be above the entry; set the target at least two ticks (0.10) above it"),
    (SELL, "100", None, "99.97", "target", "at 100.00, which must be below the entry"),
    (BUY, "100", "100%", None, "stop_loss", "100% below the entry price 100 is at or below zero"),
    (SELL, "100", None, "150%", "target", "150% below the entry price 100 is at or below zero"),
    (BUY, "0.20", "0.05", None, "stop_loss", "a stop at 0.05 leaves no price below it for the stop's limit"),
    (BUY, "1", "0.02", None, "stop_loss", "0.02 rounds to 0 at the tick of 0.05"),
    (BUY, "500", "abc", None, "stop_loss", "must be a price"),
    (BUY, "500", None, "-3%", "target", "above zero"),
])  # fmt: skip
def test_a_level_off_its_side_or_unplaceable_is_refused(side, entry, stop, target, field, says):
    with pytest.raises(AlertRejected) as caught:
        bracket_legs(side, D(entry), D("0.05"), exchange=NSE, stop_loss=stop, target=target)
    [problem] = caught.value.detail
    assert caught.value.status_code == 400 and problem.field == field and says in problem.message, problem


@pytest.mark.parametrize("extra, fields, says", [
    ({"exchange": BSE, "stop_loss": "1%", "target": "2%"}, ["stop_loss", "target"], "NSE-only; BSE orders take no stop_loss or target"),
    ({"exchange": BSE, "target": "2%"}, ["target"], "NSE-only"),
    ({"exchange": NSE, "stop_loss": "1%", "validity": "IOC"}, ["validity"], "an entry with stop_loss is a smart order, which is DAY-only"),
    ({"exchange": NSE, "stop_loss": "1%", "target": "2%", "amo": True}, ["amo"], "an entry with stop_loss and target is a smart order, which has no after-market flag"),
    ({"exchange": NSE, "stop_loss": "1%", "trailing_stop": "0.5%"}, ["trailing_stop"], "INDstocks does not run trailing stops"),
    ({"exchange": NSE, "trailing_stop": 2}, ["trailing_stop"], "is_tsl is not live"),
    ({"exchange": BSE, "trailing_stop": "1%"}, ["trailing_stop"], "INDstocks does not run trailing stops"),
])  # fmt: skip
def test_entries_that_cannot_carry_a_bracket_are_refused(extra, fields, says):
    with pytest.raises(AlertRejected) as caught:
        bracket_legs(BUY, D("500"), D("0.05"), **extra)
    assert [problem.field for problem in caught.value.detail] == fields
    assert all(says in problem.message for problem in caught.value.detail)


def test_ioc_and_amo_need_no_bracket_check_without_levels():
    assert not bracket_legs(BUY, D("500"), D("0.05"), exchange=NSE, validity="IOC", amo=True)


def test_a_bracket_fits_only_an_order_that_closes_nothing():
    from chalicelib.strategy.brackets import check_opens_only
    from chalicelib.strategy.targets import order_for_target

    for target, net in ((10, 0), (15, 10), (-5, 0), (-8, -3)):  # opens, or adds
        check_opens_only(order_for_target(target, net).closing, ["stop_loss", "target"])
    for target, net in ((5, 15), (-5, 10), (0, 4)):  # reduces, reverses, closes
        with pytest.raises(AlertRejected) as caught:
            check_opens_only(order_for_target(target, net).closing, ["stop_loss"])
        assert [p.field for p in caught.value.detail] == ["stop_loss"]
    check_opens_only(10, [])  # no bracket: nothing to refuse
