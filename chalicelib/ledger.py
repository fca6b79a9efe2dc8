"""The alert ledger: one DynamoDB item per alert, claimed before the broker is contacted.

INDstocks has no idempotency key, so this table is the relay's. The conditional claim makes a
replayed or concurrent duplicate alert lose the race and never reach the broker. Each item moves
through explicit states:

    sent → placed | rejected | unknown → (reconciled) placed | absent
                                            (a warm alert: claimed `sent` with its pacing slot)
    queued → sent → …                       (over the write pace; the order queue sends it)
    split                                   (over a freeze limit: its child orders each have an
                                             item of their own, `queued → sent → …`)
    failed                                  (nothing was sent; the alert may be sent again)
    rejected                                (stale, unknown symbol, over a limit: never sent)
    received → sent | queued | failed       (items written before the one-transaction claim)

A warm alert's claim, its pacing slot and the day's count are one transaction, and the item is
written `sent` at once: one write before the broker request. An invocation that dies before the
request leaves a `sent` item that is not in the order book; the sweep reports it absent after
ORDER_SETTLE_SECONDS (never resent), which is what `received` used to lead to, one state sooner.
Only one caller may move an item into `sent`: the move is conditional on the state it leaves,
so a queue message or sweep delivered twice cannot send a queued alert twice.

Items carry what a trader needs to review a decision, never the secret or the token, and
expire (DynamoDB TTL) after ORDER_RETENTION_DAYS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.alerts import Alert
from chalicelib.state import DynamoTable

JOURNAL_INDEX = "journal"
# Ledger.journal's default: the items of the ledger's own account.
OWN_ACCOUNT = ""
OPEN_INDEX = "open"


class State(str, Enum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENT = "sent"
    PLACED = "placed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    ABSENT = "absent"
    FAILED = "failed"
    SPLIT = "split"  # an order at or above its freeze limit: sent as child orders, never itself
    PAUSED = "paused"  # arrived while the kill switch was on: never sent
    NOOP = "noop"  # a target position already reached, or nothing to cancel: nothing sent
    CANCEL = "cancel"  # a CANCEL, CANCEL_ALL or EXIT_ALL alert: each outcome in `message` and `request`


# Items the sweep must still look at (sparse index membership). `received` is open so that an
# invocation that dies between the claim and the send leaves an item the sweep can settle.
OPEN_STATES = {State.RECEIVED, State.QUEUED, State.SENT, State.UNKNOWN}


_ADDED_FIELD_DEFAULTS: dict[str, Any] = {
    "amo": False, "lots": None, "option_type": None, "offset": None, "expiry": None, "underlying": None,
    "strategy": None, "position_size": None, "position_scope": "ACCOUNT", "quantity_type": "fixed", "amount": None, "stop_loss": None,
    "target": None, "trailing_stop": None, "accounts": None, "mode": None}
# What the journal shows for an item written before its field existed, where not None.
_JOURNAL_DEFAULTS: dict[str, Any] = {"mode": "live"}
HASH_KEY_PREFIX = "sha256:"
# `expect_token` for an item that was never sent (no send_token attribute).
NO_SEND_TOKEN = ""  # noqa: S105 - a marker, not a secret

# Every item of GET /orders has exactly these keys (null when empty; README, "Journal"), whatever
# state it reached: a reader never has to tell a missing key from an empty one. The index
# attributes (`journal`, `open`) are the table's business and stay out.
JOURNAL_FIELDS = (
    "key", "alert_id", "state", "message", "received_at", "updated_at", "alert_time",
    "symbol", "exchange", "side", "qty", "order_type", "product", "amo",
    "security_id", "endpoint", "request", "remarks", "order_id", "broker_status",
    "traded_qty", "traded_price", "exchange_message", "follow_message", "reconciled", "announced",
    "latency_ms", "received_epoch", "sent_epoch", "expires_at", "parent", "children", "strategy",
    "position_size", "position", "origin", "sizing", "format", "account", "mode",
)  # fmt: skip


def ledger_key(alert: Alert) -> str:
    """The alert's identity: its alert_id, else a hash of the whole alert minus the secret."""
    if alert.alert_id:
        return f"id:{alert.alert_id}"
    # Fields added after release stay out of the hash while they hold their default, so a replay
    # that straddles an upgrade still hashes to the key its first copy claimed.
    later_defaults = {name for name, default in _ADDED_FIELD_DEFAULTS.items() if getattr(alert, name) == default}
    canonical = json.dumps(alert.model_dump(mode="json", exclude={"secret", *later_defaults}),
                           sort_keys=True, separators=(",", ":"))
    return HASH_KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _to_attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": str(Decimal(str(value)))}
    return {"S": str(value)}


