"""The CloudFormation the relay deploys, checked offline: static egress IP retained, every
function in the VPC, the TradingView allowlist, least privilege, retention, throttling, alarms,
saved queries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.build import TRADINGVIEW_IPS, UNUSED_LIBRARY_PARTS, allowed_ips, build

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    out = tmp_path_factory.mktemp("prod")
    return build("prod", out, TRADINGVIEW_IPS, api_allowlist=API_ALLOWED)


API_ALLOWED = ["198.51.100.0/24"]  # the trader's own machines (API_ALLOWED_IPS), for OpenAlgo's paths


@pytest.fixture(scope="module")
def network():
    return yaml.safe_load((REPO / "infra" / "network.yaml").read_text())


def of_type(template, kind):
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def test_one_retained_elastic_ip_behind_the_nat(network):
    eip = network["Resources"]["EgressIp"]
    assert eip["Type"] == "AWS::EC2::EIP"
    assert eip["DeletionPolicy"] == "Retain" and eip["UpdateReplacePolicy"] == "Retain"
    nat = network["Resources"]["NatGateway"]["Properties"]
    assert nat["AllocationId"]["Fn::If"][1] == {"Fn::GetAtt": ["EgressIp", "AllocationId"]}
    assert nat["AllocationId"]["Fn::If"][2] == {"Ref": "ExistingEipAllocationId"}
    assert network["Resources"]["NatInstance"]["Properties"]["SourceDestCheck"] is False
    assert network["Parameters"]["EgressMode"]["AllowedValues"] == ["nat-gateway", "nat-instance"]
    assert network["Outputs"]["EgressIp"]["Export"]
    # a reused EIP's address cannot be output; its allocation is, for the CLI and deploy to resolve
    assert network["Outputs"]["EgressAllocationId"]["Value"]["Fn::If"][2] == {"Ref": "ExistingEipAllocationId"}


def test_lambda_security_group_has_no_ingress_and_https_out_only(network):
    group = network["Resources"]["LambdaSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert [(rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in group["SecurityGroupEgress"]] == [("tcp", 443, 443)]


def test_two_private_subnets_in_two_zones_route_through_the_nat(network):
    resources = network["Resources"]
    zones = [resources[name]["Properties"]["AvailabilityZone"]["Fn::Select"][0] for name in ("PrivateSubnetA", "PrivateSubnetB")]
    assert zones == [0, 1]
    route = resources["PrivateDefaultRoute"]["Properties"]
    assert route["DestinationCidrBlock"] == "0.0.0.0/0" and "NatGatewayId" in route
    assert resources["DynamoDbEndpoint"]["Properties"]["VpcEndpointType"] == "Gateway"


def test_every_function_runs_in_the_vpc(app):
    functions = of_type(app, "AWS::Serverless::Function")
    assert set(functions) == {"APIHandler", "MorningTokenRotation", "PremarketTokenCheck", "OrderSweep", "KeepWarm", "SendQueuedOrders"}
    for function in functions.values():
        vpc = function["Properties"]["VpcConfig"]
        assert vpc["SubnetIds"] == [{"Fn::ImportValue": "indstocks-relay-prod-PrivateSubnetA"},
                                    {"Fn::ImportValue": "indstocks-relay-prod-PrivateSubnetB"}]
        assert vpc["SecurityGroupIds"] == [{"Fn::ImportValue": "indstocks-relay-prod-LambdaSecurityGroup"}]
        assert function["Properties"]["ReservedConcurrentExecutions"] >= 1


def test_webhook_only_from_tradingview_while_token_stays_open(app):
    policy = app["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-policy"]
    allow, deny, _openalgo_paths = policy["Statement"]
    assert allow["Effect"] == "Allow" and allow["Resource"] == "execute-api:/*"
    assert deny["Effect"] == "Deny" and deny["Resource"] == "execute-api:/*/POST/webhook"
    assert deny["Condition"]["NotIpAddress"]["aws:SourceIp"] == [
        "52.89.214.238/32", "34.212.75.30/32", "54.218.53.128/32", "52.32.178.7/32"]


def test_allowlist_can_be_turned_off(tmp_path):
    template = build("dev", tmp_path, None)
    assert "x-amazon-apigateway-policy" not in template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]


def test_regional_endpoint_throttling_and_bodiless_access_logs(app):
    api = app["Resources"]["RestAPI"]["Properties"]
    assert api["EndpointConfiguration"] == "REGIONAL" or api["EndpointConfiguration"]["Type"] == "REGIONAL"
    [settings] = api["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    assert settings["DataTraceEnabled"] is False
    assert "requestBody" not in api["AccessLogSetting"]["Format"] and "$context.requestId" in api["AccessLogSetting"]["Format"]


def burst_outcome(rate_limit, bucket, reserved, hold, alerts, spread, bursts=2, bar=60.0):
    """`bursts` bar closes of `alerts` alerts spread evenly over `spread` seconds: API Gateway's
    token bucket (full at the start), then Lambda's reserved concurrency with every admitted
    invocation holding its slot for `hold` seconds. Returns (429s, Lambda throttles)."""
    arrivals = sorted(b * bar + (i * spread / alerts if alerts > 1 else 0) for b in range(bursts) for i in range(alerts))
    tokens, last, running, refused, throttled = float(bucket), 0.0, [], 0, 0
    for t in arrivals:
        tokens, last = min(float(bucket), tokens + (t - last) * rate_limit), t
        if tokens < 1:
            refused += 1
            continue
        tokens -= 1
        running = [end for end in running if end > t]
        if len(running) >= reserved:
            throttled += 1
            continue
        running.append(t + hold)
    return refused, throttled


def test_the_packaged_limits_admit_the_promised_burst(app):
    """A bar close fires the whole watchlist inside one second; TradingView does not retry, so
    neither API Gateway (429) nor Lambda (a throttle, which API Gateway answers 500) may refuse one."""
    from chalicelib.deadline import hard_budget
    from infra import limits

    rate, seconds = limits.BURST_ALERTS_PER_SECOND, limits.BURST_SECONDS
    [settings] = app["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    assert settings["ResourcePath"] == "/*" and settings["HttpMethod"] == "*"
    assert settings["ThrottlingRateLimit"] >= rate and settings["ThrottlingBurstLimit"] >= rate * seconds
    handler = app["Resources"]["APIHandler"]["Properties"]
    hold = hard_budget(handler["Timeout"])  # the deployed timeout bounds how long an invocation holds its slot
    assert hold < limits.BAR_SECONDS  # so one bar close's burst has left before the next arrives
    assert handler["ReservedConcurrentExecutions"] >= rate * min(hold, seconds)  # Little's law over the burst
    for name, function in of_type(app, "AWS::Serverless::Function").items():
        if name not in ("APIHandler", "SendQueuedOrders"):
            assert function["Properties"]["ReservedConcurrentExecutions"] == 1  # schedules: one at a time
    limits_now = (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"], handler["ReservedConcurrentExecutions"])
    for spread in (0.0, 0.5, seconds):  # all at once, or over the whole second, two bar closes in a row
        assert burst_outcome(*limits_now, hold, rate, spread) == (0, 0)
    # the limits before (10 rps, bucket 20, 10 reserved): 40 of 50 lost, whether at once or over the second
    assert burst_outcome(10, 20, 10, hold, 50, 0.0, bursts=1) == (30, 10)
    assert burst_outcome(10, 20, 10, hold, 50, 1.0, bursts=1) == (21, 19)


def test_the_limits_follow_the_promise(tmp_path, monkeypatch):
    from infra import limits

    monkeypatch.setattr(limits, "BURST_ALERTS_PER_SECOND", 250)
    template = build("dev", tmp_path, None)
    [settings] = template["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    assert settings["ThrottlingRateLimit"] >= 250 and settings["ThrottlingBurstLimit"] >= 250
    assert template["Resources"]["APIHandler"]["Properties"]["ReservedConcurrentExecutions"] >= 250
    assert template["Resources"]["OrderSweep"]["Properties"]["ReservedConcurrentExecutions"] == 1


def test_an_account_without_room_for_reservations_can_deploy_without_them(tmp_path):
    template = build("dev", tmp_path, None, reserved_concurrency=False)
    functions = of_type(template, "AWS::Serverless::Function")
    assert functions and not any("ReservedConcurrentExecutions" in f["Properties"] for f in functions.values())
    assert template["Resources"]["RestAPI"]["Properties"]["MethodSettings"][0]["ThrottlingBurstLimit"] >= 100


def test_every_log_group_keeps_30_days(app):
    groups = of_type(app, "AWS::Logs::LogGroup")
    for function in of_type(app, "AWS::Serverless::Function"):
        assert groups[f"{function}LogGroup"]["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    assert "ApiHandlerLogGroup" not in app["Resources"]  # Chalice issue 2079's broken name is gone
    assert {group["Properties"]["RetentionInDays"] for group in groups.values()} == {30}


def test_tables_topic_alarms_and_saved_queries(app):
    tables = of_type(app, "AWS::DynamoDB::Table")
    assert {t["Properties"]["TableName"] for t in tables.values()} == {"indstocks-relay-prod-state", "indstocks-relay-prod-orders"}
    for table in tables.values():
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert of_type(app, "AWS::SNS::Topic")
    alarms = of_type(app, "AWS::CloudWatch::Alarm")
    for expected in ("OrdersUnknownAlarm", "OrdersAbsentAlarm", "OrdersRejectedAlarm", "TokenStaleAlarm", "Api5xxAlarm",
                     "APIHandlerErrorsAlarm", "APIHandlerThrottlesAlarm"):
        assert expected in alarms
    queries = {q["Properties"]["Name"] for q in of_type(app, "AWS::Logs::QueryDefinition").values()}
    for name in ("today", "rejections", "unknown", "slow", "auth", "token"):
        assert f"indstocks-relay-prod/{name}" in queries


def test_functions_know_their_tables_and_topic(app):
    variables = app["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["STATE_TABLE"] == {"Ref": "StateTable"} and variables["ORDERS_TABLE"] == {"Ref": "OrdersTable"}
    assert variables["ALERTS_TOPIC_ARN"] == {"Ref": "AlertsTopic"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_policies_have_no_wildcard_ssm_or_dynamodb_resources(stage):
    policy = json.loads((REPO / ".chalice" / f"policy-{stage}.json").read_text())
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        services = {action.split(":")[0] for action in statement["Action"]}
        if services & {"ssm", "dynamodb", "sns", "logs"}:
            assert all(resource != "*" for resource in resources), statement
            assert all(f"indstocks-relay/{stage}/" in r or f"indstocks-relay-{stage}-" in r for r in resources), statement
        if "*" in resources:
            assert services == {"ec2"}, statement  # only the VPC network-interface actions


def test_the_app_uses_the_hand_written_policy(app):
    config = json.loads((REPO / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    roles = of_type(app, "AWS::IAM::Role")
    assert roles
    for role in roles.values():
        statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
        assert not any(s.get("Resource") == "*" and any(a.startswith(("ssm:", "dynamodb:")) for a in s["Action"])
                       for s in statements)


def test_packaging_interpreter_decides_the_runtime(app):
    runtime = app["Resources"]["APIHandler"]["Properties"]["Runtime"]
    assert runtime.startswith("python3.")
    assert app["Resources"]["APIHandler"]["Properties"]["Architectures"] == ["x86_64"]


# --- alarms reach the topic (a customer-managed key CloudWatch may use) -----------------------------


def resolved(value, logical_ids=()):
    """A policy value with the few intrinsics the template uses, as AWS would see it in ap-south-1."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return (value["Fn::Sub"].replace("${AWS::Region}", "ap-south-1").replace("${AWS::AccountId}", "123456789012")
                .replace("${AWS::Partition}", "aws"))
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"arn:aws:iam::123456789012:role/{value['Fn::GetAtt'][0]}"
    if isinstance(value, list):
        return [resolved(v) for v in value]
    if isinstance(value, dict):
        return {k: resolved(v) for k, v in value.items()}
    return value


