"""Writes over the pace, handed to an SQS FIFO queue and sent in their slot by a consumer.

The webhook answers a burst at once: an alert whose pacing slot is not free within the short
in-request wait is claimed as `queued` in the ledger, its key goes on the queue and TradingView
gets 202. The consumer (`send_queued_orders` in app.py, and `make run`'s consumer loop) takes a
slot in the same shared schedule as every other write, so the account's writes stay under
INDstocks' 10 a second across every instance.

- Order per symbol: the message group is the instrument, and a FIFO queue hands a group's next
  message out only after the previous one was deleted; so writes for one symbol go out in the
  order their alerts were queued.
- At-least-once delivery: a message delivered twice finds its item already moved out of
  `queued` (the conditional move into `sent`) and writes nothing.
- The message carries only the ledger key: the order itself is read from the ledger, so nothing
  sensitive sits in the queue and the ledger stays the one record.
- The minute sweep stays the safety net: an item still `queued` after QUEUE_HANDOFF_SECONDS is
  the sweep's to send.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import DependencyUnavailable, failure_cause

# The queue has had its chance when an item is still queued this long after it arrived: the
# sweep sends it. Longer than the consumer's wait for a slot, shorter than QUEUE_MAX_AGE_SECONDS.
QUEUE_HANDOFF_SECONDS = 60
# Chalice needs the queue's name when app.py is imported; infra/build.py points the event source
# at the stage's own queue (indstocks-relay-<stage>-orders.fifo) and sets ORDER_QUEUE_URL.
QUEUE_NAME = "indstocks-relay-orders.fifo"


def message_group(exchange: str, symbol: str) -> str:
    """One FIFO group per instrument: its writes leave in arrival order."""
    return f"{exchange}:{symbol}"[:128]


class OrderQueue:
    unavailable = "the order queue is unavailable"

    def __init__(self, client_factory: Callable[[], Any], queue_url: str):
        self._client_factory = client_factory
        self._client: Any = None
        self.queue_url = queue_url

    @property
    def configured(self) -> bool:
        return bool(self.queue_url)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def enqueue(self, key: str, group: str) -> None:
        """Hand the queued item to the consumer. The deduplication id is the ledger key, so a send
        repeated within SQS's five minutes (a retried request) is one message."""
        try:
            self.client.send_message(
                QueueUrl=self.queue_url, MessageBody=json.dumps({"key": key}), MessageGroupId=group,
                MessageDeduplicationId=hashlib.sha256(key.encode()).hexdigest(),
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(self.unavailable, cause=failure_cause(error)) from None


def queued_keys(bodies: Iterable[str]) -> list[str]:
    """The ledger keys in a batch of message bodies; a body that is not ours is skipped."""
    keys = []
    for body in bodies:
        try:
            key = json.loads(body).get("key")
        except (ValueError, AttributeError):
            continue
        if isinstance(key, str) and key:
            keys.append(key)
    return keys
