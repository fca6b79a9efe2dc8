"""chalicelib/portfolio.py: INDstocks' positions and funds rows as typed values, read fail-closed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.portfolio import (
    POSITION_READS,
    Position,
    funds_from_data,
    net_position,
    position_from_row,
    positions_from_rows,
    quote_price,
)

# A derivative row shaped as INDstocks documents it (api doc §6): numbers, a blank exchange.
ROW = {
    "position_id": "P1", "security_id": "35001", "symbol": "NIFTY-Oct2026-24450-CE", "segment": "DERIVATIVE",
    "product": "MARGIN", "exchange": "", "isin": "", "drv_instrument": "OPTIDX", "drv_expiry_date": "10/13/2026 14:30",
    "drv_option_type": "CE", "drv_strike_price": 24450, "net_qty": -65, "avg_price": 85.4, "buy_qty": 65,
    "buy_avg": 80.05, "sell_qty": 130, "sell_avg": 82.725, "realized_profit": -12.5, "day_buy_qty": None,
    "cf_buy_qty": None,
}  # fmt: skip


def test_a_row_reads_as_a_position_with_segment_and_product_from_the_read():
    position = position_from_row({**ROW, "segment": "", "product": "NRML"}, "derivative", "margin")
    assert position == Position(
        security_id="35001", exchange=None, segment="DERIVATIVE", product="MARGIN", net_qty=-65,
        avg_price=Decimal("85.4"), buy_qty=65, buy_avg=Decimal("80.05"), sell_qty=130, sell_avg=Decimal("82.725"),
        realized_profit=Decimal("-12.5"), symbol="NIFTY-Oct2026-24450-CE",
    )  # fmt: skip


def test_numbers_may_come_as_text_and_figures_may_be_absent():
    position = position_from_row({"security_id": " 3045 ", "exchange": "nse", "net_qty": "10", "avg_price": "800.05"},
                                 "equity", "cnc")  # fmt: skip
    assert (position.security_id, position.exchange, position.net_qty, position.avg_price) == ("3045", "NSE", 10, Decimal("800.05"))
    assert (position.buy_qty, position.sell_avg, position.realized_profit) == (0, 0, 0)
    flat = position_from_row({"security_id": "3045", "net_qty": 0, "realized_profit": 40}, "equity", "intraday")
    assert (flat.net_qty, flat.avg_price, flat.realized_profit) == (0, 0, 40)


@pytest.mark.parametrize(
    "row, words",
    [
        ({**ROW, "security_id": ""}, "security_id"),
        ({**ROW, "net_qty": None}, "net_qty is missing"),
        ({k: v for k, v in ROW.items() if k != "net_qty"}, "net_qty is missing"),
        ({**ROW, "net_qty": 1.5}, "whole number"),
        ({**ROW, "net_qty": True}, "net_qty is not a number"),
        ({**ROW, "net_qty": "ten"}, "net_qty is not a number"),
        ({**ROW, "avg_price": None}, "avg_price is missing"),  # open, but at what price?
        ({**ROW, "realized_profit": "NaN"}, "realized_profit is not a number"),
        ({**ROW, "buy_qty": [1]}, "buy_qty is not a number"),
        (["35001", -65], "not an object"),
    ],
)
def test_an_unreadable_row_fails_the_read_instead_of_reading_as_flat(row, words):
    with pytest.raises(ValueError, match=words):
        position_from_row(row, "derivative", "margin")


def test_a_read_is_a_list_of_rows():
    assert positions_from_rows([], "equity", "cnc") == []
    assert [p.net_qty for p in positions_from_rows([ROW, {**ROW, "net_qty": 5}], "derivative", "margin")] == [-65, 5]
    for reply in ({"data": []}, None, "[]"):
        with pytest.raises(ValueError):
            positions_from_rows(reply, "equity", "cnc")


def test_the_four_reads_are_the_pairs_indstocks_takes_in_lower_case():
    assert POSITION_READS == (("equity", "cnc"), ("equity", "intraday"), ("derivative", "margin"), ("derivative", "intraday"))


def test_unrealised_pnl_marks_long_and_short_quantities():
    long = position_from_row({"security_id": "1", "net_qty": 10, "avg_price": 800}, "equity", "cnc")
    short = position_from_row(ROW, "derivative", "margin")
    assert long.unrealized(Decimal("790.5")) == Decimal("-95.0")
    assert short.unrealized(Decimal("80.4")) == Decimal("325.0")  # (80.4 - 85.4) x -65


def position(security_id: str, product: str, net_qty: int, *, segment: str = "EQUITY", exchange: str | None = "NSE") -> Position:
    return Position(security_id, exchange, segment, product, net_qty, Decimal(100))


def test_net_position_sums_the_rows_of_one_security_and_product():
    rows = [position("3045", "INTRADAY", 10), position("3045", "CNC", 5), position("3045", "INTRADAY", -3, exchange=None),
            position("500112", "INTRADAY", 7, exchange="BSE"), position("35001", "MARGIN", -65, segment="DERIVATIVE", exchange=None)]  # fmt: skip
    assert net_position(rows, "3045", "intraday") == 7
    assert net_position(rows, "3045", "CNC") == 5
    assert net_position(rows, "3045", "MARGIN") == 0 and net_position(rows, "1594", "INTRADAY") == 0
    assert net_position(rows, "3045", "INTRADAY", exchange="BSE") == -3  # a blank exchange matches any
    assert net_position(rows, "35001", "MARGIN", segment="derivative", exchange="NSE") == -65
    assert net_position(rows, "35001", "MARGIN", segment="EQUITY") == 0


# The docs' own funds sample (figures as published): option_buy is above the tradable cash, and
# withdrawal_balance is not it either.
FUNDS = {
    "sod_balance": 3000.0, "pledge_received": 0, "pledge_remained": 0,
    "detailed_avl_balance": {"option_sell": 2980.4, "future": 2980.4, "option_buy": 4449.65, "comm_option_buy": 0,
                             "eq_mis": 2975.1, "eq_cnc": 2980.4, "eq_mtf": 0},
    "withdrawal_balance": 2983.47, "funds_added": 0, "funds_withdrawn": 0, "realized_pnl": -12.3,
    "unrealized_pnl": "4.5", "brokerage": 10, "eq_charges": 1.2, "fno_charges": 0,
}  # fmt: skip


def test_funds_read_the_tradable_cash_from_eq_cnc():
    funds = funds_from_data(FUNDS)
    assert funds.tradable_cash == Decimal("2980.4") and funds.option_buy == Decimal("4449.65")
    assert (funds.intraday_equity, funds.futures, funds.option_sell) == (Decimal("2975.1"), Decimal("2980.4"), Decimal("2980.4"))
    assert (funds.sod_balance, funds.withdrawal_balance) == (Decimal("3000.0"), Decimal("2983.47"))
    assert (funds.realized_pnl, funds.unrealized_pnl) == (Decimal("-12.3"), Decimal("4.5"))


@pytest.mark.parametrize(
    "data",
    [{**FUNDS, "detailed_avl_balance": None}, {**FUNDS, "detailed_avl_balance": {"option_buy": 1}},
     {**FUNDS, "detailed_avl_balance": {"eq_cnc": "n/a"}}, [], None],
)  # fmt: skip
def test_funds_without_a_readable_tradable_cash_fail(data):
    with pytest.raises(ValueError):
        funds_from_data(data)


@pytest.mark.parametrize(
    "quote, price",
    [({"live_price": 812.35}, Decimal("812.35")), ({"live_price": "20.01"}, Decimal("20.01")), ({"live_price": 0}, None),
     ({"live_price": -1}, None), ({"live_price": "Infinity"}, None), ({"live_price": True}, None), ({}, None),
     (None, None), (812.35, None)],
)  # fmt: skip
def test_a_quote_is_a_usable_price_or_none(quote, price):
    assert quote_price(quote) == price
