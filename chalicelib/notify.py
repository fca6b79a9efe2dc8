"""Telling the trader: SNS (email/SMS) when a topic is configured, Telegram when a bot token and
chat id are stored in SSM, and always a log line.

Notification must never delay or break the caller: every channel has a tight timeout, and a
failure is logged and counted, never raised. Order outcomes are announced by the minute sweep,
never on the webhook's own path; the webhook waits for one message only, the day's first
dead-token alarm (token_alarm.py), on channels with tighter timeouts still.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from chalicelib.observability import count, logger

TELEGRAM_API = "https://api.telegram.org"


class Notifier:
    def __init__(
        self,
        topic_arn: str,
        client_factory: Callable[[], Any],
        *,
        telegram_credentials: Callable[[], tuple[str, str] | None] = lambda: None,
        telegram_api: str = TELEGRAM_API,
        timeout: float = 2.0,
        label: str = "",
    ):
        self.topic_arn = topic_arn
        self._client_factory = client_factory
        self._client: Any = None
        self._telegram_credentials = telegram_credentials
        self._telegram_api = telegram_api.rstrip("/")
        self._timeout = timeout
        self.label = label  # an account's name when the stage has several: every subject starts with it

    def warn(self, subject: str, message: str, **fields: Any) -> bool:
        """Log the warning and send it on every configured channel; True when one accepted it."""
        self.record(subject, **({"account": self.label} if self.label else {}), **fields)
        return self.deliver(subject, message)

    @staticmethod
    def record(subject: str, **fields: Any) -> None:
        """The log line of one warning (alarms count these), without sending anything."""
        logger.warning(subject, extra={"event": "notification", **fields})

    def deliver(self, subject: str, message: str) -> bool:
        """Send on every configured channel; True when one accepted it."""
        if self.label:
            subject, message = f"{self.label}: {subject}", f"Account {self.label}. {message}"
        delivered = [self._sns(subject, message), self._telegram(subject, message)]
        return any(delivered)

    def _sns(self, subject: str, message: str) -> bool:
        if not self.topic_arn:
            return False
        try:
            if self._client is None:
                self._client = self._client_factory()
            self._client.publish(TopicArn=self.topic_arn, Subject=subject[:100], Message=message)
        except Exception as error:  # noqa: BLE001 - never let a notification break the caller
            self._failed("sns", error)
            return False
        return True

    def _telegram(self, subject: str, message: str) -> bool:
        try:
            credentials = self._telegram_credentials()
            if credentials is None:
                return False
            bot_token, chat_id = credentials
            reply = requests.post(
                f"{self._telegram_api}/bot{bot_token}/sendMessage",
                json={"chat_id": chat_id, "text": f"{subject}\n{message}", "disable_web_page_preview": True},
                timeout=self._timeout,
            )
            if reply.status_code != 200:
                raise RuntimeError(f"Telegram answered HTTP {reply.status_code}")
        except Exception as error:  # noqa: BLE001 - the URL holds the bot token: log the error type only
            self._failed("telegram", error)
            return False
        return True

    @staticmethod
    def _failed(channel: str, error: Exception) -> None:
        logger.error("notification failed", extra={"event": "notification_failed", "channel": channel,
                                                    "error_type": type(error).__name__})
        count("NotificationFailures")
