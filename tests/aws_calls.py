"""Every AWS call the relay's own code makes in the tests, checked against its IAM policy.

moto accepts any call; AWS answers AccessDenied to every action the role's policy does not
allow on that resource. So a botocore hook (in `BUILTIN_HANDLERS`, as moto installs its own,
so every session and client gets it) records (action, resource ARN) for each call made with a
frame of chalicelib/ or app.py on the stack (the tests' own setup and the operator CLI, which
runs with the operator's credentials, are not the functions' calls), and `disallowed` evaluates
them against `.chalice/policy-prod.json` with the test stage's names mapped onto prod's, plus the
order queue's statements infra/build.py adds to the roles that need them (`role_policy` is one
function's own policy; the session-wide check takes the union, since a recorded call does not say
which function made it). A call the deriver cannot map to a resource is a failure, never skipped.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.handlers import BUILTIN_HANDLERS

import chalicelib
import relay_cli

REPO = Path(__file__).resolve().parents[1]
_CODE = Path(chalicelib.__file__).resolve().parent  # wherever the tests import the relay from
_RELAY_CODE = (str(_CODE) + "/", str(_CODE.parent / "app.py"))
_OPERATOR_CODE = str(Path(relay_cli.__file__).resolve().parent) + "/"
ACCOUNT = "123456789012"  # moto's; the policies say `*` for region and account

# The test stage's resource names (and the local stage's, when a test runs a schedule of `make
# run`'s stack in-process) → what the same resource is called in prod (the template's
# TableName/TopicName and the parameters under /indstocks-relay/prod/). Anything else stays as
# it is and so is refused by the prod policy: an unmapped name is a failure, not a pass.
_TO_PROD = (
    (re.compile(r":table/indstocks-relay-(?:test|local)-(state|orders)(?=/|$)"), r":table/indstocks-relay-prod-\1"),
    (re.compile(r":parameter/indstocks-relay/(?:test|local)/"), ":parameter/indstocks-relay/prod/"),
    (re.compile(r":(?:relay-alerts|indstocks-relay-(?:test|local)-alerts)$"), ":indstocks-relay-prod-alerts"),
    (re.compile(r":indstocks-relay-(?:test|local)-orders\.fifo$"), ":indstocks-relay-prod-orders.fifo"),
)
# SQS actions by operation: a batch is authorized as its single-message action.
_SQS_ACTIONS = {
    "SendMessage": "SendMessage", "SendMessageBatch": "SendMessage", "ReceiveMessage": "ReceiveMessage",
    "DeleteMessage": "DeleteMessage", "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibility": "ChangeMessageVisibility", "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "GetQueueAttributes": "GetQueueAttributes",
}


class Unmappable(Exception):
    """A call whose IAM resource this module does not know how to derive."""


@dataclass(frozen=True)
class Call:
    action: str  # IAM action, e.g. dynamodb:DeleteItem
    resource: str  # the ARN AWS authorizes it on
    operation: str  # the API operation that needed it

    def __str__(self) -> str:
        return f"{self.action} on {self.resource} ({self.operation})"


def required(service: str, operation: str, params: dict[str, Any], region: str) -> list[Call]:
    """The (action, resource) pairs AWS checks for one API call."""
    arn = f"arn:aws:{service}:{region}:{ACCOUNT}:"

    def call(action: str, resource: str) -> Call:
        return Call(f"{service}:{action}", resource, operation)

    if service == "dynamodb":
        def table(name: str, index: str | None = None) -> str:
            return f"{arn}table/{name}" + (f"/index/{index}" if index else "")

        if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable", "Query", "Scan"):
            return [call(operation, table(params["TableName"], params.get("IndexName")))]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            # Authorized per item: Put→PutItem, ConditionCheck→ConditionCheckItem, …
            actions = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                       "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
            return [call(actions[kind], table(body["TableName"]))
                    for item in params["TransactItems"] for kind, body in item.items()]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [call(operation, table(name)) for name in params["RequestItems"]]
    if service == "ssm":
        def parameter(name: str) -> str:
            return name if name.startswith("arn:") else f"{arn}parameter/{name.lstrip('/')}"

        if operation in ("GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory"):
            return [call(operation, parameter(params["Name"]))]
        if operation == "GetParameters":
            return [call(operation, parameter(name)) for name in params["Names"]]
        if operation == "GetParametersByPath":
            return [call(operation, parameter(params["Path"]))]
    if service == "sqs" and operation in _SQS_ACTIONS:
        # The queue URL ends in /<account>/<name>, whatever the endpoint (AWS or moto's server).
        account, name = params["QueueUrl"].rstrip("/").split("/")[-2:]
        return [call(_SQS_ACTIONS[operation], f"arn:aws:sqs:{region}:{account}:{name}")]
    if service == "sns" and operation in ("Publish", "PublishBatch"):
        return [call(operation, params.get("TopicArn") or params["TargetArn"])]
    raise Unmappable(f"{service}:{operation}")


def to_prod(resource: str) -> str:
    for pattern, replacement in _TO_PROD:
        resource = pattern.sub(replacement, resource)
    return resource


# --- a small IAM evaluator: explicit Deny wins, else any matching Allow, else denied ------------


def _glob(pattern: str, value: str, *, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _in_network(cidr: str, address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False)


_OPERATORS = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringLike": lambda expected, actual: _glob(expected, actual, ignore_case=False),
    "IpAddress": _in_network,
}


def _condition_holds(condition: dict[str, Any], context: dict[str, Any], *, unknown: bool) -> bool:
    """StringEquals/StringLike/IpAddress (with ForAnyValue: and Not…) over the request context;
    an operator this evaluator does not know yields `unknown` (False for an Allow, True for a
    Deny: the safe side)."""
    for operator, tests in condition.items():
        any_value = operator.startswith("ForAnyValue:")
        base = operator.removeprefix("ForAnyValue:")
        negated = base.startswith("Not") and base[3:] in _OPERATORS
        match = _OPERATORS.get(base[3:] if negated else base)
        if match is None:
            return unknown
        for key, expected in tests.items():
            actual = context.get(key)
            if actual is None:
                return False
            values = _listed(actual) if any_value else [actual]
            if any(match(p, v) for p in _listed(expected) for v in values) == negated:
                return False
    return True


def _applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, Any]) -> bool:
    deny = statement["Effect"] == "Deny"
    if "Action" in statement:
        if not any(_glob(p, action, ignore_case=True) for p in _listed(statement["Action"])):
            return False
    elif any(_glob(p, action, ignore_case=True) for p in _listed(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(_glob(p, resource, ignore_case=False) for p in _listed(statement["Resource"])):
            return False
    elif any(_glob(p, resource, ignore_case=False) for p in _listed(statement["NotResource"])):
        return False
    return _condition_holds(statement.get("Condition", {}), context, unknown=deny)


def allows(policy: dict[str, Any], action: str, resource: str, context: dict[str, Any] | None = None) -> bool:
    statements = _listed(policy["Statement"])
    matching = [s for s in statements if _applies(s, action, resource, context or {})]
    return bool(matching) and all(s["Effect"] == "Allow" for s in matching)


def _queue_arns(value: Any) -> Any:
    """infra/build.py's references to the order queue, as the prod queue's ARN (any region, account)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical = value["Fn::GetAtt"][0]
        name = {"OrderQueue": "orders.fifo", "OrderDeadLetterQueue": "orders-dead.fifo"}[logical]
        return f"arn:aws:sqs:*:*:indstocks-relay-prod-{name}"
    if isinstance(value, list):
        return [_queue_arns(v) for v in value]
    if isinstance(value, dict):
        return {k: _queue_arns(v) for k, v in value.items()}
    return value


