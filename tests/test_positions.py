"""What open orders will still change of a position (pure): the rows of GET /order-book."""

from __future__ import annotations

import pytest

from chalicelib.errors import DependencyUnavailable
from chalicelib.positions import in_flight_units, strategy_standing


def row(**fields):
    return {"security_id": "3045", "product": "INTRADAY", "status": "PENDING", "order_type": "LIMIT",
            "txn_type": "BUY", "requested_qty": "10", "traded_qty": "0", **fields}


@pytest.mark.parametrize("rows, expected", [
    ([], 0),
    ([row()], 10),
    ([row(txn_type="SELL")], -10),
    ([row(traded_qty="4")], 6),                                  # the traded part is in the position already
    ([row(status="PARTIALLY FILLED", traded_qty="7")], 3),
    ([row(status="SL-PENDING", txn_type="SELL", requested_qty="5")], -5),   # a stop waiting for its trigger
    ([row(status="SUCCESS", traded_qty="10")], 0),                # done: counted in the position
    ([row(status="CANCELLED")], 0),
    ([row(status="FAILED")], 0),
    ([row(order_type="OCO", txn_type="SELL")], 0),                # a bracket's exit leg
    ([row(security_id="999")], 0),                                # another instrument
    ([row(product="CNC")], 0),                                    # another product
    ([row(), row(txn_type="SELL", requested_qty="4")], 6),
])  # fmt: skip
def test_open_orders_of_the_instrument_and_product_count_signed(rows, expected):
    assert in_flight_units(rows, "3045", "INTRADAY") == expected


def test_an_unreadable_quantity_fails_closed():
    with pytest.raises(DependencyUnavailable):
        in_flight_units([row(requested_qty="ten")], "3045", "INTRADAY")


def item(**fields):
    return {"strategy": "alpha", "security_id": "3045", "product": "INTRADAY", "side": "BUY", "qty": 10,
            "traded_qty": None, "state": "placed", "broker_status": "INITIATED", **fields}


@pytest.mark.parametrize("items, expected", [
    ([item()], (0, 10)),                                                      # placed, not filled yet
    ([item(traded_qty=10, broker_status="SUCCESS")], (10, 0)),
    ([item(traded_qty=4, broker_status="PARTIALLY FILLED")], (4, 6)),
    ([item(traded_qty=4, broker_status="PARTIALLY FILLED - CANCELLED")], (4, 0)),
    ([item(side="SELL", traded_qty=3, broker_status="SUCCESS", qty=3)], (-3, 0)),
    ([item(state="queued")], (0, 10)), ([item(state="sent")], (0, 10)), ([item(state="unknown")], (0, 10)),
    ([item(state="rejected")], (0, 0)), ([item(state="absent")], (0, 0)), ([item(state="split")], (0, 0)),
    ([item(strategy="beta")], (0, 0)), ([item(security_id="1594")], (0, 0)), ([item(product="CNC")], (0, 0)),
    ([item(traded_qty=10, broker_status="SUCCESS"), item(side="SELL", qty=4)], (10, -4)),
])  # fmt: skip
def test_a_strategys_own_position_from_its_ledger_items(items, expected):
    standing = strategy_standing(items, "alpha", "3045", "INTRADAY")
    assert (standing.net, standing.in_flight) == expected


def test_a_bracket_parent_is_smart_by_the_oco_child_that_shares_its_remarks():
    from chalicelib.positions import is_smart

    parent = row(id="EQ-1", remarks="tvr:a:1")
    child = row(id="GTT-9", order_type="OCO", remarks="tvr:a:1")
    plain = row(id="EQ-2", remarks="tvr:b:2")
    book = [parent, child, plain]
    assert [is_smart(r, book) for r in book] == [True, True, False]
    assert is_smart(parent) is False  # without the book it cannot be told
    assert is_smart(row(order_type="GTT_LIMIT")) and is_smart(row(sl_trigger_price="690"))
