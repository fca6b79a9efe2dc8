"""`relay`: the operator's command line for one stage of indstocks-relay.

    relay [--stage dev] [--profile P] [--region R] [--endpoint-url URL] [--url RELAY_URL] COMMAND

    status          token present, its age, valid at INDstocks?, last alert, risk limits, egress IP
    orders          the alert ledger, newest first (--today, --since 2h, --status rejected, --mode paper, --limit N)
    logs            CloudWatch Logs Insights over the stage's log groups (--query rejections, …)
    paste-token     store a new INDstocks token through the relay (validated there, via the static IP)
    set-admin-key   store the scrypt hash of a new admin key in SSM
    test-alert      send one signed demo alert to the webhook (a REAL order unless the broker is simulated)

Parameter and table names come from chalicelib.config for the stage, so they are the app's own.
Tokens, webhook secrets and admin keys are never printed. Exit codes: 0 fine, 1 the relay, the
broker or the status check said no, 2 something to fix first (credentials, URL, missing resources).
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import os
import re
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TextIO

from relay_cli.aws import APP_NAME, CliError, Context, is_loopback_url, json_body, relay_request
from relay_cli.local_profile import LOCAL_STAGE
from relay_cli.queries import (
    DEFAULT_QUERY,
    LOG_QUERIES,
    QUERY_DESCRIPTIONS,
    is_stage_log_group,
    log_group_prefix,
    run_locally,
)

IST = timezone(timedelta(hours=5, minutes=30), "IST")
STATES = ("received", "queued", "sent", "placed", "rejected", "unknown", "absent", "failed", "split",
          "paused", "noop", "cancel")  # chalicelib.ledger.State
_STAGE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


# --- small helpers ------------------------------------------------------------------------------


def ist(moment: datetime | float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if moment is None:
        return "-"
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(float(moment), UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(IST).strftime(fmt) + " IST"


def ist_midnight(now: float) -> float:
    from chalicelib import moments  # the relay's own calendar; loaded when a command needs it

    return moments.ist_midnight(now)


def parse_since(text: str, now: float | None = None) -> float:
    """The relay's own grammar (chalicelib/moments.py): `2h`, `30m`, `1d`, `today`, or an ISO-8601
    time (no offset: IST). Returns epoch seconds."""
    from chalicelib import moments

    try:
        return moments.parse_since(text, time.time() if now is None else now)
    except ValueError as unreadable:
        raise argparse.ArgumentTypeError(f"{text!r} {unreadable}") from None


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _clip(value: Any, width: int) -> str:
    text = " ".join(str(value).split()) if value not in (None, "") else "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(headers: list[str], rows: list[list[str]], out: TextIO, last_unbounded: bool = True) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    for row in [headers, *rows]:
        cells = [cell if (last_unbounded and i == len(row) - 1) else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        print("  ".join(cells).rstrip(), file=out)


def _account_name(profile: dict[str, Any]) -> str:
    name = " ".join(str(profile.get(key) or "").strip() for key in ("first_name", "last_name")).strip()
    return name or str(profile.get("user_id") or "unknown account")


# --- secrets from the operator ------------------------------------------------------------------


def _hidden_prompt(prompt: str, what: str, hint: str) -> str:
    """Ask on the terminal without echo; no terminal is an error, never a silent stdin read."""
    import getpass
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return getpass.getpass(prompt)
        except (getpass.GetPassWarning, EOFError):
            raise CliError(f"no terminal to ask for {what}: {hint}") from None


def _read_key_file(path: str | None) -> str:
    """The first line of a file (stdin is the token's, so a key cannot come from there too)."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as file:
            key = file.readline().strip()
    except OSError as error:
        raise CliError(f"cannot read the admin key file {path}: {error.strerror or type(error).__name__}") from None
    if not key:
        raise CliError(f"the admin key file {path} is empty")
    return key


def _stdin_is_tty() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _read_stdin(what: str, *, first_line: bool = False) -> str:
    if sys.stdin is None:
        raise CliError(f"no input to read {what} from")
    text = sys.stdin.readline() if first_line else sys.stdin.read()
    return text.rstrip("\r\n") if first_line else text.strip()


# --- the ledger ---------------------------------------------------------------------------------


def read_journal(ctx: Context, *, state: str | None = None, since: float | None = None, limit: int = 50,
                 account: str | None = None, mode: str | None = None) -> list[dict[str, Any]]:
    """The app's own journal query (chalicelib.ledger), with errors that name the problem; every
    account's items, or `account`'s; of one mode when asked."""
    from chalicelib.accounts import account_book
    from chalicelib.errors import DependencyUnavailable
    from chalicelib.ledger import JOURNAL_INDEX, Ledger

    table = ctx.settings.orders_table
    book = account_book(ctx.settings)
    if account is not None and account not in book.names:
        raise CliError(f"no account {account!r} in stage {ctx.stage} (it has {', '.join(book.names)})")
    ledger = Ledger(lambda: ctx.client("dynamodb"), table, ctx.settings.order_retention_days, unmarked=book.first.name)
    try:
        return ledger.journal(state=state, since=since, limit=limit, account=account, mode=mode)
    except DependencyUnavailable:
        found = ctx.call("dynamodb", "describe_table", f"reading the orders table {table}",
                         missing=("ResourceNotFoundException",), TableName=table)
        if found is None:
            raise CliError(f"the orders table {table} does not exist in {ctx.where} (stage {ctx.stage})") from None
        raise CliError(f"cannot query the {JOURNAL_INDEX!r} index of the orders table {table} in {ctx.where}") from None


def _describe_alert(item: dict[str, Any]) -> str:
    symbol = f"{item.get('exchange')}:{item.get('symbol')}" if item.get("exchange") else item.get("symbol", "?")
    parts = [ist(_received(item)), item.get("alert_id") or item.get("key", "?"), f"{symbol} {item.get('side', '?')} {item.get('qty', '?')}",
             str(item.get("state", "?"))]
    if item.get("order_id"):
        parts.append(str(item["order_id"]))
    return "  ".join(str(part) for part in parts)


def _received(item: dict[str, Any]) -> datetime | None:
    text = item.get("received_at")
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _message(item: dict[str, Any]) -> str:
    parts = []
    if item.get("broker_status") and item.get("state") == "placed":
        fill = f" {item['traded_qty']}@{item['traded_price']}" if item.get("traded_qty") else ""
        parts.append(f"{item['broker_status']}{fill}")
    for name in ("message", "exchange_message"):
        if item.get(name):
            parts.append(str(item[name]))
    return " · ".join(parts)


# --- commands -----------------------------------------------------------------------------------


def cmd_status(ctx: Context, args: argparse.Namespace, out: TextIO) -> int:
    from chalicelib.accounts import account_book

    settings = ctx.settings
    now = time.time()
    rows: list[tuple[str, str]] = []
    problems = 0
    accounts = account_book(settings).accounts
    for account in accounts:  # each account's token, under its name when the stage has several
        label = "" if len(accounts) == 1 else f" {account.name}"
        found, broken = _token_rows(ctx, args, account.token_parameter or "", now, label)
        rows.extend(found)
        problems += broken

    try:
        newest = read_journal(ctx, limit=1)
        rows.append(("last alert", _describe_alert(newest[0]) if newest else "none recorded"))
    except CliError as error:
        rows.append(("last alert", f"unknown: {error}"))
        problems += 1

    rows.append(("risk limits", _risk_limits(ctx, now)))
    rows.append(("egress IP", _egress_ip(ctx)))

    if ctx.has_url:
        url = ctx.url
        try:
            health = relay_request("GET", url + "/health", "checking the relay", timeout=(5, 10))
            healthy = health.status_code == 200
            rows.append(("relay", f"{'ok' if healthy else f'HTTP {health.status_code}'} at {url}"))
        except CliError:
            healthy = False
            rows.append(("relay", f"UNREACHABLE at {url}"))
        problems += not healthy

    print(f"indstocks-relay stage {ctx.stage} ({ctx.where})", file=out)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}", file=out)
    return 1 if problems else 0


