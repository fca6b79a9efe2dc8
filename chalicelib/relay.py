"""An alert's whole life, top to bottom.

    parse → authenticate → validate → resolve instrument → read token → build the order
      → send it once → classify the reply → answer + one log line

Each step is one call whose name says what it decides; the rules live in the modules called.
Time and randomness come in as arguments so tests neither sleep nor patch clocks.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalicelib import auth
from chalicelib.accounts.model import Account, AccountBook, account_book, scaled_alert
from chalicelib.alerts import Action, Alert, Mode, refuse_oversized
from chalicelib.broker import BrokerClient, OrderWrite, Outcome, WriteResult, cancel_write
from chalicelib.config import Settings
from chalicelib.deadline import MIN_READ_SECONDS, Deadline, Timeouts
from chalicelib.dialects import read_alert
from chalicelib.errors import (
    AlertRejected,
    DependencyUnavailable,
    FieldProblem,
    Paused,
    RelayError,
    StaleAlert,
    TokenUnavailable,
)
from chalicelib.fno.lots import FreezeLimits, LastPrice, freeze_limits, order_units, split_for_freeze
from chalicelib.fno.symbols import ContractQuery, EquityTicker, RelativeOption
from chalicelib.instruments import InstrumentMaster
from chalicelib.ledger import Claim, Ledger, State, ledger_key
from chalicelib.moments import ist_date
from chalicelib.observability import log_alert, logger, tag_alert
from chalicelib.order_queue import OrderQueue, message_group
from chalicelib.orders import (
    build_derivative_order,
    build_order,
    checked_tick,
    child_remarks,
    entry_price,
    planned_order,
    remarks_tag,
    sends_marketable_limit,
)
from chalicelib.pacing import WritePacer
from chalicelib.reconcile import find_order
from chalicelib.risk import RiskGuard
from chalicelib.strategy.windows import Schedule
from chalicelib.tokens import TokenStore, WebhookSecret

if TYPE_CHECKING:  # built on the first derivative alert (services.py): its master stays out of a cold start
    from chalicelib.fno.master import Derivatives
    from chalicelib.kill_switch import KillSwitch
    from chalicelib.positions import PositionDesk, Standing
    from chalicelib.strategy.entries import EntryPlan


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


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Sent:
    """What one send did: the broker's outcome, and whether the ledger recorded it."""

    result: WriteResult
    ledger_updated: bool = True


@dataclass
class _Trail:
    """What the alert's log line will say; filled in as the alert moves along."""

    fields: dict[str, Any] = field(default_factory=dict)
    started: float | None = None  # when the alert arrived (perf counter), for latencies

    def note(self, **values: Any) -> None:
        self.fields.update(values)


