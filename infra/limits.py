"""How much the stack admits at once, derived in one place from the burst the README promises.

The promise: a TradingView watchlist alert fires for every symbol at the same bar close, so the
relay admits at least `BURST_ALERTS_PER_SECOND` alerts arriving inside one second
(`BURST_SECONDS`), and none of them may meet a 429 from API Gateway or a Lambda throttle:
TradingView does not retry, and a refused alert leaves no ledger row and no notification.

API stage throttling (a token bucket per stage):
- the bucket (`ThrottlingBurstLimit`) holds the whole burst, since its alerts can arrive within
  milliseconds of each other: rate x burst seconds, plus `OTHER_REQUESTS` for the routes that share
  the stage (token page, admin routes, `relay` CLI, signed test alerts);
- the refill (`ThrottlingRateLimit`) is the promised rate plus the same headroom, so the bucket is
  full again a second later, long before the next bar close.

The API function's reserved concurrency, by Little's law: executions in flight = arrival rate x
time each holds its slot. The hold assumed is the invocation's hard budget
(`chalicelib.deadline.hard_budget` of the deployed `lambda_timeout`, today 30 s, capped by API
Gateway's 29 s, less 1 s = 28 s): the pacing wait (`PACING_MAX_WAIT_SECONDS`, 10 s), the broker
write (`BROKER_CONNECT_TIMEOUT` + `BROKER_READ_TIMEOUT`, 3.5 s) and the in-request search for an
unknown outcome all draw from it, so no invocation holds its slot longer; a paced write alone
holds it up to 13.7 s. The burst lasts one second, far shorter than that hold, so every alert of
the burst is still in flight when the last one arrives: in flight = rate x min(hold, burst
seconds) = 100. Bursts come at bar closes, at least `BAR_SECONDS` apart, and the hold is shorter,
so one burst has always left before the next arrives (a hold longer than a bar would stack
ceil(hold / bar) bursts). Plus `OTHER_REQUESTS` for the other routes the same function serves.

Taking the steady-state form (100/s x 28 s = 2800) instead would size the stack for a stream the
broker could never take (INDstocks allows 10 order writes a second) and exceed the default
account quota of 1000. The queue that issue 15 adds later answers after the ledger write and
hands the broker call to a consumer: the hold then shrinks to well under a second, and the same
formula (rate x min(hold, burst seconds)) gives fewer executions.

The order queue's consumer (`send_queued_orders`, SendQueuedOrders) is what actually writes a
burst's orders, at INDstocks' pace (at most `BROKER_WRITES_PER_SECOND`). Each invocation reserves
the next free slot in the shared schedule, waits for it, writes and records the outcome; by
Little's law the writes keep busy writes/s x the time one write holds an invocation besides its
wait (`CONSUMER_WRITE_HOLD_SECONDS`: the ledger move, the broker request, the outcome record)
= 10 invocations. More would only wait longer for their slots (the pace, not the consumers, is
the bottleneck); fewer would leave slots idle. The event source's maximum concurrency is that
number, and the function reserves exactly as much (Lambda throttles, and returns to the queue, a
message the event source hands to a function with less reserved than its maximum concurrency).
Its timeout (`lambda_functions.send_queued_orders.lambda_timeout`) must hold the longest wait the
consumer accepts (`SLOT_HORIZON_SECONDS`), one broker write and the record; the queue's
visibility timeout exceeds it by `QUEUE_VISIBILITY_MARGIN_SECONDS` (AWS refuses an SQS event
source whose queue's visibility timeout is shorter than the function's timeout: a message would
be handed out again while its first invocation still runs).

Schedules keep a reservation of 1: the morning rotation, the pre-market check and the minute sweep
run one copy at a time (EventBridge may deliver a schedule twice). The sweep and the token
generation also take locks in the state table, so correctness does not rest on the reservation;
it keeps a second copy from even starting, and caps what a runaway schedule can cost.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chalicelib.deadline import hard_budget  # noqa: E402 - the one place the invocation budget lives

# The README's promise: a whole watchlist's alerts at one bar close, inside one second.
BURST_ALERTS_PER_SECOND = 100
BURST_SECONDS = 1.0
# Bursts come at bar closes; the shortest bar a watchlist alert uses closes every minute.
BAR_SECONDS = 60.0
# Requests of the routes that share the stage and the API function: token page, admin, CLI.
OTHER_REQUESTS = 10
# A scheduled function runs one copy at a time.
SCHEDULE_RESERVED = 1
# Lambda refuses any reservation that leaves fewer than this unreserved in the account and region.
LAMBDA_UNRESERVED_MINIMUM = 100
API_FUNCTION = "APIHandler"
# The order queue's consumer (app.send_queued_orders) and its Chalice function name.
CONSUMER_FUNCTION = "SendQueuedOrders"
CONSUMER_NAME = "send_queued_orders"
# INDstocks' limit on order writes, per account (the pacer keeps under it, chalicelib/pacing.py).
BROKER_WRITES_PER_SECOND = 10
# What one write holds a consumer invocation for besides waiting for its slot: the conditional
# ledger move, the broker request (typically well under the 3.5 s of its timeouts) and the record.
CONSUMER_WRITE_HOLD_SECONDS = 1.0
# The queue's visibility timeout: the consumer's timeout plus this (Lambda's poller and retries).
QUEUE_VISIBILITY_MARGIN_SECONDS = 15
# Receives before a message goes to the dead-letter queue: a slot not kept (SlotNotKept) five
# times running, or a consumer failing five times, is an operator's matter (the DLQ alarm).
QUEUE_MAX_RECEIVES = 5
# How long SQS keeps a message: QUEUE_MAX_AGE_SECONDS (5 min by default) makes an older one
# worthless to send; kept for hours so an operator can still see what was stuck.
QUEUE_RETENTION_SECONDS = 4 * 3600
DEAD_LETTER_RETENTION_SECONDS = 4 * 24 * 3600
# The oldest queued message older than this means the consumer is not keeping up (or not running).
QUEUE_OLDEST_ALARM_SECONDS = 60


@dataclass(frozen=True)
class Limits:
    rate: int  # ThrottlingRateLimit, requests/s
    bucket: int  # ThrottlingBurstLimit, requests
    hold_seconds: float  # the longest an API invocation holds its concurrency slot
    api_reserved: int  # the API function's reserved concurrency
    consumer_concurrency: int = 0  # the order queue consumer's maximum (and reserved) concurrency


def function_timeout(stage: str) -> int:
    """The deployed `lambda_timeout` of the stage (stage value over the top-level one)."""
    config = json.loads((REPO / ".chalice" / "config.json").read_text())
    stage_config = config.get("stages", {}).get(stage, {})
    return int(stage_config.get("lambda_timeout", config.get("lambda_timeout", 60)))


def consumer_timeout(stage: str) -> int:
    """The deployed timeout of the order queue's consumer: its `lambda_functions` entry (stage over
    top level), else the stage's `lambda_timeout`."""
    config = json.loads((REPO / ".chalice" / "config.json").read_text())
    stage_config = config.get("stages", {}).get(stage, {})
    for scope in (stage_config, config):
        timeout = scope.get("lambda_functions", {}).get(CONSUMER_NAME, {}).get("lambda_timeout")
        if timeout is not None:
            return int(timeout)
    return function_timeout(stage)