def _token_rows(ctx: Context, args: argparse.Namespace, name: str, now: float, label: str
                ) -> tuple[list[tuple[str, str]], int]:
    """One account's token: where it is stored, its age, whether INDstocks takes it."""
    rows: list[tuple[str, str]] = []
    problems = 0
    reply = ctx.call("ssm", "get_parameter", f"reading {name}", missing=("ParameterNotFound",), Name=name, WithDecryption=True)
    token = ""
    if reply is None:
        rows.append((f"token{label}", f"MISSING: no parameter {name}; store one with `relay paste-token`"))
        problems += 1
    else:
        token = str(reply["Parameter"].get("Value") or "").strip()
        modified = reply["Parameter"].get("LastModifiedDate")
        if not token:
            rows.append((f"token{label}", f"EMPTY: parameter {name} holds no token; store one with `relay paste-token`"))
            problems += 1
        elif isinstance(modified, datetime):
            age = now - modified.timestamp()
            stale = age / 3600 > ctx.settings.token_stale_hours
            rows.append((f"token{label}", f"{'STALE: ' if stale else ''}present in {name}, stored {ist(modified)} (age {_age(age)})"))
            rows.append((f"expires{label}", f"about {ist(modified + timedelta(hours=24), '%d %b %Y, %H:%M')} (24 h after it was stored)"))
            problems += stale
        else:
            rows.append((f"token{label}", f"present in {name} (age unknown)"))

    if token and not args.no_broker:
        rows.append((f"validity{label}", _check_with_broker(ctx, args, token)))
        problems += not rows[-1][1].startswith("valid")
    return rows, problems


