"""Several accounts of one family in one stage: one alert, each account's own order, ledger item,
pacing budget, token and outcome; one failing never blocks another; a replay sends nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal

import boto3
import pytest

from tests.conftest import (
    ORDERS_TABLE,
    SEEDED_ADMIN_KEY,
    SEEDED_TOKEN,
    STATE_TABLE,
    TOKEN_PARAMETER,
    Stack,
    seed,
    seed_admin_key,
)

ANITA_TOKEN = "tok-ANITA-1c2d3e4f5a"
RAVI_TOKEN = "tok-RAVI-9f8e7d6c5b"
ACCOUNTS = [
    {"name": "primary"},
    {"name": "anita", "multiplier": 2},
    {"name": "ravi", "multiplier": 3},
    {"name": "dormant", "enabled": False},
]


def parameter(name: str) -> str:
    return f"/indstocks-relay/test/accounts/{name}/indstocks-token"


@pytest.fixture
def family(ssm, dynamodb, simulator, relay_settings) -> Iterator[Stack]:
    """Four accounts: primary (the stage's token), anita (×2), ravi (×3, a token INDstocks rejects
    unless a test makes it live), dormant (disabled)."""
    from chalice.test import Client

    from app import app
    from chalicelib import services
    from chalicelib.config import Settings

    # The simulator answers in-process, sharing the GIL with moto and three accounts' threads: on a
    # busy machine a write can take longer than the suite's 0.5 s read timeout and come back unknown.
    settings = Settings.model_validate({**relay_settings.model_dump(), "accounts": json.dumps(ACCOUNTS),
                                        "broker_read_timeout": 2.0})
    seed(ssm)
    seed_admin_key(ssm)
    for name, token in (("anita", ANITA_TOKEN), ("ravi", RAVI_TOKEN)):
        ssm.put_parameter(Name=parameter(name), Value=token, Type="SecureString", Overwrite=True)
    simulator.add_token(ANITA_TOKEN, account="anita")
    simulator.token_accounts[SEEDED_TOKEN] = "primary"
    services.install(services.build(settings))
    with Client(app, stage_name="dev") as client:
        yield Stack(client, simulator, ssm, settings)


def writes(stack: Stack) -> list[tuple[str, dict]]:
    """Every order write the simulator received: (the token it carried, its body)."""
    return [(request.headers.get("authorization"), request.json) for request in stack.simulator.order_writes()]


def item(key: str) -> dict:
    raw = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
    assert raw is not None, f"no ledger item {key}"
    return {name: next(iter(value.values())) for name, value in raw.items()}


def answer_of(response) -> dict:
    return json.loads(response.body)


def test_three_accounts_one_failing_the_other_two_placed_each_with_its_quantity(family):
    response = family.post(family.alert(alert_id="fam-1", quantity=5, accounts=["primary", "anita", "ravi"]))

    answer = answer_of(response)
    by_account = {outcome["account"]: outcome for outcome in answer["accounts"]}
    assert list(by_account) == ["primary", "anita", "ravi"]
    assert by_account["primary"]["status"] == "placed" and by_account["primary"]["key"] == "id:fam-1"
    assert by_account["anita"]["status"] == "placed" and by_account["anita"]["key"] == "id:fam-1|anita"
    # ravi's token is refused at the price read for MAX_ORDER_VALUE (a MARKET alert without price):
    # nothing of ravi's was written, and ravi's item may be sent again once the token is renewed
    assert by_account["ravi"]["status"] == "token_unavailable" and by_account["ravi"]["http_status"] == 503
    assert response.status_code == 503 and answer["status"] == "token_unavailable"  # the worst account's
    assert by_account["primary"]["order_id"] != by_account["anita"]["order_id"]

    sent = writes(family)
    placed = sorted((token, body["qty"]) for token, body in sent if token != RAVI_TOKEN)
    assert placed == sorted([(SEEDED_TOKEN, 5), (ANITA_TOKEN, 10)])  # quantity × each multiplier
    assert [token for token, _ in sent if token == RAVI_TOKEN] == []
    assert [r.headers["authorization"] for r in family.simulator.requests("/market/quotes/ltp")].count(RAVI_TOKEN) >= 1
    assert {body["security_id"] for _, body in sent} == {"3045"}
    assert len(family.simulator.orders) == 2

    primary, anita, ravi = item("id:fam-1"), item("id:fam-1|anita"), item("id:fam-1|ravi")
    assert (primary["state"], primary["account"], primary["qty"]) == ("placed", "primary", "5")
    assert (anita["state"], anita["account"], anita["qty"]) == ("placed", "anita", "10")
    assert (ravi["state"], ravi["account"]) == ("failed", "ravi")
    assert primary["order_id"] == by_account["primary"]["order_id"]
    assert anita["order_id"] == by_account["anita"]["order_id"]


def test_a_replay_sends_nothing_to_any_account(family):
    family.simulator.add_token(RAVI_TOKEN, account="ravi")
    alert = family.alert(alert_id="fam-replay", quantity=1, accounts=["all"])
    first = answer_of(family.post(alert))
    assert [(o["account"], o["status"]) for o in first["accounts"]] == [
        ("primary", "placed"), ("anita", "placed"), ("ravi", "placed")]
    before = len(writes(family))
    assert before == 3

    again = family.post(alert)
    assert again.status_code == 200
    assert [(o["account"], o["status"]) for o in answer_of(again)["accounts"]] == [
        ("primary", "duplicate"), ("anita", "duplicate"), ("ravi", "duplicate")]
    assert len(writes(family)) == before


def test_all_skips_a_disabled_account_and_a_list_sends_to_those_named(family):
    family.simulator.add_token(RAVI_TOKEN, account="ravi")
    every = answer_of(family.post(family.alert(alert_id="fam-all", accounts=["all"])))
    assert [o["account"] for o in every["accounts"]] == ["primary", "anita", "ravi"]  # not dormant

    named = family.post(family.alert(alert_id="fam-list", quantity=3, accounts=["ravi", "anita"]))
    assert named.status_code == 200
    assert [(o["account"], o["status"]) for o in answer_of(named)["accounts"]] == [("ravi", "placed"), ("anita", "placed")]
    assert sorted(body["qty"] for _, body in writes(family)[3:]) == [6, 9]
    with pytest.raises(AssertionError):
        item("id:fam-list")  # the first account was not named: no item of its own


def test_without_accounts_the_first_account_gets_the_answer_it_always_got(family):
    response = family.post(family.alert(alert_id="fam-default", quantity=2))
    answer = answer_of(response)
    assert response.status_code == 200 and answer["status"] == "placed" and "accounts" not in answer
    assert writes(family) == [(SEEDED_TOKEN, writes(family)[0][1])] and writes(family)[0][1]["qty"] == 2
    assert item("id:fam-default")["account"] == "primary"


def test_a_text_body_joins_account_names_with_plus(family):
    body = f"secret={family.alert()['secret']} symbol=NSE:SBIN action=buy quantity=1 alert_id=fam-text accounts=primary+anita"
    response = family.post(body, content_type="text/plain")
    assert [o["account"] for o in answer_of(response)["accounts"]] == ["primary", "anita"]


@pytest.mark.parametrize(("accounts", "says"), [
    (["dormant"], "dormant: disabled"),
    (["anita", "nobody"], "nobody: no such account in this stage"),
    (["all", "anita"], '"all" already names every account'),
    ([], 'must be ["all"] or a list of account names'),
])
def test_an_unknown_or_disabled_account_is_a_field_named_400_and_nothing_is_sent(family, accounts, says):
    response = family.post(family.alert(alert_id="fam-bad", accounts=accounts))
    answer = answer_of(response)
    assert response.status_code == 400
    assert [problem["field"] for problem in answer["detail"]] == ["accounts"]
    assert says in answer["detail"][0]["message"]
    assert writes(family) == []
    assert boto3.client("dynamodb").scan(TableName=ORDERS_TABLE)["Items"] == []


def test_a_disabled_first_account_refuses_an_alert_that_names_none(ssm, dynamodb, simulator, relay_settings):
    from chalicelib import services
    from chalicelib.config import Settings
    from chalicelib.errors import AlertRejected
    from chalicelib.relay import IncomingAlert

    settings = Settings.model_validate({**relay_settings.model_dump(), "accounts": json.dumps(
        [{"name": "primary", "enabled": False}, {"name": "anita"}])})
    seed(ssm)
    relay = services.build(settings).relay
    body = json.dumps({"secret": "whsec-SEEDED-8c3b1e6f42", "symbol": "SBIN", "action": "buy", "quantity": 1})
    with pytest.raises(AlertRejected) as refused:
        relay.handle_alert(IncomingAlert(body.encode(), {}), now=time.time())
    assert refused.value.detail[0].field == "accounts"
    assert "defaults to the stage's first account, primary: disabled" in refused.value.detail[0].message


def test_each_account_paces_its_own_writes(family):
    """Each account takes its slots in its own schedule (≤ 10 writes a second each): slots the
    first account holds do not push another account's back, and each counts its own orders."""
    from chalicelib import services
    from chalicelib.pacing import WRITE_SPACING

    for number in range(3):
        response = family.post(family.alert(alert_id=f"fam-pace-{number}", accounts=["primary", "anita"]))
        assert response.status_code == 200, response.body
    assert sorted(token for token, _ in writes(family)) == sorted([SEEDED_TOKEN, ANITA_TOKEN] * 3)

    primary, anita = services.get().relay.pacer, services.get().account("anita").relay.pacer
    now = time.time()
    held = [primary.reserve() for _ in range(5)]  # the first account's next five slots
    assert all(slot is not None for slot in held) and max(held) >= now + 4 * WRITE_SPACING - 0.05
    assert anita.reserve() < now + WRITE_SPACING  # anita's next slot is hers at once

    names = {entry["pk"]["S"] for entry in boto3.client("dynamodb").scan(TableName=STATE_TABLE)["Items"]}
    assert {"pace#order-writes", "@anita/pace#order-writes"} <= names
    counts = {name: entry["taken"]["N"] for entry in boto3.client("dynamodb").scan(TableName=STATE_TABLE)["Items"]
              for name in [entry["pk"]["S"]] if "orders-per-day" in name}
    assert sorted(counts.values()) == ["3", "3"] and len(counts) == 2  # each account's own day count


