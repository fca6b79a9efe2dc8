"""Make moto's DynamoDB item writes atomic, as DynamoDB's own are.

moto checks a ConditionExpression and then applies the write as two separate steps with nothing
held in between, so two threads can both pass `attribute_not_exists(key)` and both "win".
DynamoDB never allows that, and the relay's exactly-once promise rests on it (the ledger claim,
the move into `sent`, the locks). The tests and the local stack run many request threads in one
process, so they serialise moto's item writes to get the guarantee the real service gives.

moto's TransactWriteItems also deep-copies every table it touches on every call, to roll back a
cancelled transaction: with a ledger of a few thousand items one transaction takes tens of
milliseconds, where DynamoDB's takes about two writes' time. The relay's warm path is one
transaction, so the local stack and the tests use `_transact_write_items` below instead: every
condition is checked before anything is written (the operations of one transaction touch
distinct items, so that is the order DynamoDB gives), and only the items written are kept for
the rollback of a write that fails half-way.

moto's SQS queues can lose messages too: deleting a message rebuilds the queue's message
list without the lock a send appends under, so a message sent while another is deleted can
vanish (the order queue's webhook threads send while its consumer deletes). And a FIFO receive
reads the groups in flight from a set other threads change. `make_sqs_queues_thread_safe` closes
both, so the local order queue loses nothing, as SQS does not. (Found by reading moto 5.2's code;
no test here makes the window wide enough to show it.)
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_lock = threading.RLock()


def make_dynamodb_writes_atomic() -> None:
    """Idempotent: wraps each item write of moto's DynamoDB backend in one process-wide lock."""
    from moto.dynamodb.models import DynamoDBBackend

    if not getattr(DynamoDBBackend.transact_write_items, "_fast", False):  # then serialised below
        DynamoDBBackend.transact_write_items = _transact_write_items
    for name in _WRITES:
        original = getattr(DynamoDBBackend, name)
        if not getattr(original, "_atomic", False):
            setattr(DynamoDBBackend, name, _serialised(original))


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems without copying whole tables (see the module's docstring)."""
    import copy

    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    errors: list[Any] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        table = self.get_table(op["TableName"])
        if op_type == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        identity = (op["TableName"], str(dict(sorted(key.items()))))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None and not get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current):
            old = current.to_json()["Attributes"] if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
            errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
        else:
            errors.append((None, None, None))
        planned.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    written: list[tuple[str, dict[str, Any], Any]] = []
    try:
        for op_type, op, key in planned:
            if op_type == "ConditionCheck":
                continue
            name = op["TableName"]
            written.append((name, key, copy.deepcopy(self.get_item(name, key))))
            if op_type == "Put":
                self.put_item(name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(name, key)
            elif op_type == "Update":
                self.update_item(name, key, update_expression=op["UpdateExpression"],
                                 expression_attribute_names=op.get("ExpressionAttributeNames"),
                                 expression_attribute_values=op.get("ExpressionAttributeValues"))
            else:
                raise ValueError("Unsupported transaction operation")
    except Exception:
        for name, key, old in reversed(written):  # nothing of a failed transaction stays
            if old is None:
                self.delete_item(name, key)
            else:
                self.put_item(name, old.to_json()["Attributes"])
        raise


_transact_write_items._fast = True  # type: ignore[attr-defined]


def _serialised(write: Any) -> Any:
    @functools.wraps(write)
    def atomic(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return write(*args, **kwargs)

    atomic._atomic = True  # type: ignore[attr-defined]
    return atomic


def make_sqs_queues_thread_safe() -> None:
    """Idempotent: a delete holds the queue's own lock (the one a send appends under), and the
    message groups in flight are read from a copy of the in-flight set."""
    from moto.sqs.models import Queue

    delete = Queue.delete_message
    if getattr(delete, "_atomic", False):
        return

    @functools.wraps(delete)
    def locked_delete(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            delete(self, receipt_handle)

    locked_delete._atomic = True  # type: ignore[attr-defined]
    Queue.delete_message = locked_delete  # type: ignore[method-assign]
    Queue.pending_message_groups = property(  # type: ignore[method-assign,assignment]
        lambda self: {message.group_id for message in list(self._pending_messages) if message.group_id is not None})
