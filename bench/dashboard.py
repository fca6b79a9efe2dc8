"""The dashboard's view, warm: one `GET /dashboard` is one invocation of the app (chalice.test.Client,
in process, against moto and the simulator over HTTP, as `make bench` measures the webhook), with
a day of 60 orders in the journal, open positions and open orders. Target: ≤ 1 s warm.

    python -m bench.dashboard [--views 40]

Two figures: the view as a refresh mostly meets it (the broker copy from the cache, CACHE_SECONDS),
and the view that reads INDstocks itself (order book, positions, one LTP batch). Prints them and
writes its section (`dashboard`) into bench/results.json, keeping the other sections.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from typing import Any
from urllib.parse import urlencode

from bench.run import LOG, REPO, RESULTS, in_process_stack, output_to, summary

ORDERS = 60
ADMIN_KEY = "bench-admin-key-0123456789"  # noqa: S105 - the bench's own, in moto


def measure(views: int = 40) -> dict[str, Any]:
    import boto3

    from chalicelib import services
    from chalicelib.admin import hash_admin_key
    from chalicelib.dashboard import broker_reads

    with tempfile.TemporaryDirectory() as cache, in_process_stack(cache) as (client, simulator, _):
        settings = services.get().settings
        boto3.client("ssm").put_parameter(Name=settings.admin_key_parameter, Value=hash_admin_key(ADMIN_KEY),
                                          Type="SecureString")
        simulator.fills = True
        for n in range(ORDERS):
            body = {"secret": "bench-secret", "symbol": "NSE:SBIN", "action": "buy" if n % 3 else "sell",
                    "quantity": 1, "alert_id": f"dash-bench-{n}"}
            if n % 5 == 0:
                body |= {"order_type": "LIMIT", "price": 1}  # stays open: the view lists it with its cancel
            client.http.post("/webhook", headers={"Content-Type": "application/json"}, body=json.dumps(body))
        signed = client.http.post("/dashboard", headers={"Content-Type": "application/x-www-form-urlencoded"},
                                  body=urlencode({"do": "sign_in", "admin_key": ADMIN_KEY}))
        cookie = {"Cookie": signed.headers["Set-Cookie"].split(";")[0]}

        def timed(count: int) -> tuple[list[float], int]:
            book_reads = len(simulator.requests("/order-book"))
            elapsed = []
            for _ in range(count):
                started = time.perf_counter()
                page = client.http.get("/dashboard", headers=cookie)
                elapsed.append((time.perf_counter() - started) * 1000)
                assert page.status_code == 200 and re.search(rb"Cancel EQ-", page.body), page.status_code
            return elapsed, len(simulator.requests("/order-book")) - book_reads

        timed(3)  # warm: clients, the secret, the first copy
        cached, cached_reads = timed(views)
        saved = broker_reads.CACHE_SECONDS
        broker_reads.CACHE_SECONDS = 0  # every view reads INDstocks itself
        time.sleep(saved)  # once the lease the cached views took has run out
        try:
            uncached, uncached_reads = timed(views)
        finally:
            broker_reads.CACHE_SECONDS = saved
    return {"orders_in_journal": ORDERS, "view_cached_ms": summary(cached), "view_reading_broker_ms": summary(uncached),
            "order_book_reads_per_view_cached": round(cached_reads / views, 3),
            "order_book_reads_per_view_uncached": round(uncached_reads / views, 3), "target_ms": 1000}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--views", type=int, default=40)
    options = parser.parse_args(argv)
    with output_to(LOG):
        figures = measure(options.views)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["dashboard"] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name in ("view_cached_ms", "view_reading_broker_ms"):
        f = figures[name]
        print(f"dashboard {name:24} p50 {f['p50']:.1f} ms  p99 {f['p99']:.1f} ms  (n={f['n']}, target ≤ 1000 ms warm)")
    print(f"order-book reads per view: {figures['order_book_reads_per_view_cached']} cached, "
          f"{figures['order_book_reads_per_view_uncached']} uncached")
    print(f"written to {RESULTS.relative_to(REPO)} (section dashboard)")
    return figures


if __name__ == "__main__":
    main()
