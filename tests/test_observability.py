"""What CloudWatch will see: correlated log lines without secrets, EMF metrics per outcome."""

from __future__ import annotations

import json

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
