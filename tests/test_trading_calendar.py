"""The keep-warm schedule: NSE trading days, the 09:00-15:30 IST window, and that warming is one
GET of /health and nothing else (no AWS or broker write)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

import app as relay_app
from chalicelib.trading_calendar import IST, NSE_HOLIDAYS, is_trading_day, should_warm


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


def test_the_schedule_runs_every_five_minutes_over_the_session_on_weekdays():
    source = next(s for s in relay_app.app.event_sources if s.name == "keep_warm")
    assert source.schedule_expression.to_string() == "cron(0/5 3-10 ? * MON-FRI *)"  # 08:30-16:25 IST