def test_the_sweep_reconciles_each_account_with_its_own_token(family):
    family.simulator.inject_fault("/order", "timeout")  # booked, but the reply never comes
    family.simulator.inject_fault("/order-book", "http500", count=5)  # nor can the request find it
    answer = answer_of(family.post(family.alert(alert_id="fam-unknown", accounts=["anita"])))
    assert [(o["account"], o["status"]) for o in answer["accounts"]] == [("anita", "unknown")]
    assert item("id:fam-unknown|anita")["state"] == "unknown"
    family.simulator.clear_faults()
    before = len(family.simulator.requests("/order-book"))

    event = family.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                   resources=[])
    swept = family.client.lambda_.invoke("order_sweep", event).payload
    by_account = {report["account"]: report for report in swept["accounts"]}
    assert by_account["anita"]["reconciled"] == ["id:fam-unknown|anita"]
    assert item("id:fam-unknown|anita")["state"] == "placed"
    assert by_account["primary"]["examined"] == 0 and by_account["ravi"]["examined"] == 0
    anita_reads = [r for r in family.simulator.requests("/order-book")[before:] if r.headers["authorization"] == ANITA_TOKEN]
    assert anita_reads  # anita's item was looked up with anita's token


def test_a_queued_write_goes_out_with_its_own_account_s_token(family):
    from chalicelib import services
    from chalicelib.pacing import WritePacer

    anita = services.get().account("anita").relay
    real = anita.pacer
    # anita's writes a minute apart: her second is queued; primary's schedule is untouched
    anita.pacer = WritePacer(real._state, max_wait_seconds=0.0, spacing=60.0, late_tolerance=3600.0,
                             schedule="accounts-test")
    first = answer_of(family.post(family.alert(alert_id="fam-q1", accounts=["primary", "anita"])))
    second = answer_of(family.post(family.alert(alert_id="fam-q2", accounts=["primary", "anita"])))
    anita.pacer = real
    assert [o["status"] for o in first["accounts"]] == ["placed", "placed"]
    assert [(o["account"], o["status"]) for o in second["accounts"]] == [("primary", "placed"), ("anita", "queued")]
    assert item("id:fam-q2|anita")["state"] == "queued"

    event = family.client.events.generate_sqs_event(message_bodies=[json.dumps({"key": "id:fam-q2|anita"})],
                                                    queue_name="indstocks-relay-test-orders.fifo")
    result = family.client.lambda_.invoke("send_queued_orders", event).payload
    assert result["results"] == [{"key": "id:fam-q2|anita", "outcome": "placed"}]
    last_token, last_body = writes(family)[-1]
    assert last_token == ANITA_TOKEN and last_body["qty"] == 2
    assert item("id:fam-q2|anita")["state"] == "placed"


