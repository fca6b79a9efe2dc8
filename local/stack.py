"""`make run`: the whole relay on this machine, in the foreground.

    moto server (SSM, DynamoDB, SNS, SQS)  ←  chalice local (the real app.py)  →  INDstocks simulator
          │ the order queue (SQS FIFO)                                               ↑
          └──→  the queue consumer (local/queue_consumer.py: app.send_queued_orders) ─┘
                           the relay's scheduled functions, run on their schedules

The order queue and its consumer are the ones AWS runs (infra/build.py): alerts over the write
pace are answered 202 and handed to a FIFO queue in moto, and a consumer process, built as
Lambda's SQS event source (up to infra/limits.py's consumer concurrency at once, one message per
invocation), calls the app's real `send_queued_orders` handler. LOCAL_QUEUE_DELIVER_TWICE=1 makes
it deliver every message twice (SQS delivers at least once).

Before anything starts, the stack refuses a relay port another process holds, and READY means
that /health answered with this run's id (LOCAL_RUN_ID): never an older instance on that port.
`chalice local` runs in its own session (Ctrl-C in the terminal reaches only the stack, which
stops it) and watches the stack's pid, so it dies with the stack however the stack ends.

Nothing reaches the real broker unless INDSTOCKS_BASE_URL points there. `chalice local`
overwrites its environment with the stage's `environment_variables`, so the stack writes a
throwaway project (build/local-stack/: links to app.py and chalicelib/ plus a generated
.chalice/config.json with a `local` stage) and never touches the committed configuration.

Environment: RELAY_PORT (8000), LOCAL_QUEUE_DELIVER_TWICE, INDSTOCKS_BASE_URL, WEBHOOK_SECRET, INDSTOCKS_TOKEN, ADMIN_KEY,
INDSTOCKS_CLIENT_ID / INDSTOCKS_MPIN / INDSTOCKS_TOTP_SECRET, and every relay setting of the
README's configuration table (MAX_ALERT_AGE_SECONDS, DEDUPE_WINDOW_SECONDS, MAX_ORDER_QTY, …),
passed to the local stage as they are; settings that cannot work together stop the start.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from chalicelib.config import SETTING_VARIABLES
from relay_cli.local_profile import PROFILE_NAME, write_profile

REPO = Path(__file__).resolve().parents[1]
STAGE = "local"
REGION = "ap-south-1"
PREFIX = f"/indstocks-relay/{STAGE}"
# The stack decides these itself (its stage, its simulator or INDSTOCKS_BASE_URL, its URLs).
_OWNED_BY_THE_STACK = {"RELAY_STAGE", "INDSTOCKS_BASE_URL", "TOKEN_PAGE_URL", "INSTRUMENTS_CACHE_DIR", "ORDER_QUEUE_URL",
                       "ACCOUNTS"}
# The stage's order queue, named as infra/build.py names it. Its visibility timeout is short here:
# a failed delivery comes back within seconds (the consumer keeps a running one invisible).
ORDER_QUEUE_NAME = f"indstocks-relay-{STAGE}-orders.fifo"
LOCAL_VISIBILITY_SECONDS = 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether chalice local could listen on the port (it, too, binds with SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class RotationCredentials:
    client_id: str
    mpin: str
    totp_secret: str


@dataclass
class LocalAccount:
    """One account of `make run`'s ACCOUNTS: its token is seeded in the local SSM at the account's
    parameter and made live in the simulator; the relay is told the rest (ACCOUNTS without tokens)."""

    name: str
    token: str
    multiplier: str | None = None
    enabled: bool = True
    mode: str | None = None  # "paper": this account trades on paper

    def relay_entry(self) -> dict[str, Any]:
        return {"name": self.name, **({"multiplier": self.multiplier} if self.multiplier else {}),
                **({} if self.enabled else {"enabled": False}), **({"mode": self.mode} if self.mode else {})}


def local_accounts(text: str) -> list[LocalAccount]:
    """ACCOUNTS as `make run` reads it: a JSON list of {name, token, multiplier?, enabled?, mode?}; a
    missing token is generated. ValueError names what is wrong."""
    try:
        listed = json.loads(text)
    except ValueError as broken:
        raise ValueError(f"ACCOUNTS is not valid JSON: {broken}") from None
    if not isinstance(listed, list) or not listed or not all(isinstance(entry, dict) for entry in listed):
        raise ValueError("ACCOUNTS must be a JSON list of objects with name, token, optional multiplier, enabled and mode")
    accounts = []
    for position, entry in enumerate(listed):
        extra = sorted(set(entry) - {"name", "token", "multiplier", "enabled", "mode"})
        if extra or not isinstance(entry.get("name"), str):
            raise ValueError(f"ACCOUNTS[{position}]: " + (f"unknown field {extra[0]}" if extra else "name is required"))
        multiplier = entry.get("multiplier")
        accounts.append(LocalAccount(entry["name"], str(entry.get("token") or "demo-" + secrets.token_urlsafe(18)),
                                     None if multiplier is None else str(multiplier), entry.get("enabled", True) is not False,
                                     entry.get("mode")))
    return accounts


@dataclass
class LocalStack:
    relay_port: int = 8000  # 0: any free port
    broker_url: str | None = None  # None: start the simulator
    webhook_secret: str | None = None
    token: str | None = None
    admin_key: str | None = None
    rotation: RotationCredentials | None = None
    max_alert_age_seconds: int | None = None
    # Relay settings for the local stage (env var name → value), as a stage's environment_variables.
    settings: dict[str, str] = field(default_factory=dict)
    # Several accounts (ACCOUNTS); empty: one, with `token`. The first account's token is `token`.
    accounts: list[LocalAccount] = field(default_factory=list)
    run_schedules: bool = True
    # The order queue's consumer (local/queue_consumer.py); off: queued alerts wait for the sweep.
    run_queue_consumer: bool = True
    # The consumer delivers every message twice (SQS's at-least-once delivery, made certain).
    deliver_twice: bool = False
    # The simulator's exchange (local/simulator.py): orders fill, positions and funds move.
    # `make run` turns it on; tests that drive order statuses themselves leave it off.
    simulator_fills: bool = False
    workdir: Path = REPO / "build" / "local-stack"

    moto_url: str = field(init=False, default="")
    order_queue_url: str = field(init=False, default="")
    # Echoed by /health (LOCAL_RUN_ID): tells this run's chalice local from any other. Not a secret.
    run_id: str = field(init=False, default_factory=lambda: secrets.token_hex(8))
    simulator: Any = field(init=False, default=None)
    _moto: Any = field(init=False, default=None)
    _chalice: subprocess.Popen | None = field(init=False, default=None)
    _consumer: subprocess.Popen | None = field(init=False, default=None)
    _scheduler: threading.Thread | None = field(init=False, default=None)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)

    # --- what the stack exposes --------------------------------------------------------------

    @property
    def relay_url(self) -> str:
        return f"http://127.0.0.1:{self.relay_port}"

    @property
    def webhook_url(self) -> str:
        return self.relay_url + "/webhook"

    @property
    def token_page_url(self) -> str:
        return self.relay_url + "/token"

    @property
    def dashboard_url(self) -> str:
        return self.relay_url + "/dashboard"

    def environment(self) -> dict[str, str]:
        """The local stage's environment: what chalice local and the schedules run with."""
        env = {
            "RELAY_STAGE": STAGE,
            "INDSTOCKS_BASE_URL": self.broker_url or "",
            "TOKEN_PAGE_URL": self.token_page_url,
            "INSTRUMENTS_CACHE_DIR": str(self.workdir / "cache"),
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local-stack",
            "AWS_SECRET_ACCESS_KEY": "local-stack",
            "POWERTOOLS_SERVICE_NAME": "indstocks-relay",
            "LOCAL_RUN_ID": self.run_id,
            # A rehearsal runs at any hour: every day and hour open, and no square-off at 15:15
            # in the middle of it, unless the trader sets them.
            "TRADING_CALENDAR": "always",
            "SQUARE_OFF_AT": "off",
        }
        if self.order_queue_url:
            env["ORDER_QUEUE_URL"] = self.order_queue_url
        env.update({name: value for name, value in self.settings.items() if name not in _OWNED_BY_THE_STACK})
        if self.max_alert_age_seconds is not None:
            env["MAX_ALERT_AGE_SECONDS"] = str(self.max_alert_age_seconds)
        if self.accounts:
            env["ACCOUNTS"] = json.dumps([account.relay_entry() for account in self.accounts])
        return env

    def check_settings(self) -> None:
        """Refuse, before anything starts, settings the relay would refuse (naming them)."""
        from pydantic import ValidationError

        from chalicelib.config import settings_from_env

        try:
            settings_from_env(self.environment())
        except ValidationError as invalid:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                                 for e in invalid.errors(include_input=False))
            raise ValueError(f"invalid relay settings: {problems}") from None

    def check_ports(self) -> None:
        """Refuse, before anything starts, a relay port another process holds: a second `make run`
        would print its own secret while the first instance answers its curl (401)."""
        if self.relay_port and not port_is_free(self.relay_port):
            raise ValueError(f"port {self.relay_port} is in use (another `make run`?): stop that process, "
                             f"or choose another port, e.g. RELAY_PORT={free_port()} make run")

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        self.check_settings()
        self.check_ports()  # moto and the simulator take free ports as they start
        try:
            self._start_moto()
            self._start_broker()
            self._seed()
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text("")  # chalice local and the consumer append to it
            if self.run_queue_consumer:
                self._start_queue_consumer()
            self._start_chalice()
            if self.run_queue_consumer:
                self._wait_for_queue_consumer()
            if self.run_schedules:
                self._start_schedules()
            self._write_profile()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stop.set()
        self.profile_path.unlink(missing_ok=True)  # first: `relay --stage local` refuses, not half-works
        for process in (self._consumer, self._chalice):  # the consumer first: it calls the API's dependencies
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if self._scheduler is not None:
            self._scheduler.join(timeout=10)
        if self.simulator is not None:
            self.simulator.stop()
        if self._moto is not None:
            self._moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the parts ------------------------------------------------------------------------------

    @property
    def profile_path(self) -> Path:
        return self.workdir / PROFILE_NAME

    @property
    def log_path(self) -> Path:
        return self.workdir / "relay.log"

    def _write_profile(self) -> None:
        """What `relay … --stage local` needs, so it needs no other flag (and no AWS credentials)."""
        write_profile(self.profile_path, {
            "stage": STAGE, "region": REGION, "aws_endpoint_url": self.moto_url, "relay_url": self.relay_url,
            "broker_url": self.broker_url, "admin_key": self.admin_key, "log_file": str(self.log_path),
            "aws_keys": {"aws_access_key_id": "local-stack", "aws_secret_access_key": "local-stack"},
            "settings": {name: value for name, value in self.environment().items() if name in SETTING_VARIABLES},
        })  # fmt: skip

    def _start_moto(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        from local.moto_atomic import make_dynamodb_writes_atomic, make_sqs_queues_thread_safe

        make_dynamodb_writes_atomic()  # concurrent alerts must race the way they do on DynamoDB
        make_sqs_queues_thread_safe()  # and the order queue must lose nothing under them
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines for AWS calls
        port = free_port()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._moto.start()
        self.moto_url = f"http://127.0.0.1:{port}"
        # moto's accounts live in this process, not in the server: a stack started here after
        # another one (tests, a restart) begins with an empty AWS, as a fresh `make run` does.
        requests.post(self.moto_url + "/moto-api/reset", timeout=10).raise_for_status()

    def _start_broker(self) -> None:
        self.webhook_secret = self.webhook_secret or secrets.token_urlsafe(24)
        self.token = (self.accounts[0].token if self.accounts else self.token) or "demo-" + secrets.token_urlsafe(18)
        self.admin_key = self.admin_key or secrets.token_urlsafe(18)
        if self.relay_port == 0:
            self.relay_port = free_port()
        if self.broker_url:
            return
        from local.simulator import IndstocksSimulator

        self.simulator = IndstocksSimulator(tokens=(self.token,), log_requests=False, fills=self.simulator_fills).start()
        for account in self.accounts:  # each its own token and its own write limit
            self.simulator.add_token(account.token, account=account.name)
        if self.rotation is not None:
            self.simulator.configure_generation(
                client_id=self.rotation.client_id, mpin=self.rotation.mpin, totp_secret=self.rotation.totp_secret
            )
        self.broker_url = self.simulator.url

    def _aws(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service, endpoint_url=self.moto_url, region_name=REGION,
            aws_access_key_id="local-stack", aws_secret_access_key="local-stack",  # noqa: S106 - moto's dummy
        )

    def _seed(self) -> None:
        """Parameters and tables the relay expects, as an operator would create them in AWS."""
        from chalicelib.admin import hash_admin_key
        from chalicelib.config import settings_from_env
        from infra import limits
        from local.resources import create_order_queue, create_orders_table, create_state_table

        settings = settings_from_env(self.environment())
        secure = {
            settings.token_parameter: self.token,
            settings.webhook_secret_parameter: self.webhook_secret,
            settings.admin_key_parameter: hash_admin_key(self.admin_key or ""),
        }
        if self.rotation is not None:
            secure.update({
                settings.client_id_parameter: self.rotation.client_id,
                settings.mpin_parameter: self.rotation.mpin,
                settings.totp_secret_parameter: self.rotation.totp_secret,
            })  # fmt: skip
        if self.accounts:
            from chalicelib.accounts import account_book

            book = account_book(settings)
            secure.update({book.named(account.name).token_parameter or "": account.token for account in self.accounts})
        ssm = self._aws("ssm")
        for name, value in secure.items():
            ssm.put_parameter(Name=name, Value=value or "", Type="SecureString", Overwrite=True)
        dynamodb = self._aws("dynamodb")
        create_state_table(dynamodb, settings.state_table)
        create_orders_table(dynamodb, settings.orders_table)
        self.order_queue_url = create_order_queue(self._aws("sqs"), ORDER_QUEUE_NAME, visibility_seconds=LOCAL_VISIBILITY_SECONDS,
                                                  max_receives=limits.QUEUE_MAX_RECEIVES)

    def _write_project(self) -> Path:
        project = self.workdir / "project"
        if project.exists():
            shutil.rmtree(project)
        (project / ".chalice").mkdir(parents=True)
        for name in ("app.py", "chalicelib"):
            (project / name).symlink_to(REPO / name)
        config = {
            "version": "2.0",
            "app_name": "indstocks-relay",
            "stages": {STAGE: {"api_gateway_stage": "api", "environment_variables": self.environment()}},
        }
        (project / ".chalice" / "config.json").write_text(json.dumps(config, indent=2))
        return project

    def _start_chalice(self) -> None:
        project = self._write_project()
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(self.environment())
        env["PYTHONUNBUFFERED"] = "1"
        env["RELAY_LOCAL_LOG"] = str(self.log_path)
        env["LOCAL_STACK_PID"] = str(os.getpid())  # chalice_local exits when this process is gone
        self._chalice = subprocess.Popen(
            [sys.executable, "-m", "local.chalice_local", "--project-dir", str(project), "local", "--host", "127.0.0.1",
             "--port", str(self.relay_port), "--stage", STAGE, "--no-autoreload"],
            env=env, cwd=REPO, start_new_session=True, stdout=sys.stdout, stderr=subprocess.PIPE, text=True,
        )
        self._drain(self._chalice.stderr)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            if self._chalice.poll() is not None:
                raise RuntimeError("chalice local exited:\n" + "".join(self._stderr_tail))
            try:
                if self._health_is_ours():
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError("chalice local did not answer /health in time:\n" + "".join(self._stderr_tail))

    @property
    def _queue_ready_file(self) -> Path:
        return self.workdir / "queue-consumer.ready"

    def _start_queue_consumer(self) -> None:
        """Lambda's SQS event source for send_queued_orders, in a process of its own (as chalice
        local is the API's): the deployed concurrency and timeout, this stack's environment."""
        from infra import limits

        self._queue_ready_file.unlink(missing_ok=True)
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(self.environment())
        env.update({
            "PYTHONUNBUFFERED": "1", "RELAY_LOCAL_LOG": str(self.log_path), "LOCAL_STACK_PID": str(os.getpid()),
            "LOCAL_QUEUE_WORKERS": str(limits.consumer_concurrency()),
            "LOCAL_QUEUE_TIMEOUT_SECONDS": str(limits.consumer_timeout("prod")),
            "LOCAL_QUEUE_VISIBILITY_SECONDS": str(LOCAL_VISIBILITY_SECONDS),
            "LOCAL_QUEUE_DELIVER_TWICE": "1" if self.deliver_twice else "0",
            "LOCAL_QUEUE_READY_FILE": str(self._queue_ready_file),
        })
        self._consumer = subprocess.Popen([sys.executable, "-m", "local.queue_consumer"], env=env, cwd=REPO,
                                          start_new_session=True, stdout=sys.stdout, stderr=sys.stderr)

    def _wait_for_queue_consumer(self) -> None:
        assert self._consumer is not None
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            if self._consumer.poll() is not None:
                raise RuntimeError(f"the order queue consumer exited ({self._consumer.returncode})")
            if self._queue_ready_file.exists():
                return
            time.sleep(0.1)
        raise RuntimeError("the order queue consumer did not start polling in time")

    def _health_is_ours(self) -> bool:
        response = requests.get(self.relay_url + "/health", timeout=1)
        return response.status_code == 200 and response.json().get("run") == self.run_id

    def _drain(self, stream: Any) -> None:
        """Keep chalice's stderr flowing (a full pipe would block it) and keep its tail."""
        self._stderr_tail: list[str] = []

        def pump() -> None:
            for line in stream:
                self._stderr_tail = (self._stderr_tail + [line])[-40:]
                sys.stderr.write(line)

        threading.Thread(target=pump, daemon=True).start()

    # --- schedules ------------------------------------------------------------------------------

    def _start_schedules(self) -> None:
        """Run the functions Chalice deploys with @app.schedule, on their UTC schedules."""
        os.environ.update(self.environment())
        import app as relay_app
        from chalicelib import services

        services.reset()
        jobs: list[tuple[Callable[[datetime], bool], Any]] = [
            (lambda now: True, relay_app.order_sweep),  # every minute
            (lambda now: now.weekday() < 5 and (now.hour, now.minute) == (3, 0), relay_app.morning_token_rotation),
            (lambda now: now.weekday() < 5 and (now.hour, now.minute) == (3, 15), relay_app.premarket_token_check),
        ]

        def loop() -> None:
            last_minute = None
            while not self._stop.wait(1.0):
                now = datetime.now(UTC)
                minute = now.replace(second=0, microsecond=0)
                if minute == last_minute:
                    continue
                last_minute = minute
                for due, handler in jobs:
                    if due(now):
                        self._run_job(handler)

        self._scheduler = threading.Thread(target=loop, name="local-schedules", daemon=True)
        self._scheduler.start()

    @staticmethod
    def _run_job(handler: Any) -> None:
        event = {"id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": "000000000000", "time": datetime.now(UTC).isoformat(),
                 "region": REGION, "resources": [], "detail": {}, "version": "0"}
        try:
            handler(event, None)
        except Exception as error:  # noqa: BLE001 - a failing job must not stop the stack
            print(f"scheduled job failed: {type(error).__name__}", file=sys.stderr)


# --- `make run` -------------------------------------------------------------------------------


def stack_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> LocalStack:
    rotation = None
    if environ.get("INDSTOCKS_CLIENT_ID") and environ.get("INDSTOCKS_MPIN") and environ.get("INDSTOCKS_TOTP_SECRET"):
        rotation = RotationCredentials(environ["INDSTOCKS_CLIENT_ID"], environ["INDSTOCKS_MPIN"], environ["INDSTOCKS_TOTP_SECRET"])
    age = environ.get("MAX_ALERT_AGE_SECONDS")
    return LocalStack(
        relay_port=int(environ.get("RELAY_PORT") or 8000),
        broker_url=environ.get("INDSTOCKS_BASE_URL") or None,
        webhook_secret=environ.get("WEBHOOK_SECRET") or None,
        token=environ.get("INDSTOCKS_TOKEN") or None,
        admin_key=environ.get("ADMIN_KEY") or None,
        rotation=rotation,
        max_alert_age_seconds=int(age) if age else None,
        deliver_twice=environ.get("LOCAL_QUEUE_DELIVER_TWICE") == "1",
        simulator_fills=True,
        settings={name: value for name, value in environ.items() if name in SETTING_VARIABLES and value},
        accounts=local_accounts(environ["ACCOUNTS"]) if environ.get("ACCOUNTS") else [],
    )


def banner(stack: LocalStack, generated: set[str]) -> str:
    demo = {"secret": stack.webhook_secret, "symbol": "NSE:SBIN", "action": "buy", "quantity": 1,
            "alert_id": "demo-" + secrets.token_hex(4)}
    broker = f"the built-in INDstocks simulator at {stack.broker_url} (orders fill at its prices)" if stack.simulator else (
        f"!!! THE BROKER AT {stack.broker_url} (INDSTOCKS_BASE_URL): orders are real if that is INDstocks !!!")
    if stack.settings.get("TRADING_MODE") == "paper":  # prices from the broker, orders never
        broker = f"PAPER (TRADING_MODE=paper): the paper book; last prices from {stack.broker_url}"
    lines = [
        "",
        "indstocks-relay is running locally",
        f"  Webhook URL:    {stack.webhook_url}",
        f"  Token page:     {stack.token_page_url}",
        f"  Dashboard:      {stack.dashboard_url}  (sign in with the admin key)",
        f"  Orders go to:   {broker}",
        f"  AWS (moto):     {stack.moto_url}",
        f"  Order queue:    {stack.order_queue_url or 'none'}" + (
            "" if not stack.run_queue_consumer else
            f"  (SQS FIFO; its consumer sends queued alerts in their pacing slot"
            f"{', every message delivered twice' if stack.deliver_twice else ''})"),
        f"  Webhook secret: {stack.webhook_secret}{'  (generated)' if 'secret' in generated else ''}",
        f"  Broker token:   {stack.token}{'  (generated)' if 'token' in generated else ''}",
        f"  Admin key:      {stack.admin_key}{'  (generated)' if 'admin' in generated else ''}",
        *(f"  Account {account.name}: token {account.token}"
          f"{'' if account.multiplier is None else ', multiplier ' + account.multiplier}"
          f"{'' if account.enabled else ', disabled'}{', paper' if account.mode == 'paper' else ''}"
          for account in stack.accounts),
        "",
        "Place a demo order:",
        f"  curl -s -X POST {stack.webhook_url} -H 'Content-Type: application/json' -d '{json.dumps(demo)}'",
        "",
        "Ctrl-C stops everything.",
        f"READY {stack.webhook_url}",
    ]
    return "\n".join(lines)


def main() -> None:
    try:
        stack = stack_from_env()
    except ValueError as error:  # ACCOUNTS unreadable: one line naming it, nothing started
        print(f"the local stack could not start: {error}", file=sys.stderr)
        sys.exit(1)
    generated = {name for name, value in (("secret", stack.webhook_secret), ("token", stack.token),
                                          ("admin", stack.admin_key)) if not value}
    started, stopping = threading.Event(), threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()
        if not started.is_set():
            raise SystemExit(128 + signum)  # still starting: start() stops what it began

    # SIGHUP: the terminal was closed. chalice local is in a session of its own and sees none of these.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        stack.start()
    except Exception as error:  # noqa: BLE001 - report any start failure in one line
        print(f"the local stack could not start: {error}", file=sys.stderr)
        sys.exit(1)
    started.set()
    try:
        print(banner(stack, generated), flush=True)
        stopping.wait()
    finally:
        with contextlib.suppress(OSError):  # a closed terminal cannot take the line; stop anyway
            print("stopping…", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
