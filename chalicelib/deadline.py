"""One time budget per invocation, fixed when the alert arrives.

Two moments matter:
- `hard`: the invocation must have finished by then. API Gateway stops waiting after 29 s and
  Lambda kills the function at its timeout; whatever is still running after either can neither
  answer nor record what it did. A margin is kept for the last ledger write and the answer.
- `answer_by`: TradingView gives up after 3 s and does not retry. When an answer by then is still
  possible, a slow broker must not take it away: the write's timeouts shrink to fit, and an
  unknown outcome is left to the sweep instead of being reconciled in the request.

Pacing waits, the second write after a token refresh, broker timeouts and the in-request
reconciliation all draw from the same budget, so no step can restart the clock. Pure: time comes
in as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

API_GATEWAY_TIMEOUT_SECONDS = 29.0
# Kept at the end of the hard budget: the last ledger write, the log line and the answer.
HARD_MARGIN_SECONDS = 1.0
# Kept after a write for recording its outcome before the answer.
OUTCOME_RESERVE_SECONDS = 0.2
# A write never gets less than this to be read (below it, it is not attempted at all).
MIN_READ_SECONDS = 0.5
# Of the time fitted to the answer budget, the connect timeout takes at most this share.
CONNECT_SHARE = 0.3


def hard_budget(function_timeout_seconds: float) -> float:
    """Seconds an invocation may use, from arrival to its last write."""
    return min(function_timeout_seconds, API_GATEWAY_TIMEOUT_SECONDS) - HARD_MARGIN_SECONDS


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float

    @property
    def total(self) -> float:
        return self.connect + self.read


@dataclass(frozen=True)
class Deadline:
    arrival: float
    hard: float
    answer_by: float

    @classmethod
    def at_arrival(cls, arrival: float, *, function_timeout: float, answer_budget: float,
                   remaining: float | None = None) -> Deadline:
        """`remaining`: what the Lambda context says is left, when there is one (it is the truth;
        the setting is what the stack was deployed with)."""
        budget = hard_budget(function_timeout)
        if remaining is not None:
            budget = min(budget, remaining - HARD_MARGIN_SECONDS)
        return cls(arrival, arrival + budget, arrival + min(answer_budget, budget))

    def left(self, now: float) -> float:
        return self.hard - now

    def latest_write_start(self, write: Timeouts) -> float:
        """The latest moment a write may start and still end, outcome recorded, before `hard`."""
        return self.hard - write.total - OUTCOME_RESERVE_SECONDS

    def write_timeouts(self, now: float, configured: Timeouts) -> Timeouts | None:
        """The timeouts for a write starting now; None: too late to write at all.

        While an answer within the answer budget is still possible, connect + read together fit
        into it (so a hung broker still gets TradingView an answer); once it has passed,
        the configured timeouts apply, capped by the hard deadline."""
        hard_room = self.hard - now - OUTCOME_RESERVE_SECONDS
        answer_room = self.answer_by - now - OUTCOME_RESERVE_SECONDS
        room = answer_room if answer_room >= MIN_READ_SECONDS / (1 - CONNECT_SHARE) else hard_room
        room = min(room, hard_room)
        connect = min(configured.connect, room * CONNECT_SHARE)
        read = min(configured.read, room - connect)
        if read < MIN_READ_SECONDS:
            return None
        return Timeouts(connect, read)

    def reconcile_until(self, now: float) -> float:
        """In-request reconciliation ends by the answer budget while it can still be met, else
        by the hard deadline: the sweep takes over either way."""
        if now < self.answer_by:
            return self.answer_by - OUTCOME_RESERVE_SECONDS
        return self.hard - OUTCOME_RESERVE_SECONDS