def _risk_limits(ctx: Context, now: float) -> str:
    """The stage's limits (its settings) and how much of today's order count is used."""
    from chalicelib.errors import DependencyUnavailable
    from chalicelib.risk import RiskLimits, day_counter
    from chalicelib.state import StateTable

    limits = RiskLimits.from_settings(ctx.settings)
    text = (f"MAX_ORDER_QTY {limits.max_order_qty} · MAX_ORDER_VALUE ₹{limits.max_order_value:,.0f} · "
            f"MAX_ORDERS_PER_DAY {limits.max_orders_per_day}")
    from chalicelib.accounts import account_book, namespace

    book = account_book(ctx.settings)
    table = StateTable(lambda: ctx.client("dynamodb"), ctx.settings.state_table)
    used = []
    try:
        for account in book.accounts:  # each account counts its own orders
            count = table.within(namespace(account, book)).read_count(day_counter(now))
            used.append(f"{count}" if len(book.accounts) == 1 else f"{account.name} {count}")
    except DependencyUnavailable:
        return f"{text} (today's count unreadable)"
    return f"{text} ({', '.join(used)} used today, IST)"


def _check_with_broker(ctx: Context, args: argparse.Namespace, token: str) -> str:
    """GET /user/profile with the stored token, the way the relay validates tokens."""
    from chalicelib.broker import BrokerClient
    from chalicelib.errors import DependencyUnavailable, RelayError, TokenUnavailable

    broker_url = (args.broker_url or ctx.local.get("broker_url") or os.environ.get("INDSTOCKS_BASE_URL") or "").rstrip("/")
    if not broker_url:
        if ctx.stage == LOCAL_STAGE:  # a local token never goes to the real broker
            return "UNVERIFIED: no broker URL for the local stage (pass --broker-url, or start the stack with `make run`)"
        broker_url = ctx.settings.indstocks_base_url.rstrip("/")
    client = BrokerClient(broker_url, connect_timeout=3, read_timeout=10)
    try:
        profile = client.profile(token)
    except TokenUnavailable:
        return f"REJECTED by INDstocks at {broker_url}: store a new token with `relay paste-token`"
    except DependencyUnavailable:
        return f"UNVERIFIED: no usable answer from INDstocks at {broker_url}"
    except RelayError as error:
        return f"UNVERIFIED: {error.public_message}"
    user = profile.get("user_id")
    return f"valid: {_account_name(profile)}{f' ({user})' if user else ''} per {broker_url}/user/profile"


