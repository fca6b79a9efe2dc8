"""What CloudWatch will see: correlated log lines without secrets, EMF metrics per outcome."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import SEEDED_ADMIN_KEY, SEEDED_SECRET, SEEDED_TOKEN


def emitted(out: str) -> tuple[list[dict], list[dict]]:
    """(log lines, EMF metric documents) printed to stdout."""
    documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    metrics = [doc for doc in documents if "_aws" in doc]
    logs = [doc for doc in documents if "_aws" not in doc]
    return logs, metrics


def metric_names(documents: list[dict]) -> dict[str, float]:
    counted: dict[str, float] = {}
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = doc[metric["Name"]]
                total = sum(value) if isinstance(value, list) else value
                counted[metric["Name"]] = counted.get(metric["Name"], 0) + total
    return counted


@pytest.mark.parametrize(
    "prepare, fields, metric",
    [
        (None, {}, "OrdersPlaced"),
        ("rms_reject", {}, "OrdersRejected"),
        ("http500", {}, "OrdersUnknown"),
        (None, {"secret": "wrong-secret"}, "AuthFailures"),
        (None, {"quantity": "2.5"}, "AlertsInvalid"),
        (None, {"time": "2020-01-01T00:00:00Z"}, "AlertsStale"),
        (None, {"quantity": 10_001}, "AlertsOverLimit"),  # over MAX_ORDER_QTY's default
    ],
)
def test_one_metric_per_outcome(stack, capsys, prepare, fields, metric):
    if prepare:
        stack.simulator.inject_fault("/order", prepare, place=False)
    capsys.readouterr()
    stack.post(stack.alert(**fields))
    _, documents = emitted(capsys.readouterr().out)
    counted = metric_names(documents)
    assert counted.get(metric) == 1, counted
    assert counted.get("AlertsReceived") == 1
    assert documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "IndstocksRelay"


def test_duplicates_are_counted(stack, capsys):
    body = stack.alert()
    stack.post(body)
    capsys.readouterr()
    stack.post(body)
    _, documents = emitted(capsys.readouterr().out)
    assert metric_names(documents).get("AlertsDuplicate") == 1


def test_latencies_are_measured(stack, capsys):
    capsys.readouterr()
    stack.post(stack.alert())
    _, documents = emitted(capsys.readouterr().out)
    counted = metric_names(documents)
    for name in ("AlertLatency", "BrokerLatency", "AlertToBrokerLatency"):
        assert counted.get(name, -1) >= 0, name


def test_every_line_of_an_alert_carries_its_correlation_fields(stack, capsys):
    stack.simulator.inject_fault("/order", "http500", place=True)  # unknown → reconciled: several lines
    capsys.readouterr()
    stack.post(stack.alert(alert_id="corr-1"))
    logs, _ = emitted(capsys.readouterr().out)
    assert logs
    for line in logs:
        assert line.get("correlation_id"), line
        assert line.get("alert_id") == "corr-1" and line.get("ledger_key") == "id:corr-1", line


def test_keys_do_not_leak_into_the_next_invocation(stack, capsys):
    stack.post(stack.alert(alert_id="first-1"))
    capsys.readouterr()
    stack.client.http.get("/orders", headers={"X-Admin-Key": "wrong-key-value-1"})
    logs, _ = emitted(capsys.readouterr().out)
    assert logs and all("alert_id" not in line for line in logs)


def test_no_secret_token_or_admin_key_in_any_output(stack, capsys):
    stack.post(stack.alert())
    stack.post(stack.alert(secret="not-the-secret"))
    stack.client.http.get("/orders", headers={"X-Admin-Key": SEEDED_ADMIN_KEY})
    stack.client.http.get("/orders", headers={"X-Admin-Key": "wrong-admin-key-xyz"})
    out, err = capsys.readouterr()
    for value in (SEEDED_SECRET, SEEDED_TOKEN, SEEDED_ADMIN_KEY, "not-the-secret", "wrong-admin-key-xyz"):
        assert value not in out + err


def test_cold_start_is_counted_once(stack, capsys):
    from chalicelib import observability

    observability._cold_start = True
    capsys.readouterr()
    stack.post(stack.alert())
    stack.post(stack.alert())
    _, documents = emitted(capsys.readouterr().out)
    assert metric_names(documents).get("ColdStart") == 1


# --- concurrent requests (`chalice local` answers each in a thread of one process) ----------


def test_a_failing_metrics_flush_does_not_change_the_answer(stack, capsys, monkeypatch):
    from chalicelib import observability

    def broken_flush(*_args, **_kwargs):
        raise RuntimeError("dictionary changed size during iteration")

    monkeypatch.setattr(observability.metrics, "flush_metrics", broken_flush)
    capsys.readouterr()
    response = stack.post(stack.alert(alert_id="flush-fails"))
    assert response.status_code == 200 and response.json_body["status"] == "placed"
    assert len(stack.simulator.order_writes()) == 1
    logs, _ = emitted(capsys.readouterr().out)
    [failure] = [line for line in logs if line.get("event") == "metrics_failed"]
    assert failure["error_type"] == "RuntimeError" and failure["level"] == "ERROR"


def test_metrics_are_never_added_while_another_invocation_flushes(monkeypatch, capsys):
    from chalicelib import observability

    inside, overlaps, lock = [0], [], threading.Lock()

    def exclusive(original):
        def wrapped(*args, **kwargs):
            with lock:
                inside[0] += 1
                overlaps.append(inside[0])
            time.sleep(0.002)  # long enough for an unguarded neighbour to walk in
            try:
                return original(*args, **kwargs)
            finally:
                with lock:
                    inside[0] -= 1
        return wrapped

    monkeypatch.setattr(observability.metrics, "add_metric", exclusive(observability.metrics.add_metric))
    monkeypatch.setattr(observability.metrics, "flush_metrics", exclusive(observability.metrics.flush_metrics))

    def invocation(n: int) -> None:
        observability.begin_invocation(f"request-{n}")
        observability.log_alert("placed", latency_ms=1.0)
        observability.end_invocation()

    observability.end_invocation()  # whatever an earlier test left in the process-wide set
    overlaps.clear()
    capsys.readouterr()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(invocation, range(40)))
    logs, documents = emitted(capsys.readouterr().out)
    assert max(overlaps) == 1
    assert metric_names(documents).get("OrdersPlaced") == 40
    assert not [line for line in logs if line.get("event") == "metrics_failed"]


def test_each_concurrent_invocation_logs_its_own_correlation_id(capsys):
    from chalicelib import observability

    barrier = threading.Barrier(2)

    def invocation(n: int) -> None:
        observability.begin_invocation(f"request-{n}")
        barrier.wait(timeout=5)  # both have started before either logs
        observability.log_alert("duplicate", key=f"key-{n}")
        observability.end_invocation()

    capsys.readouterr()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(invocation, range(2)))
    logs, _ = emitted(capsys.readouterr().out)
    lines = {line["key"]: line["correlation_id"] for line in logs if line.get("event") == "alert"}
    assert lines == {"key-0": "request-0", "key-1": "request-1"}


def test_a_dependency_failure_names_its_cause_in_the_log_not_in_the_answer(stack, dynamodb, capsys):
    from tests.conftest import ORDERS_TABLE

    dynamodb.delete_table(TableName=ORDERS_TABLE)
    capsys.readouterr()
    response = stack.post(stack.alert(alert_id="no-ledger"))
    assert response.status_code == 503 and response.json_body["error"] == "dependency_unavailable"
    assert "ResourceNotFound" not in json.dumps(response.json_body)
    assert stack.simulator.order_writes() == []
    logs, _ = emitted(capsys.readouterr().out)
    [line] = [line for line in logs if line.get("event") == "alert"]
    assert line["outcome"] == "dependency_unavailable" and line["cause"] == "ResourceNotFoundException"


def test_failure_cause_is_a_code_or_a_type_never_a_message():
    import requests
    from botocore.exceptions import ClientError, ReadTimeoutError

    from chalicelib.errors import failure_cause

    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "secret-ish detail"}}, "PutItem")
    try:
        try:
            raise throttled
        except ClientError as inner:
            raise RuntimeError("wrapped: secret-ish detail") from inner
    except RuntimeError as outer:
        assert failure_cause(outer) == "ThrottlingException"
    assert failure_cause(ReadTimeoutError(endpoint_url="http://127.0.0.1:1")) == "ReadTimeoutError"
    assert failure_cause(requests.ConnectionError("token=abc")) == "ConnectionError"
