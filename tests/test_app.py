"""End to end through chalice.test.Client: moto SSM, the INDstocks simulator over real HTTP.

Every row of the answer table, both body formats, exact payloads, one write per alert under
every failure mode, the token re-read, and no secret in any log line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from chalicelib import auth
from local.openapi import request_errors
from tests.conftest import SECRET_PARAMETER, SEEDED_SECRET, SEEDED_TOKEN, TOKEN_PARAMETER, seed


def writes(stack):
    return stack.simulator.order_writes()


def assert_spec_valid(stack):
    for recorded in writes(stack):
        assert request_errors("POST", recorded.path, recorded.json) == [], recorded.json


# --- the happy paths ----------------------------------------------------------------------


def test_json_alert_places_one_market_order(stack):
    response = stack.post(stack.alert(quantity="5", alert_id="sig-1"))
    assert response.status_code == 200, response.body
    body = response.json_body
    assert body["status"] == "placed" and body["order_id"].startswith("EQ-")
    [sent] = writes(stack)
    assert sent.path == "/order"
    assert sent.headers["authorization"] == SEEDED_TOKEN  # raw, no Bearer
    assert sent.headers["content-type"] == "application/json"
    remarks = sent.json.pop("remarks")
    assert remarks.startswith("tvr:sig-1:") and remarks == body["remarks"]
    assert sent.json == {
        "txn_type": "BUY", "exchange": "NSE", "segment": "EQUITY", "product": "INTRADAY",
        "order_type": "MARKET", "validity": "DAY", "security_id": "3045", "qty": 5, "algo_id": "99999",
    }
    assert [row["id"] for row in stack.simulator.orders] == [body["order_id"]]
    assert_spec_valid(stack)


def test_text_plain_json_body(stack):
    response = stack.post(json.dumps(stack.alert()), content_type="text/plain; charset=utf-8")
    assert response.status_code == 200, response.body
    assert len(writes(stack)) == 1


def test_text_plain_key_value_body(stack):
    body = f"secret={SEEDED_SECRET} symbol=NSE:RELIANCE action=sell quantity=2 order_type=LIMIT price=1234.56"
    response = stack.post(body, content_type="text/plain")
    assert response.status_code == 200, response.body
    [sent] = writes(stack)
    assert (sent.json["security_id"], sent.json["txn_type"], sent.json["limit_price"]) == ("2885", "SELL", 1234.6)


def test_bse_order_payload(stack):
    response = stack.post(stack.alert(symbol="BSE:SBIN", order_type="LIMIT", price=812.35, product="CNC"))
    assert response.status_code == 200, response.body
    [sent] = writes(stack)
    assert sent.json["exchange"] == "BSE" and sent.json["security_id"] == "500112"
    assert sent.json["algo_id"] == "9999999999999999"
    assert sent.json["limit_price"] == 812.35 and sent.json["order_type"] == "LIMIT"
    assert_spec_valid(stack)


@pytest.mark.parametrize(
    "fields, trigger, limit",
    [
        ({"order_type": "SL", "price": 901, "trigger_price": 900}, 900.0, 901.0),
        ({"order_type": "SL-M", "trigger_price": 900}, 900.0, 904.5),
    ],
)
def test_stop_orders_are_trigger_smart_orders(stack, fields, trigger, limit):
    response = stack.post(stack.alert(**fields))
    assert response.status_code == 200, response.body
    [sent] = writes(stack)
    assert sent.path == "/smart/order"
    assert sent.json["order_type"] == "TRIGGER" and sent.json["validity"] == "DAY"
    assert (sent.json["trigger_price"], sent.json["trigger_limit_price"]) == (trigger, limit)
    assert "limit_price" not in sent.json
    assert_spec_valid(stack)


def test_after_market_alert_is_an_amo_order_and_a_plain_one_is_refused(stack):
    stack.simulator.market_open = False
    refused = stack.post(stack.alert(alert_id="evening-1"))
    assert refused.status_code == 422 and "AmoMustBeTrue" in refused.json_body["message"]
    placed = stack.post(stack.alert(alert_id="evening-2", amo="true", order_type="LIMIT", price=812.35))
    assert placed.status_code == 200, placed.body
    assert placed.json_body["status"] == "placed" and placed.json_body["order_status"] == "O-PENDING"
    first, second = writes(stack)
    assert "is_amo" not in first.json and second.json["is_amo"] is True
    [row] = stack.simulator.orders
    assert row["off_mkt_flag"] == "true" and row["id"] == placed.json_body["order_id"]
    assert_spec_valid(stack)


def test_signed_request_needs_no_body_secret(stack):
    raw = json.dumps(stack.alert(secret=None)).encode()
    header = auth.sign(raw, SEEDED_SECRET, int(time.time()))
    response = stack.post(raw.decode(), headers={"X-Relay-Signature": header})
    assert response.status_code == 200, response.body


def test_health_needs_nothing(stack):
    response = stack.client.http.get("/health")
    assert response.status_code == 200 and response.json_body["status"] == "ok"


# --- refused before the broker ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"symbol": "SBIN", "action": "buy", "quantity": 1},
        {"secret": "wrong", "symbol": "SBIN", "action": "buy", "quantity": 1},
        {"secret": "wrong", "qty": "lots", "action": "hold"},  # wrong secret wins over bad fields
        {"secret": SEEDED_SECRET.upper(), "symbol": "SBIN", "action": "buy", "quantity": 1},
        "not json at all",
        "",
    ],
)
def test_missing_or_wrong_secret_is_401(stack, body):
    response = stack.post(body, content_type="text/plain" if isinstance(body, str) else "application/json")
    assert response.status_code == 401
    assert response.json_body == {"error": "unauthorized", "message": "missing or invalid credentials"}
    assert writes(stack) == []


def test_stale_or_forged_signature_is_401(stack):
    raw = json.dumps(stack.alert(secret=None)).encode()
    stale = auth.sign(raw, SEEDED_SECRET, int(time.time()) - 400)
    forged = auth.sign(raw, "guess", int(time.time()))
    for header in (stale, forged, "garbage"):
        response = stack.post(raw.decode(), headers={"X-Relay-Signature": header})
        assert response.status_code == 401
    assert writes(stack) == []


@pytest.mark.parametrize(
    "fields, bad",
    [
        ({"quantity": "5.5"}, {"quantity"}),
        ({"quantity": True}, {"quantity"}),
        ({"qty": 5}, {"qty"}),
        ({"action": "hold", "order_type": "STOP"}, {"action", "order_type"}),
        ({"order_type": "LIMIT"}, {"price"}),
        ({"symbol": "NSE:SBIN", "exchange": "BSE"}, {"exchange"}),
        ({"symbol": "BSE:SBIN", "order_type": "SL-M", "trigger_price": 800}, {"order_type"}),
        ({"symbol": "MCX:GOLD"}, {"symbol"}),
        ({"symbol": "NOSUCHCO"}, {"symbol"}),
        ({"alert_id": "x" * 61}, {"alert_id"}),
    ],
)
def test_invalid_alert_is_400_naming_fields(stack, fields, bad):
    response = stack.post(stack.alert(**fields))
    assert response.status_code == 400, response.body
    body = response.json_body
    assert {problem["field"] for problem in body["detail"]} == bad
    assert all(problem["message"] for problem in body["detail"])
    assert SEEDED_SECRET not in response.body if isinstance(response.body, str) else True
    assert writes(stack) == []


def test_unparsable_signed_body_is_400(stack):
    raw = b"{broken"
    header = auth.sign(raw, SEEDED_SECRET, int(time.time()))
    response = stack.post(raw.decode(), headers={"X-Relay-Signature": header})
    assert response.status_code == 400
    [problem] = response.json_body["detail"]
    assert problem["field"] == "body" and problem["message"].startswith("is not valid JSON: ")


def test_other_content_types_are_415(stack):
    response = stack.post(json.dumps(stack.alert()), content_type="application/xml")
    assert response.status_code == 415
    assert writes(stack) == []


def test_no_token_in_ssm_is_503(stack):
    stack.ssm.delete_parameter(Name=TOKEN_PARAMETER)
    response = stack.post(stack.alert())
    assert response.status_code == 503
    assert response.json_body["error"] == "token_unavailable" and "renew" in response.json_body["message"]
    assert writes(stack) == []


def test_no_webhook_secret_in_ssm_is_503_not_configured(stack):
    stack.ssm.delete_parameter(Name=SECRET_PARAMETER)
    response = stack.post(stack.alert())
    assert response.status_code == 503 and response.json_body["error"] == "not_configured"
    assert writes(stack) == []


# --- the broker's answers -------------------------------------------------------------------


def test_rms_rejection_is_422_with_the_brokers_message(stack):
    stack.simulator.inject_fault("/order", "rms_reject")
    response = stack.post(stack.alert())
    assert response.status_code == 422
    assert response.json_body == {"status": "rejected", "message": "RMS: Margin exceeds available funds"}
    assert len(writes(stack)) == 1


def test_broker_validation_rejection_is_422(stack):
    stack.simulator.inject_fault("/order", "error_code_shape")
    response = stack.post(stack.alert())
    assert response.status_code == 422 and response.json_body["status"] == "rejected"
    assert len(writes(stack)) == 1


@pytest.mark.parametrize(
    "kind, options, status",
    [
        ("timeout", {"delay": 1.5}, 504),
        ("reset", {}, 502),
        ("http500", {}, 502),
        ("http500", {"status": 503}, 502),
        ("rate_limit", {}, 502),
        ("cloudflare", {}, 502),
        ("shape_e", {}, 502),
        ("garbage", {}, 502),
    ],
)
def test_unknown_outcomes_are_never_resent(stack, kind, options, status):
    # place=False: the broker really did not place it, so reconciliation finds nothing either.
    stack.simulator.inject_fault("/order", kind, place=False, **options)
    response = stack.post(stack.alert(alert_id=f"fault-{kind}"))
    assert response.status_code == status, response.body
    body = response.json_body
    assert body["status"] == "unknown" and body["remarks"].startswith(f"tvr:fault-{kind}:")
    time.sleep(0.05)
    assert len(writes(stack)) == 1  # exactly one attempt, whatever happened


def test_unknown_outcome_on_a_smart_order_is_never_resent(stack):
    stack.simulator.inject_fault("/smart/order", "http500", place=False)
    response = stack.post(stack.alert(order_type="SL-M", trigger_price=900))
    assert response.status_code == 502 and response.json_body["status"] == "unknown"
    assert len(writes(stack)) == 1


def test_unreachable_broker_is_not_sent(ssm, dynamodb, relay_settings):
    from chalice.test import Client

    from app import app
    from chalicelib import services

    seed(ssm)
    built = services.build(relay_settings.model_copy(update={"indstocks_base_url": "http://127.0.0.1:9"}))
    # The instrument master is cached, so only the order write meets the dead port.
    built.relay.instruments.index = lambda today: _sbin_index()
    services.install(built)
    with Client(app, stage_name="dev") as client:
        response = client.http.post("/webhook", headers={"Content-Type": "application/json"},
                                    body=json.dumps({"secret": SEEDED_SECRET, "symbol": "SBIN", "action": "buy", "quantity": 1,
                                                     "order_type": "LIMIT", "price": 800}))  # priced: no price read first
    assert response.status_code == 502
    assert response.json_body["status"] == "not_sent"


def _sbin_index():
    from chalicelib.instruments import InstrumentIndex

    return InstrumentIndex({("NSE", "SBIN"): ("3045", "0.05")})


# --- token renewal --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 401])
def test_dead_token_is_reread_once_and_resent_only_if_it_changed(stack, status):
    stack.post(stack.alert())  # warms the token cache with the seeded token
    stack.simulator.set_tokens(["tok-RENEWED-2"])
    seed(stack.ssm, token="tok-RENEWED-2")
    stack.simulator.reset()
    stack.simulator.inject_fault("/order", "token_expired", status=status)
    response = stack.post(stack.alert(order_type="LIMIT", price="800"))  # priced: the write meets the token first
    assert response.status_code == 200, response.body
    first, second = writes(stack)
    assert first.headers["authorization"] == SEEDED_TOKEN
    assert second.headers["authorization"] == "tok-RENEWED-2"
    assert first.json == {**second.json}


def test_dead_token_that_did_not_change_is_503_after_one_write(stack):
    stack.post(stack.alert())
    stack.simulator.reset()
    stack.simulator.set_tokens(["someone-elses-token"])
    response = stack.post(stack.alert(order_type="LIMIT", price="800"))  # priced: the write meets the token first
    assert response.status_code == 503
    assert response.json_body["status"] == "token_invalid"
    assert len(writes(stack)) == 1


def test_dead_token_on_instrument_download_is_503(stack):
    stack.simulator.set_tokens(["someone-elses-token"])
    response = stack.post(stack.alert())
    assert response.status_code == 503 and response.json_body["error"] == "token_unavailable"
    assert writes(stack) == []


# --- logs ---------------------------------------------------------------------------------


def test_one_structured_line_per_alert_and_no_secrets_anywhere(stack, capfd):
    stack.post(stack.alert(alert_id="log-1", quantity=3))
    stack.post(stack.alert(secret="wrong-secret-value"))
    stack.post(stack.alert(quantity="2.5"))
    stack.simulator.inject_fault("/order", "rms_reject")
    stack.post(stack.alert(alert_id="log-2"))
    out, err = capfd.readouterr()
    logged = out + err
    assert SEEDED_SECRET not in logged and SEEDED_TOKEN not in logged
    assert "wrong-secret-value" not in logged
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    alerts = [line for line in lines if line.get("event") == "alert"]
    assert [line["outcome"] for line in alerts] == ["placed", "unauthorized", "invalid_alert", "rejected"]
    placed = alerts[0]
    assert (placed["alert_id"], placed["symbol"], placed["side"], placed["qty"]) == ("log-1", "SBIN", "BUY", 3)
    assert placed["order_id"].startswith("EQ-") and placed["latency_ms"] >= 0
    assert alerts[2]["fields"] == ["quantity"]
    assert alerts[3]["broker_message"].startswith("RMS:")


def test_importing_the_app_touches_no_network():
    code = (
        "import sys, socket\n"
        "def refuse(*a, **k): raise SystemExit('network used at import')\n"
        "socket.socket.connect = refuse\n"
        "import app\n"
        "from chalicelib import services\n"
        "assert services._services is None\n"
        "print('clean')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_a_token_reread_that_fails_leaves_the_alert_failed_not_maybe_placed(stack):
    from chalicelib import services

    stack.post(stack.alert())  # warms the token cache
    stack.simulator.reset()
    stack.simulator.set_tokens(["someone-elses-token"])  # the broker refuses the cached token
    stack.ssm.delete_parameter(Name=TOKEN_PARAMETER)  # and there is nothing to re-read
    response = stack.post(stack.alert(alert_id="reread-fails", order_type="LIMIT", price="800"))  # priced: no price read
    assert response.status_code == 503 and response.json_body["status"] == "token_invalid", response.json_body
    assert len(writes(stack)) == 1
    assert services.get().ledger.get("id:reread-fails")["state"] == "failed"  # nothing placed: may be sent again