def _from_attr(attr: dict[str, Any]) -> Any:
    if "S" in attr:
        return attr["S"]
    if "N" in attr:
        number = Decimal(attr["N"])
        return int(number) if number == number.to_integral_value() else float(number)
    if "BOOL" in attr:
        return attr["BOOL"]
    return None


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    return {name: _from_attr(attr) for name, attr in raw.items()}


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming an alert: ours to send, or a duplicate of an earlier one."""

    key: str
    won: bool
    existing: dict[str, Any] | None = None


class Ledger(DynamoTable):
    unavailable = "the order ledger is unavailable; the order was not sent"

    def __init__(self, client_factory: Callable[[], Any], table_name: str, retention_days: int = 7, *,
                 account: str | None = None, unmarked: str | None = None):
        """`account`: the stage account this ledger writes for (its items carry it) and reads
        (open items, the journal); None reads every account. `unmarked`: the account whose items
        carry no `account` (written before accounts existed: the stage's first)."""
        super().__init__(client_factory, table_name)
        self._retention_seconds = retention_days * 86400
        self.account = account
        self._unmarked = unmarked if unmarked is not None else account

    def _owner(self, item: dict[str, Any]) -> str | None:
        return item.get("account") or self._unmarked

    # --- claiming --------------------------------------------------------------------------

    def claim(self, key: str, alert: Alert | None, now: float, state: State = State.RECEIVED, *, token: str,
              dedupe_window: float | None = None, **fields: Any) -> Claim:
        """Write the alert's item unless it exists (a failed, never-sent alert may be claimed again).

        `token` is this invocation's own: botocore resends a put whose reply was lost, the resend
        fails its condition against the item the first attempt wrote, and only the token tells
        "our own claim" from "somebody else's". A hash-keyed alert (no alert_id) whose first copy
        is older than `dedupe_window` and settled is a new alert: the old item is kept under an
        archive key and replaced."""
        attributes = self._claim_attributes(key, alert, now, state, token, fields)
        if self._put_if(attributes, "attribute_not_exists(#key) OR #state = :failed",
                        {"#key": "key", "#state": "state"}, {":failed": {"S": State.FAILED.value}}):
            return Claim(key, True)
        existing = self.get(key)
        if existing is not None and existing.get("claim_token") != token and self._renewable(existing, now, dedupe_window):
            self._archive(key, existing)
            # Replace exactly the item judged old: a concurrent copy of the new alert loses here.
            if self._put_if(attributes, "#first = :first", {"#first": "received_epoch"},
                            {":first": _to_attr(existing["received_epoch"])}):
                return Claim(key, True)
            existing = self.get(key)
        if existing is not None and existing.get("claim_token") == token:
            return Claim(key, True)  # our own put, resent by botocore after its reply was lost
        return Claim(key, False, existing)

    def _claim_attributes(self, key: str, alert: Alert | None, now: float, state: State, token: str,
                          fields: dict[str, Any]) -> dict[str, Any]:
        item = {
            "key": key,
            "state": state.value,
            "journal": "alert",
            "received_at": _iso(now),
            "received_epoch": round(now, 3),
            "updated_at": _iso(now),
            "expires_at": int(now) + self._retention_seconds,
            "claim_token": token,
            **({"account": self.account} if self.account else {}),
            # An order the relay decided itself (flatten) has no alert: its fields say it all.
            **(alert.summary() if alert is not None else {}),
            **({"alert_time": alert.time.isoformat()} if alert is not None and alert.time else {}),
            **{name: value for name, value in fields.items() if value is not None},
            **({"open": "open"} if state in OPEN_STATES else {}),
        }
        return {name: _to_attr(value) for name, value in item.items()}

    def claim_sent_operation(self, key: str, alert: Alert, now: float, *, token: str,
                             replacing: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """The claim and the move into `sent` as one transaction operation: the item is written
        `sent` (send token = claim token = `token`) unless it exists. Used with the pacing slot and
        the day's count in one TransactWriteItems, so a warm alert makes one write before its
        broker request. If the invocation dies before the request, the sweep finds the item
        `sent`, not in the order book, and reports it absent after ORDER_SETTLE_SECONDS: nothing is
        resent, nothing is lost without a word."""
        return self.claim_operation(key, alert, now, State.SENT, token=token, replacing=replacing, **{
            **fields, "send_token": token, "writer": token, "sent_epoch": round(now, 3)})

    def claim_operation(self, key: str, alert: Alert, now: float, state: State, *, token: str,
                        replacing: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """`claim` as one transaction operation (the old item comes back when it exists)."""
        attributes = self._claim_attributes(key, alert, now, state, token, fields)
        if replacing is not None:  # exactly the item judged renewable: a concurrent new copy loses
            condition = {"ConditionExpression": "#first = :first", "ExpressionAttributeNames": {"#first": "received_epoch"},
                         "ExpressionAttributeValues": {":first": _to_attr(replacing["received_epoch"])}}
        else:
            condition = {"ConditionExpression": "attribute_not_exists(#key) OR #state = :failed",
                         "ExpressionAttributeNames": {"#key": "key", "#state": "state"},
                         "ExpressionAttributeValues": {":failed": {"S": State.FAILED.value}}}
        return {"Put": {"TableName": self.table_name, "Item": attributes, **condition,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}

    def renew(self, raw_existing: dict[str, Any] | None, now: float, dedupe_window: float) -> dict[str, Any] | None:
        """The item a claim found (as DynamoDB returned it), archived and returned when the new
        alert may replace it (a hash key past the dedupe window, its fate settled); else None."""
        existing = _item(raw_existing) if raw_existing else None
        if existing is None or not self._renewable(existing, now, dedupe_window):
            return None
        self._archive(existing["key"], existing)
        return existing

    def _put_if(self, item: dict[str, Any], condition: str, names: dict[str, str], values: dict[str, Any]) -> bool:
        try:
            self._call("put_item", Item=item, ConditionExpression=condition,
                       ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError:
            return False
        return True

    @staticmethod
    def _renewable(existing: dict[str, Any], now: float, dedupe_window: float | None) -> bool:
        """A hash-keyed item past the dedupe window whose fate is settled (an order still being
        written or reconciled keeps its item: the new copy is a duplicate until then)."""
        return (
            dedupe_window is not None
            and str(existing.get("key", "")).startswith(HASH_KEY_PREFIX)
            and now - float(existing.get("received_epoch") or now) > dedupe_window
            and existing.get("state") not in {s.value for s in OPEN_STATES}
        )

    def _archive(self, key: str, existing: dict[str, Any]) -> None:
        """Keep the earlier alert's item (journal, order followed to its end) under its own key."""
        copy = {**existing, "key": f"{key}@{existing.get('received_at')}", "archived": True}
        self._call("put_item", Item={name: _to_attr(value) for name, value in copy.items() if value is not None})

    # --- moving through states -------------------------------------------------------------

    def update(
        self, key: str, state: State | None, now: float, *, still_open: bool | None = None,
        expect: State | None = None, expect_token: str | None = None, writer: str | None = None, **fields: Any,
    ) -> bool:
        """Move the item to `state` (None: keep it) and record fields; False when `expect` is given
        and the item is no longer in that state (somebody else moved it first).

        `expect_token`: also require the item's `send_token` to be this one (NO_SEND_TOKEN: the item
        was never sent). `writer`: this caller's token, written with the update; when the condition
        fails but the item already carries it, the update was ours (botocore resent it after a lost
        reply) and counts as done.

        An item stays in the sweep's sparse index while it is open: received, queued, sent or
        unknown, and placed until the broker reports a terminal status.
        """
        values = {"updated_at": _iso(now), **{k: v for k, v in fields.items() if v is not None}}
        if writer is not None:
            values["writer"] = writer
        if state is not None:
            values["state"] = state.value
            if still_open is None:
                still_open = state in OPEN_STATES or state is State.PLACED
        names = {f"#f{i}": name for i, name in enumerate(values)}
        attrs = {f":v{i}": _to_attr(value) for i, value in enumerate(values.values())}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(values)))
        if still_open is True:
            expression += ", #open = :open"
            names["#open"], attrs[":open"] = "open", {"S": "open"}
        elif still_open is False:
            expression += " REMOVE #open"
            names["#open"] = "open"
        conditions = []
        if expect is not None:
            names["#expected"], attrs[":expected"] = "state", {"S": expect.value}
            conditions.append("#expected = :expected")
        if expect_token is not None:
            names["#sendtoken"] = "send_token"
            if expect_token == NO_SEND_TOKEN:
                conditions.append("attribute_not_exists(#sendtoken)")
            else:
                attrs[":sendtoken"] = {"S": expect_token}
                conditions.append("#sendtoken = :sendtoken")
        condition = {"ConditionExpression": " AND ".join(conditions)} if conditions else {}
        try:
            self._call("update_item", Key={"key": {"S": key}}, UpdateExpression=expression,
                       ExpressionAttributeNames=names, ExpressionAttributeValues=attrs, **condition)
        except ClientError:  # only a failed condition reaches here (see DynamoTable._call)
            if writer is None:
                return False
            current = self.get(key) or {}
            return current.get("writer") == writer and (state is None or current.get("state") == state.value)
        return True

    def begin_send(self, key: str, expect: State, now: float, *, token: str, **fields: Any) -> bool:
        """Mark the item `sent` (with this invocation's send token) before its one write; False when
        it has left `expect` (another invocation sent or settled it): then the caller must not write."""
        return self.update(key, State.SENT, now, expect=expect, writer=token, send_token=token,
                           sent_epoch=round(now, 3), **fields)

    def settle(self, item: dict[str, Any], state: State | None, now: float, *, writer: str, **fields: Any) -> bool:
        """A transition decided on the item as read (the sweep's): it happens only if the item is
        still in that state with that send token, so nothing the sweep read stale can overwrite
        what an invocation still writing records."""
        return self.update(item["key"], state, now, expect=State(item["state"]),
                           expect_token=item.get("send_token") or NO_SEND_TOKEN, writer=writer, **fields)

    # --- reading ---------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._call("get_item", Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        return _item(raw) if raw else None

    def open_items(self) -> list[dict[str, Any]]:
        """The items the sweep must still look at, of this ledger's account."""
        return [item for item in self._query(OPEN_INDEX, "#p = :p", {"#p": "open"}, {":p": {"S": "open"}},
                                             newest_first=False)
                if self.account is None or self._owner(item) == self.account]

    def journal(self, *, state: str | None = None, since: float | None = None, limit: int = 50,
                account: str | None = OWN_ACCOUNT, mode: str | None = None, fields: tuple[str, ...] = JOURNAL_FIELDS
                ) -> list[dict[str, Any]]:
        """The items, newest first: of this ledger's account (default), of `account`, or of every
        account (None); of one state, since a moment, of one mode (live or paper); `fields`: only
        these keys of each item (read with a projection)."""
        account = self.account if account == OWN_ACCOUNT else account
        names = {"#p": "journal"}
        values: dict[str, Any] = {":p": {"S": "alert"}}
        condition = "#p = :p"
        if since is not None:
            condition += " AND #t >= :since"
            names["#t"] = "received_at"
            values[":since"] = {"S": _iso(since)}
        projection = None
        if fields != JOURNAL_FIELDS:
            wanted = tuple(dict.fromkeys((*fields, "state", "account", "mode")))  # what the filters read
            names |= {f"#f{n}": name for n, name in enumerate(wanted)}
            projection = ", ".join(f"#f{n}" for n in range(len(wanted)))
        found: list[dict[str, Any]] = []
        for item in self._query(JOURNAL_INDEX, condition, names, values, newest_first=True, projection=projection):
            shown = {name: item.get(name, _JOURNAL_DEFAULTS.get(name, _ADDED_FIELD_DEFAULTS.get(name)))
                     for name in fields} | {"account": self._owner(item)}
            item_state, item_mode = item.get("state"), item.get("mode", _JOURNAL_DEFAULTS.get("mode"))
            if ((state is None or item_state == state) and (mode is None or item_mode == mode)
                    and (account is None or shown["account"] == account)):
                found.append(shown)
                if len(found) >= limit:
                    break
        return found

    def _query(self, index: str, condition: str, names: dict[str, str], values: dict[str, Any],
               *, newest_first: bool, projection: str | None = None) -> Iterable[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            page = self._call(
                "query", IndexName=index, KeyConditionExpression=condition,
                ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                ScanIndexForward=not newest_first, **({"ExclusiveStartKey": start} if start else {}),
                **({"ProjectionExpression": projection} if projection else {}),
            )
            for raw in page.get("Items", []):
                yield _item(raw)
            start = page.get("LastEvaluatedKey")
            if not start:
                return
