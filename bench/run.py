"""`make bench`: what the relay itself costs, each figure beside a baseline measured in the same
run. Prints a table and writes bench/results.json. Not part of CI's pass/fail. The relay logs
a JSON line per decision; while measuring, everything the relay and its helpers print goes to
bench/bench.log, so the table is what one sees.

    python -m bench.run [--alerts 1000] [--cold-runs 20] [--cold-alerts 5] [--burst 100]

Futures and options (bench/fno.py) run last; `python -m bench.fno` runs them alone.
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

from bench.fno import measure as fno_measure
from bench.fno import rows as fno_rows

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
LOG = REPO / "bench" / "bench.log"
EXACTLY_ONCE_TABLE = "bench-exactly-once"

os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "ap-south-1"})
for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(name, None)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(pct(values, 50), 3), "p99": round(pct(values, 99), 3), "n": len(values)}


class AwsCalls:
    """Counts and times every AWS call by operation (botocore's before/after-call events), and
    keeps the current alert's calls in order with the moment each ended (time.monotonic, the
    clock the simulator stamps requests with), to tell calls before the broker request from
    calls after it."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}
        self.recording = False
        self.sequence: list[tuple[str, float]] = []
        self.before_broker: dict[str, int] = {}
        self.after_broker: dict[str, int] = {}

    def watch(self, events: Any) -> None:
        events.register("before-call", self._before)
        events.register("after-call", self._after)

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if self.recording and "bench_started" in context:
            name = f"{model.service_model.endpoint_prefix}.{model.name}"
            self.calls.setdefault(name, []).append((time.perf_counter() - context["bench_started"]) * 1000)
            self.sequence.append((name, time.monotonic()))

    def split_at(self, broker_received_at: float) -> None:
        """File the current alert's calls as before or after its broker request: a call that
        ended before the broker received the order came before it."""
        for name, ended in self.sequence:
            side = self.before_broker if ended <= broker_received_at else self.after_broker
            side[name] = side.get(name, 0) + 1
        self.sequence = []

    def per_alert(self, alerts: int) -> dict[str, dict[str, float]]:
        return {name: {"per_alert": round(len(ms) / alerts, 2), "p50_ms": round(pct(ms, 50), 3)}
                for name, ms in sorted(self.calls.items())}

    @staticmethod
    def split_per_alert(counts: dict[str, int], alerts: int) -> dict[str, float]:
        return {name: round(count / alerts, 2) for name, count in sorted(counts.items())}


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
    import requests
    from chalice.test import Client
    from moto import mock_aws

    from local.moto_atomic import make_dynamodb_writes_atomic
    from local.simulator import IndstocksSimulator

    make_dynamodb_writes_atomic()  # the moto the tests and `make run` use (DynamoDB's atomic writes and transactions)
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
        settings = settings_from_env({"RELAY_STAGE": "bench", "TRADING_CALENDAR": "always", "SQUARE_OFF_AT": "off", "INDSTOCKS_BASE_URL": simulator.url,
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

        # What a bare exactly-once forwarder must do: one conditional PutItem (the alert id as the
        # key), then the broker request. The same moto, simulator, token and order body as the relay.
        dynamodb.create_table(TableName=EXACTLY_ONCE_TABLE, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        broker = requests.Session()
        order: dict[str, Any] = {}  # the relay's own order body, taken from its first order write

        @app.route("/bench-exactly-once", methods=["POST"])
        def exactly_once() -> dict[str, Any]:
            alert = json.loads(app.current_request.raw_body)
            if alert.get("secret") != "bench-secret":
                return {"status": "refused"}
            put_started = time.perf_counter()
            dynamodb.put_item(TableName=EXACTLY_ONCE_TABLE, Item={"pk": {"S": alert["alert_id"]}},
                              ConditionExpression="attribute_not_exists(pk)")
            order.setdefault("put_ms", []).append((time.perf_counter() - put_started) * 1000)
            reply = broker.post(simulator.url + order["path"], data=order["body"], timeout=(3, 10),
                                headers={"Authorization": "bench-token", "Content-Type": "application/json",
                                         "Accept": "application/json"}, allow_redirects=False)
            return {"status": "placed" if reply.status_code == 200 else "failed"}

        with Client(app, stage_name="dev") as client:
            yield client, simulator, order


def warm_overhead(alerts: int) -> dict[str, Any]:
    import io
    from contextlib import redirect_stdout

    with tempfile.TemporaryDirectory() as cache, in_process_stack(cache) as (client, simulator, order):
        headers = {"Content-Type": "application/json"}

        def alert(name: str) -> str:  # a MARKET alert with its {{close}}, as the README's template sends
            return json.dumps({"secret": "bench-secret", "symbol": "NSE:SBIN", "action": "buy", "quantity": 1,
                               "price": "812.35", "alert_id": name})

        def relay(n: int) -> None:
            aws_calls.recording = True
            started = time.monotonic()  # the simulator stamps requests with the same clock
            response = client.http.post("/webhook", headers=headers, body=alert(f"bench-{n}"))
            relay_ms.append((time.monotonic() - started) * 1000)
            aws_calls.recording = False
            assert response.status_code == 200, response.body
            received = simulator.order_writes()[-1].received_at
            to_broker_ms.append((received - started) * 1000)
            aws_calls.split_at(received)

        def exactly_once(n: int) -> None:
            started = time.monotonic()
            response = client.http.post("/bench-exactly-once", headers=headers, body=alert(f"once-{n}"))
            once_ms.append((time.monotonic() - started) * 1000)
            assert json.loads(response.body) == {"status": "placed"}, response.body
            once_to_broker_ms.append((simulator.order_writes()[-1].received_at - started) * 1000)

        def one_ssm_read() -> None:
            started = time.monotonic()
            client.http.get("/bench-baseline")
            ssm_ms.append((time.monotonic() - started) * 1000)

        relay_ms: list[float] = []
        to_broker_ms: list[float] = []
        once_ms: list[float] = []
        once_to_broker_ms: list[float] = []
        ssm_ms: list[float] = []
        with redirect_stdout(io.StringIO()):
            client.http.post("/webhook", headers=headers, body=alert("bench-warm"))  # warm
            first = simulator.order_writes()[-1]
            order.update(path=first.path, body=first.body)
            exactly_once(-1)
            one_ssm_read()
            relay_ms, to_broker_ms, once_ms, once_to_broker_ms, ssm_ms = [], [], [], [], []
            order["put_ms"] = []
            aws_calls.calls, aws_calls.before_broker, aws_calls.after_broker = {}, {}, {}
            for n in range(alerts):  # interleaved, each going first in turn: a busy moment hits both alike
                if n % 2:
                    relay(n)
                    exactly_once(n)
                else:
                    exactly_once(n)
                    relay(n)
                one_ssm_read()
        own_ms = own_processing(alerts)
        in_book = len(simulator.orders)
    relay_answer, out = summary(relay_ms), summary(to_broker_ms)
    once, once_out, ssm = summary(once_ms), summary(once_to_broker_ms), summary(ssm_ms)
    before = AwsCalls.split_per_alert(aws_calls.before_broker, alerts)
    after = AwsCalls.split_per_alert(aws_calls.after_broker, alerts)
    per_call = aws_calls.per_alert(alerts)
    # Where the ratio comes from: each side's time to the broker without its one write before it
    # (the relay's TransactWriteItems, the baseline's PutItem), as moto here executes them.
    put = summary(order["put_ms"])
    transaction_p50 = per_call.get("dynamodb.TransactWriteItems", {}).get("p50_ms", 0.0)
    return {
        "relay_ms": relay_answer, "alert_to_broker_ms": out,
        "baseline_exactly_once_to_broker_ms": once_out, "baseline_exactly_once_answer_ms": once,
        "baseline_one_ssm_read_ms": ssm,
        "to_broker_ratio_p50": round(out["p50"] / once_out["p50"], 2),
        "to_broker_ratio_p99": round(out["p99"] / once_out["p99"], 2),
        "answer_ratio_p50": round(relay_answer["p50"] / once["p50"], 2),
        "answer_ratio_p99": round(relay_answer["p99"] / once["p99"], 2),
        "to_broker_ratio_vs_one_ssm_read_p50": round(out["p50"] / ssm["p50"], 2),
        "to_broker_ratio_vs_one_ssm_read_p99": round(out["p99"] / ssm["p99"], 2),
        "aws_calls_before_broker": round(sum(before.values()), 2),
        "aws_calls_after_broker": round(sum(after.values()), 2),
        "aws_calls_before_broker_by_operation": before,
        "aws_calls_after_broker_by_operation": after,
        "aws_calls": per_call,
        "baseline_put_item_ms": put,
        "to_broker_ratio_without_the_write_p50": round((out["p50"] - transaction_p50) / max(once_out["p50"] - put["p50"], 1e-6), 2),
        "write_before_broker_ratio_p50": round(transaction_p50 / put["p50"], 2),
        "own_processing_ms": summary(own_ms), "orders_in_book": in_book,  # relay and baseline
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


@contextmanager
def lambda_task():
    """app.py and chalicelib/ as the package ships them (infra/build.py: compiled beside their
    sources), in a directory of their own: what a Lambda instance imports. The libraries are
    compiled in the virtualenv already, so both sides of the import ratio start from bytecode."""
    import compileall
    import py_compile
    import shutil

    with tempfile.TemporaryDirectory() as task:
        shutil.copy2(REPO / "app.py", task)
        shutil.copytree(REPO / "chalicelib", Path(task) / "chalicelib",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        compileall.compile_dir(task, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        yield Path(task)


def cold_start(runs: int, alerts_runs: int = 5) -> dict[str, Any]:
    with lambda_task() as task:
        def timed(code: str) -> float:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=task, check=True, capture_output=True)
            return (time.perf_counter() - started) * 1000

        app_ms, base_ms = [], []
        for _ in range(runs):  # interleaved, so that a busy moment on the machine hits both alike
            app_ms.append(timed("import app"))
            base_ms.append(timed("import chalice, boto3, requests, pydantic"))
        first, second = cold_alerts(alerts_runs, task)
    return {"import_app_ms": summary(app_ms), "import_baseline_ms": summary(base_ms),
            "import_ratio_p50": round(pct(app_ms, 50) / pct(base_ms, 50), 2),
            "first_alert_ms": round(pct(first, 50), 1), "second_alert_ms": round(pct(second, 50), 1),
            "first_alert_runs_ms": [round(ms, 1) for ms in first], "second_alert_runs_ms": [round(ms, 1) for ms in second]}


def cold_alerts(runs: int, task: Path = REPO) -> tuple[list[float], list[float]]:
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
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(task), str(REPO), env.get("PYTHONPATH")]))
        env.pop("LOCAL_RUN_ID", None)
        first, second = [], []
        for run in range(runs + 1):
            reader, writer = os.pipe()
            started = time.monotonic()
            child = subprocess.Popen([sys.executable, "-m", "bench.cold_alert", str(writer), f"cold-{run}-a", f"cold-{run}-b"],
                                     cwd=task, env=env, pass_fds=(writer,))
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
        from infra.build import compile_sources, prune_unused

        prune_unused(archive)  # as `make package` ships it
        compile_sources(archive)
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


BURST_ALERTS = 100


def burst(alerts: int = BURST_ALERTS) -> dict[str, Any]:
    """`alerts` distinct alerts sent at once to the local stack (chalice local, moto server with the
    order queue and its consumer process, the simulator with INDstocks' 10 writes a second), as
    tests/test_burst.py sends them (local/burst.py): one per symbol of a watchlist from a thread
    pool, and a series of 10 on NSE:SBIN one after another. Each answer is timed; alerts over the pace are
    answered `queued` and the order queue's consumer sends them in their slots. The schedules stay
    off, so the minute sweep sends nothing: what reaches the book in `seconds_to_drain` went through
    the queue (or straight from the webhook). Relay settings come from the environment as for
    `make run` (e.g. PACING_MAX_WAIT_SECONDS=0.5). One warm alert first, as a trading day has."""
    import requests

    from chalicelib.config import SETTING_VARIABLES
    from local.burst import ANSWERED, add_watchlist, run_burst
    from local.stack import LocalStack

    settings = {name: value for name, value in os.environ.items() if name in SETTING_VARIABLES and value}
    with tempfile.TemporaryDirectory() as work, LocalStack(relay_port=0, run_schedules=False, workdir=Path(work),
                                                           settings=settings) as stack:
        watchlist = add_watchlist(stack.simulator, alerts - 10)
        requests.post(stack.webhook_url, timeout=30, json={"secret": stack.webhook_secret, "symbol": "NSE:SBIN",
                                                           "action": "buy", "quantity": 1, "price": "812.35",
                                                           "alert_id": "bench-warm-up"})
        time.sleep(1.0)
        stack.simulator.reset()
        report = run_burst(stack, watchlist, alerts=alerts, series=10, prefix="bench-burst", drain_timeout=60.0)
        times = [answer.ms for answer in report.answers]
        return {"alerts": alerts, "placed": report.in_book,
                "answered_placed": report.count("placed"), "queued": report.count("queued"), "other": report.other,
                "max_answer_ms": round(report.max_answer_ms, 1), "answer_ms": summary(times),
                "seconds_to_answer_all": report.seconds_to_answer_all,
                "seconds_to_drain": report.seconds_to_drain, "seconds_to_last_write": report.seconds_to_last_write,
                "answered": sum(1 for a in report.answers if a.status in ANSWERED),
                "lost": len(report.lost), "duplicated": len(report.duplicated),
                "series_in_order": report.series_in_order, "busiest_second": report.busiest_second,
                "pacing_max_wait_seconds": settings.get("PACING_MAX_WAIT_SECONDS", "default"),
                "drained_by": "the order queue's consumer (the minute sweep off)"}


# The figures issue 15 asks for, under names that stay: "section.key" in results.json, and named
# in the printed table.
STABLE_NAMES = (
    "warm.to_broker_ratio_p50", "warm.to_broker_ratio_p99",
    "warm.aws_calls_before_broker", "warm.aws_calls_after_broker",
    "warm.write_before_broker_ratio_p50", "warm.to_broker_ratio_without_the_write_p50",
    "cold.first_alert_ms", "cold.second_alert_ms", "cold.import_ratio_p50",
    "burst.max_answer_ms", "burst.placed", "burst.answered_placed", "burst.queued", "burst.seconds_to_drain",
    "burst.busiest_second", "burst.lost", "burst.duplicated",
    # Futures and options (issue 16), at a real-size master (bench/fno.py).
    "fno.cold_index_ready_ms", "fno.lookup_p99_us", "fno.index_rss_mb", "fno.relative_option_broker_reads",
)


def figure(results: dict[str, Any], name: str) -> Any:
    section, key = name.split(".", 1)
    return results[section][key]


def table(results: dict[str, Any]) -> str:
    """The printed table: every figure beside its baseline, stable names in brackets."""
    w, c, b = results["warm"], results["cold"], results["burst"]
    once, once_answer, ssm = w["baseline_exactly_once_to_broker_ms"], w["baseline_exactly_once_answer_ms"], w["baseline_one_ssm_read_ms"]
    pkg, big, index = results["package"], results["symbols"]["generated_100k"], results["cold_index"]
    rows = [
        ("warm alert in → broker request out, p50/p99 ms", f"{w['alert_to_broker_ms']['p50']:.2f} / {w['alert_to_broker_ms']['p99']:.2f}",
         f"{once['p50']:.2f} / {once['p99']:.2f}",
         f"{w['to_broker_ratio_p50']}× / {w['to_broker_ratio_p99']}× (target ≤ 1.3×) "
         "[warm.to_broker_ratio_p50 / warm.to_broker_ratio_p99; baseline: exactly-once forwarder, one conditional PutItem then the broker request]"),
        ("  the same against a route doing one SSM read", "", f"{ssm['p50']:.2f} / {ssm['p99']:.2f}",
         f"{w['to_broker_ratio_vs_one_ssm_read_p50']}× / {w['to_broker_ratio_vs_one_ssm_read_p99']}× "
         "[warm.to_broker_ratio_vs_one_ssm_read_p50 / warm.to_broker_ratio_vs_one_ssm_read_p99]"),
        ("warm alert → answer, p50/p99 ms", f"{w['relay_ms']['p50']:.2f} / {w['relay_ms']['p99']:.2f}",
         f"{once_answer['p50']:.2f} / {once_answer['p99']:.2f}",
         f"{w['answer_ratio_p50']}× / {w['answer_ratio_p99']}× [warm.answer_ratio_p50 / warm.answer_ratio_p99; exactly-once baseline]"),
        ("  the one write before the broker, p50 ms", f"{w['aws_calls'].get('dynamodb.TransactWriteItems', {}).get('p50_ms', 0):.2f}",
         f"{w['baseline_put_item_ms']['p50']:.2f}",
         f"{w['write_before_broker_ratio_p50']}× (TransactWriteItems of 5 items: claim, slot, count, lane, kill switch; vs a bare PutItem, in moto) "
         "[warm.write_before_broker_ratio_p50]"),
        ("  alert in → broker out without that write, p50", "", "",
         f"{w['to_broker_ratio_without_the_write_p50']}× [warm.to_broker_ratio_without_the_write_p50]"),
        ("AWS calls per warm alert, before / after broker", f"{w['aws_calls_before_broker']} / {w['aws_calls_after_broker']}",
         "1 / 0", "target 1 / 1 [warm.aws_calls_before_broker / warm.aws_calls_after_broker]"),
        ("own processing, p50/p99 ms", f"{w['own_processing_ms']['p50']:.3f} / {w['own_processing_ms']['p99']:.3f}", "—", "target p99 ≤ 20 ms"),
        ("import app, p50 ms", f"{c['import_app_ms']['p50']:.0f}", f"{c['import_baseline_ms']['p50']:.0f}",
         f"{c['import_ratio_p50']}× (target ≤ 1.5×) [cold.import_ratio_p50]"),
        ("cold first alert / second alert, p50 ms", f"{c['first_alert_ms']:.0f} / {c['second_alert_ms']:.0f}", "—",
         "target first ≤ 500 ms [cold.first_alert_ms / cold.second_alert_ms]"),
        ("deployment zip / unzipped, MB", f"{pkg.get('zip_mb')} / {pkg.get('unzipped_mb')}", "—", "target zip ≤ 5 MB"),
        ("100k-row master: load ms / lookup p99 µs", f"{big['cold_load_ms']} / {big['warm_lookup_us']['p99']}", "—", ""),
        ("cold instance's index: shared copy vs download, p50 ms", f"{index['shared_copy_ms']['p50']:.1f}",
         f"{index['download_ms']['p50']:.1f}", f"{index['ratio_p50']}× ({index['shared_item_kb']} KB item, {index['master_kb']} KB master)"),
        (f"burst of {b['alerts']}: answered placed / queued / other", f"{b['answered_placed']} / {b['queued']} / {sum(b['other'].values())}",
         "—", f"[burst.answered_placed / burst.queued] {b['other'] or ''}".rstrip()),
        (f"burst of {b['alerts']}: slowest answer ms / answer p50 ms", f"{b['max_answer_ms']:.0f} / {b['answer_ms']['p50']:.0f}", "—",
         "target ≤ 1000 ms [burst.max_answer_ms]"),
        (f"burst of {b['alerts']}: in the book / lost / duplicated", f"{b['placed']} / {b['lost']} / {b['duplicated']}", "—",
         "target all / 0 / 0 [burst.placed / burst.lost / burst.duplicated]"),
        (f"burst of {b['alerts']}: drain s / busiest second writes",
         f"{b['seconds_to_drain'] if b['seconds_to_drain'] is not None else 'not all'} / {b['busiest_second']}", "—",
         f"≤ 10 writes/s; through the order queue, the sweep off; last write at {b.get('seconds_to_last_write')} s "
         "[burst.seconds_to_drain / burst.busiest_second]"),
    ]
    rows += fno_rows(results["fno"])
    lines = [f"{'measure':56} {'relay':>18} {'baseline':>16}  ratio / target"]
    lines += [f"{name:56} {relay:>18} {baseline:>16}  {ratio}" for name, relay, baseline, ratio in rows]
    lines.append("\nAWS calls per warm alert (in-process moto), before / after the broker request:")
    for name, figures in w["aws_calls"].items():
        before = w["aws_calls_before_broker_by_operation"].get(name, 0)
        after = w["aws_calls_after_broker_by_operation"].get(name, 0)
        lines.append(f"  {name:32} {figures['per_alert']:>5} per alert ({before} / {after}), p50 {figures['p50_ms']:.2f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--cold-runs", type=int, default=20)
    parser.add_argument("--cold-alerts", type=int, default=5)
    parser.add_argument("--burst", type=int, default=BURST_ALERTS)
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
            "burst": burst(options.burst),
            "fno": fno_measure(),
        }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
