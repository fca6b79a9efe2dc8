"""The 08:45 check warns, before the first entry, when this year has no NSE holiday list (every
weekday then counts as a trading day, so entries on a holiday would go out)."""

from __future__ import annotations

import json
from datetime import date, datetime

from chalicelib import services
from chalicelib.config import IST
from chalicelib.premarket import premarket_check
from chalicelib.strategy.windows import CalendarMode, Schedule


def check(day: date, schedule: Schedule):
    built = services.get()
    now = datetime(day.year, day.month, day.day, 8, 45, tzinfo=IST).timestamp()
    return premarket_check(built.token_service, built.relay.instruments, built.notifier, now, day,
                           schedule=schedule).as_dict()


def warnings(capsys):
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("outcome") == "holidays_missing"]


def test_a_year_without_a_holiday_list_is_reported_and_warned(stack, capsys):
    report = check(date(2027, 1, 4), Schedule(calendar=CalendarMode.EXCHANGE))
    assert "no NSE holiday list for 2027" in report["holidays"]
    [warning] = warnings(capsys)
    assert warning["message"] == "NSE holiday list missing"


def test_a_listed_year_or_the_always_calendar_says_nothing(stack, capsys):
    assert "holidays" not in check(date(2026, 12, 2), Schedule(calendar=CalendarMode.EXCHANGE))
    assert "holidays" not in check(date(2027, 1, 4), Schedule(calendar=CalendarMode.ALWAYS))
    assert warnings(capsys) == []
