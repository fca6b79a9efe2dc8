"""Small shared state in DynamoDB: attempt windows, daily counters and single-flight locks.

One table (`STATE_TABLE`), partition key `pk` (string), TTL attribute `expires_at` so old items
disappear on their own. Every write is a single conditional or atomic update, so concurrent
Lambda instances agree without any other coordination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import DependencyUnavailable, RelayError, failure_cause
from chalicelib.observability import logger

# An instrument's lane is free when nothing of it waits in the order queue (or the hold expired).
_LANE_FREE = "attribute_not_exists(pending) OR pending <= :zero OR busy_until < :now"


class DynamoTable:
    """One DynamoDB table behind a lazily created client; AWS failures become relay errors."""

    unavailable = "the relay's state table is unavailable"

    def __init__(self, client_factory: Callable[[], Any], table_name: str):
        self._client_factory = client_factory
        self._client: Any = None
        self.table_name = table_name

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def transact(self, operations: list[dict[str, Any]], *, token: str) -> list[dict[str, Any]] | None:
        """One TransactWriteItems: every operation or none. None when it was applied; else the
        cancellation reasons, one per operation in order (`Code` "None" for those that were fine,
        "ConditionalCheckFailed" with the old `Item` when asked, "TransactionConflict", …).

        `token` is the ClientRequestToken: DynamoDB answers a retry of an applied transaction
        (botocore resends when a reply is lost) with success instead of applying it again."""
        try:
            self.client.transact_write_items(TransactItems=operations, ClientRequestToken=token)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons") or []
                return [dict(reason) for reason in reasons] + [{"Code": "Unknown"}] * (len(operations) - len(reasons))
            raise DependencyUnavailable(self.unavailable, cause=failure_cause(error)) from None
        except BotoCoreError as error:
            raise DependencyUnavailable(self.unavailable, cause=failure_cause(error)) from None
        return None

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(TableName=self.table_name, **kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise  # an answer, not a failure: callers decide what losing the race means
            raise DependencyUnavailable(self.unavailable, cause=failure_cause(error)) from None
        except BotoCoreError as error:
            raise DependencyUnavailable(self.unavailable, cause=failure_cause(error)) from None


@dataclass(frozen=True)
class Attempt:
    """One counted attempt: the window's count including it, and which window it belongs to."""

    name: str
    count: int
    window_start: str  # the window's DynamoDB number, to give the attempt back to that window only


