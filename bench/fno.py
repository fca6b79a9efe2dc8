"""Futures and options in `make bench`, at a real-size F&O master (~100 000 rows, NSE and BSE: the
master the simulator serves with `real_size`), each figure beside a baseline of the same run
where a ratio means something:

- `cold_index_ready_ms`: a cold instance's F&O index ready from the shared copy the 08:45 check
  left in the state table (DynamoDB items read, joined, decompressed, indexed), p50 over fresh
  `FnoMaster`s; baseline: the same instance without a shared copy, downloading the master from the
  simulator (loopback HTTP, which flatters the download) and parsing it. Target ≤ 300 ms.
- `lookup_p99_us`: one contract resolved from the index (exact options, continuous and dated
  futures, as alerts send them). Target ≤ 50 µs.
- `index_rss_mb`: resident memory the index adds to a process (a fresh interpreter that has
  imported app.py and the F&O modules: VmRSS after building the index from the shared copy and
  resolving 2 000 contracts, less VmRSS before); baseline: that process before the index. Target
  ≤ 64 MB. The same process times what the first derivative alert of a cold instance adds to
  `cold_index_ready_ms`: importing the F&O modules (`fno_import_ms`).
- `relative_option_broker_reads`: requests the broker gets, other than the order write, for a
  relative option (NIFTY ATM CE, weekly) sent to a cold relay instance after the 08:45 check.
  Target 1: the option chain.

    python -m bench.fno [--lookups 20000] [--cold-runs 9] [--download-runs 5]

Standalone it prints its own table and writes its section (`fno`) into bench/results.json, keeping
the other sections there; `make bench` (bench/run.py) runs it with the rest.
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
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
LOG = REPO / "bench" / "bench.log"
TARGETS = {"cold_index_ready_ms": 300, "lookup_p99_us": 50, "index_rss_mb": 64, "relative_option_broker_reads": 1}

# A fresh interpreter holding what every cold instance holds (`import app`), then what the
# first derivative alert adds: the F&O modules, then the index from the shared copy.
_RSS_SCRIPT = """
import gc, json, sys, time

def resident():
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    return {name: int(status[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}

import app  # noqa: F401
assert "chalicelib.fno.master" not in sys.modules  # loaded on the first derivative alert, not at import
started = time.perf_counter()
from chalicelib.fno.master import FnoIndex
import_ms = (time.perf_counter() - started) * 1000
from bench.fno import queries  # the sample of what alerts ask (pure; loaded before the baseline)
gc.collect()
before = resident()
started = time.perf_counter()
body = open(sys.argv[1], "rb").read()
index = FnoIndex.from_compact(body)
build_ms = (time.perf_counter() - started) * 1000
del body
now = float(sys.argv[2])
for query in queries(index, 2000, now):
    index.resolve(query, now)
gc.collect()
after = resident()
print(json.dumps({"import_ms": import_ms, "build_ms": build_ms, "baseline_rss_mb": before["VmRSS"],
                  "rss_mb": after["VmRSS"], "peak_rss_mb": after["VmHWM"]}))
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float], digits: int = 2) -> dict[str, float]:
    return {"p50": round(pct(values, 50), digits), "p99": round(pct(values, 99), digits),
            "max": round(max(values), digits), "n": len(values)}


def queries(index: Any, count: int, now: float, seed: int = 16) -> list[Any]:
    """A mix of what alerts ask: exact options (most), continuous and dated futures, each naming
    a listed contract, so the lookup, not a refusal, is what is timed."""
    from chalicelib.fno.symbols import ContinuousFuture, ContractKind, ExactContract, MonthFuture, OptionType

    picker = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    series, futures = [], []
    for exchange, name in index.underlyings:
        for day in index.live_expiries(name, exchange, now, options=True):
            one = index.option_series(name, exchange, day, now)
            series.append((one, {kind: index.listed_strikes(one, kind) for kind in OptionType}))
        days = index.live_expiries(name, exchange, now, futures=True)
        if days:
            futures.append((exchange, name, days))
    found: list[Any] = []
    for _ in range(count):
        roll = picker.random()
        if roll < 0.8:
            one, strikes = picker.choice(series)
            option_type = picker.choice(list(OptionType))
            found.append(ExactContract(one.underlying, one.expiry, ContractKind(option_type.value),
                                       picker.choice(strikes[option_type]), one.exchange, "bench"))
        else:
            exchange, name, days = picker.choice(futures)
            if roll < 0.9:
                found.append(ContinuousFuture(name, picker.randint(1, len(days)), exchange, "bench"))
            else:
                day = picker.choice(days)
                found.append(MonthFuture(name, day.year, day.month, exchange, "bench"))
    return found


