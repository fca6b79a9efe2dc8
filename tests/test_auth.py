"""Body secret and signature checks."""

from __future__ import annotations

import pytest

from chalicelib import auth
from chalicelib.errors import Unauthenticated

SECRET = "s3cret-for-tests-only"
BODY = b'{"symbol":"SBIN","action":"buy","quantity":1}'
NOW = 1_800_000_000


def authenticate(**overrides):
    args = dict(raw_body=BODY, claimed_secret=None, signature=None, secret=SECRET, now=NOW, max_age_seconds=300)
    args.update(overrides)
    return auth.authenticate(**args)


def test_right_body_secret():
    assert authenticate(claimed_secret=SECRET) == "body_secret"


@pytest.mark.parametrize("claimed", [None, "", "wrong", SECRET + " ", SECRET.upper(), "s3cret"])
def test_wrong_or_missing_body_secret(claimed):
    with pytest.raises(Unauthenticated):
        authenticate(claimed_secret=claimed)


def test_valid_signature_replaces_the_body_secret():
    assert authenticate(signature=auth.sign(BODY, SECRET, NOW - 10)) == "signature"


def test_signature_from_slightly_ahead_is_accepted():
    assert authenticate(signature=auth.sign(BODY, SECRET, NOW + 5)) == "signature"


@pytest.mark.parametrize(
    "signature",
    [
        auth.sign(BODY, SECRET, NOW - 301),  # stale
        auth.sign(BODY, SECRET, NOW + 3600),  # from the future
        auth.sign(BODY, "other-secret", NOW),  # wrong key
        auth.sign(BODY + b" ", SECRET, NOW),  # another body
        "",
        "t=abc,v1=00",
        "v1=" + "0" * 64,
        f"t={NOW},v1=" + "g" * 64,
    ],
)
def test_bad_signatures(signature):
    with pytest.raises(Unauthenticated):
        authenticate(signature=signature)


def test_timestamp_is_part_of_the_mac():
    header = auth.sign(BODY, SECRET, NOW)
    forged = header.replace(f"t={NOW}", f"t={NOW - 1}")
    with pytest.raises(Unauthenticated):
        authenticate(signature=forged)


def test_signed_body_with_a_wrong_secret_is_refused():
    with pytest.raises(Unauthenticated):
        authenticate(signature=auth.sign(BODY, SECRET, NOW), claimed_secret="wrong")


def test_unauthenticated_body_says_nothing_about_the_secret():
    body = Unauthenticated().body()
    assert body == {"error": "unauthorized", "message": "missing or invalid credentials"}