class StateTable(DynamoTable):
    """Attempt windows, daily counters, single-flight locks and the write-pacing schedule.

    `namespace` prefixes every item but the shared blobs: each account of a stage keeps its own
    pacing schedule, day count, lanes and locks in the one table (the first account: none)."""

    def __init__(self, client_factory: Callable[[], Any], table_name: str, *, namespace: str = ""):
        super().__init__(client_factory, table_name)
        self.namespace = namespace

    def within(self, namespace: str) -> StateTable:
        """The same table (and client) seen from another account's namespace."""
        return StateTable(lambda: self.client, self.table_name, namespace=namespace)

    # --- attempt windows (brute-force protection) -------------------------------------------

    def take_attempt(self, name: str, now: float, window_seconds: int, limit: int) -> Attempt | None:
        """Count one attempt in `name`'s window, atomically; None (and nothing counted) when the
        window already holds `limit`. A window opens with its first attempt and lasts
        `window_seconds`. Checking then recording would let parallel guesses all pass the check:
        the condition of the one update is the check."""
        key = {"pk": {"S": self.namespace + f"attempts#{name}"}}
        cutoff = {"N": _number(now - window_seconds)}
        for _ in range(2):  # a window that expires under us is reopened by one of the racers
            try:
                reply = self._call(
                    "update_item", Key=key, UpdateExpression="SET attempts = attempts + :one",
                    ConditionExpression="window_start > :cutoff AND attempts < :limit", ReturnValues="ALL_NEW",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":cutoff": cutoff, ":limit": {"N": str(limit)}},
                )
                return Attempt(name, int(reply["Attributes"]["attempts"]["N"]), reply["Attributes"]["window_start"]["N"])
            except ClientError:
                pass
            start = _number(now)
            try:
                self._call(
                    "update_item", Key=key,
                    UpdateExpression="SET attempts = :one, window_start = :start, expires_at = :expires",
                    ConditionExpression="attribute_not_exists(window_start) OR window_start <= :cutoff",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":start": {"N": start}, ":cutoff": cutoff,
                                               ":expires": {"N": str(int(now + window_seconds) + 60)}},
                )
                return Attempt(name, 1, start)
            except ClientError:
                pass  # the window is open: full, or reopened by a racer (then try once more)
        return None

    def give_back_attempt(self, attempt: Attempt) -> None:
        """Uncount an attempt that succeeded, in the window it was taken from."""
        try:
            self._call(
                "update_item", Key={"pk": {"S": self.namespace + f"attempts#{attempt.name}"}},
                UpdateExpression="SET attempts = attempts - :one",
                ConditionExpression="window_start = :start AND attempts > :zero",
                ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}, ":start": {"N": attempt.window_start}},
            )
        except ClientError:
            pass  # a new window has opened since: nothing of ours left to give back

    # --- daily counters ------------------------------------------------------------------------

    def take_count(self, name: str, limit: int, expires_at: int) -> int | None:
        """Add one to the counter unless it has reached `limit`: the new count, else None and the
        counter untouched. One conditional update, so instances racing for the last one agree."""
        try:
            reply = self._call(
                "update_item", Key={"pk": {"S": self.namespace + f"count#{name}"}},
                UpdateExpression="ADD #n :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit", ReturnValues="UPDATED_NEW",
                ExpressionAttributeNames={"#n": "taken"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(limit)},
                                           ":expires": {"N": str(expires_at)}},
            )
        except ClientError:
            return None
        return int(reply["Attributes"]["taken"]["N"])

    def count_operation(self, name: str, limit: int, expires_at: int, amount: int = 1) -> dict[str, Any]:
        """`take_count` as one operation of a transaction, for `amount` at once (the child orders
        of a split order): its condition fails unless all of them fit under the limit."""
        return {"Update": {
            "TableName": self.table_name, "Key": {"pk": {"S": self.namespace + f"count#{name}"}},
            "UpdateExpression": "ADD #n :amount SET expires_at = :expires",
            # More than the whole limit at once can never fit, not even on a fresh counter.
            "ConditionExpression": "attribute_not_exists(#n) OR #n <= :room" if amount <= limit else "#n <= :room",
            "ExpressionAttributeNames": {"#n": "taken"},
            "ExpressionAttributeValues": {":amount": {"N": str(amount)}, ":room": {"N": str(limit - amount)},
                                          ":expires": {"N": str(expires_at)}},
        }}

    def read_count(self, name: str) -> int:
        item = self._call("get_item", Key={"pk": {"S": self.namespace + f"count#{name}"}}, ConsistentRead=True).get("Item")
        return int(item["taken"]["N"]) if item and "taken" in item else 0

    # --- shared copies (the day's instrument index) -----------------------------------------

    def put_blob(self, name: str, body: bytes, expires_at: int) -> None:
        self._call("put_item", Item={"pk": {"S": f"blob#{name}"}, "body": {"B": body},
                                     "expires_at": {"N": str(expires_at)}})

    def get_blob(self, name: str) -> bytes | None:
        item = self._call("get_item", Key={"pk": {"S": f"blob#{name}"}}).get("Item")
        return bytes(item["body"]["B"]) if item and "body" in item else None

    # --- notes: when a job last ran (the dashboard shows them) ----------------------------------

    def note(self, name: str, now: float, **attributes: str) -> None:
        """Record that `name` ran at `now`, with a few words about it. Never raises: a note is for
        people to read, and the job it describes has already done its work."""
        try:
            self._call("put_item", Item={"pk": {"S": self.namespace + f"note#{name}"}, "at": {"N": _number(now)},
                                         "expires_at": {"N": str(int(now) + 7 * 86400)},
                                         **{key: {"S": value} for key, value in attributes.items()}})
        except (ClientError, RelayError) as error:
            logger.warning("note not written", extra={"event": "note", "note": name, "cause": getattr(error, "cause", None)})

    def read_note(self, name: str) -> dict[str, Any] | None:
        """The note's attributes (`at` in epoch seconds), or None when `name` never ran."""
        item = self._call("get_item", Key={"pk": {"S": self.namespace + f"note#{name}"}}).get("Item")
        if not item:
            return None
        return {key: float(value["N"]) if "N" in value else value.get("S") for key, value in item.items() if key != "pk"}

    # --- single-flight locks ----------------------------------------------------------------

    def acquire(self, name: str, now: float, hold_seconds: int, **attributes: str) -> bool:
        """Take the lock unless someone holds it; it expires by itself after hold_seconds."""
        try:
            self._call(
                "put_item",
                Item={
                    "pk": {"S": self.namespace + f"lock#{name}"},
                    "locked_until": {"N": _number(now + hold_seconds)},
                    "expires_at": {"N": str(int(now + hold_seconds) + 3600)},
                    **{key: {"S": value} for key, value in attributes.items()},
                },
                ConditionExpression="attribute_not_exists(pk) OR locked_until < :now",
                ExpressionAttributeValues={":now": {"N": _number(now)}},
            )
        except ClientError:
            return False
        return True

    def release(self, name: str, holder: str) -> None:
        """Give the lock back early, only if this holder still has it. Never raises: callers
        release in `finally`, and a lock left behind expires by itself after its hold time."""
        try:
            self._call(
                "delete_item", Key={"pk": {"S": self.namespace + f"lock#{name}"}},
                ConditionExpression="holder = :holder", ExpressionAttributeValues={":holder": {"S": holder}},
            )
        except ClientError:
            pass  # it expired and somebody else holds it now: theirs to release
        except RelayError as error:
            logger.warning("lock not released; it expires by itself",
                           extra={"event": "lock", "lock": name, "outcome": "not_released", "cause": error.cause})

    # --- lanes: one instrument's queued writes go out before its next direct one ----------------

    def lane_free_operation(self, lane: str, now: float) -> dict[str, Any]:
        """A transaction's check that the instrument has no write waiting in the order queue."""
        return {"ConditionCheck": {
            "TableName": self.table_name, "Key": {"pk": {"S": self.namespace + f"lane#{lane}"}},
            "ConditionExpression": _LANE_FREE,
            "ExpressionAttributeValues": {":zero": {"N": "0"}, ":now": {"N": _number(now)}},
        }}

    def hold_lane(self, lane: str, now: float, hold_seconds: float) -> None:
        """One more write of the instrument waits in the queue: direct writes of it queue behind
        it until the consumer has sent it, or `hold_seconds` have passed (a consumer that died
        cannot hold the lane for ever)."""
        self._call(
            "update_item", Key={"pk": {"S": self.namespace + f"lane#{lane}"}},
            UpdateExpression="ADD pending :one SET busy_until = :until, expires_at = :expires",
            ExpressionAttributeValues={":one": {"N": "1"}, ":until": {"N": _number(now + hold_seconds)},
                                       ":expires": {"N": str(int(now + hold_seconds) + 3600)}},
        )

    def hold_lane_operation(self, lane: str, now: float, hold_seconds: float, *, writes: int = 1,
                            if_free: bool = False) -> dict[str, Any]:
        """`hold_lane` as one operation of a transaction, for `writes` writes; `if_free`: only if
        nothing of the instrument waits in the queue (the lane check and the hold in one)."""
        values = {":one": {"N": str(writes)}, ":until": {"N": _number(now + hold_seconds)},
                  ":expires": {"N": str(int(now + hold_seconds) + 3600)}}
        condition: dict[str, Any] = {}
        if if_free:
            condition = {"ConditionExpression": _LANE_FREE}
            values |= {":zero": {"N": "0"}, ":now": {"N": _number(now)}}
        return {"Update": {
            "TableName": self.table_name, "Key": {"pk": {"S": self.namespace + f"lane#{lane}"}},
            "UpdateExpression": "ADD pending :one SET busy_until = :until, expires_at = :expires",
            "ExpressionAttributeValues": values, **condition,
        }}

    def lane_busy(self, lane: str, now: float) -> bool:
        item = self._call("get_item", Key={"pk": {"S": self.namespace + f"lane#{lane}"}}, ConsistentRead=True).get("Item") or {}
        pending = float(item.get("pending", {}).get("N", "0"))
        return pending > 0 and float(item.get("busy_until", {}).get("N", "0")) >= now

    def release_lane(self, lane: str, writes: int = 1) -> None:
        """A queued write of the instrument left (or was settled). Never raises: the hold expires."""
        try:
            self._call("update_item", Key={"pk": {"S": self.namespace + f"lane#{lane}"}}, UpdateExpression="ADD pending :minus",
                       ConditionExpression="attribute_exists(pending)",
                       ExpressionAttributeValues={":minus": {"N": str(-writes)}})
        except (ClientError, RelayError):
            pass

    # --- write pacing ---------------------------------------------------------------------------

    def slot_operation(self, name: str, now: float, spacing: float, seen: float | None = None) -> tuple[dict[str, Any], float]:
        """A transaction's pacing slot and the moment it gives: `now` when the schedule is idle,
        else the slot `seen` in the schedule (read from a cancelled attempt), taken only if
        nobody took it meanwhile. The old item comes back with a failed condition, so the
        caller learns the schedule's next slot without a read."""
        if seen is None:
            condition, slot = "attribute_not_exists(next_slot) OR next_slot <= :at", now
        else:
            condition, slot = "next_slot = :at", seen
        return {"Update": {
            "TableName": self.table_name, "Key": {"pk": {"S": self.namespace + f"pace#{name}"}},
            "UpdateExpression": "SET next_slot = :next, expires_at = :expires",
            "ConditionExpression": condition, "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "ExpressionAttributeValues": {":next": {"N": _number(slot + spacing)}, ":at": {"N": _number(slot)},
                                          ":expires": {"N": str(int(now) + 86400)}},
        }}, slot


    def reserve_slot(self, name: str, now: float, spacing: float, latest: float) -> float | None:
        """The earliest moment this caller may write, at least `spacing` after the previous one;
        None, and the schedule untouched, when that moment would fall after `latest`.

        Two atomic updates at most: restart the schedule when it lies in the past, else push it
        back by one spacing and take the slot just freed. Slots are shared by every instance. A
        refused caller must not push the schedule: under a long burst, refusals would otherwise
        leave gaps that the writers after them wait through for nothing.
        """
        key = {"pk": {"S": self.namespace + f"pace#{name}"}}
        try:
            self._call(
                "update_item", Key=key,
                UpdateExpression="SET next_slot = :next, expires_at = :expires",
                ConditionExpression="attribute_not_exists(next_slot) OR next_slot < :now",
                ExpressionAttributeValues={":next": {"N": _number(now + spacing)}, ":now": {"N": _number(now)},
                                           ":expires": {"N": str(int(now) + 86400)}},
            )
            return now
        except ClientError:
            pass
        try:
            reply = self._call(
                "update_item", Key=key, UpdateExpression="SET next_slot = next_slot + :spacing",
                ConditionExpression="next_slot <= :latest", ReturnValues="UPDATED_NEW",
                ExpressionAttributeValues={":spacing": {"N": _number(spacing)}, ":latest": {"N": _number(latest)}},
            )
        except ClientError:  # only a failed condition reaches here: the slot lies after `latest`
            return None
        return float(reply["Attributes"]["next_slot"]["N"]) - spacing


def _number(value: float) -> str:
    return str(Decimal(str(round(value, 3))))
