"""The daily token's service: a minted token whose SSM write fails (the old one is already dead),
and the pre-market check of whether the live token lasts the session. Against moto and the
simulator; SSM faults injected on the real boto3 client through botocore's event hooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib import services
from chalicelib.config import IST
from tests.conftest import SEEDED_ADMIN_KEY, SEEDED_MPIN, SEEDED_TOKEN, SEEDED_TOTP_SECRET, TOKEN_PARAMETER
from tests.doubles import SnsInbox

TOKEN_PAGE = "https://relay.example/api/token"


@pytest.fixture
def inbox(stack):
    """The alerts topic as the trader's phone receives it: the messages since the last call."""
    box = SnsInbox()
    services.install(services.build(stack.settings.model_copy(
        update={"alerts_topic_arn": box.arn, "token_page_url": TOKEN_PAGE})))
    return lambda: [envelope["Message"] for envelope in box.new()]


@pytest.fixture
def rotation(stack, inbox):
    for name, value in ((stack.settings.client_id_parameter, "CLIENT-123"), (stack.settings.mpin_parameter, SEEDED_MPIN),
                        (stack.settings.totp_secret_parameter, SEEDED_TOTP_SECRET)):
        stack.ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    stack.simulator.configure_generation(client_id="CLIENT-123", mpin=SEEDED_MPIN, totp_secret=SEEDED_TOTP_SECRET)
    return stack


def fail_token_writes(times: int | None) -> list[str]:
    """Make the relay's SSM client fail PutParameter of the token `times` times (None: always);
    returns the outcome of every attempt."""
    attempts: list[str] = []

    def refuse(params, **_):
        if params.get("Name") != TOKEN_PARAMETER:
            return
        if times is None or len(attempts) < times:
            attempts.append("failed")
            raise EndpointConnectionError(endpoint_url="https://ssm.ap-south-1.amazonaws.com")
        attempts.append("stored")

    client = services.get().parameters.client
    client.meta.events.register("before-parameter-build.ssm.PutParameter", refuse)
    return attempts


def rotate(stack):
    return stack.client.http.post("/token/rotate", headers={"Content-Type": "application/json"},
                                  body=json.dumps({"admin_key": SEEDED_ADMIN_KEY}))


def stored_token(stack):
    return stack.ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]["Value"]


# --- a minted token that cannot be stored ----------------------------------------------------


def test_a_failed_store_of_a_minted_token_is_tried_again_without_generating_again(rotation, inbox):
    attempts = fail_token_writes(times=1)
    pauses: list[float] = []
    services.get().token_service.sleep = pauses.append
    response = rotate(rotation)
    assert response.status_code == 200, response.json_body
    assert attempts == ["failed", "stored"] and pauses == [0.5]
    assert len(rotation.simulator.requests("/generate/token")) == 1
    assert rotation.simulator.live_tokens == {stored_token(rotation)} != {SEEDED_TOKEN}
    [message] = inbox()
    assert "was stored (rotation)" in message  # the usual renewal notice, nothing alarming


def test_a_minted_token_that_cannot_be_stored_is_reported_once_and_never_logged(rotation, inbox, capsys):
    attempts = fail_token_writes(times=None)
    pauses: list[float] = []
    services.get().token_service.sleep = pauses.append
    response = rotate(rotation)
    [minted] = rotation.simulator.live_tokens  # the broker's only live token now: the seeded one is dead
    assert minted != SEEDED_TOKEN and stored_token(rotation) == SEEDED_TOKEN
    assert response.status_code == 503 and response.json_body["error"] == "token_not_stored"
    assert attempts == ["failed"] * 4 and pauses == [0.5, 1.0, 2.0]  # bounded: 3.5 s of pauses in all
    assert len(rotation.simulator.requests("/generate/token")) == 1  # never generated again
    [message] = inbox()
    assert "could not store" in message and "previous token is no longer valid" in message and TOKEN_PAGE in message
    captured = capsys.readouterr()
    logged = captured.out + captured.err
    assert '"outcome":"store_failed"' in logged
    assert minted not in logged and minted not in message and minted not in json.dumps(response.json_body)


def test_the_scheduled_rotation_reports_the_failed_store_and_ends_cleanly(rotation, inbox):
    fail_token_writes(times=None)
    services.get().token_service.sleep = lambda _seconds: None
    event = rotation.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                      resources=[])
    result = rotation.client.lambda_.invoke("morning_token_rotation", event).payload
    assert result["rotated"] is False and "could not store" in result["reason"]
    assert len(inbox()) == 1 and len(rotation.simulator.requests("/generate/token")) == 1


def test_a_failed_paste_is_not_retried(stack):
    attempts = fail_token_writes(times=1)
    stack.simulator.add_token("tok-PASTED-retry-0")
    response = stack.client.http.post("/token", headers={"Content-Type": "application/json"},
                                      body=json.dumps({"admin_key": SEEDED_ADMIN_KEY, "token": "tok-PASTED-retry-0"}))
    assert response.status_code == 503 and attempts == ["failed"]  # the trader still holds it: paste again
    assert stored_token(stack) == SEEDED_TOKEN


# --- the pre-market check: does the token last the session? --------------------------------


def ist(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST)


def store_token_at(stack, monkeypatch, when: datetime) -> None:
    """Store the seeded token with SSM's clock (LastModifiedDate) set to `when`."""
    with monkeypatch.context() as clock:
        clock.setattr("moto.ssm.models.utcnow", lambda: when.astimezone(UTC).replace(tzinfo=None))
        stack.ssm.put_parameter(Name=TOKEN_PARAMETER, Value=SEEDED_TOKEN, Type="SecureString", Overwrite=True)


def test_a_token_that_dies_during_the_session_is_caught_at_0845(stack, inbox, monkeypatch):
    store_token_at(stack, monkeypatch, ist("2026-11-25T13:00:00"))  # pasted after lunch yesterday
    health = services.get().token_service.check(ist("2026-11-26T08:45:00").timestamp())
    assert health.healthy is False and health.notified is True and health.age_hours == 19.75
    assert health.reason == "valid but expires 13:00 IST, before the close (15:30 IST)"
    [message] = inbox()
    assert "expires 13:00 IST, before the close" in message and TOKEN_PAGE in message and SEEDED_TOKEN not in message


def test_a_token_stored_this_morning_lasts_the_session(stack, inbox, monkeypatch):
    store_token_at(stack, monkeypatch, ist("2026-11-26T08:40:00"))
    health = services.get().token_service.check(ist("2026-11-26T08:45:00").timestamp())
    assert health.healthy is True and health.reason == "valid" and health.age_hours == 0.08
    assert inbox() == []


def test_a_token_that_expires_a_minute_after_the_close_passes(stack, inbox, monkeypatch):
    store_token_at(stack, monkeypatch, ist("2026-11-25T15:31:00"))
    assert services.get().token_service.check(ist("2026-11-26T08:45:00").timestamp()).healthy is True


def test_a_check_after_the_close_still_warns_about_an_old_token(stack, inbox, monkeypatch):
    store_token_at(stack, monkeypatch, ist("2026-11-25T19:00:00"))  # lives past today's close, not tomorrow's open
    health = services.get().token_service.check(ist("2026-11-26T16:30:00").timestamp())
    assert health.healthy is False and health.reason == "21.5 hours old (expires 19:00 IST)"
    assert len(inbox()) == 1
