"""One deadline per invocation: the budget's arithmetic (pure), settings that cannot fit it, and
the worst path driven on a fake clock: a full pacing wait, a TokenException, a renewed token
whose second write needs a slot of its own, a hung second write, in-request reconciliation."""

from __future__ import annotations

import json
import time

import boto3
import pytest
import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter

from chalicelib import services
from chalicelib.broker import BrokerClient
from chalicelib.config import settings_from_env
from chalicelib.deadline import OUTCOME_RESERVE_SECONDS, Deadline, Timeouts
from chalicelib.pacing import WritePacer
from chalicelib.relay import IncomingAlert, Relay
from chalicelib.state import StateTable
from tests.conftest import ORDERS_TABLE, SEEDED_SECRET, STATE_TABLE, seed

CONFIGURED = Timeouts(connect=1.0, read=2.5)


# --- the arithmetic -------------------------------------------------------------------------


def test_the_hard_deadline_is_the_shorter_of_the_function_and_api_gateway_less_a_margin():
    assert Deadline.at_arrival(100.0, function_timeout=30, answer_budget=2.5).hard == pytest.approx(128.0)
    assert Deadline.at_arrival(100.0, function_timeout=10, answer_budget=2.5).hard == pytest.approx(109.0)
    # What the Lambda context says is left wins over the setting.
    assert Deadline.at_arrival(100.0, function_timeout=30, answer_budget=2.5, remaining=6.0).hard == pytest.approx(105.0)


def test_a_write_while_the_answer_budget_holds_fits_connect_and_read_into_it():
    deadline = Deadline.at_arrival(100.0, function_timeout=30, answer_budget=2.5)
    timeouts = deadline.write_timeouts(100.05, CONFIGURED)
    assert timeouts is not None
    assert 100.05 + timeouts.total + OUTCOME_RESERVE_SECONDS <= deadline.answer_by + 1e-9
    assert timeouts.read >= 1.0


def test_once_the_answer_budget_has_passed_the_configured_timeouts_apply_within_the_hard_deadline():
    deadline = Deadline.at_arrival(100.0, function_timeout=30, answer_budget=2.5)
    assert deadline.write_timeouts(105.0, CONFIGURED) == CONFIGURED
    near_the_end = deadline.write_timeouts(deadline.hard - 1.5, CONFIGURED)
    assert near_the_end is not None and near_the_end.total <= 1.5 - OUTCOME_RESERVE_SECONDS + 1e-9
    assert deadline.write_timeouts(deadline.hard - 0.3, CONFIGURED) is None  # too late to write at all


@pytest.mark.parametrize("env, named", [
    ({"PACING_MAX_WAIT_SECONDS": "25"}, "PACING_MAX_WAIT_SECONDS"),
    ({"FUNCTION_TIMEOUT_SECONDS": "10", "PACING_MAX_WAIT_SECONDS": "8", "ORDER_SETTLE_SECONDS": "60"}, "PACING_MAX_WAIT_SECONDS"),
    ({"ANSWER_BUDGET_SECONDS": "20", "FUNCTION_TIMEOUT_SECONDS": "15"}, "ANSWER_BUDGET_SECONDS"),
    ({"ORDER_SETTLE_SECONDS": "20"}, "ORDER_SETTLE_SECONDS"),
])
def test_settings_that_cannot_fit_the_budget_are_refused_naming_them(env, named):
    with pytest.raises(ValidationError, match=named):
        settings_from_env(env)


def test_the_default_settings_fit():
    settings = settings_from_env({})
    assert settings.pacing_max_wait_seconds + settings.broker_connect_timeout + settings.broker_read_timeout < 28


# --- the worst path on a fake clock -----------------------------------------------------------


class FakeTime:
    """A clock that moves only when the relay sleeps or a broker request takes its time."""

    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)


class ScriptedBroker(HTTPAdapter):
    """The HTTP layer in front of the simulator: each order write takes the next scripted step
    ("forward", "hang" = no reply until the read timeout, on the fake clock), and its timeouts
    are recorded. `after_write` runs after each write (other writers taking slots, say)."""

    def __init__(self, fake: FakeTime, script: list[str]):
        super().__init__()
        self.fake, self.script = fake, script
        self.write_timeouts: list[tuple[float, float]] = []
        self.write_times: list[float] = []
        self.after_write = lambda: None

    def send(self, request, **kwargs):
        if request.method == "POST" and request.path_url in ("/order", "/smart/order"):
            connect, read = kwargs["timeout"]
            self.write_timeouts.append((connect, read))
            self.write_times.append(self.fake.now)
            step = self.script.pop(0)
            try:
                if step == "hang":
                    self.fake.now += read
                    raise requests.ReadTimeout("no reply in time")
                self.fake.now += 0.05
                return super().send(request, **kwargs)
            finally:
                self.after_write()
        return super().send(request, **kwargs)


