"""A fresh process: import + first alert (clients created lazily count here) vs the second."""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from contextlib import redirect_stdout

started = time.perf_counter()
from bench.run import in_process_stack  # noqa: E402 - the import is part of what is measured

with tempfile.TemporaryDirectory() as cache, in_process_stack(cache) as (client, _simulator):
    timings = []
    with redirect_stdout(io.StringIO()):
        for n in range(2):
            body = json.dumps({"secret": "bench-secret", "symbol": "NSE:SBIN", "action": "buy", "quantity": 1,
                               "alert_id": f"first-{n}"})
            client.http.post("/webhook", headers={"Content-Type": "application/json"}, body=body)
            timings.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
print(json.dumps({"first": round(timings[0], 1), "second": round(timings[1], 1)}), file=sys.stdout)
