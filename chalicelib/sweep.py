"""The minute sweep: resolves what the webhook could not, with one order-book read.

- queued alerts (over the write pace) that the order queue has not sent within
  QUEUE_HANDOFF_SECONDS are sent, paced like any other write, unless they have
  waited longer than the queue limit (default 5 min: the token died, say): then they are marked
  failed, not sent, and reported; a market order is not sent on an hour-old signal;
- alerts left `received` by an invocation that died before sending are marked failed (nothing
  was sent) and reported, for the trader to send again if still wanted; alerts the webhook
  failed (no token, not sent) are reported the same way, once;
- sent/unknown alerts are looked up in the order book by their remarks tag: found → placed
  with the broker's order id; still missing after the settle time → absent, and reported;
- placed orders are followed to a terminal broker status (fills, exchange rejections).

Everything a sweep has to tell the trader goes out as one message at its end (one SNS publish,
one Telegram message), each item still logged on its own line: fifty placed orders are one
message, not fifty, and slow channels cost one timeout, not one per order. An item is marked
announced only after that message was attempted, so a sweep that dies first announces it again.

Nothing is ever resent: an absent order is reported for the trader to decide. One sweep runs at
a time (a lock in the state table: EventBridge may deliver a schedule twice), and every move into
`sent` is conditional besides, so even two sweeps could not send one alert twice.
"""

from __future__ import annotations

import json
import math
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib.broker import OrderWrite, Outcome
from chalicelib.deadline import Deadline
from chalicelib.errors import RelayError, TokenUnavailable
from chalicelib.ledger import Ledger, State
from chalicelib.moments import ist_date
from chalicelib.notify import Notifier
from chalicelib.observability import logger
from chalicelib.portfolio import Position
from chalicelib.reconcile import find_order, order_by_id, progress
from chalicelib.relay import Relay
from chalicelib.state import StateTable

# Longer than the webhook function can live (its timeout is 30 s): an item still `received` after
# this was claimed by an invocation that died before its write.
STUCK_AFTER_SECONDS = 120
# Shorter than the schedule's minute, longer than the sweep function's 30 s timeout.
SWEEP_LOCK_SECONDS = 50
# A digest longer than this is cut (Telegram takes 4096 characters); the journal has the rest.
DIGEST_MAX_CHARS = 3500
# The order book lists today's orders only. A placed order missing from it this long after it
# was sent (an after-market order outlives one book) is no longer followed; otherwise the sweep
# would read the book every minute until the item expired.
FOLLOW_PLACED_SECONDS = 36 * 3600


def _quote_code(position: Position, exchange: str) -> str:
    """The quote code of a position: NSE_3045 for cash, NFO_/BFO_ for derivatives."""
    venue = position.exchange or exchange or "NSE"
    if position.segment == "DERIVATIVE":
        venue = {"NSE": "NFO", "BSE": "BFO"}.get(venue, venue)
    return f"{venue}_{position.security_id}"


# How long the day's square-off is remembered as done (the marker's lease).
SQUARE_OFF_MEMORY_SECONDS = 86400


@dataclass
class SweepReport:
    examined: int = 0
    skipped: bool = False  # another sweep held the lock
    # The broker part could not run: no usable token. Not an error of the sweep (the pre-market
    # check and the webhook's answers already say the token is dead); it resumes once renewed.
    blocked: str | None = None
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    unfollowed: list[str] = field(default_factory=list)  # left the order book before a final status
    exchange_rejected: list[str] = field(default_factory=list)
    squared_off: list[str] = field(default_factory=list)  # square-off or loss limit: each cancel and close
    day_pnl: str | None = None  # MAX_DAILY_LOSS: the day's P&L the sweep computed
    paper_filled: list[str] = field(default_factory=list)  # paper orders the paper exchange filled
    paper_day_pnl: str | None = None  # a live stage's paper twin: its MAX_DAILY_LOSS P&L

    def as_dict(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items()}


