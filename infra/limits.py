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


@dataclass(frozen=True)
class Limits:
    rate: int  # ThrottlingRateLimit, requests/s
    bucket: int  # ThrottlingBurstLimit, requests
    hold_seconds: float  # the longest an API invocation holds its concurrency slot
    api_reserved: int  # the API function's reserved concurrency


def function_timeout(stage: str) -> int:
    """The deployed `lambda_timeout` of the stage (stage value over the top-level one)."""
    config = json.loads((REPO / ".chalice" / "config.json").read_text())
    stage_config = config.get("stages", {}).get(stage, {})
    return int(stage_config.get("lambda_timeout", config.get("lambda_timeout", 60)))


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
    )


def stage_limits(stage: str) -> Limits:
    return limits_for(hard_budget(function_timeout(stage)))


def reserved_concurrency(function: str, limits: Limits) -> int:
    return limits.api_reserved if function == API_FUNCTION else SCHEDULE_RESERVED
