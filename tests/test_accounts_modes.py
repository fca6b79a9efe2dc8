"""Accounts meet paper mode and the alert formats: an account set to paper never writes to
INDstocks while its family's live accounts do; an alert's `"mode":"paper"` puts every account it
names on paper; an OpenAlgo alert reaches the stage's first account."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from decimal import Decimal

import boto3
import pytest

from tests.conftest import ORDERS_TABLE, SEEDED_SECRET, SEEDED_TOKEN, STATE_TABLE, Stack, seed, seed_admin_key

ANITA_TOKEN = "tok-ANITA-7a6b5c4d3e"
ACCOUNTS = [
    {"name": "primary"},
    {"name": "anita", "multiplier": 2, "mode": "paper"},
]


@pytest.fixture
def family(ssm, dynamodb, simulator, relay_settings) -> Iterator[Stack]:
    """primary trades live; anita (×2) trades on paper with a token of her own."""
    from chalice.test import Client

    from app import app
    from chalicelib import services
    from chalicelib.config import Settings

    settings = Settings.model_validate({**relay_settings.model_dump(), "accounts": json.dumps(ACCOUNTS),
                                        "broker_read_timeout": 2.0, "max_order_value": Decimal(10) ** 9})
    seed(ssm)
    seed_admin_key(ssm)
    ssm.put_parameter(Name="/indstocks-relay/test/accounts/anita/indstocks-token", Value=ANITA_TOKEN,
                      Type="SecureString", Overwrite=True)
    simulator.add_token(ANITA_TOKEN, account="anita")
    simulator.fills = True
    services.install(services.build(settings))
    with Client(app, stage_name="dev") as client:
        yield Stack(client, simulator, ssm, settings)


def item(key: str) -> dict:
    raw = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": key}}, ConsistentRead=True)
    return {name: next(iter(value.values())) for name, value in raw["Item"].items()}


def paper_book(account: str) -> dict:
    raw = boto3.client("dynamodb").get_item(TableName=STATE_TABLE, Key={"pk": {"S": f"paper-book#{account}"}},
                                            ConsistentRead=True).get("Item")
    return json.loads(zlib.decompress(raw["book"]["B"])) if raw else {}


def writes(stack: Stack) -> list[tuple[str, dict]]:
    return [(request.headers.get("authorization"), request.json) for request in stack.simulator.order_writes()]


def test_a_paper_account_books_on_paper_while_the_live_one_trades(family):
    response = family.post(family.alert(alert_id="modes-1", quantity=5, accounts=["all"]))

    answer = response.json_body
    assert response.status_code == 200, answer
    by_account = {outcome["account"]: outcome for outcome in answer["accounts"]}
    assert by_account["primary"]["status"] == "placed" and "mode" not in by_account["primary"]
    assert by_account["anita"]["status"] == "placed" and by_account["anita"]["mode"] == "paper"
    assert by_account["anita"]["order_id"].startswith("PAPER-")
    # only primary's order reached INDstocks; anita's token never carried a write
    assert writes(family) == [(SEEDED_TOKEN, writes(family)[0][1])] and writes(family)[0][1]["qty"] == 5
    assert (item("id:modes-1")["mode"], item("id:modes-1|anita")["mode"]) == ("live", "paper")
    assert item("id:modes-1|anita")["qty"] == "10"  # her multiplier
    assert item("id:modes-1")["format"] == item("id:modes-1|anita")["format"] == "native"
    assert json.dumps(paper_book("anita")).count(by_account["anita"]["order_id"]) >= 1
    assert paper_book("default") == {}  # the first account's paper book was never touched


def test_a_paper_alert_for_every_account_sends_nothing_to_the_broker(family):
    response = family.post(family.alert(alert_id="modes-2", quantity=1, accounts=["all"], mode="paper"))

    outcomes = response.json_body["accounts"]
    assert [(o["account"], o["status"], o.get("mode")) for o in outcomes] == [
        ("primary", "placed", "paper"), ("anita", "placed", "paper")]
    assert family.simulator.order_writes() == []
    assert paper_book("default") != {} and paper_book("anita") != {}


def test_a_live_alert_is_refused_for_the_paper_account_only(family):
    response = family.post(family.alert(alert_id="modes-3", quantity=1, accounts=["all"], mode="live"))

    by_account = {o["account"]: o for o in response.json_body["accounts"]}
    assert by_account["primary"]["status"] == "placed"
    assert by_account["anita"]["http_status"] == 400
    assert [problem["field"] for problem in by_account["anita"]["detail"]] == ["mode"]
    assert "account anita trades on paper only" in by_account["anita"]["detail"][0]["message"]
    assert [token for token, _ in writes(family)] == [SEEDED_TOKEN]


def test_an_openalgo_order_goes_to_the_first_account(family):
    body = {"apikey": SEEDED_SECRET, "strategy": "Test Strategy", "symbol": "SBIN", "action": "BUY",
            "exchange": "NSE", "pricetype": "MARKET", "product": "MIS", "quantity": "3"}
    response = family.client.http.post("/api/v1/placeorder", headers={"Content-Type": "application/json"},
                                        body=json.dumps(body))

    assert response.status_code == 200, response.body
    assert response.json_body["status"] == "success"
    assert writes(family) == [(SEEDED_TOKEN, writes(family)[0][1])] and writes(family)[0][1]["qty"] == 3
    [stored] = boto3.client("dynamodb").scan(TableName=ORDERS_TABLE)["Items"]
    assert (stored["format"]["S"], stored["account"]["S"], stored["mode"]["S"]) == ("openalgo", "primary", "live")