def measure(*, real_size: bool = True, lookups: int = 20000, cold_runs: int = 9, download_runs: int = 5,
            stage: str = "bench-fno") -> dict[str, Any]:
    """Every F&O figure, against moto (in process) and the simulator (loopback HTTP). `stage`
    names the tables and parameters (the tests' IAM check knows the test stage's)."""
    import boto3
    from moto import mock_aws

    from chalicelib import services
    from chalicelib.broker import BrokerClient
    from chalicelib.config import settings_from_env
    from chalicelib.fno.contracts import FnoIndex
    from chalicelib.fno.master import FnoMaster
    from chalicelib.moments import ist_date
    from chalicelib.premarket import premarket_check
    from chalicelib.relay import IncomingAlert
    from chalicelib.state import StateTable
    from local.fno_master import generate_fno_master
    from local.moto_atomic import make_dynamodb_writes_atomic
    from local.resources import create_orders_table, create_state_table
    from local.simulator import IndstocksSimulator

    now = time.time()
    today: date = ist_date(now)
    text = generate_fno_master(today, real_size=real_size)
    rows = text.count("\n") - 1
    make_dynamodb_writes_atomic()
    with mock_aws(), IndstocksSimulator(tokens=("bench-token",)) as simulator, tempfile.TemporaryDirectory() as work:
        simulator.fno_csv = text
        simulator.rate_limit_writes = None
        settings = settings_from_env({"RELAY_STAGE": stage, "TRADING_CALENDAR": "always", "SQUARE_OFF_AT": "off", "INDSTOCKS_BASE_URL": simulator.url,
                                      "INSTRUMENTS_CACHE_DIR": f"{work}/check", "INSTRUMENTS_TIMEOUT": "60"})
        ssm, dynamodb = boto3.client("ssm"), boto3.client("dynamodb")
        ssm.put_parameter(Name=settings.token_parameter, Value="bench-token", Type="SecureString")
        ssm.put_parameter(Name=settings.webhook_secret_parameter, Value="bench-secret", Type="SecureString")
        create_state_table(dynamodb, settings.state_table)
        create_orders_table(dynamodb, settings.orders_table)

        # What the 08:45 check leaves: the day's F&O index and index master shared in the state table.
        check = services.build(settings)
        derivatives = check.relay.derivatives
        assert derivatives is not None
        report = premarket_check(check.token_service, check.relay.instruments, check.notifier, now, today,
                                 fno=derivatives.master)
        if report.fno_ok is not True:
            raise RuntimeError(f"the 08:45 check did not share the F&O master: {report.fno}")
        state = StateTable(lambda: dynamodb, settings.state_table)
        shared = [blob for part in range(8)
                  if (blob := state.get_blob(f"instruments-fno#{today.isoformat()}#{part}")) is not None]
        broker = BrokerClient(simulator.url, connect_timeout=1, read_timeout=60, idle_reset_seconds=240)

        def download(source: str) -> str:
            return broker.instruments_csv("bench-token", source, timeout=60)

        shared_ms, download_ms = [], []
        index = None
        for run in range(cold_runs):  # interleaved, each a fresh instance: a busy moment hits both alike
            master = FnoMaster(download, shared=state)
            started = time.perf_counter()
            index = master.index(today)
            shared_ms.append((time.perf_counter() - started) * 1000)
            if master.loaded_from != "shared":
                raise RuntimeError("the cold instance did not read the shared copy")
            if run < download_runs:
                alone = FnoMaster(download)
                started = time.perf_counter()
                alone.index(today)
                download_ms.append((time.perf_counter() - started) * 1000)
        assert index is not None

        # A relative option sent to a cold instance of the relay, after the check.
        cold = services.build(settings.model_copy(update={"instruments_cache_dir": f"{work}/cold"}))
        simulator.reset()
        alert = {"secret": "bench-secret", "underlying": "NIFTY", "option_type": "CE", "offset": "ATM",
                 "expiry": "weekly", "exchange": "NSE_INDEX", "action": "buy", "lots": 1, "alert_id": "bench-relative"}
        answer = cold.relay.handle_alert(IncomingAlert(json.dumps(alert).encode(), {}), now=time.time())
        if answer.body.get("status") != "placed":
            raise RuntimeError(f"the relative option was not placed: {answer.body}")
        writes = simulator.order_writes()
        reads = [request.path for request in simulator.requests() if request not in writes]

    timings = []
    for query in queries(index, lookups, now):
        started_ns = time.perf_counter_ns()
        index.resolve(query, now)
        timings.append((time.perf_counter_ns() - started_ns) / 1000)
    body = index.to_compact(now)
    tracemalloc.start()
    held = FnoIndex.from_compact(body)
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del held
    process = resident_memory(body, now)
    lookup = summary(timings)
    return {
        "master_rows": rows, "master_mb": round(len(text.encode()) / 1e6, 1), "contracts": len(index),
        "shared_kb": round(sum(map(len, shared)) / 1000, 1), "shared_chunks": len(shared),
        "compact_bytes": len(index.to_compact(now)),
        "cold_index_ready_ms": round(pct(shared_ms, 50), 1), "cold_index_shared_ms": summary(shared_ms, 1),
        "baseline_download_parse_ms": summary(download_ms, 1),
        "cold_index_ratio_p50": round(pct(shared_ms, 50) / pct(download_ms, 50), 3),
        "lookup_p99_us": lookup["p99"], "lookup_us": lookup,
        "index_rss_mb": round(process["rss_mb"] - process["baseline_rss_mb"], 1),
        "baseline_process_rss_mb": round(process["baseline_rss_mb"], 1),
        "process_rss_mb": round(process["rss_mb"], 1), "process_peak_rss_mb": round(process["peak_rss_mb"], 1),
        "index_traced_mb": round(traced / 2**20, 2),
        "fno_import_ms": round(process["import_ms"], 1), "fresh_process_build_ms": round(process["build_ms"], 1),
        "relative_option_broker_reads": len(reads), "relative_option_reads": reads,
        "targets": TARGETS,
    }