def test_the_token_page_stores_the_chosen_account_s_token(family):
    page = family.client.http.get("/token")
    assert 'name="account"' in page.body.decode() and "anita" in page.body.decode()
    family.simulator.add_token("tok-ANITA-new-77aa", account="anita")
    response = family.client.http.post(
        "/token", headers={"Content-Type": "application/json"},
        body=json.dumps({"admin_key": SEEDED_ADMIN_KEY, "token": "tok-ANITA-new-77aa", "account": "anita"}))
    assert response.status_code == 200
    ssm = family.ssm
    assert ssm.get_parameter(Name=parameter("anita"), WithDecryption=True)["Parameter"]["Value"] == "tok-ANITA-new-77aa"
    assert ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]["Value"] == SEEDED_TOKEN

    unknown = family.client.http.post(
        "/token", headers={"Content-Type": "application/json"},
        body=json.dumps({"admin_key": SEEDED_ADMIN_KEY, "token": "x", "account": "nobody"}))
    assert unknown.status_code == 400 and answer_of(unknown)["detail"][0]["field"] == "account"


def test_the_journal_names_each_item_s_account_and_filters_by_it(family):
    family.post(family.alert(alert_id="fam-journal", accounts=["primary", "anita"]))
    headers = {"X-Admin-Key": SEEDED_ADMIN_KEY}
    every = answer_of(family.client.http.get("/orders", headers=headers))["orders"]
    assert sorted((o["key"], o["account"]) for o in every) == [("id:fam-journal", "primary"),
                                                              ("id:fam-journal|anita", "anita")]
    only = answer_of(family.client.http.get("/orders?account=anita", headers=headers))["orders"]
    assert [o["key"] for o in only] == ["id:fam-journal|anita"]


