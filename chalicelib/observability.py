"""Logs and metrics in one place: one structured JSON line per decision, EMF metrics per outcome.

Never pass tokens, the webhook secret, the admin key, raw bodies or headers to these helpers;
callers hand over named, already-safe fields only.

Every line of an invocation carries the correlation id (API Gateway request id); every line of
an alert also carries its alert id and ledger key. POWERTOOLS_LOGGER_SAMPLE_RATE turns on DEBUG
for that fraction of invocations. Metrics are CloudWatch EMF lines on stdout: no API calls,
nothing through the NAT.

Lambda runs one invocation per instance, but `chalice local` runs concurrent requests as threads
of one process. Log keys are therefore per thread, and Powertools' metric set (shared by every
`Metrics` object of the process) is only touched under one lock: unlocked, one request's flush
met another's `add_metric` ("dictionary changed size during iteration") and the request that
had just placed an order answered 500.
"""

from __future__ import annotations

import sys
import threading
import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit


class _CurrentStdout:
    """Writes to whatever sys.stdout is now (Lambda's stdout, or a test's capture)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(service="indstocks-relay", stream=_CurrentStdout())  # type: ignore[arg-type]
metrics = Metrics(service="indstocks-relay", namespace="IndstocksRelay")
_metrics_lock = threading.Lock()
_cold_start = True

# outcome of an alert → the metric that counts it
_OUTCOME_METRICS = {
    "placed": "OrdersPlaced",
    "rejected": "OrdersRejected",
    "unknown": "OrdersUnknown",
    "not_sent": "OrdersNotSent",
    "token_invalid": "OrdersNotSent",
    "held_back": "OrdersNotSent",  # a child order not sent after an earlier child's refusal or unknown outcome
    "queued": "OrdersQueued",
    "duplicate": "AlertsDuplicate",
    "stale_alert": "AlertsStale",
    "unauthorized": "AuthFailures",
    "invalid_alert": "AlertsInvalid",
    "ambiguous_format": "AlertsInvalid",
    "unknown_symbol": "AlertsInvalid",
    "token_unavailable": "TokenUnavailable",
    "risk_limit": "AlertsOverLimit",
    "implausible_tick": "AlertsInvalid",
}


def begin_invocation(correlation_id: str | None) -> None:
    """Start each invocation clean: no keys or metrics left over from a warm predecessor."""
    global _cold_start
    logger.thread_safe_clear_keys()
    # set_correlation_id() would write the process-wide keys, shared by concurrent local requests
    logger.thread_safe_append_keys(correlation_id=correlation_id)
    logger.refresh_sample_rate_calculation()
    if _cold_start:
        _cold_start = False
        count("ColdStart")


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    """Add one EMF data point (the only way metrics are added)."""
    with _metrics_lock:
        metrics.add_metric(name=name, unit=unit, value=value)


def end_invocation() -> None:
    """Flush this invocation's metrics. Never raises: the answer was decided already, and
    losing a data point must not turn it into a 500."""
    try:
        with _metrics_lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an invocation without metrics is normal
            metrics.flush_metrics()
    except Exception as error:  # noqa: BLE001 - observability must not break the answer
        logger.error("metrics not flushed", extra={"event": "metrics_failed", "error_type": type(error).__name__})


def tag_alert(**keys: Any) -> None:
    """Put the alert's identity on every following line of this invocation."""
    logger.thread_safe_append_keys(**{k: v for k, v in keys.items() if v is not None})


def log_alert(outcome: str, **fields: Any) -> None:
    """The one line that records what happened to an alert, and the metrics that count it."""
    clean = {key: value for key, value in fields.items() if value is not None}
    # A split order (over its freeze limit) counts each child order's outcome ("2/3:placed").
    outcomes = [child.rsplit(":", 1)[1] for child in clean.get("children", ())] or [outcome]
    level = logger.info if set(outcomes) == {"placed"} else logger.warning
    paper = " (paper)" if clean.get("mode") == "paper" else ""  # a paper alert says so in its line
    level("alert " + outcome + paper, extra={"event": "alert", "outcome": outcome, **clean})
    count("AlertsReceived")
    for each in outcomes:
        count(_OUTCOME_METRICS.get(each, "AlertsFailed"))
    for field, metric in (("latency_ms", "AlertLatency"), ("broker_latency_ms", "BrokerLatency"),
                          ("to_broker_ms", "AlertToBrokerLatency")):
        if isinstance(clean.get(field), (int, float)):
            count(metric, float(clean[field]), MetricUnit.Milliseconds)


def record_token_age(hours: float) -> None:
    count("TokenAgeHours", round(hours, 2))
