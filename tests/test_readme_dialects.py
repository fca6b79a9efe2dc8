"""README's copy-paste messages for the formats people already have (*Alerts you already have*):
each one, its TradingView placeholders filled as TradingView fills them, goes to the path its
label names and through the relay to the simulator, so the README never shows a message the
relay refuses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import SEEDED_ADMIN_KEY, SEEDED_SECRET
from tests.test_readme_fno import TRADINGVIEW

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Alerts you already have"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_.]+)\s*\}\}")
FORMATS = {"OpenAlgo": "openalgo", "TradersPost": "traderspost", "PineConnector text": "pineconnector"}


def messages() -> list[tuple[str, str, str, str]]:
    """(format, label, path, message) for each code block labelled '… alert (webhook URL: …`path`…)'."""
    text = README.read_text()
    start = text.index(SECTION)
    section = text[start:text.index("\n## ", start + 1)]
    found = []
    for part in re.split(r"\n### ", section)[1:]:
        title = part.splitlines()[0].strip()
        for label, path, body in re.findall(r"\n([^\n]*alert \(webhook URL: your relay's `([^`]+)`[^\n]*):\n\n```(?:json|text)\n(.*?)\n```",
                                            part, re.S):
            found.append((FORMATS[title], label, path, body))
    return found


def filled(message: str, **values: str) -> str:
    """The message as TradingView sends it: every placeholder replaced, the secret the stage's."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    known = {"ticker": "SBIN", "exchange": "NSE", "close": "800.00", "timenow": now, "strategy.order.action": "buy",
             "strategy.order.contracts": "5", "strategy.position_size": "5", "strategy.market_position": "long",
             **values}
    return PLACEHOLDER.sub(lambda m: known[m.group(1)], message).replace("YOUR-WEBHOOK-SECRET", SEEDED_SECRET)


def test_each_format_has_a_strategy_and_an_indicator_message():
    found = messages()
    assert sorted((fmt, label.split(" ", 1)[0]) for fmt, label, _, _ in found) == sorted(
        (fmt, kind) for fmt in FORMATS.values() for kind in ("Strategy", "Indicator"))
    for fmt, label, _, message in found:
        assert set(PLACEHOLDER.findall(message)) <= TRADINGVIEW, (label, PLACEHOLDER.findall(message))
        if fmt != "pineconnector":
            json.loads(filled(message))


@pytest.mark.parametrize("fmt, label, path, message", messages(), ids=lambda v: v if len(str(v)) < 30 else None)
def test_each_readme_message_is_placed(stack, fmt, label, path, message):
    content_type = "text/plain" if fmt == "pineconnector" else "application/json"
    response = stack.client.http.post(path, headers={"Content-Type": content_type}, body=filled(message))
    assert response.status_code == 200, (label, response.json_body)
    body = response.json_body
    assert body["status"] == ("success" if path.startswith("/api/v1/") else "placed"), body
    [write] = stack.simulator.order_writes()
    assert (write.json["security_id"], write.json["txn_type"]) == ("3045", "BUY")
    orders = stack.client.http.get("/orders", headers={"X-Admin-Key": SEEDED_ADMIN_KEY}).json_body["orders"]
    assert [order["format"] for order in orders] == [fmt]


def test_the_strategy_messages_close_a_position_when_tradingview_goes_flat(stack):
    """The strategy messages as TradingView fills them on a closing sell: nothing is held here, so
    each is a noop (OpenAlgo: success), and nothing is sent."""
    for fmt, label, path, message in messages():
        if not label.startswith("Strategy"):
            continue
        closing = filled(message, **{"strategy.order.action": "sell", "strategy.market_position": "flat",
                                     "strategy.position_size": "0"})
        content_type = "text/plain" if fmt == "pineconnector" else "application/json"
        response = stack.client.http.post(path, headers={"Content-Type": content_type}, body=closing)
        if fmt == "pineconnector":  # PineConnector's strategy line sells: a sell of 5 is what TradingView asked
            assert response.json_body["status"] == "placed", response.json_body
            continue
        assert response.status_code == 200, (label, response.json_body)
        assert response.json_body["status"] in ("noop", "success"), response.json_body
    assert [w.json["txn_type"] for w in stack.simulator.order_writes()] == ["SELL"]
