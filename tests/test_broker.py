"""BrokerClient over real HTTP against the simulator: one write per call, connection hygiene,
token generation with both documented envelopes."""

from __future__ import annotations

import time

import pyotp
import pytest
import requests

from chalicelib.broker import BrokerClient, OrderWrite, Outcome
from chalicelib.errors import DependencyUnavailable, TokenGenerationFailed, TokenUnavailable
from tests.conftest import SEEDED_TOKEN

ORDER = OrderWrite("/order", {
    "txn_type": "BUY", "exchange": "NSE", "segment": "EQUITY", "product": "INTRADAY", "order_type": "MARKET",
    "validity": "DAY", "security_id": "3045", "qty": 1, "algo_id": "99999", "remarks": "tvr:test",
})  # fmt: skip


def client(url, **overrides):
    options = dict(connect_timeout=0.5, read_timeout=0.5)
    options.update(overrides)
    return BrokerClient(url, **options)


def test_place_sends_the_raw_token_and_the_exact_body(simulator):
    result = client(simulator.url).place(SEEDED_TOKEN, ORDER)
    assert result.outcome is Outcome.PLACED and result.order_id.startswith("EQ-")
    [sent] = simulator.order_writes()
    assert sent.headers["authorization"] == SEEDED_TOKEN and sent.json == ORDER.body


def test_refused_connection_is_not_sent():
    result = client("http://127.0.0.1:9").place(SEEDED_TOKEN, ORDER)
    assert result.outcome is Outcome.NOT_SENT


def test_read_timeout_is_unknown_and_flagged(simulator):
    simulator.inject_fault("/order", "timeout", delay=1.0)
    result = client(simulator.url, read_timeout=0.2).place(SEEDED_TOKEN, ORDER)
    assert result.outcome is Outcome.UNKNOWN and result.timed_out
    assert len(simulator.order_writes()) == 1


def test_reset_is_unknown(simulator):
    simulator.inject_fault("/order", "reset")
    result = client(simulator.url).place(SEEDED_TOKEN, ORDER)
    assert result.outcome is Outcome.UNKNOWN and not result.timed_out


class CountingSession(requests.Session):
    created = 0
    closed = 0

    def __init__(self):
        super().__init__()
        CountingSession.created += 1

    def close(self):
        CountingSession.closed += 1
        super().close()


def test_idle_pooled_connections_are_dropped_before_a_write(simulator):
    now = [1000.0]
    broker = BrokerClient(simulator.url, connect_timeout=0.5, read_timeout=0.5, idle_reset_seconds=240,
                          session_factory=CountingSession, clock=lambda: now[0])
    CountingSession.created = CountingSession.closed = 0
    broker.place(SEEDED_TOKEN, ORDER)
    now[0] += 100
    broker.place(SEEDED_TOKEN, ORDER)
    assert (CountingSession.created, CountingSession.closed) == (1, 0)  # reused while warm
    now[0] += 300  # longer than the NAT gateway keeps an idle flow
    assert broker.place(SEEDED_TOKEN, ORDER).outcome is Outcome.PLACED
    assert (CountingSession.created, CountingSession.closed) == (1, 1)
    assert len(simulator.order_writes()) == 3


def test_reads_map_to_relay_errors(simulator):
    broker = client(simulator.url)
    assert broker.profile(SEEDED_TOKEN)["user_id"] == "SIM123"
    with pytest.raises(TokenUnavailable):
        broker.profile("dead-token")
    simulator.inject_fault("/user/profile", "http500")
    with pytest.raises(DependencyUnavailable):
        broker.profile(SEEDED_TOKEN)
    assert "TRADING_SYMBOL" in broker.instruments_csv(SEEDED_TOKEN).splitlines()[0]
    assert isinstance(broker.order_book(SEEDED_TOKEN), list)


SECRET = pyotp.random_base32()


@pytest.mark.parametrize("envelope", ["data", "top"])
def test_generate_token_reads_either_envelope(simulator, envelope):
    # Open question 4: the token may come as data.token or as top-level token.
    simulator.token_envelope = envelope
    simulator.configure_generation(client_id="CID", mpin="1234", totp_secret=SECRET)
    token = client(simulator.url).generate_token("CID", "1234", pyotp.TOTP(SECRET).now())
    assert simulator.live_tokens == {token}
    [call] = simulator.requests("/generate/token")
    assert call.headers["x-api-key"] == "CID" and "authorization" not in call.headers


def test_generate_token_failures_are_not_retried(simulator):
    simulator.configure_generation(client_id="CID", mpin="1234", totp_secret=SECRET)
    broker = client(simulator.url)
    with pytest.raises(TokenGenerationFailed) as caught:
        broker.generate_token("CID", "1234", "000000" if pyotp.TOTP(SECRET).now() != "000000" else "111111")
    assert "401" in caught.value.public_message
    assert len(simulator.requests("/generate/token")) == 1


def test_simulator_locks_generation_after_five_wrong_codes(simulator):
    simulator.configure_generation(client_id="CID", mpin="1234", totp_secret=SECRET)
    broker = client(simulator.url)
    wrong = "000000" if pyotp.TOTP(SECRET).now() != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(TokenGenerationFailed):
            broker.generate_token("CID", "1234", wrong)
    with pytest.raises(TokenGenerationFailed) as caught:
        broker.generate_token("CID", "1234", pyotp.TOTP(SECRET).now())  # right code, but locked
    assert "403" in caught.value.public_message
    assert simulator.generated_tokens == []


def test_simulator_throttles_generation_to_one_per_minute(simulator):
    simulator.configure_generation(client_id="CID", mpin="1234", totp_secret=SECRET)
    broker = client(simulator.url)
    first = broker.generate_token("CID", "1234", pyotp.TOTP(SECRET).at(time.time() - 30))
    with pytest.raises(TokenGenerationFailed) as caught:
        broker.generate_token("CID", "1234", pyotp.TOTP(SECRET).now())
    assert "429" in caught.value.public_message and simulator.live_tokens == {first}
