"""The minute sweep: resolves what the webhook could not, with one order-book read.

- queued alerts (over the write pace) are sent, paced like any other write;
- sent/unknown alerts are looked up in the order book by their remarks tag: found → placed
  with the broker's order id; still missing after the settle time → absent, and reported;
- placed orders are followed to a terminal broker status (fills, exchange rejections).

Nothing is ever resent: an absent order is reported for the trader to decide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chalicelib.broker import OrderWrite
from chalicelib.errors import RelayError
from chalicelib.ledger import Ledger, State
from chalicelib.notify import Notifier
from chalicelib.observability import logger
from chalicelib.reconcile import find_order, order_by_id, progress
from chalicelib.relay import Relay


@dataclass
class SweepReport:
    examined: int = 0
    sent: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    exchange_rejected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items()}


class Sweeper:
    def __init__(
        self,
        relay: Relay,
        ledger: Ledger,
        notifier: Notifier,
        settle_seconds: int,
        notify_outcomes: frozenset[str] = frozenset({"placed", "rejected", "unknown"}),
    ):
        self._relay = relay
        self._ledger = ledger
        self._notifier = notifier
        self._settle = settle_seconds
        self._notify_outcomes = notify_outcomes

    def run(self, now: float) -> SweepReport:
        report = SweepReport()
        items = self._ledger.open_items()
        report.examined = len(items)
        if not items:
            return report
        token = self._relay.tokens.current()
        book = self._relay.broker.order_book(token)  # once per sweep: the read bucket is 15/s
        for item in items:
            try:
                self._resolve(item, token, book, now, report)
            except RelayError as error:  # one bad item must not stop the others
                logger.warning("sweep item failed", extra={"event": "sweep", "key": item["key"], "reason": error.public_message})
        logger.info("sweep", extra={"event": "sweep", **{k: len(v) if isinstance(v, list) else v for k, v in report.as_dict().items()}})
        return report

    def _announce(self, item: dict[str, Any], now: float) -> None:
        """Tell the trader about a webhook outcome once, here rather than on the webhook's path."""
        state = item.get("state")
        if state in self._notify_outcomes and item.get("announced") != state:
            detail = item.get("order_id") or item.get("message") or ""
            self._report(item, state, f"is {state}{': ' + str(detail) if detail else ''}")
            self._ledger.update(item["key"], None, now, announced=state,
                                still_open=False if state == State.REJECTED.value else None)
        elif state == State.REJECTED.value:
            self._ledger.update(item["key"], None, now, still_open=False)

    def _resolve(self, item: dict[str, Any], token: str, book: list[dict[str, Any]], now: float, report: SweepReport) -> None:
        self._announce(item, now)
        state = item.get("state")
        key = item["key"]
        request = json.loads(item["request"]) if item.get("request") else None
        if state == State.QUEUED.value and request is not None:
            if self._relay.pacer.wait_for_slot():
                write = OrderWrite(item["endpoint"], request)
                self._relay.send_recorded(key, token, write)
                report.sent.append(key)
            return
        if state in (State.SENT.value, State.UNKNOWN.value):
            row = find_order(book, request) if request else None
            if row is not None:
                self._ledger.update(key, State.PLACED, now, order_id=str(row.get("id")), reconciled=True,
                                    message="found in the order book by the sweep")
                report.reconciled.append(key)
                return
            if now - float(item.get("sent_epoch") or item.get("received_epoch") or now) >= self._settle:
                self._ledger.update(key, State.ABSENT, now, message="not in the order book after the settle time; not resent")
                report.absent.append(key)
                self._report(item, "absent", "was not found in the INDstocks order book; it was NOT resent")
            return
        if state == State.PLACED.value and item.get("order_id"):
            row = order_by_id(book, item["order_id"])
            if row is None:
                return
            seen = progress(row)
            self._ledger.update(
                key, None, now, still_open=not seen["terminal"], broker_status=seen["broker_status"],
                traded_qty=seen["traded_qty"], traded_price=seen["traded_price"], exchange_message=seen["exchange_message"],
            )
            if seen["terminal"]:
                report.finished.append(key)
            if seen["exchange_rejected"]:
                report.exchange_rejected.append(key)
                self._report(item, seen["broker_status"].lower(),
                             f"was {seen['broker_status']} at the exchange: {seen['exchange_message'] or 'no reason given'}")

    def _report(self, item: dict[str, Any], outcome: str, what: str) -> None:
        order = f"{item.get('side')} {item.get('qty')} {item.get('symbol')} (alert {item.get('alert_id') or item['key']})"
        self._notifier.warn(f"Order {outcome}", f"The order {order} {what}.", outcome=outcome, key=item["key"])