def key_allows(key_policy, principal, action, context=None):
    """The key policy's verdict for one principal ({"Service": …} or {"AWS": arn})."""
    from tests.aws_calls import allows

    (kind, who), = principal.items()
    statements = [s for s in resolved(key_policy)["Statement"]
                  if who in (s["Principal"].get(kind) if isinstance(s["Principal"].get(kind), list) else [s["Principal"].get(kind)])]
    return bool(statements) and allows({"Statement": statements}, action, "*", context)


def test_the_alerts_topic_uses_a_rotated_customer_key_that_cloudwatch_can_use(app):
    resources = app["Resources"]
    topic = resources["AlertsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlertsKey"}  # not alias/aws/sns, which no alarm can use
    key = resources["AlertsKey"]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    policy = key["Properties"]["KeyPolicy"]
    root = {"AWS": "arn:aws:iam::123456789012:root"}
    assert key_allows(policy, root, "kms:ScheduleKeyDeletion") and key_allows(policy, root, "kms:PutKeyPolicy")
    cloudwatch = {"Service": "cloudwatch.amazonaws.com"}
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert key_allows(policy, cloudwatch, action)
    assert not key_allows(policy, cloudwatch, "kms:ScheduleKeyDeletion")
    alias = resources["AlertsKeyAlias"]["Properties"]
    assert alias == {"AliasName": "alias/indstocks-relay-prod-alerts", "TargetKeyId": {"Ref": "AlertsKey"}}
    for alarm in of_type(app, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_every_function_may_publish_to_the_encrypted_topic(app):
    from tests.aws_calls import allows

    resources = app["Resources"]
    policy = resources["AlertsKey"]["Properties"]["KeyPolicy"]
    via_sns, via_ssm = {"kms:ViaService": "sns.ap-south-1.amazonaws.com"}, {"kms:ViaService": "ssm.ap-south-1.amazonaws.com"}
    roles = {res["Properties"]["Role"]["Fn::GetAtt"][0] for res in of_type(app, "AWS::Serverless::Function").values()}
    assert roles == set(of_type(app, "AWS::IAM::Role"))
    key_arn = "arn:aws:kms:ap-south-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    alias = {"kms:ResourceAliases": ["alias/indstocks-relay-prod-alerts"]}
    for role in roles:
        principal = {"AWS": f"arn:aws:iam::123456789012:role/{role}"}
        for action in ("kms:Decrypt", "kms:GenerateDataKey"):
            assert key_allows(policy, principal, action, via_sns)  # the key policy admits the role via SNS
            assert not key_allows(policy, principal, action, via_ssm)
            statements = [s for p in resources[role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
            assert allows({"Statement": statements}, action, key_arn, {**via_sns, **alias})  # and so does its own policy
        assert allows({"Statement": statements}, "sns:Publish", "arn:aws:sns:ap-south-1:123456789012:indstocks-relay-prod-alerts")


# --- signed senders from anywhere, TradingView's path locked ----------------------------------------


@pytest.mark.parametrize(("path", "source_ip", "admitted"), [
    ("/api/POST/webhook", "52.89.214.238", True),
    ("/api/POST/webhook", "203.0.113.7", False),
    ("/api/POST/webhook/signed", "203.0.113.7", True),
    ("/api/POST/webhook/signed", "52.89.214.238", True),
    ("/api/GET/token", "203.0.113.7", True),
    ("/api/POST/token", "203.0.113.7", True),
    ("/api/GET/dashboard", "203.0.113.7", True),  # the trader's phone, from any network
    ("/api/POST/dashboard", "203.0.113.7", True),
])
def test_the_resource_policy_locks_webhook_to_tradingview_and_leaves_the_signed_route_open(app, path, source_ip, admitted):
    from tests.aws_calls import allows

    policy = app["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-policy"]
    assert allows(policy, "execute-api:Invoke", f"execute-api:{path}", {"aws:SourceIp": source_ip}) is admitted


@pytest.mark.parametrize(("path", "source_ip", "admitted"), [
    ("/api/POST/api/v1/placeorder", "198.51.100.7", True),  # listed in API_ALLOWED_IPS
    ("/api/POST/api/v1/placesmartorder", "52.89.214.238", True),  # TradingView (OpenAlgo's TradingView templates)
    ("/api/POST/api/v1/cancelallorder", "198.51.100.250", True),
    ("/api/POST/api/v1/placeorder", "203.0.113.7", False),
    ("/api/POST/api/v1/closeposition", "203.0.113.7", False),
    ("/api/POST/webhook", "198.51.100.7", False),  # the listed IPs open OpenAlgo's paths only
    ("/api/POST/webhook/signed", "198.51.100.7", True),
])
def test_openalgo_paths_admit_tradingview_and_the_listed_ips_only(app, path, source_ip, admitted):
    from tests.aws_calls import allows

    policy = app["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-policy"]
    assert allows(policy, "execute-api:Invoke", f"execute-api:{path}", {"aws:SourceIp": source_ip}) is admitted


def test_openalgo_paths_are_deployed_and_api_allowed_ips_reads_addresses_and_cidrs(app):
    paths = app["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    for endpoint in ("placeorder", "placesmartorder", "optionsorder", "closeposition", "cancelallorder"):
        assert set(paths[f"/api/v1/{endpoint}"]) >= {"post"}
    assert allowed_ips("") == []
    assert allowed_ips(" 203.0.113.7, 198.51.100.0/24 ") == ["203.0.113.7/32", "198.51.100.0/24"]
    with pytest.raises(ValueError):
        allowed_ips("203.0.113.7/33")


def test_without_api_allowed_ips_openalgo_paths_admit_tradingview_only():
    from infra.build import resource_policy
    from tests.aws_calls import allows

    policy = resource_policy(TRADINGVIEW_IPS, [])
    for source_ip, admitted in (("52.89.214.238", True), ("198.51.100.7", False)):
        context = {"aws:SourceIp": source_ip}
        assert allows(policy, "execute-api:Invoke", "execute-api:/api/POST/api/v1/placeorder", context) is admitted


def test_the_signed_route_is_deployed_with_the_webhook_s_content_types(app):
    paths = app["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert set(paths["/webhook/signed"]) >= {"post"} and set(paths["/webhook"]) >= {"post"}
    assert paths["/webhook/signed"]["post"]["consumes"] == paths["/webhook"]["post"]["consumes"]
    assert "webhook/signed" in app["Outputs"]["SignedWebhookUrl"]["Value"]["Fn::Sub"]
    assert app["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"].endswith("/api/dashboard")


def test_checkov_sees_every_justified_skip_as_a_skip_with_its_reason(tmp_path):
    """infra/lint.sh scans these copies, so checkov's summary counts the skips it did not run."""
    import subprocess
    import sys

    from infra.checkov_skips import SKIPS

    original = (REPO / "infra" / "network.yaml").read_text()
    printed = subprocess.run([sys.executable, "infra/checkov_skips.py", str(tmp_path), "infra/network.yaml"], cwd=REPO,
                             check=True, capture_output=True, text=True).stdout.split()
    assert printed == [str(tmp_path / "network.json")]
    copy = json.loads((tmp_path / "network.json").read_text())
    assert (REPO / "infra" / "network.yaml").read_text() == original
    for resource in copy["Resources"].values():
        skips = {skip["id"]: skip["comment"] for skip in resource["Metadata"]["checkov"]["skip"]}
        assert skips == SKIPS and all(len(reason) > 20 for reason in skips.values())
    without = {name: {k: v for k, v in res.items() if k != "Metadata"} for name, res in copy["Resources"].items()}
    assert without == {name: {k: v for k, v in res.items() if k != "Metadata"}
                       for name, res in yaml.safe_load(original)["Resources"].items()}


def test_the_keep_warm_schedule_gets_the_api_s_health_route_and_needs_no_iam(app):
    """A schedule is its own Lambda function: it keeps APIHandler warm only by reaching it, here
    through API Gateway's /health (no lambda:InvokeFunction to grant, none granted)."""
    function = app["Resources"]["KeepWarm"]["Properties"]
    assert function["Handler"] == "app.keep_warm"
    assert function["Events"]["KeepWarmEvent"]["Properties"]["Schedule"] == "cron(0/5 3-10 ? * MON-FRI *)"
    assert function["Environment"]["Variables"]["KEEP_WARM_URL"] == {
        "Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.amazonaws.com/api/health"}
    assert "/health" in app["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    # the resource policy denies only POST /webhook from outside TradingView (and OpenAlgo's POST
    # paths from outside TradingView and API_ALLOWED_IPS): GET /health is open
    denied = [s["Resource"] for s in app["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-policy"]["Statement"]
              if s["Effect"] == "Deny"]
    assert denied == ["execute-api:/*/POST/webhook", "execute-api:/*/POST/api/v1/*"]
    for policy_file in ("policy-prod.json", "policy-dev.json"):
        policy = json.loads((REPO / ".chalice" / policy_file).read_text())
        assert not any("lambda:" in action for statement in policy["Statement"]
                       for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]))


def test_provisioned_concurrency_is_off_by_default(app):
    api = app["Resources"]["APIHandler"]["Properties"]
    assert "ProvisionedConcurrencyConfig" not in api and "AutoPublishAlias" not in api
    assert app["Resources"]["APIHandlerInvokePermission"]["Properties"]["FunctionName"] == {"Ref": "APIHandler"}


def test_provisioned_concurrency_routes_every_api_request_to_the_provisioned_alias(tmp_path):
    template = build("prod", tmp_path, TRADINGVIEW_IPS, provisioned=2)
    resources = template["Resources"]
    api = resources["APIHandler"]["Properties"]
    assert api["AutoPublishAlias"] == "live"
    assert api["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    uris = [method["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            for methods in resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"].values()
            for method in methods.values() if "x-amazon-apigateway-integration" in method]
    assert uris and all("${APIHandlerAliaslive}" in uri and "APIHandler.Arn" not in uri for uri in uris)
    assert resources["APIHandlerInvokePermission"]["Properties"]["FunctionName"] == {"Ref": "APIHandlerAliaslive"}
    # the schedules stay unaliased: nothing invokes them through API Gateway
    assert "AutoPublishAlias" not in resources["KeepWarm"]["Properties"]


# --- the order queue (issue 15): a burst answered at once, written at the broker's pace ------------


def test_the_order_queue_is_the_stage_s_encrypted_fifo_queue_with_a_dead_letter_queue(app):
    resources = app["Resources"]
    queue, dead = resources["OrderQueue"], resources["OrderDeadLetterQueue"]
    assert queue["Type"] == dead["Type"] == "AWS::SQS::Queue"
    props, dead_props = queue["Properties"], dead["Properties"]
    assert props["QueueName"] == "indstocks-relay-prod-orders.fifo"
    assert dead_props["QueueName"] == "indstocks-relay-prod-orders-dead.fifo"
    for queue_props in (props, dead_props):
        assert queue_props["FifoQueue"] is True and queue_props["SqsManagedSseEnabled"] is True
        assert queue_props["ContentBasedDeduplication"] is False  # the relay's own id: the ledger key's hash
    assert (props["DeduplicationScope"], props["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
    assert 3600 <= props["MessageRetentionPeriod"] <= 12 * 3600
    assert props["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["OrderDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 5}
    assert dead_props["MessageRetentionPeriod"] >= props["MessageRetentionPeriod"]
    assert app["Outputs"]["OrderQueueUrl"]["Value"] == {"Ref": "OrderQueue"}


def test_the_consumer_reads_the_stage_s_queue_within_its_visibility_timeout(app):
    """AWS refuses an SQS event source whose queue's visibility timeout is shorter than the
    function's timeout; and the timeout must hold the longest slot wait plus one broker write."""
    from chalicelib.deadline import HARD_MARGIN_SECONDS, OUTCOME_RESERVE_SECONDS
    from chalicelib.queued_sender import SLOT_HORIZON_SECONDS
    from infra import limits

    resources = app["Resources"]
    consumer = resources["SendQueuedOrders"]["Properties"]
    assert consumer["Handler"] == "app.send_queued_orders"
    [source] = consumer["Events"].values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["OrderQueue", "Arn"]}  # not Chalice's placeholder name
    assert source["Properties"]["BatchSize"] == 1
    concurrency = source["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert concurrency == limits.consumer_concurrency() >= 2  # SQS event sources accept 2..1000
    assert consumer["ReservedConcurrentExecutions"] >= concurrency  # else Lambda throttles what the source hands it
    variables = consumer["Environment"]["Variables"]
    write = float(variables["BROKER_CONNECT_TIMEOUT"]) + float(variables["BROKER_READ_TIMEOUT"])
    assert consumer["Timeout"] >= SLOT_HORIZON_SECONDS + write + OUTCOME_RESERVE_SECONDS + HARD_MARGIN_SECONDS
    assert resources["OrderQueue"]["Properties"]["VisibilityTimeout"] >= consumer["Timeout"] + 10


def test_only_the_api_function_hands_alerts_to_the_queue_and_knows_its_url(app):
    resources = app["Resources"]
    for name, function in of_type(app, "AWS::Serverless::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables.get("ORDER_QUEUE_URL") == ({"Ref": "OrderQueue"} if name == "APIHandler" else None), name
    assert resources["APIHandler"]["Properties"]["Environment"]["Variables"]["ORDER_QUEUE_URL"] == {"Ref": "OrderQueue"}


def role_statements(app, role):
    return [s for p in app["Resources"][role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


QUEUE_ARN = "arn:aws:sqs:ap-south-1:123456789012:indstocks-relay-prod-orders.fifo"
DEAD_ARN = "arn:aws:sqs:ap-south-1:123456789012:indstocks-relay-prod-orders-dead.fifo"


def queue_arns(value):
    """The template's queue ARNs as AWS resolves them in ap-south-1."""
    if isinstance(value, dict) and value.get("Fn::GetAtt") == ["OrderQueue", "Arn"]:
        return QUEUE_ARN
    if isinstance(value, dict) and value.get("Fn::GetAtt") == ["OrderDeadLetterQueue", "Arn"]:
        return DEAD_ARN
    if isinstance(value, list):
        return [queue_arns(v) for v in value]
    if isinstance(value, dict):
        return {k: queue_arns(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("role", "may_receive"), [
    ("ApiHandlerRole", False),
    ("SendQueuedOrdersRole", True),
    ("OrderSweepRole", False),
    ("MorningTokenRotationRole", False),
    ("PremarketTokenCheckRole", False),
    ("KeepWarmRole", False),
])
def test_the_queue_permissions_are_scoped_to_the_function_and_the_queue(app, role, may_receive):
    """Sending comes from the stage's policy file (every function's code may hand a key over);
    receiving and deleting only with the consumer's role, and nothing on another queue."""
    from infra.build import CONSUMER_SQS_ACTIONS
    from tests.aws_calls import allows

    policy = {"Statement": queue_arns(role_statements(app, role))}
    assert allows(policy, "sqs:SendMessage", QUEUE_ARN)
    for action in CONSUMER_SQS_ACTIONS:  # what Lambda's event source mapping does with the function's role
        assert allows(policy, action, QUEUE_ARN) is may_receive, action
    for action in ("sqs:SendMessage", *CONSUMER_SQS_ACTIONS, "sqs:PurgeQueue", "sqs:DeleteQueue"):
        assert not allows(policy, action, DEAD_ARN)
        assert not allows(policy, action, QUEUE_ARN.replace("-prod-", "-dev-"))
    assert not allows(policy, "sqs:PurgeQueue", QUEUE_ARN) and not allows(policy, "sqs:SetQueueAttributes", QUEUE_ARN)
    sqs = [s for s in role_statements(app, role) if any(a.startswith("sqs:") for a in s["Action"])]
    assert all(s["Resource"] in ({"Fn::GetAtt": ["OrderQueue", "Arn"]}, "arn:aws:sqs:*:*:indstocks-relay-prod-orders.fifo")
               for s in sqs)


def test_the_dead_letters_and_a_stuck_queue_raise_alarms_to_the_topic(app):
    from infra import limits

    alarms = of_type(app, "AWS::CloudWatch::Alarm")
    dead, backlog = alarms["OrderDeadLettersAlarm"]["Properties"], alarms["OrderQueueBacklogAlarm"]["Properties"]
    assert (dead["Namespace"], dead["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dead["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["OrderDeadLetterQueue", "QueueName"]}}]
    assert dead["Threshold"] == 1 and dead["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (backlog["Namespace"], backlog["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert backlog["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["OrderQueue", "QueueName"]}}]
    assert backlog["Threshold"] == limits.QUEUE_OLDEST_ALARM_SECONDS <= 60
    for props in (dead, backlog):
        assert props["AlarmActions"] == [{"Ref": "AlertsTopic"}] and props["Period"] == 60
    assert "SendQueuedOrdersErrorsAlarm" in alarms and "SendQueuedOrdersThrottlesAlarm" in alarms


def test_the_consumer_keeps_the_broker_s_pace_busy():
    """Each invocation holds one write for CONSUMER_WRITE_HOLD_SECONDS after its slot; a slot
    comes every spacing seconds, so hold / spacing invocations are writing at any moment. The
    concurrency covers that at INDstocks' own limit (10/s), so at the relay's slower pace too."""
    from chalicelib.pacing import WRITE_SPACING
    from infra import limits

    concurrency = limits.consumer_concurrency()
    assert concurrency == 10
    assert concurrency >= limits.CONSUMER_WRITE_HOLD_SECONDS * limits.BROKER_WRITES_PER_SECOND
    assert concurrency >= limits.CONSUMER_WRITE_HOLD_SECONDS / WRITE_SPACING
    assert limits.reserved_concurrency("SendQueuedOrders", limits.stage_limits("prod")) == concurrency


def test_the_package_ships_the_apps_modules_compiled_for_its_python(tmp_path):
    """A cold start on Lambda's read-only task directory would otherwise compile them every time."""
    import importlib.util
    import zipfile

    build("dev", tmp_path, None)
    with zipfile.ZipFile(tmp_path / "deployment.zip") as package_zip:
        names = set(package_zip.namelist())
        sources = {n for n in names if n.endswith(".py") and (n == "app.py" or n.startswith("chalicelib/"))}
        assert "app.py" in sources and "chalicelib/fno/symbols.py" in sources
        assert {importlib.util.cache_from_source(n) for n in sources} <= names
        flags = int.from_bytes(package_zip.read(importlib.util.cache_from_source("app.py"))[4:8], "little")
        assert flags == 0b01  # hash-based, unchecked: used whatever the zip's file times
    # The library parts left out are not there, and every module of the library the relay loads
    # (importing app, logging a line, flushing a metric) is: none of them is among those parts.
    assert not any(n.startswith(UNUSED_LIBRARY_PARTS) for n in names)
    probe = subprocess.run([sys.executable, "-c", _LOADED_LIBRARY_MODULES], cwd=REPO, check=True, capture_output=True,
                           text=True, env={**os.environ, "AWS_DEFAULT_REGION": "ap-south-1"})
    loaded = json.loads(probe.stdout.strip().splitlines()[-1])  # after the probe's own log lines
    assert len(loaded) > 10
    for path in loaded:
        assert not path.startswith(UNUSED_LIBRARY_PARTS), path
        assert path in names, path


_LOADED_LIBRARY_MODULES = """
import json, sys
import app
from chalicelib import observability
observability.begin_invocation("probe"); observability.logger.info("probe", extra={"a": 1})
observability.count("Probe"); observability.end_invocation()
found = sorted(m.__file__.split("site-packages/", 1)[1] for n, m in list(sys.modules.items())
               if n.startswith("aws_lambda_powertools") and getattr(m, "__file__", None))
sys.stdout.flush(); print(json.dumps(found))
"""


# --- two stages side by side: one family's accounts each, its own network and Elastic IP ------------


@pytest.fixture(scope="module")
def second_stage(tmp_path_factory):
    """A second family's stage, packaged like prod (`make deploy STAGE=family`)."""
    return build("family", tmp_path_factory.mktemp("family"), TRADINGVIEW_IPS)


_NAMED = ("TableName", "QueueName", "TopicName", "AliasName", "LogGroupName", "AlarmName", "Name", "FunctionName",
          "RoleName", "StateMachineName", "KeyAlias")


def named_resources(template) -> dict[str, str]:
    """Every literal name a resource gives itself (a Ref/GetAtt names nothing of its own)."""
    names = {}
    for logical, resource in template["Resources"].items():
        for field in _NAMED:
            value = resource.get("Properties", {}).get(field)
            if isinstance(value, dict):
                value = value.get("Fn::Sub") if isinstance(value.get("Fn::Sub"), str) else None
            if isinstance(value, str):
                names[f"{logical}.{field}"] = value
    return names


def network_stack(stage):
    """The network stack as deploy.sh deploys it for a stage: its name, its exports, its Elastic IP."""
    template = yaml.safe_load((REPO / "infra" / "network.yaml").read_text())
    exports = {name: output["Export"]["Name"]["Fn::Sub"].replace("${Stage}", stage)
               for name, output in template["Outputs"].items() if "Export" in output}
    return f"indstocks-relay-{stage}-network", exports, template["Resources"]["EgressIp"]


def test_two_stages_side_by_side_share_no_name_and_each_has_its_own_network_and_ip(app, second_stage):
    prod, family = named_resources(app), named_resources(second_stage)
    assert prod.keys() == family.keys()  # the same resources…
    # A function's name (and so its log group, /aws/lambda/${Function}) is generated from its stack's
    # name, indstocks-relay-<stage> (infra/deploy.sh): no function names itself.
    assert not any("FunctionName" in f["Properties"] for f in of_type(second_stage, "AWS::Serverless::Function").values())
    fixed = {stage: {key: name for key, name in names.items() if not name.startswith("/aws/lambda/${")}
             for stage, names in (("prod", prod), ("family", family))}
    assert set(fixed["prod"].values()).isdisjoint(fixed["family"].values())  # …under names of their own
    for stage, names in fixed.items():
        assert len(names) > 20 and all(f"indstocks-relay-{stage}" in name for name in names.values()), stage
    deploy = (REPO / "infra" / "deploy.sh").read_text()
    assert "APP=indstocks-relay-$STAGE\n" in deploy and "NETWORK=indstocks-relay-$STAGE-network\n" in deploy
    # each stage's functions leave through its own network stack (its own NAT and Elastic IP)
    for stage, template in (("prod", app), ("family", second_stage)):
        functions = of_type(template, "AWS::Serverless::Function")
        for function in functions.values():
            props = function["Properties"]
            imports = json.dumps(props["VpcConfig"])
            assert imports.count(f'"indstocks-relay-{stage}-') == 3 and ("prod" in imports) == (stage == "prod")
            assert props["Environment"]["Variables"]["RELAY_STAGE"] == stage
    prod_network, family_network = network_stack("prod"), network_stack("family")
    assert prod_network[0] != family_network[0]
    assert set(prod_network[1].values()).isdisjoint(family_network[1].values())
    assert prod_network[2]["Type"] == "AWS::EC2::EIP" and prod_network[2]["DeletionPolicy"] == "Retain"
    # the functions' policy of the second stage names its own tables, queue, topic and parameters only
    policy = (REPO / ".chalice" / "policy-family.json").read_text()
    assert "prod" not in policy and "indstocks-relay/family/accounts/*/indstocks-token" in policy