@dataclass
class _Digest:
    """What one sweep tells the trader, sent once at its end."""

    lines: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    # (key, state announced, still_open) to record once the message has gone out
    announced: list[tuple[str, str, bool | None]] = field(default_factory=list)

    def add(self, outcome: str, line: str) -> None:
        self.lines.append(line)
        self.outcomes[outcome] += 1

    def subject(self) -> str:
        counts = ", ".join(f"{count} {outcome}" for outcome, count in self.outcomes.items())
        return f"Orders: {counts}"[:100]  # SNS subjects stop at 100 characters

    def message(self) -> str:
        text, shown = "", 0
        for line in self.lines:
            if len(text) + len(line) + 1 > DIGEST_MAX_CHARS:
                break
            text, shown = text + line + "\n", shown + 1
        if shown < len(self.lines):
            text += f"… and {len(self.lines) - shown} more: see the journal (relay orders).\n"
        return text.rstrip("\n")


class Sweeper:
    def __init__(
        self,
        relay: Relay,
        ledger: Ledger,
        state: StateTable,
        notifier: Notifier,
        settle_seconds: int,
        notify_outcomes: frozenset[str] = frozenset({"placed", "rejected", "unknown"}),
        queue_max_age_seconds: int = 300,
        queue_handoff_seconds: float = 0,
    ):
        self._relay = relay
        self._ledger = ledger
        self._state = state
        self._notifier = notifier
        self._settle = settle_seconds
        self._notify_outcomes = notify_outcomes
        self._queue_max_age = queue_max_age_seconds
        # With an order queue, a queued alert is the queue's until then (it sends in arrival order).
        self._queue_handoff = queue_handoff_seconds
        self._digest = _Digest()  # the running sweep's; run() starts a fresh one (one sweep at a time)
        self._writer = ""  # the running sweep's token, written with each of its ledger transitions
        self._deadline: Deadline | None = None

    def run(self, now: float) -> SweepReport:
        holder = secrets.token_hex(8)
        if not self._state.acquire("sweep", now, SWEEP_LOCK_SECONDS, holder=holder):
            logger.info("sweep skipped: another sweep is running", extra={"event": "sweep", "outcome": "busy"})
            return SweepReport(skipped=True)
        self._digest = _Digest()
        self._writer = holder
        # A schedule has no caller waiting for an answer: its whole budget is the hard one.
        self._deadline = self._relay.deadline(answer_budget=math.inf)
        try:
            report = self._sweep(now)
            for relay in self._stage_relays():
                self._square_off_if_due(now, report, relay)
                self._stop_at_the_loss_limit(now, report, relay)
            self._state.note("sweep", now, outcome=report.blocked or "done", examined=str(report.examined))
            return report
        finally:
            try:
                self._send_digest(now)
            finally:  # the lock goes back whatever the digest did (release itself never raises)
                self._state.release("sweep", holder)

    def _stage_relays(self) -> list[Relay]:
        """The stage's relay, and on a live stage its paper twin: each squares off and keeps its
        loss limit apart (a paper loss never pauses live trading)."""
        paper = self._relay.paper_relay()
        return [self._relay] + ([paper] if paper is not None and paper is not self._relay else [])

    def _fill_paper_orders(self, report: SweepReport) -> None:
        """The paper exchange's minute: resting paper orders against one batch of last prices."""
        paper = self._relay.paper_relay()
        if paper is None:
            return
        from chalicelib.paper import PaperBroker

        assert isinstance(paper.broker, PaperBroker)
        try:
            report.paper_filled = paper.broker.run_exchange(paper.tokens.current())
        except RelayError as error:
            logger.warning("paper orders not checked", extra={"event": "sweep", "outcome": "paper_unchecked",
                                                             "cause": error.cause})

    def _square_off_if_due(self, now: float, report: SweepReport, relay: Relay) -> None:
        """SQUARE_OFF_AT (15:15 IST by default; off to never): once a trading day, the first sweep
        from that minute cancels the open INTRADAY orders and closes the INTRADAY positions of
        the instruments the relay traded today, and tells the trader in one message. The relay
        stays live (nothing is paused); a square-off that fails is tried again the next minute."""
        from chalicelib.flatten import Flattener, Scope  # the sweep's cold start does not need it

        if not relay.schedule.square_off_due(now):
            return
        once = f"{_marker(relay, self._relay)}square-off#{ist_date(now).isoformat()}"
        if not self._state.acquire(once, now, SQUARE_OFF_MEMORY_SECONDS, holder=self._writer):
            return  # done today
        try:
            result = Flattener(relay, self._ledger).run(now, scope=Scope.RELAY, pause=False,
                                                              products=frozenset({"INTRADAY"}))
        except RelayError as error:
            self._state.release(once, self._writer)
            logger.warning("square-off failed; tried again next minute",
                           extra={"event": "square_off", "outcome": "failed", "cause": error.cause})
            return
        lines = ([f"cancel {c['order_id']}: {c['status']}" for c in result["cancels"]]
                 + [f"close {c['security_id']} net {c['net']}: {c['status']}" for c in result["closes"]])
        report.squared_off += lines
        if lines or relay is self._relay:  # a live stage's paper twin speaks only when it closed something
            self._notifier.warn("square-off", f"{_paper(relay)}Square-off at {relay.settings.square_off_at} IST: "
                                f"{'; '.join(lines) or 'nothing open'}.", outcome="square_off", actions=len(lines))

    def _stop_at_the_loss_limit(self, now: float, report: SweepReport, relay: Relay) -> None:
        """MAX_DAILY_LOSS: each minute, the day's P&L of the instruments the relay traded today
        (realised from the positions read, unrealised from one batch of last prices). At or past
        the loss, once a day: pause the stage until the next session opens, flatten those
        instruments, tell the trader. Positions that cannot be priced are left out, and said."""
        from chalicelib.flatten import Flattener, Scope  # the sweep's cold start does not need it

        limit = relay.settings.max_daily_loss
        if limit is None or not relay.schedule.in_session(now):
            return  # outside the session nothing moves: no reads every minute of the night
        flattener = Flattener(relay, self._ledger)
        try:
            token = relay.tokens.current()
            traded = flattener.traded_today(now)
            positions = [p for p in relay.broker.positions(token) if p.security_id in traded]
            codes = {p.security_id: _quote_code(p, traded[p.security_id]) for p in positions if p.net_qty}
            prices = relay.broker.last_prices(token, sorted(set(codes.values()))) if codes else None
        except RelayError as error:
            logger.warning("day's P&L not computed", extra={"event": "loss_limit", "outcome": "unknown",
                                                           "cause": error.cause})
            return
        unpriced = sorted(code for code in codes.values() if prices is None or code not in prices.prices)
        pnl = sum((p.realized_profit + (p.unrealized(prices.prices[codes[p.security_id]])
                                         if prices is not None and codes.get(p.security_id) in prices.prices else 0)
                   for p in positions), Decimal(0))
        pnl = pnl.quantize(Decimal("0.01"))
        if relay is self._relay:
            report.day_pnl = str(pnl)
        else:
            report.paper_day_pnl = str(pnl)
        if pnl > -limit:
            return
        if not self._state.acquire(f"{_marker(relay, self._relay)}loss-limit#{ist_date(now).isoformat()}", now,
                                   SQUARE_OFF_MEMORY_SECONDS, holder=self._writer):
            return  # flattened already today
        reopens = relay.schedule.next_session_open(now)
        if relay is self._relay:  # the stage's own loss pauses it; its paper twin's only flattens paper
            relay.switch.pause(now, reason=f"MAX_DAILY_LOSS: the day's P&L ₹{pnl} reached the limit of -₹{limit}",
                               until=reopens)
        result = flattener.run(now, scope=Scope.RELAY, pause=False)
        lines = ([f"cancel {c['order_id']}: {c['status']}" for c in result["cancels"]]
                 + [f"close {c['security_id']} net {c['net']}: {c['status']}" for c in result["closes"]])
        report.squared_off += lines
        self._notifier.warn(
            "daily loss limit", f"{_paper(relay)}The day's P&L is ₹{pnl}, at or past MAX_DAILY_LOSS (₹{limit}): the relay "
            f"{'is paused until the next session and ' if relay is self._relay else ''}flattened what it traded "
            f"today: {'; '.join(lines) or 'nothing open'}."
            + (f" Not priced: {', '.join(unpriced)}." if unpriced else ""), outcome="loss_limit", pnl=str(pnl))

    def _send_digest(self, now: float) -> None:
        digest = self._digest
        if digest.lines:
            self._notifier.deliver(digest.subject(), digest.message())
        for key, state, still_open in digest.announced:
            try:  # a failed alert resent meanwhile is a new claim: leave that one open
                self._ledger.update(key, None, now, announced=state, still_open=still_open,
                                    expect=State.FAILED if state == State.FAILED.value else None)
            except RelayError as error:  # announced again by the next sweep: better twice than never
                logger.warning("announcement not recorded", extra={"event": "sweep", "key": key, "cause": error.cause})

    def _sweep(self, now: float) -> SweepReport:
        report = SweepReport()
        self._fill_paper_orders(report)  # first: the fills it makes are followed below
        items = self._ledger.open_items()
        report.examined = len(items)
        # Decisions by the clock alone come first: they must be taken even when the token is dead
        # (a dead token is what leaves alerts queued for long).
        items = [item for item in items if not self._guarded(self._settle_by_clock, item, now, report)]
        if not items:
            return report
        try:
            token = self._relay.tokens.current()
            books: dict[str, tuple[Relay, list[dict[str, Any]]]] = {}  # live and paper items, each their book
            for item in items:
                relay = self._relay.for_item(item)
                if relay.mode.value not in books:  # once per sweep: the read bucket is 15/s
                    books[relay.mode.value] = (relay, relay.broker.order_book(token))
        except TokenUnavailable:
            report.blocked = "token_unavailable"
            logger.warning("sweep waiting for a valid token", extra={"event": "sweep", "outcome": "blocked",
                                                                      "waiting": len(items), "failed": len(report.failed)})
            return report
        for item in items:
            self._guarded(self._resolve, item, now, report, token, *books[self._relay.for_item(item).mode.value])
        logger.info("sweep", extra={"event": "sweep", **{k: len(v) if isinstance(v, list) else v for k, v in report.as_dict().items()}})
        return report

    def _announce(self, item: dict[str, Any], now: float) -> None:
        """Tell the trader about a webhook outcome once, here rather than on the webhook's path."""
        state = item.get("state")
        if state in self._notify_outcomes and item.get("announced") != state:
            detail = item.get("order_id") or item.get("message") or ""
            self._report(item, state, f"is {state}{': ' + str(detail) if detail else ''}")
            self._digest.announced.append((item["key"], state, False if state == State.REJECTED.value else None))
        elif state == State.REJECTED.value:
            self._ledger.update(item["key"], None, now, still_open=False)

    @staticmethod
    def _guarded(step: Callable[..., bool | None], item: dict[str, Any], *args: Any) -> bool:
        """Run one item's step; one bad item must not stop the others (it stays open)."""
        try:
            return bool(step(item, *args))
        except RelayError as error:
            logger.warning("sweep item failed", extra={"event": "sweep", "key": item["key"],
                                                       "reason": error.public_message, "cause": error.cause})
            return True  # not retried in this sweep

    def _settle_by_clock(self, item: dict[str, Any], now: float, report: SweepReport) -> bool:
        """Items whose fate needs no broker: True when this sweep is done with the item."""
        state, key = item.get("state"), item["key"]
        if state == State.FAILED.value:  # failed by the webhook (no token, not sent): told once, then closed
            self._report(item, "failed", f"was NOT sent: {item.get('message') or 'no reason recorded'}; nothing was placed")
            self._digest.announced.append((key, state, False))
            return True
        if state == State.RECEIVED.value:
            if _seconds_since_sent(item, now) >= STUCK_AFTER_SECONDS and self._ledger.settle(
                item, State.FAILED, now, writer=self._writer,
                message="the relay stopped before sending it; nothing was placed",
            ):
                report.failed.append(key)
                self._report(item, "failed", "was never sent: the relay stopped before sending it; nothing was placed")
            return True
        waited = now - float(item.get("received_epoch") or now)
        if state == State.QUEUED.value and waited > self._queue_max_age:
            if self._ledger.settle(item, State.FAILED, now, writer=self._writer,
                                   message=f"queued for {waited:.0f} s without being sent; not sent, the signal is too old"):
                report.failed.append(key)
                self._report(item, "expired", f"waited {waited:.0f} s in the queue (longer than {self._queue_max_age} s) "
                             "and was NOT sent; nothing was placed")
            return True
        return False

    def _resolve(self, item: dict[str, Any], now: float, report: SweepReport, token: str, relay: Relay,
                 book: list[dict[str, Any]]) -> None:
        self._announce(item, now)
        state = item.get("state")
        key = item["key"]
        request = json.loads(item["request"]) if item.get("request") else None
        if state == State.QUEUED.value and request is not None:
            if now - float(item.get("received_epoch") or now) < self._queue_handoff:
                return  # the order queue is still on it
            if relay.hold_if_paused(item, now):
                return
            assert self._deadline is not None
            slot = relay.pacer.reserve(latest=relay.latest_slot(self._deadline))
            if slot is not None:  # else it stays queued for the next sweep
                write = OrderWrite(item["endpoint"], request)
                sent = relay.send_recorded(key, token, write, State.QUEUED, slot, writer=self._writer,
                                                 deadline=self._deadline)
                if sent is not None and sent.result.outcome is not Outcome.QUEUED:
                    report.sent.append(key)
            return
        if state in (State.SENT.value, State.UNKNOWN.value):
            row = find_order(book, request) if request else None
            if row is not None:
                if self._ledger.settle(item, State.PLACED, now, writer=self._writer, order_id=str(row.get("id")),
                                       reconciled=True, message="found in the order book by the sweep"):
                    report.reconciled.append(key)
                return
            # The settle time exceeds the function timeout (Settings refuses less), so an invocation
            # still writing this order cannot be overtaken; and the move is conditional on the
            # state and send token read, so a record made meanwhile is never overwritten.
            if _seconds_since_sent(item, now) >= self._settle and self._ledger.settle(
                item, State.ABSENT, now, writer=self._writer, message="not in the order book after the settle time; not resent",
            ):
                report.absent.append(key)
                self._report(item, "absent", "was not found in the INDstocks order book; it was NOT resent")
            return
        if state == State.PLACED.value and item.get("order_id"):
            row = order_by_id(book, item["order_id"])
            if row is None:
                if _seconds_since_sent(item, now) >= FOLLOW_PLACED_SECONDS:
                    self._ledger.settle(item, None, now, writer=self._writer, still_open=False,
                                        follow_message="no longer in the order book; its final status was not seen")
                    report.unfollowed.append(key)
                    logger.info("placed order no longer followed", extra={"event": "sweep", "key": key,
                                                                           "outcome": "unfollowed"})
                return
            seen = progress(row)
            self._ledger.settle(
                item, None, now, writer=self._writer, still_open=not seen["terminal"], broker_status=seen["broker_status"],
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
        paper = "paper " if item.get("mode") == "paper" else ""  # "The paper order BUY 5 SBIN …"
        self._notifier.record(f"Order {outcome}", outcome=outcome, key=item["key"], **({"mode": "paper"} if paper else {}))
        self._digest.add(outcome, f"The {paper}order {order} {what}.")


def _marker(relay: Relay, stage: Relay) -> str:
    """A paper twin's once-a-day markers are its own (the stage's square-off is not the twin's)."""
    return "" if relay is stage else "paper-"


def _paper(relay: Relay) -> str:
    return "[paper] " if relay.mode.value == "paper" else ""


def _seconds_since_sent(item: dict[str, Any], now: float) -> float:
    """Age of the item's write (of its claim, for an item never sent)."""
    return now - float(item.get("sent_epoch") or item.get("received_epoch") or now)
