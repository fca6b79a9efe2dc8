"""`make bench`: what the relay itself costs, each figure beside a baseline measured in the same
run. Prints a table and writes bench/results.json. Not part of CI's pass/fail. The relay logs
a JSON line per decision; while measuring, everything the relay and its helpers print goes to
bench/bench.log, so the table is what one sees.

    python -m bench.run [--alerts 1000] [--cold-runs 20] [--cold-alerts 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
LOG = REPO / "bench" / "bench.log"

os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "ap-south-1"})
for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(name, None)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(pct(values, 50), 3), "p99": round(pct(values, 99), 3), "n": len(values)}


class AwsCalls:
    """Counts and times every AWS call by operation (botocore's before/after-call events)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}
        self.recording = False

    def watch(self, events: Any) -> None:
        events.register("before-call", self._before)
        events.register("after-call", self._after)

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if self.recording and "bench_started" in context:
            name = f"{model.service_model.endpoint_prefix}.{model.name}"
            self.calls.setdefault(name, []).append((time.perf_counter() - context["bench_started"]) * 1000)

    def per_alert(self, alerts: int) -> dict[str, dict[str, float]]:
        return {name: {"per_alert": round(len(ms) / alerts, 2), "p50_ms": round(pct(ms, 50), 3)}
                for name, ms in sorted(self.calls.items())}


aws_calls = AwsCalls()


@contextmanager
def output_to(path: Path):
    """Everything written to stdout and stderr, by this process or its children (chalice local),
    goes to `path`: file descriptors 1 and 2 are pointed there, then restored."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextmanager
def in_process_stack(alerts_cache: str):
    """The app in-process (chalice.test.Client) against moto and the simulator, pacing off."""
    from chalice.test import Client
    from moto import mock_aws

    from local.simulator import IndstocksSimulator

    with mock_aws(), IndstocksSimulator(tokens=("bench-token",)) as simulator:
        import boto3

        boto3.setup_default_session()
        aws_calls.watch(boto3.DEFAULT_SESSION.events)  # before any client exists: clients copy the hooks

        from app import app
        from chalicelib import services
        from chalicelib.config import settings_from_env
        from chalicelib.pacing import WritePacer
        from local.resources import create_orders_table, create_state_table

        simulator.rate_limit_writes = None
        ssm = boto3.client("ssm")
        settings = settings_from_env({"RELAY_STAGE": "bench", "INDSTOCKS_BASE_URL": simulator.url,
                                      "INSTRUMENTS_CACHE_DIR": alerts_cache,
                                      "MAX_ORDERS_PER_DAY": "100000"})  # the bench sends more than a day's limit
        ssm.put_parameter(Name=settings.token_parameter, Value="bench-token", Type="SecureString")
        ssm.put_parameter(Name=settings.webhook_secret_parameter, Value="bench-secret", Type="SecureString")
        dynamodb = boto3.client("dynamodb")
        create_state_table(dynamodb, settings.state_table)
        create_orders_table(dynamodb, settings.orders_table)
        built = services.build(settings)
        # Pacing spaces real writes 150 ms apart; here we measure the relay, not the pace.
        built.relay.pacer = WritePacer(built.relay.pacer._state, max_wait_seconds=10, spacing=0.0)
        services.install(built)

        @app.route("/bench-baseline")
        def baseline() -> dict[str, Any]:
            return {"value": len(ssm.get_parameter(Name=settings.token_parameter, WithDecryption=True)["Parameter"]["Value"])}

        with Client(app, stage_name="dev") as client:
            yield client, simulator


def warm_overhead(alerts: int) -> dict[str, Any]:
    import io
    from contextlib import redirect_stdout

    with tempfile.TemporaryDirectory() as cache, in_process_stack(cache) as (client, simulator):
        def alert(n: int) -> str:
            return json.dumps({"secret": "bench-secret", "symbol": "NSE:SBIN", "action": "buy", "quantity": 1,
                               "alert_id": f"bench-{n}"})

        with redirect_stdout(io.StringIO()):
            client.http.post("/webhook", headers={"Content-Type": "application/json"}, body=alert(-1))  # warm
            client.http.get("/bench-baseline")
            relay_ms, to_broker_ms, baseline_ms, own_ms = [], [], [], []
            for n in range(alerts):
                aws_calls.recording = True
                started = time.monotonic()  # the simulator stamps requests with the same clock
                response = client.http.post("/webhook", headers={"Content-Type": "application/json"}, body=alert(n))
                relay_ms.append((time.monotonic() - started) * 1000)
                aws_calls.recording = False
                assert response.status_code == 200, response.body
                to_broker_ms.append((simulator.order_writes()[-1].received_at - started) * 1000)
                started = time.monotonic()
                client.http.get("/bench-baseline")
                baseline_ms.append((time.monotonic() - started) * 1000)
        own_ms = own_processing(alerts)
        placed = len(simulator.orders)
    relay, out, base = summary(relay_ms), summary(to_broker_ms), summary(baseline_ms)
    return {
        "relay_ms": relay, "alert_to_broker_ms": out, "baseline_one_ssm_read_ms": base,
        "ratio_p50": round(relay["p50"] / base["p50"], 2), "ratio_p99": round(relay["p99"] / base["p99"], 2),
        "to_broker_ratio_p50": round(out["p50"] / base["p50"], 2),
        "to_broker_ratio_p99": round(out["p99"] / base["p99"], 2),
        "aws_calls": aws_calls.per_alert(alerts),
        "own_processing_ms": summary(own_ms), "orders_placed": placed,
    }


def own_processing(runs: int) -> list[float]:
    """Alert parsed → exact broker request ready: the relay's own CPU work, no I/O."""
    from chalicelib import auth
    from chalicelib.alerts import parse_body, validate_alert
    from chalicelib.config import Settings
    from chalicelib.instruments import InstrumentIndex
    from chalicelib.ledger import ledger_key
    from chalicelib.orders import build_order, remarks_tag

    settings = Settings()
    index = InstrumentIndex({("NSE", "SBIN"): ("3045", "0.05")})
    timings = []
    for n in range(runs):
        raw = json.dumps({"secret": "bench-secret", "symbol": "NSE:SBIN", "action": "buy", "quantity": "5",
                          "order_type": "LIMIT", "price": 812.33, "alert_id": f"own-{n}"}).encode()
        started = time.perf_counter()
        parsed = parse_body(raw)
        auth.authenticate(raw_body=raw, claimed_secret=parsed.claimed_secret, signature=None, secret="bench-secret",
                          now=time.time(), max_age_seconds=300)
        alert = validate_alert(parsed.fields or {})
        ledger_key(alert)
        write = build_order(alert, index.resolve("NSE", alert.ticker), remarks_tag(alert.alert_id, "abc123"), settings)
        json.dumps(write.body)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def cold_start(runs: int, alerts_runs: int = 5) -> dict[str, Any]:
    def timed(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
        return (time.perf_counter() - started) * 1000

    app_ms, base_ms = [], []
    for _ in range(runs):  # interleaved, so that a busy moment on the machine hits both alike
        app_ms.append(timed("import app"))
        base_ms.append(timed("import chalice, boto3, requests, pydantic"))
    first, second = cold_alerts(alerts_runs)
    return {"import_app_ms": summary(app_ms), "import_baseline_ms": summary(base_ms),
            "import_ratio_p50": round(pct(app_ms, 50) / pct(base_ms, 50), 2),
            "first_alert_ms": round(pct(first, 50), 1), "second_alert_ms": round(pct(second, 50), 1),
            "first_alert_runs_ms": [round(ms, 1) for ms in first], "second_alert_runs_ms": [round(ms, 1) for ms in second]}


def cold_alerts(runs: int) -> tuple[list[float], list[float]]:
    """A cold start as Lambda has it: the stack (moto server, the simulator) is already running
    in this process; each run is a fresh interpreter (bench.cold_alert) that imports app.py and
    answers two alerts. First: from starting the process to the first answer; second: the
    next alert's answer in that process. One unmeasured run first leaves what a deployed relay
    already has before the bell (the day's shared instrument index, a used pace schedule)."""
    from local.stack import LocalStack

    with tempfile.TemporaryDirectory() as work, LocalStack(relay_port=0, run_schedules=False, workdir=Path(work)) as stack:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(stack.environment())
        env.update({"BENCH_WEBHOOK_SECRET": stack.webhook_secret or ""})
        env.pop("LOCAL_RUN_ID", None)
        first, second = [], []
        for run in range(runs + 1):
            reader, writer = os.pipe()
            started = time.monotonic()
            child = subprocess.Popen([sys.executable, "-m", "bench.cold_alert", str(writer), f"cold-{run}-a", f"cold-{run}-b"],
                                     cwd=REPO, env=env, pass_fds=(writer,))
            os.close(writer)
            with os.fdopen(reader) as stamps:
                report = json.loads(stamps.read() or "{}")
            if child.wait(timeout=60) != 0 or report.get("statuses") != [200, 200]:
                raise RuntimeError(f"cold run {run} failed: {report}")
            if run:
                first.append((report["first_done"] - started) * 1000)
                second.append(report["second_ms"])
    return first, second


def package_size() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "AWS_DEFAULT_REGION": "ap-south-1"}
        started = time.perf_counter()
        chalice = str(Path(sys.executable).with_name("chalice"))
        result = subprocess.run([chalice, "package", "--stage", "prod", out], cwd=REPO,
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            return {"error": result.stderr.strip().splitlines()[-1:]}
        archive = Path(out) / "deployment.zip"
        with zipfile.ZipFile(archive) as zipped:
            unzipped = sum(info.file_size for info in zipped.infolist())
        return {"zip_mb": round(archive.stat().st_size / 1e6, 2), "unzipped_mb": round(unzipped / 1e6, 2),
                "package_seconds": round(time.perf_counter() - started, 1), "target_zip_mb": 5}


def symbol_lookup() -> dict[str, Any]:
    from chalicelib.instruments import InstrumentIndex
    from local.simulator import DEFAULT_INSTRUMENTS_CSV

    header = DEFAULT_INSTRUMENTS_CSV.splitlines()[0]
    big = [header] + [f"NSE,E,{100000 + n},EQUITY,,SYM{n},1,SYM{n},,,,0.05,,ES,EQ,NAME {n}" for n in range(100_000)]
    results = {}
    for label, text, probe in (("real_sample", DEFAULT_INSTRUMENTS_CSV, "SBIN"), ("generated_100k", "\n".join(big), "SYM99999")):
        started = time.perf_counter()
        index = InstrumentIndex.from_csv(text)
        load_ms = (time.perf_counter() - started) * 1000
        lookups = []
        for _ in range(10_000):
            started = time.perf_counter()
            index.resolve("NSE", probe)
            lookups.append((time.perf_counter() - started) * 1e6)
        results[label] = {"rows": len(text.splitlines()) - 1, "cold_load_ms": round(load_ms, 1),
                          "warm_lookup_us": summary(lookups)}
    return results


def cold_index(runs: int = 20) -> dict[str, Any]:
    """A cold instance's first symbol: the day's index from the shared copy (one DynamoDB item,
    moto) vs downloading and parsing the master (the simulator over loopback HTTP), for a master
    of real size (~9 000 cash rows). Loopback flatters the download: INDstocks is a network away."""
    from datetime import date

    from moto import mock_aws

    from chalicelib.broker import BrokerClient
    from chalicelib.instruments import InstrumentMaster
    from chalicelib.state import StateTable
    from local.resources import create_state_table
    from local.simulator import DEFAULT_INSTRUMENTS_CSV, IndstocksSimulator

    header = DEFAULT_INSTRUMENTS_CSV.splitlines()[0]
    rows = [f"{'NSE' if n % 3 else 'BSE'},E,{100000 + n},EQUITY,,SYM{n:05d},1,SYM{n:05d},,,,0.05,,ES,"
            f"{'EQ' if n % 3 else 'A'},COMPANY NUMBER {n} LIMITED" for n in range(9000)]
    today = date(2026, 12, 1)
    with mock_aws(), IndstocksSimulator(tokens=("bench-token",)) as simulator, tempfile.TemporaryDirectory() as work:
        import boto3

        simulator.instruments_csv = "\n".join([header, *rows]) + "\n"
        dynamodb = boto3.client("dynamodb")
        create_state_table(dynamodb, "bench-state")
        state = StateTable(lambda: dynamodb, "bench-state")
        broker = BrokerClient(simulator.url, connect_timeout=1, read_timeout=10, idle_reset_seconds=240)

        def download() -> str:
            return broker.instruments_csv("bench-token", "equity", timeout=10)

        InstrumentMaster(download, f"{work}/seed", shared=state).refresh(today)  # what the 08:45 check leaves
        shared_bytes = len(state.get_blob(f"instruments-equity#{today.isoformat()}") or b"")
        downloaded, shared = [], []
        for run in range(runs):  # interleaved, each on a fresh instance with an empty /tmp
            started = time.perf_counter()
            InstrumentMaster(download, f"{work}/download-{run}").resolve("NSE", "SYM00001", today)
            downloaded.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            InstrumentMaster(download, f"{work}/shared-{run}", shared=state).resolve("NSE", "SYM00001", today)
            shared.append((time.perf_counter() - started) * 1000)
        master_kb = len(simulator.instruments_csv.encode()) / 1000
    return {"master_rows": len(rows), "master_kb": round(master_kb, 1), "shared_item_kb": round(shared_bytes / 1000, 1),
            "download_ms": summary(downloaded), "shared_copy_ms": summary(shared),
            "ratio_p50": round(summary(shared)["p50"] / summary(downloaded)["p50"], 2)}


def burst() -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from local.stack import LocalStack

    with tempfile.TemporaryDirectory() as work, LocalStack(relay_port=0, run_schedules=False, workdir=Path(work)) as stack:
        bodies = [{"secret": stack.webhook_secret, "symbol": "NSE:SBIN", "action": "buy", "quantity": 1,
                   "alert_id": f"burst-{n}"} for n in range(50)]
        started = time.perf_counter()

        def send(body: dict[str, Any]) -> str:
            answer = requests.post(stack.webhook_url, json=body, timeout=30).json()
            return answer.get("status") or answer.get("error", "no answer")  # a refusal is counted, not raised

        with ThreadPoolExecutor(max_workers=50) as pool:
            outcomes = list(pool.map(send, bodies))
        elapsed = time.perf_counter() - started
        stamps = sorted(w.received_at for w in stack.simulator.order_writes())
        busiest = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
        journal = requests.get(stack.relay_url + "/orders?limit=100", headers={"X-Admin-Key": stack.admin_key}, timeout=10).json()
        return {"alerts": 50, "placed": outcomes.count("placed"), "orders_in_book": len(stack.simulator.orders),
                "busiest_second_writes": busiest, "seconds_to_drain": round(elapsed, 2),
                "ledger_items": len(journal["orders"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--cold-runs", type=int, default=20)
    parser.add_argument("--cold-alerts", type=int, default=5)
    options = parser.parse_args()
    print(f"measuring (a few minutes); the relay's logs go to {LOG.relative_to(REPO)}", flush=True)
    with output_to(LOG):
        results = {
            "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
            "warm": warm_overhead(options.alerts),
            "cold": cold_start(options.cold_runs, options.cold_alerts),
            "package": package_size(),
            "symbols": symbol_lookup(),
            "cold_index": cold_index(),
            "burst": burst(),
        }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    w, c = results["warm"], results["cold"]
    rows = [
        ("warm alert in → broker request out, p50/p99 ms", f"{w['alert_to_broker_ms']['p50']:.2f} / {w['alert_to_broker_ms']['p99']:.2f}",
         f"{w['baseline_one_ssm_read_ms']['p50']:.2f} / {w['baseline_one_ssm_read_ms']['p99']:.2f}",
         f"{w['to_broker_ratio_p50']}× / {w['to_broker_ratio_p99']}× (target ≤ 1.3×)"),
        ("warm alert → answer, p50/p99 ms", f"{w['relay_ms']['p50']:.2f} / {w['relay_ms']['p99']:.2f}",
         f"{w['baseline_one_ssm_read_ms']['p50']:.2f} / {w['baseline_one_ssm_read_ms']['p99']:.2f}",
         f"{w['ratio_p50']}× / {w['ratio_p99']}×"),
        ("own processing, p50/p99 ms", f"{w['own_processing_ms']['p50']:.3f} / {w['own_processing_ms']['p99']:.3f}", "—", "target p99 ≤ 20 ms"),
        ("import app, p50 ms", f"{c['import_app_ms']['p50']:.0f}", f"{c['import_baseline_ms']['p50']:.0f}",
         f"{c['import_ratio_p50']}× (target ≤ 1.5×)"),
        ("cold first alert / second alert, p50 ms", f"{c['first_alert_ms']:.0f} / {c['second_alert_ms']:.0f}", "—",
         "target first ≤ 500 ms"),
        ("deployment zip / unzipped, MB", f"{results['package'].get('zip_mb')} / {results['package'].get('unzipped_mb')}", "—", "target zip ≤ 5 MB"),
        ("100k-row master: load ms / lookup p99 µs", f"{results['symbols']['generated_100k']['cold_load_ms']} / {results['symbols']['generated_100k']['warm_lookup_us']['p99']}", "—", ""),
        ("cold instance's index: shared copy vs download, p50 ms", f"{results['cold_index']['shared_copy_ms']['p50']:.1f}",
         f"{results['cold_index']['download_ms']['p50']:.1f}", f"{results['cold_index']['ratio_p50']}× ({results['cold_index']['shared_item_kb']} KB item, {results['cold_index']['master_kb']} KB master)"),
        ("burst of 50: placed / busiest second / drain s", f"{results['burst']['placed']} / {results['burst']['busiest_second_writes']} / {results['burst']['seconds_to_drain']}", "—", "≤ 10 writes/s"),
    ]
    print(f"{'measure':48} {'relay':>22} {'baseline':>16}  ratio / target")
    for name, relay, baseline, ratio in rows:
        print(f"{name:48} {relay:>22} {baseline:>16}  {ratio}")
    print("\nAWS calls per warm alert (in-process moto):")
    for name, figures in w["aws_calls"].items():
        print(f"  {name:32} {figures['per_alert']:>5} per alert, p50 {figures['p50_ms']:.2f} ms")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
