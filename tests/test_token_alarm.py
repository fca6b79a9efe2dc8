"""A dead token during the session: the first failing alert of the day tells the trader at once,
in one message however many alerts and instances follow; every failed alert is then listed once
by the sweep. SNS through moto (an SQS queue subscribed to the topic), Telegram through a local
HTTP double, the broker through the simulator."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import services
from chalicelib.errors import TokenUnavailable
from chalicelib.relay import IncomingAlert
from tests.conftest import SEEDED_ADMIN_KEY, SEEDED_TOKEN, TOKEN_PARAMETER
from tests.doubles import SnsInbox, TelegramDouble

TOKEN_PAGE = "https://relay.example/api/token"
ALARM = "INDstocks token dead: alerts are failing"


def alarms(telegram: TelegramDouble) -> list[str]:
    return [text for text in telegram.texts if text.startswith(ALARM)]


@pytest.fixture
def phone(stack, request):
    """Both channels configured; returns (Telegram double, SNS messages received so far)."""
    telegram, box = TelegramDouble(delay=getattr(request, "param", 0.0)), SnsInbox()
    settings = stack.settings.model_copy(update={"alerts_topic_arn": box.arn, "telegram_api_url": telegram.url,
                                                 "token_page_url": TOKEN_PAGE})
    for name, value in ((settings.telegram_bot_token_parameter, "1:bot"), (settings.telegram_chat_id_parameter, "42")):
        stack.ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    services.install(services.build(settings))
    inbox: list[tuple[str, str]] = []

    def sns_messages() -> list[tuple[str, str]]:
        inbox.extend((envelope.get("Subject", ""), envelope["Message"]) for envelope in box.new())
        return inbox

    yield telegram, sns_messages
    telegram.server.shutdown()


def sns_alarms(sns_messages) -> list[str]:
    return [message for subject, message in sns_messages() if subject == ALARM]


def kill_the_token(stack):
    """The broker no longer accepts the stored token (expired, or replaced elsewhere)."""
    stack.simulator.set_tokens(["someone-elses-token"])
    services.get().tokens.forget()


def incoming(stack, **fields) -> IncomingAlert:
    return IncomingAlert(raw_body=json.dumps(stack.alert(**fields)).encode(), headers={})


def answer_status(stack, alert_id: str, now: float) -> int:
    """The webhook's status for an alert handled at `now` (a new day needs its instrument master,
    whose download meets the dead token first)."""
    try:
        return services.get().relay.handle_alert(incoming(stack, alert_id=alert_id), now=now).status_code
    except TokenUnavailable as error:
        return error.status_code


def test_three_alerts_with_a_dead_token_make_one_message_and_the_next_day_another(stack, phone):
    telegram, sns_messages = phone
    assert stack.post(stack.alert()).json_body["status"] == "placed"  # the session started well
    kill_the_token(stack)
    for n in range(3):
        # LIMIT: the order write meets the dead token (a MARKET order's price read would first).
        response = stack.post(stack.alert(alert_id=f"dead-{n}", order_type="LIMIT", price=800))
        assert response.status_code == 503 and response.json_body["status"] == "token_invalid"
    [alarm] = sns_alarms(sns_messages)
    assert "no valid INDstocks token" in alarm and TOKEN_PAGE in alarm and SEEDED_TOKEN not in alarm
    assert alarms(telegram) == [f"{ALARM}\n{alarm}"]

    tomorrow = time.time() + 86400
    assert answer_status(stack, "dead-tomorrow", tomorrow) == answer_status(stack, "dead-tomorrow-2", tomorrow + 60) == 503
    assert len(sns_alarms(sns_messages)) == 2 and len(alarms(telegram)) == 2


def test_no_token_in_the_parameter_store_is_announced_once(stack, phone):
    telegram, sns_messages = phone
    stack.ssm.delete_parameter(Name=TOKEN_PARAMETER)
    for n in range(3):
        response = stack.post(stack.alert(alert_id=f"none-{n}"))
        assert response.status_code == 503 and response.json_body["error"] == "token_unavailable"
    assert len(sns_alarms(sns_messages)) == 1 and len(alarms(telegram)) == 1
    assert stack.simulator.order_writes() == []


def test_concurrent_instances_send_one_message(stack, phone):
    telegram, sns_messages = phone
    stack.ssm.delete_parameter(Name=TOKEN_PARAMETER)
    relay, now = services.get().relay, time.time()

    def alert(n):
        with pytest.raises(TokenUnavailable):
            relay.handle_alert(incoming(stack, alert_id=f"race-{n}"), now=now)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(alert, range(8)))
    assert len(sns_alarms(sns_messages)) == 1 and len(alarms(telegram)) == 1


def test_a_newly_stored_token_that_dies_too_is_announced_again(stack, phone):
    telegram, sns_messages = phone
    stack.ssm.delete_parameter(Name=TOKEN_PARAMETER)
    assert stack.post(stack.alert()).status_code == 503
    stack.simulator.set_tokens(["tok-PASTED-alarm-1"])
    pasted = stack.client.http.post("/token", headers={"Content-Type": "application/json"},
                                    body=json.dumps({"admin_key": SEEDED_ADMIN_KEY, "token": "tok-PASTED-alarm-1"}))
    assert pasted.status_code == 200
    kill_the_token(stack)  # e.g. a token generated on the dashboard replaced it
    assert stack.post(stack.alert()).status_code == stack.post(stack.alert()).status_code == 503
    assert len(sns_alarms(sns_messages)) == 2 and len(alarms(telegram)) == 2


@pytest.mark.parametrize("phone", [5.0], indirect=True)
def test_a_slow_channel_does_not_hold_the_webhook_answer(stack, phone):
    telegram, _ = phone
    stack.ssm.delete_parameter(Name=TOKEN_PARAMETER)
    started = time.monotonic()
    response = stack.post(stack.alert())
    assert response.status_code == 503 and time.monotonic() - started < 2.0  # TradingView waits 3 s
    assert len(alarms(telegram)) == 1  # it was tried


# --- every failed alert is reported by the sweep, once ---------------------------------------


def run_sweep(now=None):
    return services.get().sweeper.run(now or time.time())


def digest_lines(telegram) -> list[str]:
    return [line for text in telegram.texts if text.startswith("Orders:") for line in text.splitlines()[1:]]


def test_a_failed_alert_is_in_the_next_sweeps_message_exactly_once(stack, phone):
    telegram, _ = phone
    assert stack.post(stack.alert()).json_body["status"] == "placed"
    kill_the_token(stack)
    assert stack.post(stack.alert(alert_id="lost-1")).status_code == 503
    stack.ssm.delete_parameter(Name=TOKEN_PARAMETER)
    assert stack.post(stack.alert(alert_id="lost-2")).status_code == 503

    now = time.time()
    run_sweep(now)  # the token is still dead: the sweep cannot read the book, but it can tell
    failed = [line for line in digest_lines(telegram) if "NOT sent" in line]
    assert len(failed) == 2 and all("nothing was placed" in line for line in failed)
    assert any("lost-1" in line for line in failed) and any("lost-2" in line and "token" in line for line in failed)
    item = services.get().ledger.get("id:lost-1")
    assert item["state"] == "failed" and item["announced"] == "failed" and "open" not in item

    run_sweep(now + 60)
    assert len([line for line in digest_lines(telegram) if "NOT sent" in line]) == 2  # not again


def test_an_alert_not_sent_by_the_broker_connection_is_reported(stack, phone):
    telegram, _ = phone
    stack.post(stack.alert())  # instrument master loaded
    services.get().relay.broker.base_url = "http://127.0.0.1:9"  # nothing listens: the write never leaves
    response = stack.post(stack.alert(alert_id="refused-1", order_type="LIMIT", price=800))  # no price read first
    assert response.json_body["status"] == "not_sent", response.json_body
    services.get().relay.broker.base_url = stack.simulator.url  # back for the sweep's book read
    run_sweep()
    [line] = [line for line in digest_lines(telegram) if "refused-1" in line]
    assert "NOT sent" in line


def test_a_failed_alert_resent_while_the_sweep_announces_it_stays_followed(stack, phone, monkeypatch):
    telegram, _ = phone
    stack.ssm.delete_parameter(Name=TOKEN_PARAMETER)
    body = stack.alert(alert_id="resent-1")
    assert stack.post(body).status_code == 503
    stack.ssm.put_parameter(Name=TOKEN_PARAMETER, Value=SEEDED_TOKEN, Type="SecureString", Overwrite=True)
    services.get().tokens.forget()
    notifier = services.get().notifier
    deliver = notifier.deliver

    def resend_meanwhile(subject, message):  # the trader resends it while the digest goes out
        assert stack.post(body).json_body["status"] == "placed"
        return deliver(subject, message)

    monkeypatch.setattr(notifier, "deliver", resend_meanwhile)
    now = time.time()
    run_sweep(now)
    monkeypatch.undo()
    item = services.get().ledger.get("id:resent-1")
    assert item["state"] == "placed" and "open" in item and item.get("announced") != "failed"
    run_sweep(now + 60)  # still followed: the placed order is announced and tracked
    assert any("resent-1" in line and "placed" in line for line in digest_lines(telegram))


def test_a_stuck_alert_failed_by_the_sweep_is_reported_once(stack, phone):
    from chalicelib.alerts import validate_alert

    telegram, _ = phone
    now = time.time()
    assert services.get().ledger.claim("id:stuck-1", validate_alert(dict(stack.alert(alert_id="stuck-1"))), now, token="dead-invocation").won
    run_sweep(now + 121)
    run_sweep(now + 181)
    assert len([line for line in digest_lines(telegram) if "stuck-1" in line]) == 1
