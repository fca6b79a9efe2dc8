"""Make moto's DynamoDB item writes atomic, as DynamoDB's own are.

moto checks a ConditionExpression and then applies the write as two separate steps with nothing
held in between, so two threads can both pass `attribute_not_exists(key)` and both "win".
DynamoDB never allows that, and the relay's exactly-once promise rests on it (the ledger claim,
the move into `sent`, the locks). The tests and the local stack run many request threads in one
process, so they serialise moto's item writes to get the guarantee the real service gives.
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
