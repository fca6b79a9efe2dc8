"""The `relay` operator CLI against the running local stack (moto server, the INDstocks simulator,
`chalice local`), in-process through `relay_cli.cli.main` and once as `python -m relay_cli`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import boto3
import pytest

from chalicelib.admin import hash_admin_key, verify_admin_key
from chalicelib.config import settings_from_env
from chalicelib.ledger import State
from local.stack import REGION, LocalStack, free_port
from relay_cli import cli
from relay_cli.local_profile import PROFILE_NAME, PROFILE_VARIABLE
from relay_cli.queries import LOCAL_OUTCOMES, LOG_QUERIES, is_stage_log_group, log_group_prefix

from .test_local_stack import REPO

SETTINGS = settings_from_env({"RELAY_STAGE": "local"})
WORKDIR = REPO / "build" / "test-cli-stack"


@pytest.fixture(scope="module")
def stack():
    with LocalStack(relay_port=0, run_schedules=False, workdir=WORKDIR) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Nothing from the developer's shell may steer the CLI (monkeypatch restores it all)."""
    for name in ("RELAY_URL", "RELAY_ADMIN_KEY", "WEBHOOK_SECRET", "INDSTOCKS_BASE_URL", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(PROFILE_VARIABLE, str(WORKDIR / PROFILE_NAME))  # the test stack's, not `make run`'s
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def aws(stack, service):
    return boto3.client(service, endpoint_url=stack.moto_url, region_name=REGION,
                        aws_access_key_id="local-stack", aws_secret_access_key="local-stack")


def run(capsys, *argv, stage="local", endpoint=None, url=None, stdin=None, monkeypatch=None):
    """`relay …` in-process: (exit code, stdout, stderr)."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    options = ["--stage", stage, "--region", REGION]
    if endpoint:
        options += ["--endpoint-url", endpoint]
    if url:
        options += ["--url", url]
    code = cli.main([*options, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def relay(capsys, stack, *argv, **kwargs):
    kwargs.setdefault("endpoint", stack.moto_url)
    kwargs.setdefault("url", stack.relay_url)
    return run(capsys, *argv, **kwargs)


def assert_no_secrets(stack, *texts):
    for text in texts:
        for value in (stack.token, stack.webhook_secret, stack.admin_key):
            assert value not in text


def assert_one_line_error(code, out, err, *words):
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relay: error: "), err
    for word in words:
        assert word in lines[0]


# --- status -----------------------------------------------------------------------------------


def test_status_shows_the_token_present_valid_and_its_age_never_the_token(capsys, stack):
    code, out, err = relay(capsys, stack, "status", "--broker-url", stack.simulator.url)
    assert code == 0, out + err
    token_line = next(line for line in out.splitlines() if line.strip().startswith("token"))
    assert "present" in token_line and SETTINGS.token_parameter in token_line and "age" in token_line
    assert "valid: Demo Trader" in out
    assert "egress IP" in out and "unknown (no stack indstocks-relay-local-network)" in out
    assert f"ok at {stack.relay_url}" in out
    assert_no_secrets(stack, out, err)


def test_status_shows_the_risk_limits_and_todays_count(capsys, stack):
    code, out, err = relay(capsys, stack, "status", "--no-broker")
    line = next(line for line in out.splitlines() if line.strip().startswith("risk limits"))
    assert "MAX_ORDER_QTY 10000 · MAX_ORDER_VALUE ₹1,000,000 · MAX_ORDERS_PER_DAY 500" in line
    assert "used today" in line, out + err


def status_with_network_outputs(capsys, stack, outputs: dict[str, str]):
    """`relay status --no-broker` while a network stack with these outputs exists."""
    cloudformation = aws(stack, "cloudformation")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "cli-network-test"}}},
                "Outputs": {name: {"Value": value} for name, value in outputs.items()}}
    cloudformation.create_stack(StackName="indstocks-relay-local-network", TemplateBody=json.dumps(template))
    try:
        return relay(capsys, stack, "status", "--no-broker")
    finally:
        cloudformation.delete_stack(StackName="indstocks-relay-local-network")


def test_status_reads_the_egress_ip_from_the_network_stack(capsys, stack):
    code, out, err = status_with_network_outputs(capsys, stack, {"EgressIp": "203.0.113.7"})
    assert code == 0, out + err
    assert "203.0.113.7 (stack indstocks-relay-local-network)" in out
    assert "validity" not in out  # --no-broker


def test_status_resolves_a_reused_elastic_ip_from_its_allocation(capsys, stack):
    allocation = aws(stack, "ec2").allocate_address(Domain="vpc")
    code, out, err = status_with_network_outputs(capsys, stack, {
        "EgressIp": f"(existing allocation {allocation['AllocationId']})", "EgressAllocationId": allocation["AllocationId"]})
    assert code == 0, out + err
    assert f"{allocation['PublicIp']} (Elastic IP {allocation['AllocationId']}" in out


def test_status_of_a_stage_with_nothing_in_it_says_what_is_missing(capsys, stack):
    code, out, err = relay(capsys, stack, "status", stage="cli-empty")
    assert code == 1, out + err
    assert "MISSING: no parameter /indstocks-relay/cli-empty/indstocks-token" in out
    assert "the orders table indstocks-relay-cli-empty-orders does not exist" in out


def test_status_says_when_the_broker_rejects_the_token(capsys, stack):
    stack.simulator.set_tokens(["some-other-token"])
    try:
        code, out, err = relay(capsys, stack, "status", "--broker-url", stack.simulator.url)
    finally:
        stack.simulator.set_tokens([stack.token])
    assert code == 1
    assert "REJECTED by INDstocks" in out
    assert_no_secrets(stack, out, err)


# --- test-alert and orders ------------------------------------------------------------------


def test_test_alert_is_signed_and_places_exactly_one_order(capsys, stack):
    stack.simulator.reset()
    alert_id = f"cli-test-{time.monotonic_ns()}"
    code, out, err = relay(capsys, stack, "test-alert", "--symbol", "SBIN", "--action", "buy", "--quantity", "1",
                           "--exchange", "NSE", "--alert-id", alert_id)
    assert code == 0, out + err
    assert "HTTP 200: placed" in out and "order_id: EQ-" in out
    [write] = stack.simulator.order_writes()
    assert (write.json["security_id"], write.json["qty"], write.json["txn_type"]) == ("3045", 1, "BUY")
    assert alert_id in write.json["remarks"]
    assert_no_secrets(stack, out, err)


def test_test_alert_with_a_wrong_secret_is_refused_and_nothing_is_sent(capsys, stack):
    stack.simulator.reset()
    code, out, err = relay(capsys, stack, "test-alert", "--secret", "not-the-webhook-secret")
    assert code == 1
    assert "HTTP 401: unauthorized" in out
    assert stack.simulator.order_writes() == []


def test_orders_lists_the_ledger_newest_first_and_filters_by_state(capsys, stack):
    placed_id, rejected_id = f"cli-placed-{time.monotonic_ns()}", f"cli-rejected-{time.monotonic_ns()}"
    assert relay(capsys, stack, "test-alert", "--alert-id", placed_id, "--quantity", "2")[0] == 0
    stack.simulator.inject_fault("/order", "rms_reject")
    code, out, _ = relay(capsys, stack, "test-alert", "--alert-id", rejected_id, "--action", "sell")
    assert code == 1 and "HTTP 422: rejected" in out

    code, out, err = relay(capsys, stack, "orders")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["TIME", "(IST)", "ALERT"]
    [rejected_line] = [line for line in lines if rejected_id in line]
    [placed_line] = [line for line in lines if placed_id in line]
    assert lines.index(rejected_line) < lines.index(placed_line)  # newest first
    assert "NSE:SBIN" in placed_line and "BUY" in placed_line and " 2 " in placed_line and "placed" in placed_line
    assert "EQ-" in placed_line
    assert "SELL" in rejected_line and "rejected" in rejected_line
    shown = datetime.strptime(placed_line[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=cli.IST)
    assert abs(shown.timestamp() - time.time()) < 120  # the time is shown in IST

    code, out, _ = relay(capsys, stack, "orders", "--status", "rejected")
    assert code == 0 and rejected_id in out and placed_id not in out
    code, out, _ = relay(capsys, stack, "orders", "--today", "--limit", "1")
    assert code == 0 and rejected_id in out and placed_id not in out and "1 alert(s)" in out
    code, out, _ = relay(capsys, stack, "orders", "--since", "10m", "--json")
    items = json.loads(out)
    assert {placed_id, rejected_id} <= {item["alert_id"] for item in items}
    code, out, _ = relay(capsys, stack, "orders", "--since", "2000-01-01T09:00", "--status", "absent")
    assert code == 0 and "no alerts" in out


def test_status_shows_the_last_alert(capsys, stack):
    alert_id = f"cli-last-{time.monotonic_ns()}"
    assert relay(capsys, stack, "test-alert", "--alert-id", alert_id)[0] == 0
    code, out, _ = relay(capsys, stack, "status", "--no-broker")
    [line] = [line for line in out.splitlines() if "last alert" in line]
    assert alert_id in line and "placed" in line and "IST" in line


# --- paste-token and set-admin-key ------------------------------------------------------------


def test_paste_token_stores_the_new_token_through_the_relay(capsys, stack, monkeypatch):
    new_token = f"tok-cli-{time.monotonic_ns()}"
    stack.simulator.add_token(new_token)
    ssm = aws(stack, "ssm")

    code, out, err = relay(capsys, stack, "paste-token", "--admin-key", "wrong-admin-key-0000",
                           stdin=new_token + "\n", monkeypatch=monkeypatch)
    assert code == 1 and "NOT stored (HTTP 401)" in err
    assert ssm.get_parameter(Name=SETTINGS.token_parameter, WithDecryption=True)["Parameter"]["Value"] == stack.token

    monkeypatch.setenv("RELAY_ADMIN_KEY", stack.admin_key)
    code, out, err = relay(capsys, stack, "paste-token", stdin=new_token + "\n", monkeypatch=monkeypatch)
    assert code == 0, out + err
    assert "Token stored for Demo Trader" in out and "IST" in out
    assert ssm.get_parameter(Name=SETTINGS.token_parameter, WithDecryption=True)["Parameter"]["Value"] == new_token
    assert new_token not in out + err
    assert_no_secrets(stack, out, err)


def test_paste_token_refuses_plain_http_to_a_remote_host(capsys, stack, monkeypatch):
    code, out, err = relay(capsys, stack, "paste-token", "--admin-key", "x" * 16, url="http://relay.example.com/api",
                           stdin="tok\n", monkeypatch=monkeypatch)
    assert_one_line_error(code, out, err, "plain http")


def test_set_admin_key_stores_a_verifiable_hash(capsys, stack, monkeypatch):
    ssm = aws(stack, "ssm")
    name = SETTINGS.admin_key_parameter
    new_key = f"new-admin-key-{time.monotonic_ns()}"
    try:
        code, out, err = relay(capsys, stack, "set-admin-key", stdin=new_key + "\n", monkeypatch=monkeypatch)
        assert code == 0, out + err
        parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        assert parameter["Type"] == "SecureString"
        assert verify_admin_key(new_key, parameter["Value"]) and new_key not in parameter["Value"]
        assert name in out and new_key not in out + err

        code, out, err = relay(capsys, stack, "set-admin-key", stdin="short\n", monkeypatch=monkeypatch)
        assert_one_line_error(code, out, err, "at least 12 characters")
        assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == parameter["Value"]
    finally:  # leave the stack's admin key in place for the other tests
        ssm.put_parameter(Name=name, Value=hash_admin_key(stack.admin_key), Type="SecureString", Overwrite=True)


# --- clear errors ---------------------------------------------------------------------------------


def test_unreachable_aws_endpoint_is_one_line_and_exit_2(capsys, stack, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"
    for command, service in ((["status"], "ssm"), (["orders"], "dynamodb"), (["logs"], "logs"),
                             (["set-admin-key"], "ssm"), (["test-alert"], "ssm")):
        code, out, err = relay(capsys, stack, *command, endpoint=dead, stdin="an-admin-key-long-enough\n",
                               monkeypatch=monkeypatch)
        assert_one_line_error(code, out, err, f"cannot reach {service} at {dead}")


def test_missing_table_url_and_relay_are_one_line_and_exit_2(capsys, stack):
    assert_one_line_error(*relay(capsys, stack, "orders", stage="cli-empty"),
                          "orders table indstocks-relay-cli-empty-orders does not exist")
    assert_one_line_error(*run(capsys, "test-alert", stage="cli-empty", endpoint=stack.moto_url), "no relay URL", "--url")
    dead = f"http://127.0.0.1:{free_port()}"
    assert_one_line_error(*relay(capsys, stack, "test-alert", url=dead), "cannot reach the relay", dead)
    assert_one_line_error(*relay(capsys, stack, "test-alert", stage="cli-empty"), "/indstocks-relay/cli-empty/webhook-secret")
    assert_one_line_error(*relay(capsys, stack, "test-alert", "--yes", url="not a url"), "not an http(s) URL")


def test_a_remote_test_alert_needs_yes(capsys, stack):
    assert_one_line_error(*relay(capsys, stack, "test-alert", url="https://relay.example.com/api"), "without --yes")


def test_missing_aws_credentials_are_one_line_and_exit_2(capsys, stack, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # (the local stage brings moto's keys in the stack's profile)
    assert_one_line_error(*relay(capsys, stack, "orders", stage="cli-empty"), "no AWS credentials")
    assert_one_line_error(*relay(capsys, stack, "status", "--profile", "no-such-profile"), "no-such-profile")


# --- logs -------------------------------------------------------------------------------------------


def test_log_queries_cover_the_documented_names_and_stay_single_line_commands():
    assert {"rejections", "today", "unknown", "slow", "auth", "token"} <= set(LOG_QUERIES)
    for name, text in LOG_QUERIES.items():
        lines = text.splitlines()
        assert all(line.startswith("| ") for line in lines[1:]), name
        assert "secret" not in text and "admin_key" not in text
    assert log_group_prefix("prod") == "/aws/lambda/indstocks-relay-prod"
    assert is_stage_log_group("/aws/lambda/indstocks-relay-prod-order_sweep", "prod")
    assert not is_stage_log_group("/aws/lambda/indstocks-relay-prod2", "prod")


def test_logs_show_query_needs_no_aws(capsys):
    code, out, err = run(capsys, "logs", "--query", "rejections", "--show-query", endpoint="http://127.0.0.1:9")
    assert code == 0 and LOG_QUERIES["rejections"] in out and "/aws/lambda/indstocks-relay-local*" in out


def test_logs_runs_insights_queries_as_far_as_moto_goes(capsys, stack):
    code, out, err = relay(capsys, stack, "logs", stage="cli-nologs")
    assert_one_line_error(code, out, err, "no log groups /aws/lambda/indstocks-relay-cli-nologs*")

    logs = aws(stack, "logs")
    group = "/aws/lambda/indstocks-relay-cli-logs"  # (the local stage reads the stack's log file)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="cli")
    now_ms = int(time.time() * 1000)
    lines = [{"event": "alert", "outcome": "rejected", "alert_id": "cli-log-1"}, {"event": "alert", "outcome": "placed"}]
    logs.put_log_events(logGroupName=group, logStreamName="cli",
                        logEvents=[{"timestamp": now_ms - 1000 + i, "message": json.dumps(line)} for i, line in enumerate(lines)])
    try:
        for name in LOG_QUERIES:  # every query text is accepted and runs to completion
            code, out, err = relay(capsys, stack, "logs", "--query", name, "--since", "1h", stage="cli-logs")
            assert code == 0, (name, err)
            assert out.startswith(f"{name}: ") and "1 log group(s)" in out
        code, out, err = relay(capsys, stack, "logs", "--query", "errors", "--since", "1h", stage="cli-logs")
        assert "@timestamp" in out and "@logStream" in out and "2 result(s)" in out  # moto ignores filters
        code, out, err = relay(capsys, stack, "logs", "--since", "1s", stage="cli-logs")  # both lines are older than that
        assert code == 0 and "no matching log lines" in out
    finally:
        logs.delete_log_group(logGroupName=group)


# --- helpers -----------------------------------------------------------------------------------------


def test_cli_states_are_the_ledger_states():
    assert set(cli.STATES) == {state.value for state in State}


def test_since_accepts_durations_today_and_ist_times():
    now = datetime(2026, 11, 25, 6, 0, tzinfo=UTC).timestamp()  # 11:30 IST
    assert cli.parse_since("2h", now) == now - 7200
    assert cli.parse_since("30m", now) == now - 1800
    assert cli.parse_since("today", now) == datetime(2026, 11, 24, 18, 30, tzinfo=UTC).timestamp()
    assert cli.parse_since("2026-11-25T09:00", now) == datetime(2026, 11, 25, 3, 30, tzinfo=UTC).timestamp()
    assert cli.parse_since("2026-11-25T09:00Z", now) == datetime(2026, 11, 25, 9, 0, tzinfo=UTC).timestamp()
    with pytest.raises(Exception, match="must be a duration"):
        cli.parse_since("yesterday-ish", now)


def test_usage_errors_exit_2_without_a_traceback(capsys):
    assert cli.main(["orders", "--since", "soon"]) == 2
    assert cli.main(["orders", "--status", "bogus"]) == 2
    assert cli.main([]) == 2
    assert "Traceback" not in capsys.readouterr().err


# --- the real command --------------------------------------------------------------------------------


def test_python_m_relay_cli_as_a_subprocess(stack):
    env = {key: value for key, value in os.environ.items() if key not in ("AWS_ENDPOINT_URL", "RELAY_URL", "AWS_PROFILE")}
    base = [sys.executable, "-m", "relay_cli", "--stage", "local", "--region", REGION, "--endpoint-url", stack.moto_url]
    done = subprocess.run([*base, "status", "--url", stack.relay_url, "--broker-url", stack.simulator.url],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid: Demo Trader" in done.stdout and "age" in done.stdout
    assert_no_secrets(stack, done.stdout, done.stderr)

    dead = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run([*base[:-1], dead, "orders"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert_one_line_error(done.returncode, done.stdout, done.stderr, "cannot reach dynamodb")


def test_a_reader_that_closes_the_pipe_ends_relay_quietly(stack):
    """`relay orders | head -1`: the reader is gone before relay writes; no traceback, no message."""
    assert cli.main(["--stage", "local", "--region", REGION, "--endpoint-url", stack.moto_url, "--url", stack.relay_url,
                     "test-alert", "--alert-id", f"cli-pipe-{time.monotonic_ns()}"]) == 0
    env = {key: value for key, value in os.environ.items() if key not in ("AWS_ENDPOINT_URL", "RELAY_URL", "AWS_PROFILE")}
    reader, writer = os.pipe()
    os.close(reader)  # the reader has closed before relay writes its first line
    try:
        done = subprocess.run([sys.executable, "-m", "relay_cli", "--stage", "local", "--region", REGION,
                               "--endpoint-url", stack.moto_url, "orders"],
                              cwd=REPO, env=env, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 141  # as a command that SIGPIPE stopped


def test_paste_token_without_a_terminal_takes_the_key_from_a_file_and_the_token_from_stdin(stack, tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("AWS_ENDPOINT_URL", "RELAY_URL", "AWS_PROFILE", "RELAY_ADMIN_KEY")}
    env[PROFILE_VARIABLE] = str(tmp_path / PROFILE_NAME)  # no stack profile (with its admin key): explicit flags
    new_token = f"tok-notty-{time.monotonic_ns()}"
    stack.simulator.add_token(new_token)
    base = [sys.executable, "-m", "relay_cli", "--stage", "local", "--region", REGION, "--endpoint-url", stack.moto_url,
            "--url", stack.relay_url, "paste-token"]

    def paste(*options: str):  # a new session: no controlling terminal to prompt on
        return subprocess.run([*base, *options], input=new_token + "\n", cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=60, start_new_session=True)

    done = paste()
    assert_one_line_error(done.returncode, done.stdout, done.stderr, "no terminal", "--admin-key-file", "RELAY_ADMIN_KEY")
    key_file = tmp_path / "admin-key"
    key_file.write_text(stack.admin_key + "\n")
    key_file.chmod(0o600)
    done = paste("--admin-key-file", str(key_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Token stored for Demo Trader" in done.stdout
    parameter = aws(stack, "ssm").get_parameter(Name=SETTINGS.token_parameter, WithDecryption=True)["Parameter"]
    assert parameter["Value"] == new_token
    assert new_token not in done.stdout + done.stderr
    assert_no_secrets(stack, done.stdout, done.stderr)
    done = paste("--admin-key-file", str(tmp_path / "missing"))
    assert_one_line_error(done.returncode, done.stdout, done.stderr, "cannot read the admin key file")


# --- `--stage local` and nothing else -------------------------------------------------------------


def no_aws_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def hosts_contacted(monkeypatch) -> list[str]:
    """Every host name anything in this process looks up or connects to from now on."""
    import socket

    hosts: list[str] = []
    lookup, connect = socket.getaddrinfo, socket.socket.connect

    def recorded_lookup(host, *rest, **kwargs):
        hosts.append(str(host))
        return lookup(host, *rest, **kwargs)

    def recorded_connect(sock, address):
        hosts.append(str(address[0]) if isinstance(address, tuple) else str(address))
        return connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", recorded_lookup)
    monkeypatch.setattr(socket.socket, "connect", recorded_connect)
    return hosts


def local(capsys, *argv):
    code = cli.main(["--stage", "local", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_stack_writes_a_private_profile_while_it_runs(stack):
    path = WORKDIR / PROFILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    profile = json.loads(path.read_text())
    assert (profile["aws_endpoint_url"], profile["relay_url"], profile["broker_url"]) == (
        stack.moto_url, stack.relay_url, stack.simulator.url)
    assert profile["admin_key"] == stack.admin_key
    assert "build/" in (REPO / ".gitignore").read_text().split()  # the key never lands in the repository


def test_the_profile_goes_when_the_stack_stops(tmp_path):
    stopped = LocalStack(workdir=tmp_path)  # one moto per process: this one never starts
    stopped._write_profile()
    assert stopped.profile_path.stat().st_mode & 0o777 == 0o600
    stopped.stop()
    assert not stopped.profile_path.exists()


def test_every_command_works_with_stage_local_and_no_other_flag(capsys, stack, monkeypatch, tmp_path):
    aws(stack, "ssm").put_parameter(Name=SETTINGS.token_parameter, Value=stack.token, Type="SecureString", Overwrite=True)
    stack.simulator.add_token(stack.token)
    no_aws_credentials(monkeypatch, tmp_path)
    hosts = hosts_contacted(monkeypatch)
    code, out, err = local(capsys, "status")
    assert code == 0, out + err
    assert "valid: Demo Trader" in out and f"per {stack.simulator.url}/user/profile" in out
    assert f"ok at {stack.relay_url}" in out

    stack.simulator.reset()
    alert_id = f"cli-local-{time.monotonic_ns()}"
    code, out, err = local(capsys, "test-alert", "--alert-id", alert_id)
    assert code == 0 and "HTTP 200: placed" in out, out + err
    assert len(stack.simulator.order_writes()) == 1
    code, out, err = local(capsys, "orders", "--limit", "5")
    assert code == 0 and alert_id in out, out + err

    new_token = f"tok-local-{time.monotonic_ns()}"
    stack.simulator.add_token(new_token)
    monkeypatch.setattr(sys, "stdin", io.StringIO(new_token + "\n"))
    code, out, err = local(capsys, "paste-token")  # the admin key comes from the profile
    assert code == 0 and "Token stored for Demo Trader" in out, out + err
    assert aws(stack, "ssm").get_parameter(Name=SETTINGS.token_parameter, WithDecryption=True)["Parameter"]["Value"] == new_token
    assert_no_secrets(stack, out, err)
    assert set(hosts) <= {"127.0.0.1", "localhost"}, hosts


def test_stage_local_without_a_profile_refuses_and_contacts_no_one(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv(PROFILE_VARIABLE, str(tmp_path / PROFILE_NAME))
    monkeypatch.setattr(sys, "stdin", io.StringIO("some-token\n"))
    hosts = hosts_contacted(monkeypatch)
    for command in ("status", "orders", "logs", "test-alert", "paste-token"):
        code, out, err = local(capsys, command)
        assert_one_line_error(code, out, err, "no local stack is running", "`make run`")
    assert hosts == []


def test_stage_local_never_checks_its_token_with_the_real_broker(capsys, stack, monkeypatch, tmp_path):
    monkeypatch.setenv(PROFILE_VARIABLE, str(tmp_path / PROFILE_NAME))  # no profile, explicit endpoints
    hosts = hosts_contacted(monkeypatch)
    code, out, err = relay(capsys, stack, "status")
    assert code == 1, out + err
    [line] = [line for line in out.splitlines() if line.strip().startswith("validity")]
    assert "UNVERIFIED: no broker URL for the local stage" in line and "--broker-url" in line
    assert set(hosts) <= {"127.0.0.1", "localhost"}, hosts


def test_logs_with_stage_local_shows_the_lines_of_an_alert_just_sent(capsys, stack):
    placed, refused = f"cli-log-placed-{time.monotonic_ns()}", f"cli-log-refused-{time.monotonic_ns()}"
    assert local(capsys, "test-alert", "--alert-id", placed)[0] == 0
    assert local(capsys, "test-alert", "--alert-id", refused, "--secret", "not-the-webhook-secret")[0] == 1
    code, out, err = local(capsys, "logs", "--query", "alerts")
    assert code == 0, out + err
    [placed_line] = [line for line in out.splitlines() if placed in line]
    assert "placed" in placed_line and "SBIN" in placed_line and "EQ-" in placed_line
    code, out, err = local(capsys, "logs", "--query", "rejections", "--since", "10m")
    assert code == 0 and placed not in out, out + err
    assert "unauthorized" in out.splitlines()[2] and "401" in out.splitlines()[2]  # newest first; no id: refused unread
    code, out, err = local(capsys, "logs", "--query", "today")
    assert code == 0 and out.splitlines()[1].split()[:2] == ["outcome", "alerts"], out + err
    for name in LOG_QUERIES:  # every documented query runs locally
        code, out, err = local(capsys, "logs", "--query", name)
        assert code == 0 and out.startswith(f"{name}: ") and "the local stack's log" in out, (name, out, err)
    assert_no_secrets(stack, out, err)


def test_the_local_filters_use_the_outcomes_of_the_query_texts():
    for name, outcomes in LOCAL_OUTCOMES.items():
        assert json.dumps(outcomes) in LOG_QUERIES[name], name


# --- the kill switch ----------------------------------------------------------------------------


def test_pause_and_resume_through_the_relay(capsys, stack, monkeypatch):
    monkeypatch.setenv("RELAY_ADMIN_KEY", stack.admin_key)
    code, out, err = relay(capsys, stack, "pause", "--strategy", "cli-strategy", "--reason", "testing")
    assert code == 0 and "paused strategies: cli-strategy" in out, out + err
    code, out, err = relay(capsys, stack, "test-alert", "--alert-id", f"cli-paused-{time.monotonic_ns()}")
    assert code == 0, out + err  # no strategy on the demo alert: the stage is live
    code, out, err = relay(capsys, stack, "resume", "--strategy", "cli-strategy")
    assert code == 0 and "Relay live; paused strategies: none" in out, out + err
    code, out, err = relay(capsys, stack, "pause", "--admin-key", "wrong-admin-key-0000")
    assert code == 1 and "HTTP 401" in err
    assert_no_secrets(stack, out, err)


def test_flatten_through_the_relay_pauses_and_reports(capsys, stack, monkeypatch):
    monkeypatch.setenv("RELAY_ADMIN_KEY", stack.admin_key)
    try:
        code, out, err = relay(capsys, stack, "flatten", "--strategy", "cli-flatten")
        assert code == 0 and "paused strategies: cli-flatten" in out, out + err
    finally:
        assert relay(capsys, stack, "resume", "--strategy", "cli-flatten")[0] == 0
