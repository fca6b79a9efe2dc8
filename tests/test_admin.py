"""Admin key hashing, the per-IP lockout and the lock for everyone, against moto's SSM,
DynamoDB and SNS."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from chalicelib import admin
from chalicelib.admin import AdminGuard, TooManyAttempts, hash_admin_key, verify_admin_key
from chalicelib.errors import AdminLocked, NotConfigured, Unauthenticated
from chalicelib.notify import Notifier
from chalicelib.state import StateTable
from chalicelib.tokens import ParameterStore
from tests.conftest import ADMIN_KEY_PARAMETER, SEEDED_ADMIN_KEY, STATE_TABLE, seed_admin_key
from tests.doubles import SnsInbox

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


# --- parallel guesses and the lock for everyone ------------------------------------------------


@pytest.fixture
def verifications(monkeypatch):
    """How many (slow, scrypt) key verifications ran."""
    ran = []
    lock = threading.Lock()
    real = admin.verify_admin_key

    def counted(key, stored):
        with lock:
            ran.append(key)
        return real(key, stored)

    monkeypatch.setattr(admin, "verify_admin_key", counted)
    return ran


@pytest.fixture
def inbox(aws):
    return SnsInbox()


@pytest.fixture
def watched_guard(ssm, dynamodb, inbox):
    seed_admin_key(ssm)
    return AdminGuard(ParameterStore(lambda: boto3.client("ssm")), ADMIN_KEY_PARAMETER,
                      StateTable(lambda: boto3.client("dynamodb"), STATE_TABLE),
                      notifier=Notifier(inbox.arn, lambda: boto3.client("sns")))


def attempt(guard, key, ip, now):
    try:
        guard.check(key, ip, now)
    except (Unauthenticated, TooManyAttempts, AdminLocked) as refusal:
        return refusal.status_code
    return 200


def test_thirty_parallel_wrong_keys_from_one_address_check_at_most_five(watched_guard, verifications):
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda n: attempt(watched_guard, f"wrong-key-{n:02}", "203.0.113.7", 1000.0), range(30)))
    assert len(verifications) <= 5
    assert answers.count(401) == len(verifications) and answers.count(429) == 30 - len(verifications)
    assert attempt(watched_guard, SEEDED_ADMIN_KEY, "203.0.113.7", 1001.0) == 429


def test_the_right_key_gives_its_attempt_back(watched_guard, verifications):
    for n in range(4):
        assert attempt(watched_guard, f"wrong-key-{n}", "203.0.113.7", 1000.0 + n) == 401
    for n in range(10):  # the owner, many times: never uses up the budget
        assert attempt(watched_guard, SEEDED_ADMIN_KEY, "203.0.113.7", 1010.0 + n) == 200
    assert attempt(watched_guard, "wrong-key-5", "203.0.113.7", 1030.0) == 401  # the fifth failure
    assert attempt(watched_guard, SEEDED_ADMIN_KEY, "203.0.113.7", 1031.0) == 429


def test_twenty_failures_from_all_addresses_lock_everyone_out_and_notify_once(watched_guard, verifications, inbox):
    answers = [attempt(watched_guard, f"wrong-key-{n:02}", f"198.51.100.{n}", 1000.0 + n) for n in range(25)]
    assert answers == [401] * 20 + [429] * 5
    assert len(verifications) == 20  # the locked attempts were not even checked
    # The owner, from an address that never failed, is locked out too until the window passes.
    with pytest.raises(AdminLocked) as locked:
        watched_guard.check(SEEDED_ADMIN_KEY, "192.0.2.1", 1100.0)
    assert locked.value.status_code == 429 and "all addresses" in locked.value.public_message
    [notice] = inbox.new()
    assert notice["Subject"] == "Admin endpoints locked" and "20 wrong admin keys" in notice["Message"]
    watched_guard.check(SEEDED_ADMIN_KEY, "192.0.2.1", 1000.0 + 901)  # the window has passed
    assert inbox.new() == []  # one notice per window, however many ran into the lock


def test_parallel_guesses_from_many_addresses_check_at_most_twenty(watched_guard, verifications):
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda n: attempt(watched_guard, f"wrong-key-{n:02}", f"198.51.100.{n}", 1000.0), range(30)))
    assert len(verifications) <= 20 and answers.count(429) >= 10
