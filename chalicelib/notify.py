"""Telling the trader: SNS (email/SMS) when a topic is configured, and always a log line.

Notification must never delay or break the caller: a failure to publish is logged and
swallowed, and the SNS client has tight timeouts.
"""

from __future__ import annotations

from typing import Any, Callable

from chalicelib.observability import logger


class Notifier:
    def __init__(self, topic_arn: str, client_factory: Callable[[], Any]):
        self.topic_arn = topic_arn
        self._client_factory = client_factory
        self._client: Any = None

    def warn(self, subject: str, message: str, **fields: Any) -> bool:
        """Log the warning and publish it; True when SNS accepted it."""
        logger.warning(subject, extra={"event": "notification", **fields})
        if not self.topic_arn:
            return False
        try:
            if self._client is None:
                self._client = self._client_factory()
            self._client.publish(TopicArn=self.topic_arn, Subject=subject[:100], Message=message)
        except Exception as error:  # never let a notification break the caller
            logger.error("notification failed", extra={"event": "notification_failed", "error_type": type(error).__name__})
            return False
        return True