def role_policy(role: str) -> dict[str, Any]:
    """One function's role as the prod template has it: the policy file, plus what infra/build.py
    adds for that role alone (the order queue's statements)."""
    from infra.build import queue_statements

    policy = json.loads((REPO / ".chalice" / "policy-prod.json").read_text())
    policy["Statement"] = policy["Statement"] + _queue_arns(queue_statements().get(role, []))
    return policy


def prod_policy() -> dict[str, Any]:
    """What any of the functions may do: the policy file and every role's own statements."""
    from infra.build import queue_statements

    policy = json.loads((REPO / ".chalice" / "policy-prod.json").read_text())
    policy["Statement"] = policy["Statement"] + [s for statements in queue_statements().values()
                                                 for s in _queue_arns(statements)]
    return policy


def disallowed(calls: set[Call] | list[Call], policy: dict[str, Any] | None = None,
               name: str = "policy-prod.json") -> list[str]:
    """Every recorded call the prod policy would refuse, as readable lines."""
    policy = policy or prod_policy()
    return sorted(f"{call.action} on {to_prod(call.resource)} ({call.operation}) is not allowed by {name}"
                  for call in calls if not allows(policy, call.action, to_prod(call.resource)))


# --- the recorder ------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: set[Call] = set()
        self.unmappable: set[str] = set()
        self._listeners: list[set[Call]] = []

    def __call__(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not _called_by_relay_code():
            return
        service = model.service_model.signing_name
        try:
            calls = required(service, model.name, params, context.get("client_region") or "ap-south-1")
        except (Unmappable, KeyError):
            with self._lock:
                self.unmappable.add(f"{service}:{model.name}")
            return
        with self._lock:
            self.calls.update(calls)
            for listener in self._listeners:
                listener.update(calls)

    @contextmanager
    def recording(self) -> Iterator[set[Call]]:
        """The calls made inside the block (on top of the session-wide record)."""
        calls: set[Call] = set()
        with self._lock:
            self._listeners.append(calls)
        try:
            yield calls
        finally:
            with self._lock:
                self._listeners.remove(calls)

    def problems(self) -> list[str]:
        return disallowed(self.calls) + sorted(f"{name}: cannot derive its IAM resource" for name in self.unmappable)


def _called_by_relay_code() -> bool:
    frame = sys._getframe(2)
    relay = False
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_OPERATOR_CODE):
            return False
        relay = relay or filename.startswith(_RELAY_CODE)
        frame = frame.f_back
    return relay


recorder = Recorder()


def install() -> None:
    """Every botocore session created from now on calls the recorder before each API call."""
    if ("before-parameter-build", recorder) not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append(("before-parameter-build", recorder))
