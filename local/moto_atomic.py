"""Make moto's DynamoDB item writes atomic, as DynamoDB's own are.

moto checks a ConditionExpression and then applies the write as two separate steps with nothing
held in between, so two threads can both pass `attribute_not_exists(key)` and both "win".
DynamoDB never allows that, and the relay's exactly-once promise rests on it (the ledger claim,
the move into `sent`, the locks). The tests and the local stack run many request threads in one
process, so they serialise moto's item writes to get the guarantee the real service gives.

moto's SQS queues lose messages the same way: deleting a message rebuilds the queue's message
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

    for name in _WRITES:
        original = getattr(DynamoDBBackend, name)
        if not getattr(original, "_atomic", False):
            setattr(DynamoDBBackend, name, _serialised(original))


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
