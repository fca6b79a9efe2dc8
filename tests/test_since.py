"""One grammar for where a journal read starts, shared by `GET /orders?since=` and `relay orders --since`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.moments import parse_since
from relay_cli import cli
from tests.conftest import SEEDED_ADMIN_KEY

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC).timestamp()  # 11:30 IST


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90s", NOW - 90),
        ("15m", NOW - 900),
        ("2h", NOW - 7200),
        (" 3d ", NOW - 3 * 86400),
        ("1.5H", NOW - 5400),
        ("today", datetime(2026, 11, 24, 18, 30, tzinfo=UTC).timestamp()),
        ("2026-11-25T09:00", datetime(2026, 11, 25, 3, 30, tzinfo=UTC).timestamp()),  # no offset: IST
        ("2026-11-25T09:00Z", datetime(2026, 11, 25, 9, 0, tzinfo=UTC).timestamp()),
        ("2026-11-25T09:00:00+05:30", datetime(2026, 11, 25, 3, 30, tzinfo=UTC).timestamp()),
        ("2026-11-25", datetime(2026, 11, 24, 18, 30, tzinfo=UTC).timestamp()),
    ],
)
def test_relay_and_cli_read_each_form_alike(text, expected):
    assert parse_since(text, NOW) == expected
    assert cli.parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["soon", "", "2 weeks", "-2h", "9" * 40 + "d"])
def test_other_text_is_refused_naming_the_forms(text):
    with pytest.raises(ValueError, match=r"must be a duration \(90s, 15m, 2h, 3d\), 'today', or an ISO-8601 time"):
        parse_since(text, NOW)


def journal(stack, since):
    return stack.client.http.get(f"/orders?since={since}", headers={"X-Admin-Key": SEEDED_ADMIN_KEY})


def test_the_journal_endpoint_takes_durations_and_iso_times(stack):
    stack.post(stack.alert(alert_id="since-1"))
    for since in ("2h", "today", "90s", "2000-01-01T09:00", "2000-01-01T09:00:00%2B05:30"):
        answer = journal(stack, since)
        assert answer.status_code == 200, (since, answer.body)
        assert [order["alert_id"] for order in answer.json_body["orders"]] == ["since-1"], since
    assert journal(stack, "2099-01-01T00:00").json_body["orders"] == []


def test_the_journal_endpoint_refuses_other_text_naming_the_field_and_forms(stack):
    answer = journal(stack, "last-tuesday-marker")
    assert answer.status_code == 400
    [problem] = answer.json_body["detail"]
    assert problem["field"] == "since" and problem["message"].startswith("must be a duration (90s, 15m, 2h, 3d)")
    assert "last-tuesday-marker" not in answer.body.decode()
