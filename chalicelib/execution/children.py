"""An order at or above its exchange freeze limit, sent as child orders strictly below it: one
transaction claims the parent and every child, then the children go out in order, each sent
once; a refused or unknown child holds back those after it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.alerts import Alert
from chalicelib.broker import OrderWrite, Outcome
from chalicelib.errors import DependencyUnavailable
from chalicelib.execution.answers import Answer, Trail, severity
from chalicelib.execution.records import ADMIT_ATTEMPTS, attribute, duplicate, failed, sent_answer
from chalicelib.ledger import Claim, State
from chalicelib.orders import child_remarks

if TYPE_CHECKING:
    from chalicelib.deadline import Deadline
    from chalicelib.relay import Relay


@dataclass(frozen=True)
class Child:
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


def place_children(relay: Relay, key: str, alert: Alert, now: float, writer: str, request: dict[str, Any],
                   write: OrderWrite, quantities: tuple[int, ...], lane: str, token: str,
                   deadline: Deadline, trail: Trail) -> Answer:
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
    children = [Child(f"{key}#c{number}/{count}#{writer}", number, count, OrderWrite(write.path, {
        **write.body, "qty": units, "remarks": child_remarks(str(write.body["remarks"]), number, count)}))
        for number, units in enumerate(quantities, 1)]
    total = int(write.body["qty"])
    parent = {name: request[name] for name in ("endpoint", "security_id", "contract", "sizing") if name in request}
    message = f"{total} units are at or above the exchange freeze limit: sent as {count} child orders"
    queue_all, replacing = False, None
    for attempt in range(ADMIT_ATTEMPTS):
        reasons = relay.ledger.transact([
            relay.ledger.claim_operation(key, alert, now, State.SPLIT, token=writer, replacing=replacing,
                                         children=count, message=message, qty=total, **parent),
            *(relay.ledger.claim_operation(child.key, alert, now, State.QUEUED, token=writer, parent=key,
                                           qty=int(child.write.body["qty"]), endpoint=child.write.path,
                                           request=json.dumps(child.write.body), remarks=child.write.body["remarks"],
                                           **{name: request[name] for name in ("security_id", "contract")
                                              if name in request})
              for child in children),
            relay.risk.count_operation(now, count),
            relay.pacer.hold_lane_operation(lane, now, writes=count, if_free=not queue_all),
            relay.switch.check_operation(alert.strategy, now),
        ], token=f"{writer}-split-{attempt}")
        if reasons is None:
            break
        claim_reason, count_reason, lane_reason, switch_reason = reasons[0], *reasons[-3:]
        if failed(claim_reason):
            if attribute(claim_reason, "claim_token") == writer:
                break  # ours: applied, and resent by botocore after its reply was lost
            if replacing is None:
                replacing = relay.ledger.renew(claim_reason.get("Item"), now, relay.settings.dedupe_window_seconds)
                if replacing is not None:
                    continue  # an identical alert past the dedupe window: a new one
            return duplicate(Claim(key, False, relay.ledger.get(key)))
        if failed(switch_reason):
            return relay.refuse(key, alert, now, writer, relay.switch.refusal(alert.strategy))
        if failed(count_reason):
            return relay.refuse(key, alert, now, writer, relay.risk.day_limit_reached(count))
        if failed(lane_reason):
            queue_all = True  # a queued write of the instrument is ahead: every child queues behind it
        # else a conflict with a concurrent transaction: try again
    else:
        return relay.refuse(key, alert, now, writer, DependencyUnavailable(
            "the order ledger was too busy to claim the child orders; nothing was sent", cause="contended"))

    answers: list[dict[str, Any]] = []
    stopped_by: str | None = None
    for child in children:
        if stopped_by is not None:
            answers.append(child.answer(_hold_back(relay, child, lane, stopped_by)))
            continue
        slot = None if queue_all else relay.pacer.reserve(latest=relay.latest_slot(deadline))
        sent = None
        if slot is not None:
            sent = relay.send_recorded(child.key, token, child.write, State.QUEUED, slot, writer=writer,
                                       deadline=deadline, trail=Trail({"key": child.key}, trail.started))
        if sent is None or sent.result.outcome is Outcome.QUEUED:
            queue_all = True  # it and every child after it go through the queue, in order
            answers.append(child.answer(Answer(202, {"status": "queued", "message": relay.enqueue(
                child.key, child.write, now, lane=lane, lane_held=True)})))
            continue
        relay.pacer.release_lane(lane)
        answers.append(child.answer(sent_answer(sent, child.write)))
        if sent.result.outcome is not Outcome.PLACED:
            stopped_by = f"child {child.name} was {answers[-1]['status']}"
    trail.note(children=[f"{answer['child']}:{answer['status']}" for answer in answers])
    status_code = max((answer.pop("http_status") for answer in answers), key=severity)
    return Answer(status_code, {"status": "split", "key": key, "message": message, "children": answers})


def _hold_back(relay: Relay, child: Child, lane: str, reason: str) -> Answer:
    """A child not sent because one before it was refused or its outcome is unknown."""
    message = f"held back, not sent: {reason}"
    relay.ledger.update(child.key, State.REJECTED, relay._clock(), expect=State.QUEUED, message=message)
    relay.pacer.release_lane(lane)
    return Answer(200, {"status": "held_back", "message": message})
