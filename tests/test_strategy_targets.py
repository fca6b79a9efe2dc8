"""Position targets: every sign of target, net position and in-flight orders, the order each
needs, and futures and options kept to whole lots."""

from __future__ import annotations

import pytest

from chalicelib.alerts import Side
from chalicelib.errors import AlertRejected
from chalicelib.strategy import TargetOrder, exit_order, order_for_target

BUY, SELL = Side.BUY, Side.SELL


# target, net, in flight → side, quantity, closing, opening
@pytest.mark.parametrize("target, net, in_flight, side, qty, closing, opening", [
    # flat now
    (50, 0, 0, BUY, 50, 0, 50),             # open long
    (-50, 0, 0, SELL, 50, 0, 50),           # open short
    (0, 0, 0, None, 0, 0, 0),               # flat to flat: nothing
    # long now
    (80, 50, 0, BUY, 30, 0, 30),            # add
    (20, 50, 0, SELL, 30, 30, 0),           # reduce
    (50, 50, 0, None, 0, 0, 0),             # already there
    (0, 50, 0, SELL, 50, 50, 0),            # exit
    (-10, 10, 0, SELL, 20, 10, 10),         # reverse: one SELL 20
    # short now
    (-80, -50, 0, SELL, 30, 0, 30),         # add to the short
    (-20, -50, 0, BUY, 30, 30, 0),          # reduce the short
    (-50, -50, 0, None, 0, 0, 0),
    (0, -50, 0, BUY, 50, 50, 0),            # cover
    (10, -10, 0, BUY, 20, 10, 10),          # reverse: one BUY 20
    # in flight, both signs, counted as if filled
    (50, 0, 50, None, 0, 0, 0),             # the BUY 50 already sent: nothing more
    (50, 0, 20, BUY, 30, 0, 30),
    (50, 20, 30, None, 0, 0, 0),
    (50, 60, -10, None, 0, 0, 0),           # a SELL 10 is on its way down to 50
    (0, 50, -50, None, 0, 0, 0),            # the exit is already in flight
    (0, 50, -20, SELL, 30, 30, 0),
    (-50, 0, -50, None, 0, 0, 0),
    (-50, 0, 30, SELL, 80, 30, 50),         # an open BUY 30 would leave +30: SELL 80 reverses it
    (50, -20, -10, BUY, 80, 30, 50),
    (-20, -50, 40, SELL, 10, 0, 10),        # -50 + 40 = -10, to -20: add 10 to the short
    (20, 50, -40, BUY, 10, 0, 10),
    (0, 0, 25, SELL, 25, 25, 0),            # flat, a BUY 25 open: SELL 25 leaves flat
    (0, 0, -25, BUY, 25, 25, 0),
    (10, -30, 30, BUY, 10, 0, 10),          # net and in flight cancel: from flat
])  # fmt: skip
def test_every_sign_combination(target, net, in_flight, side, qty, closing, opening):
    order = order_for_target(target, net, in_flight=in_flight)
    assert (order.side, order.quantity, order.closing, order.opening) == (side, qty, closing, opening)
    assert order.noop is (side is None)
    assert order.closing + order.opening == order.quantity
    assert order.reduces_only is (qty > 0 and opening == 0)


@pytest.mark.parametrize("target, net, reverses", [(-10, 10, True), (10, -10, True), (0, 10, False), (5, 10, False), (10, 0, False)])
def test_reversal_is_flagged(target, net, reverses):
    assert order_for_target(target, net).reverses is reverses


def test_an_exit_is_target_zero():
    assert exit_order(50) == order_for_target(0, 50)
    assert (exit_order(-65, lot_units=65).side, exit_order(-65, lot_units=65).quantity) == (BUY, 65)
    assert exit_order(0).noop and exit_order(40, in_flight=-40).noop


def test_equal_is_a_noop_value_that_says_so():
    order = order_for_target(50, 30, in_flight=20)
    assert isinstance(order, TargetOrder) and order.noop and order.side is None and order.quantity == 0
    assert order.describe() == "position +50 (net +30, in flight +20) is already the target +50: nothing to send"


@pytest.mark.parametrize("target, net, in_flight, lot, said", [
    (-10, 10, 0, 1, "position +10 (net +10, in flight 0) to -10: SELL 20, closes 10 and opens 10"),
    (130, 0, 0, 65, "position 0 (net 0, in flight 0) to +130: BUY 130 (2 lots of 65), opens 130"),
    (0, -30, 0, 30, "position -30 (net -30, in flight 0) to 0: BUY 30 (1 lot of 30), closes 30"),
])  # fmt: skip
def test_the_ledger_line(target, net, in_flight, lot, said):
    assert order_for_target(target, net, in_flight=in_flight, lot_units=lot).describe() == said


# --- futures and options: whole lots -------------------------------------------------------------

@pytest.mark.parametrize("target, net, in_flight, side, qty, lots", [
    (130, 65, 0, BUY, 65, 1),
    (-65, 65, 0, SELL, 130, 2),
    (0, -195, 65, BUY, 130, 2),
    (65, 0, 65, None, 0, 0),
])  # fmt: skip
def test_lot_multiples_pass_in_units(target, net, in_flight, side, qty, lots):
    order = order_for_target(target, net, in_flight=in_flight, lot_units=65, instrument="NIFTY26JUL26FUT")
    assert (order.side, order.quantity, order.lots) == (side, qty, lots)


@pytest.mark.parametrize("target, net, in_flight, says", [
    (100, 0, 0, "+100 units of NIFTY26JUL26FUT is not a whole number of lots of 65 units (nearest: +65 or +130)"),
    (-100, 65, 0, "-100 units of NIFTY26JUL26FUT is not a whole number of lots of 65 units (nearest: -65 or -130)"),
    (30, 0, 0, "(nearest: 0 or +65)"),
    (65, 10, 0, "the position in NIFTY26JUL26FUT is +10 units (net +10, in flight 0), not a whole number of lots"),
    (0, 65, -10, "is +55 units (net +65, in flight -10), not a whole number of lots of 65 units"),
])  # fmt: skip
def test_off_the_lot_is_refused_naming_the_field_and_the_lot(target, net, in_flight, says):
    with pytest.raises(AlertRejected) as caught:
        order_for_target(target, net, in_flight=in_flight, lot_units=65, instrument="NIFTY26JUL26FUT")
    [problem] = caught.value.detail
    assert problem.field == "position_size" and says in problem.message
    assert caught.value.status_code == 400


def test_only_the_order_must_be_whole_lots():
    # +35 to +100 is 65, one lot: sent, though neither end is whole lots (positions of futures and
    # options always are; the rule is about what is sent)
    order = order_for_target(100, 35, lot_units=65)
    assert (order.side, order.quantity, order.lots) == (BUY, 65, 1)


def test_a_lot_below_one_is_a_programming_error():
    with pytest.raises(ValueError):
        order_for_target(1, 0, lot_units=0)