def queue_visibility_seconds(stage: str) -> int:
    return consumer_timeout(stage) + QUEUE_VISIBILITY_MARGIN_SECONDS


def consumer_concurrency() -> int:
    """Invocations that keep INDstocks' write pace busy (Little's law over one write's hold)."""
    return math.ceil(BROKER_WRITES_PER_SECOND * CONSUMER_WRITE_HOLD_SECONDS)


def in_flight(rate: float, hold_seconds: float) -> int:
    """Executions a burst keeps busy at once: Little's law over the burst, bursts a bar apart."""
    per_burst = math.ceil(rate * min(hold_seconds, BURST_SECONDS))
    return per_burst * math.ceil(hold_seconds / BAR_SECONDS)


def limits_for(hold_seconds: float) -> Limits:
    return Limits(
        rate=BURST_ALERTS_PER_SECOND + OTHER_REQUESTS,
        bucket=math.ceil(BURST_ALERTS_PER_SECOND * BURST_SECONDS) + OTHER_REQUESTS,
        hold_seconds=hold_seconds,
        api_reserved=in_flight(BURST_ALERTS_PER_SECOND, hold_seconds) + OTHER_REQUESTS,
        consumer_concurrency=consumer_concurrency(),
    )


def stage_limits(stage: str) -> Limits:
    return limits_for(hard_budget(function_timeout(stage)))


def reserved_concurrency(function: str, limits: Limits) -> int:
    if function == API_FUNCTION:
        return limits.api_reserved
    if function == CONSUMER_FUNCTION:
        return limits.consumer_concurrency
    return SCHEDULE_RESERVED
