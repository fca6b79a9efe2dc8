"""CloudWatch Logs Insights queries over the relay's structured log lines, in one place.

`relay logs --query NAME` runs these; infrastructure code (saved query definitions, dashboards)
can import `LOG_QUERIES` and `log_group_prefix` from here so the texts never drift apart.
Plain data and the standard library only: importing this module needs no AWS SDK.

The fields are the keys of the relay's JSON log lines (chalicelib/observability.py): every alert
has one line with `event = "alert"` and `outcome`; admin-key checks log `event = "admin_auth"`;
token storage, rotation and the pre-market check log `event = "token"` / `"token_check"` /
`"instrument_check"`;
warnings sent to the trader log `event = "notification"`; the minute sweep logs `event = "sweep"`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# An alert slower than this (ms, alert in → answer out) counts as slow; TradingView gives up at 3 s.
SLOW_ALERT_MS = 1500

_ALERT_FIELDS = "@timestamp, outcome, alert_id, symbol, side, qty, order_type, status_code, order_id, latency_ms"

# One command per line, each line after the first starting with "|".
LOG_QUERIES: dict[str, str] = {
    # Every alert line, newest first.
    "alerts": f"""fields {_ALERT_FIELDS}, broker_message, reason
| filter event = "alert"
| sort @timestamp desc
| limit 200""",
    # Alerts refused by INDstocks or by the relay itself (bad input, stale, wrong secret, no token).
    "rejections": """fields @timestamp, outcome, alert_id, symbol, side, qty, status_code, broker_error_type, broker_message, reason
| filter event = "alert" and outcome in ["rejected", "invalid_alert", "unknown_symbol", "stale_alert", "unauthorized", "token_unavailable", "token_invalid", "not_sent"]
| sort @timestamp desc
| limit 200""",
    # Today's alerts counted by outcome (the window starts at midnight IST unless --since is given).
    "today": """filter event = "alert"
| stats count(*) as alerts, avg(latency_ms) as avg_latency_ms, max(latency_ms) as max_latency_ms by outcome
| sort alerts desc""",
    # Orders whose fate was open: unknown outcomes, not sent, queued, and what the sweep found later.
    "unknown": """fields @timestamp, event, outcome, alert_id, key, symbol, side, qty, remarks, order_id, reconciled, absent, broker_message, reason
| filter (event = "alert" and outcome in ["unknown", "not_sent", "queued"]) or (event = "notification" and outcome in ["unknown", "absent"]) or (event = "sweep" and (reconciled > 0 or absent > 0 or sent > 0))
| sort @timestamp desc
| limit 200""",
    # Slow alerts, slowest first, with where the time went.
    "slow": f"""fields @timestamp, alert_id, outcome, symbol, latency_ms, to_broker_ms, broker_latency_ms, reconciled
| filter event = "alert" and latency_ms > {SLOW_ALERT_MS}
| sort latency_ms desc
| limit 100""",
    # Authentication: wrong webhook secrets/signatures, wrong admin keys, lockouts.
    "auth": """fields @timestamp, event, outcome, source_ip, failures_in_window, alert_id, reason
| filter (event = "alert" and outcome = "unauthorized") or event = "admin_auth"
| sort @timestamp desc
| limit 200""",
    # The daily token: stored, rotated, checked, missing, rejected, stale; and the pre-market
    # check of the instrument master that comes with it.
    "token": """fields @timestamp, event, outcome, source, healthy, reason, age_hours, expires_at, user_id, rows
| filter event in ["token", "token_check", "instrument_check"] or (event = "notification" and outcome in ["token_renewed", "token_stale", "rotation_failed", "token_not_stored", "token_dead", "instruments_unavailable"]) or (event = "alert" and outcome in ["token_unavailable", "token_invalid"])
| sort @timestamp desc
| limit 200""",
    # Errors of any kind, including Lambda's own (timeouts, crashes).
    "errors": """fields @timestamp, level, event, outcome, message, error_type, @logStream
