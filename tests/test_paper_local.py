"""Paper mode end to end through `make run`'s stack (TRADING_MODE=paper): moto server, the
simulator providing last prices, `chalice local` in its own process, real HTTP; the minute sweep
run as the stack's scheduler runs it; `relay orders` reading the journal."""

from __future__ import annotations

import io
import sys
import time

import pytest
import requests

from local.stack import REGION, LocalStack
from relay_cli import cli
from relay_cli.local_profile import PROFILE_NAME, PROFILE_VARIABLE
from tests.test_local_stack import REPO

WORKDIR = REPO / "build" / "test-paper-stack"


@pytest.fixture(scope="module")
def local():
    with LocalStack(relay_port=0, run_schedules=False, simulator_fills=True, workdir=WORKDIR,
                    settings={"TRADING_MODE": "paper", "PAPER_FUNDS": "500000"}) as stack:
        yield stack


def post(stack, **fields):
    body = {"secret": stack.webhook_secret, "symbol": "NSE:SBIN", "action": "buy", "quantity": 1,
            "alert_id": f"paper-local-{time.monotonic_ns()}", **fields}
    response = requests.post(stack.webhook_url, json=body, timeout=30)
    return response.status_code, response.json()


def sweep(stack, monkeypatch):
    """One run of the minute sweep, as the stack's scheduler runs it (in this process)."""
    from chalicelib import services

    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    services.reset()
    try:
        import app as relay_app

        LocalStack._run_job(relay_app.order_sweep)
    finally:
        services.reset()


def test_paper_stage_end_to_end(local, monkeypatch, capsys):
    sim = local.simulator
    code, market = post(local, quantity=10)
    assert (code, market["status"], market["mode"]) == (200, "placed", "paper"), market
    assert market["order_id"].startswith("PAPER-EQ-")
    code, resting = post(local, quantity=5, order_type="LIMIT", price="790")
    assert (code, resting["status"]) == (200, "placed"), resting
    code, refused = post(local, mode="live")
    assert code == 400 and [d["field"] for d in refused["detail"]] == ["mode"]

    sim.set_price("NSE", "3045", "789")  # the limit is crossed: the next sweep fills it on paper
    sweep(local, monkeypatch)
    code, target = post(local, position_size=0, quantity=None)  # flat again: 10 + 5 filled → sell 15
    assert (code, target["status"], target["position"]["net"], target["position"]["change"]) == \
        (200, "placed", 15, -15), target
    assert sim.order_writes() == [] and {r.method for r in sim.requests()} == {"GET"}

    capsys.readouterr()  # the sweep's log lines
    monkeypatch.setenv(PROFILE_VARIABLE, str(WORKDIR / PROFILE_NAME))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    for name in ("RELAY_URL", "RELAY_ADMIN_KEY", "WEBHOOK_SECRET", "INDSTOCKS_BASE_URL", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    options = ["--stage", "local", "--region", REGION, "--endpoint-url", local.moto_url, "--url", local.relay_url]
    assert cli.main([*options, "orders", "--mode", "paper"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:8] == ["TIME", "(IST)", "ALERT", "ID", "SYMBOL", "SIDE", "QTY", "STATE"]
    assert "MODE" in lines[0] and market["order_id"] in out and resting["order_id"] in out
    assert all(" paper " in line for line in lines[1:-1])
    assert cli.main([*options, "orders", "--mode", "live"]) == 0
    assert market["order_id"] not in capsys.readouterr().out
