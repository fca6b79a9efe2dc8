"""One order-book read, one positions read and one batch of last prices per account, shared by
every view for CACHE_SECONDS, across instances.

Where the copy lives: in this instance's memory first (no call at all), then in the state table
(one GetItem: a view served by another warm instance, or a cold one, reuses the copy the last
view read), and only then at INDstocks. The broker is read under a lease in the state table
(`lock#dashboard-read#<account>`, CACHE_SECONDS long, never released early), so however many
instances serve views and however fast they are refreshed, an account's broker data is read at
most once per CACHE_SECONDS: a view that loses the lease shows the last shared copy with its
age. Memory alone would let each instance read on its own; the state table alone would cost
every refresh a round trip it does not need.

A copy older than the journal's last change is not reused (an order went out or moved since), and
an action (a cancel, a flatten) forgets the copy on its instance, whose next view reads afresh.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib.errors import RelayError, TokenUnavailable
from chalicelib.portfolio import Position
from chalicelib.positions import OPEN_STATUSES
from chalicelib.relay import Relay
from chalicelib.state import StateTable
from chalicelib.sweep import _quote_code

CACHE_SECONDS = 5
_BLOB_DAYS = 1
# The order-book fields a view shows (a cancel reads the book afresh).
_ROW_FIELDS = ("id", "security_id", "name", "exchange", "segment", "product", "status", "txn_type", "order_type",
               "requested_qty", "traded_qty", "requested_price", "created_at")


@dataclass
class BrokerView:
    """What one read of INDstocks gave: open orders, positions with their P&L, or why not."""

    read_at: float
    open_orders: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    realized: str = "0"
    unrealized: str = "0"
    unpriced: list[str] = field(default_factory=list)
    problem: str | None = None
    token_rejected: bool = False
    shared: bool = False  # taken from another view's read (state table)

    def as_json(self) -> bytes:
        return zlib.compress(json.dumps({k: v for k, v in self.__dict__.items() if k != "shared"}).encode())

    @classmethod
    def from_json(cls, raw: bytes) -> BrokerView:
        return cls(**json.loads(zlib.decompress(raw)), shared=True)


def read_broker(relay: Relay, now: float) -> BrokerView:
    """The reads themselves: order book, positions, then one LTP batch for the open positions."""
    try:
        token = relay.tokens.current()
        book = relay.broker.order_book(token)
        positions = relay.broker.positions(token)
        codes = {p.security_id: _quote_code(p, p.exchange or "NSE") for p in positions if p.net_qty}
        prices = relay.broker.last_prices(token, sorted(set(codes.values()))) if codes else None
    except TokenUnavailable as error:
        return BrokerView(now, problem=error.public_message, token_rejected=True)
    except RelayError as error:
        return BrokerView(now, problem=error.public_message)
    view = BrokerView(now, open_orders=[{name: row.get(name) for name in _ROW_FIELDS if name in row} for row in book
                                        if str(row.get("status", "")).upper() in OPEN_STATUSES and row.get("id")])
    realized, unrealized = Decimal(0), Decimal(0)
    for position in positions:
        realized += position.realized_profit
        if not position.net_qty:
            continue
        code = codes[position.security_id]
        last = prices.prices.get(code) if prices is not None else None
        pnl = position.unrealized(last) if last is not None else None
        unrealized += pnl or 0
        if last is None:
            view.unpriced.append(code)
        view.positions.append(_position_row(position, code, last, pnl))
    view.realized, view.unrealized = str(realized.quantize(Decimal("0.01"))), str(unrealized.quantize(Decimal("0.01")))
    return view


def _position_row(position: Position, code: str, last: Decimal | None, pnl: Decimal | None) -> dict[str, Any]:
    return {"symbol": position.symbol or code, "code": code, "product": position.product, "net_qty": position.net_qty,
            "avg_price": str(position.avg_price), "ltp": None if last is None else str(last),
            "pnl": None if pnl is None else str(pnl.quantize(Decimal("0.01")))}


class BrokerReads:
    """The cached reads of one account (see the module's docstring)."""

    def __init__(self, relay: Relay, state: StateTable, account: str) -> None:
        self._relay = relay
        self._state = state
        self._account = account
        self._memory: BrokerView | None = None
        self._fresh_next = False

    @property
    def _name(self) -> str:
        return f"dashboard-read#{self._account}"

    def view(self, now: float, ledger_changed: float = 0.0) -> BrokerView:
        """`ledger_changed`: when the journal last changed; a copy read before it is not reused
        (an order went out since), though the lease still bounds the reads."""

        def usable(copy: BrokerView | None) -> bool:
            return copy is not None and now - copy.read_at < CACHE_SECONDS and copy.read_at >= ledger_changed

        if not self._fresh_next and usable(self._memory):
            return self._memory  # type: ignore[return-value]
        shared = None if self._fresh_next else self._shared()
        if usable(shared):
            self._memory = shared
            return shared  # type: ignore[return-value]
        if not self._fresh_next and not self._state.acquire(self._name, now, CACHE_SECONDS):
            # Another view is reading (or just read) INDstocks: show the last copy, with its age.
            return shared or BrokerView(now, problem="another view is reading INDstocks; refresh in a few seconds")
        self._fresh_next = False
        self._memory = read_broker(self._relay, now)
        try:
            self._state.put_blob(self._name, self._memory.as_json(), int(now) + _BLOB_DAYS * 86400)
        except RelayError:
            pass  # this view still has its data; the next one reads again
        return self._memory

    def forget(self) -> None:
        """After an action: this instance's next view reads INDstocks again."""
        self._memory = None
        self._fresh_next = True

    def _shared(self) -> BrokerView | None:
        try:
            raw = self._state.get_blob(self._name)
            return BrokerView.from_json(raw) if raw else None
        except (RelayError, ValueError, TypeError, zlib.error):
            return None
