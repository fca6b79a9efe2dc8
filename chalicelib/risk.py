"""Risk limits per stage: a typo (`quantity: 5000` for 50) or a runaway strategy is refused
before anything leaves, with a 422 naming the limit and the value.

- MAX_ORDER_QTY: shares in one order.
- MAX_ORDER_VALUE: rupees, qty × the order's price (its limit, or a stop's trigger-limit); a
  MARKET order has none, so its value is qty × the price the alert carried (`{{close}}`), else the
  last traded price read from INDstocks (5 quote reads a second: a burst should carry prices).
  When that price cannot be read the order is not sent: a limit that cannot be checked is not
  waved through.
- MAX_ORDERS_PER_DAY: orders the relay decided to send in the IST day, counted across every
  instance by one conditional update in the state table, taken inside the alert's claim
  transaction (`count_operation`) or, on the queue path, right after its claim (`take`): after the
  other limits passed, and not given back when the write then turns out not to have
  happened (no token, broker unreachable): a limit against runaways errs towards fewer orders.

The price read meets a dead token before the write would: like the write, it re-reads the token
once from SSM and, only if it changed, reads again with the new one, which the write then uses.

`check_order` is pure (value types in, a refusal out); `RiskGuard` adds the last price and the
day's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.broker import BrokerClient
from chalicelib.config import Settings
from chalicelib.errors import DependencyUnavailable, FieldProblem, RiskLimitExceeded, TokenUnavailable
from chalicelib.moments import ist_date
from chalicelib.state import StateTable
from chalicelib.tokens import TokenStore

_COUNTER = "orders-per-day"
_COUNTER_RETENTION_SECONDS = 3 * 86400


@dataclass(frozen=True)
class RiskLimits:
    max_order_qty: int
    max_order_value: Decimal  # rupees
    max_orders_per_day: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskLimits:
        return cls(settings.max_order_qty, settings.max_order_value, settings.max_orders_per_day)


def _rupees(value: Decimal) -> str:
    return f"₹{value:,.2f}"


def quantity_refusal(qty: int, limits: RiskLimits) -> RiskLimitExceeded | None:
    if qty <= limits.max_order_qty:
        return None
    what = f"MAX_ORDER_QTY: quantity {qty} is over the limit of {limits.max_order_qty}"
    return RiskLimitExceeded(f"{what}; nothing was sent", detail=[FieldProblem("quantity", what)])


def value_refusal(qty: int, price: Decimal, limits: RiskLimits, *, price_is: str = "price") -> RiskLimitExceeded | None:
    value = price * qty
    if value <= limits.max_order_value:
        return None
    what = (f"MAX_ORDER_VALUE: order value {_rupees(value)} ({qty} × {_rupees(price)} {price_is}) is over the "
            f"limit of {_rupees(limits.max_order_value)}")
    return RiskLimitExceeded(f"{what}; nothing was sent", detail=[FieldProblem("quantity", what)])


def check_order(qty: int, price: Decimal, limits: RiskLimits, *, price_is: str = "price") -> None:
    """Raise the first limit the order breaks (quantity, then value)."""
    refusal = quantity_refusal(qty, limits) or value_refusal(qty, price, limits, price_is=price_is)
    if refusal is not None:
        raise refusal


def order_price(body: dict[str, Any]) -> Decimal | None:
    """The most the order can trade at: its limit, or a stop's trigger-limit; None for MARKET."""
    for field in ("limit_price", "trigger_limit_price"):
        if body.get(field) is not None:
            return Decimal(str(body[field]))
    return None


PAPER_COUNTER = "orders-per-day-paper"  # paper orders count apart: they never use live's budget


def day_counter(now: float, counter: str = _COUNTER) -> str:
    return f"{counter}#{ist_date(now).isoformat()}"


class RiskGuard:
    """The limits applied to one exact order write, with the reads they need."""

    def __init__(self, limits: RiskLimits, broker: BrokerClient, state: StateTable, tokens: TokenStore, *,
                 counter: str = _COUNTER):
        self.limits = limits
        self._counter = counter
        self._broker = broker
        self._state = state
        self._tokens = tokens

    def take(self, now: float) -> None:
        """Count one order against the day's limit, or raise RiskLimitExceeded at the limit."""
        taken = self._state.take_count(day_counter(now, self._counter), self.limits.max_orders_per_day,
                                       int(now) + _COUNTER_RETENTION_SECONDS)
        if taken is None:
            raise self.day_limit_reached()

    def count_operation(self, now: float, orders: int = 1) -> dict[str, Any]:
        """`take` as one operation of a transaction, for `orders` at once: its condition fails
        unless all of them fit under the limit."""
        return self._state.count_operation(day_counter(now, self._counter), self.limits.max_orders_per_day,
                                           int(now) + _COUNTER_RETENTION_SECONDS, orders)

    def day_limit_reached(self, orders: int = 1) -> RiskLimitExceeded:
        if orders > 1:
            what = (f"MAX_ORDERS_PER_DAY: the {orders} child orders do not fit under today's (IST) limit of "
                    f"{self.limits.max_orders_per_day} orders")
        else:
            what = f"MAX_ORDERS_PER_DAY: {self.limits.max_orders_per_day} orders were already sent today (IST), the limit"
        return RiskLimitExceeded(f"{what}; nothing was sent")

    def check_limits(self, body: dict[str, Any], token: str, now: float, *, alert_price: Decimal | None = None,
                     price_is: str = "alert price") -> str:
        """Raise RiskLimitExceeded (nothing sent) when the order breaks a limit of its own (size,
        value); the day's count is taken separately. Returns the token to write with: the price
        read may have found `token` dead and a renewed one in SSM, and the write should not
        learn that again.

        `alert_price`: the price a MARKET alert carried (TradingView's `{{close}}`, which the
        order ignores). It values the order without a quote read: INDstocks allows 5 quote reads a
        second, so a bar-close burst of MARKET orders that each read one would be refused.
        `price_is` names where that price came from (a bracket's or a sizing's entry price may be
        a last price read already: it is not read twice)."""
        qty = int(body["qty"])
        refusal = quantity_refusal(qty, self.limits)
        if refusal is not None:
            raise refusal
        price = order_price(body)
        if price is not None:
            price_is = "price"
        elif alert_price is not None:
            price = alert_price
        if price is None:
            price, token = self.last_price(body, token)
            price_is = "last price"
        check_order(qty, price, self.limits, price_is=price_is)
        return token

    def orders_today(self, now: float) -> int:
        return self._state.read_count(day_counter(now, self._counter))

    def last_price(self, body: dict[str, Any], token: str) -> tuple[Decimal, str]:
        """The order's instrument's last traded price (one read), and the token that read it."""
        # Quote codes of derivatives are NFO_<id> / BFO_<id>; the order itself says NSE / BSE.
        exchange = {"NSE": "NFO", "BSE": "BFO"}[body["exchange"]] if body.get("segment") == "DERIVATIVE" \
            else body["exchange"]
        try:
            try:
                return self._broker.last_price(token, exchange, body["security_id"]), token
            except TokenUnavailable:
                # A read is safe to repeat: once, with a token another instance may have stored.
                fresh = self._tokens.reread()
                if fresh == token:
                    raise
                return self._broker.last_price(fresh, exchange, body["security_id"]), fresh
        except DependencyUnavailable as failure:
            raise DependencyUnavailable(
                "the last price could not be read from INDstocks to check MAX_ORDER_VALUE; the order was not sent",
                cause=failure.cause,
            ) from None