def _egress_ip(ctx: Context) -> str:
    stack = f"{APP_NAME}-{ctx.stage}-network"
    try:
        reply = ctx.call("cloudformation", "describe_stacks", f"reading the stack {stack}",
                         missing=("ValidationError",), StackName=stack)
    except CliError as error:
        return f"unknown ({error})"
    if not reply or not reply.get("Stacks"):
        return f"unknown (no stack {stack})"
    outputs = {o.get("OutputKey"): o.get("OutputValue") for o in reply["Stacks"][0].get("Outputs") or []}
    shown, allocation = outputs.get("EgressIp"), outputs.get("EgressAllocationId")
    if shown and _is_ip(shown):
        return f"{shown} (stack {stack})"
    if allocation:  # a reused Elastic IP: CloudFormation cannot output its address, EC2 can
        try:
            found = ctx.call("ec2", "describe_addresses", f"reading the Elastic IP {allocation}",
                             missing=("InvalidAllocationID.NotFound",), AllocationIds=[allocation])
        except CliError as error:
            return f"unknown ({error})"
        address = ((found or {}).get("Addresses") or [{}])[0].get("PublicIp")
        if address:
            return f"{address} (Elastic IP {allocation}, stack {stack})"
        return f"unknown (the Elastic IP {allocation} of stack {stack} no longer exists)"
    if shown:
        return f"{shown} (stack {stack})"
    return f"unknown (stack {stack} has no EgressIp output)"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def cmd_orders(ctx: Context, args: argparse.Namespace, out: TextIO) -> int:
    since = ist_midnight(time.time()) if args.today else args.since
    items = read_journal(ctx, state=args.status, since=since, limit=args.limit, account=args.account, mode=args.mode)
    several = len({item.get("account") for item in items}) > 1 or args.account is not None
    if args.json:
        print(json.dumps(items, indent=2, default=str), file=out)
        return 0
    filters = [f"since {ist(since)}" if since is not None else "", f"state {args.status}" if args.status else "",
               f"account {args.account}" if args.account else "", f"{args.mode} only" if args.mode else ""]
    described = ", ".join(part for part in filters if part)
    if not items:
        print(f"no alerts in {ctx.settings.orders_table}{' (' + described + ')' if described else ''}", file=out)
        return 0
    rows = []
    for item in items:
        symbol = f"{item.get('exchange')}:{item.get('symbol')}" if item.get("exchange") else item.get("symbol")
        rows.append([
            ist(_received(item)).removesuffix(" IST"), _clip(item.get("alert_id") or item.get("key"), 40), _clip(symbol, 20),
            _clip(item.get("side"), 4), _clip(item.get("qty"), 8), _clip(item.get("state"), 8), _clip(item.get("mode"), 5),
            _clip(item.get("order_id"), 24), _clip(_message(item), 70),
        ])  # fmt: skip
        if several:  # the account, when the items belong to several (or one was asked for)
            rows[-1].insert(1, _clip(item.get("account"), 16))
    headers = ["TIME (IST)", "ALERT ID", "SYMBOL", "SIDE", "QTY", "STATE", "MODE", "ORDER ID", "MESSAGE"]
    print_table(headers[:1] + ["ACCOUNT"] + headers[1:] if several else headers, rows, out)
    print(f"{len(items)} alert(s), newest first{' (' + described + ')' if described else ''}", file=out)
    return 0