def test_the_ledger_key_of_an_alert_without_accounts_is_unchanged():
    from chalicelib.alerts import validate_alert
    from chalicelib.ledger import ledger_key

    fields = {"symbol": "NSE:SBIN", "action": "buy", "quantity": 1}
    assert ledger_key(validate_alert(fields)) == ledger_key(validate_alert({**fields, "accounts": None}))
    assert ledger_key(validate_alert(fields)) != ledger_key(validate_alert({**fields, "accounts": ["all"]}))


@pytest.mark.parametrize(("given", "multiplier", "expected"), [
    ({"quantity": 5}, Decimal(2), {"quantity": 10}),
    ({"quantity": 5}, Decimal("0.5"), {"quantity": 2}),
    ({"position_size": -5}, Decimal("0.5"), {"position_size": -2}),
    ({"quantity_type": "capital", "amount": "10000"}, Decimal(3), {"amount": Decimal(30000)}),
])
def test_the_multiplier_scales_what_sets_the_size(given, multiplier, expected):
    from chalicelib.accounts import scaled_alert
    from chalicelib.alerts import validate_alert

    alert = scaled_alert(validate_alert({"symbol": "SBIN", "action": "buy", **given}), multiplier)
    assert {name: getattr(alert, name) for name in expected} == expected


def test_a_quantity_that_rounds_to_nothing_is_refused_naming_the_field():
    from chalicelib.accounts import scaled_alert
    from chalicelib.alerts import validate_alert
    from chalicelib.errors import AlertRejected

    with pytest.raises(AlertRejected) as refused:
        scaled_alert(validate_alert({"symbol": "SBIN", "action": "buy", "quantity": 1}), Decimal("0.5"))
    assert refused.value.detail[0].field == "quantity"


@pytest.mark.parametrize(("accounts", "says"), [
    ('[{"name": "all"}]', "means every account"),
    ('[{"name": "a"}, {"name": "a"}]', "used twice"),
    ('[{"name": "a", "token": "x"}]', "ACCOUNTS[0].token"),
    ('[{"name": "a"}, {"name": "b", "token_parameter": "/indstocks-relay/other/x"}]', "must lie under"),
    ('[{"name": "a", "multiplier": 0}]', "ACCOUNTS[0].multiplier"),
    ("{", "not valid JSON"),
])
def test_accounts_that_cannot_work_stop_the_start_naming_them(accounts, says):
    from pydantic import ValidationError

    from chalicelib.config import settings_from_env

    with pytest.raises(ValidationError) as refused:
        settings_from_env({"RELAY_STAGE": "test", "ACCOUNTS": accounts})
    assert says in str(refused.value)


def test_without_accounts_the_stage_has_one_account_on_its_own_parameters():
    from chalicelib.accounts import account_book
    from chalicelib.config import settings_from_env

    book = account_book(settings_from_env({"RELAY_STAGE": "test"}))
    assert book.names == ("primary",)
    assert book.first.token_parameter == "/indstocks-relay/test/indstocks-token"


