"""IAM covers every AWS call the functions make (AWS enforces it; moto does not).

`tests/aws_calls.py` records each (action, resource) the relay's code asks of AWS, across the
whole suite (checked at session end in conftest) and here, where one test drives every flow
itself so the check cannot pass on an empty record. This file also pins the evaluator down.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from tests import aws_calls
from tests.aws_calls import Call, Unmappable, allows, disallowed, required, to_prod
from tests.conftest import ADMIN_KEY_PARAMETER, SEEDED_ADMIN_KEY, SEEDED_MPIN, SEEDED_TOTP_SECRET, STATE_TABLE
from tests.test_dashboard_routes import dashboard_flow
from tests.test_ledger import queue_one
from tests.test_token_routes import NEW_TOKEN, post_json

REPO = Path(__file__).resolve().parents[1]
PROD_STATE = "arn:aws:dynamodb:ap-south-1:123456789012:table/indstocks-relay-prod-state"


def test_every_flow_s_aws_calls_are_allowed_by_the_prod_policy(stack):
    from chalicelib import services

    sns = boto3.client("sns")
    topic = sns.create_topic(Name="indstocks-relay-test-alerts")["TopicArn"]
    services.install(services.build(stack.settings.model_copy(update={"alerts_topic_arn": topic})))
    for name, value in ((stack.settings.client_id_parameter, "CLIENT-123"), (stack.settings.mpin_parameter, SEEDED_MPIN),
                        (stack.settings.totp_secret_parameter, SEEDED_TOTP_SECRET)):
        stack.ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    stack.simulator.configure_generation(client_id="CLIENT-123", mpin=SEEDED_MPIN, totp_secret=SEEDED_TOTP_SECRET)
    stack.simulator.add_token(NEW_TOKEN)
    admin = {"X-Admin-Key": SEEDED_ADMIN_KEY}

    with aws_calls.recorder.recording() as calls:
        assert stack.post(stack.alert()).json_body["status"] == "placed"  # webhook
        assert stack.post(stack.alert(mode="paper")).json_body["mode"] == "paper"  # paper: its book in the state table
        key = queue_one(stack, "iam-queued")
        assert services.get().sweeper.run(time.time()).sent == [key]  # sweep: lock, send, release, announce
        assert stack.client.http.get("/orders", headers=admin).status_code == 200  # journal
        assert post_json(stack, "/token", {"admin_key": SEEDED_ADMIN_KEY, "token": NEW_TOKEN}).status_code == 200
        assert post_json(stack, "/token/rotate", {"admin_key": SEEDED_ADMIN_KEY}).status_code == 200
        event = stack.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
        assert "healthy" in json.dumps(stack.client.lambda_.invoke("premarket_token_check", event).payload)
        dashboard_flow(stack)  # sign-in (creates its secret), a view, pause, resume, sign out everywhere
        for _ in range(6):  # wrong admin keys until the lockout
            answer = stack.client.http.get("/orders", headers={"X-Admin-Key": "wrong-admin-key-000"})
        assert answer.status_code == 429

    operations = {call.operation for call in calls}
    assert {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "GetParameter", "PutParameter", "Publish"} <= operations
    assert any(call.action == "dynamodb:Query" and "/index/" in call.resource for call in calls)
    assert disallowed(calls) == []


def test_the_recorder_keeps_the_relay_s_calls_and_not_the_tests_own(stack):
    from chalicelib.state import StateTable

    with aws_calls.recorder.recording() as calls:
        boto3.client("ssm").get_parameter(Name=ADMIN_KEY_PARAMETER)  # a test's own call: not the relay's
        StateTable(lambda: boto3.client("dynamodb"), STATE_TABLE).release("job", "me")
    assert calls == {Call("dynamodb:DeleteItem", f"arn:aws:dynamodb:ap-south-1:123456789012:table/{STATE_TABLE}",
                          "DeleteItem")}


def test_a_policy_without_delete_item_fails_the_lock_release():
    release = Call("dynamodb:DeleteItem", f"arn:aws:dynamodb:ap-south-1:123456789012:table/{STATE_TABLE}", "DeleteItem")
    assert disallowed([release]) == []
    policy = aws_calls.prod_policy()
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != "dynamodb:DeleteItem"] or ["none:None"]
    assert disallowed([release], policy) == [
        f"dynamodb:DeleteItem on {PROD_STATE} (DeleteItem) is not allowed by policy-prod.json"]


def test_delete_item_is_granted_on_the_state_table_only():
    policy = aws_calls.prod_policy()
    assert allows(policy, "dynamodb:DeleteItem", PROD_STATE)
    assert not allows(policy, "dynamodb:DeleteItem", PROD_STATE.replace("-state", "-orders"))


# --- the evaluator and the deriver -----------------------------------------------------------------

POLICY = {"Statement": [
    {"Effect": "Allow", "Action": ["dynamodb:Get*", "ssm:GetParameter"],
     "Resource": ["arn:aws:dynamodb:*:*:table/t", "arn:aws:ssm:*:*:parameter/p/*"]},
    {"Effect": "Deny", "Action": "ssm:*", "Resource": "arn:aws:ssm:*:*:parameter/p/secret"},
    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
     "Condition": {"StringLike": {"kms:ViaService": "sns.*.amazonaws.com"}}},
    {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*",
     "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
    {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
    {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "execute-api:/*/POST/webhook",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["52.89.214.238/32", "10.0.0.0/8"]}}},
]}
TABLE = "arn:aws:dynamodb:ap-south-1:1:table/t"


@pytest.mark.parametrize(("action", "resource", "context", "expected"), [
    ("dynamodb:GetItem", TABLE, None, True),
    ("DynamoDB:getitem", TABLE, None, True),  # actions are case-insensitive
    ("dynamodb:PutItem", TABLE, None, False),
    ("dynamodb:GetItem", TABLE + "/index/i", None, False),  # an index is its own resource
    ("dynamodb:GetItem", "arn:aws:dynamodb:ap-south-1:1:table/T", None, False),  # ARNs are not
    ("ssm:GetParameter", "arn:aws:ssm:ap-south-1:1:parameter/p/a/b", None, True),
    ("ssm:GetParameter", "arn:aws:ssm:ap-south-1:1:parameter/p/secret", None, False),  # Deny wins
    ("kms:Decrypt", "arn:aws:kms:ap-south-1:1:key/k", {"kms:ViaService": "sns.ap-south-1.amazonaws.com"}, True),
    ("kms:Decrypt", "arn:aws:kms:ap-south-1:1:key/k", {"kms:ViaService": "ssm.ap-south-1.amazonaws.com"}, False),
    ("kms:Decrypt", "arn:aws:kms:ap-south-1:1:key/k", None, False),
    ("sns:Publish", "arn:aws:sns:ap-south-1:1:topic", {"aws:CurrentTime": "2030-01-01T00:00:00Z"}, False),  # unknown: no Allow
    ("execute-api:Invoke", "execute-api:/api/POST/webhook", {"aws:SourceIp": "52.89.214.238"}, True),
    ("execute-api:Invoke", "execute-api:/api/POST/webhook", {"aws:SourceIp": "10.1.2.3"}, True),
    ("execute-api:Invoke", "execute-api:/api/POST/webhook", {"aws:SourceIp": "203.0.113.7"}, False),
    ("execute-api:Invoke", "execute-api:/api/POST/webhook/signed", {"aws:SourceIp": "203.0.113.7"}, True),
])
def test_the_evaluator(action, resource, context, expected):
    assert allows(POLICY, action, resource, context) is expected


def test_the_deriver_names_each_resource_aws_checks():
    region = "ap-south-1"
    assert required("dynamodb", "Query", {"TableName": "o", "IndexName": "open"}, region) == [
        Call("dynamodb:Query", "arn:aws:dynamodb:ap-south-1:123456789012:table/o/index/open", "Query")]
    assert [c.action for c in required("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}]}, region)] == [
        "dynamodb:PutItem", "dynamodb:ConditionCheckItem"]
    assert required("ssm", "GetParameter", {"Name": "/x/y"}, region)[0].resource == "arn:aws:ssm:ap-south-1:123456789012:parameter/x/y"
    assert required("sns", "Publish", {"TopicArn": "arn:aws:sns:r:a:t"}, region)[0].resource == "arn:aws:sns:r:a:t"
    with pytest.raises(Unmappable):
        required("dynamodb", "DeleteTable", {"TableName": "t"}, region)


def test_only_the_test_stage_s_names_become_prod_s():
    assert to_prod("arn:aws:dynamodb:r:a:table/indstocks-relay-test-orders/index/open").endswith(
        "table/indstocks-relay-prod-orders/index/open")
    assert to_prod("arn:aws:ssm:r:a:parameter/indstocks-relay/test/x").endswith("parameter/indstocks-relay/prod/x")
    assert to_prod("arn:aws:sns:r:a:relay-alerts").endswith(":indstocks-relay-prod-alerts")
    # The local stage's (a test running a schedule of `make run`'s stack in-process) too.
    assert to_prod("arn:aws:dynamodb:r:a:table/indstocks-relay-local-state").endswith("table/indstocks-relay-prod-state")
    unmapped = Call("dynamodb:GetItem", "arn:aws:dynamodb:r:a:table/indstocks-relay-testing-state", "GetItem")
    assert disallowed([unmapped])  # a name that is not the test stage's is refused, not waved through


def test_the_dev_policy_is_the_prod_policy_for_its_stage():
    prod = (REPO / ".chalice" / "policy-prod.json").read_text()
    dev = (REPO / ".chalice" / "policy-dev.json").read_text()
    assert dev == prod.replace("indstocks-relay/prod/", "indstocks-relay/dev/").replace("indstocks-relay-prod-", "indstocks-relay-dev-")


def test_a_call_whose_resource_cannot_be_derived_fails_the_check(dynamodb):
    from chalicelib.state import DynamoTable

    recorder = aws_calls.Recorder()
    client = boto3.client("dynamodb")
    client.meta.events.unregister("before-parameter-build", aws_calls.recorder)  # only this test's recorder
    client.meta.events.register("before-parameter-build", recorder)
    DynamoTable(lambda: client, STATE_TABLE)._call("describe_time_to_live")  # the relay's code, an unmapped operation
    assert recorder.calls == set()
    assert recorder.problems() == ["dynamodb:DescribeTimeToLive: cannot derive its IAM resource"]


# --- the order queue: the webhook sends to it, the consumer's calls are its own role's ------------


def test_the_queue_s_sender_and_consumer_each_need_only_their_own_role(stack):
    """A queued alert through the webhook (SendMessage, with the API function's role), then its
    message through the consumer handler as Lambda's event source delivers it (the consumer's
    role): every call each one makes is allowed by its own function's policy, not only by the
    union. The event source's own SQS calls are checked in test_infra against the template."""
    from chalicelib import services

    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="indstocks-relay-test-orders.fifo",
                             Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"})["QueueUrl"]
    services.install(services.build(stack.settings.model_copy(update={"order_queue_url": queue})))

    with aws_calls.recorder.recording() as webhook_calls:
        key = queue_one(stack, "iam-via-the-queue")
    assert any(call.action == "sqs:SendMessage" for call in webhook_calls)
    assert disallowed(webhook_calls, aws_calls.role_policy("ApiHandlerRole"), "ApiHandlerRole") == []

    [message] = sqs.receive_message(QueueUrl=queue, AttributeNames=["All"]).get("Messages", [])
    event = stack.client.events.generate_sqs_event(message_bodies=[message["Body"]], queue_name="indstocks-relay-test-orders.fifo")
    with aws_calls.recorder.recording() as consumer_calls:
        result = stack.client.lambda_.invoke("send_queued_orders", event).payload
    assert result["results"] == [{"key": key, "outcome": "placed"}], result
    assert {"GetItem", "UpdateItem"} <= {call.operation for call in consumer_calls}
    assert disallowed(consumer_calls, aws_calls.role_policy("SendQueuedOrdersRole"), "SendQueuedOrdersRole") == []
    # and the split is real: only the consumer's role may take messages off the queue
    received = [Call("sqs:ReceiveMessage", call.resource, "ReceiveMessage") for call in webhook_calls
                if call.action == "sqs:SendMessage"]
    assert received and disallowed(received, aws_calls.role_policy("ApiHandlerRole"))
    assert disallowed(received, aws_calls.role_policy("OrderSweepRole"))
    assert disallowed(received, aws_calls.role_policy("SendQueuedOrdersRole")) == []


def test_the_deriver_names_the_queue_from_its_url_and_maps_the_test_queue_onto_prod_s():
    url = "http://127.0.0.1:5000/123456789012/indstocks-relay-test-orders.fifo"
    [call] = required("sqs", "SendMessageBatch", {"QueueUrl": url}, "ap-south-1")
    assert call == Call("sqs:SendMessage", "arn:aws:sqs:ap-south-1:123456789012:indstocks-relay-test-orders.fifo",
                        "SendMessageBatch")
    assert to_prod(call.resource) == "arn:aws:sqs:ap-south-1:123456789012:indstocks-relay-prod-orders.fifo"
    assert disallowed([call]) == []
    assert disallowed([Call("sqs:ReceiveMessage", call.resource, "ReceiveMessage")], aws_calls.role_policy("KeepWarmRole"))
    other = Call("sqs:SendMessage", "arn:aws:sqs:ap-south-1:123456789012:indstocks-relay-test-orders-dead.fifo", "SendMessage")
    assert disallowed([other])
