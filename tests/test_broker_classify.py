"""Every INDstocks reply shape to an order write, and what it means. One row per shape."""

from __future__ import annotations

import json

import pytest

from chalicelib.broker import Outcome, classify_write_reply


def j(value) -> bytes:
    return json.dumps(value).encode()


PLACED = Outcome.PLACED
REJECTED = Outcome.REJECTED
TOKEN = Outcome.TOKEN_INVALID
UNKNOWN = Outcome.UNKNOWN

ROWS = [
    # (name, http status, body, outcome, order id, message contains)
    ("order success", 200, j({"status": "success", "data": {"order_id": "EQ-93586788", "order_status": "INITIATED"}}), PLACED, "EQ-93586788", ""),
    ("order success 201", 201, j({"status": "success", "data": {"order_id": "EQ-1", "order_status": "O-PENDING"}}), PLACED, "EQ-1", ""),
    ("smart order success", 200, j({"status": "success", "data": {"order_data": [{"order_id": "EQ-28131451", "order_status": "CREATED", "child_order_details": {"order_id": "GTT-1", "order_status": "CREATED"}}]}}), PLACED, "EQ-28131451", ""),
    ("2xx without order id", 200, j({"status": "success", "data": {}}), UNKNOWN, None, "without an order id"),
    ("2xx blank order id", 200, j({"status": "success", "data": {"order_id": "  "}}), UNKNOWN, None, ""),
    ("2xx status not success", 200, j({"status": "pending", "data": {"order_id": "EQ-1"}}), UNKNOWN, None, ""),
    ("2xx data not a dict", 200, j({"status": "success", "data": ["EQ-1"]}), UNKNOWN, None, ""),
    ("shape E in 200", 200, j({"status": "failure", "error": {"msg": "no order number in rs response"}}), UNKNOWN, None, "no order number"),
    ("shape E in 400", 400, j({"status": "failure", "error": {"msg": "no order number in rs response"}}), UNKNOWN, None, "no order number"),
    ("2xx not JSON", 200, b"<html>ok</html>", UNKNOWN, None, "not JSON"),
    ("2xx JSON list", 200, j([1, 2]), UNKNOWN, None, "not JSON"),
    ("empty body", 200, b"", UNKNOWN, None, "not JSON"),
    ("RMS rejection", 400, j({"status": "error", "message": "RMS: Margin exceeds available funds", "error_type": "OrderException"}), REJECTED, None, "RMS: Margin exceeds"),
    ("input exception", 400, j({"status": "error", "message": "qty must be above zero", "error_type": "InputException"}), REJECTED, None, "qty must be above zero"),
    ("A-prime error_code shape", 400, j({"status": "error", "message": "Invalid input", "error_code": "INVALID_INPUT"}), REJECTED, None, "Invalid input"),
    ("B shape", 400, j({"message": "Invalid scrip codes or mode", "success": False}), REJECTED, None, "Invalid scrip codes"),
    ("C shape", 400, j({"message": "Bad Request", "debug_info": "invalid interval."}), REJECTED, None, "Bad Request"),
    ("reserved remarks", 400, j({"status": "error", "message": "reserved remarks", "error_type": "RequestValidationException"}), REJECTED, None, "reserved"),
    ("not found", 404, j({"status": "error", "message": "Not found", "error_type": "NotFoundException"}), REJECTED, None, "Not found"),
    ("user exception 403", 403, j({"status": "error", "message": "Segment not activated", "error_type": "UserException"}), REJECTED, None, "Segment not activated"),
    ("token exception 403", 403, j({"status": "error", "message": "Invalid or expired token", "error_type": "TokenException"}), TOKEN, None, "expired"),
    ("token exception 401", 401, j({"status": "error", "message": "Invalid or expired token", "error_type": "TokenException"}), TOKEN, None, ""),
    ("bare 401 JSON", 401, j({"message": "Unauthorized"}), TOKEN, None, ""),
    ("cloudflare 403 html", 403, b"<!DOCTYPE html><title>Just a moment...</title>", UNKNOWN, None, "not JSON"),
    ("403 JSON without a kind", 403, j({"message": "Forbidden"}), REJECTED, None, "Forbidden"),
    ("429 plain", 429, j({"error": "Rate limit exceeded", "success": False}), UNKNOWN, None, "Rate limit"),
    ("429 empty", 429, b"", UNKNOWN, None, ""),
    ("408", 408, j({"message": "timeout"}), UNKNOWN, None, ""),
    ("500 general", 500, j({"status": "error", "message": "Something went wrong", "error_type": "GeneralException"}), UNKNOWN, None, "went wrong"),
    ("502 html", 502, b"<html>Bad gateway</html>", UNKNOWN, None, ""),
    ("503 network", 503, j({"status": "error", "message": "down", "error_type": "NetworkException"}), UNKNOWN, None, ""),
    ("504 gateway timeout", 504, j({"status": "error", "message": "t", "error_type": "GatewayTimeoutException"}), UNKNOWN, None, ""),
    ("3xx", 302, j({"message": "moved"}), UNKNOWN, None, ""),
]


@pytest.mark.parametrize("name, status, body, outcome, order_id, message", ROWS, ids=[row[0] for row in ROWS])
def test_reply_classification(name, status, body, outcome, order_id, message):
    result = classify_write_reply(status, body)
    assert result.outcome is outcome
    assert result.order_id == order_id
    assert message in result.message
    assert result.http_status == status


def test_broker_messages_are_cleaned_and_bounded():
    result = classify_write_reply(400, j({"status": "error", "message": "RMS:\n" + "x" * 1000, "error_type": "OrderException"}))
    assert "\n" not in result.message and len(result.message) <= 300


def test_only_success_with_an_order_id_counts_as_placed():
    placed = [row for row in ROWS if row[3] is PLACED]
    assert all(200 <= row[1] < 300 for row in placed)
