"""One cold Lambda instance, the way Lambda has it: a fresh interpreter imports app.py and
answers API Gateway events, against a stack that is already running (moto server and the
INDstocks simulator in other processes; their URLs come in the environment).

    python -m bench.cold_alert <fd> <alert id> <alert id>

The parent starts the clock before it starts this process; the first alert's answer is stamped
here with the same clock (time.monotonic, system-wide), the second is timed here. Both stamps go
to file descriptor <fd>, since the relay's own JSON log lines use stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time


def api_event(body: str) -> dict:
    """POST /webhook as API Gateway's REST proxy integration hands it to the function."""
    return {
        "resource": "/webhook", "path": "/webhook", "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
        "requestContext": {"resourcePath": "/webhook", "httpMethod": "POST", "path": "/api/webhook",
                           "requestId": f"cold-{time.monotonic_ns()}", "identity": {"sourceIp": "52.89.214.238"}},
        "body": body, "isBase64Encoded": False,
    }


def alert(alert_id: str) -> str:
    return json.dumps({"secret": os.environ["BENCH_WEBHOOK_SECRET"], "symbol": "NSE:SBIN", "action": "buy",
                       "quantity": 1, "alert_id": alert_id})


def main() -> None:
    fd, first_id, second_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    from app import app  # Lambda's init: the handler module's import
    from chalicelib.pacing import WRITE_SPACING

    answer = app(api_event(alert(first_id)), None)
    first_done = time.monotonic()
    time.sleep(WRITE_SPACING + 0.05)  # the next alert comes later: not waiting on the first one's pace slot
    started = time.perf_counter()
    second = app(api_event(alert(second_id)), None)
    second_ms = (time.perf_counter() - started) * 1000
    statuses = [answer["statusCode"], second["statusCode"]]
    os.write(fd, json.dumps({"first_done": first_done, "second_ms": second_ms, "statuses": statuses}).encode())


if __name__ == "__main__":
    main()
