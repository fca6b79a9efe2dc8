"""An alert's whole life, top to bottom.

    parse → authenticate → validate → accounts/mode → dispatch → build the order
      → admit it → send it once (or queue it) → classify the reply → answer + one log line

Each step is one call whose name says what it decides; the rules live in the modules called.
What an alert asks beyond one order is a flow of chalicelib/execution/, imported where it is
used: position targets and exits (`targets`), cancels and every-instrument actions
(`cancels`), an order split below its freeze limit (`children`). Time and randomness come in
as arguments so tests neither sleep nor patch clocks.

What an answer's `status` says happened (the README's answer table; tests/test_readme_answers.py
holds the table to the statuses this module and chalicelib/execution/ answer), and where each is decided:

    placed                     the broker took the order            execution/records.py
    rejected                   the broker refused it                execution/records.py
    token_invalid              the token was dead: nothing placed   execution/records.py
    not_sent                   provably not sent                    execution/records.py
    unknown                    may or may not exist: see the book   execution/records.py
    queued                     over the pace: sent in its slot      here, execution/children.py
    duplicate                  a copy of an alert already claimed   execution/records.py
    noop                       already at the target, nothing open  execution/targets.py, cancels.py
    cancelled                  CANCEL / CANCEL_ALL, each cancel     execution/cancels.py
    exited                     EXIT_ALL, each closing order         execution/cancels.py
    split                      child orders below the freeze limit  execution/children.py
    held_back                  a child not sent after a bad one     execution/children.py
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import auth
from chalicelib.accounts.model import Account, AccountBook, account_book, scaled_alert
from chalicelib.alerts import Action, Alert, Mode, refuse_oversized
from chalicelib.broker import BrokerClient, OrderWrite, Outcome, WriteResult
from chalicelib.config import Settings
from chalicelib.deadline import MIN_READ_SECONDS, Deadline, Timeouts
from chalicelib.dialects import read_alert
from chalicelib.errors import AlertRejected, FieldProblem, Paused, RelayError, TokenUnavailable
from chalicelib.execution.answers import (
    Answer,
    Trail,
    problem_text,
    severity,
    staleness,
    with_described,
)
from chalicelib.execution.build import build_write, ledger_request
from chalicelib.execution.records import (
    ADMIT_ATTEMPTS,
    LEFT_FOR_THE_SWEEP,
    STATE_AFTER,
    Sent,
    as_recorded,
    attribute,
    duplicate,
    failed,
    sent_answer,
)
from chalicelib.fno.lots import FreezeLimits, freeze_limits
from chalicelib.instruments import InstrumentMaster
from chalicelib.ledger import Ledger, State, ledger_key
from chalicelib.observability import log_alert, logger, tag_alert
from chalicelib.order_queue import OrderQueue, message_group
from chalicelib.pacing import WritePacer
from chalicelib.reconcile import find_order
from chalicelib.risk import RiskGuard
from chalicelib.strategy.windows import Schedule
from chalicelib.tokens import TokenStore, WebhookSecret

if TYPE_CHECKING:  # built on the first derivative alert (services.py): its master stays out of a cold start
    from chalicelib.fno.master import Derivatives
    from chalicelib.kill_switch import KillSwitch
    from chalicelib.positions import PositionDesk

# Kept under their old names for the modules and tests that import them from here.
_Trail = Trail
_severity = severity
__all__ = ["Answer", "FanOut", "IncomingAlert", "Relay", "Sent", "Trail", "_Trail", "_severity"]


@dataclass(frozen=True)
class IncomingAlert:
    raw_body: bytes
    headers: Mapping[str, str]  # lower-case names
    source_ip: str | None = None
    request_id: str | None = None
    # What the Lambda context says is left of the invocation, when there is one.
    remaining_seconds: float | None = None
    require_signature: bool = False  # the route open to any IP: a body secret alone is refused
    route: str | None = None  # `openalgo/<endpoint>` on OpenAlgo's paths (chalicelib/dialects)


# Sends one valid alert to its target accounts: (key, alert, targets, now, deadline, trail) → the answer.
FanOut = Callable[[str, Alert, tuple[Account, ...], float, Deadline, Trail], Answer]


class Relay:
    def __init__(
        self,
        settings: Settings,
        *,
        webhook_secret: WebhookSecret,
        tokens: TokenStore,
        instruments: InstrumentMaster,
        broker: BrokerClient,
        ledger: Ledger,
        pacer: WritePacer,
        risk: RiskGuard,
        switch: KillSwitch,
        make_nonce: Callable[[], str] = lambda: secrets.token_hex(6),
        make_token: Callable[[], str] = lambda: secrets.token_hex(8),
        perf_counter: Callable[[], float] = time.perf_counter,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_token_dead: Callable[[float], object] = lambda now: None,
        order_queue: OrderQueue | None = None,
        derivatives: Derivatives | Callable[[], Derivatives] | None = None,
        positions: PositionDesk,
        book: AccountBook | None = None,
        account: Account | None = None,
        mode: Mode = Mode.LIVE,
        paper_twin: Relay | Callable[[], Relay] | None = None,
    ):
        self.settings = settings
        # Paper (chalicelib/paper/): `broker` is a PaperBroker and nothing this relay does reaches
        # INDstocks' write endpoints. A live relay's `paper_twin` (built on first use) takes the
        # alerts that ask `"mode":"paper"`: same ledger and checks, the paper broker.
        self.mode = mode
        self._paper_twin = paper_twin
        self.webhook_secret = webhook_secret
        self.tokens = tokens
        self.instruments = instruments
        self.broker = broker
        self.ledger = ledger
        self.pacer = pacer
        self.risk = risk
        self.switch = switch
        self._make_nonce = make_nonce
        self._make_token = make_token
        self._perf = perf_counter
        self._clock = clock
        self._sleep = sleep
        self.on_token_dead = on_token_dead  # the trader is told at once, once a day (token_alarm)
        self.order_queue = order_queue
        # None: futures and options are refused; a factory: built on the first derivative alert.
        self._derivatives = derivatives
        self.freeze_limits: FreezeLimits = freeze_limits(settings.freeze_limits)
        self.positions = positions  # where an instrument stands: targets, exits, cancels
        self.schedule = Schedule.from_settings(settings)  # ENTRY_WINDOW, TRADING_CALENDAR, freshness
        self._configured = Timeouts(settings.broker_connect_timeout, settings.broker_read_timeout)
        self.book = book or account_book(settings)  # the stage's accounts; an alert may name several
        self.account = account or self.book.first  # the one this relay sends for, with its token
        # Sends an alert to accounts other than (or besides) this relay's own (chalicelib/accounts/desk.py).
        self.fan_out: FanOut | None = None

    def deadline(self, remaining_seconds: float | None = None, *, answer_budget: float | None = None) -> Deadline:
        """This invocation's budget, from now (its arrival)."""
        return Deadline.at_arrival(
            self._clock(), function_timeout=self.settings.function_timeout_seconds,
            answer_budget=self.settings.answer_budget_seconds if answer_budget is None else answer_budget,
            remaining=remaining_seconds,
        )

    def for_mode(self, mode: str | None) -> Relay:
        """The relay that acts for `mode` (an alert's, a ledger item's): a paper relay for
        everything (a paper stage never trades), a live one for live, its paper twin for paper."""
        if self.mode is Mode.PAPER or mode != Mode.PAPER.value:
            return self
        if callable(self._paper_twin):
            self._paper_twin = self._paper_twin()
        if self._paper_twin is None:
            raise AlertRejected(detail=[FieldProblem("mode", "paper trading is not set up for this stage")])
        return self._paper_twin

    def for_item(self, item: dict[str, Any]) -> Relay:
        return self.for_mode(item.get("mode"))

    def paper_relay(self) -> Relay | None:
        """This stage's paper relay: itself on a paper stage, else its twin (None without one)."""
        return self if self.mode is Mode.PAPER else self.for_mode(Mode.PAPER.value) if self._paper_twin else None

    @property
    def derivatives(self) -> Derivatives | None:
        if callable(self._derivatives):
            self._derivatives = self._derivatives()
        return self._derivatives

    @property
    def write_timeouts(self) -> Timeouts:
        """The configured connect and read timeouts of one order write."""
        return self._configured

    def latest_slot(self, deadline: Deadline) -> float:
        """The latest pacing slot a write of this invocation may take: within the allowed wait from
        arrival, and early enough that the write and its record fit before the hard deadline."""
        return self.pacer.latest_slot(deadline.arrival, deadline.latest_write_start(self._configured))

    def handle_alert(self, incoming: IncomingAlert, now: float) -> Answer:
        started = self._perf()
        deadline = self.deadline(incoming.remaining_seconds)
        trail = Trail({"source_ip": incoming.source_ip, "request_id": incoming.request_id}, started)
        try:
            answer = self._place(incoming, now, trail, deadline)
        except RelayError as error:
            if isinstance(error, TokenUnavailable):
                self.on_token_dead(now)
            trail.note(
                status_code=error.status_code,
                reason=error.public_message,
                cause=error.cause,
                fields=[problem.field for problem in error.detail] or None,
                latency_ms=round((self._perf() - started) * 1000, 1),
            )
            log_alert(error.error, **trail.fields)
            raise
        if "accounts" not in answer.body and "token_invalid" in (  # several accounts: each was told by its own
                answer.body["status"], *(child["status"] for child in answer.body.get("children", ()))):
            self.on_token_dead(now)
        if trail.fields.get("mode") == Mode.PAPER.value:
            answer.body["mode"] = Mode.PAPER.value
        trail.note(status_code=answer.status_code, latency_ms=round((self._perf() - started) * 1000, 1))
        log_alert(answer.body["status"], **trail.fields)
        return answer

    def _place(self, incoming: IncomingAlert, now: float, trail: Trail, deadline: Deadline) -> Answer:
        refuse_oversized(incoming.raw_body)
        parsed = read_alert(incoming.raw_body, incoming.route)  # its format: chalicelib/dialects
        trail.note(format=parsed.name,
                   auth=self._authenticate(incoming, parsed.claimed_secret, now, unreadable=parsed.problem is not None))
        if parsed.problem is not None:
            raise AlertRejected(detail=[parsed.problem])
        alert = parsed.alert()
        targets = self.book.targets(alert.accounts)  # an unknown or disabled account: 400, nothing sent
        key = ledger_key(alert)
        trail.note(key=key, **alert.summary())
        tag_alert(alert_id=alert.alert_id, ledger_key=key)
        if targets != (self.account,):  # other accounts than this relay's own: each its own relay
            if self.fan_out is None:
                raise AlertRejected(detail=[FieldProblem("accounts", "this relay sends to its first account only")])
            return self.fan_out(key, alert, targets, now, deadline, trail)
        return self.dispatch(key, alert, now, deadline, trail)

    def dispatch(self, key: str, alert: Alert, now: float, deadline: Deadline, trail: Trail) -> Answer:
        """A parsed, authenticated and valid alert, sent for this relay's account under `key`
        (its ledger item): its quantity times the account's multiplier, then the order, target,
        cancel or every-instrument action it asks for. Raises the refusal it records."""
        writer = self._make_token()  # this invocation's: tells its own retried writes from others'
        try:
            scaled = scaled_alert(alert, self.account.multiplier)
        except RelayError as error:
            return self.refuse(key, alert, now, writer, error)
        if scaled is not alert:
            alert = scaled
            trail.note(**alert.summary())
        if alert.mode is Mode.LIVE and self.mode is Mode.PAPER:
            who = (f"account {self.account.name} trades on paper only (its ACCOUNTS mode)" if self.account.mode
                   else "this stage trades on paper only (TRADING_MODE=paper)")
            return self.refuse(key, alert, now, writer, AlertRejected(detail=[FieldProblem(
                "mode", f"is live, but {who}; nothing was sent")]))
        relay = self.for_mode(alert.mode.value if alert.mode else self.mode.value)
        alert = alert.model_copy(update={"mode": relay.mode})  # recorded with each of its ledger items
        trail.note(mode=relay.mode.value)
        return relay._decide(key, alert, now, writer, deadline, trail)

    def _decide(self, key: str, alert: Alert, now: float, writer: str, deadline: Deadline, trail: Trail) -> Answer:
        """What the alert asks, done by this relay (live, or paper)."""
        if alert.action.every_instrument:
            from chalicelib.execution.cancels import act_on_every_instrument  # not on a plain alert's path

            return act_on_every_instrument(self, key, alert, now, writer, trail)
        if alert.action is Action.CANCEL:
            from chalicelib.execution.cancels import cancel_open_orders

            return cancel_open_orders(self, key, alert, now, writer, deadline, trail)
        if alert.action is Action.EXIT or alert.position_size is not None:
            from chalicelib.execution.targets import place_to_target

            return place_to_target(self, key, alert, now, writer, deadline, trail)
        refused = self.timing(alert, now, is_exit=False)
        if refused:
            return self.refuse(key, alert, now, writer, refused)
        return self.send(key, alert, alert, now, writer, deadline, trail)

    def timing(self, alert: Alert, now: float, *, is_exit: bool) -> RelayError | None:
        """Too old, from the future, outside ENTRY_WINDOW (an entry) or the session (an exit), or
        on a closed day: the refusal. An after-market order of a plain alert is outside the
        hours by design: only its freshness counts."""
        if alert.amo and alert.position_size is None and alert.action is not Action.EXIT:
            return staleness(alert, now, self.settings.max_alert_age_seconds)
        age = None if alert.time is None else now - alert.time.timestamp()
        return self.schedule.refusal(now, is_exit=is_exit, age_seconds=age)

    def send(self, key: str, alert: Alert, order: Alert, now: float, writer: str, deadline: Deadline,
              trail: Trail, *, token: str | None = None, extra: dict[str, Any] | None = None) -> Answer:
        """Build the order `order` asks (the alert itself, or the side and quantity a target
        made of it), check its limits, then admit it and write it once, or queue it. `alert`
        is what the ledger records the claim under; `extra`, what else the item and the answer say."""
        described: dict[str, Any] = dict(extra or {})  # a derivative's contract and price rounding, …
        try:
            built = build_write(self, alert, order, now, token or self.tokens.current(), described)
            token = self.risk.check_limits(built.write.body, built.token, now, alert_price=built.alert_price,
                                           price_is=built.price_is)
        except RelayError as error:
            return self.refuse(key, alert, now, writer, error)
        write, children = built.write, built.children
        security_id = str(write.body["security_id"])
        trail.note(security_id=security_id, remarks=write.body["remarks"], endpoint=write.path,
                   **({"contract": described["contract"]} if "contract" in described else {}))
        request = ledger_request(write, described)
        lane = message_group(str(write.body["exchange"]), security_id)
        if len(children) > 1:
            from chalicelib.execution.children import place_children  # an order over its freeze limit

            return with_described(place_children(self, key, alert, now, writer, request, write, children, lane,
                                                 token, deadline, trail), described)

        try:
            slot = self._admit(key, alert, now, writer, request, lane, deadline, trail)
        except Paused as paused:
            return self.refuse(key, alert, now, writer, paused)
        if slot is None:
            return with_described(self._queue(key, alert, now, writer, request, write, lane), described)
        sent = self._write_and_record(key, token, write, slot, writer=writer, deadline=deadline, trail=trail)
        if sent.result.outcome is Outcome.QUEUED and sent.ledger_updated:  # late for its slot: nothing written
            return with_described(Answer(202, {"status": "queued", "key": key, "remarks": write.body["remarks"],
                                               "message": self.enqueue(key, write, now)}), described)
        return with_described(sent_answer(sent, write), described)

    def refuse(self, key: str, alert: Alert, now: float, writer: str, error: RelayError) -> Answer:
        """Record a refusal (or a failure before anything was sent) as the alert's claim, and raise
        it; a copy of an alert already claimed is answered as the duplicate it is."""
        final = isinstance(error, AlertRejected)  # refused input is final, and so is a paused alert
        state = State.PAUSED if isinstance(error, Paused) else State.REJECTED if final else State.FAILED
        claim = self.ledger.claim(
            key, alert, now, state, token=writer,
            dedupe_window=self.settings.dedupe_window_seconds, message=problem_text(error),
            # A missing token or dependency leaves the alert re-sendable, and open until the sweep
            # has reported it.
            open=None if final else "open",
        )
        if not claim.won:
            return duplicate(claim)
        raise error

    def _admit(self, key: str, alert: Alert, now: float, writer: str, request: dict[str, Any], lane: str,
               deadline: Deadline, trail: Trail) -> float | None:
        """The warm path's one write before the broker request: a TransactWriteItems that claims the
        alert's item as `sent`, takes its pacing slot and counts it for the day, if the
        instrument has nothing waiting in the order queue. The slot to write in; None when the
        alert must be queued instead (no slot within the short wait, a queued write of the same
        instrument ahead of it, the day's limit, or the claim taken: the queue's claim then
        tells a duplicate from a renewable alert)."""
        latest = self.latest_slot(deadline)
        seen: float | None = None
        replacing: dict[str, Any] | None = None
        for attempt in range(ADMIT_ATTEMPTS):
            pace, slot = self.pacer.slot_operation(self._clock(), seen)
            reasons = self.ledger.transact([
                self.ledger.claim_sent_operation(key, alert, now, token=writer, replacing=replacing, **request),
                pace, self.risk.count_operation(now), self.pacer.lane_free_operation(lane, now),
                self.switch.check_operation(alert.strategy, now),
            ], token=f"{writer}-{attempt}")
            if reasons is None:
                return slot
            claim_reason, pace_reason, count_reason, lane_reason, switch_reason = reasons[:5]
            if failed(switch_reason) and not failed(claim_reason):
                raise self.switch.refusal(alert.strategy)
            if failed(claim_reason):
                if attribute(claim_reason, "claim_token") == writer:
                    return slot  # ours: applied, and resent by botocore after its reply was lost
                if replacing is None:
                    replacing = self.ledger.renew(claim_reason.get("Item"), now, self.settings.dedupe_window_seconds)
                    if replacing is not None:
                        continue  # an identical alert past the dedupe window: a new one
                trail.note(admission="claimed_before")  # a duplicate: the queue's claim answers it
                return None
            if failed(count_reason) or failed(lane_reason):
                trail.note(admission="day_limit" if failed(count_reason) else "lane_busy")
                return None
            if failed(pace_reason):
                next_slot = attribute(pace_reason, "next_slot")
                if next_slot is None or float(next_slot) > latest:
                    trail.note(admission="over_pace")
                    return None
                seen = float(next_slot)  # within the short wait: take exactly that slot
            # else a conflict with a concurrent transaction on the same items: try again
        trail.note(admission="contended")
        return None

    def _queue(self, key: str, alert: Alert, now: float, writer: str, request: dict[str, Any], write: OrderWrite,
               lane: str) -> Answer:
        """Claim the alert `queued`, count it for the day and hand it to the order queue: 202.

        With a queue, the claim, the count and the hold on the instrument's lane are one
        transaction (a burst's queued alerts each make two calls: this and the queue's); when it
        cannot be applied (the key exists, a conflict) the steps below decide one by one."""
        if self._queues():
            reasons = self.ledger.transact([
                self.ledger.claim_operation(key, alert, now, State.QUEUED, token=writer, **request),
                self.risk.count_operation(now), self.pacer.hold_lane_operation(lane, now),
                self.switch.check_operation(alert.strategy, now),
            ], token=f"{writer}-queued")
            claim_reason = (reasons or [{}])[0]
            if reasons is None or attribute(claim_reason, "claim_token") == writer:
                return Answer(202, {"status": "queued", "key": key, "remarks": write.body["remarks"],
                                    "message": self.enqueue(key, write, now, lane=lane, lane_held=True)})
            if not failed(claim_reason) and failed(reasons[3]):
                return self.refuse(key, alert, now, writer, self.switch.refusal(alert.strategy))
            if not failed(claim_reason) and failed(reasons[1]):
                return self.refuse(key, alert, now, writer, self.risk.day_limit_reached())
        claim = self.ledger.claim(key, alert, now, State.QUEUED, token=writer,
                                  dedupe_window=self.settings.dedupe_window_seconds, **request)
        if not claim.won:
            return duplicate(claim)
        try:
            self.risk.take(now)
        except RelayError as error:
            final = isinstance(error, AlertRejected)
            self.ledger.update(key, State.REJECTED if final else State.FAILED, now, message=problem_text(error),
                               still_open=None if final else True)
            raise
        return Answer(202, {"status": "queued", "key": key, "remarks": write.body["remarks"],
                            "message": self.enqueue(key, write, now, lane=lane)})

    def make_nonce(self) -> str:
        return self._make_nonce()

    def hold_if_paused(self, item: dict[str, Any], now: float) -> bool:
        """A queued order about to be sent (by the queue's consumer or the sweep) while the kill
        switch is on for its stage or strategy: recorded `paused`, never sent. True if so. A
        flatten's own closing orders go: the pause was taken for them."""
        if item.get("origin") == "flatten" or not self.switch.read_recent().stops(item.get("strategy"), now):
            return False
        if self.ledger.update(item["key"], State.PAUSED, now, expect=State.QUEUED,
                              message="not sent: the relay was paused while it waited in the queue"):
            if item.get("security_id") and item.get("request"):
                body = json.loads(item["request"])
                self.pacer.release_lane(message_group(str(body["exchange"]), str(body["security_id"])))
        return True

    def cancel_one(self, row: dict[str, Any], token: str, deadline: Deadline, trail: Trail | None = None,
                   book: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Cancel one open order of the book, once, in a pacing slot of its own: its outcome
        (chalicelib/execution/cancels.py; the flatten's cancels too)."""
        from chalicelib.execution.cancels import cancel_one

        return cancel_one(self, row, token, deadline, trail, book)

    def _queues(self) -> bool:
        return self.order_queue is not None and self.order_queue.configured

    def enqueue(self, key: str, write: OrderWrite, now: float, *, lane: str | None = None,
                lane_held: bool = False) -> str:
        """Hand a queued item to the order queue; what the answer tells the sender about it.
        Its instrument's lane is held first, so that a later alert of the same instrument queues
        behind it instead of overtaking it. Without a queue (or when it cannot be reached) the
        minute sweep sends it."""
        if self.order_queue is None or not self.order_queue.configured:
            return "over the order pace; the sweep will send it within a minute"
        lane = lane or message_group(str(write.body["exchange"]), str(write.body["security_id"]))
        try:
            if not lane_held:
                self.pacer.hold_lane(lane, now)
            self.order_queue.enqueue(key, lane)
        except RelayError as error:
            logger.warning("queue unavailable; the sweep sends the alert", extra={"event": "queue", "key": key,
                                                                                   "outcome": "not_enqueued", "cause": error.cause})
            return "over the order pace; the sweep will send it within a minute"
        return "over the order pace; queued, it goes out in its pacing slot within seconds"

    def send_recorded(
        self, key: str, token: str, write: OrderWrite, expect: State, slot: float, *, writer: str,
        deadline: Deadline, trail: Trail | None = None, extra: dict[str, Any] | None = None,
        latest: float | None = None,
    ) -> Sent | None:
        """Mark the item sent (only if it is still in `expect`), write once in its pacing slot,
        reconcile an unknown outcome, record the result. None: another invocation had already
        moved the item, and nothing was written.

        Once the item is marked sent, no error may turn into "not sent" unless the broker said so:
        a ledger that cannot record the outcome leaves the item `sent` for the sweep to repair,
        and the answer is the broker's outcome with `ledger: not_updated`."""
        trail = trail or Trail({"key": key})
        if not self.ledger.begin_send(key, expect, self._clock(), token=writer, **(extra or {})):
            trail.note(send_skipped=f"no longer {expect.value}")
            return None
        # The wait comes after the mark so that the write follows its slot as closely as possible.
        return self._write_and_record(key, token, write, slot, writer=writer, deadline=deadline, trail=trail,
                                      latest=latest)

    def _write_and_record(self, key: str, token: str, write: OrderWrite, slot: float, *, writer: str,
                          deadline: Deadline, trail: Trail, latest: float | None = None) -> Sent:
        """The item is `sent` with `writer` as its send token: write once in the slot, reconcile an
        unknown outcome, record the result (one update, conditional on that send token)."""
        latest = self.latest_slot(deadline) if latest is None else latest
        result, used_token = self._send_once(token, write, trail, slot, latest, deadline)
        if result.outcome is Outcome.UNKNOWN:
            result = self._reconcile_now(used_token, write, result, trail, deadline)
        state = STATE_AFTER[result.outcome]
        try:
            recorded = self.ledger.update(
                key, state, self._clock(), expect=State.SENT, expect_token=writer, writer=writer,
                # A broker rejection or a failure stays visible to the sweep until it has been announced.
                still_open=True if state in (State.REJECTED, State.FAILED) else None,
                order_id=result.order_id,
                broker_status=result.order_status,
                message=result.message or None,
                latency_ms=trail.fields.get("broker_latency_ms"),
            )
        except RelayError as error:
            trail.note(ledger="not_updated", ledger_cause=error.cause)
            logger.warning("outcome not recorded; the sweep repairs the item",
                           extra={"event": "ledger", "outcome": "not_updated", "key": key,
                                  "order_outcome": result.outcome.value, "cause": error.cause})
            return Sent(result, ledger_updated=False)
        if not recorded:  # the sweep settled it meanwhile (found it in the book): its record stands
            trail.note(ledger="settled_elsewhere")
            result = as_recorded(self.ledger.get(key), result)
        return Sent(result)

    def _reconcile_now(self, token: str, write: OrderWrite, unknown: WriteResult, trail: Trail,
                       deadline: Deadline) -> WriteResult:
        """Look for the order in the book a few times before answering 'unknown', within the
        invocation's budget (the answer's, while it can still be met): the sweep goes on after."""
        until = deadline.reconcile_until(self._clock())
        interval = self.settings.reconcile_interval_seconds
        for attempt in range(self.settings.reconcile_attempts):
            if self._clock() + interval + MIN_READ_SECONDS > until:
                trail.note(reconcile_cut_short=attempt)
                break
            self._sleep(interval)
            try:
                book = self.broker.order_book(token, timeout=min(self.settings.broker_read_timeout, until - self._clock()))
                row = find_order(book, write.body)
            except RelayError:
                continue
            if row is not None:
                trail.note(reconciled=True, reconcile_attempt=attempt + 1)
                return WriteResult(Outcome.PLACED, order_id=str(row.get("id")), order_status=row.get("status"),
                                   message=f"found in the order book after: {unknown.message}")
        return unknown

    def _authenticate(self, incoming: IncomingAlert, claimed_secret: str | None, now: float, *,
                      unreadable: bool = False) -> str:
        return auth.authenticate(
            raw_body=incoming.raw_body,
            claimed_secret=claimed_secret,
            signature=incoming.headers.get(auth.SIGNATURE_HEADER),
            secret=self.webhook_secret.value(),
            now=now,
            max_age_seconds=self.settings.signature_max_age_seconds,
            require_signature=incoming.require_signature,
            body_unreadable=unreadable,
        )

    def _send_once(self, token: str, write: OrderWrite, trail: Trail, slot: float, latest: float,
                   deadline: Deadline) -> tuple[WriteResult, str]:
        """One write in its pacing slot, and the token it went out with. Only a TokenException
        (nothing placed) may lead to a second one, and only with a token that differs from the one
        the broker just refused, in a slot within the same allowed wait: one budget for both."""
        result = self.write_in_slot(token, write, trail, slot, latest, deadline)
        if result.outcome is not Outcome.TOKEN_INVALID:
            return result, token
        try:
            fresh = self.tokens.reread()
        except RelayError as error:  # SSM down or the token gone: still nothing was placed
            trail.note(token_reread_failed=error.error, cause=error.cause)
            return result, token
        if fresh == token:
            return result, token
        trail.note(token_reread=True)
        try:
            second_slot = self.pacer.reserve(latest=latest)
        except RelayError as error:  # nothing placed yet: the sweep sends it with the token it reads
            trail.note(pacing_failed=error.cause)
            return LEFT_FOR_THE_SWEEP, fresh
        if second_slot is None:
            return LEFT_FOR_THE_SWEEP, fresh
        return self.write_in_slot(fresh, write, trail, second_slot, latest, deadline), fresh

    def write_in_slot(self, token: str, write: OrderWrite, trail: Trail, slot: float, latest: float,
                       deadline: Deadline) -> WriteResult:
        """Wait for the slot and write, or write nothing and leave the alert to the sweep."""
        try:
            in_slot = self.pacer.wait_for(slot, latest)
        except RelayError as error:  # a fresh slot could not be read: nothing was written
            trail.note(pacing_failed=error.cause)
            return LEFT_FOR_THE_SWEEP
        timeouts = deadline.write_timeouts(self._clock(), self._configured) if in_slot else None
        if timeouts is None:
            return LEFT_FOR_THE_SWEEP
        return self._timed_place(token, write, trail, timeouts)

    def _timed_place(self, token: str, write: OrderWrite, trail: Trail, timeouts: Timeouts) -> WriteResult:
        started = self._perf()
        if trail.started is not None and "to_broker_ms" not in trail.fields:
            # The relay's own cost: alert in → order request on its way out.
            trail.note(to_broker_ms=round((started - trail.started) * 1000, 1))
        result = self.broker.place(token, write, timeouts=timeouts)
        trail.note(
            broker_latency_ms=round((self._perf() - started) * 1000, 1),
            broker_read_timeout_s=round(timeouts.read, 2),
            broker_http_status=result.http_status,
            broker_error_type=result.error_type,
            order_id=result.order_id,
            order_status=result.order_status,
            broker_message=result.message or None,
        )
        return result
