"""The token page and API through chalice.test.Client: form and JSON paths, every outcome,
cache invalidation, lockout, rotation, and the pre-market check publishing to SNS."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import boto3
import pyotp
import pytest

from tests.conftest import SEEDED_ADMIN_KEY, SEEDED_MPIN, SEEDED_TOKEN, SEEDED_TOTP_SECRET, TOKEN_PARAMETER

NEW_TOKEN = "tok-PASTED-77aa11bb22"
FORM = "application/x-www-form-urlencoded"


def post_json(stack, path, body, headers=None):
    return stack.client.http.post(
        path, headers={"Content-Type": "application/json", **(headers or {})}, body=json.dumps(body)
    )


def post_form(stack, fields):
    return stack.client.http.post("/token", headers={"Content-Type": FORM}, body=urlencode(fields))


def stored_token(stack):
    return stack.ssm.get_parameter(Name=TOKEN_PARAMETER, WithDecryption=True)["Parameter"]["Value"]


def stored_meta(stack):
    return json.loads(stack.ssm.get_parameter(Name=TOKEN_PARAMETER + "-meta")["Parameter"]["Value"])


def test_page_is_self_contained_and_locked_down(stack):
    response = stack.client.http.get("/token")
    assert response.status_code == 200
    headers = {k.lower(): v for k, v in response.headers.items()}
    assert headers["content-type"].startswith("text/html")
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    page = response.body if isinstance(response.body, str) else response.body.decode()
    assert 'name="viewport"' in page and 'name="admin_key"' in page and 'name="token"' in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_json_paste_validates_stores_and_answers(stack):
    stack.simulator.add_token(NEW_TOKEN)
    response = post_json(stack, "/token", {"admin_key": SEEDED_ADMIN_KEY, "token": NEW_TOKEN})
    assert response.status_code == 200, response.body
    body = response.json_body
    assert body["status"] == "stored" and body["account_name"] == "Demo Trader"
    assert body["expires_at_ist"].endswith("IST")
    assert stored_token(stack) == NEW_TOKEN
    meta = stored_meta(stack)
    assert meta["user_id"] == "SIM123" and meta["source"] == "paste"
    profile_calls = stack.simulator.requests("/user/profile")
    assert [call.headers["authorization"] for call in profile_calls] == [NEW_TOKEN]


def test_form_paste_answers_with_the_page(stack):
    stack.simulator.add_token(NEW_TOKEN)
    response = post_form(stack, {"admin_key": SEEDED_ADMIN_KEY, "token": NEW_TOKEN})
    assert response.status_code == 200
    page = response.body if isinstance(response.body, str) else response.body.decode()
    assert "Token saved for Demo Trader" in page and "IST" in page
    assert NEW_TOKEN not in page and SEEDED_ADMIN_KEY not in page
    assert stored_token(stack) == NEW_TOKEN


@pytest.mark.parametrize("key", [None, "", "wrong-admin-key-123"])
def test_missing_or_wrong_key_is_401_and_stores_nothing(stack, key):
    body = {"token": NEW_TOKEN} | ({"admin_key": key} if key is not None else {})
    response = post_json(stack, "/token", body)
    assert response.status_code == 401
    assert stored_token(stack) == SEEDED_TOKEN
    assert stack.simulator.requests("/user/profile") == []


def test_form_with_wrong_key_gets_a_readable_page(stack):
    response = post_form(stack, {"admin_key": "wrong-admin-key-123", "token": NEW_TOKEN})
    assert response.status_code == 401
    page = response.body if isinstance(response.body, str) else response.body.decode()
    assert "<form" in page and "missing or invalid credentials" in page and "{" not in page.split("<body>")[1]


def test_broker_rejected_token_is_400_and_not_stored(stack):
    response = post_json(stack, "/token", {"admin_key": SEEDED_ADMIN_KEY, "token": "tok-not-live-at-the-broker"})
    assert response.status_code == 400
    assert response.json_body["message"] == "token rejected by INDstocks"
    assert stored_token(stack) == SEEDED_TOKEN


def test_unreachable_broker_is_502_and_not_stored(stack):
    stack.simulator.add_token(NEW_TOKEN)
    stack.simulator.inject_fault("/user/profile", "reset")
    response = post_json(stack, "/token", {"admin_key": SEEDED_ADMIN_KEY, "token": NEW_TOKEN})
    assert response.status_code == 502
    assert stored_token(stack) == SEEDED_TOKEN


def test_next_order_uses_the_pasted_token(stack):
    assert stack.post(stack.alert()).status_code == 200  # caches the seeded token
    stack.simulator.set_tokens([NEW_TOKEN])
    assert post_json(stack, "/token", {"admin_key": SEEDED_ADMIN_KEY, "token": NEW_TOKEN}).status_code == 200
    stack.simulator.reset()
    response = stack.post(stack.alert())
    assert response.status_code == 200, response.body
    [write] = stack.simulator.order_writes()
    assert write.headers["authorization"] == NEW_TOKEN


def test_lockout_after_five_failures(stack):
    for _ in range(5):
        assert post_json(stack, "/token", {"admin_key": "wrong-admin-key-123", "token": NEW_TOKEN}).status_code == 401
    response = post_json(stack, "/token", {"admin_key": SEEDED_ADMIN_KEY, "token": NEW_TOKEN})
    assert response.status_code == 429
    assert stored_token(stack) == SEEDED_TOKEN


# --- rotation -------------------------------------------------------------------------------

TOTP_SECRET = SEEDED_TOTP_SECRET


@pytest.fixture
def rotation(stack):
    names = stack.settings
    for name, value in (
        (names.client_id_parameter, "CLIENT-123"),
        (names.mpin_parameter, SEEDED_MPIN),
        (names.totp_secret_parameter, TOTP_SECRET),
    ):
        stack.ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    stack.simulator.configure_generation(client_id="CLIENT-123", mpin=SEEDED_MPIN, totp_secret=TOTP_SECRET)
    return stack


def test_rotation_mints_validates_and_stores(rotation):
    response = post_json(rotation, "/token/rotate", {"admin_key": SEEDED_ADMIN_KEY})
    assert response.status_code == 200, response.body
    new_token = stored_token(rotation)
    assert new_token != SEEDED_TOKEN and rotation.simulator.live_tokens == {new_token}
    [call] = rotation.simulator.requests("/generate/token")
    assert call.headers["x-api-key"] == "CLIENT-123"
    assert call.json["mpin"] == SEEDED_MPIN and pyotp.TOTP(TOTP_SECRET).verify(call.json["totp"], valid_window=1)
    assert stored_meta(rotation)["source"] == "rotation"


def test_rotation_accepts_the_admin_key_header(rotation):
    response = post_json(rotation, "/token/rotate", {}, headers={"X-Admin-Key": SEEDED_ADMIN_KEY})
    assert response.status_code == 200, response.body


def test_wrong_totp_is_reported_not_retried(rotation):
    rotation.simulator.configure_generation(client_id="CLIENT-123", mpin=SEEDED_MPIN, totp_secret=pyotp.random_base32())
    response = post_json(rotation, "/token/rotate", {"admin_key": SEEDED_ADMIN_KEY})
    assert response.status_code == 502 and "Invalid TOTP" in response.json_body["message"]
    assert len(rotation.simulator.requests("/generate/token")) == 1
    assert stored_token(rotation) == SEEDED_TOKEN
    assert rotation.simulator.live_tokens == {SEEDED_TOKEN}  # the live token survives a failure


def test_invalid_totp_secret_never_reaches_the_broker(rotation):
    rotation.ssm.put_parameter(Name=rotation.settings.totp_secret_parameter, Value="not-base32!", Type="SecureString", Overwrite=True)
    from chalicelib import services

    services.install(services.build(rotation.settings))  # forget cached credentials
    response = post_json(rotation, "/token/rotate", {"admin_key": SEEDED_ADMIN_KEY})
    assert response.status_code == 502 and "base32" in response.json_body["message"]
    assert rotation.simulator.requests("/generate/token") == []


def test_second_rotation_within_a_minute_is_refused_without_calling_the_broker(rotation):
    assert post_json(rotation, "/token/rotate", {"admin_key": SEEDED_ADMIN_KEY}).status_code == 200
    second = post_json(rotation, "/token/rotate", {"admin_key": SEEDED_ADMIN_KEY})
    assert second.status_code == 429
    assert len(rotation.simulator.requests("/generate/token")) == 1


def test_concurrent_rotations_generate_once(rotation):
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib import services

    renewal = services.get().token_service
    now = time.time()

    def attempt(_):
        try:
            renewal.rotate(now)
            return "rotated"
        except Exception as error:  # noqa: BLE001 - we count outcomes
            return type(error).__name__

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("rotated") == 1 and outcomes.count("RotationBusy") == 7
    assert len(rotation.simulator.requests("/generate/token")) == 1


def test_rotation_throttled_by_the_broker_is_a_clean_failure(rotation):
    rotation.simulator.inject_fault("/generate/token", "rate_limit")
    response = post_json(rotation, "/token/rotate", {"admin_key": SEEDED_ADMIN_KEY})
    assert response.status_code == 502 and "429" in response.json_body["message"]
    assert len(rotation.simulator.requests("/generate/token")) == 1


def test_rotation_not_configured_is_503(stack):
    response = post_json(stack, "/token/rotate", {"admin_key": SEEDED_ADMIN_KEY})
    assert response.status_code == 503 and response.json_body["error"] == "not_configured"


def test_scheduled_rotation(rotation):
    from app import morning_token_rotation

    result = rotation.client.lambda_.invoke("morning_token_rotation", rotation.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert result.payload["rotated"] is True
    assert stored_token(rotation) in rotation.simulator.live_tokens
    assert callable(morning_token_rotation)


# --- pre-market check -----------------------------------------------------------------------


@pytest.fixture
def topic(stack):
    from chalicelib import services

    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    arn = sns.create_topic(Name="relay-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="relay-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    settings = stack.settings.model_copy(update={"alerts_topic_arn": arn, "token_page_url": "https://relay.example/api/token"})
    services.install(services.build(settings))

    def received():
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"])["Message"] for m in messages]

    return received


def run_check(stack):
    event = stack.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
    return stack.client.lambda_.invoke("premarket_token_check", event).payload


def test_check_passes_quietly_for_a_fresh_valid_token(stack, topic):
    rows = len(stack.simulator.instruments_csv.strip().splitlines()) - 1
    result = run_check(stack)
    assert result["instruments"].endswith("cash-equity instruments") and 0 < int(result["instruments"].split()[0]) <= rows
    assert result == {"healthy": True, "reason": "valid", "notified": False, "instruments_ok": True,
                      "instruments": result["instruments"], "instruments_notified": False,
                      "fno_ok": True, "fno": result["fno"], "fno_onboarded": {"NSE": True, "BSE": True}}
    assert topic() == []


def test_a_cold_api_instance_after_the_check_reads_the_shared_index_instead_of_downloading(stack, tmp_path):
    from chalicelib import services

    assert run_check(stack)["instruments_ok"] is True
    equity = lambda: [r for r in stack.simulator.requests("/market/instruments") if r.query.get("source") == "equity"]  # noqa: E731
    downloads = len(equity())
    # A new instance of the API function: nothing in memory, an empty /tmp.
    cold = stack.settings.model_copy(update={"instruments_cache_dir": str(tmp_path / "cold-instance")})
    services.install(services.build(cold))
    response = stack.post(stack.alert(symbol="BSE:RELIANCE"))
    assert response.status_code == 200 and response.json_body["status"] == "placed", response.json_body
    [write] = stack.simulator.order_writes()
    assert (write.json["exchange"], write.json["security_id"]) == ("BSE", "500325")
    assert len(equity()) == downloads == 1


def test_check_warns_when_the_instrument_master_cannot_be_loaded(stack, topic):
    stack.simulator.inject_fault("/market/instruments", "http500")
    result = run_check(stack)
    assert result["healthy"] is True and result["instruments_ok"] is False and result["instruments_notified"] is True
    [message] = topic()
    assert "instrument master" in message and SEEDED_TOKEN not in message


def test_check_warns_when_the_instrument_master_is_malformed(stack, topic):
    stack.simulator.instruments_csv = "not,an,instrument,master\n1,2,3,4\n"
    result = run_check(stack)
    assert result["instruments_ok"] is False and "unusable" in result["instruments"]
    assert len(topic()) == 1


def test_check_warns_when_the_token_is_rejected(stack, topic):
    stack.simulator.set_tokens(["another-token"])
    result = run_check(stack)
    assert result["healthy"] is False and result["notified"] is True
    [message] = topic()
    assert "rejected" in message and "https://relay.example/api/token" in message
    assert SEEDED_TOKEN not in message


def test_check_warns_when_the_token_is_missing(stack, topic):
    stack.ssm.delete_parameter(Name=TOKEN_PARAMETER)
    result = run_check(stack)
    assert result["reason"] == "missing" and result["instruments_ok"] is None
    assert len(topic()) == 1  # the token warning only: the master needs the token
    assert stack.simulator.requests("/market/instruments") == []


def test_check_warns_when_the_token_is_old(stack, topic):
    from chalicelib import services

    renewal = services.get().token_service
    health = renewal.check(time.time() + 21 * 3600)
    # Which rule speaks depends on the hour the test runs (test_token_renewal.py pins both).
    assert health.healthy is False and health.notified
    assert "hours old" in health.reason or "before the close" in health.reason
    assert len(topic()) == 1


def test_a_stored_token_is_announced(stack, topic):
    stack.simulator.add_token(NEW_TOKEN)
    assert post_json(stack, "/token", {"admin_key": SEEDED_ADMIN_KEY, "token": NEW_TOKEN}).status_code == 200
    [message] = topic()
    assert "Demo Trader" in message and "IST" in message and NEW_TOKEN not in message
