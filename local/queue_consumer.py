"""`make run`'s order queue consumer: Lambda's SQS event source, on this machine.

In AWS, Lambda polls the FIFO order queue and invokes `send_queued_orders` (app.py) with one
message per invocation, at most the event source's maximum concurrency at once. Here a process of
its own (as the function is in AWS, and as `chalice local` is for the API) does the same against
moto's queue, with the stack's environment:

- one thread receives (one message per call) whenever one of `workers` invocation threads is
  free (infra/limits.py's consumer concurrency, 10). A single receiver keeps moto's FIFO rule
  exact: a message group's next message is handed out only once the one before it is deleted
  (moto decides from a snapshot of the groups in flight taken when a receive call starts, so
  concurrent receives could hand out two messages of one group). For the same reason it polls
  briefly while invocations run (a long poll would not see their groups freed until it ends: one
  symbol's queue would drain at one message a second) and long-polls only when none does;
- each message becomes the event Lambda builds (`Records` with messageId, receiptHandle, body,
  attributes incl. MessageGroupId, eventSource aws:sqs, eventSourceARN, awsRegion) and a context
  with the deployed timeout, and goes to the app's real handler;
- the handler returned: the message is deleted. It raised: the message is left, and comes back
  once its visibility timeout passes (short here, so redelivery is quick); while the handler runs,
  the visibility is extended, as the queue's timeout longer than the function's does in AWS;
- `deliver_twice` (LOCAL_QUEUE_DELIVER_TWICE=1): SQS delivers at least once, so after a first
  successful delivery the message is handed back to the queue instead of deleted (its delete
  "was lost"), and is delivered again, through the queue, before it is deleted.

It stops on SIGTERM (the stack's stop), and with the stack however that ends (LOCAL_STACK_PID).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# While invocations run, the pause between empty short polls: how soon a group freed by a
# delete is seen (Lambda's pollers see it at once).
SHORT_POLL_PAUSE_SECONDS = 0.05


@dataclass
class LambdaContext:
    """What the handler reads of Lambda's context: the time left of the invocation, and its id."""

    timeout_seconds: float
    function_name: str = "indstocks-relay-local-send_queued_orders"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


def lambda_event(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source invokes the function with, for one message."""
    return {"Records": [{
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }]}


class QueueConsumer:
    def __init__(self, sqs: Any, queue_url: str, handler: Callable[[dict[str, Any], Any], Any], *, workers: int,
                 timeout_seconds: float, visibility_seconds: int, region: str, deliver_twice: bool = False,
                 wait_seconds: int = 1, log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)):
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._workers = workers
        self._timeout = timeout_seconds
        self._visibility = visibility_seconds
        self._region = region
        self._deliver_twice = deliver_twice
        self._wait = wait_seconds
        self._log = log
        self._free = threading.Semaphore(workers)
        self._running = 0  # invocations in flight
        self._count = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send_queued_orders")
        self.stopping = threading.Event()
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def run(self, ready: Callable[[], None] = lambda: None) -> None:
        """Receive and dispatch until `stopping` is set; in-flight invocations are then given a few
        seconds (their messages, not deleted, would come back to a next consumer)."""
        ready()
        while not self.stopping.is_set():
            if not self._free.acquire(timeout=0.5):
                continue
            busy = self._running > 0
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=0 if busy else self._wait,
                    VisibilityTimeout=self._visibility, AttributeNames=["All"], MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as error:  # noqa: BLE001 - moto restarting, a dropped connection: poll again
                self._free.release()
                self._log(f"queue consumer: receive failed ({type(error).__name__}); retrying")
                self.stopping.wait(0.5)
                continue
            if not messages:
                self._free.release()
                if busy:
                    self.stopping.wait(SHORT_POLL_PAUSE_SECONDS)
                continue
            with self._count:
                self._running += 1
            self._pool.submit(self._process, messages[0])
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + 5
        for _ in range(self._workers):  # every worker free again, or out of patience
            if not self._free.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break

    def _process(self, message: dict[str, Any]) -> None:
        try:
            self._deliver(message)
        finally:
            with self._count:
                self._running -= 1
            self._free.release()

    def _deliver(self, message: dict[str, Any]) -> None:
        receipt = message["ReceiptHandle"]
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_invisible, args=(receipt, done), daemon=True)
        keeper.start()
        try:
            self._handler(lambda_event(message, self.queue_arn, self._region), LambdaContext(self._timeout))
        except Exception as error:  # noqa: BLE001 - as Lambda: the message stays and comes back
            self._log(f"send_queued_orders failed ({type(error).__name__}); the message comes back "
                      f"within {self._visibility} s")
            return
        finally:
            done.set()
            keeper.join()
        try:
            if self._deliver_twice and message.get("Attributes", {}).get("ApproximateReceiveCount") == "1":
                # At least once: this delivery's delete is "lost"; the queue hands the message out again.
                self._sqs.change_message_visibility(QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
            else:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt)
        except Exception as error:  # noqa: BLE001 - not deleted: delivered again, written once (the ledger)
            self._log(f"queue consumer: delete failed ({type(error).__name__}); the message comes back")

    def _keep_invisible(self, receipt: str, done: threading.Event) -> None:
        """While the handler runs, its message stays invisible (in AWS: visibility > function timeout)."""
        while not done.wait(self._visibility / 2):
            try:
                self._sqs.change_message_visibility(QueueUrl=self._queue_url, ReceiptHandle=receipt,
                                                    VisibilityTimeout=self._visibility)
            except Exception:  # noqa: BLE001, S112 - best effort: at worst the message is delivered again
                continue


def main() -> None:
    import boto3

    if os.environ.get("RELAY_LOCAL_LOG"):
        from local.chalice_local import Tee

        sys.stdout = Tee(sys.stdout, os.environ["RELAY_LOCAL_LOG"])
    if os.environ.get("LOCAL_STACK_PID"):
        from local.chalice_local import exit_with

        exit_with(int(os.environ["LOCAL_STACK_PID"]))
    import app as relay_app

    region = os.environ["AWS_DEFAULT_REGION"]
    consumer = QueueConsumer(
        boto3.client("sqs", region_name=region), os.environ["ORDER_QUEUE_URL"], relay_app.send_queued_orders,
        workers=int(os.environ.get("LOCAL_QUEUE_WORKERS", "10")),
        timeout_seconds=float(os.environ.get("LOCAL_QUEUE_TIMEOUT_SECONDS", "30")),
        visibility_seconds=int(os.environ.get("LOCAL_QUEUE_VISIBILITY_SECONDS", "5")),
        region=region, deliver_twice=os.environ.get("LOCAL_QUEUE_DELIVER_TWICE") == "1",
    )
    signal.signal(signal.SIGTERM, lambda *_: consumer.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: consumer.stopping.set())
    ready_file = os.environ.get("LOCAL_QUEUE_READY_FILE")
    consumer.run(ready=lambda: Path(ready_file).touch() if ready_file else None)
    sys.stdout.flush()
    os._exit(0)  # invocations still running after the grace period: their messages come back


if __name__ == "__main__":
    main()
