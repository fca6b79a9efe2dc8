"""One alert, one order, one truthful answer, when AWS or the broker misbehave after the claim.

Faults are injected on the real boto3 clients with botocore's own event hooks (moto behind
them) and on the broker over real HTTP (the simulator's faults), never by replacing the relay's
objects.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from chalicelib import services
from chalicelib.relay import IncomingAlert
from tests.conftest import ORDERS_TABLE, SEEDED_SECRET, SEEDED_TOKEN, seed


def ledger_item(key):
    raw = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": key}}, ConsistentRead=True)
    return {name: next(iter(value.values())) for name, value in raw.get("Item", {}).items()}


def ledger_client():
    return services.get().ledger.client


def throttled(operation: str, when=lambda params: True, times: int = 10**6):
    """A before-call hook that answers `operation` with DynamoDB throttling while `when` holds."""
    left = [times]

    def hook(params, **_):
        if left[0] > 0 and when(params):
            left[0] -= 1
            reply = AWSResponse("https://dynamodb.ap-south-1.amazonaws.com/", 400, {}, None)
            return reply, {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "throttled"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}
        return None

    ledger_client().meta.events.register(f"before-call.dynamodb.{operation}", hook)
    return hook


def request_body(request_dict) -> dict:
    """The JSON DynamoDB receives (botocore's request dict, as its hooks see it)."""
    body = request_dict.get("body") or b"{}"
    return json.loads(body.decode() if isinstance(body, bytes) else body)


def moving_to(state):
    return lambda request_dict: {"S": state} in request_body(request_dict).get("ExpressionAttributeValues", {}).values()


def reply_lost_once(operation: str, when=lambda request_dict: True):
    """botocore resends `operation` once after it has been applied, as it does when the reply of a
    write that reached DynamoDB times out: the resend then meets the item the first one wrote."""
    lost = []

    def hook(attempts, caught_exception, request_dict, **_):
        if attempts == 1 and caught_exception is None and not lost and when(request_dict):
            lost.append(True)
            return 0  # retry at once
        return None

    ledger_client().meta.events.register(f"needs-retry.dynamodb.{operation}", hook)
    return lost


# --- 2. a write that happened is reported as what it was -------------------------------------


def test_a_placed_order_whose_ledger_update_fails_is_answered_placed_and_repaired_by_the_sweep(stack, capfd):
    throttle = throttled("UpdateItem", when=moving_to("placed"))
    response = stack.post(stack.alert(alert_id="ledger-down-1"))
    assert response.status_code == 200, response.json_body
    body = response.json_body
    assert body["status"] == "placed" and body["order_id"] and body["ledger"] == "not_updated"
    assert "not sent" not in json.dumps(body)
    assert len(stack.simulator.order_writes()) == 1
    assert ledger_item("id:ledger-down-1")["state"] == "sent"  # left for the sweep
    assert '"outcome":"not_updated"' in capfd.readouterr().out.replace(" ", "")

    ledger_client().meta.events.unregister("before-call.dynamodb.UpdateItem", throttle)  # DynamoDB is back
    report = services.get().sweeper.run(time.time())
    assert report.reconciled == ["id:ledger-down-1"]
    repaired = ledger_item("id:ledger-down-1")
    assert repaired["state"] == "placed" and repaired["order_id"] == body["order_id"]
    assert stack.post(stack.alert(alert_id="ledger-down-1")).json_body["status"] == "duplicate"
    assert len(stack.simulator.order_writes()) == 1


def test_an_unknown_outcome_whose_ledger_update_fails_is_answered_unknown_not_not_sent(stack):
    throttled("UpdateItem", when=moving_to("unknown"))
    stack.simulator.inject_fault("/order", "http500", place=False)
    response = stack.post(stack.alert(alert_id="ledger-down-2"))
    assert response.json_body["status"] == "unknown" and response.json_body["ledger"] == "not_updated"
    assert response.status_code in (502, 504)
    assert ledger_item("id:ledger-down-2")["state"] == "sent"


def test_a_broker_rejection_whose_ledger_update_fails_is_still_the_brokers_answer(stack):
    throttled("UpdateItem", when=moving_to("rejected"))
    stack.simulator.inject_fault("/order", "rms_reject")
    response = stack.post(stack.alert(alert_id="ledger-down-3"))
    assert response.status_code == 422
    assert response.json_body["status"] == "rejected" and response.json_body["ledger"] == "not_updated"


# --- 3. retried conditional writes are recognised as our own ---------------------------------


def test_a_claim_whose_reply_was_lost_is_still_ours_and_the_order_goes_out(stack):
    """The warm path's claim is one transaction (claim as `sent`, pacing slot, day count)."""
    lost = reply_lost_once("TransactWriteItems")
    response = stack.post(stack.alert(alert_id="lost-claim-1"))
    assert lost, "the claim's reply should have been lost once"
    assert response.json_body["status"] == "placed", response.json_body
    assert len(stack.simulator.order_writes()) == 1
    assert ledger_item("id:lost-claim-1")["state"] == "placed"


def test_an_outcome_update_whose_reply_was_lost_is_still_ours(stack):
    lost = reply_lost_once("UpdateItem", when=moving_to("sent"))  # the update conditional on `sent`
    response = stack.post(stack.alert(alert_id="lost-send-1"))
    assert lost, "the outcome update should have lost its reply once"
    assert response.json_body["status"] == "placed", response.json_body
    assert "ledger" not in response.json_body
    assert len(stack.simulator.order_writes()) == 1
    assert ledger_item("id:lost-send-1")["state"] == "placed"


def test_a_queued_move_to_sent_whose_reply_was_lost_is_still_ours_and_the_order_goes_out(stack):
    """The queue consumer's move from `queued` into `sent`."""
    from chalicelib.pacing import WritePacer

    relay = services.get().relay
    pacer = relay.pacer
    relay.pacer = WritePacer(pacer._state, max_wait_seconds=0.0, spacing=60.0, schedule="test-lost-send")
    assert stack.post(stack.alert(alert_id="lost-send-2")).json_body["status"] == "placed"
    assert stack.post(stack.alert(alert_id="lost-send-3")).status_code == 202  # its slot is a minute out
    relay.pacer = pacer
    lost = reply_lost_once("UpdateItem", when=lambda request: moving_to("sent")(request) and moving_to("queued")(request))
    result = services.get().queued_sender.send("id:lost-send-3", time.time())
    assert lost, "the move to sent should have lost its reply once"
    assert result.outcome == "placed"
    assert len(stack.simulator.order_writes()) == 2
    assert ledger_item("id:lost-send-3")["state"] == "placed"


def test_a_real_duplicate_is_still_a_duplicate_when_replies_are_lost(stack):
    assert stack.post(stack.alert(alert_id="lost-dup-1")).json_body["status"] == "placed"
    reply_lost_once("PutItem")
    assert stack.post(stack.alert(alert_id="lost-dup-1")).json_body["status"] == "duplicate"
    assert len(stack.simulator.order_writes()) == 1


# --- 4. alerts without alert_id are duplicates within the window only --------------------------


def text_alert(**fields):
    """The README's key=value example: no alert_id, no time."""
    base = {"secret": SEEDED_SECRET, "symbol": "NSE:SBIN", "action": "buy", "quantity": "5"}
    return " ".join(f"{k}={v}" for k, v in {**base, **fields}.items()).encode()


def send(raw, now):
    return services.get().relay.handle_alert(IncomingAlert(raw, {"content-type": "text/plain"}), now=now).body


def test_an_alert_without_id_or_time_is_a_duplicate_within_the_window_and_new_after(stack):
    raw, now = text_alert(), time.time()
    first = send(raw, now)
    assert first["status"] == "placed"
    assert send(raw, now + 30)["status"] == "duplicate"
    later = send(raw, now + 61)  # the same signal a minute later (tomorrow, say) is a new order
    assert later["status"] == "placed" and later["order_id"] != first["order_id"]
    assert len(stack.simulator.order_writes()) == 2
    assert send(raw, now + 70)["status"] == "duplicate"  # the window restarts with the new alert
    # The first order's item is kept (journal, follow-up), under an archive key.
    items = boto3.client("dynamodb").scan(TableName=ORDERS_TABLE)["Items"]
    assert sorted(i["order_id"]["S"] for i in items) == sorted([first["order_id"], later["order_id"]])


def test_the_window_is_a_setting(ssm, dynamodb, simulator, relay_settings):
    seed(ssm)
    services.install(services.build(relay_settings.model_copy(update={"dedupe_window_seconds": 600})))
    raw, now = text_alert(quantity="3"), time.time()
    assert send(raw, now)["status"] == "placed"
    assert send(raw, now + 300)["status"] == "duplicate"
    assert send(raw, now + 601)["status"] == "placed"


def test_an_alert_with_alert_id_stays_a_duplicate_beyond_the_window(stack):
    raw, now = text_alert(alert_id="kept-1"), time.time()
    assert send(raw, now)["status"] == "placed"
    assert send(raw, now + 3600)["status"] == "duplicate"
    assert len(stack.simulator.order_writes()) == 1


def test_an_identical_alert_whose_first_copy_is_still_unresolved_stays_a_duplicate(stack):
    stack.simulator.inject_fault("/order", "http500", place=False)
    raw, now = text_alert(quantity="7"), time.time()
    assert send(raw, now)["status"] == "unknown"
    assert send(raw, now + 120)["status"] == "duplicate"  # the first may still exist: never a second
    assert len(stack.simulator.order_writes()) == 1


# --- 5. the sweep never overwrites what a writer records ------------------------------------------


def test_the_sweep_cannot_declare_absent_an_order_its_writer_records_meanwhile(stack):
    from chalicelib.alerts import validate_alert
    from chalicelib.ledger import State

    ledger, now = services.get().ledger, time.time()
    alert = validate_alert(dict(stack.alert(alert_id="race-absent-1")))
    assert ledger.claim("id:race-absent-1", alert, now, token="writer-1").won
    assert ledger.begin_send("id:race-absent-1", State.RECEIVED, now, token="writer-1",
                             request=json.dumps({"remarks": "tvr:race-absent-1:x"}))

    def writer_records_first(params, **_):  # the invocation's own record lands between read and write
        if moving_to("absent")(params):
            ledger.update("id:race-absent-1", State.PLACED, now, expect=State.SENT, expect_token="writer-1",
                          writer="writer-1", order_id="EQ-RACE-1")

    ledger_client().meta.events.register("before-call.dynamodb.UpdateItem", writer_records_first)
    report = services.get().sweeper.run(now + 61)
    assert report.absent == []
    recorded = ledger_item("id:race-absent-1")
    assert recorded["state"] == "placed" and recorded["order_id"] == "EQ-RACE-1"


def test_settings_refuse_a_settle_time_within_the_function_timeout():
    from pydantic import ValidationError

    from chalicelib.config import settings_from_env

    with pytest.raises(ValidationError, match="ORDER_SETTLE_SECONDS"):
        settings_from_env({"ORDER_SETTLE_SECONDS": "30", "FUNCTION_TIMEOUT_SECONDS": "30"})
    assert settings_from_env({"ORDER_SETTLE_SECONDS": "31"}).order_settle_seconds == 31


# --- 7. a hung broker still gets TradingView an answer inside 3 s --------------------------------


def test_a_broker_that_never_answers_still_gets_an_answer_within_2_8_seconds(ssm, dynamodb, simulator, relay_settings):
    from chalice.test import Client

    from app import app

    seed(ssm)
    # Production timeouts and reconciliation, not the suite's shortened ones.
    settings = relay_settings.model_copy(update={"broker_read_timeout": 2.5, "broker_connect_timeout": 1.0,
                                                 "reconcile_interval_seconds": 0.5, "reconcile_attempts": 2})
    services.install(services.build(settings))
    with Client(app, stage_name="dev") as client:
        post = lambda alert_id: client.http.post(  # noqa: E731
            "/webhook", headers={"Content-Type": "application/json"},
            body=json.dumps({"secret": SEEDED_SECRET, "symbol": "SBIN", "action": "buy", "quantity": 1, "alert_id": alert_id}))
        assert post("warm-1").json_body["status"] == "placed"  # instruments and token cached, as when warm
        simulator.inject_fault("/order", "timeout", place=False, delay=20.0)
        started = time.perf_counter()
        response = post("hung-1")
        elapsed = time.perf_counter() - started
    assert elapsed <= 2.8, f"answered after {elapsed:.2f} s"
    assert response.json_body["status"] == "unknown" and response.status_code == 504
    assert ledger_item("id:hung-1")["state"] == "unknown"  # reconciled by the sweep later, never resent
    assert len(simulator.order_writes()) == 2


# --- 15. reconciliation after a token refresh reads the book with the new token ------------------


def test_reconciliation_after_a_token_refresh_reads_the_book_with_the_new_token(stack):
    stack.post(stack.alert())  # the seeded token is now cached
    stack.simulator.set_tokens(["tok-RENEWED-15"])  # the seeded one died; the trader pasted a new one
    seed(stack.ssm, token="tok-RENEWED-15")
    stack.simulator.reset()
    # The first write meets the dead token; the second, with the new one, is booked but its reply is lost.
    stack.simulator.inject_fault("/order", "token_expired")
    stack.simulator.inject_fault("/order", "timeout", place=True, delay=1.0)
    # LIMIT: no price read before the write, so the first write meets the dead token.
    response = stack.post(stack.alert(alert_id="renewed-15", order_type="LIMIT", price=800))
    assert response.json_body["status"] == "placed", response.json_body
    books = stack.simulator.requests("/order-book")
    assert books and {r.headers["authorization"] for r in books} == {"tok-RENEWED-15"}
    assert len(stack.simulator.order_writes()) == 2  # the refused one and the booked one
    assert SEEDED_TOKEN not in json.dumps(response.json_body)

