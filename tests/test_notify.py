"""Notifications: SNS and Telegram, announced by the sweep, never on the webhook's path, and
never able to break anything."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib import services
from tests.doubles import SnsInbox, TelegramDouble

BOT_TOKEN = "123456:BOT-TOKEN-SECRET-abc"


@pytest.fixture
def channels(stack):
    telegram, inbox = TelegramDouble(), SnsInbox()
    settings = stack.settings.model_copy(update={"alerts_topic_arn": inbox.arn, "telegram_api_url": telegram.url})
    for name, value in ((settings.telegram_bot_token_parameter, BOT_TOKEN), (settings.telegram_chat_id_parameter, "4242")):
        stack.ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    services.install(services.build(settings))

    def sns_messages():
        return [envelope["Message"] for envelope in inbox.new()]

    yield telegram, sns_messages
    telegram.close()


def test_outcomes_are_announced_by_the_sweep_not_the_webhook(stack, channels):
    telegram, sns_messages = channels
    placed = stack.post(stack.alert(alert_id="n-placed")).json_body
    stack.simulator.inject_fault("/order", "rms_reject")
    stack.post(stack.alert(alert_id="n-rejected"))
    assert telegram.messages == [] and sns_messages() == []  # the webhook sent nothing

    services.get().sweeper.run(time.time())
    [(path, body)] = telegram.messages  # one message per sweep, whatever it has to say
    lines = body["text"].splitlines()
    assert lines[0] == "Orders: 1 placed, 1 rejected"
    assert any("placed" in line and placed["order_id"] in line and "n-placed" in line for line in lines[1:])
    assert any("rejected" in line and "RMS" in line and "n-rejected" in line for line in lines[1:])
    assert path == f"/bot{BOT_TOKEN}/sendMessage" and body["chat_id"] == "4242"
    [sns_message] = sns_messages()
    assert sns_message == "\n".join(lines[1:])

    services.get().sweeper.run(time.time())  # announced once only
    assert len(telegram.messages) == 1


def test_a_broken_channel_changes_nothing_else(stack, channels, capsys):
    telegram, sns_messages = channels
    telegram.status = 500
    response = stack.post(stack.alert(alert_id="n-broken"))
    assert response.status_code == 200
    report = services.get().sweeper.run(time.time())
    assert report.examined == 1
    assert len(sns_messages()) == 1  # the other channel still delivered
    from chalicelib import observability

    observability.end_invocation()  # what the middleware does after every invocation
    out = capsys.readouterr().out
    assert '"channel":"telegram"' in out and "NotificationFailures" in out
    assert BOT_TOKEN not in out


def test_unreachable_telegram_times_out_quickly(stack):
    from chalicelib.notify import Notifier

    notifier = Notifier("", lambda: None, telegram_credentials=lambda: ("t", "c"),
                        telegram_api="http://10.255.255.1:9", timeout=0.3)
    started = time.monotonic()
    assert notifier.warn("subject", "message") is False
    assert time.monotonic() - started < 2


def test_no_channels_configured_is_just_a_log_line(stack, capsys):
    assert services.get().notifier.warn("Order absent", "text", outcome="absent") is False
    assert '"event":"notification"' in capsys.readouterr().out


def test_a_busy_sweep_sends_one_short_message_and_logs_every_order(stack, channels, capsys):
    from chalicelib import sweep
    from chalicelib.pacing import WritePacer

    telegram, sns_messages = channels
    relay = services.get().relay
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=10, spacing=0.0)  # not about pacing
    stack.simulator.rate_limit_writes = None
    for n in range(60):
        assert stack.post(stack.alert(alert_id=f"many-{n:02d}")).json_body["status"] == "placed"
    capsys.readouterr()
    services.get().sweeper.run(time.time())
    [(_, body)] = telegram.messages
    assert body["text"].startswith("Orders: 60 placed\n") and len(body["text"]) <= sweep.DIGEST_MAX_CHARS + 200
    assert body["text"].rstrip().endswith("more: see the journal (relay orders).")
    assert len(sns_messages()) == 1
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"event":"notification"' in line]
    assert sorted(line["key"] for line in logged) == [f"id:many-{n:02d}" for n in range(60)]


def test_a_failing_channel_is_tried_once_per_sweep_not_once_per_order(stack, channels):
    telegram, _ = channels
    telegram.status = 500  # refuses every message
    for n in range(5):
        stack.post(stack.alert(alert_id=f"slow-{n}"))
    services.get().sweeper.run(time.time())
    assert len(telegram.messages) == 1  # one attempt for the five announcements


def test_an_order_is_marked_announced_only_after_its_message_went_out(stack, channels, monkeypatch):
    telegram, _ = channels
    stack.post(stack.alert(alert_id="n-dies"))
    notifier = services.get().notifier

    def dies(*_args, **_kwargs):  # the function is stopped while sending
        raise RuntimeError("the sweep function was stopped")

    monkeypatch.setattr(notifier, "deliver", dies)
    now = time.time()
    with pytest.raises(RuntimeError):
        services.get().sweeper.run(now)
    assert "announced" not in services.get().ledger.get("id:n-dies")
    monkeypatch.undo()
    services.get().sweeper.run(now + 60)  # the next sweep (the lock has lapsed) says it again
    [(_, body)] = telegram.messages
    assert "n-dies" in body["text"] and services.get().ledger.get("id:n-dies")["announced"] == "placed"
