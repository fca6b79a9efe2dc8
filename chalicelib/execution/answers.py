"""What an alert's answer and log line are made of, pure: the answer, the trail its log line
fills in, the worst-of ordering of several outcomes, and the refusals that need no I/O
(freshness) with the journal's text of a refusal. No AWS, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib.alerts import Alert
from chalicelib.errors import FieldProblem, RelayError, StaleAlert


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


@dataclass
class Trail:
    """What the alert's log line will say; filled in as the alert moves along."""

    fields: dict[str, Any] = field(default_factory=dict)
    started: float | None = None  # when the alert arrived (perf counter), for latencies

    def note(self, **values: Any) -> None:
        self.fields.update(values)


def severity(status_code: int) -> tuple[int, int]:
    """A split order's HTTP status: its worst child's (an unknown outcome over a refusal over a
    queued child over a placed one)."""
    return ({200: 0, 202: 1}.get(status_code, 3 if status_code in (502, 504) else 2), status_code)


# A CANCEL's HTTP status: its worst cancel's.
CANCEL_SEVERITY = {"cancelled": 200, "placed": 200, "queued": 202, "rejected": 422, "not_sent": 502, "failed": 502,
                   "token_invalid": 503, "unknown": 504}
FUTURE_TOLERANCE_SECONDS = 10


def staleness(alert: Alert, now: float, max_age: int) -> StaleAlert | None:
    if alert.time is None:
        return None
    age = now - alert.time.timestamp()
    if age > max_age:
        return StaleAlert(
            "the alert is stale", detail=[FieldProblem("time", f"is {age:.0f} s old; alerts older than {max_age} s are not sent")]
        )
    if age < -FUTURE_TOLERANCE_SECONDS:
        return StaleAlert(
            "the alert is from the future", detail=[FieldProblem("time", f"is {-age:.0f} s in the future; check the sender's clock")]
        )
    return None


def problem_text(error: RelayError) -> str:
    """What the journal records of a refusal: the reason and each field, as the answer says them."""
    fields = "; ".join(f"{problem.field} {problem.message}" for problem in error.detail
                       if problem.message not in error.public_message)  # said once is enough
    return f"{error.public_message}: {fields}" if fields else error.public_message


def with_described(answer: Answer, described: dict[str, Any]) -> Answer:
    """A derivative's answer names its contract (never a duplicate's: that is the first copy's)."""
    if described and answer.body.get("status") != "duplicate":
        answer.body.update(described)
    return answer


def contract_traits(contract: dict[str, Any]) -> tuple[Decimal, int, str, str | None]:
    """A contract's tick, lot, name and underlying, as its description says them."""
    return Decimal(str(contract["tick_size"])), int(contract["lot_units"]), str(contract["symbol"]), \
        str(contract["underlying"])
