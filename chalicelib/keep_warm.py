"""The keep-warm schedule: keep an instance of the API function initialised through the session.

A schedule is a Lambda function of its own, so warming itself would warm nothing: on NSE trading
days from 09:00 to 15:30 IST it GETs the API's /health through API Gateway (KEEP_WARM_URL),
which makes no AWS or broker call. A missed ping costs one cold start, never an order, so a
failure is reported, not raised.
"""

from __future__ import annotations

from typing import Any

import requests

from chalicelib.trading_calendar import should_warm

PING_TIMEOUT_SECONDS = 5.0


def keep_warm(now: float, url: str) -> dict[str, Any]:
    if not should_warm(now):
        return {"warmed": False, "reason": "outside trading hours"}
    if not url:
        return {"warmed": False, "reason": "KEEP_WARM_URL is not set"}
    try:
        status = requests.get(url, timeout=PING_TIMEOUT_SECONDS, allow_redirects=False).status_code
    except requests.RequestException as error:
        return {"warmed": False, "reason": type(error).__name__}
    return {"warmed": status == 200, "status": status}
