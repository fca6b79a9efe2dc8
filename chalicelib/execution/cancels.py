"""Cancels: CANCEL (every open order of one instrument), CANCEL_ALL and EXIT_ALL (every
instrument the relay traded today), and the one cancel each of them sends: by the order's own
id on its endpoint family, in a pacing slot of its own, once. Imported on a cancel's first
alert (or the flatten's first cancel): never on a plain alert's path."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.alerts import Action, Alert
from chalicelib.broker import Outcome, cancel_write
from chalicelib.errors import RelayError
from chalicelib.execution.answers import CANCEL_SEVERITY, Answer, Trail, problem_text, severity, staleness
from chalicelib.execution.records import LEFT_FOR_THE_SWEEP, duplicate
from chalicelib.execution.targets import hold_instrument
from chalicelib.ledger import State
from chalicelib.positions import is_smart, open_orders

if TYPE_CHECKING:
    from chalicelib.deadline import Deadline
    from chalicelib.relay import Relay


def cancel_open_orders(relay: Relay, key: str, alert: Alert, now: float, writer: str, deadline: Deadline,
                       trail: Trail) -> Answer:
    """action CANCEL: cancel every open order of the instrument in the book (any product),
    each by its own id on its endpoint family, each in a pacing slot of its own and sent
    once. A cancel whose outcome is unknown is reported as such, never resent (the order
    book says later whether it went). Accepted any time a cancel can help: it opens nothing.
    Held under the instrument's lock, like a target, so it never interleaves with one."""
    refused = staleness(alert, now, relay.schedule.max_age(is_exit=True))  # a cancel opens nothing: exits' limit
    if refused:
        return relay.refuse(key, alert, now, writer, refused)
    if relay.switch.read().stops(alert.strategy, now):  # a pause stops every write, cancels too
        return relay.refuse(key, alert, now, writer, relay.switch.refusal(alert.strategy))
    try:
        token, where, instrument = hold_instrument(relay, alert, now, writer, deadline)
    except RelayError as error:
        return relay.refuse(key, alert, now, writer, error)
    try:
        try:
            book = relay.broker.order_book(token)
        except RelayError as error:
            return relay.refuse(key, alert, now, writer, error)
        rows = open_orders(book, where.security_id)
        claim = relay.ledger.claim(key, alert, now, State.CANCEL, token=writer,
                                   dedupe_window=relay.settings.dedupe_window_seconds, security_id=where.security_id,
                                   message=f"{len(rows)} open order(s) of {where.name} to cancel")
        if not claim.won:
            return duplicate(claim)
        if not rows:
            relay.ledger.update(key, State.NOOP, relay._clock(), message=f"no open order of {where.name}")
            return Answer(200, {"status": "noop", "key": key, "message": f"no open order of {where.name}"})
        cancels = [cancel_one(relay, row, token, deadline, trail, book) for row in rows]
    finally:
        relay.positions.release(instrument, writer)
    summary = "; ".join(f"{c['order_id']}: {c['status']}" for c in cancels)
    relay.ledger.update(key, None, relay._clock(), message=f"cancels of {where.name}: {summary}",
                        request=json.dumps(cancels, sort_keys=True))
    trail.note(cancels=[f"{c['order_id']}:{c['status']}" for c in cancels])
    worst = max((CANCEL_SEVERITY[c["status"]] for c in cancels), key=severity)
    return Answer(worst, {"status": "cancelled", "key": key, "orders": cancels})


def act_on_every_instrument(relay: Relay, key: str, alert: Alert, now: float, writer: str, trail: Trail) -> Answer:
    """EXIT_ALL: close the positions of every instrument the relay traded today (of the
    alert's strategy when it names one); CANCEL_ALL: cancel their open orders. The flatten's
    machinery without its pause: each cancel and each closing order once, each closing order
    a ledger item of its own. Answered with each outcome; the worst sets the HTTP status."""
    from chalicelib.flatten import Flattener, Scope  # not on a plain alert's path

    exits = alert.action is Action.EXIT_ALL
    age = None if alert.time is None else now - alert.time.timestamp()
    refused = (relay.schedule.refusal(now, is_exit=True, age_seconds=age) if exits
               else staleness(alert, now, relay.schedule.max_age(is_exit=True)))
    if refused is None and relay.switch.read().stops(alert.strategy, now):
        refused = relay.switch.refusal(alert.strategy)
    if refused is not None:
        return relay.refuse(key, alert, now, writer, refused)
    claim = relay.ledger.claim(key, alert, now, State.CANCEL, token=writer,
                               dedupe_window=relay.settings.dedupe_window_seconds,
                               message=f"{alert.action.value} of every instrument traded today")
    if not claim.won:
        return duplicate(claim)
    try:
        done = Flattener(relay, relay.ledger).run(now, scope=Scope.RELAY, strategy=alert.strategy, pause=False,
                                                  cancel=not exits, close=exits)
    except RelayError as error:  # nothing sent yet (a read failed): recorded, and answered as the error
        relay.ledger.update(key, State.FAILED, relay._clock(), message=problem_text(error), still_open=True)
        raise
    outcomes = done["closes"] if exits else done["cancels"]
    said = "; ".join(f"{o.get('order_id') or o.get('security_id')}: {o['status']}" for o in outcomes)
    relay.ledger.update(key, None, relay._clock(), message=f"{alert.action.value}: {said or 'nothing open'}",
                        request=json.dumps(outcomes, sort_keys=True, default=str))
    trail.note(actions=[f"{o.get('order_id') or o.get('security_id')}:{o['status']}" for o in outcomes])
    if not outcomes:
        return Answer(200, {"status": "noop", "key": key, "message": "nothing open in the instruments traded today"})
    worst = max((CANCEL_SEVERITY.get(o["status"], 504) for o in outcomes), key=severity)
    if exits:
        return Answer(worst, {"status": "exited", "key": key, "closes": outcomes})
    return Answer(worst, {"status": "cancelled", "key": key, "orders": outcomes})


def cancel_one(relay: Relay, row: dict[str, Any], token: str, deadline: Deadline, trail: Trail | None = None,
               book: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Cancel one open order of the book, once, in a pacing slot of its own: its outcome."""
    order_id, segment = str(row["id"]), str(row.get("segment") or "EQUITY").upper()
    write = cancel_write(order_id, segment, smart=is_smart(row, book or ()))
    latest = relay.latest_slot(deadline)
    slot = relay.pacer.reserve(latest=latest)
    result = (relay.write_in_slot(token, write, Trail({}, trail.started if trail else None), slot, latest, deadline)
              if slot is not None else LEFT_FOR_THE_SWEEP)
    status = {Outcome.PLACED: "cancelled", Outcome.REJECTED: "rejected", Outcome.NOT_SENT: "not_sent",
              Outcome.QUEUED: "not_sent", Outcome.TOKEN_INVALID: "not_sent"}.get(result.outcome, "unknown")
    message = ("no pacing slot within the allowed wait: not sent; send CANCEL again"
               if result.outcome is Outcome.QUEUED else result.message or None)
    return {"order_id": order_id, "endpoint": write.path, "status": status,
            **({"message": message} if message else {})}