def cmd_logs(ctx: Context, args: argparse.Namespace, out: TextIO) -> int:
    name = args.query or DEFAULT_QUERY
    text = LOG_QUERIES[name]
    prefix = log_group_prefix(ctx.stage)
    if args.show_query:
        print(f"# {name}: {QUERY_DESCRIPTIONS[name]}\n# log groups: {prefix}*\n{text}", file=out)
        return 0
    now = time.time()
    since = args.since if args.since is not None else (ist_midnight(now) if name == "today" else now - 3600)
    if ctx.local.get("log_file") and ctx.endpoint_url == ctx.local.get("aws_endpoint_url"):  # not another endpoint
        return _local_logs(ctx.local["log_file"], name, since, out)
    groups = [
        group["logGroupName"]
        for page in ctx.paginate("logs", "describe_log_groups", "listing log groups", logGroupNamePrefix=prefix)
        for group in page.get("logGroups", [])
        if is_stage_log_group(group.get("logGroupName", ""), ctx.stage)
    ]
    if not groups:
        raise CliError(f"no log groups {prefix}* in {ctx.where}: is stage {ctx.stage} deployed, and has it run yet?")
    started = ctx.call("logs", "start_query", "running a Logs Insights query", logGroupNames=groups[:50],
                       startTime=int(since), endTime=int(now) + 1, queryString=text)
    query_id = started["queryId"]
    deadline = time.monotonic() + args.timeout
    while True:
        result = ctx.call("logs", "get_query_results", "reading Logs Insights results", queryId=query_id)
        status = result.get("status")
        if status == "Complete":
            break
        if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
            raise CliError(f"the Logs Insights query ended with status {status}")
        if time.monotonic() > deadline:
            ctx.call("logs", "stop_query", "stopping the query", missing=("InvalidParameterException",), queryId=query_id)
            raise CliError(f"the Logs Insights query did not finish within {args.timeout:.0f} s (try a shorter --since)")
        time.sleep(0.5)
    results = result.get("results", [])
    records = [{f["field"]: f.get("value", "") for f in row if f.get("field") != "@ptr"} for row in results]
    records = [record for record in records if record]
    print(f"{name}: {QUERY_DESCRIPTIONS[name]} — {len(groups)} log group(s), since {ist(since)}", file=out)
    if not records:
        print(f"{len(results)} result(s) without fields (the endpoint does not evaluate this query)" if results
              else "no matching log lines", file=out)
        return 0
    columns: list[str] = []
    for record in records:
        columns.extend(field for field in record if field not in columns)
    rows = [[_log_value(field, record.get(field)) for field in columns] for record in records]
    print_table(columns, rows, out)
    print(f"{len(records)} result(s)", file=out)
    return 0


