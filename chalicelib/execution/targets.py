"""Position targets and exits: read where the instrument stands, under its lock, and send only
the difference (`position_size`, EXIT). The lock and the instrument's reading also serve the
cancels (chalicelib/execution/cancels.py). Imported on a target's or a cancel's first alert:
never on a plain alert's path."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.alerts import Action, Alert, PositionScope
from chalicelib.errors import AlertRejected, DependencyUnavailable, FieldProblem, RelayError
from chalicelib.execution.answers import Answer, Trail
from chalicelib.execution.records import duplicate
from chalicelib.fno.symbols import EquityTicker
from chalicelib.ledger import State
from chalicelib.moments import ist_date
from chalicelib.order_queue import message_group
from chalicelib.portfolio import InstrumentKey
from chalicelib.positions import strategy_standing
from chalicelib.strategy.brackets import check_opens_only
from chalicelib.strategy.targets import order_for_target

if TYPE_CHECKING:
    from chalicelib.deadline import Deadline
    from chalicelib.positions import Standing
    from chalicelib.relay import Relay

# The most ledger items a strategy-scoped target reads to find the strategy's own position.
STRATEGY_ITEMS = 5000
# How long a target waits for another signal of its instrument to finish: within the answer.
TARGET_LOCK_WAIT_SECONDS = 1.0


def place_to_target(relay: Relay, key: str, alert: Alert, now: float, writer: str, deadline: Deadline,
                    trail: Trail) -> Answer:
    """A target position (`position_size`) or an exit: read where the instrument stands and
    send only the difference. The instrument's lock is held from the read to the write's
    record, so a second signal for it (an exit racing an entry) computes from the position
    this one leaves; a write of it still waiting in the order queue would not be in the
    position yet, so the target waits for none and is refused instead."""
    try:
        token, where, instrument = hold_instrument(relay, alert, now, writer, deadline)
    except RelayError as error:
        return relay.refuse(key, alert, now, writer, error)
    try:
        try:
            if relay.pacer.lane_busy(instrument, now):
                raise DependencyUnavailable(
                    f"an order for {where.name} still waits in the order queue, so its position is not known "
                    "yet; nothing was sent", cause="queued_ahead")
            standing = _standing(relay, alert, token, where, now)
            target = 0 if alert.action is Action.EXIT else alert.position_size
            assert target is not None
            order = order_for_target(target, standing.net, in_flight=standing.in_flight,
                                     lot_units=where.lot_units, instrument=where.name)
            refused = relay.timing(alert, now, is_exit=order.reduces_only or order.noop)
            if not order.noop:  # a bracket protects what an order opens, never what it closes
                check_opens_only(order.closing, alert.bracket_fields, decided=order.describe())
        except RelayError as error:
            return relay.refuse(key, alert, now, writer, error)
        position = {"target": target, **standing.as_dict(), "change": order.change, "decided": order.describe()}
        trail.note(position=position)
        if refused:
            return relay.refuse(key, alert, now, writer, refused)
        if order.noop:
            return _noop(relay, key, alert, now, writer, position)
        assert order.side is not None
        sized = alert.model_copy(update={"action": Action(order.side.value), "quantity": order.quantity,
                                         "lots": None, "position_size": None})
        return relay.send(key, alert, sized, now, writer, deadline, trail, token=token,
                          extra={"position": position})
    finally:
        relay.positions.release(instrument, writer)


def hold_instrument(relay: Relay, alert: Alert, now: float, writer: str,
                    deadline: Deadline) -> tuple[str, InstrumentKey, str]:
    """The token, the instrument the alert names and its lock's name, the lock taken (the
    caller releases it); waits for a holder ahead up to TARGET_LOCK_WAIT_SECONDS."""
    token = relay.tokens.current()
    where = _locate(relay, alert, token, now)
    instrument = message_group(where.exchange, where.security_id)
    if not relay.positions.hold(instrument, writer, wait_until=deadline.arrival + TARGET_LOCK_WAIT_SECONDS):
        raise DependencyUnavailable(f"another signal for {where.name} is still being applied; nothing was sent",
                                    cause="position_busy")
    return token, where, instrument


def _standing(relay: Relay, alert: Alert, token: str, where: InstrumentKey, now: float) -> Standing:
    """Where a target starts from: the account's position (two broker reads), or with
    `position_scope: STRATEGY` the one the relay built for the alert's strategy (its own
    ledger items of the retention window: no broker read)."""
    if alert.position_scope is PositionScope.ACCOUNT:
        return relay.positions.standing(token, where.security_id, where.segment, alert.product.value)
    assert alert.strategy is not None  # the model requires it with this scope
    items = relay.ledger.journal(since=now - relay.settings.order_retention_days * 86400, limit=STRATEGY_ITEMS)
    return strategy_standing(items, alert.strategy, where.security_id, alert.product.value)


def _locate(relay: Relay, alert: Alert, token: str, now: float) -> InstrumentKey:
    """The instrument an alert names, as its position is read: security id, segment, lot."""
    reading = alert.reading()
    if isinstance(reading, EquityTicker):
        instrument = relay.instruments.resolve(alert.resolved_exchange.value, alert.ticker, ist_date(now))
        return InstrumentKey(str(instrument.security_id), alert.resolved_exchange.value, "EQUITY", 1, alert.ticker)
    derivatives = relay.derivatives
    if derivatives is None:
        raise AlertRejected(detail=[FieldProblem("symbol", "futures and options are not enabled in this relay")])
    contract = derivatives.resolve(reading, token, now).contract
    return InstrumentKey(contract.security_id, contract.exchange.value, "DERIVATIVE", contract.lot_units,
                         contract.openalgo_symbol)


def _noop(relay: Relay, key: str, alert: Alert, now: float, writer: str, position: dict[str, Any]) -> Answer:
    """The position is already the target: recorded, nothing sent (not an error: an error
    invites a resend)."""
    claim = relay.ledger.claim(key, alert, now, State.NOOP, token=writer,
                               dedupe_window=relay.settings.dedupe_window_seconds,
                               message=position["decided"], position=json.dumps(position, sort_keys=True))
    if not claim.won:
        return duplicate(claim)
    return Answer(200, {"status": "noop", "key": key, "message": position["decided"], "position": position})
