"""`chalice local`, made to behave like API Gateway + Lambda under concurrent requests.

- Chalice's local server keeps the standard library's backlog of 5 pending connections, so a
  burst of concurrent alerts (which TradingView can send) gets connection resets before the app
  sees it. API Gateway has no such limit; the local stack should not invent one.
- The local server answers each connection in its own thread, while Chalice keeps the request
  being handled in one attribute of the app (`app.current_request`, also `app.lambda_context`).
  In Lambda every concurrent request has an instance of its own; here a view could read the
  request another thread had just stored. Both attributes are made per thread.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from chalice import app as chalice_app
from chalice import local
from chalice.cli import main


class PerThreadAttribute:
    """A data descriptor whose value belongs to the thread that set it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._values = threading.local()

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return getattr(self._values, f"{self._name}_{id(instance)}", None)

    def __set__(self, instance: Any, value: Any) -> None:
        setattr(self._values, f"{self._name}_{id(instance)}", value)


def run_requests_like_lambda() -> None:
    local.ThreadedHTTPServer.request_queue_size = 128
    for name in ("current_request", "lambda_context"):
        setattr(chalice_app.Chalice, name, PerThreadAttribute(name))


if __name__ == "__main__":
    run_requests_like_lambda()
    sys.argv[0] = "chalice"
    sys.exit(main())