def _local_logs(path: str, name: str, since: float, out: TextIO) -> int:
    """The local stack has no Logs Insights: the same query over its log file, in Python."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            lines = [line for line in map(_log_line, file) if line is not None]
    except OSError:
        raise CliError(f"cannot read the local stack's log {path}: is `make run` running?") from None
    print(f"{name}: {QUERY_DESCRIPTIONS[name]} — the local stack's log, since {ist(since)}", file=out)
    records = run_locally(name, lines, since)
    if not records:
        print("no matching log lines", file=out)
        return 0
    columns = list(records[0])
    print_table(columns, [[_log_value(field, record.get(field)) for field in columns] for record in records], out)
    print(f"{len(records)} result(s)", file=out)
    return 0


def _log_line(text: str) -> dict[str, Any] | None:
    """One structured line (Powertools: `"timestamp": "2026-11-25 04:43:02,123+0000"`), else None."""
    try:
        line = json.loads(text)
        moment = datetime.strptime(str(line["timestamp"]), "%Y-%m-%d %H:%M:%S,%f%z")
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(line, dict):
        return None
    return {**line, "@timestamp": int(moment.timestamp() * 1000), "@logStream": "chalice local"}


def _log_value(field: str, value: str | None) -> str:
    if value in (None, ""):
        return "-"
    if field == "@timestamp":
        text = str(value)
        if text.isdigit():  # epoch milliseconds (moto)
            return ist(int(text) / 1000).removesuffix(" IST")
        try:  # Logs Insights: "2026-11-25 04:43:02.123", UTC
            return ist(datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)).removesuffix(" IST")
        except ValueError:
            return text
    return _clip(value, 120)


def _require_safe_transport(url: str, what: str) -> None:
    if url.startswith("http://") and not is_loopback_url(url):
        raise CliError(f"refusing to send {what} over plain http to {url}: use the https API URL")


def cmd_paste_token(ctx: Context, args: argparse.Namespace, out: TextIO) -> int:
    url = ctx.url
    _require_safe_transport(url, "the admin key and the token")
    if _stdin_is_tty():
        token = _hidden_prompt("INDstocks token (hidden): ", "the token", "pipe it into `relay paste-token`").strip()
    else:
        token = _read_stdin("the token")
    if not token:
        raise CliError("no token given (pipe it in, or paste it at the prompt)")
    admin_key = _admin_key(ctx, args)
    response = relay_request("POST", url + "/token", "storing the token",
                             json={"admin_key": admin_key, "token": token}, timeout=(5, 30))
    body = json_body(response)
    if response.status_code == 200 and body.get("status") == "stored":
        user = body.get("user_id")
        print(f"Token stored for {body.get('account_name')}{f' ({user})' if user else ''}. "
              f"It expires {body.get('expires_at_ist')}.", file=out)
        return 0
    reason = body.get("message") or body.get("error") or "no details"
    print(f"relay: the token was NOT stored (HTTP {response.status_code}): {reason}", file=sys.stderr)
    return 1


def _admin_key(ctx: Context, args: argparse.Namespace) -> str:
    return (args.admin_key or _read_key_file(args.admin_key_file) or os.environ.get("RELAY_ADMIN_KEY")
            or ctx.local.get("admin_key") or _hidden_prompt(
        "admin key (hidden): ", "the admin key", "pass --admin-key-file FILE or set RELAY_ADMIN_KEY"))


def cmd_switch(ctx: Context, args: argparse.Namespace, out: TextIO) -> int:
    """relay pause / relay resume: the kill switch, for the stage or one strategy."""
    url = ctx.url
    _require_safe_transport(url, "the admin key")
    request = {"admin_key": _admin_key(ctx, args), **({"strategy": args.strategy} if args.strategy else {}),
               **({"reason": args.reason} if getattr(args, "reason", None) else {}),
               **({"scope": args.scope} if getattr(args, "scope", None) else {})}
    response = relay_request("POST", f"{url}/{args.command}", f"{args.command} the relay", json=request, timeout=(5, 30))
    body = json_body(response)
    if response.status_code != 200:
        reason = body.get("message") or body.get("error") or "no details"
        print(f"relay: {args.command} was refused (HTTP {response.status_code}): {reason}", file=sys.stderr)
        return 1
    for cancel in body.get("cancels", []):
        print(f"cancel {cancel.get('order_id')}: {cancel.get('status')}", file=out)
    for close in body.get("closes", []):
        print(f"close {close.get('security_id')} {close.get('product')} net {close.get('net')}: {close.get('status')}"
              f"{' ' + close['order_id'] if close.get('order_id') else ''}", file=out)
    strategies = ", ".join(body.get("paused_strategies") or []) or "none"
    print(f"Relay {'PAUSED' if body.get('paused') else 'live'}; paused strategies: {strategies} "
          f"(since {body.get('since')}).", file=out)
    return 0


def cmd_set_admin_key(ctx: Context, args: argparse.Namespace, out: TextIO) -> int:
    from chalicelib.admin import MIN_KEY_LENGTH, hash_admin_key

    if _stdin_is_tty():
        key = _hidden_prompt(f"new admin key (hidden, at least {MIN_KEY_LENGTH} characters): ", "the new admin key",
                             "pipe it into `relay set-admin-key`")
        if key != _hidden_prompt("the same key again: ", "the new admin key", "pipe it into `relay set-admin-key`"):
            raise CliError("the two keys differ; nothing was stored")
    else:
        key = _read_stdin("the new admin key", first_line=True)
    try:
        hashed = hash_admin_key(key)
    except ValueError as error:
        raise CliError(f"{error}; nothing was stored") from None
    name = ctx.settings.admin_key_parameter
    ctx.call("ssm", "put_parameter", f"storing {name}", Name=name, Value=hashed, Type="SecureString", Overwrite=True)
    print(f"Stored the new admin key's scrypt hash in {name} (SecureString, stage {ctx.stage}). "
          "Warm relay instances use it within 5 minutes.", file=out)
    return 0


def _webhook_secret(ctx: Context, args: argparse.Namespace) -> str:
    secret = args.secret or os.environ.get("WEBHOOK_SECRET")
    if secret:
        return secret
    name = ctx.settings.webhook_secret_parameter
    reply = ctx.call("ssm", "get_parameter", f"reading {name}", missing=("ParameterNotFound",), Name=name, WithDecryption=True)
    value = str(reply["Parameter"].get("Value") or "") if reply else ""
    if not value:
        raise CliError(f"no webhook secret: parameter {name} is missing or empty (or pass --secret / WEBHOOK_SECRET)")
    return value


def cmd_test_alert(ctx: Context, args: argparse.Namespace, out: TextIO) -> int:
    from chalicelib.auth import sign

    url = ctx.url
    alert: dict[str, Any] = {
        "symbol": args.symbol,
        "action": args.action,
        "quantity": args.quantity,
        "alert_id": args.alert_id or f"relay-test-{int(time.time())}-{secrets.token_hex(3)}",
    }
    if args.exchange:
        alert["exchange"] = args.exchange
    described = f"{args.action.upper()} {args.quantity} {args.exchange + ':' if args.exchange else ''}{args.symbol}"
    if not (args.yes or is_loopback_url(url)):
        question = f"This sends a real alert ({described}) to {url}; INDstocks will get an order. Type 'yes' to go on: "
        if not _stdin_is_tty():
            raise CliError(f"refusing to send a live alert ({described}) to {url} without --yes")
        if input(question).strip().lower() != "yes":
            raise CliError("nothing sent")
    secret = _webhook_secret(ctx, args)
    raw = json.dumps(alert, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Relay-Signature": sign(raw, secret, int(time.time()))}
    # The signed route: /webhook admits only TradingView's IPs in AWS.
    response = relay_request("POST", url + "/webhook/signed", "sending the test alert", data=raw, headers=headers, timeout=(5, 30))
    body = json_body(response)
    status = body.get("status") or body.get("error") or "no JSON answer"
    print(f"{described} (alert {alert['alert_id']}) → HTTP {response.status_code}: {status}", file=out)
    for key, value in body.items():
        if key not in ("status",):
            print(f"  {key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}", file=out)
    return 0 if 200 <= response.status_code < 300 else 1


# --- the parser ---------------------------------------------------------------------------------


def _stage(text: str) -> str:
    if not _STAGE.match(text):
        raise argparse.ArgumentTypeError(f"invalid stage name {text!r}")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 5000:
        raise argparse.ArgumentTypeError("must be between 1 and 5000")
    return value


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The same options before or after the command (after it, they override)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("stage and endpoints")
    group.add_argument("--stage", type=_stage, default=default(None), help="the relay's stage: dev (default), prod, local, …")
    group.add_argument("--profile", default=default(None), help="AWS profile (default: the usual AWS credential chain)")
    group.add_argument("--region", default=default(None), help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION, else ap-south-1)")
    group.add_argument("--endpoint-url", default=default(None), metavar="URL",
                       help="AWS endpoint, e.g. the local stack's moto server (default: AWS_ENDPOINT_URL)")
    group.add_argument("--url", default=default(None), metavar="URL",
                       help="the relay's base URL: http://127.0.0.1:8000 for `make run`, or the API URL ending in /api "
                            "(default: RELAY_URL, else .chalice/deployed/<stage>.json)")


def _admin_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin-key", help="the admin key (visible to other users in the process list: prefer the file)")
    parser.add_argument("--admin-key-file", metavar="FILE",
                        help="read the admin key from the first line of FILE (default: RELAY_ADMIN_KEY, else a hidden prompt)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description="Operate one stage of indstocks-relay.",
                                     epilog="Exit codes: 0 ok, 1 refused or unhealthy, 2 fix the setup first.")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    status = commands.add_parser("status", parents=[common], help="token, its age and validity, last alert, egress IP")
    status.add_argument("--broker-url", metavar="URL",
                        help="INDstocks base URL for the validity check (default: INDSTOCKS_BASE_URL, else the stage's)")
    status.add_argument("--no-broker", action="store_true", help="skip the validity check at INDstocks")
    status.set_defaults(handler=cmd_status)

    orders = commands.add_parser("orders", parents=[common], help="the alert ledger, newest first")
    window = orders.add_mutually_exclusive_group()
    window.add_argument("--today", action="store_true", help="alerts since midnight IST")
    window.add_argument("--since", type=parse_since, metavar="WHEN", help="2h, 30m, 1d, or a time (2026-11-25T09:00, IST)")
    orders.add_argument("--status", choices=STATES, help="only alerts in this state")
    orders.add_argument("--mode", choices=("live", "paper"), help="only live orders, or only paper ones")
    orders.add_argument("--limit", type=_positive, default=50, help="at most this many (default 50)")
    orders.add_argument("--account", help="only this account's alerts (a stage with several accounts)")
    orders.add_argument("--json", action="store_true", help="the ledger items as JSON")
    orders.set_defaults(handler=cmd_orders)

    logs = commands.add_parser("logs", parents=[common], help="CloudWatch Logs Insights over the stage's log groups",
                               description="Queries: " + "; ".join(f"{k}: {v}" for k, v in QUERY_DESCRIPTIONS.items()))
    logs.add_argument("--since", type=parse_since, metavar="WHEN", help="default 1h (today: since midnight IST)")
    logs.add_argument("--query", choices=sorted(LOG_QUERIES), default=None, help=f"which query (default {DEFAULT_QUERY})")
    logs.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the query (default 60)")
    logs.add_argument("--show-query", action="store_true", help="print the query text and stop")
    logs.set_defaults(handler=cmd_logs)

    paste = commands.add_parser("paste-token", parents=[common],
                                help="store a new INDstocks token through the relay (reads stdin or asks)")
    _admin_key_options(paste)
    paste.set_defaults(handler=cmd_paste_token)

    for name, what in (("pause", "stop sending orders: the whole stage, or --strategy NAME alone"),
                       ("resume", "send orders again: the whole stage, or --strategy NAME alone"),
                       ("flatten", "pause, cancel the open orders and close the positions (--scope relay|all)")):
        switch = commands.add_parser(name, parents=[common], help=what)
        switch.add_argument("--strategy", help="only this strategy (the alerts' `strategy` field)")
        if name == "pause":
            switch.add_argument("--reason", help="why (kept with the switch, shown by the answer)")
        if name == "flatten":
            switch.add_argument("--scope", choices=("relay", "all"), default="relay",
                                help="relay: the instruments the relay traded today (default); all: the whole account")
        _admin_key_options(switch)
        switch.set_defaults(handler=cmd_switch)

    admin = commands.add_parser("set-admin-key", parents=[common],
                                help="store the hash of a new admin key in SSM (reads stdin or asks twice)")
    admin.set_defaults(handler=cmd_set_admin_key)

    test = commands.add_parser("test-alert", parents=[common], help="send one signed demo alert to the webhook")
    test.add_argument("--symbol", default="SBIN")
    test.add_argument("--action", type=str.lower, choices=("buy", "sell"), default="buy")
    test.add_argument("--quantity", type=_positive, default=1)
    test.add_argument("--exchange", type=str.upper, choices=("NSE", "BSE"), default=None,
                      help="default: the symbol's prefix, else NSE")
    test.add_argument("--alert-id", help="default: relay-test-<time>-<random>")
    test.add_argument("--secret", help="the webhook secret (default: WEBHOOK_SECRET, else the stage's SSM parameter)")
    test.add_argument("--yes", action="store_true", help="do not ask before sending to a non-local relay")
    test.set_defaults(handler=cmd_test_alert)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # usage errors and --help: argparse has printed them
        return exit_.code if isinstance(exit_.code, int) else 2
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code = int(args.handler(Context.from_args(args), args, sys.stdout))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except CliError as error:
        print(f"relay: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("relay: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - one line, never a traceback (which could hold values)
        if os.environ.get("RELAY_DEBUG"):
            raise
        print(f"relay: unexpected {type(error).__name__} (run with RELAY_DEBUG=1 for details)", file=sys.stderr)
        return 1


def _reader_went_away() -> int:
    """`relay orders | head`: the reader has what it wanted; stop like a command killed by SIGPIPE,
    without a message, and keep Python's final flush from failing on the closed pipe."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
    return 128 + 13  # SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
