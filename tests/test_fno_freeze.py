"""Orders at or above the exchange freeze limit, sent as child orders strictly below it: each
child its own ledger item, remarks tag and pacing slot, one answer listing every child, a
replay that sends nothing, a child whose outcome is unknown holding back the rest. Through the
relay and chalice.test.Client against moto (DynamoDB, SQS) and the simulator over HTTP."""

from __future__ import annotations

import dataclasses
import time

import boto3
import pytest

from chalicelib import services
from chalicelib.fno.lots import split_for_freeze
from chalicelib.pacing import WritePacer
from chalicelib.queued_sender import QueuedSender
from chalicelib.risk import day_counter
from local.openapi import request_errors
from tests import test_admission, test_fno_alerts
from tests.conftest import ORDERS_TABLE, STATE_TABLE
from tests.test_admission import receive
from tests.test_fno_alerts import alert, futures

# The F&O stack and the order queue, as their own modules build them.
fno = test_fno_alerts.fno
queue = test_admission.queue

FREEZE = 1800  # NIFTY's in the shipped table


def ledger_item(key):
    raw = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": key}}, ConsistentRead=True)
    return {name: next(iter(value.values())) for name, value in raw["Item"].items()}


def orders_counted_today():
    raw = boto3.client("dynamodb").get_item(TableName=STATE_TABLE, Key={"pk": {"S": f"count#{day_counter(time.time())}"}})
    return int(raw["Item"]["taken"]["N"]) if "Item" in raw else 0


def nifty(stack):
    return futures(stack.simulator, "NIFTY")[0]


def three_children(lot):
    """A quantity that needs three children below NIFTY's freeze limit."""
    largest = (FREEZE - 1) // lot * lot
    return 2 * largest + lot


def test_an_order_over_the_freeze_limit_goes_out_as_children_below_it(fno):
    future = nifty(fno)
    units = three_children(future.lot)
    expected = split_for_freeze(units, future.lot, FREEZE)
    assert len(expected) == 3
    response = fno.post(alert(symbol="NIFTY1!", exchange="NFO", quantity=units, alert_id="freeze-1"))
    body = response.json_body
    assert response.status_code == 200 and body["status"] == "split", body
    writes = fno.simulator.order_writes()
    assert [write.json["qty"] for write in writes] == list(expected)
    assert all(write.json["qty"] < FREEZE and write.json["qty"] % future.lot == 0 for write in writes)
    for write in writes:
        assert request_errors(write.method, write.path, write.json) == []
        assert write.json["security_id"] == future.security_id and write.json["segment"] == "DERIVATIVE"
    tags = [write.json["remarks"] for write in writes]
    parent_tag = tags[0].rsplit(":c", 1)[0]
    assert tags == [f"{parent_tag}:c{n}/3" for n in (1, 2, 3)]
    # One answer lists every child's outcome.
    assert [(c["child"], c["status"], c["qty"], c["remarks"]) for c in body["children"]] == \
        [(f"{n}/3", "placed", qty, tag) for n, qty, tag in zip((1, 2, 3), expected, tags, strict=True)]
    assert all(c["order_id"] for c in body["children"])
    assert body["freeze_limit"] == FREEZE and body["contract"]["qty_units"] == units
    # The ledger: one parent, never sent itself; each child its own item, placed.
    parent = ledger_item("id:freeze-1")
    assert (parent["state"], int(parent["children"]), int(parent["qty"])) == ("split", 3, units)
    assert "request" not in parent
    for child in body["children"]:
        item = ledger_item(child["key"])
        assert (item["state"], item["parent"], item["order_id"], int(item["qty"])) == \
            ("placed", "id:freeze-1", child["order_id"], child["qty"])
    assert orders_counted_today() == 3
    # The journal shows the parent and its children, each with the same keys.
    listed = {item["key"]: item for item in services.get().ledger.journal(limit=10)}
    assert listed["id:freeze-1"]["children"] == 3
    assert {listed[c["key"]]["parent"] for c in body["children"]} == {"id:freeze-1"}


def test_a_replay_of_a_split_order_sends_nothing_new(fno):
    units = three_children(nifty(fno).lot)
    first = fno.post(alert(symbol="NIFTY1!", quantity=units, alert_id="freeze-replay"))
    assert first.json_body["status"] == "split"
    writes = len(fno.simulator.order_writes())
    again = fno.post(alert(symbol="NIFTY1!", quantity=units, alert_id="freeze-replay"))
    assert again.status_code == 200 and again.json_body["status"] == "duplicate"
    assert again.json_body["state"] == "split"
    assert len(fno.simulator.order_writes()) == writes == 3
    assert orders_counted_today() == 3