def fake_clock_relay(settings, fake: FakeTime, adapter: ScriptedBroker) -> Relay:
    built = services.build(settings)

    def session() -> requests.Session:
        made = requests.Session()
        made.mount(settings.indstocks_base_url, adapter)  # more specific than the client's own adapters
        return made

    broker = BrokerClient(settings.indstocks_base_url, connect_timeout=settings.broker_connect_timeout,
                          read_timeout=settings.broker_read_timeout, session_factory=session)
    pacer = WritePacer(StateTable(lambda: boto3.client("dynamodb"), STATE_TABLE),
                       max_wait_seconds=settings.pacing_max_wait_seconds, clock=fake.clock, sleep=fake.sleep)
    relay = Relay(settings, webhook_secret=built.relay.webhook_secret, tokens=built.relay.tokens,
                  instruments=built.relay.instruments, broker=broker, ledger=built.ledger, pacer=pacer, risk=built.relay.risk,
                  switch=built.relay.switch, positions=built.relay.positions,
                  clock=fake.clock, sleep=fake.sleep)
    built.relay = relay
    services.install(built)
    return relay


def set_next_slot(at: float) -> None:
    boto3.client("dynamodb").put_item(TableName=STATE_TABLE, Item={
        "pk": {"S": "pace#order-writes"}, "next_slot": {"N": f"{at:.3f}"}, "expires_at": {"N": str(int(at) + 86400)}})


def state_of(alert_id: str) -> str:
    item = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": f"id:{alert_id}"}})["Item"]
    return item["state"]["S"]


@pytest.fixture
def worst_path(ssm, dynamodb, simulator, relay_settings):
    seed(ssm)
    settings = relay_settings.model_copy(update={
        "pacing_max_wait_seconds": 20.0, "broker_read_timeout": 2.5, "broker_connect_timeout": 1.0,
        "reconcile_attempts": 10, "reconcile_interval_seconds": 2.0, "function_timeout_seconds": 30,
    })
    assert settings_from_env({"PACING_MAX_WAIT_SECONDS": "20"})  # a valid setting, not a test-only one
    return settings, simulator, ssm


def alert(alert_id: str) -> IncomingAlert:
    body = {"secret": SEEDED_SECRET, "symbol": "NSE:SBIN", "action": "buy", "quantity": 1, "alert_id": alert_id}
    return IncomingAlert(json.dumps(body).encode(), {})


def a_dead_token_met_after_a_full_wait(worst_path, script: list[str]):
    """A warm relay (the old token cached) whose slot is 19.5 s away, whose first write meets a
    TokenException, while the trader has pasted a new token: (fake time, broker, relay, arrival)."""
    settings, simulator, ssm = worst_path
    fake = FakeTime()
    adapter = ScriptedBroker(fake, script)
    relay = fake_clock_relay(settings, fake, adapter)
    relay.tokens.current()
    arrival = fake.now
    set_next_slot(arrival + 19.5)
    simulator.inject_fault("/order", "token_expired")
    seed(ssm, token="tok-RENEWED-6")
    simulator.add_token("tok-RENEWED-6")
    return fake, adapter, relay, arrival


def test_a_token_refresh_cannot_restart_the_pacing_wait(worst_path):
    """Slot 19.5 s away; the write meets a dead token; a renewed one is in SSM; meanwhile the
    schedule has filled for 15 s. Two full waits would end 34 s after arrival, past API Gateway's
    29 s: the second write must not go, and the alert is left to the sweep, truthfully queued."""
    settings = worst_path[0]
    fake, adapter, relay, arrival = a_dead_token_met_after_a_full_wait(worst_path, ["forward", "forward"])
    adapter.after_write = lambda: set_next_slot(fake.now + 15.0)  # a burst takes every slot meanwhile

    answer = relay.handle_alert(alert("deadline-6a"), now=time.time())

    deadline = Deadline.at_arrival(arrival, function_timeout=30, answer_budget=settings.answer_budget_seconds)
    assert fake.now <= deadline.hard, f"ran {fake.now - arrival:.1f} s"
    assert answer.status_code == 202 and answer.body["status"] == "queued"
    assert len(adapter.write_times) == 1 and adapter.write_times[0] - arrival == pytest.approx(19.5, abs=0.2)
    assert state_of("deadline-6a") == "queued"  # the sweep sends it, with the renewed token


def test_a_hung_second_write_and_its_reconciliation_end_before_the_deadline(worst_path):
    settings = worst_path[0]
    fake, adapter, relay, arrival = a_dead_token_met_after_a_full_wait(worst_path, ["forward", "hang"])

    answer = relay.handle_alert(alert("deadline-6b"), now=time.time())

    deadline = Deadline.at_arrival(arrival, function_timeout=30, answer_budget=settings.answer_budget_seconds)
    assert fake.now <= deadline.hard, f"ran {fake.now - arrival:.1f} s"
    assert len(adapter.write_times) == 2
    second_start, (connect, read) = adapter.write_times[1], adapter.write_timeouts[1]
    assert second_start + connect + read + OUTCOME_RESERVE_SECONDS <= deadline.hard + 1e-6
    # 10 reconciliation attempts 2 s apart would not fit: they stop at the deadline, the sweep goes on.
    assert sum(s for s in fake.sleeps if s == 2.0) < 20
    assert answer.body["status"] == "unknown" and state_of("deadline-6b") == "unknown"


def test_the_function_timeout_setting_is_the_deployed_one():
    """The budget is computed from FUNCTION_TIMEOUT_SECONDS; it must be what Lambda enforces."""
    from pathlib import Path

    config = json.loads((Path(__file__).resolve().parents[1] / ".chalice" / "config.json").read_text())
    for stage, values in config["stages"].items():
        timeout = values.get("lambda_timeout", config["lambda_timeout"])
        env = {**config.get("environment_variables", {}), **values.get("environment_variables", {})}
        assert settings_from_env(env).function_timeout_seconds == timeout, stage

