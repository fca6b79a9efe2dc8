"""The shipped NSE holiday list: its one home (holidays.toml), what it says about 2026 and 2027,
and the rules an edit of it must keep."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib import trading_calendar
from chalicelib.strategy import parse_holidays, shipped_calendar


def test_the_shipped_2026_list_is_published_with_its_sixteen_weekday_holidays():
    calendar = shipped_calendar()
    assert calendar.has_list(2026) and calendar.missing_list(2026) is None
    days = calendar.by_year()[2026]
    assert len(days) == 16 and all(day.weekday() < 5 for day in days)
    assert calendar.holiday(date(2026, 12, 25)) == "Christmas"
    assert calendar.holiday(date(2026, 1, 15)) == "Municipal Corporation election, Maharashtra"


def test_2027_has_no_published_list_and_the_calendar_says_so():
    """No copy of NSE's 2027 circular could be verified: no date is invented, every weekday of
    2027 trades, and the calendar reports the gap for the pre-market check to warn about."""
    calendar = shipped_calendar()
    assert not calendar.has_list(2027) and calendar.by_year()[2027] == frozenset()
    said = calendar.missing_list(2027)
    assert said is not None and said.startswith("no NSE holiday list for 2027")
    assert calendar.is_trading_day(date(2027, 1, 26))  # Republic Day, a Tuesday: unknown until listed
    assert calendar.missing_list(2031) is not None and calendar.is_trading_day(date(2031, 3, 4))


def test_the_keep_warm_calendar_reads_the_same_one_list():
    assert trading_calendar.NSE_HOLIDAYS == shipped_calendar().by_year()
    assert not trading_calendar.is_trading_day(date(2026, 11, 10))


@pytest.mark.parametrize("day, closure", [
    (date(2026, 12, 2), None),                                                # a Wednesday
    (date(2026, 12, 5), "a weekend"),                                         # Saturday
    (date(2026, 12, 6), "a weekend"),                                         # Sunday
    (date(2026, 12, 25), "Christmas, an NSE trading holiday"),
    (date(2026, 11, 8), "a weekend"),                                         # Diwali, muhurat: not modelled
    (date(2027, 3, 22), None),                                                # 2027: weekdays only
    (date(2027, 3, 20), "a weekend"),
])  # fmt: skip
def test_why_a_day_is_closed(day, closure):
    calendar = shipped_calendar()
    assert calendar.closure(day) == closure
    assert calendar.is_trading_day(day) is (closure is None)


GOOD = '["2030"]\npublished = true\nsource = "x"\nholidays = [{ date = 2030-01-01, name = "New Year" }]\n'


@pytest.mark.parametrize("text, says", [
    ("[2030\n", "not valid TOML"),
    ('["20x0"]\npublished = true\nsource = ""\nholidays = []\n', "must be a year"),
    ('["2030"]\npublished = true\nholidays = []\n', "exactly published, source and holidays"),
    ('["2030"]\npublished = true\nsource = ""\nholidays = []\nextra = 1\n', "exactly published, source and holidays"),
    ('["2030"]\npublished = "yes"\nsource = ""\nholidays = []\n', "published must be true or false"),
    ('["2030"]\npublished = true\nsource = ""\nholidays = []\n', "a published year lists its holidays"),
    (GOOD.replace("2030-01-01", "2030-01-05"), "2030-01-05 (New Year) is a Saturday"),
    (GOOD.replace("2030-01-01", "2031-01-01"), "2031-01-01 is not in 2030"),
    (GOOD.replace("2030-01-01", '"2030-01-01"'), "needs a date (unquoted"),
    (GOOD.replace('name = "New Year"', 'name = " "'), "needs a date (unquoted"),
    (GOOD.replace(', name = "New Year"', ""), "each holiday is"),
    (GOOD.replace("}]", '}, { date = 2030-01-01, name = "again" }]'), "2030-01-01 is listed twice"),
])  # fmt: skip
def test_an_edit_that_breaks_a_rule_is_refused_naming_it(text, says):
    with pytest.raises(ValueError) as caught:
        parse_holidays(text)
    assert says in str(caught.value)


def test_a_good_edit_reads_and_an_unpublished_year_may_list_some_days():
    partial = GOOD + '["2031"]\npublished = false\nsource = ""\nholidays = [{ date = 2031-01-27, name = "x" }]\n'
    calendar = parse_holidays(partial)
    assert calendar.holiday(date(2030, 1, 1)) == "New Year" and calendar.has_list(2030)
    assert not calendar.has_list(2031) and not calendar.is_trading_day(date(2031, 1, 27))
    assert calendar.by_year() == {2030: frozenset({date(2030, 1, 1)}), 2031: frozenset({date(2031, 1, 27)})}