def test_a_child_whose_write_times_out_is_reconciled_and_holds_back_the_rest(fno):
    units = three_children(nifty(fno).lot)
    fno.simulator.inject_fault("/order", "timeout", place=False, delay=3.0)
    response = fno.post(alert(symbol="NIFTY1!", quantity=units, alert_id="freeze-timeout"))
    body = response.json_body
    assert response.status_code == 504 and body["status"] == "split", body
    assert [c["status"] for c in body["children"]] == ["unknown", "held_back", "held_back"]
    assert "child 1/3 was unknown" in body["children"][1]["message"]
    assert len(fno.simulator.order_writes()) == 1  # the children after it were never sent
    first, *rest = body["children"]
    assert ledger_item(first["key"])["state"] == "unknown"
    assert [ledger_item(c["key"])["state"] for c in rest] == ["rejected", "rejected"]
    # The sweep reconciles the unknown child from the book and never resends anything.
    services.get().sweeper.run(time.time())
    services.get().sweeper.run(time.time() + 120)
    assert len(fno.simulator.order_writes()) == 1
    assert ledger_item(first["key"])["state"] == "absent"


def test_a_child_the_broker_rejects_holds_back_the_rest(fno):
    units = three_children(nifty(fno).lot)
    fno.simulator.inject_fault("/order", "rms_reject")
    response = fno.post(alert(symbol="NIFTY1!", quantity=units, alert_id="freeze-rms"))
    assert response.status_code == 422
    assert [c["status"] for c in response.json_body["children"]] == ["rejected", "held_back", "held_back"]
    assert len(fno.simulator.order_writes()) == 1


def test_children_without_a_slot_in_the_short_wait_go_through_the_queue_in_order(fno, queue):
    sqs, url = queue
    relay = services.get().relay
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=0.0, spacing=60.0, late_tolerance=30.0,
                             schedule="test-split-queue")  # a loaded machine is never late for the first slot
    units = three_children(nifty(fno).lot)
    response = fno.post(alert(symbol="NIFTY1!", quantity=units, alert_id="freeze-queued"))
    assert response.status_code == 202
    first, *children = response.json_body["children"]
    assert (first["status"], [c["status"] for c in children]) == ("placed", ["queued"] * 2)
    assert len(fno.simulator.order_writes()) == 1  # the next slot is 60 s away: the rest queue
    assert [ledger_item(c["key"])["state"] for c in children] == ["queued"] * 2
    # The queue holds them in order, and its consumer sends each once.
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=0.5, schedule="test-split-queue-send")
    sender = QueuedSender(relay, services.get().ledger, queue_max_age_seconds=300)
    for child in children:
        [key] = receive(sqs, url)
        assert key == child["key"]
        assert sender.send(key, time.time()).outcome == "placed"
        assert sender.send(key, time.time()).outcome == "skipped"  # a second delivery writes nothing
    assert receive(sqs, url) == []
    assert [w.json["remarks"] for w in fno.simulator.order_writes()] == [c["remarks"] for c in (first, *children)]


def test_a_split_that_does_not_fit_under_the_days_limit_is_refused_whole(fno):
    relay = services.get().relay
    relay.risk.limits = dataclasses.replace(relay.risk.limits, max_orders_per_day=3)
    lot = nifty(fno).lot
    assert fno.post(alert(symbol="NIFTY1!", quantity=lot)).json_body["status"] == "placed"
    response = fno.post(alert(symbol="NIFTY1!", quantity=three_children(lot), alert_id="freeze-limit"))
    assert response.status_code == 422 and response.json_body["error"] == "risk_limit"
    assert "3 child orders" in response.json_body["message"]
    assert len(fno.simulator.order_writes()) == 1 and orders_counted_today() == 1
    assert ledger_item("id:freeze-limit")["state"] == "rejected"
    # More than the whole day's limit at once is refused on a fresh day's counter too.
    relay.risk.limits = dataclasses.replace(relay.risk.limits, max_orders_per_day=2)
    boto3.client("dynamodb").delete_item(TableName=STATE_TABLE, Key={"pk": {"S": f"count#{day_counter(time.time())}"}})
    response = fno.post(alert(symbol="NIFTY1!", quantity=three_children(lot)))
    assert response.status_code == 422 and orders_counted_today() == 0


def test_more_than_twenty_children_is_refused_naming_the_largest_quantity(fno):
    lot = nifty(fno).lot
    per_child = (FREEZE - 1) // lot
    response = fno.post(alert(symbol="NIFTY1!", lots=21 * per_child))
    assert response.status_code == 400
    [problem] = response.json_body["detail"]
    assert problem["field"] == "lots" and "at most 20" in problem["message"]
    assert f"{20 * per_child * lot} units" in problem["message"]
    assert fno.simulator.order_writes() == []


@pytest.mark.parametrize("units_below", [True, False])
def test_just_below_the_limit_is_one_order_and_at_it_two(fno, units_below):
    lot = nifty(fno).lot
    units = (FREEZE - 1) // lot * lot if units_below else -(-FREEZE // lot) * lot
    response = fno.post(alert(symbol="NIFTY1!", quantity=units))
    assert response.json_body["status"] == ("placed" if units_below else "split")
    assert len(fno.simulator.order_writes()) == (1 if units_below else 2)