| filter level in ["ERROR", "CRITICAL"] or @message like /Task timed out|Runtime\\.|Traceback/
| sort @timestamp desc
| limit 200""",
}

QUERY_DESCRIPTIONS: dict[str, str] = {
    "alerts": "every alert, newest first",
    "rejections": "alerts refused by INDstocks or by the relay",
    "today": "today's alerts counted by outcome (since midnight IST)",
    "unknown": "unknown outcomes, unsent and queued alerts, and what the sweep found",
    "slow": f"alerts slower than {SLOW_ALERT_MS} ms, slowest first",
    "auth": "wrong webhook secrets or signatures, wrong admin keys, lockouts",
    "token": "token stored, rotated, checked, missing or rejected; the pre-market instrument check",
    "errors": "ERROR lines and Lambda timeouts or crashes",
}

DEFAULT_QUERY = "alerts"


def log_group_prefix(stage: str, app_name: str = "indstocks-relay") -> str:
    """Chalice names every function of a stage `<app>-<stage>[-<handler>]`; Lambda logs to
    `/aws/lambda/<function>`."""
    return f"/aws/lambda/{app_name}-{stage}"


def is_stage_log_group(name: str, stage: str, app_name: str = "indstocks-relay") -> bool:
    """The API handler's group or one of the stage's scheduled functions (not `…-<stage>2`)."""
    prefix = log_group_prefix(stage, app_name)
    return name == prefix or name.startswith(prefix + "-")


# --- the same queries over the local stack's log file (one JSON line per event) -------------------
# moto has no Logs Insights, so `relay logs --stage local` applies these in Python; the outcome
# lists are the ones in the query texts above (tests/test_cli.py holds them together).

LOCAL_OUTCOMES: dict[str, list[str]] = {
    "rejections": ["rejected", "invalid_alert", "unknown_symbol", "stale_alert", "unauthorized", "token_unavailable",
                   "token_invalid", "not_sent"],
    "unknown": ["unknown", "not_sent", "queued"],
    "token": ["token_renewed", "token_stale", "rotation_failed", "token_not_stored", "token_dead", "instruments_unavailable"],
}


def _is(line: dict, event: str, outcomes: list[str] | None = None) -> bool:
    return line.get("event") == event and (outcomes is None or line.get("outcome") in outcomes)


def _number(line: dict, name: str) -> float:
    value = line.get(name)
    return float(value) if isinstance(value, (int, float)) else 0.0


LOCAL_FILTERS: dict[str, Callable[[dict], bool]] = {
    "alerts": lambda line: _is(line, "alert"),
    "rejections": lambda line: _is(line, "alert", LOCAL_OUTCOMES["rejections"]),
    "today": lambda line: _is(line, "alert"),
    "unknown": lambda line: (_is(line, "alert", LOCAL_OUTCOMES["unknown"]) or _is(line, "notification", ["unknown", "absent"])
                             or (_is(line, "sweep") and any(_number(line, n) > 0 for n in ("reconciled", "absent", "sent")))),
    "slow": lambda line: _is(line, "alert") and _number(line, "latency_ms") > SLOW_ALERT_MS,
    "auth": lambda line: _is(line, "alert", ["unauthorized"]) or _is(line, "admin_auth"),
    "token": lambda line: (line.get("event") in ("token", "token_check", "instrument_check")
                           or _is(line, "notification", LOCAL_OUTCOMES["token"])
                           or _is(line, "alert", ["token_unavailable", "token_invalid"])),
    "errors": lambda line: line.get("level") in ("ERROR", "CRITICAL")
    or bool(re.search(r"Task timed out|Runtime\.|Traceback", str(line.get("message", "")))),
}


def run_locally(name: str, lines: list[dict], since: float) -> list[dict[str, str]]:
    """Query `name` over parsed log lines (each with `@timestamp`, epoch ms) newer than `since`."""
    text = LOG_QUERIES[name]
    chosen = [line for line in lines if line["@timestamp"] >= since * 1000 and LOCAL_FILTERS[name](line)]
    if name == "today":
        by_outcome: dict[str, list[float]] = {}
        for line in chosen:
            by_outcome.setdefault(str(line.get("outcome")), []).append(_number(line, "latency_ms"))
        rows = [{"outcome": outcome, "alerts": str(len(ms)), "avg_latency_ms": f"{sum(ms) / len(ms):.1f}",
                 "max_latency_ms": f"{max(ms):g}"} for outcome, ms in by_outcome.items()]
        return sorted(rows, key=lambda row: -int(row["alerts"]))
    fields = [field.strip() for field in text.splitlines()[0].removeprefix("fields ").split(",")]
    order = "latency_ms" if "sort latency_ms" in text else "@timestamp"
    chosen.sort(key=lambda line: _number(line, order), reverse=True)
    limit = int(re.findall(r"\| limit (\d+)", text)[-1])
    return [{field: "" if line.get(field) is None else str(line[field]) for field in fields} for line in chosen[:limit]]
