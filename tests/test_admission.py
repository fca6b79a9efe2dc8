"""The warm path at its floor: one conditional write before the broker request, one after; the
queue path when that write cannot be applied; lanes keeping one instrument's writes in arrival
order. Through the relay object against moto (DynamoDB, SQS) and the simulator over HTTP."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from chalicelib import services
from chalicelib.order_queue import OrderQueue
from chalicelib.pacing import WRITE_SPACING, WritePacer
from chalicelib.relay import IncomingAlert
from tests.conftest import ORDERS_TABLE


def ledger_item(key):
    raw = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": key}}, ConsistentRead=True)["Item"]
    return {name: next(iter(value.values())) for name, value in raw.items()}


def post(stack, **fields):
    body = json.dumps(stack.alert(price="812.35", **fields)).encode()
    return services.get().relay.handle_alert(IncomingAlert(body, {}), now=time.time())


class DynamoCalls:
    """Every DynamoDB operation the relay's clients send, with its parameters and moment."""

    def __init__(self):
        self.calls = []

    def __call__(self, params, model, **_):  # the API parameters, before serialisation
        self.calls.append((model.name, params, time.monotonic()))

    def watch(self, *tables):
        for table in tables:
            table.client.meta.events.register("before-parameter-build.dynamodb.*", self)
        return self


def test_a_warm_alert_makes_one_transaction_before_the_broker_request_and_one_update_after(stack):
    relay = services.get().relay
    post(stack)  # warm: clients, token, instrument index
    time.sleep(WRITE_SPACING)  # its slot's spacing has passed: the schedule is free at once
    calls = DynamoCalls().watch(relay.ledger, relay.pacer._state, relay.switch)
    answer = post(stack, alert_id="floor-1")
    assert answer.status_code == 200 and answer.body["status"] == "placed"
    sent_at = stack.simulator.order_writes()[-1].received_at
    before = [(name, params) for name, params, at in calls.calls if at < sent_at]
    after = [name for name, _, at in calls.calls if at >= sent_at]
    assert [name for name, _ in before] == ["TransactWriteItems"] and after == ["UpdateItem"]
    operations = before[0][1]["TransactItems"]
    claim = operations[0]["Put"]
    assert claim["Item"]["key"] == {"S": "id:floor-1"} and claim["Item"]["state"] == {"S": "sent"}
    assert claim["Item"]["send_token"] == claim["Item"]["claim_token"]
    assert [next(iter(op)) for op in operations] == ["Put", "Update", "Update", "ConditionCheck", "ConditionCheck"]
    assert [op[next(iter(op))]["Key"]["pk"]["S"].split("#")[0] for op in operations[1:]] == \
        ["pace", "count", "lane", "switch"]  # the kill switch is checked inside the claim: no call of its own
    assert ledger_item("id:floor-1")["state"] == "placed"


def test_an_invocation_that_dies_before_its_request_leaves_sent_and_the_sweep_reports_it_absent(stack, monkeypatch):
    relay = services.get().relay

    def killed(*_args, **_kwargs):
        raise SystemExit("the function was stopped before its broker request")

    monkeypatch.setattr(relay.broker, "place", killed)
    with pytest.raises(SystemExit):
        post(stack, alert_id="died-1")
    assert ledger_item("id:died-1")["state"] == "sent" and stack.simulator.order_writes() == []
    monkeypatch.undo()
    assert post(stack, alert_id="died-1").body["status"] == "duplicate"  # never sent twice
    assert services.get().sweeper.run(time.time()).absent == []  # within the settle time: still open
    report = services.get().sweeper.run(time.time() + 61)
    assert report.absent == ["id:died-1"]
    assert ledger_item("id:died-1")["state"] == "absent" and stack.simulator.order_writes() == []


def test_a_duplicate_costs_no_broker_call_and_answers_the_first_copy(stack):
    first = post(stack, alert_id="dup-floor")
    again = post(stack, alert_id="dup-floor")
    assert first.body["status"] == "placed"
    assert again.status_code == 200 and again.body["status"] == "duplicate"
    assert again.body["order_id"] == first.body["order_id"]
    assert len(stack.simulator.order_writes()) == 1


def test_the_day_limit_in_the_transaction_refuses_and_records_the_alert(stack):
    relay = services.get().relay
    limits = relay.risk.limits
    relay.risk.limits = type(limits)(limits.max_order_qty, limits.max_order_value, 1)
    assert post(stack, alert_id="day-1").body["status"] == "placed"
    from chalicelib.errors import RiskLimitExceeded

    with pytest.raises(RiskLimitExceeded, match="MAX_ORDERS_PER_DAY"):
        post(stack, alert_id="day-2")
    assert ledger_item("id:day-2")["state"] == "rejected" and len(stack.simulator.order_writes()) == 1


