"""A body the relay cannot read: with the right secret in it, the sender is told the real mistake
(400 naming the JSON error or the word at fault); without it, 401 as for any stranger."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib import auth
from chalicelib.alerts import parse_body
from tests.conftest import SEEDED_SECRET

MAX_BODY_BYTES = 16 * 1024  # the documented limit
UNAUTHORIZED = {"error": "unauthorized", "message": "missing or invalid credentials"}


def answer_to(stack, raw, content_type="application/json"):
    response = stack.post(raw, content_type=content_type)
    assert SEEDED_SECRET not in response.body.decode() if isinstance(response.body, bytes) else True
    assert stack.simulator.order_writes() == []
    return response


def body_problem(response):
    assert response.status_code == 400, response.body
    [problem] = response.json_body["detail"]
    assert problem["field"] == "body"
    return problem["message"]


def test_json_typo_with_the_right_secret_names_the_error_line_and_column(stack):
    raw = '{\n  "secret": "%s",\n  "symbol": "NSE:SBIN",\n  "action": "buy"\n  "quantity": 5\n}' % SEEDED_SECRET
    message = body_problem(answer_to(stack, raw))
    assert message == "is not valid JSON: Expecting ',' delimiter at line 5, column 3"


def test_trailing_comma_counts_lines_of_the_body_as_sent(stack):
    raw = '\n\n{"secret": "%s", "symbol": "SBIN", "action": "buy", "quantity": 5,}' % SEEDED_SECRET
    message = body_problem(answer_to(stack, raw, "text/plain"))
    assert message.endswith("at line 3, column %d" % (raw.rindex("}") - 1))
    assert message.startswith("is not valid JSON: Expecting property name enclosed in double quotes")


def test_unterminated_string_is_named_without_quoting_the_body(stack):
    raw = '{"secret": "%s", "symbol": "SBIN, "action": "buy", "quantity": 5}' % SEEDED_SECRET
    message = body_problem(answer_to(stack, raw))
    assert "line 1" in message and "SBIN" not in message and "buy" not in message


def test_text_body_with_a_word_lacking_equals_names_its_position(stack):
    raw = f"secret={SEEDED_SECRET} symbol=NSE:SBIN buy quantity=5"
    message = body_problem(answer_to(stack, raw, "text/plain"))
    assert message.startswith("word 3 is not a key=value pair") and "buy" not in message


def test_secret_written_without_equals_authenticates_and_is_never_echoed(stack):
    raw = f"secret {SEEDED_SECRET} symbol=NSE:SBIN action=buy quantity=5"
    message = body_problem(answer_to(stack, raw, "text/plain"))
    assert message.startswith("word 1 ") and SEEDED_SECRET not in message


@pytest.mark.parametrize(
    "raw, content_type",
    [
        ('{"secret": "wrong-secret", "symbol": "SBIN", "action": "buy" "quantity": 5}', "application/json"),
        ('{"symbol": "SBIN", "action": "buy" "quantity": 5}', "application/json"),
        ('{"secret": "%sX", "symbol": "SBIN", "action": "buy" "quantity": 5}' % SEEDED_SECRET, "application/json"),
        ('{"secret": "X%s", "symbol": "SBIN", "action": "buy" "quantity": 5}' % SEEDED_SECRET, "application/json"),
        ('{"secret": "%s", "symbol": "SBIN", "action": "buy" "quantity": 5}' % SEEDED_SECRET[:-1], "application/json"),
        ("secret=wrong-secret symbol=NSE:SBIN buy quantity=5", "text/plain"),
        (f"symbol=NSE:SBIN buy quantity=5 note=x{SEEDED_SECRET}", "text/plain"),
        ("Buy SBIN now", "text/plain"),
    ],
    ids=["wrong", "absent", "right+suffix", "prefix+right", "truncated", "text wrong", "text embedded", "prose"],
)
def test_broken_body_without_the_whole_secret_is_401(stack, raw, content_type):
    response = answer_to(stack, raw, content_type)
    assert (response.status_code, response.json_body) == (401, UNAUTHORIZED)


def test_signed_route_still_needs_the_signature_for_a_broken_body(stack):
    raw = '{"secret": "%s", "symbol": "SBIN", "action": "buy" "quantity": 5}' % SEEDED_SECRET
    response = stack.client.http.post("/webhook/signed", headers={"Content-Type": "application/json"}, body=raw)
    assert (response.status_code, response.json_body) == (401, UNAUTHORIZED)
    assert stack.simulator.order_writes() == []


def test_signed_broken_body_names_the_json_error(stack):
    raw = b"{broken"
    header = auth.sign(raw, SEEDED_SECRET, int(time.time()))
    response = stack.post(raw.decode(), headers={"X-Relay-Signature": header})
    assert body_problem(response) == "is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2"


@pytest.mark.parametrize(
    "raw, stands",
    [
        (b'{"secret": "S3c"', True),
        (b"secret=S3c x", True),
        (b"S3c", True),
        (b"[S3c]", True),
        (b'{"secret": "S3cX"', False),
        (b'{"secret": "xS3c"', False),
        (b"S3", False),
        (b"", False),
    ],
)
def test_secret_stands_in_a_body_only_as_a_whole_word(raw, stands):
    assert auth.secret_stands_in(raw, "S3c") is stands


def test_a_readable_body_is_never_searched_for_the_secret():
    # Valid JSON without a secret field: the secret elsewhere in it proves nothing about intent.
    raw = json.dumps({"symbol": SEEDED_SECRET, "action": "buy", "quantity": 1}).encode()
    assert parse_body(raw).problem is None
    with pytest.raises(Exception, match="credentials"):
        auth.authenticate(raw_body=raw, claimed_secret=None, signature=None, secret=SEEDED_SECRET, now=0,
                          max_age_seconds=300)


# --- size: refused before anything else -------------------------------------------------------


def padded_alert(stack, size):
    raw = json.dumps(stack.alert())
    return raw + " " * (size - len(raw))  # trailing whitespace keeps it valid JSON


def test_a_body_of_exactly_16_kb_is_accepted(stack):
    raw = padded_alert(stack, MAX_BODY_BYTES)
    assert len(raw.encode()) == MAX_BODY_BYTES
    response = stack.post(raw)
    assert response.status_code == 200, response.body
    assert len(stack.simulator.order_writes()) == 1


@pytest.mark.parametrize("route", ["/webhook", "/webhook/signed"])
def test_one_byte_more_is_413_naming_the_limit_and_nothing_is_sent(stack, route):
    raw = padded_alert(stack, MAX_BODY_BYTES + 1)
    headers = {"Content-Type": "application/json", "X-Relay-Signature": auth.sign(raw.encode(), SEEDED_SECRET, int(time.time()))}
    response = stack.client.http.post(route, headers=headers, body=raw)
    assert response.status_code == 413
    assert response.json_body == {
        "error": "body_too_large", "message": "the body is over the limit of 16384 bytes (16 KB)",
        "detail": [{"field": "body", "message": "is 16385 bytes; at most 16384 are accepted"}],
    }
    assert stack.simulator.order_writes() == []


def test_size_is_checked_before_the_secret(stack):
    response = stack.post("x" * (MAX_BODY_BYTES + 1), content_type="text/plain")
    assert response.status_code == 413
    assert stack.simulator.order_writes() == []


def test_a_1_mb_body_is_refused_fast(stack):
    raw = padded_alert(stack, 1024 * 1024)
    stack.post(stack.alert())  # warm: the instrument master and SSM are read once per instance
    started = time.perf_counter()
    response = stack.post(raw)
    elapsed = time.perf_counter() - started
    assert response.status_code == 413
    assert elapsed < 0.5, elapsed
    assert len(stack.simulator.order_writes()) == 1  # the warm-up's only
