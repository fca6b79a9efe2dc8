"""The local stack of `make run`, for real: moto server, the simulator, `chalice local` in its
own process, real HTTP. Also `python -m local.stack` as a subprocess and the token page in
headless Chromium at a phone's viewport."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from local.stack import LocalStack, free_port
from tests.conftest import BROWSER_SKIP_REASON

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def local():
    # Schedules stay off here: they would run inside the test process.
    with LocalStack(relay_port=0, run_schedules=False, workdir=REPO / "build" / "test-local-stack") as stack:
        yield stack


@pytest.fixture(autouse=True)
def fresh_simulator(local):
    local.simulator.reset()
    local.simulator.set_tokens([local.token])


def alert(stack, **fields):
    body = {"secret": stack.webhook_secret, "symbol": "NSE:SBIN", "action": "buy", "quantity": 1,
            "alert_id": f"local-{time.monotonic_ns()}"}
    body.update(fields)
    return body


def post_for_answer(stack, body) -> tuple[int, dict]:
    response = requests.post(stack.webhook_url, json=body, timeout=30)
    return response.status_code, response.json()


def unexpected(answers: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """The answers that were neither placed, queued nor duplicate, in full, for the failure message."""
    return [(code, answer) for code, answer in answers if answer.get("status") not in ("placed", "queued", "duplicate")]


def test_json_alert_becomes_one_order(local):
    response = requests.post(local.webhook_url, json=alert(local), timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "placed" and response.json()["order_id"].startswith("EQ-")
    [write] = local.simulator.order_writes()
    assert write.path == "/order" and write.headers["authorization"] == local.token
    assert (write.json["security_id"], write.json["qty"], write.json["txn_type"]) == ("3045", 1, "BUY")


def test_text_plain_alert(local):
    body = f"secret={local.webhook_secret} symbol=BSE:RELIANCE action=sell quantity=2 alert_id=plain-{time.monotonic_ns()}"
    response = requests.post(local.webhook_url, data=body, headers={"Content-Type": "text/plain"}, timeout=10)
    assert response.status_code == 200, response.text
    [write] = local.simulator.order_writes()
    assert (write.json["exchange"], write.json["security_id"]) == ("BSE", "500325")


def test_wrong_secret_is_401_and_nothing_sent(local):
    response = requests.post(local.webhook_url, json=alert(local, secret="nope"), timeout=10)
    assert response.status_code == 401
    assert local.simulator.order_writes() == []


def test_concurrent_identical_alerts_place_exactly_one_order(local):
    body = alert(local)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: post_for_answer(local, body), range(100)))
    outcomes = [answer.get("status") for _, answer in answers]
    # The winner is placed at once, or (a loaded machine late for its slot) queued and sent by
    # the queue's consumer: either way exactly one order.
    winners = outcomes.count("placed") + outcomes.count("queued")
    assert winners == 1 and outcomes.count("duplicate") == 99, unexpected(answers)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not local.simulator.order_writes():
        time.sleep(0.1)
    time.sleep(0.5)  # a second write, if there were one, would have come by now
    assert len(local.simulator.order_writes()) == 1


def test_burst_of_50_distinct_alerts_is_paced_without_a_single_429(local):
    """Over the pace, alerts are answered `queued` (202) and the order queue's consumer sends them:
    all 50 reach the book, never more than 10 writes in a second (the simulator 429s above it)."""
    bodies = [alert(local, alert_id=f"burst-{n}-{time.monotonic_ns()}") for n in range(50)]

    with ThreadPoolExecutor(max_workers=25) as pool:
        answers = list(pool.map(lambda body: post_for_answer(local, body), bodies))
    assert {answer.get("status") for _, answer in answers} <= {"placed", "queued"}, unexpected(answers)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(local.simulator.orders) < 50:
        time.sleep(0.1)
    writes = local.simulator.order_writes()
    assert len(writes) == 50 and len(local.simulator.orders) == 50
    stamps = sorted(w.received_at for w in writes)
    assert max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps) <= 10


def test_journal_over_http(local):
    requests.post(local.webhook_url, json=alert(local, alert_id="journal-local"), timeout=10)
    response = requests.get(local.relay_url + "/orders?limit=5", headers={"X-Admin-Key": local.admin_key}, timeout=10)
    assert response.status_code == 200
    assert "journal-local" in [order.get("alert_id") for order in response.json()["orders"]]


# --- the token page in a real browser -------------------------------------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_token_page_in_a_phone_browser_then_an_alert_uses_the_new_token(local):
    executable = _chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Chromium (.ci/run does)")
        pytest.skip(BROWSER_SKIP_REASON)
    from playwright.sync_api import sync_playwright

    new_token = "tok-from-the-phone-" + str(time.monotonic_ns())
    local.simulator.add_token(new_token)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
        page.goto(local.token_page_url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        font_px = float(page.evaluate("getComputedStyle(document.querySelector('label')).fontSize").rstrip("px"))
        assert font_px >= 16  # readable without zoom
        page.fill("#admin_key", local.admin_key)
        page.fill("#token", new_token)
        page.click("button[type=submit]")
        page.wait_for_selector("#message")
        message = page.inner_text("#message")
        page.screenshot(path=str(ARTIFACTS / "token-page-phone.png"), full_page=True)
        browser.close()
    assert "Token saved for Demo Trader" in message and "IST" in message

    local.simulator.set_tokens([new_token])  # the old token is dead from now on
    response = requests.post(local.webhook_url, json=alert(local), timeout=10)
    assert response.status_code == 200, response.text
    [write] = local.simulator.order_writes()
    assert write.headers["authorization"] == new_token


def test_a_skipped_browser_test_ends_the_run_with_a_line_saying_so():
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no Chromium on this PATH
    env.pop("CI", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/test_local_stack.py::test_token_page_in_a_phone_browser_then_an_alert_uses_the_new_token"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert "1 skipped" in result.stdout, result.stdout
    last_line = result.stdout.strip().splitlines()[-1]
    assert "BROWSER TEST SKIPPED" in last_line and "README" in last_line, result.stdout


# --- `python -m local.stack`, as `make run` starts it ----------------------------------------


def test_make_run_entry_point_starts_serves_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {**os.environ, "RELAY_PORT": str(port), "WEBHOOK_SECRET": "whsec-subprocess-1234",
           "INDSTOCKS_TOKEN": "tok-subprocess-5678", "ADMIN_KEY": "admin-subprocess-key"}
    env.pop("CI", None)
    process = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("READY "):
                break
        assert lines and lines[-1].startswith("READY "), "".join(lines)
        printed = "".join(lines)
        assert f"http://127.0.0.1:{port}/webhook" in printed and "curl -s -X POST" in printed
        assert f"Dashboard:      http://127.0.0.1:{port}/dashboard" in printed
        curl_json = printed.split("-d '", 1)[1].split("'", 1)[0]
        response = requests.post(f"http://127.0.0.1:{port}/webhook", json=json.loads(curl_json), timeout=10)
        assert response.status_code == 200 and response.json()["status"] == "placed"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # chalice local is gone too


def test_make_run_passes_every_relay_setting_from_the_environment_to_the_local_stage():
    from local.stack import stack_from_env

    stack = stack_from_env({"DEDUPE_WINDOW_SECONDS": "120", "ANSWER_BUDGET_SECONDS": "2.0", "RELAY_STAGE": "prod",
                            "SOMETHING_ELSE": "x"})
    environment = stack.environment()
    assert environment["DEDUPE_WINDOW_SECONDS"] == "120" and environment["ANSWER_BUDGET_SECONDS"] == "2.0"
    assert environment["RELAY_STAGE"] == "local" and "SOMETHING_ELSE" not in environment


def test_make_run_turns_the_simulators_exchange_on_and_tests_leave_it_off():
    from local.stack import LocalStack, stack_from_env

    assert stack_from_env({}).simulator_fills is True
    assert LocalStack().simulator_fills is False


def test_make_run_refuses_settings_that_cannot_fit_before_starting_anything(tmp_path):
    from local.stack import stack_from_env

    stack = stack_from_env({"PACING_MAX_WAIT_SECONDS": "25"})
    stack.workdir = tmp_path / "never-created"
    with pytest.raises(ValueError, match="PACING_MAX_WAIT_SECONDS"):
        stack.start()
    assert stack.moto_url == "" and not stack.workdir.exists()


# --- one `make run` per port, and nothing outlives it ----------------------------------------


def _start_make_run(port: int) -> subprocess.Popen:
    env = {**os.environ, "RELAY_PORT": str(port)}
    env.pop("CI", None)
    process = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (line := process.stdout.readline()):
        lines.append(line)
        if line.startswith("READY "):
            return process
    process.kill()
    raise AssertionError("no READY:\n" + "".join(lines))


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:  # a zombie is dead: only its parent's wait is missing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_health_carries_this_runs_id_and_the_stack_tells_it_from_another_relays(local):
    assert requests.get(local.relay_url + "/health", timeout=5).json()["run"] == local.run_id
    other = LocalStack(relay_port=local.relay_port)  # another run, finding this one on its port
    assert not other._health_is_ours() and local._health_is_ours()


def test_make_run_on_a_busy_port_stops_at_once_naming_it_and_starts_nothing(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "local.stack"], cwd=REPO, capture_output=True, text=True,
                                env={**os.environ, "RELAY_PORT": str(port)}, timeout=60)
        assert result.returncode != 0 and "READY" not in result.stdout
        assert f"port {port} is in use" in result.stderr and "RELAY_PORT" in result.stderr, result.stderr
        assert time.monotonic() - started < 15

        stack = LocalStack(relay_port=port, workdir=tmp_path / "never-created")
        with pytest.raises(ValueError, match="RELAY_PORT"):
            stack.start()
        assert stack.moto_url == "" and stack.simulator is None and not stack.workdir.exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("ending", ["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"])
def test_every_child_dies_with_make_run(ending):
    """Ctrl-C, a kill, a closed terminal (SIGHUP), or the stack itself killed (SIGKILL): within
    seconds the port is free and no process the stack started remains."""
    port = free_port()
    process = _start_make_run(port)
    children = _children(process.pid)
    try:
        assert children and _port_open(port)
        process.send_signal(getattr(signal, ending))
        code = process.wait(timeout=20)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (_port_open(port) or any(map(_alive, children))):
            time.sleep(0.1)
        assert not _port_open(port) and not [pid for pid in children if _alive(pid)]
        assert code == (0 if ending != "SIGKILL" else -signal.SIGKILL)
    finally:
        process.kill()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
