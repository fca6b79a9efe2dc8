"""Where an instrument's position stands, for alerts that name a target (`position_size`) or
an exit: the account's net quantity (`GET /portfolio/positions`, one read for the segment and
product) plus what its open orders will still change (`GET /order-book`).

Two signals for one instrument (an exit and an entry in the same second) must not both compute
their difference from the same position: each holds the instrument's lock in the state table
while it reads, decides and writes, and the next one waits for it (a lease, so a holder that died
cannot block the instrument for longer than LOCK_SECONDS).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.broker import BrokerClient
from chalicelib.errors import DependencyUnavailable
from chalicelib.state import StateTable

# Longer than one alert's whole life (the function timeout): a holder that died frees it then.
LOCK_SECONDS = 30
_POLL_SECONDS = 0.05
# INDstocks' statuses of an order that may still trade (api doc §4.4; OpenAlgo's "open" bucket
# plus stops waiting for their trigger and AMOs waiting for the open).
OPEN_STATUSES = frozenset({"QUEUED", "O-PENDING", "SL-PENDING", "PENDING", "PROCESSING", "INITIATED", "MODIFIED",
                           "PARTIALLY FILLED", "CREATED"})


@dataclass(frozen=True)
class Standing:
    """An instrument's position under one product, as a target is computed from it."""

    net: int  # units, negative when short
    in_flight: int  # signed units its open orders will still add (BUY +, SELL −)

    def as_dict(self) -> dict[str, int]:
        return {"net": self.net, "in_flight": self.in_flight}


def in_flight_units(book: Iterable[dict[str, Any]], security_id: str, product: str) -> int:
    """What the open orders of the book for this security and product will still change."""
    total = 0
    for row in book:
        if str(row.get("security_id")) != security_id or str(row.get("product", "")).upper() != product:
            continue
        if str(row.get("status", "")).upper() not in OPEN_STATUSES:
            continue
        if str(row.get("order_type", "")).upper() == "OCO":
            continue  # a bracket's exit leg: it only ever closes what its parent opened
        remaining = _units(row.get("requested_qty")) - _units(row.get("traded_qty"))
        total += remaining if str(row.get("txn_type", "")).upper() == "BUY" else -remaining
    return total


# A strategy's own position: items whose order may exist, and how much of each may still trade.
_MAY_TRADE = {"sent", "queued", "unknown"}  # written or about to be: all of it counts as in flight


def strategy_standing(items: Iterable[dict[str, Any]], strategy: str, security_id: str, product: str) -> Standing:
    """The position the relay built for one strategy in one instrument and product, from its own
    ledger items: filled quantities (as the sweep last saw them) are the net, what its placed,
    sent, queued or unknown orders may still trade is in flight. Two strategies on one symbol
    then never undo each other's positions."""
    from chalicelib.reconcile import TERMINAL_STATUSES

    net = in_flight = 0
    for item in items:
        if (item.get("strategy") != strategy or str(item.get("security_id")) != security_id
                or str(item.get("product", "")).upper() != product or item.get("side") not in ("BUY", "SELL")):
            continue
        sign = 1 if item["side"] == "BUY" else -1
        qty, traded = int(item.get("qty") or 0), int(item.get("traded_qty") or 0)
        if item.get("state") == "placed":
            net += sign * traded
            if str(item.get("broker_status") or "").upper() not in TERMINAL_STATUSES:
                in_flight += sign * (qty - traded)
        elif item.get("state") in _MAY_TRADE:
            in_flight += sign * qty
    return Standing(net, in_flight)


def open_orders(book: Iterable[dict[str, Any]], security_id: str) -> list[dict[str, Any]]:
    """The book's orders of this security that may still trade (any product), in book order."""
    return [row for row in book if str(row.get("security_id")) == security_id
            and str(row.get("status", "")).upper() in OPEN_STATUSES and row.get("id")]


def is_smart(row: dict[str, Any], book: Iterable[dict[str, Any]] = ()) -> bool:
    """Whether an order-book row is a smart order (cancelled on /smart/order/cancel): a GTT leg,
    a stop (shown as GTT_LIMIT / GTT_MARKET), an OCO child, a row carrying bracket legs, or the
    parent of an OCO child in `book` (INDstocks copies the parent's remarks onto every leg, api
    doc §5). A smart LIMIT or MARKET parent without legs looks like any other order (the relay
    never sends one); its cancel on /order/cancel is refused and changes nothing."""
    if _smart_by_itself(row):
        return True
    remarks = str(row.get("remarks") or "")
    return bool(remarks) and any(other is not row and str(other.get("remarks") or "") == remarks
                                 and str(other.get("order_type", "")).upper() == "OCO" for other in book)


def _smart_by_itself(row: dict[str, Any]) -> bool:
    legs = any(str(row.get(name) or "").strip() for name in ("sl_trigger_price", "tgt_trigger_price"))
    return (str(row.get("id", "")).upper().startswith("GTT-") or legs
            or str(row.get("order_type", "")).upper() in ("GTT_LIMIT", "GTT_MARKET", "OCO"))


def _units(value: Any) -> int:
    try:
        return int(float(value or 0))
    except (TypeError, ValueError):
        raise DependencyUnavailable("INDstocks returned an order book the relay cannot read; nothing was sent") from None


class PositionDesk:
    def __init__(self, broker: BrokerClient, state: StateTable, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self._broker = broker
        self._state = state
        self._clock = clock
        self._sleep = sleep

    def hold(self, instrument: str, holder: str, wait_until: float) -> bool:
        """Take the instrument's lock, waiting for a holder ahead (in arrival order, give or
        take a poll) until `wait_until`. False: still held then."""
        while True:
            if self._state.acquire(f"position#{instrument}", self._clock(), LOCK_SECONDS, holder=holder):
                return True
            if self._clock() + _POLL_SECONDS > wait_until:
                return False
            self._sleep(_POLL_SECONDS)

    def release(self, instrument: str, holder: str) -> None:
        self._state.release(f"position#{instrument}", holder)

    def standing(self, token: str, security_id: str, segment: str, product: str) -> Standing:
        """Two reads: the net position (one segment/product) and the open orders of the book."""
        rows = self._broker.positions(token, reads=[(segment.lower(), product.lower())])
        net = sum(row.net_qty for row in rows if str(row.security_id) == security_id)
        book = self._broker.order_book(token)
        return Standing(net, in_flight_units(book, security_id, product.upper()))
