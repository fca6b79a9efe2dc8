"""`make run` with ACCOUNTS: each account's token seeded and live in the simulator, one alert
placed for every account through the real local stack (moto, chalice local, the simulator)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import pytest
import requests

from local.stack import LocalAccount, local_accounts, stack_from_env
from relay_cli.local_profile import PROFILE_VARIABLE

REPO = Path(__file__).resolve().parents[1]
ACCOUNTS = json.dumps([{"name": "asha", "token": "tok-LOCAL-asha-11"},
                       {"name": "vikram", "token": "tok-LOCAL-vikram-22", "multiplier": 3},
                       {"name": "meera", "token": "tok-LOCAL-meera-33", "enabled": False}])


def test_make_run_reads_accounts_tells_the_relay_all_but_the_tokens():
    stack = stack_from_env({"ACCOUNTS": ACCOUNTS})
    assert [account.name for account in stack.accounts] == ["asha", "vikram", "meera"]
    relay_side = json.loads(stack.environment()["ACCOUNTS"])
    assert relay_side == [{"name": "asha"}, {"name": "vikram", "multiplier": "3"}, {"name": "meera", "enabled": False}]
    assert "tok-LOCAL" not in stack.environment()["ACCOUNTS"]
    assert stack_from_env({}).accounts == [] and "ACCOUNTS" not in stack_from_env({}).environment()


def test_make_run_passes_an_accounts_mode_to_the_relay():
    stack = stack_from_env({"ACCOUNTS": json.dumps([{"name": "asha"}, {"name": "kiran", "mode": "paper"}])})
    assert json.loads(stack.environment()["ACCOUNTS"]) == [{"name": "asha"}, {"name": "kiran", "mode": "paper"}]


@pytest.mark.parametrize(("text", "says"), [
    ("[]", "must be a JSON list"), ('[{"token": "x"}]', "name is required"),
    ('[{"name": "a", "secret": "x"}]', "unknown field secret"), ("nope", "not valid JSON"),
])
def test_make_run_refuses_accounts_it_cannot_read(text, says):
    with pytest.raises(ValueError, match=says):
        local_accounts(text)


def test_make_run_with_accounts_places_one_alert_for_every_enabled_account():
    from local.stack import LocalStack

    accounts = local_accounts(ACCOUNTS)
    with LocalStack(relay_port=0, run_schedules=False, run_queue_consumer=False, accounts=accounts,
                    workdir=REPO / "build" / "test-accounts-local") as stack:
        assert stack.token == "tok-LOCAL-asha-11"  # the first account's
        body = {"secret": stack.webhook_secret, "symbol": "NSE:SBIN", "action": "buy", "quantity": 2,
                "alert_id": f"local-acc-{time.monotonic_ns()}", "accounts": ["all"]}
        response = requests.post(stack.webhook_url, json=body, timeout=30)
        answer = response.json()
        assert response.status_code == 200, answer
        assert [(o["account"], o["status"]) for o in answer["accounts"]] == [("asha", "placed"), ("vikram", "placed")]
        written = sorted((r.headers["authorization"], r.json["qty"]) for r in stack.simulator.order_writes())
        assert written == [("tok-LOCAL-asha-11", 2), ("tok-LOCAL-vikram-22", 6)]
        ssm = stack._aws("ssm")
        stored = ssm.get_parameter(Name="/indstocks-relay/local/accounts/vikram/indstocks-token", WithDecryption=True)
        assert stored["Parameter"]["Value"] == "tok-LOCAL-vikram-22"

        # `relay status` shows every account's token (never the token itself) and day count;
        # `relay orders` has an ACCOUNT column and filters by it
        os.environ[PROFILE_VARIABLE] = str(stack.profile_path)
        try:
            code, out = relay("status", "--no-broker")
            assert code == 0, out  # every token present and fresh (the broker check skipped)
            for name in ("asha", "vikram", "meera"):
                assert f"token {name}" in out
            assert "asha 1, vikram 1, meera 0 used today" in out
            assert "tok-LOCAL" not in out
            code, out = relay("orders", "--account", "vikram")
            assert code == 0 and "ACCOUNT" in out and "vikram" in out and "asha" not in out
        finally:
            os.environ.pop(PROFILE_VARIABLE, None)


def relay(*argv: str) -> tuple[int, str]:
    from relay_cli import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli.main(["--stage", "local", *argv])
    return code, out.getvalue()


def test_an_account_entry_says_only_what_the_relay_needs():
    assert LocalAccount("a", "t").relay_entry() == {"name": "a"}
