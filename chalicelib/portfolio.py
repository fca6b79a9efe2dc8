"""Positions, funds and last prices as the relay reads them from INDstocks (indstocks-api §6).

Pure: value types and the parsing of INDstocks' rows into them; no I/O. The broker client
(`BrokerClient.positions`, `.funds`, `.last_prices`) does the reads.

Reading fails closed: a row the relay cannot read (no security id, a quantity that is not a whole
number, an open position without an average price) raises `ValueError`, so a caller never mistakes
an unreadable position for a flat one and sends the difference twice.

- Positions come in four reads, one per (segment, product) pair INDstocks accepts; segment and
  product are taken from the read, not from the row (OpenAlgo's client does the same: rows may
  lack them). `exchange` may be blank on derivative index positions: it is then None.
- INDstocks shows no unrealised P&L on a position: `Position.unrealized(last_price)` marks it.
- Tradable cash is `detailed_avl_balance.eq_cnc` (as OpenAlgo reads it), not `withdrawal_balance`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# (segment, product) as `GET /portfolio/positions` takes them: lower case, the four pairs INDstocks
# documents (equity: cnc, intraday; derivative: margin, intraday).
POSITION_READS: tuple[tuple[str, str], ...] = (
    ("equity", "cnc"),
    ("equity", "intraday"),
    ("derivative", "margin"),
    ("derivative", "intraday"),
)
MAX_QUOTE_CODES = 1000  # per `GET /market/quotes/ltp` request (indstocks-api §6)
_ZERO = Decimal(0)


@dataclass(frozen=True)
class Position:
    """One row of `GET /portfolio/positions`: a security under one product, today."""

    security_id: str
    exchange: str | None  # NSE / BSE; None when INDstocks leaves it blank
    segment: str  # EQUITY / DERIVATIVE (from the read)
    product: str  # CNC / INTRADAY / MARGIN (from the read)
    net_qty: int  # units; negative when short
    avg_price: Decimal  # of the open quantity; 0 when flat
    buy_qty: int = 0
    buy_avg: Decimal = _ZERO
    sell_qty: int = 0
    sell_avg: Decimal = _ZERO
    realized_profit: Decimal = _ZERO
    symbol: str = ""

    def unrealized(self, last_price: Decimal) -> Decimal:
        """Mark-to-market P&L of the open quantity at `last_price`."""
        return (last_price - self.avg_price) * self.net_qty


@dataclass(frozen=True)
class Funds:
    """`GET /funds`, the figures a sizing or loss rule needs."""

    tradable_cash: Decimal  # detailed_avl_balance.eq_cnc
    intraday_equity: Decimal  # detailed_avl_balance.eq_mis
    futures: Decimal  # detailed_avl_balance.future
    option_buy: Decimal  # detailed_avl_balance.option_buy
    option_sell: Decimal  # detailed_avl_balance.option_sell
    sod_balance: Decimal
    withdrawal_balance: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal


@dataclass(frozen=True)
class LastPrices:
    """`GET /market/quotes/ltp` for a list of codes: the prices, and the codes INDstocks would
    not quote (one such code makes INDstocks refuse a whole batch; the client finds which)."""

    prices: Mapping[str, Decimal]
    unquotable: frozenset[str] = frozenset()


def _number(value: Any, field: str, *, default: Decimal | None = None) -> Decimal:
    """A JSON number (or numeric text) as a Decimal; absent/null/"" is `default`, else ValueError."""
    if value is None or value == "":
        if default is None:
            raise ValueError(f"{field} is missing")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{field} is not a number")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{field} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{field} is not a number")
    return number


def _quantity(value: Any, field: str, *, required: bool = False) -> int:
    number = _number(value, field, default=None if required else _ZERO)
    if number != number.to_integral_value():
        raise ValueError(f"{field} is not a whole number")
    return int(number)


def position_from_row(row: Any, segment: str, product: str) -> Position:
    """One positions row read under (`segment`, `product`) as a Position; ValueError if unreadable."""
    if not isinstance(row, dict):
        raise ValueError("a position is not an object")
    security_id = str(row.get("security_id") or "").strip()
    if not security_id:
        raise ValueError("a position has no security_id")
    net_qty = _quantity(row.get("net_qty"), "net_qty", required=True)
    avg_price = _number(row.get("avg_price"), "avg_price", default=None if net_qty else _ZERO)
    exchange = str(row.get("exchange") or "").strip().upper() or None
    return Position(
        security_id=security_id,
        exchange=exchange,
        segment=segment.upper(),
        product=product.upper(),
        net_qty=net_qty,
        avg_price=avg_price,
        buy_qty=_quantity(row.get("buy_qty"), "buy_qty"),
        buy_avg=_number(row.get("buy_avg"), "buy_avg", default=_ZERO),
        sell_qty=_quantity(row.get("sell_qty"), "sell_qty"),
        sell_avg=_number(row.get("sell_avg"), "sell_avg", default=_ZERO),
        realized_profit=_number(row.get("realized_profit"), "realized_profit", default=_ZERO),
        symbol=str(row.get("symbol") or ""),
    )


def positions_from_rows(rows: Any, segment: str, product: str) -> list[Position]:
    """The `data` array of one positions read; ValueError if it is not one or a row is unreadable."""
    if not isinstance(rows, list):
        raise ValueError("positions are not a list")
    return [position_from_row(row, segment, product) for row in rows]


def funds_from_data(data: Any) -> Funds:
    """The `data` object of `GET /funds`; ValueError without a readable `eq_cnc`."""
    if not isinstance(data, dict):
        raise ValueError("funds are not an object")
    detail = data.get("detailed_avl_balance")
    if not isinstance(detail, dict):
        raise ValueError("detailed_avl_balance is missing")
    return Funds(
        tradable_cash=_number(detail.get("eq_cnc"), "eq_cnc"),
        intraday_equity=_number(detail.get("eq_mis"), "eq_mis", default=_ZERO),
        futures=_number(detail.get("future"), "future", default=_ZERO),
        option_buy=_number(detail.get("option_buy"), "option_buy", default=_ZERO),
        option_sell=_number(detail.get("option_sell"), "option_sell", default=_ZERO),
        sod_balance=_number(data.get("sod_balance"), "sod_balance", default=_ZERO),
        withdrawal_balance=_number(data.get("withdrawal_balance"), "withdrawal_balance", default=_ZERO),
        realized_pnl=_number(data.get("realized_pnl"), "realized_pnl", default=_ZERO),
        unrealized_pnl=_number(data.get("unrealized_pnl"), "unrealized_pnl", default=_ZERO),
    )


def quote_price(quote: Any) -> Decimal | None:
    """`data[code].live_price` of a quote reply if it is a usable price (finite, above zero)."""
    price = quote.get("live_price") if isinstance(quote, dict) else None
    try:
        value = _number(price, "live_price")
    except ValueError:
        return None
    return value if value > 0 else None


def net_position(
    positions: Iterable[Position],
    security_id: str,
    product: str,
    *,
    segment: str | None = None,
    exchange: str | None = None,
) -> int:
    """The net quantity held in `security_id` under `product` (summed over the rows that match).

    `segment` narrows to EQUITY or DERIVATIVE; `exchange` to NSE or BSE, except that a row whose
    exchange INDstocks left blank matches any exchange (derivative index positions)."""
    product, segment = product.upper(), segment.upper() if segment else None
    exchange = exchange.upper() if exchange else None
    return sum(
        p.net_qty
        for p in positions
        if p.security_id == security_id
        and p.product == product
        and (segment is None or p.segment == segment)
        and (exchange is None or p.exchange is None or p.exchange == exchange)
    )


@dataclass(frozen=True)
class InstrumentKey:
    """Where a target's position is read: the instrument as INDstocks keys it."""

    security_id: str
    exchange: str
    segment: str  # EQUITY / DERIVATIVE
    lot_units: int
    name: str
