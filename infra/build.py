"""Build the app stack's CloudFormation template, offline: `python -m infra.build --stage prod`.

`chalice package` writes deployment.zip and sam.json; this script then adds what Chalice cannot
express (its docs' merge-template idea, done in code so the additions are computed once for
every function):

- VpcConfig from the network stack's exports on EVERY function: all of them talk to INDstocks
  (orders, token generation, profile checks), so all must leave through the static IP;
- explicit log groups with 30-day retention for every function and for API access logs (this is
  also the fix for Chalice issue 2079, whose generated log-group name points at a missing logical
  id);
- the TradingView allowlist as the REST API resource policy (POST /webhook only from
  TradingView's four senders; POST /webhook/signed, which requires X-Relay-Signature, /token and
  the rest stay reachable);
- stage throttling and reserved concurrency, both derived in infra/limits.py from the burst the
  README promises; access logs without bodies;
- the DynamoDB state and orders tables (TTL, point-in-time recovery), the SNS alerts topic,
  encrypted with a customer-managed KMS key that CloudWatch alarms may use (the AWS-managed
  aws/sns key's policy cannot admit them: every alarm would be silent);
- alarms (unknown/absent orders, rejections, stale token, API 5xx, Lambda errors/throttles);
- the order queue (SQS FIFO, with its dead-letter queue and two alarms): the consumer's event
  source is pointed at it, the API function gets its URL and may send to it, the consumer's role
  may receive from it (`order_queue`);
- the saved Logs Insights queries the `relay logs` command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from infra import limits  # noqa: E402 - the one place throttling and reserved concurrency are derived
from relay_cli.queries import LOG_QUERIES  # noqa: E402 - the one place the query texts live

TRADINGVIEW_IPS = ["52.89.214.238/32", "34.212.75.30/32", "54.218.53.128/32", "52.32.178.7/32"]
LOG_RETENTION_DAYS = 30


def _import(stage: str, name: str) -> dict[str, Any]:
    return {"Fn::ImportValue": f"indstocks-relay-{stage}-{name}"}


STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


def stage_policy(stage: str) -> Path:
    """`.chalice/policy-<stage>.json`, the functions' IAM policy. dev and prod are committed; any
    other stage (a second family's, `make deploy STAGE=…`) gets the prod policy with its own names,
    written on first use (ignored by git): every table, queue, topic, key alias, log group and
    parameter path carries the stage."""
    if not STAGE_NAME.match(stage):
        raise ValueError(f"stage {stage!r}: lower-case letters, digits and -, starting with a letter, at most 16")
    path = REPO / ".chalice" / f"policy-{stage}.json"
    if not path.exists():
        prod = (REPO / ".chalice" / "policy-prod.json").read_text()
        path.write_text(prod.replace("indstocks-relay/prod/", f"indstocks-relay/{stage}/")
                        .replace("indstocks-relay-prod-", f"indstocks-relay-{stage}-"))
    return path


def package(stage: str, out: Path) -> dict[str, Any]:
    stage_policy(stage)
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-south-1")}
    chalice = str(Path(sys.executable).with_name("chalice"))
    subprocess.run([chalice, "package", "--stage", stage, str(out)], cwd=REPO, env=env, check=True,  # noqa: S603
                   stdout=subprocess.DEVNULL)
    return json.loads((out / "sam.json").read_text())


def tables(stage: str) -> dict[str, Any]:
    common = {
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
    }
    index = lambda name, partition: {  # noqa: E731
        "IndexName": name,
        "KeySchema": [{"AttributeName": partition, "KeyType": "HASH"}, {"AttributeName": "received_at", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    return {
        "StateTable": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                       "Properties": {**common, "TableName": f"indstocks-relay-{stage}-state",
                                      "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                                      "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}},
        "OrdersTable": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                        "Properties": {**common, "TableName": f"indstocks-relay-{stage}-orders",
                                       "KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
                                       "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"}
                                                                for n in ("key", "journal", "open", "received_at")],
                                       "GlobalSecondaryIndexes": [index("journal", "journal"), index("open", "open")]}},
    }


def alerts_key(stage: str, roles: list[str]) -> dict[str, Any]:
    """The alerts topic's KMS key and its alias. The account root administers it (so it can never
    become unmanageable); CloudWatch may use it to publish alarms, the functions' roles through
    SNS only (the roles' policy file grants the same, scoped to this alias)."""
    use = ["kms:Decrypt", "kms:GenerateDataKey*"]
    return {
        "AlertsKey": {"Type": "AWS::KMS::Key", "Properties": {
            "Description": f"indstocks-relay-{stage}: the alerts topic", "EnableKeyRotation": True,
            "KeyPolicy": {"Version": "2012-10-17", "Statement": [
                {"Sid": "AccountAdministersTheKey", "Effect": "Allow",
                 "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                 "Action": use, "Resource": "*"},
                {"Sid": "FunctionsPublishViaSns", "Effect": "Allow",
                 "Principal": {"AWS": [{"Fn::GetAtt": [role, "Arn"]} for role in roles]}, "Action": use, "Resource": "*",
                 "Condition": {"StringEquals": {"kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}}}},
            ]}}},
        "AlertsKeyAlias": {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": f"alias/indstocks-relay-{stage}-alerts", "TargetKeyId": {"Ref": "AlertsKey"}}},
    }


def alarm(name: str, description: str, metric: dict[str, Any], threshold: float, *, period: int = 300,
          comparison: str = "GreaterThanOrEqualToThreshold") -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": name, "AlarmDescription": description, "ComparisonOperator": comparison,
        "EvaluationPeriods": 1, "Threshold": threshold, "Period": period, "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "AlertsTopic"}], **metric,
    }}


def keep_warm(resources: dict[str, Any]) -> None:
    """The keep-warm schedule reaches the API function the way alerts do: GET /health through
    API Gateway (its URL in KEEP_WARM_URL). That needs no IAM: no lambda:InvokeFunction, and
    /health is open in the resource policy; it keeps an APIHandler instance initialised."""
    props = resources["KeepWarm"]["Properties"]
    props["Environment"]["Variables"]["KEEP_WARM_URL"] = {
        "Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.amazonaws.com/api/health"}
    props["Timeout"] = 10  # one GET with a 5 s timeout; not the API's 30 s


ORDER_QUEUE = "OrderQueue"
ORDER_DEAD_LETTERS = "OrderDeadLetterQueue"
# The SQS actions Lambda's event source mapping takes with the consumer function's role.
CONSUMER_SQS_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]


def queue_statements() -> dict[str, list[dict[str, Any]]]:
    """Per role, what it may do with the order queue beyond `.chalice/policy-<stage>.json` (which
    lets every function's code send to the stage's queue: a message holds only a ledger key, and
    a key sent twice is still written once): the consumer's event source receives and deletes."""
    queue = {"Fn::GetAtt": [ORDER_QUEUE, "Arn"]}
    return {
        f"{limits.CONSUMER_FUNCTION}Role": [{"Sid": "ReceiveFromTheOrderQueue", "Effect": "Allow",
                                             "Action": CONSUMER_SQS_ACTIONS, "Resource": queue}],
    }


def order_queue(stage: str, resources: dict[str, Any], burst: limits.Limits) -> None:
    """The SQS FIFO queue of writes over the pace (chalicelib/order_queue.py).

    - FIFO, one message group per instrument: a group's next message is handed out only once the
      one before it is deleted, so one symbol's queued writes go out in the order they arrived.
    - Deduplication by the id the relay sets (the ledger key's hash), not by content; scoped to the
      message group, with the throughput limit per group (SQS's high-throughput FIFO mode): keys
      are unique across groups anyway, and the queue's limit then never binds a burst of symbols.
    - Encrypted with SQS-managed keys (no KMS grants for the roles); the messages hold only keys.
    - The visibility timeout exceeds the consumer's timeout (infra/limits.py); a message received
      QUEUE_MAX_RECEIVES times goes to a FIFO dead-letter queue, which raises an alarm, and so does
      a queued message older than QUEUE_OLDEST_ALARM_SECONDS (the consumer is not keeping up).
    """
    prefix = f"indstocks-relay-{stage}"
    fifo = {"FifoQueue": True, "ContentBasedDeduplication": False, "SqsManagedSseEnabled": True}
    resources[ORDER_DEAD_LETTERS] = {"Type": "AWS::SQS::Queue", "Properties": {
        **fifo, "QueueName": f"{prefix}-orders-dead.fifo", "MessageRetentionPeriod": limits.DEAD_LETTER_RETENTION_SECONDS}}
    resources[ORDER_QUEUE] = {"Type": "AWS::SQS::Queue", "Properties": {
        **fifo, "QueueName": f"{prefix}-orders.fifo",
        "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId",
        "VisibilityTimeout": limits.queue_visibility_seconds(stage),
        "MessageRetentionPeriod": limits.QUEUE_RETENTION_SECONDS,
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [ORDER_DEAD_LETTERS, "Arn"]},
                          "maxReceiveCount": limits.QUEUE_MAX_RECEIVES}}}
    consumer = resources[limits.CONSUMER_FUNCTION]["Properties"]
    [source] = [event for event in consumer["Events"].values() if event["Type"] == "SQS"]
    # Chalice names the queue by QUEUE_NAME in the caller's account; the stage's own queue instead.
    source["Properties"]["Queue"] = {"Fn::GetAtt": [ORDER_QUEUE, "Arn"]}
    source["Properties"]["ScalingConfig"] = {"MaximumConcurrency": burst.consumer_concurrency}
    consumer["Timeout"] = limits.consumer_timeout(stage)
    resources[limits.API_FUNCTION]["Properties"]["Environment"]["Variables"]["ORDER_QUEUE_URL"] = {"Ref": ORDER_QUEUE}
    for role, statements in queue_statements().items():
        resources[role]["Properties"]["Policies"].append(
            {"PolicyName": "OrderQueue", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}})
    resources["OrderDeadLettersAlarm"] = alarm(
        f"{prefix}-order-queue-dead-letters",
        "Queued orders in the dead-letter queue: never sent by the consumer (check the journal: relay orders --status queued)",
        {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Statistic": "Maximum",
         "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [ORDER_DEAD_LETTERS, "QueueName"]}}]}, 1, period=60)
    resources["OrderQueueBacklogAlarm"] = alarm(
        f"{prefix}-order-queue-backlog",
        f"A queued order has waited over {limits.QUEUE_OLDEST_ALARM_SECONDS} s: the consumer is not keeping up",
        {"Namespace": "AWS/SQS", "MetricName": "ApproximateAgeOfOldestMessage", "Statistic": "Maximum",
         "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [ORDER_QUEUE, "QueueName"]}}]},
        limits.QUEUE_OLDEST_ALARM_SECONDS, period=60)


PROVISIONED_ALIAS = "live"


def provisioned_concurrency(resources: dict[str, Any], count: int) -> None:
    """Optional, off by default (`--provisioned-concurrency N`): N APIHandler instances kept
    initialised by Lambda, billed while configured. Provisioned concurrency needs a published
    version behind an alias, and Chalice publishes none: SAM's AutoPublishAlias publishes one per
    deploy, and API Gateway's integrations and invoke permission are pointed at that alias (left
    on the unqualified function, every request would still run on-demand instances)."""
    api = resources["APIHandler"]["Properties"]
    reserved = api.get("ReservedConcurrentExecutions")
    if reserved is not None and count >= reserved:
        raise SystemExit(f"provisioned concurrency {count} must stay below the API's reserved concurrency {reserved}")
    alias = f"APIHandlerAlias{PROVISIONED_ALIAS}"  # the alias resource AutoPublishAlias creates
    api["AutoPublishAlias"] = PROVISIONED_ALIAS
    api["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions": count}
    for methods in resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"].values():
        for method in methods.values():
            integration = method.get("x-amazon-apigateway-integration") if isinstance(method, dict) else None
            if integration and "${APIHandler.Arn}" in json.dumps(integration.get("uri")):
                integration["uri"] = {"Fn::Sub": integration["uri"]["Fn::Sub"].replace("${APIHandler.Arn}", "${" + alias + "}")}
    resources["APIHandlerInvokePermission"]["Properties"]["FunctionName"] = {"Ref": alias}


# Parts of the bundled libraries the relay never imports, left out of the deployment zip:
# Powertools' event handler (an HTTP router: Chalice routes here) is over half a megabyte.
# tests/test_infra.py checks that nothing the relay imports refers to them.
UNUSED_LIBRARY_PARTS = ("aws_lambda_powertools/event_handler/",)


def prune_unused(zip_path: Path, parts: tuple[str, ...] = UNUSED_LIBRARY_PARTS) -> list[str]:
    """Rewrite the package without `parts`; the entries left out."""
    import shutil
    import zipfile

    pruned = zip_path.with_suffix(".pruned")
    dropped = []
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(pruned, "w", compression=zipfile.ZIP_DEFLATED,
                                                              compresslevel=9) as target:
        for info in source.infolist():
            if info.filename.startswith(parts):
                dropped.append(info.filename)
                continue
            target.writestr(info, source.read(info.filename), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    shutil.move(pruned, zip_path)
    return dropped


def compile_sources(zip_path: Path) -> list[str]:
    """Ship the app's own modules compiled, beside their sources, for this interpreter (the
    package's Python is the Lambda runtime's: infra/find-python.sh). Lambda's task directory is
    read-only, so without them every cold start compiles app.py and chalicelib/ again (≈ 40 ms);
    unchecked-hash .pyc files are used as they are, whatever the files' times in the zip."""
    import importlib.util
    import py_compile
    import tempfile
    import zipfile

    added = []
    with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as package_zip, \
            tempfile.TemporaryDirectory() as work:
        sources = [name for name in package_zip.namelist()
                   if name.endswith(".py") and (name == "app.py" or name.startswith("chalicelib/"))]
        for name in sources:
            source = Path(work) / name
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(package_zip.read(name))
            cached = importlib.util.cache_from_source(name)
            py_compile.compile(str(source), cfile=str(Path(work) / cached), dfile=name, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            package_zip.write(Path(work) / cached, cached)
            added.append(cached)
    return added


def resource_policy(allowlist: list[str], api_allowlist: list[str]) -> dict[str, Any]:
    """Who may call what. POST /webhook: TradingView's IPs (`allowlist`) only; its Deny names the
    path exactly, so POST /webhook/signed (signature required) stays open. OpenAlgo's paths
    (POST /api/v1/…, scripts on the trader's machine): TradingView's IPs and the ones the trader
    lists (`api_allowlist`, API_ALLOWED_IPS at deploy; none by default)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
             "Resource": "execute-api:/*/POST/webhook", "Condition": {"NotIpAddress": {"aws:SourceIp": allowlist}}},
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
             "Resource": "execute-api:/*/POST/api/v1/*",
             "Condition": {"NotIpAddress": {"aws:SourceIp": [*allowlist, *api_allowlist]}}},
        ],
    }


def allowed_ips(value: str) -> list[str]:
    """`API_ALLOWED_IPS`: comma-separated addresses or CIDRs (a bare address is one /32)."""
    import ipaddress

    found = []
    for word in (part.strip() for part in value.split(",")):
        if word:
            network = ipaddress.ip_network(word, strict=True)
            found.append(str(network) if "/" in word or network.version == 6 else f"{word}/32")
    return found


def build(stage: str, out: Path, allowlist: list[str] | None, *, reserved_concurrency: bool = True,
          provisioned: int = 0, api_allowlist: list[str] | None = None) -> dict[str, Any]:
    """`reserved_concurrency=False`: no function reserves any (an account whose Lambda quota cannot
    hold the reservations; `infra/preflight.py` says when). `provisioned`: see provisioned_concurrency.
    `api_allowlist`: the addresses, besides TradingView's, that may call OpenAlgo's paths."""
    template = package(stage, out)
    prune_unused(out / "deployment.zip")
    compile_sources(out / "deployment.zip")
    burst = limits.stage_limits(stage)
    resources = template["Resources"]
    functions = [name for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"]
    prefix = f"indstocks-relay-{stage}"
    token_page = {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.amazonaws.com/api/token"}

    for name in functions:
        props = resources[name]["Properties"]
        props["VpcConfig"] = {
            "SubnetIds": [_import(stage, "PrivateSubnetA"), _import(stage, "PrivateSubnetB")],
            "SecurityGroupIds": [_import(stage, "LambdaSecurityGroup")],
        }
        props["Environment"]["Variables"].update({
            "STATE_TABLE": {"Ref": "StateTable"}, "ORDERS_TABLE": {"Ref": "OrdersTable"},
            "ALERTS_TOPIC_ARN": {"Ref": "AlertsTopic"}, "TOKEN_PAGE_URL": token_page,
            # The stage names every parameter path, table and lock; a stage without an entry in
            # .chalice/config.json must not fall back to dev's.
            "RELAY_STAGE": stage,
            "POWERTOOLS_METRICS_NAMESPACE": "IndstocksRelay",
        })
        # The webhook admits the promised burst; schedules run one at a time (infra/limits.py).
        if reserved_concurrency:
            props["ReservedConcurrentExecutions"] = limits.reserved_concurrency(name, burst)
        resources[f"{name}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{name}}}"}, "RetentionInDays": LOG_RETENTION_DAYS},
        }
    resources.pop("ApiHandlerLogGroup", None)  # Chalice issue 2079: replaced by APIHandlerLogGroup above

    api = resources["RestAPI"]["Properties"]
    if allowlist:
        api["DefinitionBody"]["x-amazon-apigateway-policy"] = resource_policy(allowlist, api_allowlist or [])
    api["MethodSettings"] = [{"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingBurstLimit": burst.bucket,
                              "ThrottlingRateLimit": burst.rate, "MetricsEnabled": True, "DataTraceEnabled": False}]
    api["AccessLogSetting"] = {
        "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
        # Request metadata only: never bodies (the webhook body holds the secret).
        "Format": json.dumps({"requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
                              "time": "$context.requestTime", "method": "$context.httpMethod",
                              "path": "$context.resourcePath", "status": "$context.status",
                              "latencyMs": "$context.responseLatency", "integrationMs": "$context.integrationLatency"}),
    }
    resources["ApiAccessLogGroup"] = {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain",
                                      "UpdateReplacePolicy": "Retain",
                                      "Properties": {"LogGroupName": f"/aws/apigateway/{prefix}",
                                                     "RetentionInDays": LOG_RETENTION_DAYS}}
    resources.update(tables(stage))
    keep_warm(resources)
    order_queue(stage, resources, burst)
    if provisioned:
        provisioned_concurrency(resources, provisioned)
    roles = [name for name, res in resources.items() if res["Type"] == "AWS::IAM::Role"]
    resources.update(alerts_key(stage, roles))
    resources["AlertsTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": f"{prefix}-alerts", "KmsMasterKeyId": {"Ref": "AlertsKey"}}}

    # Alarms: outcomes from the relay's JSON log lines, platform errors from AWS metrics.
    outcomes = {"Unknown": "unknown", "Absent": "absent", "Rejected": "rejected"}
    for label, outcome in outcomes.items():
        resources[f"Orders{label}Filter"] = {"Type": "AWS::Logs::MetricFilter", "Properties": {
            "LogGroupName": {"Ref": "APIHandlerLogGroup"} if outcome != "absent" else {"Ref": "OrderSweepLogGroup"},
            "FilterPattern": f'{{ ($.event = "alert" || $.event = "notification") && $.outcome = "{outcome}" }}',
            "MetricTransformations": [{"MetricName": f"LogOrders{label}", "MetricNamespace": "IndstocksRelay/Logs",
                                       "MetricValue": "1", "DefaultValue": 0}]}}
        threshold = 3 if outcome == "rejected" else 1
        resources[f"Orders{label}Alarm"] = alarm(
            f"{prefix}-orders-{outcome}", f"{label} orders: check the journal (relay orders --status {outcome})",
            {"Namespace": "IndstocksRelay/Logs", "MetricName": f"LogOrders{label}", "Statistic": "Sum"}, threshold)
    resources["TokenStaleFilter"] = {"Type": "AWS::Logs::MetricFilter", "Properties": {
        "LogGroupName": {"Ref": "PremarketTokenCheckLogGroup"},
        "FilterPattern": '{ $.event = "token_check" && $.healthy IS FALSE }',
        "MetricTransformations": [{"MetricName": "TokenStale", "MetricNamespace": "IndstocksRelay/Logs",
                                   "MetricValue": "1", "DefaultValue": 0}]}}
    resources["TokenStaleAlarm"] = alarm(f"{prefix}-token-stale", "The INDstocks token is missing, rejected or stale before the open",
                                         {"Namespace": "IndstocksRelay/Logs", "MetricName": "TokenStale", "Statistic": "Sum"}, 1, period=3600)
    resources["Api5xxAlarm"] = alarm(f"{prefix}-api-5xx", "The relay answered 5xx",
                                     {"Namespace": "AWS/ApiGateway", "MetricName": "5XXError", "Statistic": "Sum",
                                      "Dimensions": [{"Name": "ApiName", "Value": "indstocks-relay"}]}, 1)
    for name in functions:
        for metric in ("Errors", "Throttles"):
            resources[f"{name}{metric}Alarm"] = alarm(
                {"Fn::Sub": f"{prefix}-${{{name}}}-{metric.lower()}"}, f"Lambda {metric.lower()}",
                {"Namespace": "AWS/Lambda", "MetricName": metric, "Statistic": "Sum",
                 "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": name}}]}, 1)

    for key, query in LOG_QUERIES.items():
        logical = "Query" + "".join(part.capitalize() for part in key.replace("-", "_").split("_"))
        resources[logical] = {"Type": "AWS::Logs::QueryDefinition", "Properties": {
            "Name": f"{prefix}/{key}", "QueryString": query,
            "LogGroupNames": [{"Ref": f"{name}LogGroup"} for name in functions]}}

    template.setdefault("Outputs", {}).update({
        "WebhookUrl": {"Value": {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.amazonaws.com/api/webhook"}},
        "SignedWebhookUrl": {"Value": {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.amazonaws.com/api/webhook/signed"}},
        "TokenPageUrl": {"Value": token_page},
        "DashboardUrl": {"Value": {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.amazonaws.com/api/dashboard"}},
        "AlertsTopicArn": {"Value": {"Ref": "AlertsTopic"}},
        "OrderQueueUrl": {"Value": {"Ref": ORDER_QUEUE}},
    })
    (out / "sam.json").write_text(json.dumps(template, indent=2))
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", default=None)
    parser.add_argument("--allow-ips", default=",".join(TRADINGVIEW_IPS),
                        help="comma-separated CIDRs allowed to POST /webhook; 'off' disables the allowlist")
    parser.add_argument("--api-allow-ips", default=os.environ.get("API_ALLOWED_IPS", ""),
                        help="comma-separated IPs or CIDRs that may POST OpenAlgo's /api/v1/ paths besides "
                             "TradingView's (default: API_ALLOWED_IPS, else none)")
    parser.add_argument("--reserved-concurrency", choices=["on", "off"], default="on",
                        help="'off': no function reserves concurrency (an account whose quota cannot hold them)")
    parser.add_argument("--provisioned-concurrency", type=int, default=0, metavar="N",
                        help="keep N API instances initialised (billed while configured; see the README); 0: off")
    options = parser.parse_args()
    out = Path(options.out or REPO / "build" / options.stage)
    out.mkdir(parents=True, exist_ok=True)
    allowlist = None if options.allow_ips == "off" else options.allow_ips.split(",")
    build(options.stage, out, allowlist, reserved_concurrency=options.reserved_concurrency == "on",
          provisioned=options.provisioned_concurrency, api_allowlist=allowed_ips(options.api_allow_ips))
    print(f"built {out / 'sam.json'} and {out / 'deployment.zip'}")


if __name__ == "__main__":
    main()
