"""README's copy-paste F&O messages (Futures and options, Copy-paste messages): each one, its
TradingView placeholders filled as TradingView fills them, goes through the relay to the
simulator, so the README can never show a message the relay refuses.

A fixed option names a dated contract, which expires; when the README's contract is not live in
the simulator's master of today, the same form (TradingView's or OpenAlgo's) is sent for a live
contract of the same underlying and option type, and the test says which.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.alerts import validate_alert
from chalicelib.fno.symbols import ExactContract, parse_symbol
from tests.conftest import SEEDED_SECRET
from tests.test_fno_alerts import MONTHS, fno, futures, live, placed, the_write  # noqa: F401 - fno: the fixture

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "#### Copy-paste messages"
SECRET_IN_README = "YOUR-WEBHOOK-SECRET"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_.]+)\s*\}\}")
# The placeholders TradingView fills in an alert message (its "Alerts: variables" help page).
TRADINGVIEW = frozenset({
    "ticker", "exchange", "close", "open", "high", "low", "volume", "time", "timenow", "interval",
    "syminfo.currency", "syminfo.basecurrency", "strategy.order.action", "strategy.order.contracts",
    "strategy.order.price", "strategy.order.id", "strategy.order.comment", "strategy.order.alert_message",
    "strategy.market_position", "strategy.market_position_size", "strategy.prev_market_position",
    "strategy.prev_market_position_size", "strategy.position_size",
})
KINDS = ("continuous future", "fixed option", "relative option")


def messages() -> list[tuple[str, str]]:
    """(label, message) for each ```json block of the section, the label being the line above it."""
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n### ", start)
    return re.findall(r"\n([^\n]+):\n\n```json\n(.*?)\n```", text[start:end], re.S)


def kind_of(message: dict) -> str:
    if "underlying" in message:
        return "relative option"
    return "continuous future" if message["symbol"].endswith("1!") or "{{ticker}}" in message["symbol"] \
        else "fixed option"


def test_the_section_has_a_strategy_and_an_indicator_message_for_each_kind_of_contract():
    found = messages()
    assert len(found) == 6, [label for label, _ in found]
    seen = set()
    for label, text in found:
        assert set(PLACEHOLDER.findall(text)) <= TRADINGVIEW, (label, PLACEHOLDER.findall(text))
        message = json.loads(text)  # JSON as written, placeholders inside strings
        strategy = message["action"] == "{{strategy.order.action}}"
        assert ("strategy alert" in label) == strategy and ("indicator alert" in label) == (not strategy), label
        if not strategy:
            assert message["action"] in ("buy", "sell") and "strategy." not in text, label
        assert kind_of(message) in label.lower(), label
        assert message["secret"] == SECRET_IN_README and len(message["alert_id"]) <= 60
        seen.add((kind_of(message), strategy))
    assert seen == {(kind, strategy) for kind in KINDS for strategy in (True, False)}


def live_symbol(symbol: str, sim) -> tuple[str, object]:
    """The README's fixed-option symbol if its contract is live in the simulator, else the same
    form for a live contract of the same underlying and type; and that contract."""
    reading = parse_symbol(symbol)
    assert isinstance(reading, ExactContract) and reading.strike is not None
    listed = [c for c in live(sim, reading.underlying, option=True) if c.option_type == reading.kind.value]
    same = [c for c in listed if c.expiry == reading.expiry and c.strike == reading.strike]
    if same:
        return symbol, same[0]
    expiry = listed[0].expiry
    contract = min((c for c in listed if c.expiry == expiry), key=lambda c: abs(c.strike - reading.strike))
    strike = f"{contract.strike.normalize():f}"
    if re.match(r"^[A-Z]+\d{6}[CP]", symbol):  # TradingView's root + YYMMDD + C/P + strike
        return f"{contract.underlying}{expiry:%y%m%d}{contract.option_type[0]}{strike}", contract
    day = f"{expiry.day:02d}{MONTHS[expiry.month - 1]}{expiry.year % 100:02d}"
    return f"{contract.underlying}{day}{strike}{contract.option_type}", contract


def fill(text: str, values: dict[str, str]) -> dict:
    filled = PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
    return json.loads(filled.replace(SECRET_IN_README, SEEDED_SECRET))


def cases() -> list[tuple[int, str]]:
    """Each message, a strategy's with either side of the strategy's order, an indicator's with its own."""
    found = []
    for number, (_, text) in enumerate(messages()):
        written = json.loads(text)["action"]
        found += [(number, side) for side in (("buy", "sell") if written == "{{strategy.order.action}}" else (written,))]
    return found


@pytest.mark.parametrize("number, action", cases())
def test_each_message_is_placed_as_the_readme_says(fno, number, action):  # noqa: F811 - fno: the fixture
    label, text = messages()[number]
    sim = fno.simulator
    written = json.loads(text)
    strategy = written["action"] == "{{strategy.order.action}}"
    kind = kind_of(written)
    future = futures(sim, "NIFTY")[0]
    on_future_chart = kind == "continuous future"
    close = sim.fno_price(future) if on_future_chart else sim.spots["NIFTY"]
    values = {  # what TradingView puts in, on the chart the label names
        "ticker": "NIFTY1!" if on_future_chart else "NIFTY", "exchange": "NSE", "close": f"{close:.2f}",
        "timenow": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "strategy.order.action": action, "strategy.order.contracts": str(2 * future.lot),
        "strategy.order.id": "Long" if action == "buy" else "Exit",
    }
    message = fill(text, values)
    expected = None
    if kind == "fixed option":
        message["symbol"], expected = live_symbol(message["symbol"], sim)
    elif kind == "continuous future":
        expected = future
    validate_alert(message)  # the model alone first: a refusal names the field

    body = placed(fno.post(message))
    write = the_write(fno)  # validated against the OpenAPI spec
    units = 2 * future.lot if strategy else message["lots"] * future.lot
    assert (write.json["qty"], write.json["txn_type"], write.json["exchange"], write.json["segment"]) == \
        (units, action.upper(), "NSE", "DERIVATIVE"), label
    quotes = [r.query["scrip-codes"] for r in sim.requests("/market/quotes/ltp")]
    if kind == "relative option":
        weekly = live(sim, "NIFTY", option=True)[0].expiry
        contract = body["contract"]
        ladder = sorted({c.strike for c in live(sim, "NIFTY", option=True)
                         if c.expiry == weekly and c.option_type == message["option_type"]})
        spot = sim.spots["NIFTY"]
        atm = min(range(len(ladder)), key=lambda i: (abs(ladder[i] - spot), ladder[i]))
        depth = int(message["offset"][3:] or 0)
        outward = 1 if message["option_type"] == "CE" else -1  # out of the money: above for a call, below for a put
        strike = ladder[atm + outward * depth]
        expected = sim.find_contract("NIFTY", weekly, strike, message["option_type"])
        assert (contract["offset"], contract["expiry"], Decimal(contract["strike"])) == \
            (message["offset"], weekly.isoformat(), strike), label
        assert quotes == [] and len(sim.requests("/market/option-chain")) == 1  # valued at the chain's price
    elif kind == "fixed option":
        assert quotes == [f"NFO_{expected.security_id}"], label  # no {{close}}: the option's own quote
    else:
        assert quotes == [], label  # valued at {{close}}, the future's
    assert write.json["security_id"] == expected.security_id, (label, message.get("symbol"))