# Sends one valid alert to its target accounts: (key, alert, targets, now, deadline, trail) → the answer.
FanOut = Callable[[str, Alert, tuple[Account, ...], float, Deadline, "_Trail"], Answer]


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
        trail = _Trail({"source_ip": incoming.source_ip, "request_id": incoming.request_id}, started)
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

    def _place(self, incoming: IncomingAlert, now: float, trail: _Trail, deadline: Deadline) -> Answer:
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

    def dispatch(self, key: str, alert: Alert, now: float, deadline: Deadline, trail: _Trail) -> Answer:
        """A parsed, authenticated and valid alert, sent for this relay's account under `key`
        (its ledger item): its quantity times the account's multiplier, then the order, target,
        cancel or every-instrument action it asks for. Raises the refusal it records."""
        writer = self._make_token()  # this invocation's: tells its own retried writes from others'
        try:
            scaled = scaled_alert(alert, self.account.multiplier)
        except RelayError as error:
            return self._refuse(key, alert, now, writer, error)
        if scaled is not alert:
            alert = scaled
            trail.note(**alert.summary())
        if alert.mode is Mode.LIVE and self.mode is Mode.PAPER:
            return self._refuse(key, alert, now, writer, AlertRejected(detail=[FieldProblem(
                "mode", "is live, but this stage trades on paper only (TRADING_MODE=paper); nothing was sent")]))
        relay = self.for_mode(alert.mode.value if alert.mode else self.mode.value)
        alert = alert.model_copy(update={"mode": relay.mode})  # recorded with each of its ledger items
        trail.note(mode=relay.mode.value)
        return relay._decide(key, alert, now, writer, deadline, trail)

    def _decide(self, key: str, alert: Alert, now: float, writer: str, deadline: Deadline, trail: _Trail) -> Answer:
        """What the alert asks, done by this relay (live, or paper)."""
        if alert.action.every_instrument:
            return self._act_on_every_instrument(key, alert, now, writer, trail)
        if alert.action is Action.CANCEL:
            return self._cancel_open_orders(key, alert, now, writer, deadline, trail)
        if alert.action is Action.EXIT or alert.position_size is not None:
            return self._place_to_target(key, alert, now, writer, deadline, trail)
        refused = self._timing(alert, now, is_exit=False)
        if refused:
            return self._refuse(key, alert, now, writer, refused)
        return self._send(key, alert, alert, now, writer, deadline, trail)

    def _timing(self, alert: Alert, now: float, *, is_exit: bool) -> RelayError | None:
        """Too old, from the future, outside ENTRY_WINDOW (an entry) or the session (an exit), or
        on a closed day: the refusal. An after-market order of a plain alert is outside the
        hours by design: only its freshness counts."""
        if alert.amo and alert.position_size is None and alert.action is not Action.EXIT:
            return _staleness(alert, now, self.settings.max_alert_age_seconds)
        age = None if alert.time is None else now - alert.time.timestamp()
        return self.schedule.refusal(now, is_exit=is_exit, age_seconds=age)

    def _send(self, key: str, alert: Alert, order: Alert, now: float, writer: str, deadline: Deadline,
              trail: _Trail, *, token: str | None = None, extra: dict[str, Any] | None = None) -> Answer:
        """Build the order `order` asks (the alert itself, or the side and quantity a target
        made of it), check its limits, then admit it and write it once, or queue it. `alert`
        is what the ledger records the claim under; `extra`, what else the item and the answer say."""
        described: dict[str, Any] = dict(extra or {})  # a derivative's contract and price rounding, …
        children: tuple[int, ...] = ()  # an order over its freeze limit: the child quantities
        try:
            token = token or self.tokens.current()
            reading = order.reading()
            remarks = remarks_tag(alert.alert_id, self._make_nonce())
            alert_price, price_is = order.price, "alert price"
            equity = isinstance(reading, EquityTicker)
            if order.sized:  # built at one share or one lot, then sized at its entry price
                order = order.model_copy(update={"quantity": 1} if equity else {"lots": 1})
            if isinstance(reading, EquityTicker):
                instrument = self.instruments.resolve(order.resolved_exchange.value, order.ticker, ist_date(now))
                write = build_order(order, instrument, remarks, self.settings)
                traits: tuple[Decimal, int, str, str | None] = (instrument.tick_size, 1, order.ticker, None)
            else:
                write, contract, token, leg_price, children = self._derivative_order(order, reading, token, now, remarks)
                described.update(contract)
                alert_price = alert_price or leg_price
                traits = _contract_traits(contract["contract"])
            if order.sized or order.bracket_fields:
                write, plan, token = self._plan_entry(order, write, token, alert_price, traits)
                alert_price, price_is = plan.entry, plan.entry_from
                described.update(plan.answer())
                if traits[3] is not None and order.sized:  # a contract sized here: its freeze limit anew
                    units = int(write.body["qty"])
                    described["contract"]["qty_units"] = units
                    children = split_for_freeze(units, traits[1], self.freeze_limits.for_underlying(traits[3]),
                                                field="amount")
            token = self.risk.check_limits(write.body, token, now, alert_price=alert_price, price_is=price_is)
        except RelayError as error:
            return self._refuse(key, alert, now, writer, error)
        security_id = str(write.body["security_id"])
        trail.note(security_id=security_id, remarks=write.body["remarks"], endpoint=write.path,
                   **({"contract": described["contract"]} if "contract" in described else {}))
        request = {"endpoint": write.path, "request": json.dumps(write.body), "remarks": write.body["remarks"],
                   "security_id": security_id, "side": write.body["txn_type"], "qty": write.body["qty"]}
        if "contract" in described:  # the contract, its price rounding and freeze limit
            request["contract"] = json.dumps({k: v for k, v in described.items() if k != "position"}, sort_keys=True)
        if "position" in described:  # a target's: from where, to where
            request["position"] = json.dumps(described["position"], sort_keys=True)
        if "sizing" in described:  # how a sizing mode derived the quantity
            request["sizing"] = json.dumps(described["sizing"], sort_keys=True, ensure_ascii=False)
        lane = message_group(str(write.body["exchange"]), security_id)
        if len(children) > 1:
            return _with(self._place_children(key, alert, now, writer, request, write, children, lane, token,
                                              deadline, trail), described)

        try:
            slot = self._admit(key, alert, now, writer, request, lane, deadline, trail)
        except Paused as paused:
            return self._refuse(key, alert, now, writer, paused)
        if slot is None:
            return _with(self._queue(key, alert, now, writer, request, write, lane), described)
        sent = self._write_and_record(key, token, write, slot, writer=writer, deadline=deadline, trail=trail)
        if sent.result.outcome is Outcome.QUEUED and sent.ledger_updated:  # late for its slot: nothing written
            return _with(Answer(202, {"status": "queued", "key": key, "remarks": write.body["remarks"],
                                      "message": self.enqueue(key, write, now)}), described)
        return _with(_answer(sent, write), described)

    def _plan_entry(self, order: Alert, write: OrderWrite, token: str, known_price: Decimal | None,
                    traits: tuple[Decimal, int, str, str | None]) -> tuple[OrderWrite, EntryPlan, str]:
        """An entry's bracket legs and size (chalicelib/strategy/entries.py) at its entry price:
        the order's own, else the price the alert or the chain gave, else one last-price read
        (which then also values the order for MAX_ORDER_VALUE). Tradable cash is read only for
        percent_of_funds."""
        from chalicelib.strategy.entries import plan_entry  # only an entry with a bracket or a size

        tick, lot_units, name, _ = traits
        entry, entry_from = entry_price(write.body) or (known_price, "alert price")
        if entry is None:
            entry, token = self.risk.last_price(write.body, token)
            entry_from = "last price"
        funds = self.broker.funds(token).tradable_cash if order.quantity_type == "percent_of_funds" else None
        plan = plan_entry(order, entry=entry, entry_from=entry_from, tick=checked_tick(tick, entry, name),
                          lot_units=lot_units, protection_pct=self.settings.sl_m_protection_pct, funds=funds,
                          instrument=name)
        units = plan.sizing.units if plan.sizing is not None else int(write.body["qty"])
        return planned_order(write, units, plan.bracket.legs), plan, token

    def _place_to_target(self, key: str, alert: Alert, now: float, writer: str, deadline: Deadline,
                         trail: _Trail) -> Answer:
        """A target position (`position_size`) or an exit: read where the instrument stands and
        send only the difference. The instrument's lock is held from the read to the write's
        record, so a second signal for it (an exit racing an entry) computes from the position
        this one leaves; a write of it still waiting in the order queue would not be in the
        position yet, so the target waits for none and is refused instead."""
        from chalicelib.strategy.brackets import check_opens_only  # not on a plain alert's path
        from chalicelib.strategy.targets import order_for_target

        try:
            token, where, instrument = self._hold_instrument(alert, now, writer, deadline)
        except RelayError as error:
            return self._refuse(key, alert, now, writer, error)
        try:
            try:
                if self.pacer.lane_busy(instrument, now):
                    raise DependencyUnavailable(
                        f"an order for {where.name} still waits in the order queue, so its position is not known "
                        "yet; nothing was sent", cause="queued_ahead")
                standing = self._standing(alert, token, where, now)
                target = 0 if alert.action is Action.EXIT else alert.position_size
                assert target is not None
                order = order_for_target(target, standing.net, in_flight=standing.in_flight,
                                         lot_units=where.lot_units, instrument=where.name)
                refused = self._timing(alert, now, is_exit=order.reduces_only or order.noop)
                if not order.noop:  # a bracket protects what an order opens, never what it closes
                    check_opens_only(order.closing, alert.bracket_fields, decided=order.describe())
            except RelayError as error:
                return self._refuse(key, alert, now, writer, error)
            position = {"target": target, **standing.as_dict(), "change": order.change, "decided": order.describe()}
            trail.note(position=position)
            if refused:
                return self._refuse(key, alert, now, writer, refused)
            if order.noop:
                return self._noop(key, alert, now, writer, position)
            assert order.side is not None
            sized = alert.model_copy(update={"action": Action(order.side.value), "quantity": order.quantity,
                                             "lots": None, "position_size": None})
            return self._send(key, alert, sized, now, writer, deadline, trail, token=token,
                              extra={"position": position})
        finally:
            self.positions.release(instrument, writer)

    def _cancel_open_orders(self, key: str, alert: Alert, now: float, writer: str, deadline: Deadline,
                            trail: _Trail) -> Answer:
        """action CANCEL: cancel every open order of the instrument in the book (any product),
        each by its own id on its endpoint family, each in a pacing slot of its own and sent
        once. A cancel whose outcome is unknown is reported as such, never resent (the order
        book says later whether it went). Accepted any time a cancel can help: it opens nothing.
        Held under the instrument's lock, like a target, so it never interleaves with one."""
        from chalicelib.positions import open_orders  # not on a plain alert's path

        refused = _staleness(alert, now, self.schedule.max_age(is_exit=True))  # a cancel opens nothing: exits' limit
        if refused:
            return self._refuse(key, alert, now, writer, refused)
        if self.switch.read().stops(alert.strategy, now):  # a pause stops every write, cancels too
            return self._refuse(key, alert, now, writer, self.switch.refusal(alert.strategy))
        try:
            token, where, instrument = self._hold_instrument(alert, now, writer, deadline)
        except RelayError as error:
            return self._refuse(key, alert, now, writer, error)
        try:
            try:
                book = self.broker.order_book(token)
            except RelayError as error:
                return self._refuse(key, alert, now, writer, error)
            rows = open_orders(book, where.security_id)
            claim = self.ledger.claim(key, alert, now, State.CANCEL, token=writer,
                                      dedupe_window=self.settings.dedupe_window_seconds, security_id=where.security_id,
                                      message=f"{len(rows)} open order(s) of {where.name} to cancel")
            if not claim.won:
                return _duplicate(claim)
            if not rows:
                self.ledger.update(key, State.NOOP, self._clock(), message=f"no open order of {where.name}")
                return Answer(200, {"status": "noop", "key": key, "message": f"no open order of {where.name}"})
            cancels = [self.cancel_one(row, token, deadline, trail, book) for row in rows]
        finally:
            self.positions.release(instrument, writer)
        summary = "; ".join(f"{c['order_id']}: {c['status']}" for c in cancels)
        self.ledger.update(key, None, self._clock(), message=f"cancels of {where.name}: {summary}",
                           request=json.dumps(cancels, sort_keys=True))
        trail.note(cancels=[f"{c['order_id']}:{c['status']}" for c in cancels])
        worst = max((_CANCEL_SEVERITY[c["status"]] for c in cancels), key=_severity)
        return Answer(worst, {"status": "cancelled", "key": key, "orders": cancels})

    def _act_on_every_instrument(self, key: str, alert: Alert, now: float, writer: str, trail: _Trail) -> Answer:
        """EXIT_ALL: close the positions of every instrument the relay traded today (of the
        alert's strategy when it names one); CANCEL_ALL: cancel their open orders. The flatten's
        machinery without its pause: each cancel and each closing order once, each closing order
        a ledger item of its own. Answered with each outcome; the worst sets the HTTP status."""
        from chalicelib.flatten import Flattener, Scope  # not on a plain alert's path

        exits = alert.action is Action.EXIT_ALL
        age = None if alert.time is None else now - alert.time.timestamp()
        refused = (self.schedule.refusal(now, is_exit=True, age_seconds=age) if exits
                   else _staleness(alert, now, self.schedule.max_age(is_exit=True)))
        if refused is None and self.switch.read().stops(alert.strategy, now):
            refused = self.switch.refusal(alert.strategy)
        if refused is not None:
            return self._refuse(key, alert, now, writer, refused)
        claim = self.ledger.claim(key, alert, now, State.CANCEL, token=writer,
                                  dedupe_window=self.settings.dedupe_window_seconds,
                                  message=f"{alert.action.value} of every instrument traded today")
        if not claim.won:
            return _duplicate(claim)
        try:
            done = Flattener(self, self.ledger).run(now, scope=Scope.RELAY, strategy=alert.strategy, pause=False,
                                                    cancel=not exits, close=exits)
        except RelayError as error:  # nothing sent yet (a read failed): recorded, and answered as the error
            self.ledger.update(key, State.FAILED, self._clock(), message=_problem_text(error), still_open=True)
            raise
        outcomes = done["closes"] if exits else done["cancels"]
        said = "; ".join(f"{o.get('order_id') or o.get('security_id')}: {o['status']}" for o in outcomes)
        self.ledger.update(key, None, self._clock(), message=f"{alert.action.value}: {said or 'nothing open'}",
                           request=json.dumps(outcomes, sort_keys=True, default=str))
        trail.note(actions=[f"{o.get('order_id') or o.get('security_id')}:{o['status']}" for o in outcomes])
        if not outcomes:
            return Answer(200, {"status": "noop", "key": key, "message": "nothing open in the instruments traded today"})
        worst = max((_CANCEL_SEVERITY.get(o["status"], 504) for o in outcomes), key=_severity)
        if exits:
            return Answer(worst, {"status": "exited", "key": key, "closes": outcomes})
        return Answer(worst, {"status": "cancelled", "key": key, "orders": outcomes})

    def cancel_one(self, row: dict[str, Any], token: str, deadline: Deadline, trail: _Trail | None = None,
                   book: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Cancel one open order of the book, once, in a pacing slot of its own: its outcome."""
        from chalicelib.positions import is_smart

        order_id, segment = str(row["id"]), str(row.get("segment") or "EQUITY").upper()
        write = cancel_write(order_id, segment, smart=is_smart(row, book or ()))
        latest = self.latest_slot(deadline)
        slot = self.pacer.reserve(latest=latest)
        result = (self._write_in_slot(token, write, _Trail({}, trail.started if trail else None), slot, latest, deadline)
                  if slot is not None else _LEFT_FOR_THE_SWEEP)
        status = {Outcome.PLACED: "cancelled", Outcome.REJECTED: "rejected", Outcome.NOT_SENT: "not_sent",
                  Outcome.QUEUED: "not_sent", Outcome.TOKEN_INVALID: "not_sent"}.get(result.outcome, "unknown")
        message = ("no pacing slot within the allowed wait: not sent; send CANCEL again"
                   if result.outcome is Outcome.QUEUED else result.message or None)
        return {"order_id": order_id, "endpoint": write.path, "status": status,
                **({"message": message} if message else {})}

    def _standing(self, alert: Alert, token: str, where: _Where, now: float) -> Standing:
        """Where a target starts from: the account's position (two broker reads), or with
        `position_scope: STRATEGY` the one the relay built for the alert's strategy (its own
        ledger items of the retention window: no broker read)."""
        from chalicelib.alerts import PositionScope
        from chalicelib.positions import strategy_standing

        if alert.position_scope is PositionScope.ACCOUNT:
            return self.positions.standing(token, where.security_id, where.segment, alert.product.value)
        assert alert.strategy is not None  # the model requires it with this scope
        items = self.ledger.journal(since=now - self.settings.order_retention_days * 86400, limit=_STRATEGY_ITEMS)
        return strategy_standing(items, alert.strategy, where.security_id, alert.product.value)

    def _hold_instrument(self, alert: Alert, now: float, writer: str, deadline: Deadline) -> tuple[str, _Where, str]:
        """The token, the instrument the alert names and its lock's name, the lock taken (the
        caller releases it); waits for a holder ahead up to _TARGET_LOCK_WAIT_SECONDS."""
        token = self.tokens.current()
        where = self._locate(alert, token, now)
        instrument = message_group(where.exchange, where.security_id)
        if not self.positions.hold(instrument, writer, wait_until=deadline.arrival + _TARGET_LOCK_WAIT_SECONDS):
            raise DependencyUnavailable(f"another signal for {where.name} is still being applied; nothing was sent",
                                        cause="position_busy")
        return token, where, instrument

    def _locate(self, alert: Alert, token: str, now: float) -> _Where:
        """The instrument an alert names, as its position is read: security id, segment, lot."""
        reading = alert.reading()
        if isinstance(reading, EquityTicker):
            instrument = self.instruments.resolve(alert.resolved_exchange.value, alert.ticker, ist_date(now))
            return _Where(str(instrument.security_id), alert.resolved_exchange.value, "EQUITY", 1, alert.ticker)
        derivatives = self.derivatives
        if derivatives is None:
            raise AlertRejected(detail=[FieldProblem("symbol", "futures and options are not enabled in this relay")])
        contract = derivatives.resolve(reading, token, now).contract
        return _Where(contract.security_id, contract.exchange.value, "DERIVATIVE", contract.lot_units,
                      contract.openalgo_symbol)

    def _noop(self, key: str, alert: Alert, now: float, writer: str, position: dict[str, Any]) -> Answer:
        """The position is already the target: recorded, nothing sent (not an error: an error
        invites a resend)."""
        claim = self.ledger.claim(key, alert, now, State.NOOP, token=writer,
                                  dedupe_window=self.settings.dedupe_window_seconds,
                                  message=position["decided"], position=json.dumps(position, sort_keys=True))
        if not claim.won:
            return _duplicate(claim)
        return Answer(200, {"status": "noop", "key": key, "message": position["decided"], "position": position})

    def _derivative_order(self, alert: Alert, reading: ContractQuery | RelativeOption, token: str, now: float,
                          remarks: str) -> tuple[OrderWrite, dict[str, Any], str, Decimal | None, tuple[int, ...]]:
        """A futures or options alert's order: the contract from the day's F&O master (a relative
        option's strike from one option-chain read), its quantity in units, prices on its tick.
        Also what the answer says about it, the token to go on with, the chosen leg's price and
        the quantities of its child orders (one: the order itself; several: it is at or above
        the exchange's freeze limit and goes out as children below it)."""
        derivatives = self.derivatives
        if derivatives is None:
            raise AlertRejected(detail=[FieldProblem("symbol", "futures and options are not enabled in this relay")])
        resolved = derivatives.resolve(reading, token, now)
        contract = resolved.contract
        units = order_units(contract.lot_units, quantity=alert.quantity, lots=alert.lots,
                            instrument=contract.openalgo_symbol)
        freeze = self.freeze_limits.for_underlying(contract.underlying)
        children = split_for_freeze(units, contract.lot_units, freeze,
                                    field="lots" if alert.lots is not None else "quantity")
        token = resolved.token or token  # the chain read may have renewed it
        last_price: LastPrice | None = None
        if sends_marketable_limit(alert, contract, self.settings):
            # MARKETABLE_LIMIT_PCT: an option's MARKET goes as a LIMIT from its last price (one quote
            # read, or the chain's); that LIMIT also values it for MAX_ORDER_VALUE: no second read.
            last_price, token = derivatives.last_price(resolved, token)
        write, rounding = build_derivative_order(alert, contract, units, remarks, self.settings, last_price)
        described = {"contract": {**resolved.describe(), "qty_units": units},
                     **({"rounding": rounding} if rounding else {}),
                     **({"freeze_limit": freeze} if len(children) > 1 else {})}
        return write, described, token, resolved.last_price, children

    def _refuse(self, key: str, alert: Alert, now: float, writer: str, error: RelayError) -> Answer:
        """Record a refusal (or a failure before anything was sent) as the alert's claim, and raise
        it; a copy of an alert already claimed is answered as the duplicate it is."""
        final = isinstance(error, AlertRejected)  # refused input is final, and so is a paused alert
        state = State.PAUSED if isinstance(error, Paused) else State.REJECTED if final else State.FAILED
        claim = self.ledger.claim(
            key, alert, now, state, token=writer,
            dedupe_window=self.settings.dedupe_window_seconds, message=_problem_text(error),
            # A missing token or dependency leaves the alert re-sendable, and open until the sweep
            # has reported it.
            open=None if final else "open",
        )
        if not claim.won:
            return _duplicate(claim)
        raise error

    def _admit(self, key: str, alert: Alert, now: float, writer: str, request: dict[str, Any], lane: str,
               deadline: Deadline, trail: _Trail) -> float | None:
        """The warm path's one write before the broker request: a TransactWriteItems that claims the
        alert's item as `sent`, takes its pacing slot and counts it for the day, if the
        instrument has nothing waiting in the order queue. The slot to write in; None when the
        alert must be queued instead (no slot within the short wait, a queued write of the same
        instrument ahead of it, the day's limit, or the claim taken: the queue's claim then
        tells a duplicate from a renewable alert)."""
        latest = self.latest_slot(deadline)
        seen: float | None = None
        replacing: dict[str, Any] | None = None
        for attempt in range(_ADMIT_ATTEMPTS):
            pace, slot = self.pacer.slot_operation(self._clock(), seen)
            reasons = self.ledger.transact([
                self.ledger.claim_sent_operation(key, alert, now, token=writer, replacing=replacing, **request),
                pace, self.risk.count_operation(now), self.pacer.lane_free_operation(lane, now),
                self.switch.check_operation(alert.strategy, now),
            ], token=f"{writer}-{attempt}")
            if reasons is None:
                return slot
            claim_reason, pace_reason, count_reason, lane_reason, switch_reason = reasons[:5]
            if _failed(switch_reason) and not _failed(claim_reason):
                raise self.switch.refusal(alert.strategy)
            if _failed(claim_reason):
                if _attribute(claim_reason, "claim_token") == writer:
                    return slot  # ours: applied, and resent by botocore after its reply was lost
                if replacing is None:
                    replacing = self.ledger.renew(claim_reason.get("Item"), now, self.settings.dedupe_window_seconds)
                    if replacing is not None:
                        continue  # an identical alert past the dedupe window: a new one
                trail.note(admission="claimed_before")  # a duplicate: the queue's claim answers it
                return None
            if _failed(count_reason) or _failed(lane_reason):
                trail.note(admission="day_limit" if _failed(count_reason) else "lane_busy")
                return None
            if _failed(pace_reason):
                next_slot = _attribute(pace_reason, "next_slot")
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
            if reasons is None or _attribute(claim_reason, "claim_token") == writer:
                return Answer(202, {"status": "queued", "key": key, "remarks": write.body["remarks"],
                                    "message": self.enqueue(key, write, now, lane=lane, lane_held=True)})
            if not _failed(claim_reason) and _failed(reasons[3]):
                return self._refuse(key, alert, now, writer, self.switch.refusal(alert.strategy))
            if not _failed(claim_reason) and _failed(reasons[1]):
                return self._refuse(key, alert, now, writer, self.risk.day_limit_reached())
        claim = self.ledger.claim(key, alert, now, State.QUEUED, token=writer,
                                  dedupe_window=self.settings.dedupe_window_seconds, **request)
        if not claim.won:
            return _duplicate(claim)
        try:
            self.risk.take(now)
        except RelayError as error:
            final = isinstance(error, AlertRejected)
            self.ledger.update(key, State.REJECTED if final else State.FAILED, now, message=_problem_text(error),
                               still_open=None if final else True)
            raise
        return Answer(202, {"status": "queued", "key": key, "remarks": write.body["remarks"],
                            "message": self.enqueue(key, write, now, lane=lane)})

    def _place_children(self, key: str, alert: Alert, now: float, writer: str, request: dict[str, Any],
                        write: OrderWrite, quantities: tuple[int, ...], lane: str, token: str,
                        deadline: Deadline, trail: _Trail) -> Answer:
        """An order at or above its exchange freeze limit, sent as child orders strictly below it.

        One transaction claims the parent (`split`: never sent itself) and every child (`queued`,
        each with its own exact request and remarks tag `…:c2/4`), counts all the children for
        the day, and holds the instrument's lane for them if nothing of it waits in the order
        queue. The children then go out in order, each in its own pacing slot and moved
        `queued → sent` conditionally like any queued order; those without a slot within the
        short wait go to the order queue, in order (the sweep sends them when there is none). A
        replay finds the parent claimed: a duplicate, nothing new is sent. A child the broker
        rejected, or whose outcome is unknown, holds back the children not yet sent (recorded
        `rejected`, never sent): nothing is resent, and the position never grows past what the
        children already sent may have built."""
        count = len(quantities)
        children = [_Child(f"{key}#c{number}/{count}#{writer}", number, count, OrderWrite(write.path, {
            **write.body, "qty": units, "remarks": child_remarks(str(write.body["remarks"]), number, count)}))
            for number, units in enumerate(quantities, 1)]
        total = int(write.body["qty"])
        parent = {name: request[name] for name in ("endpoint", "security_id", "contract", "sizing") if name in request}
        message = f"{total} units are at or above the exchange freeze limit: sent as {count} child orders"
        queue_all, replacing = False, None
        for attempt in range(_ADMIT_ATTEMPTS):
            reasons = self.ledger.transact([
                self.ledger.claim_operation(key, alert, now, State.SPLIT, token=writer, replacing=replacing,
                                            children=count, message=message, qty=total, **parent),
                *(self.ledger.claim_operation(child.key, alert, now, State.QUEUED, token=writer, parent=key,
                                              qty=int(child.write.body["qty"]), endpoint=child.write.path,
                                              request=json.dumps(child.write.body), remarks=child.write.body["remarks"],
                                              **{name: request[name] for name in ("security_id", "contract")
                                                 if name in request})
                  for child in children),
                self.risk.count_operation(now, count),
                self.pacer.hold_lane_operation(lane, now, writes=count, if_free=not queue_all),
                self.switch.check_operation(alert.strategy, now),
            ], token=f"{writer}-split-{attempt}")
            if reasons is None:
                break
            claim_reason, count_reason, lane_reason, switch_reason = reasons[0], *reasons[-3:]
            if _failed(claim_reason):
                if _attribute(claim_reason, "claim_token") == writer:
                    break  # ours: applied, and resent by botocore after its reply was lost
                if replacing is None:
                    replacing = self.ledger.renew(claim_reason.get("Item"), now, self.settings.dedupe_window_seconds)
                    if replacing is not None:
                        continue  # an identical alert past the dedupe window: a new one
                return _duplicate(Claim(key, False, self.ledger.get(key)))
            if _failed(switch_reason):
                return self._refuse(key, alert, now, writer, self.switch.refusal(alert.strategy))
            if _failed(count_reason):
                return self._refuse(key, alert, now, writer, self.risk.day_limit_reached(count))
            if _failed(lane_reason):
                queue_all = True  # a queued write of the instrument is ahead: every child queues behind it
            # else a conflict with a concurrent transaction: try again
        else:
            return self._refuse(key, alert, now, writer, DependencyUnavailable(
                "the order ledger was too busy to claim the child orders; nothing was sent", cause="contended"))

        answers: list[dict[str, Any]] = []
        stopped_by: str | None = None
        for child in children:
            if stopped_by is not None:
                answers.append(child.answer(self._hold_back(child, lane, stopped_by)))
                continue
            slot = None if queue_all else self.pacer.reserve(latest=self.latest_slot(deadline))
            sent = None
            if slot is not None:
                sent = self.send_recorded(child.key, token, child.write, State.QUEUED, slot, writer=writer,
                                          deadline=deadline, trail=_Trail({"key": child.key}, trail.started))
            if sent is None or sent.result.outcome is Outcome.QUEUED:
                queue_all = True  # it and every child after it go through the queue, in order
                answers.append(child.answer(Answer(202, {"status": "queued", "message": self.enqueue(
                    child.key, child.write, now, lane=lane, lane_held=True)})))
                continue
            self.pacer.release_lane(lane)
            answers.append(child.answer(_answer(sent, child.write)))
            if sent.result.outcome is not Outcome.PLACED:
                stopped_by = f"child {child.name} was {answers[-1]['status']}"
        trail.note(children=[f"{answer['child']}:{answer['status']}" for answer in answers])
        status_code = max((answer.pop("http_status") for answer in answers), key=_severity)
        return Answer(status_code, {"status": "split", "key": key, "message": message, "children": answers})

    def _hold_back(self, child: _Child, lane: str, reason: str) -> Answer:
        """A child not sent because one before it was refused or its outcome is unknown."""
        message = f"held back, not sent: {reason}"
        self.ledger.update(child.key, State.REJECTED, self._clock(), expect=State.QUEUED, message=message)
        self.pacer.release_lane(lane)
        return Answer(200, {"status": "held_back", "message": message})

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
        deadline: Deadline, trail: _Trail | None = None, extra: dict[str, Any] | None = None,
        latest: float | None = None,
    ) -> Sent | None:
        """Mark the item sent (only if it is still in `expect`), write once in its pacing slot,
        reconcile an unknown outcome, record the result. None: another invocation had already
        moved the item, and nothing was written.

        Once the item is marked sent, no error may turn into "not sent" unless the broker said so:
        a ledger that cannot record the outcome leaves the item `sent` for the sweep to repair,
        and the answer is the broker's outcome with `ledger: not_updated`."""
        trail = trail or _Trail({"key": key})
        if not self.ledger.begin_send(key, expect, self._clock(), token=writer, **(extra or {})):
            trail.note(send_skipped=f"no longer {expect.value}")
            return None
        # The wait comes after the mark so that the write follows its slot as closely as possible.
        return self._write_and_record(key, token, write, slot, writer=writer, deadline=deadline, trail=trail,
                                      latest=latest)

    def _write_and_record(self, key: str, token: str, write: OrderWrite, slot: float, *, writer: str,
                          deadline: Deadline, trail: _Trail, latest: float | None = None) -> Sent:
        """The item is `sent` with `writer` as its send token: write once in the slot, reconcile an
        unknown outcome, record the result (one update, conditional on that send token)."""
        latest = self.latest_slot(deadline) if latest is None else latest
        result, used_token = self._send_once(token, write, trail, slot, latest, deadline)
        if result.outcome is Outcome.UNKNOWN:
            result = self._reconcile_now(used_token, write, result, trail, deadline)
        state = _STATE_AFTER[result.outcome]
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
            result = _as_recorded(self.ledger.get(key), result)
        return Sent(result)

    def _reconcile_now(self, token: str, write: OrderWrite, unknown: WriteResult, trail: _Trail,
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

    def _send_once(self, token: str, write: OrderWrite, trail: _Trail, slot: float, latest: float,
                   deadline: Deadline) -> tuple[WriteResult, str]:
        """One write in its pacing slot, and the token it went out with. Only a TokenException
        (nothing placed) may lead to a second one, and only with a token that differs from the one
        the broker just refused, in a slot within the same allowed wait: one budget for both."""
        result = self._write_in_slot(token, write, trail, slot, latest, deadline)
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
            return _LEFT_FOR_THE_SWEEP, fresh
        if second_slot is None:
            return _LEFT_FOR_THE_SWEEP, fresh
        return self._write_in_slot(fresh, write, trail, second_slot, latest, deadline), fresh

    def _write_in_slot(self, token: str, write: OrderWrite, trail: _Trail, slot: float, latest: float,
                       deadline: Deadline) -> WriteResult:
        """Wait for the slot and write, or write nothing and leave the alert to the sweep."""
        try:
            in_slot = self.pacer.wait_for(slot, latest)
        except RelayError as error:  # a fresh slot could not be read: nothing was written
            trail.note(pacing_failed=error.cause)
            return _LEFT_FOR_THE_SWEEP
        timeouts = deadline.write_timeouts(self._clock(), self._configured) if in_slot else None
        if timeouts is None:
            return _LEFT_FOR_THE_SWEEP
        return self._timed_place(token, write, trail, timeouts)

    def _timed_place(self, token: str, write: OrderWrite, trail: _Trail, timeouts: Timeouts) -> WriteResult:
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


_STATE_AFTER = {
    Outcome.PLACED: State.PLACED,
    Outcome.REJECTED: State.REJECTED,
    Outcome.UNKNOWN: State.UNKNOWN,
    Outcome.NOT_SENT: State.FAILED,  # provably not sent: the alert may be sent again
    Outcome.TOKEN_INVALID: State.FAILED,  # a TokenException places nothing
    Outcome.QUEUED: State.QUEUED,  # nothing placed yet: the sweep sends it with the token it reads
}


@dataclass(frozen=True)
class _Where:
    """Where a target's position is read: the instrument as INDstocks keys it."""

    security_id: str
    exchange: str
    segment: str  # EQUITY / DERIVATIVE
    lot_units: int
    name: str


@dataclass(frozen=True)
class _Child:
    """One child order of an order split below its freeze limit."""

    key: str
    number: int
    count: int
    write: OrderWrite

    @property
    def name(self) -> str:
        return f"{self.number}/{self.count}"

    def answer(self, answer: Answer) -> dict[str, Any]:
        return {"child": self.name, "key": self.key, "qty": self.write.body["qty"],
                "remarks": self.write.body["remarks"], **answer.body, "http_status": answer.status_code}


def _severity(status_code: int) -> tuple[int, int]:
    """A split order's HTTP status: its worst child's (an unknown outcome over a refusal over a
    queued child over a placed one)."""
    return ({200: 0, 202: 1}.get(status_code, 3 if status_code in (502, 504) else 2), status_code)


_FUTURE_TOLERANCE_SECONDS = 10
# A CANCEL's HTTP status: its worst cancel's.
_CANCEL_SEVERITY = {"cancelled": 200, "placed": 200, "queued": 202, "rejected": 422, "not_sent": 502, "failed": 502,
                    "token_invalid": 503, "unknown": 504}
# The most ledger items a strategy-scoped target reads to find the strategy's own position.
_STRATEGY_ITEMS = 5000
# How long a target waits for another signal of its instrument to finish: within the answer.
_TARGET_LOCK_WAIT_SECONDS = 1.0
# Transactions tried for a warm alert's admission: a slot seen taken, or a conflict, is retried.
_ADMIT_ATTEMPTS = 3
# Nothing was written (or only a TokenException, which places nothing): the sweep sends it.
_LEFT_FOR_THE_SWEEP = WriteResult(
    Outcome.QUEUED, message="no pacing slot could be kept within the allowed wait; the sweep will send it"
)


def _contract_traits(contract: dict[str, Any]) -> tuple[Decimal, int, str, str | None]:
    """A contract's tick, lot, name and underlying, as its description says them."""
    return Decimal(str(contract["tick_size"])), int(contract["lot_units"]), str(contract["symbol"]), \
        str(contract["underlying"])


def _failed(reason: dict[str, Any]) -> bool:
    return reason.get("Code") not in (None, "None")


def _attribute(reason: dict[str, Any], name: str) -> str | None:
    """One attribute of the item a cancelled transaction operation returned (ALL_OLD)."""
    value = (reason.get("Item") or {}).get(name) or {}
    found = value.get("S", value.get("N"))
    return str(found) if found is not None else None


def _staleness(alert: Alert, now: float, max_age: int) -> StaleAlert | None:
    if alert.time is None:
        return None
    age = now - alert.time.timestamp()
    if age > max_age:
        return StaleAlert(
            "the alert is stale", detail=[FieldProblem("time", f"is {age:.0f} s old; alerts older than {max_age} s are not sent")]
        )
    if age < -_FUTURE_TOLERANCE_SECONDS:
        return StaleAlert(
            "the alert is from the future", detail=[FieldProblem("time", f"is {-age:.0f} s in the future; check the sender's clock")]
        )
    return None


def _problem_text(error: RelayError) -> str:
    """What the journal records of a refusal: the reason and each field, as the answer says them."""
    fields = "; ".join(f"{problem.field} {problem.message}" for problem in error.detail
                       if problem.message not in error.public_message)  # said once is enough
    return f"{error.public_message}: {fields}" if fields else error.public_message


def _as_recorded(item: dict[str, Any] | None, ours: WriteResult) -> WriteResult:
    """The outcome another writer recorded for the item (the sweep found the order in the book)."""
    if item and item.get("state") == State.PLACED.value and item.get("order_id"):
        return WriteResult(Outcome.PLACED, order_id=str(item["order_id"]), order_status=item.get("broker_status"),
                           message=str(item.get("message") or ""))
    return ours


def _with(answer: Answer, described: dict[str, Any]) -> Answer:
    """A derivative's answer names its contract (never a duplicate's: that is the first copy's)."""
    if described and answer.body.get("status") != "duplicate":
        answer.body.update(described)
    return answer


def _duplicate(claim: Claim) -> Answer:
    first = claim.existing or {}
    return Answer(
        200,
        {"status": "duplicate", "key": claim.key, "first_seen": first.get("received_at"),
         "state": first.get("state"), "order_id": first.get("order_id")},
    )


def _answer(sent: Sent, write: OrderWrite) -> Answer:
    answer = _outcome_answer(sent.result, write)
    if not sent.ledger_updated:
        answer.body["ledger"] = "not_updated"
    return answer


def _outcome_answer(result: WriteResult, write: OrderWrite) -> Answer:
    remarks = write.body["remarks"]
    if result.outcome is Outcome.PLACED:
        return Answer(
            200,
            {"status": "placed", "order_id": result.order_id, "order_status": result.order_status, "remarks": remarks},
        )
    if result.outcome is Outcome.REJECTED:
        return Answer(422, {"status": "rejected", "message": result.message})
    if result.outcome is Outcome.TOKEN_INVALID:
        return Answer(
            TokenUnavailable.status_code,
            {"status": "token_invalid", "error": TokenUnavailable.error, "message": TokenUnavailable.message},
        )
    if result.outcome is Outcome.NOT_SENT:
        return Answer(502, {"status": "not_sent", "message": result.message})
    if result.outcome is Outcome.QUEUED:
        return Answer(202, {"status": "queued", "remarks": remarks, "message": result.message})
    return Answer(
        504 if result.timed_out else 502,
        {
            "status": "unknown",
            "message": f"{result.message}; the order may or may not exist: check the order book for remarks {remarks}",
            "remarks": remarks,
        },
    )
