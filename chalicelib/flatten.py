"""Flatten: the kill switch's last resort. Pause, cancel the open orders, close the positions.

`POST /flatten` (admin key; `relay flatten`) first pauses (the stage, or one strategy), so no
alert opens anything meanwhile; then, in the instruments in scope, cancels every open order
(each once, on its endpoint family: a resting order must not re-open what is being closed)
and closes every open position with one MARKET order in its own product. Scope `relay` (the
default) is the instruments the relay sent orders for today (IST), of the strategy when one is
named; `all` is every instrument of the account. Each closing order is an item of the ledger of
its own (`origin: flatten`), written once in a pacing slot like any order: an unknown outcome is
reconciled by the sweep, never resent; one without a slot in the short wait goes through the
order queue, which sends it although the relay is paused (a pause stops alerts, not the flatten
that asked for it).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.accounts import account_key
from chalicelib.admin import admin_request
from chalicelib.alerts import Exchange
from chalicelib.config import IST
from chalicelib.ledger import Ledger, State
from chalicelib.observability import logger
from chalicelib.order_queue import message_group
from chalicelib.orders import closing_order, remarks_tag
from chalicelib.portfolio import Position
from chalicelib.positions import open_orders
from chalicelib.relay import Relay

ORIGIN = "flatten"
# The states of a day's item whose instrument the relay traded (an order may exist for it).
_TRADED = {State.SENT.value, State.PLACED.value, State.UNKNOWN.value, State.QUEUED.value}
_JOURNAL_LIMIT = 5000


class Scope(str, Enum):
    RELAY = "relay"  # the instruments the relay sent orders for today
    ALL = "all"  # every instrument of the account


class FlattenRequest(BaseModel):
    """The body of POST /flatten (the admin key travels beside it)."""

    model_config = ConfigDict(extra="forbid")

    admin_key: str | None = Field(default=None, exclude=True, repr=False)
    scope: Scope = Scope.RELAY
    strategy: str | None = Field(default=None, pattern=r"^[A-Za-z0-9 _.:/#@+=\-]{1,40}$")


def flatten_request(fields: dict[str, Any]) -> FlattenRequest:
    return admin_request(FlattenRequest, fields)


class Flattener:
    def __init__(self, relay: Relay, ledger: Ledger):
        self._relay = relay
        self._ledger = ledger

    def run(self, now: float, *, scope: Scope = Scope.RELAY, strategy: str | None = None, pause: bool = True,
            products: frozenset[str] | None = None, cancel: bool = True, close: bool = True) -> dict[str, Any]:
        """`pause` False and `products` {"INTRADAY"}: the day's square-off (the relay stays live;
        delivery and carried-forward positions, and their orders, are left alone). `cancel` /
        `close` False: an EXIT_ALL (closes only) or a CANCEL_ALL (cancels only) alert."""
        relay = self._relay
        switch = relay.switch.pause(now, strategy=strategy, reason="flatten") if pause else relay.switch.read()
        token = relay.tokens.current()
        deadline = relay.deadline(answer_budget=relay.settings.function_timeout_seconds)
        traded = None if scope is Scope.ALL else self.traded_today(now, strategy)
        book = relay.broker.order_book(token)
        positions = relay.broker.positions(token)
        wanted = {p.security_id for p in positions} | {str(row.get("security_id")) for row in book}
        if traded is not None:
            wanted &= set(traded)
        cancels = [relay.cancel_one(row, token, deadline, book=book)
                   for security_id in sorted(wanted) for row in open_orders(book, security_id)
                   if cancel and (products is None or str(row.get("product", "")).upper() in products)]
        stamp, writer = datetime.fromtimestamp(now, IST).strftime("%Y%m%dT%H%M%S"), secrets.token_hex(8)
        closes = [self._close(position, (traded or {}).get(position.security_id), token, now, stamp, writer, deadline)
                  for position in positions if close and position.net_qty and position.security_id in wanted
                  and (products is None or position.product in products)]
        logger.warning("flatten", extra={"event": ORIGIN, "scope": scope.value, "strategy": strategy,
                                         "cancels": [f"{c['order_id']}:{c['status']}" for c in cancels],
                                         "closes": [f"{c['security_id']}:{c['status']}" for c in closes]})
        return {"status": "flattened", "scope": scope.value, "strategy": strategy, **switch.as_dict(),
                "cancels": cancels, "closes": closes}

    def traded_today(self, now: float, strategy: str | None = None) -> dict[str, str]:
        """Security id → exchange of the instruments the relay sent orders for today (IST)."""
        midnight = datetime.fromtimestamp(now, IST).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        traded: dict[str, str] = {}
        for item in self._ledger.journal(since=midnight, limit=_JOURNAL_LIMIT):
            if (item.get("security_id") and item.get("state") in _TRADED and item.get("mode") == self._relay.mode.value
                    and (strategy is None or item.get("strategy") == strategy)):  # live and paper apart
                request = json.loads(item["request"]) if item.get("request") else {}
                traded[str(item["security_id"])] = str(request.get("exchange") or item.get("exchange") or "")
        return traded

    def _close(self, position: Position, traded_on: str | None, token: str, now: float, stamp: str, writer: str,
               deadline: Any) -> dict[str, Any]:
        relay = self._relay
        said = {"security_id": position.security_id, "product": position.product, "net": position.net_qty}
        exchange_name = position.exchange or traded_on
        if exchange_name not in ("NSE", "BSE"):  # INDstocks may leave it blank on derivative index positions
            return {**said, "status": "not_sent", "message": "the position's exchange is not known: close it by hand"}
        write = closing_order(position, Exchange(exchange_name), remarks_tag(f"flatten-{stamp}", relay.make_nonce()),
                              relay.settings)
        # An account's keys carry its name (its queued items go out with its token: chalicelib/accounts).
        key = account_key(f"{ORIGIN}:{stamp}:{writer}:{position.security_id}:{position.product}", relay.account,
                          relay.book)
        self._ledger.claim(key, None, now, State.QUEUED, token=writer, origin=ORIGIN, symbol=position.symbol or None,
                           exchange=exchange_name, side=write.body["txn_type"], qty=write.body["qty"],
                           order_type="MARKET", product=position.product, security_id=position.security_id,
                           endpoint=write.path, request=json.dumps(write.body), remarks=write.body["remarks"],
                           mode=relay.mode.value)
        latest = relay.latest_slot(deadline)
        slot = relay.pacer.reserve(latest=latest)
        sent = None if slot is None else relay.send_recorded(key, token, write, State.QUEUED, slot, writer=writer,
                                                             deadline=deadline, latest=latest)
        if sent is None or sent.result.outcome.value == "queued":
            message = relay.enqueue(key, write, now, lane=message_group(exchange_name, position.security_id))
            return {**said, "key": key, "status": "queued", "message": message}
        return {**said, "key": key, "status": sent.result.outcome.value, "order_id": sent.result.order_id,
                **({"message": sent.result.message} if sent.result.message else {})}
