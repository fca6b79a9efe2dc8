"""The order queue's consumer: one queued alert, sent once in its pacing slot.

Delivered by SQS at least once (and by `make run`'s consumer loop the same way). The move from
`queued` into `sent` is conditional, so a second delivery, or the sweep getting there first,
finds the item gone from `queued` and writes nothing. A write that cannot keep a slot within
the consumer's horizon writes nothing and hands the message back to the queue.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.broker import OrderWrite, Outcome
from chalicelib.deadline import Deadline
from chalicelib.errors import RelayError
from chalicelib.ledger import Ledger, State
from chalicelib.observability import logger
from chalicelib.order_queue import message_group
from chalicelib.relay import Relay

# How far ahead the consumer may take a slot: a queue of this many seconds of writes drains
# without redelivery. Within the consumer function's timeout, less the write and its record.
SLOT_HORIZON_SECONDS = 20.0


class SlotNotKept(RelayError):
    """No pacing slot within the horizon, or late for every one: nothing was written. The
    message goes back to the queue (the handler raises) and is delivered again."""

    status_code = 503
    error = "slot_not_kept"
    message = "no pacing slot could be kept; the queued order was not written and will be retried"


@dataclass(frozen=True)
class QueuedResult:
    key: str
    outcome: str  # placed / rejected / unknown / failed / … ; or skipped (not queued any more)
    detail: str | None = None


class QueuedSender:
    def __init__(self, relay: Relay, ledger: Ledger, *, queue_max_age_seconds: int,
                 make_token: Callable[[], str] = lambda: secrets.token_hex(8)):
        self._relay = relay
        self._ledger = ledger
        self._queue_max_age = queue_max_age_seconds
        self._make_token = make_token

    def send(self, key: str, now: float, remaining_seconds: float | None = None) -> QueuedResult:
        item = self._ledger.get(key)
        state = (item or {}).get("state")
        if item is None or state != State.QUEUED.value or not item.get("request"):
            # Sent already (a second delivery, or the sweep was first) or never queued: nothing to do.
            return self._done(key, "skipped", f"state is {state or 'absent'}")
        if now - float(item.get("received_epoch") or now) > self._queue_max_age:
            return self._done(key, "skipped", "older than QUEUE_MAX_AGE_SECONDS; the sweep reports it, unsent")
        relay = self._relay.for_item(item)  # a paper item is sent to paper, whatever the stage
        if relay.hold_if_paused(item, now):
            return self._done(key, "paused", "the kill switch is on; not sent")
        settings = relay.settings
        # Nobody waits for an answer here: the whole invocation is the budget.
        deadline = Deadline.at_arrival(now, function_timeout=settings.function_timeout_seconds,
                                       answer_budget=settings.function_timeout_seconds, remaining=remaining_seconds)
        token = relay.tokens.current()  # before the slot: a missing token must not leave a gap
        latest = min(now + SLOT_HORIZON_SECONDS, deadline.latest_write_start(relay.write_timeouts))
        slot = relay.pacer.reserve(latest=latest)
        if slot is None:
            raise SlotNotKept(cause="pace")
        write = OrderWrite(str(item["endpoint"]), json.loads(item["request"]))
        sent = relay.send_recorded(key, token, write, State.QUEUED, slot, writer=self._make_token(),
                                         deadline=deadline, latest=latest)
        if sent is None:
            return self._done(key, "skipped", "moved out of queued meanwhile")
        if sent.result.outcome is Outcome.QUEUED:  # late for every slot: recorded queued again, nothing written
            raise SlotNotKept(cause="late")  # still waiting: it keeps its lane
        # Its instrument's next alerts no longer need to queue behind it.
        relay.pacer.release_lane(message_group(str(write.body["exchange"]), str(write.body["security_id"])))
        return self._done(key, sent.result.outcome.value, sent.result.order_id)

    @staticmethod
    def _done(key: str, outcome: str, detail: str | None) -> QueuedResult:
        logger.info("queued order", extra={"event": "queue", "key": key, "outcome": outcome, "detail": detail})
        return QueuedResult(key, outcome, detail)
