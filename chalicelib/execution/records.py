"""The broker's outcome and the ledger's record of it, as answers: what one send did, the
ledger state each outcome leaves, a duplicate's answer, and the reasons a DynamoDB transaction
gives for a cancelled operation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.broker import OrderWrite, Outcome, WriteResult
from chalicelib.errors import TokenUnavailable
from chalicelib.execution.answers import Answer
from chalicelib.ledger import Claim, State


@dataclass(frozen=True)
class Sent:
    """What one send did: the broker's outcome, and whether the ledger recorded it."""

    result: WriteResult
    ledger_updated: bool = True


STATE_AFTER = {
    Outcome.PLACED: State.PLACED,
    Outcome.REJECTED: State.REJECTED,
    Outcome.UNKNOWN: State.UNKNOWN,
    Outcome.NOT_SENT: State.FAILED,  # provably not sent: the alert may be sent again
    Outcome.TOKEN_INVALID: State.FAILED,  # a TokenException places nothing
    Outcome.QUEUED: State.QUEUED,  # nothing placed yet: the sweep sends it with the token it reads
}
# Transactions tried for an admission (a warm alert's, a split order's): a slot seen taken, or a
# conflict, is retried.
ADMIT_ATTEMPTS = 3
# Nothing was written (or only a TokenException, which places nothing): the sweep sends it.
LEFT_FOR_THE_SWEEP = WriteResult(
    Outcome.QUEUED, message="no pacing slot could be kept within the allowed wait; the sweep will send it"
)


def failed(reason: dict[str, Any]) -> bool:
    """Whether a transaction's operation was the one (or one of those) that cancelled it."""
    return reason.get("Code") not in (None, "None")


def attribute(reason: dict[str, Any], name: str) -> str | None:
    """One attribute of the item a cancelled transaction operation returned (ALL_OLD)."""
    value = (reason.get("Item") or {}).get(name) or {}
    found = value.get("S", value.get("N"))
    return str(found) if found is not None else None


def as_recorded(item: dict[str, Any] | None, ours: WriteResult) -> WriteResult:
    """The outcome another writer recorded for the item (the sweep found the order in the book)."""
    if item and item.get("state") == State.PLACED.value and item.get("order_id"):
        return WriteResult(Outcome.PLACED, order_id=str(item["order_id"]), order_status=item.get("broker_status"),
                           message=str(item.get("message") or ""))
    return ours


def duplicate(claim: Claim) -> Answer:
    first = claim.existing or {}
    return Answer(
        200,
        {"status": "duplicate", "key": claim.key, "first_seen": first.get("received_at"),
         "state": first.get("state"), "order_id": first.get("order_id")},
    )


def sent_answer(sent: Sent, write: OrderWrite) -> Answer:
    answer = outcome_answer(sent.result, write)
    if not sent.ledger_updated:
        answer.body["ledger"] = "not_updated"
    return answer


def outcome_answer(result: WriteResult, write: OrderWrite) -> Answer:
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
