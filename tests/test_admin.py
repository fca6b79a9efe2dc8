"""Admin key hashing and the per-IP lockout, against moto's SSM and DynamoDB."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.admin import AdminGuard, TooManyAttempts, hash_admin_key, verify_admin_key
from chalicelib.errors import NotConfigured, Unauthenticated
from chalicelib.state import StateTable
from chalicelib.tokens import ParameterStore
from tests.conftest import ADMIN_KEY_PARAMETER, SEEDED_ADMIN_KEY, STATE_TABLE, seed_admin_key

KEY = "correct horse battery staple"


def test_hash_is_salted_scrypt_and_never_the_key():
    first, second = hash_admin_key(KEY), hash_admin_key(KEY)
    assert first.startswith("scrypt$") and first != second  # a new salt each time
    assert KEY not in first


def test_verify():
    stored = hash_admin_key(KEY)
    assert verify_admin_key(KEY, stored)
    assert not verify_admin_key(KEY + "x", stored)
    assert not verify_admin_key("", stored)
    assert not verify_admin_key(KEY, "garbage")
    assert not verify_admin_key(KEY, "pbkdf2$1$2$3$4$5")


def test_short_keys_are_refused():
    with pytest.raises(ValueError):
        hash_admin_key("short")


@pytest.fixture
def guard(ssm, dynamodb):
    seed_admin_key(ssm)
    parameters = ParameterStore(lambda: boto3.client("ssm"))
    return AdminGuard(parameters, ADMIN_KEY_PARAMETER, StateTable(lambda: boto3.client("dynamodb"), STATE_TABLE))


def test_right_key_passes(guard):
    guard.check(SEEDED_ADMIN_KEY, "203.0.113.7", 1000.0)


def test_five_failures_lock_the_ip_out_for_the_window(guard, caplog, capfd):
    for attempt in range(5):
        with pytest.raises(Unauthenticated):
            guard.check(f"wrong-{attempt}", "203.0.113.7", 1000.0 + attempt)
    with pytest.raises(TooManyAttempts) as locked:
        guard.check(SEEDED_ADMIN_KEY, "203.0.113.7", 1010.0)  # even the right key
    assert locked.value.status_code == 429
    guard.check(SEEDED_ADMIN_KEY, "198.51.100.9", 1010.0)  # other addresses are unaffected
    guard.check(SEEDED_ADMIN_KEY, "203.0.113.7", 1000.0 + 4 + 900)  # the window has passed
    out, err = capfd.readouterr()
    assert "203.0.113.7" in out  # failures are logged with the source IP ...
    assert "wrong-" not in out + err and SEEDED_ADMIN_KEY not in out + err  # ... never the key


def test_missing_hash_is_not_configured(ssm, dynamodb):
    parameters = ParameterStore(lambda: boto3.client("ssm"))
    guard = AdminGuard(parameters, ADMIN_KEY_PARAMETER, StateTable(lambda: boto3.client("dynamodb"), STATE_TABLE))
    with pytest.raises(NotConfigured):
        guard.check("anything-at-all", "203.0.113.7", 1.0)


def test_lock_is_single_flight(dynamodb):
    state = StateTable(lambda: boto3.client("dynamodb"), STATE_TABLE)
    assert state.acquire("token-generation", 100.0, 61)
    assert not state.acquire("token-generation", 130.0, 61)
    assert state.acquire("token-generation", 162.0, 61)
