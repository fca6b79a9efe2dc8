"""The keep-warm schedule: NSE trading days, the 09:00-15:30 IST window, and that warming is one
GET of /health and nothing else (no AWS or broker write)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

import app as relay_app
from chalicelib.trading_calendar import IST, NSE_HOLIDAYS, is_trading_day, keep_warm, should_warm


def at(year, month, day, hour, minute, second=0):
    return datetime(year, month, day, hour, minute, second, tzinfo=IST).timestamp()


@pytest.mark.parametrize(("moment", "warm"), [
    (at(2026, 12, 2, 9, 0), True),              # Wednesday, the pre-open
    (at(2026, 12, 2, 15, 30), True),            # the close
    (at(2026, 12, 2, 8, 59, 59), False),
    (at(2026, 12, 2, 15, 30, 1), False),
    (at(2026, 12, 5, 10, 0), False),            # Saturday
    (at(2026, 12, 6, 10, 0), False),            # Sunday
    (at(2026, 12, 25, 10, 0), False),           # Christmas, a Friday
    (at(2026, 1, 15, 10, 0), False),            # Maharashtra municipal elections
    (at(2026, 11, 10, 10, 0), False),           # Diwali-Balipratipada
    (at(2028, 1, 26, 10, 0), True),             # an unlisted year: every weekday counts
])
def test_warm_only_on_trading_days_inside_the_window(moment, warm):
    assert should_warm(moment) is warm


def test_the_2026_list_holds_weekdays_only_and_unknown_years_fall_back_to_weekdays():
    assert len(NSE_HOLIDAYS[2026]) == 16 and all(day.weekday() < 5 for day in NSE_HOLIDAYS[2026])
    assert is_trading_day(date(2030, 3, 4)) and not is_trading_day(date(2030, 3, 2))


def test_keep_warm_pings_inside_the_window_and_calls_nothing_outside():
    pinged = []

    def ping(url):
        pinged.append(url)
        return 200

    assert keep_warm(at(2026, 12, 2, 9, 15), "https://api.example/api/health", ping) == {"warmed": True, "status": 200}
    assert keep_warm(at(2026, 12, 25, 9, 15), "https://api.example/api/health", ping)["warmed"] is False
    assert keep_warm(at(2026, 12, 2, 9, 15), "", ping) == {"warmed": False, "reason": "KEEP_WARM_URL is not set"}
    assert pinged == ["https://api.example/api/health"]


def test_a_failed_ping_is_reported_not_raised():
    def ping(url):
        raise ConnectionError("refused")

    assert keep_warm(at(2026, 12, 2, 10, 0), "https://api.example/api/health", ping) == {"warmed": False, "reason": "ConnectionError"}


def test_the_schedule_runs_every_five_minutes_over_the_session_on_weekdays():
    source = next(s for s in relay_app.app.event_sources if s.name == "keep_warm")
    assert source.schedule_expression.to_string() == "cron(0/5 3-10 ? * MON-FRI *)"  # 08:30-16:25 IST


def test_the_handler_gets_health_and_makes_no_aws_or_broker_call(monkeypatch):
    """The handler itself: one GET of KEEP_WARM_URL at most; services are never built, so no
    client exists that could write to AWS or the broker."""
    from chalicelib import services

    event = {"id": "1", "detail-type": "Scheduled Event", "source": "aws.events", "account": "000000000000",
             "time": "2026-12-02T05:30:00Z", "region": "ap-south-1", "resources": [], "detail": {}, "version": "0"}

    calls = []
    monkeypatch.setenv("KEEP_WARM_URL", "https://api.example/api/health")
    monkeypatch.setattr(relay_app, "_get_status", lambda url: calls.append(url) or 200)
    monkeypatch.setattr(services, "build", lambda settings: pytest.fail("the keep-warm schedule built services"))
    monkeypatch.setattr(relay_app.time, "time", lambda: at(2026, 12, 2, 11, 0))
    assert relay_app.keep_warm(event, None) == {"warmed": True, "status": 200}
    monkeypatch.setattr(relay_app.time, "time", lambda: at(2026, 12, 2, 16, 0))
    assert relay_app.keep_warm(event, None)["warmed"] is False
    assert calls == ["https://api.example/api/health"]
