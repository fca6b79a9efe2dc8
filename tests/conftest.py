"""Shared fixtures: moto for AWS, the INDstocks simulator over real HTTP, the relay wired to both."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests import aws_calls

# Never let a test reach a real AWS account, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-south-1",
        "POWERTOOLS_METRICS_NAMESPACE": "indstocks-relay-tests",
    }
)
aws_calls.install()

TOKEN_PARAMETER = "/indstocks-relay/test/indstocks-token"
SECRET_PARAMETER = "/indstocks-relay/test/webhook-secret"
STATE_TABLE = "indstocks-relay-test-state"
ORDERS_TABLE = "indstocks-relay-test-orders"
ADMIN_KEY_PARAMETER = "/indstocks-relay/test/admin-key-hash"
SEEDED_ADMIN_KEY = "admin-SEEDED-0a9b8c7d6e"
SEEDED_TOKEN = "tok-SEEDED-5f1d2c9a7e"
SEEDED_MPIN = "mpin-SEEDED-4711"
SEEDED_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ"
SEEDED_SECRET = "whsec-SEEDED-8c3b1e6f42"


# --- secret hygiene, over the whole suite -------------------------------------------------
# Every log line (captured output of every test phase) and every ledger/state item any test
# leaves in DynamoDB is scanned for the seeded secrets; one hit fails the run.

SECRETS_TO_SCAN = (SEEDED_SECRET, SEEDED_TOKEN, SEEDED_ADMIN_KEY, SEEDED_MPIN, SEEDED_TOTP_SECRET)
_leaks: list[str] = []


def _scan(where: str, text: str) -> None:
    for value in SECRETS_TO_SCAN:
        if value in text:
            _leaks.append(f"{where}: contains a seeded secret ({value[:4]}…)")


def pytest_runtest_logreport(report):
    for section, content in report.sections:
        _scan(f"{report.nodeid} [{section}]", content)


BROWSER_SKIP_REASON = "Chromium is not installed on this machine"


def pytest_unconfigure(config):
    # The browser test skips without Chromium; one "s" among hundreds of dots is easy to miss, so
    # the run's last line says so (after pytest's own summary).
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    if terminalreporter is not None and any(BROWSER_SKIP_REASON in str(getattr(report, "longrepr", ""))
                                            for report in terminalreporter.stats.get("skipped", [])):
        terminalreporter.write_sep("!", f"BROWSER TEST SKIPPED: {BROWSER_SKIP_REASON}; "
                                        "README, Tests, says how to install it", yellow=True, bold=True)


def pytest_sessionfinish(session, exitstatus):
    if _leaks:
        print("\nSECRET HYGIENE FAILED:\n  " + "\n  ".join(sorted(set(_leaks))))
        session.exitstatus = 1
    if problems := aws_calls.recorder.problems():  # IAM: every AWS call the relay made, vs its policy
        print("\nIAM POLICY MISSES CALLS THE RELAY MAKES:\n  " + "\n  ".join(problems))
        session.exitstatus = 1


def _scan_tables() -> None:
    import boto3

    dynamodb = boto3.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        for item in dynamodb.scan(TableName=table)["Items"]:
            _scan(f"DynamoDB table {table}", json.dumps(item, default=_readable))


def _readable(value: object) -> str:
    """Binary attributes (the shared instrument index is zlib-compressed) as scannable text."""
    import zlib

    if not isinstance(value, bytes):
        raise TypeError(type(value).__name__)
    try:
        return zlib.decompress(value).decode("utf-8", "replace")
    except zlib.error:
        return value.decode("latin-1")


@pytest.fixture
def aws() -> Iterator[None]:
    from moto import mock_aws

    from chalicelib import services
    from local.moto_atomic import make_dynamodb_writes_atomic

    make_dynamodb_writes_atomic()  # the test threads race like Lambda instances do
    services.reset()
    with mock_aws():
        yield
        _scan_tables()
    services.reset()


@pytest.fixture
def ssm(aws):
    import boto3

    return boto3.client("ssm")


@pytest.fixture
def dynamodb(aws):
    import boto3

    from local.resources import create_orders_table, create_state_table

    client = boto3.client("dynamodb")
    create_state_table(client, STATE_TABLE)
    create_orders_table(client, ORDERS_TABLE)
    return client


@pytest.fixture
def simulator():
    from local.simulator import IndstocksSimulator

    with IndstocksSimulator(tokens=(SEEDED_TOKEN,)) as sim:
        yield sim


@dataclass
class Stack:
    client: object
    simulator: object
    ssm: object
    settings: object

    def post(self, body, content_type="application/json", headers=None):
        import json as _json

        raw = body if isinstance(body, (bytes, str)) else _json.dumps(body)
        return self.client.http.post(
            "/webhook", headers={"Content-Type": content_type, **(headers or {})}, body=raw
        )

    def alert(self, **fields):
        """A valid alert with a fresh alert_id (pass alert_id=None to send none)."""
        import uuid

        body = {"secret": SEEDED_SECRET, "symbol": "NSE:SBIN", "action": "buy", "quantity": 1,
                "alert_id": f"t-{uuid.uuid4().hex[:12]}"}
        body.update(fields)
        return {k: v for k, v in body.items() if v is not None}


def seed(ssm_client, token=SEEDED_TOKEN, secret=SEEDED_SECRET):
    if token is not None:
        ssm_client.put_parameter(Name=TOKEN_PARAMETER, Value=token, Type="SecureString", Overwrite=True)
    if secret is not None:
        ssm_client.put_parameter(Name=SECRET_PARAMETER, Value=secret, Type="SecureString", Overwrite=True)


_ADMIN_HASH_CACHE: dict[str, str] = {}


def seed_admin_key(ssm_client, key=SEEDED_ADMIN_KEY):
    from chalicelib.admin import hash_admin_key

    if key not in _ADMIN_HASH_CACHE:  # scrypt is slow on purpose; hash once per key per run
        _ADMIN_HASH_CACHE[key] = hash_admin_key(key)
    ssm_client.put_parameter(Name=ADMIN_KEY_PARAMETER, Value=_ADMIN_HASH_CACHE[key], Type="SecureString", Overwrite=True)


@pytest.fixture
def relay_settings(simulator, tmp_path):
    from chalicelib.config import settings_from_env

    return settings_from_env(
        {
            "RELAY_STAGE": "test",
            "TRADING_CALENDAR": "always",  # tests run at any hour; tests/test_targets.py sets the clock
            "SQUARE_OFF_AT": "off",  # nor does a sweep square off because a test ran at 15:20 IST
            "INDSTOCKS_BASE_URL": simulator.url,
            "TOKEN_PARAMETER": TOKEN_PARAMETER,
            "WEBHOOK_SECRET_PARAMETER": SECRET_PARAMETER,
            "ADMIN_KEY_PARAMETER": ADMIN_KEY_PARAMETER,
            "STATE_TABLE": STATE_TABLE,
            "ORDERS_TABLE": ORDERS_TABLE,
            "RECONCILE_INTERVAL_SECONDS": "0.05",
            "INSTRUMENTS_CACHE_DIR": str(tmp_path / "instruments"),
            "BROKER_READ_TIMEOUT": "0.5",
            "BROKER_CONNECT_TIMEOUT": "0.5",
        }
    )


@pytest.fixture
def stack(ssm, dynamodb, simulator, relay_settings) -> Iterator[Stack]:
    """The Chalice app in-process (chalice.test.Client), moto SSM, the simulator over HTTP."""
    from chalice.test import Client

    from app import app
    from chalicelib import services

    seed(ssm)
    seed_admin_key(ssm)
    services.install(services.build(relay_settings))
    with Client(app, stage_name="dev") as client:
        yield Stack(client, simulator, ssm, relay_settings)