def scheduled(stack: Stack, name: str) -> dict:
    event = stack.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                  resources=[])
    return stack.client.lambda_.invoke(name, event).payload


def test_the_morning_rotation_renews_each_account_that_has_totp_credentials(family):
    from tests.conftest import SEEDED_MPIN, SEEDED_TOTP_SECRET

    folder = "/indstocks-relay/test/accounts/anita"
    for name, value in (("indstocks-client-id", "CLIENT-ANITA"), ("indstocks-mpin", SEEDED_MPIN),
                        ("indstocks-totp-secret", SEEDED_TOTP_SECRET)):
        family.ssm.put_parameter(Name=f"{folder}/{name}", Value=value, Type="SecureString", Overwrite=True)
    family.simulator.configure_generation(client_id="CLIENT-ANITA", mpin=SEEDED_MPIN, totp_secret=SEEDED_TOTP_SECRET)

    result = scheduled(family, "morning_token_rotation")
    by_account = {entry["account"]: entry for entry in result["accounts"]}
    assert list(by_account) == ["primary", "anita", "ravi"]  # enabled accounts only
    assert by_account["anita"]["rotated"] is True
    assert by_account["primary"] == {"account": "primary", "rotated": False, "reason": "not configured"}
    [minted] = family.simulator.generated_tokens
    assert family.ssm.get_parameter(Name=parameter("anita"), WithDecryption=True)["Parameter"]["Value"] == minted
    assert family.ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]["Value"] == SEEDED_TOKEN


def test_the_0845_check_checks_every_enabled_account_s_token(family, capsys):
    result = scheduled(family, "premarket_token_check")
    by_account = {entry["account"]: entry for entry in result["accounts"]}
    assert list(by_account) == ["primary", "anita", "ravi"]
    assert by_account["primary"]["healthy"] is True and by_account["anita"]["healthy"] is True
    assert by_account["ravi"]["healthy"] is False
    warnings = [json.loads(line) for line in capsys.readouterr().out.splitlines()
                if line.startswith("{") and '"event":"notification"' in line]
    assert [warning.get("account") for warning in warnings] == ["ravi"]  # the warning names the account


def test_exit_all_for_one_account_closes_only_what_that_account_traded_with_its_token(family):
    family.simulator.fills = True
    assert answer_of(family.post(family.alert(alert_id="fam-sbin", quantity=5)))["status"] == "placed"
    bought = answer_of(family.post(family.alert(alert_id="fam-infy", symbol="NSE:INFY", quantity=2, accounts=["anita"])))
    assert [(o["account"], o["status"]) for o in bought["accounts"]] == [("anita", "placed")]
    before = len(writes(family))

    body = {k: v for k, v in family.alert(action="exit_all", alert_id="fam-exit", accounts=["anita"]).items()
            if k not in ("symbol", "quantity")}
    answer = answer_of(family.post(body))
    [anita] = answer["accounts"]
    assert anita["status"] == "exited" and [(c["security_id"], c["net"], c["status"]) for c in anita["closes"]] == [
        ("1594", 4, "placed")]
    assert anita["closes"][0]["key"].endswith("|anita")  # its queued close would go out with anita's token too
    [(token, close)] = writes(family)[before:]
    assert token == ANITA_TOKEN and (close["security_id"], close["txn_type"], close["qty"]) == ("1594", "SELL", 4)
    closing = [entry for entry in boto3.client("dynamodb").scan(TableName=ORDERS_TABLE)["Items"]
               if entry.get("security_id", {}).get("S") == "1594" and entry.get("side", {}).get("S") == "SELL"]
    assert [entry["account"]["S"] for entry in closing] == ["anita"]


def test_no_account_s_token_reaches_a_log_line_or_a_ledger_item(family, capsys):
    family.simulator.add_token(RAVI_TOKEN, account="ravi")
    family.post(family.alert(alert_id="fam-secrets", accounts=["all"]))
    family.client.http.get("/orders", headers={"X-Admin-Key": SEEDED_ADMIN_KEY})
    captured = capsys.readouterr()
    items = json.dumps(boto3.client("dynamodb").scan(TableName=ORDERS_TABLE)["Items"], default=str)
    state = json.dumps(boto3.client("dynamodb").scan(TableName=STATE_TABLE)["Items"], default=str)
    for token in (ANITA_TOKEN, RAVI_TOKEN):
        assert token not in captured.out + captured.err and token not in items and token not in state
