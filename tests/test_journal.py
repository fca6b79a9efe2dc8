"""GET /orders has one stable shape: every documented key on every item, whatever its state."""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.ledger import JOURNAL_FIELDS
from tests.conftest import SEEDED_ADMIN_KEY
from tests.test_ledger import iso, pace_a_minute_apart

README = Path(__file__).resolve().parents[1] / "README.md"


def documented_keys() -> list[str]:
    """The keys listed in the README's journal table, in order."""
    text = README.read_text("utf-8")
    section = text[text.index("**Journal.**"):text.index("## The daily token")]
    return re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)


def test_the_readme_documents_exactly_the_journal_keys():
    assert documented_keys() == list(JOURNAL_FIELDS)


def test_items_in_every_state_have_exactly_the_documented_keys(stack):
    stack.simulator.inject_fault("/market/quotes/ltp", "http500")
    assert stack.post(stack.alert(alert_id="s-failed")).status_code == 503
    assert stack.post(stack.alert(alert_id="s-stale", time=iso(-600))).status_code == 400
    stack.simulator.inject_fault("/order", "rms_reject")
    assert stack.post(stack.alert(alert_id="s-rejected")).status_code == 422
    assert stack.post(stack.alert(alert_id="s-placed", amo=True)).json_body["status"] == "placed"
    pace_a_minute_apart()  # the write after this one must wait a minute: it is queued
    assert stack.post(stack.alert(alert_id="s-placed-2")).json_body["status"] == "placed"
    assert stack.post(stack.alert(alert_id="s-queued")).json_body["status"] == "queued"

    answer = stack.client.http.get("/orders", headers={"X-Admin-Key": SEEDED_ADMIN_KEY})
    assert answer.status_code == 200
    orders = {order["alert_id"]: order for order in answer.json_body["orders"]}
    assert {order["state"] for order in orders.values()} == {"failed", "rejected", "placed", "queued"}
    for order in orders.values():
        assert list(order) == list(JOURNAL_FIELDS), order["alert_id"]

    stale, placed, queued = orders["s-stale"], orders["s-placed"], orders["s-queued"]
    assert stale["state"] == "rejected" and stale["message"]
    assert stale["order_id"] is None and stale["remarks"] is None and stale["request"] is None
    assert placed["message"] is None and placed["order_id"].startswith("EQ-") and placed["amo"] is True
    assert queued["amo"] is False and queued["order_id"] is None and queued["remarks"].startswith("tvr:s-queued:")
    assert orders["s-rejected"]["message"] and orders["s-failed"]["order_id"] is None