def resident_memory(body: bytes, now: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".fno") as copy:
        copy.write(body)
        copy.flush()
        result = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, copy.name, str(now)], cwd=REPO,
                                capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The F&O rows of the printed table: measure, relay, baseline, ratio / target [stable name]."""
    f = figures
    download = f["baseline_download_parse_ms"]
    return [
        (f"F&O index ready on a cold instance ({f['master_rows']} rows), p50 ms",
         f"{f['cold_index_ready_ms']:.1f}", f"{download['p50']:.1f}",
         f"{f['cold_index_ratio_p50']}× (target ≤ 300 ms) [fno.cold_index_ready_ms; shared copy "
         f"{f['shared_kb']} KB vs download + parse of {f['master_mb']} MB; + {f['fno_import_ms']:.0f} ms importing "
         "the F&O modules]"),
        ("F&O lookup, p50 / p99 µs", f"{f['lookup_us']['p50']:.1f} / {f['lookup_p99_us']:.1f}", "—",
         f"target p99 ≤ 50 µs [fno.lookup_p99_us; max {f['lookup_us']['max']:.0f} µs of {f['lookup_us']['n']}]"),
        ("F&O index resident memory, MB", f"{f['index_rss_mb']:.1f}", f"{f['baseline_process_rss_mb']:.1f}",
         f"target ≤ 64 MB [fno.index_rss_mb; baseline: the process before it; whole process "
         f"{f['process_rss_mb']:.1f} MB, peak {f['process_peak_rss_mb']:.1f}]"),
        ("relative option, cold instance: broker reads", f"{f['relative_option_broker_reads']}", "—",
         f"target 1 [fno.relative_option_broker_reads: {', '.join(f['relative_option_reads'])}]"),
    ]


def table(figures: dict[str, Any]) -> str:
    lines = [f"{'measure':56} {'relay':>18} {'baseline':>16}  ratio / target"]
    lines += [f"{name:56} {relay:>18} {baseline:>16}  {ratio}" for name, relay, baseline, ratio in rows(figures)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.run import output_to

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=20000)
    parser.add_argument("--cold-runs", type=int, default=9)
    parser.add_argument("--download-runs", type=int, default=5)
    arguments = parser.parse_args(argv)
    print(f"measuring F&O (about a minute); the relay's logs go to {LOG.relative_to(REPO)}", flush=True)
    with output_to(LOG):
        figures = measure(lookups=arguments.lookups, cold_runs=arguments.cold_runs,
                          download_runs=arguments.download_runs)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["fno"] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(figures))
    print(f"\nwritten to {RESULTS.relative_to(REPO)} (section fno)")
    return figures


if __name__ == "__main__":
    main()
