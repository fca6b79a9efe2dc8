"""The README's table of webhook answers and the code cannot drift apart: every error code and
status the table names is one the relay answers, with the HTTP status the table says, and every
error type a webhook caller can meet, and every status the relay answers, is in the table."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import chalicelib
from chalicelib import admin, errors, queued_sender

ROOT = Path(__file__).resolve().parent.parent
# Raised only by the admin and token routes, never on an alert's path. A new RelayError must be
# added to the table or here, so a new webhook answer cannot go undocumented.
NOT_FROM_WEBHOOK = {
    errors.RelayError, errors.InvalidRequest, errors.TokenRejected, errors.BrokerUnreachable,
    errors.TokenGenerationFailed, errors.TokenNotStored, errors.AdminLocked, errors.RotationBusy,
    admin.TooManyAttempts,
    queued_sender.SlotNotKept,  # the queue consumer's, never an HTTP answer
}


def answer_table() -> list[tuple[set[int], str]]:
    """(HTTP statuses, body) per row of the table under '### The answer'."""
    section = ROOT.joinpath("README.md").read_text().split("### The answer", 1)[1]
    rows = []
    for line in section.split("\n\n", 2)[1].splitlines()[2:]:
        case, http, body = [cell.strip() for cell in line.strip("|").split(" | ", 2)]
        rows.append(({int(code) for code in re.findall(r"\b\d{3}\b", http)}, body))
    return rows


def documented(key: str) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for statuses, body in answer_table():
        for code in re.findall(rf'"{key}":"(\w+)"', body):
            found.setdefault(code, set()).update(statuses)
    return found


def error_types() -> set[type[errors.RelayError]]:
    """Every RelayError subclass in chalicelib, wherever it is defined (all modules imported)."""
    for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        importlib.import_module(module.name)
    seen, todo = set(), [errors.RelayError]
    while todo:
        kind = todo.pop()
        seen.add(kind)
        todo.extend(kind.__subclasses__())
    return {kind for kind in seen if kind.__module__.startswith("chalicelib.")}  # not tests' own


def relay_statuses() -> set[str]:
    sources = [ROOT / "chalicelib" / "relay.py", *sorted((ROOT / "chalicelib" / "execution").glob("*.py"))]
    return {status for source in sources for status in re.findall(r'"status": "(\w+)"', source.read_text())}


def test_every_documented_error_is_a_relay_error_with_that_http_status():
    by_code = {kind.error: kind.status_code for kind in error_types()}
    for code, statuses in documented("error").items():
        assert code in by_code, f"the README documents error {code!r}, which no RelayError answers"
        assert statuses == {by_code[code]}, f"{code}: README says {statuses}, the code answers {by_code[code]}"


def test_every_error_a_webhook_caller_can_meet_is_documented():
    reachable = {kind.error for kind in error_types() - NOT_FROM_WEBHOOK}
    assert reachable - set(documented("error")) == set(), "add these errors to the README's answer table"


def test_the_documented_statuses_are_the_relays():
    assert set(documented("status")) == relay_statuses()


def test_the_table_parses():
    assert len(answer_table()) >= 10 and {"invalid_alert", "unauthorized"} <= set(documented("error"))
