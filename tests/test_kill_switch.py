"""The kill switch: POST /pause and /resume, for the stage or one strategy. While paused, alerts
are authenticated, validated and journaled `paused`, and nothing reaches the broker, on every
instance at once (the check is inside each admission transaction); queued orders are not sent
after a pause. Through chalice.test.Client against moto and the simulator over HTTP."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from chalicelib import services
from chalicelib.pacing import WritePacer
from chalicelib.relay import IncomingAlert
from tests.conftest import ORDERS_TABLE, SEEDED_ADMIN_KEY, SEEDED_SECRET

ADMIN = {"X-Admin-Key": SEEDED_ADMIN_KEY, "Content-Type": "application/json"}


def switch(stack, action, **body):
    return stack.client.http.post(f"/{action}", headers=ADMIN, body=json.dumps(body))


def state_of(key):
    raw = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": key}}, ConsistentRead=True)
    return raw["Item"]["state"]["S"]


def test_a_paused_relay_journals_alerts_paused_and_sends_nothing_until_resumed(stack):
    answer = switch(stack, "pause", reason="runaway strategy")
    assert answer.status_code == 200 and answer.json_body["status"] == "paused"
    assert answer.json_body["reason"] == "runaway strategy"
    refused = stack.post(stack.alert(alert_id="while-paused"))
    assert refused.status_code == 409 and refused.json_body["error"] == "paused"
    assert "nothing was sent" in refused.json_body["message"]
    assert stack.simulator.order_writes() == []
    assert state_of("id:while-paused") == "paused"
    # A wrong secret is still a 401, a bad alert still a 400: paused does not skip the checks.
    assert stack.post({**stack.alert(), "secret": "wrong-secret-0000"}).status_code == 401
    assert stack.post(stack.alert(quantity="2.5")).status_code == 400
    # Resumed: the next alert goes; the paused one stays unsent (a replay is a duplicate).
    assert switch(stack, "resume").json_body["status"] == "live"
    assert stack.post(stack.alert(alert_id="after-resume")).json_body["status"] == "placed"
    again = stack.post(stack.alert(alert_id="while-paused"))
    assert again.json_body["status"] == "duplicate" and again.json_body["state"] == "paused"
    assert len(stack.simulator.order_writes()) == 1


def test_pausing_one_strategy_leaves_the_others_live(stack):
    assert switch(stack, "pause", strategy="breakout").json_body["paused_strategies"] == ["breakout"]
    assert stack.post(stack.alert(strategy="breakout")).status_code == 409
    assert stack.post(stack.alert(strategy="mean-revert")).json_body["status"] == "placed"
    assert stack.post(stack.alert()).json_body["status"] == "placed"  # no strategy: the stage is live
    assert switch(stack, "resume", strategy="breakout").json_body["paused_strategies"] == []
    assert stack.post(stack.alert(strategy="breakout")).json_body["status"] == "placed"
    assert len(stack.simulator.order_writes()) == 3


def test_a_pause_through_one_instance_stops_another_at_its_next_alert(stack):
    """Two warm instances (two sets of clients and caches): the second obeys at once, with no
    cache to expire, because its admission transaction checks the switch."""
    other = services.build(stack.settings)
    assert other.relay.handle_alert(IncomingAlert(json.dumps(stack.alert()).encode(), {}), time.time()).status_code == 200
    assert switch(stack, "pause").status_code == 200  # through the first instance
    answer = None
    with pytest.raises(Exception) as refused:
        answer = other.relay.handle_alert(IncomingAlert(json.dumps(stack.alert()).encode(), {}), time.time())
    assert answer is None and getattr(refused.value, "error", None) == "paused"
    assert len(stack.simulator.order_writes()) == 1


def test_an_order_queued_before_the_pause_is_not_sent_after_it(stack):
    relay = services.get().relay
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=0.0, spacing=60.0, schedule="test-pause-queue")
    relay.pacer.reserve()  # the schedule's next slot is a minute away: the alert queues
    queued = stack.post(stack.alert(alert_id="queued-then-paused"))
    assert queued.status_code == 202
    switch(stack, "pause")
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=0.5, schedule="test-pause-send")
    result = services.get().queued_sender.send("id:queued-then-paused", time.time())
    assert result.outcome == "paused"
    services.get().sweeper.run(time.time() + 120)  # nor by the sweep
    assert stack.simulator.order_writes() == []
    assert state_of("id:queued-then-paused") == "paused"


def test_the_switch_needs_the_admin_key_and_names_a_bad_field(stack):
    no_key = stack.client.http.post("/pause", headers={"Content-Type": "application/json"}, body="{}")
    assert no_key.status_code == 401
    bad = switch(stack, "pause", strategy="x" * 41)
    assert bad.status_code == 400 and bad.json_body["detail"][0]["field"] == "strategy"
    unknown = switch(stack, "pause", everything="now")
    assert unknown.status_code == 400 and unknown.json_body["detail"][0]["field"] == "everything"
    assert stack.post(stack.alert()).json_body["status"] == "placed"  # none of these paused anything


def test_the_switch_answer_never_echoes_the_admin_key(stack, capfd):
    answer = stack.client.http.post("/pause", headers={"Content-Type": "application/json"},
                                    body=json.dumps({"admin_key": SEEDED_ADMIN_KEY}))
    assert answer.status_code == 200
    out, err = capfd.readouterr()
    assert SEEDED_ADMIN_KEY not in answer.body.decode() + out + err
    assert SEEDED_SECRET not in out + err
