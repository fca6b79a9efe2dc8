"""Who may place orders: the webhook secret in the body, or an HMAC signature header.

TradingView cannot set headers, so its alerts carry the secret in the body. Senders that can
sign (scripts, `relay test-alert`) send `X-Relay-Signature: t=<unix>,v1=<hex>` instead, where
the MAC is HMAC-SHA256(webhook secret, "<t>." + raw body). `/webhook` admits only TradingView's
IPs in AWS; `/webhook/signed` admits any IP and therefore requires the signature. All
comparisons are constant time, and a failure never says which part was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from chalicelib.errors import Unauthenticated

SIGNATURE_HEADER = "x-relay-signature"
# A signed request may also come from slightly ahead of our clock.
_FUTURE_TOLERANCE_SECONDS = 30
_SIGNATURE = re.compile(r"^t=(\d{1,12}),v1=([0-9a-f]{64})$")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def sign(raw_body: bytes, secret: str, timestamp: int) -> str:
    """The header value a signing sender puts in X-Relay-Signature."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + raw_body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_body_secret(claimed: str | None, expected: str) -> None:
    if claimed is None or not _same(claimed, expected):
        raise Unauthenticated()


# What may stand on either side of a secret written into a body that could not be read:
# JSON and key=value punctuation, whitespace, the body's ends.
_DELIMITERS = frozenset(b" \t\r\n\"'=:,;{}[]")


def secret_stands_in(raw_body: bytes, secret: str) -> bool:
    """Whether the body holds the secret verbatim as a whole word (between delimiters or the
    body's ends), for a body too broken to read fields from. A longer word that merely starts
    with the secret does not count: that sender's secret is wrong. Every window is compared in
    constant time and the loop never stops early, so timing says nothing about where it matched.
    Only windows at the start of a word are compared: a secret is a whole word.
    The body is at most MAX_BODY_BYTES, so the windows are few."""
    wanted = secret.encode("utf-8")
    size, found = len(wanted), False
    if not size:
        return False
    padded = b" " + raw_body + b" "
    for start in range(1, len(padded) - size):
        # Only where a word starts: which positions those are is the body's, not the secret's.
        if padded[start - 1] in _DELIMITERS:
            found |= hmac.compare_digest(padded[start:start + size], wanted) & (padded[start + size] in _DELIMITERS)
    return found


def verify_signature(
    header: str, raw_body: bytes, secret: str, now: float, max_age_seconds: int
) -> None:
    match = _SIGNATURE.match(header.strip())
    if not match:
        raise Unauthenticated()
    timestamp = int(match.group(1))
    expected = sign(raw_body, secret, timestamp).rsplit("v1=", 1)[1]
    # Compare the MAC before looking at the age, so timing does not reveal which check failed.
    valid_mac = hmac.compare_digest(match.group(2).encode(), expected.encode())
    fresh = -_FUTURE_TOLERANCE_SECONDS <= now - timestamp <= max_age_seconds
    if not (valid_mac and fresh):
        raise Unauthenticated()


def authenticate(
    *,
    raw_body: bytes,
    claimed_secret: str | None,
    signature: str | None,
    secret: str,
    now: float,
    max_age_seconds: int,
    require_signature: bool = False,
    body_unreadable: bool = False,
) -> str:
    """Raise Unauthenticated unless the request proves it knows the secret; say how it did.
    With `require_signature` (the route open to any IP) a body secret alone is not enough. A body
    that could not be read (`body_unreadable`, a JSON typo) and claims no secret still
    authenticates if it holds the secret verbatim, so its sender is told the real mistake."""
    if signature is None and require_signature:
        raise Unauthenticated()
    if signature is not None:
        verify_signature(signature, raw_body, secret, now, max_age_seconds)
        if claimed_secret is not None:
            # A signed body may still carry a secret; if it does, it must be the right one.
            verify_body_secret(claimed_secret, secret)
        return "signature"
    if claimed_secret is None and body_unreadable and secret_stands_in(raw_body, secret):
        return "body_secret"
    verify_body_secret(claimed_secret, secret)
    return "body_secret"
