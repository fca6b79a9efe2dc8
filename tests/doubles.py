"""Test doubles at the edges the relay talks to: the alerts topic as a phone would receive it
(a real SNS topic in moto with an SQS queue subscribed) and Telegram's sendMessage over HTTP."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3


class SnsInbox:
    """An SNS topic with an SQS queue subscribed: what the trader's phone would receive."""

    def __init__(self, topic_name: str = "relay-alerts"):
        sns, self._sqs = boto3.client("sns"), boto3.client("sqs")
        self.arn = sns.create_topic(Name=topic_name)["TopicArn"]
        self._queue = self._sqs.create_queue(QueueName=f"{topic_name}-inbox")["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self._queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.arn, Protocol="sqs", Endpoint=queue_arn)

    def new(self) -> list[dict[str, Any]]:
        """The notifications (SNS envelopes: Subject, Message, …) received since the last call."""
        received = []
        while found := self._sqs.receive_message(QueueUrl=self._queue, MaxNumberOfMessages=10).get("Messages", []):
            for message in found:
                received.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"])
        return received


class TelegramDouble:
    """Telegram's sendMessage at the HTTP layer, on loopback; `status` is what it answers, `delay`
    how long it takes."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.status = status
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", 0))
                double.messages.append((self.path, json.loads(self.rfile.read(length))))
                time.sleep(delay)
                self.send_response(double.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    self.wfile.write(b'{"ok":true}')
                except BrokenPipeError:  # the relay gave up waiting, as it should when slow
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def texts(self) -> list[str]:
        return [body["text"] for _, body in self.messages]

    def close(self) -> None:
        self.server.shutdown()