@pytest.fixture
def queue(stack):
    """A FIFO order queue in moto, wired into the relay as the stack wires it."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="indstocks-relay-test-orders.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "5"})["QueueUrl"]
    services.get().relay.order_queue = OrderQueue(lambda: boto3.client("sqs"), url)
    return sqs, url


def receive(sqs, url):
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["MessageGroupId"]).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"])["key"] for message in messages]


def test_a_queued_alert_holds_its_instrument_so_the_next_one_queues_behind_it(stack, queue):
    sqs, url = queue
    relay, sender = services.get().relay, services.get().queued_sender
    assert post(stack, alert_id="lane-a").body["status"] == "placed"
    paced = relay.pacer
    relay.pacer = WritePacer(paced._state, max_wait_seconds=0.0, spacing=60.0, late_tolerance=30.0,
                             schedule="test-lane")  # a loaded machine is never late for the first slot
    post(stack, alert_id="lane-0")  # takes the only slot of this minute-apart schedule
    held = post(stack, alert_id="lane-b")
    assert held.status_code == 202 and held.body["status"] == "queued"
    relay.pacer = paced  # slots are free again, but SBIN has a write waiting
    behind = post(stack, alert_id="lane-c")
    assert behind.status_code == 202 and behind.body["status"] == "queued"
    other = post(stack, alert_id="lane-infy", symbol="NSE:INFY")
    assert other.status_code == 200 and other.body["status"] == "placed"  # another instrument is not held
    # The consumer takes them in arrival order (FIFO, one group per instrument).
    order = receive(sqs, url) + receive(sqs, url)
    assert order == ["id:lane-b", "id:lane-c"]
    assert [sender.send(key, time.time()).outcome for key in order] == ["placed", "placed"]
    assert sender.send("id:lane-b", time.time()).outcome == "skipped"  # a second delivery writes nothing
    remarks = [json.loads(w.body)["remarks"] for w in stack.simulator.order_writes()]
    assert remarks[-2:] == [ledger_item("id:lane-b")["remarks"], ledger_item("id:lane-c")["remarks"]]
    assert post(stack, alert_id="lane-d").body["status"] == "placed"  # the lane is free once drained


def test_an_alert_inside_the_previous_slots_spacing_takes_the_next_slot_within_the_short_wait(stack):
    """The schedule's next slot comes back with the cancelled transaction; the second one takes
    exactly that slot: no read, and the writes stay WRITE_SPACING apart."""
    relay = services.get().relay
    post(stack)
    time.sleep(WRITE_SPACING)
    calls = DynamoCalls().watch(relay.ledger)
    first, second = post(stack, alert_id="close-1"), post(stack, alert_id="close-2")
    assert (first.body["status"], second.body["status"]) == ("placed", "placed")
    assert [name for name, _, _ in calls.calls].count("GetItem") == 0
    writes = stack.simulator.order_writes()[-2:]
    assert writes[1].received_at - writes[0].received_at >= WRITE_SPACING - 0.02


def test_a_queued_alert_makes_two_transactions_and_one_queue_message(stack, queue):
    """The admission that found no slot, then claim + day count + lane hold in one transaction."""
    sqs, url = queue
    relay = services.get().relay
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=0.0, spacing=60.0, late_tolerance=30.0,
                             schedule="test-queued-calls")  # a loaded machine is never late for the first slot
    post(stack, alert_id="calls-0")  # takes the only slot of this minute-apart schedule
    calls = DynamoCalls().watch(relay.ledger, relay.pacer._state)
    answer = post(stack, alert_id="calls-1")
    assert answer.status_code == 202 and answer.body["status"] == "queued"
    assert [name for name, _, _ in calls.calls] == ["TransactWriteItems", "TransactWriteItems"]
    queued = calls.calls[1][1]["TransactItems"]
    assert queued[0]["Put"]["Item"]["state"] == {"S": "queued"}
    assert [op[next(iter(op))]["Key"]["pk"]["S"].split("#")[0] for op in queued[1:]] == ["count", "lane", "switch"]
    assert receive(sqs, url) == ["id:calls-1"]
    assert relay.risk.orders_today(time.time()) == 2


def test_the_day_limit_refuses_a_queued_alert_too(stack, queue):
    relay = services.get().relay
    limits = relay.risk.limits
    relay.risk.limits = type(limits)(limits.max_order_qty, limits.max_order_value, 1)
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=0.0, spacing=60.0, late_tolerance=30.0,
                             schedule="test-queued-limit")  # a loaded machine is never late for the first slot
    assert post(stack, alert_id="qlimit-0").body["status"] == "placed"
    from chalicelib.errors import RiskLimitExceeded

    with pytest.raises(RiskLimitExceeded, match="MAX_ORDERS_PER_DAY"):
        post(stack, alert_id="qlimit-1")
    assert ledger_item("id:qlimit-1")["state"] == "rejected"
    assert receive(*queue) == []
