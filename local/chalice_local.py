"""`chalice local`, made to behave like API Gateway + Lambda under concurrent requests.

- Chalice's local server keeps the standard library's backlog of 5 pending connections, so a
  burst of concurrent alerts (which TradingView can send) gets connection resets before the app
  sees it. API Gateway has no such limit; the local stack should not invent one.
- The local server answers each connection in its own thread, while Chalice keeps the request
  being handled in one attribute of the app (`app.current_request`, also `app.lambda_context`).
  In Lambda every concurrent request has an instance of its own; here a view could read the
  request another thread had just stored. Both attributes are made per thread.
- `make run` starts this in a session of its own; if the stack dies without stopping it (SIGKILL,
  a crash), it must not live on holding the port: it watches the stack's pid (LOCAL_STACK_PID).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
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


class Tee:
    """stdout to the terminal and to the stack's log file, which `relay logs --stage local` reads."""

    def __init__(self, stream: Any, path: str) -> None:
        # Appending, line by line: the order queue's consumer (local/queue_consumer.py) writes its
        # lines to the same file; the stack empties it before either starts.
        self._stream, self._file = stream, open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - as long as the process

    def write(self, text: str) -> int:
        self._file.write(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._file.flush()
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def exit_with(parent_pid: int) -> None:
    """End this process group once `parent_pid` is no longer our parent (it died: we were reparented)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.2)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    if os.environ.get("RELAY_LOCAL_LOG"):
        sys.stdout = Tee(sys.stdout, os.environ["RELAY_LOCAL_LOG"])
    if os.environ.get("LOCAL_STACK_PID"):
        exit_with(int(os.environ["LOCAL_STACK_PID"]))
    run_requests_like_lambda()
    sys.argv[0] = "chalice"
    sys.exit(main())
