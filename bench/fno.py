"""The F&O index at a real-size master (~100 000 rows, NSE and BSE): what a cold instance pays to
build it from the shared compact copy, what one lookup costs, and the memory it holds.

    python -m bench.fno [--stocks 200] [--lookups 20000]

Targets (issue 16): build from compact ≤ 300 ms, lookup p99 ≤ 50 µs, resident memory ≤ 64 MB.
Resident memory is measured in a fresh process that imports the package, builds the index from
the compact copy and resolves a few contracts: the whole process, interpreter included.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime
from pathlib import Path
from typing import Any

from chalicelib.config import IST
from chalicelib.fno import (
    ContinuousFuture,
    ContractKind,
    ContractQuery,
    ExactContract,
    FnoIndex,
    MonthFuture,
    OptionType,
    split_chunks,
)
from tests.fno_master import master_csv

REPO = Path(__file__).resolve().parents[1]
TODAY = date(2026, 1, 5)
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=IST).timestamp()

_RSS_SCRIPT = """
import sys
from chalicelib.fno import FnoIndex, parse_symbol
body = open(sys.argv[1], "rb").read()
index = FnoIndex.from_compact(body)
del body
for symbol in ("NIFTY1!", "NIFTY06JAN2624000CE", "BSE:SENSEX1!", "RELIANCE27JAN26FUT"):
    index.resolve(parse_symbol(symbol), float(sys.argv[2]))
# VmHWM is this process's peak (ru_maxrss would carry the parent's peak across fork and exec).
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
print(int(status["VmHWM"].split()[0]) // 1024)
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _queries(index: FnoIndex, count: int, seed: int = 16) -> list[ContractQuery]:
    """A mix of what alerts ask: exact options (most), continuous and dated futures, each naming
    a listed contract, so the lookup, not a refusal, is what is timed."""
    picker = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    series, futures = [], []
    for exchange, name in index.underlyings:
        for day in index.live_expiries(name, exchange, NOW, options=True):
            one = index.option_series(name, exchange, day, NOW)
            series.append((one, {kind: index.listed_strikes(one, kind) for kind in OptionType}))
        futures.append((exchange, name, index.live_expiries(name, exchange, NOW, futures=True)))
    queries: list[ContractQuery] = []
    for _ in range(count):
        roll = picker.random()
        if roll < 0.8:
            one, strikes = picker.choice(series)
            option_type = picker.choice(list(OptionType))
            queries.append(ExactContract(one.underlying, one.expiry, ContractKind(option_type.value),
                                         picker.choice(strikes[option_type]), one.exchange, "bench"))
        else:
            exchange, name, days = picker.choice(futures)
            if roll < 0.9:
                queries.append(ContinuousFuture(name, picker.randint(1, len(days)), exchange, "bench"))
            else:
                day = picker.choice(days)
                queries.append(MonthFuture(name, day.year, day.month, exchange, "bench"))
    return queries


def measure(stocks: int = 200, lookups: int = 20000) -> dict[str, Any]:
    started = time.perf_counter()
    text = master_csv(TODAY, stocks=stocks)
    generated_s = time.perf_counter() - started
    rows = text.count("\n") - 1

    started = time.perf_counter()
    index = FnoIndex.from_csv(text)
    from_csv_ms = (time.perf_counter() - started) * 1000
    body = index.to_compact(NOW)
    chunks = split_chunks(body)

    builds = []
    for _ in range(7):
        started = time.perf_counter()
        built = FnoIndex.from_compact(body)
        builds.append((time.perf_counter() - started) * 1000)
    tracemalloc.start()
    held = FnoIndex.from_compact(body)
    index_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del held

    queries = _queries(built, lookups)
    timings = []
    for query in queries:
        started_ns = time.perf_counter_ns()
        built.resolve(query, NOW)
        timings.append((time.perf_counter_ns() - started_ns) / 1000)

    with tempfile.NamedTemporaryFile(suffix=".fno") as copy:
        copy.write(body)
        copy.flush()
        result = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, copy.name, str(NOW)], cwd=REPO,
                                capture_output=True, text=True, timeout=120, check=True)
    rss_mb = int(result.stdout.strip().splitlines()[-1])

    return {
        "rows": rows, "contracts": len(built), "generate_s": round(generated_s, 2),
        "from_csv_ms": round(from_csv_ms, 1), "compact_bytes": len(body), "chunks": len(chunks),
        "from_compact_ms": {"best": round(min(builds), 2), "median": round(sorted(builds)[len(builds) // 2], 2)},
        "lookup_us": {"p50": round(pct(timings, 50), 2), "p99": round(pct(timings, 99), 2),
                      "max": round(max(timings), 2), "n": len(timings)},
        "index_traced_mb": round(index_bytes / 2**20, 2), "process_rss_mb": rss_mb,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=200)
    parser.add_argument("--lookups", type=int, default=20000)
    arguments = parser.parse_args(argv)
    figures = measure(arguments.stocks, arguments.lookups)
    print(f"master rows                 {figures['rows']:>10}   (contracts indexed {figures['contracts']})")
    print(f"from CSV (daily download)   {figures['from_csv_ms']:>10} ms")
    print(f"compact copy                {figures['compact_bytes']:>10} bytes in {figures['chunks']} chunk(s)")
    print(f"build from compact          {figures['from_compact_ms']['median']:>10} ms median "
          f"(best {figures['from_compact_ms']['best']})   target <= 300 ms")
    print(f"lookup                      {figures['lookup_us']['p99']:>10} us p99 "
          f"(p50 {figures['lookup_us']['p50']}, max {figures['lookup_us']['max']})   target <= 50 us")
    print(f"index memory (traced)       {figures['index_traced_mb']:>10} MB")
    print(f"process resident memory     {figures['process_rss_mb']:>10} MB   target <= 64 MB")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
