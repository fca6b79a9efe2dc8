"""The promised burst, its limits and the quota preflight of `make deploy` (infra/limits.py,
infra/preflight.py): refused with what to request when the account cannot hold the
reservations, never half-way through CloudFormation."""

from __future__ import annotations

import json

import pytest

from infra import limits, preflight
from infra.preflight import Account, decide

# What the packaged prod template reserves today: the API function, four schedules and the
# order queue's consumer.
WANT = {"APIHandler": limits.stage_limits("prod").api_reserved, "MorningTokenRotation": 1,
        "PremarketTokenCheck": 1, "OrderSweep": 1, "KeepWarm": 1, "SendQueuedOrders": limits.consumer_concurrency()}
NEEDED = sum(WANT.values())


def test_the_hold_is_the_invocation_budget_and_the_burst_fills_the_function():
    prod = limits.stage_limits("prod")
    assert prod.hold_seconds == 28.0  # lambda_timeout 30, capped by API Gateway's 29, less 1 s
    assert prod.api_reserved == limits.BURST_ALERTS_PER_SECOND + limits.OTHER_REQUESTS
    assert prod.rate >= limits.BURST_ALERTS_PER_SECOND and prod.bucket >= limits.BURST_ALERTS_PER_SECOND


@pytest.mark.parametrize(("hold", "in_flight"), [
    (28.0, 100),   # today: every alert of the one-second burst is still held when the last arrives
    (0.3, 30),     # a queue answering after the ledger write: rate x hold, Little's law proper
    (90.0, 200),   # a hold longer than a bar: two bar closes' bursts overlap
])
def test_little_s_law_over_a_burst(hold, in_flight):
    assert limits.in_flight(100, hold) == in_flight


def test_a_new_account_with_ten_executions_is_refused_with_what_to_request():
    verdict = decide(Account(limit=10, unreserved=10, held_by_stack=0), WANT, WANT, "ap-south-1", "prod")
    assert not verdict.ok
    assert verdict.quota_needed == NEEDED + 100  # the reservations plus the 100 Lambda keeps unreserved
    message = verdict.message
    assert "nothing deployed" in message
    assert '"Concurrent executions"' in message and "L-B99A9384" in message and "ap-south-1" in message
    assert f"--desired-value {NEEDED + 100} --region ap-south-1" in message
    assert "quota in ap-south-1 is 10 concurrent executions, 10 unreserved" in message
    assert "RESERVED_CONCURRENCY=off make deploy STAGE=prod" in message


def test_the_default_quota_holds_the_reservations():
    assert decide(Account(1000, 1000, 0), WANT, WANT, "ap-south-1", "prod").ok


def test_a_redeploy_counts_the_stack_s_own_reservations_as_free():
    # the stack already holds its reservations: the update replaces them, it does not add to them
    assert decide(Account(1000, 1000 - NEEDED, NEEDED), WANT, WANT, "ap-south-1", "prod").ok
    # other functions of the account reserve 800: fewer than 100 would stay unreserved
    verdict = decide(Account(1000, 1000 - NEEDED - 800, NEEDED), WANT, WANT, "ap-south-1", "prod")
    assert not verdict.ok and verdict.quota_needed == 800 + NEEDED + 100


def test_exactly_a_hundred_left_unreserved_is_enough():
    assert decide(Account(NEEDED + 100, NEEDED + 100, 0), WANT, WANT, "ap-south-1", "prod").ok
    assert not decide(Account(NEEDED + 99, NEEDED + 99, 0), WANT, WANT, "ap-south-1", "prod").ok


def test_without_reservations_it_deploys_and_warns_when_the_burst_cannot_fit():
    small = decide(Account(10, 10, 0), {}, WANT, "ap-south-1", "prod")
    assert small.ok and small.message.startswith("WARNING") and "throttled" in small.message
    assert f"--desired-value {NEEDED + 100}" in small.message
    large = decide(Account(1000, 1000, 0), {}, WANT, "ap-south-1", "prod")
    assert large.ok and "WARNING" not in large.message


def test_the_template_s_reservations_are_what_the_preflight_counts():
    template = {"Resources": {
        "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {"ReservedConcurrentExecutions": 110}},
        "OrderSweep": {"Type": "AWS::Serverless::Function", "Properties": {"ReservedConcurrentExecutions": 1}},
        "SendQueuedOrders": {"Type": "AWS::Serverless::Function", "Properties": {"ReservedConcurrentExecutions": 10}},
        "Unreserved": {"Type": "AWS::Serverless::Function", "Properties": {}},
        "StateTable": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    }}
    assert preflight.reservations(template) == {"APIHandler": 110, "OrderSweep": 1, "SendQueuedOrders": 10}
    assert preflight.wanted(template, limits.stage_limits("prod")) == {
        "APIHandler": WANT["APIHandler"], "OrderSweep": 1, "SendQueuedOrders": 10, "Unreserved": 1}


def test_the_packaged_template_reserves_what_the_preflight_wants(tmp_path):
    """Every function of the built template, the consumer's share included, is in the arithmetic."""
    from infra.build import build

    template = build("prod", tmp_path, None)
    assert preflight.reservations(template) == WANT == preflight.wanted(template, limits.stage_limits("prod"))
    assert sum(WANT.values()) == limits.stage_limits("prod").api_reserved + 4 + limits.consumer_concurrency()


# --- the calls, against moto ------------------------------------------------------------------------


FUNCTION_STACK = {"Resources": {
    "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}},
    "Sweep": {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "python3.13", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Code": {"ZipFile": "def handler(event, context):\n    return None\n"}}},
}}


def test_the_stack_s_current_reservations_are_read_from_lambda(aws):
    import boto3

    cloudformation, lambda_client = boto3.client("cloudformation"), boto3.client("lambda")
    assert preflight.held_by_stack(lambda_client, cloudformation, "indstocks-relay-test") == 0  # no stack yet
    cloudformation.create_stack(StackName="indstocks-relay-test", TemplateBody=json.dumps(FUNCTION_STACK))
    [function] = [r["PhysicalResourceId"] for r in cloudformation.list_stack_resources(
        StackName="indstocks-relay-test")["StackResourceSummaries"] if r["ResourceType"] == "AWS::Lambda::Function"]
    assert preflight.held_by_stack(lambda_client, cloudformation, "indstocks-relay-test") == 0  # none reserved
    lambda_client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=7)
    assert preflight.held_by_stack(lambda_client, cloudformation, "indstocks-relay-test") == 7
