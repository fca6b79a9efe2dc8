"""Logging in one place: one structured JSON line per decision, CloudWatch-friendly.

Never pass tokens, the webhook secret, the admin key, raw bodies or headers to these helpers;
callers hand over named, already-safe fields only.
"""

from __future__ import annotations

import sys
from typing import Any

from aws_lambda_powertools import Logger


class _CurrentStdout:
    """Writes to whatever sys.stdout is now (Lambda's stdout, or a test's capture)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(service="indstocks-relay", stream=_CurrentStdout())  # type: ignore[arg-type]


def log_alert(outcome: str, **fields: Any) -> None:
    """The one line that records what happened to an alert."""
    clean = {key: value for key, value in fields.items() if value is not None}
    level = logger.info if outcome in ("placed",) else logger.warning
    level("alert " + outcome, extra={"event": "alert", "outcome": outcome, **clean})
