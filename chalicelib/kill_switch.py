"""The kill switch: pause the whole stage, or one strategy, so that nothing reaches the broker.

One item in the state table (`switch#relay`) holds it: `paused` for the stage, and the set of
paused strategy names. Every order write is admitted by a DynamoDB transaction (the warm
path's claim, the queue path's claim, a split order's claim), and each of them carries a
ConditionCheck on this item: a pause is obeyed by every instance from the next alert on,
without a cache to expire and without one more call on the warm path. The order queue's
consumer and the sweep read it before sending a queued order, so an alert queued before the
pause is not sent after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.admin import admin_request
from chalicelib.errors import Paused
from chalicelib.state import DynamoTable

_SWITCH = {"pk": {"S": "switch#relay"}}
RECENT_SECONDS = 1.0  # how old a read the order queue's consumer may act on


class SwitchRequest(BaseModel):
    """The body of POST /pause and /resume (the admin key travels beside it)."""

    model_config = ConfigDict(extra="forbid")

    admin_key: str | None = Field(default=None, exclude=True, repr=False)
    strategy: str | None = Field(default=None, pattern=r"^[A-Za-z0-9 _.:/#@+=\-]{1,40}$")
    reason: str | None = Field(default=None, max_length=200)


def switch_request(fields: dict[str, Any]) -> SwitchRequest:
    return admin_request(SwitchRequest, fields)


@dataclass(frozen=True)
class SwitchState:
    paused: bool
    strategies: frozenset[str]
    since: str | None = None
    reason: str | None = None
    until: float | None = None  # a stage pause that ends by itself (the daily loss limit: next session)

    def stops(self, strategy: str | None, now: float) -> bool:
        stage = self.paused and (self.until is None or now <= self.until)
        return stage or (strategy is not None and strategy in self.strategies)

    def as_dict(self) -> dict[str, Any]:
        return {"paused": self.paused, "paused_strategies": sorted(self.strategies), "since": self.since,
                "reason": self.reason, **({"until": _iso(self.until)} if self.until is not None else {})}


class KillSwitch(DynamoTable):
    """The switch's item in the state table (`STATE_TABLE`)."""

    unavailable = "the kill switch (state table) is unavailable; nothing was sent"

    def __init__(self, client_factory: Callable[[], Any], table_name: str):
        super().__init__(client_factory, table_name)
        self._recent: tuple[float, SwitchState] | None = None

    # --- the hot path: one ConditionCheck inside the admission transaction -----------------

    def check_operation(self, strategy: str | None, now: float) -> dict[str, Any]:
        """A transaction's check that neither the stage nor the alert's strategy is paused."""
        condition = "(attribute_not_exists(paused) OR paused = :false OR #until < :now)"
        values: dict[str, Any] = {":false": {"BOOL": False}, ":now": {"N": repr(round(now, 3))}}
        if strategy is not None:
            condition += " AND NOT contains(strategies, :strategy)"
            values[":strategy"] = {"S": strategy}
        return {"ConditionCheck": {"TableName": self.table_name, "Key": _SWITCH, "ConditionExpression": condition,
                                   "ExpressionAttributeNames": {"#until": "until"},
                                   "ExpressionAttributeValues": values}}

    @staticmethod
    def refusal(strategy: str | None) -> Paused:
        what = f"the relay or strategy {strategy!r} is paused" if strategy else "the relay is paused"
        return Paused(f"{what} (POST /resume to resume); nothing was sent")

    # --- reading and switching ---------------------------------------------------------------

    def read_recent(self, max_age: float = RECENT_SECONDS) -> SwitchState:
        """The switch as read at most `max_age` seconds ago by this instance (the order queue's
        consumer asks once per message: a burst's hundred messages need not read it a hundred
        times; a pause still reaches it within a second)."""
        now = time.monotonic()
        if self._recent is None or now - self._recent[0] > max_age:
            self._recent = (now, self.read())
        return self._recent[1]

    def read(self) -> SwitchState:
        item = self._call("get_item", Key=_SWITCH, ConsistentRead=True).get("Item") or {}
        return SwitchState(
            paused=bool(item.get("paused", {}).get("BOOL", False)),
            strategies=frozenset(item.get("strategies", {}).get("SS", [])),
            since=item.get("since", {}).get("S"),
            reason=item.get("reason", {}).get("S"),
            until=float(item["until"]["N"]) if "until" in item else None,
        )

    def pause(self, now: float, *, strategy: str | None = None, reason: str | None = None,
              until: float | None = None) -> SwitchState:
        """`until`: a stage pause that ends by itself then (without: until /resume)."""
        values: dict[str, Any] = {":since": {"S": _iso(now)}, ":reason": {"S": reason or "paused"}}
        names: dict[str, str] = {"#until": "until"}
        if strategy is None:
            expression = "SET paused = :true, since = :since, reason = :reason"
            values[":true"] = {"BOOL": True}
            if until is not None:
                expression += ", #until = :until"
                values[":until"] = {"N": repr(round(until, 3))}
            else:
                expression += " REMOVE #until"
        else:
            expression = "ADD strategies :strategy SET since = :since, reason = :reason"
            values[":strategy"] = {"SS": [strategy]}
            names = {}
        self._call("update_item", Key=_SWITCH, UpdateExpression=expression, ExpressionAttributeValues=values,
                   **({"ExpressionAttributeNames": names} if names else {}))
        return self.read()

    def resume(self, now: float, *, strategy: str | None = None) -> SwitchState:
        values: dict[str, Any] = {":since": {"S": _iso(now)}, ":reason": {"S": "resumed"}}
        if strategy is None:  # the whole stage: the strategies paused one by one too
            expression = "SET paused = :false, since = :since, reason = :reason REMOVE strategies, #until"
            values[":false"] = {"BOOL": False}
        else:
            expression = "DELETE strategies :strategy SET since = :since, reason = :reason"
            values[":strategy"] = {"SS": [strategy]}
        self._call("update_item", Key=_SWITCH, UpdateExpression=expression, ExpressionAttributeValues=values,
                   **({"ExpressionAttributeNames": {"#until": "until"}} if strategy is None else {}))
        return self.read()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
