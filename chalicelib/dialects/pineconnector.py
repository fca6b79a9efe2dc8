"""PineConnector-style text: `<secret>,<command>,<symbol>,key=value,…` (README, *PineConnector
text*). Tokens are separated by commas, spaces around them do not count; the secret is the first
token, the command the second, the symbol the third (no `=`), then `key=value` options.

Refusals name the token by its position and its key (`token 4 (qty)`), never its text.
"""

from __future__ import annotations

from typing import Any

from chalicelib.alerts import Alert
from chalicelib.dialects.base import Format, Reading, problem, validate_as

# PineConnector's command words (and its synonyms of buy and sell) → the alert model's action.
COMMANDS = {
    "buy": "BUY", "long": "BUY", "bull": "BUY", "bullish": "BUY",
    "sell": "SELL", "short": "SELL", "bear": "SELL", "bearish": "SELL",
    "closelong": "EXIT", "closeshort": "EXIT", "closeall": "EXIT",
    "cancellong": "CANCEL", "cancelshort": "CANCEL",
}
# key → the alert model's field (and, for `price`, the order type it implies).
KEYS = {"qty": "quantity", "lots": "lots", "sl": "stop_loss", "tp": "target", "price": "price",
        "product": "product", "id": "alert_id", "strategy": "strategy", "time": "time", "amo": "amo"}
_REFUSED_KEYS = {"risk": "PineConnector's risk= depends on its EA's settings: send qty= (shares or units) or lots=",
                 "comment": "send strategy= (the strategy the alert belongs to) or id= (the alert's id)"}


def looks_like(text: str) -> bool:
    """Whether a text body is PineConnector-style: its second comma-separated token is a command
    word (a `key=value` body never has a bare word there)."""
    tokens = text.split(",")
    return len(tokens) >= 2 and tokens[1].strip().lower() in COMMANDS


def reading(text: str) -> Reading:
    tokens = [token.strip() for token in text.strip().split(",")]
    return Reading(Format.PINECONNECTOR, tokens[0] or None, None, lambda: _alert(tokens))


def _alert(tokens: list[str]) -> Alert:
    command = tokens[1].lower()
    fields: dict[str, Any] = {"action": COMMANDS[command]}
    names = {"action": "token 2 (command)", "quantity": "qty", "lots": "lots", "stop_loss": "sl", "target": "tp",
             "price": "price", "symbol": "token 3 (symbol)", "exchange": "token 3 (symbol)"}
    position = 3
    if len(tokens) > 2 and "=" not in tokens[2]:
        fields["symbol"] = tokens[2]
        position = 4
    elif command == "closeall":
        fields["action"] = "EXIT_ALL"  # no symbol: every instrument the relay traded today
    for number, token in enumerate(tokens[position - 1:], start=position):
        fields.update(_option(number, token, fields, names))
    if "price" in fields:
        fields["order_type"] = "LIMIT"
    return validate_as(fields, names)


def _option(number: int, token: str, fields: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    where = f"token {number}"
    if not token:
        raise problem(where, "is empty (two commas in a row?)")
    key, equals, value = token.partition("=")
    key = key.strip().lower()
    if not equals or not key:
        raise problem(where, "must be key=value (the secret, the command and the symbol come first)")
    if key in _REFUSED_KEYS:
        raise problem(f"{where} ({key})", _REFUSED_KEYS[key])
    if key not in KEYS:
        raise problem(f"{where} ({key[:20]})", "is not a key of this grammar: " + ", ".join(KEYS))
    name = KEYS[key]
    if name in fields:
        raise problem(f"{where} ({key})", "appears more than once")
    names[name] = f"{where} ({key})"
    return {name: value.strip()}

