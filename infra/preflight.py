"""Before anything is deployed: can the account's Lambda concurrency quota hold the stack's reservations?

`python -m infra.preflight --template build/prod/sam.json --stack indstocks-relay-prod --region ap-south-1`
(infra/deploy.sh runs it after building the template, before the first CloudFormation call).

Lambda refuses a reservation that leaves fewer than 100 executions unreserved in the account and
region, and CloudFormation would find that out only while it updates the functions, half-way
through the stack. New accounts can start with a quota of 10 executions in total. So the
reservations the built template asks for are compared with `GetAccountSettings` first (the
stack's own current reservations count as free, since the update replaces them). Exit 0: they
fit (or the template reserves none: then a warning if the account's quota cannot hold the
promised burst). Exit 2: refused, nothing deployed, with the quota to request.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from infra import limits  # noqa: E402

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
QUOTA_CODE = "L-B99A9384"  # Service Quotas: AWS Lambda, "Concurrent executions"


@dataclass(frozen=True)
class Account:
    limit: int  # AccountLimit.ConcurrentExecutions
    unreserved: int  # AccountLimit.UnreservedConcurrentExecutions
    held_by_stack: int  # reserved today by this stack's own functions (0 before the first deploy)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str
    quota_needed: int


def reservations(template: dict[str, Any]) -> dict[str, int]:
    return {name: int(res["Properties"]["ReservedConcurrentExecutions"])
            for name, res in template["Resources"].items()
            if res["Type"] in FUNCTION_TYPES and "ReservedConcurrentExecutions" in res.get("Properties", {})}


def request_command(quota: int, region: str) -> str:
    return (f"aws service-quotas request-service-quota-increase --service-code lambda --quota-code {QUOTA_CODE} "
            f"--desired-value {quota} --region {region}")


def wanted(template: dict[str, Any], stage_limits: limits.Limits) -> dict[str, int]:
    """What every function of the template reserves when reservations are on (infra/limits.py)."""
    return {name: limits.reserved_concurrency(name, stage_limits)
            for name, res in template["Resources"].items() if res["Type"] in FUNCTION_TYPES}


def decide(account: Account, asked: dict[str, int], want: dict[str, int], region: str, stage: str) -> Verdict:
    """Pure: the account's numbers and the template's reservations in, the verdict out.

    `asked`: what the built template reserves; `want`: what it reserves with reservations on."""
    reserved_elsewhere = account.limit - account.unreserved - account.held_by_stack
    quota_needed = reserved_elsewhere + sum(want.values()) + limits.LAMBDA_UNRESERVED_MINIMUM
    numbers = (f"this account's Lambda quota in {region} is {account.limit} concurrent executions, "
               f"{account.unreserved} unreserved ({account.held_by_stack} of the reserved ones are this stack's own)")
    request = (f"Service Quotas > AWS Lambda > \"Concurrent executions\" ({QUOTA_CODE}), region {region}, "
               f"at least {quota_needed}:\n  {request_command(quota_needed, region)}")
    burst = want.get(limits.API_FUNCTION, 0)
    needed = sum(asked.values())
    if needed == 0:
        if account.limit - reserved_elsewhere >= burst:
            return Verdict(True, f"deploying without reserved concurrency; {numbers}", quota_needed)
        return Verdict(True, (
            f"WARNING: deploying without reserved concurrency; {numbers}. A burst of "
            f"{limits.BURST_ALERTS_PER_SECOND} alerts/s keeps {burst} executions busy at once: alerts beyond what the "
            f"account has free are throttled (API Gateway answers 500, TradingView does not retry). Request {request}"),
            quota_needed)
    detail = ", ".join(f"{name} {count}" for name, count in asked.items())
    if account.unreserved + account.held_by_stack - needed >= limits.LAMBDA_UNRESERVED_MINIMUM:
        return Verdict(True, f"reserved concurrency {needed} ({detail}) fits: {numbers}", quota_needed)
    return Verdict(False, (
        f"refused, nothing deployed: the stack reserves {needed} concurrent executions ({detail}; the API function's "
        f"share admits the promised burst of {limits.BURST_ALERTS_PER_SECOND} alerts/s, see infra/limits.py) and Lambda "
        f"keeps at least {limits.LAMBDA_UNRESERVED_MINIMUM} unreserved, but {numbers}.\n"
        f"Request a higher quota: {request}\n"
        f"and run `make deploy STAGE={stage}` again once it is granted. Or deploy without reserved concurrency now "
        f"(the functions share the account's executions, and alerts beyond them are throttled): "
        f"RESERVED_CONCURRENCY=off make deploy STAGE={stage}"), quota_needed)


def read_account(lambda_client: Any, cloudformation: Any, stack: str) -> Account:
    settings = lambda_client.get_account_settings()["AccountLimit"]
    return Account(int(settings["ConcurrentExecutions"]), int(settings["UnreservedConcurrentExecutions"]),
                   held_by_stack(lambda_client, cloudformation, stack))


def held_by_stack(lambda_client: Any, cloudformation: Any, stack: str) -> int:
    """Reserved concurrency the stack's deployed functions hold now; 0 when there is no stack yet."""
    from botocore.exceptions import ClientError

    held = 0
    try:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
            for resource in page["StackResourceSummaries"]:
                if resource["ResourceType"] == "AWS::Lambda::Function" and resource.get("PhysicalResourceId"):
                    reply = lambda_client.get_function_concurrency(FunctionName=resource["PhysicalResourceId"])
                    held += int(reply.get("ReservedConcurrentExecutions") or 0)
    except ClientError as error:
        if "does not exist" not in str(error):
            raise
    return held


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--region", required=True)
    options = parser.parse_args(argv)
    template = json.loads(Path(options.template).read_text())
    session = boto3.session.Session(region_name=options.region)
    account = read_account(session.client("lambda"), session.client("cloudformation"), options.stack)
    want = wanted(template, limits.stage_limits(options.stage))
    verdict = decide(account, reservations(template), want, options.region, options.stage)
    print(verdict.message, file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 2


if __name__ == "__main__":
    sys.exit(main())
