"""When strategy alerts pass: the entry window, the session for exits, trading days, freshness,
square-off, and the four settings that say them (refused at start-up when unreadable)."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from pydantic import ValidationError

from chalicelib.config import IST, settings_from_env
from chalicelib.errors import AlertRejected, MarketClosed, OutsideWindow, StaleAlert
from chalicelib.strategy import (
    CalendarMode,
    Schedule,
    TimeWindow,
    parse_calendar_mode,
    parse_entry_window,
    parse_holidays,
    parse_square_off,
    schedule_problems,
)

ENTRY, EXIT = False, True


def at(year, month, day, hour, minute, second=0, micro=0):
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=IST).timestamp()


WED = (2026, 12, 2)  # a trading day
SAT = (2026, 12, 5)
XMAS = (2026, 12, 25)  # a Friday holiday


@pytest.mark.parametrize("day, clock, is_exit, refused", [
    # entries: inside ENTRY_WINDOW (09:15-15:10, both ends to the second) on trading days
    (WED, (9, 14, 59), ENTRY, OutsideWindow),
    (WED, (9, 15, 0), ENTRY, None),
    (WED, (12, 0, 0), ENTRY, None),
    (WED, (15, 10, 0), ENTRY, None),
    (WED, (15, 10, 1), ENTRY, OutsideWindow),
    (WED, (15, 20, 0), ENTRY, OutsideWindow),
    (WED, (8, 0, 0), ENTRY, OutsideWindow),
    (SAT, (10, 0, 0), ENTRY, MarketClosed),
    (XMAS, (10, 0, 0), ENTRY, MarketClosed),
    ((2027, 1, 26), (10, 0, 0), ENTRY, None),      # 2027 has no list yet: weekdays trade
    # exits: the whole session, 09:15-15:30, on trading days
    (WED, (9, 14, 59), EXIT, OutsideWindow),
    (WED, (9, 15, 0), EXIT, None),
    (WED, (15, 12, 0), EXIT, None),                # after ENTRY_WINDOW, inside the session
    (WED, (15, 30, 0), EXIT, None),
    (WED, (15, 30, 1), EXIT, OutsideWindow),
    (WED, (20, 0, 0), EXIT, OutsideWindow),
    (SAT, (10, 0, 0), EXIT, MarketClosed),
    (XMAS, (15, 0, 0), EXIT, MarketClosed),
])  # fmt: skip
def test_when_entries_and_exits_pass(day, clock, is_exit, refused):
    answer = Schedule().refusal(at(*day, *clock), is_exit=is_exit)
    assert (type(answer) if answer else None) is refused


def test_the_window_is_to_the_second_not_the_microsecond():
    assert Schedule().refusal(at(*WED, 15, 10, 0, 999_999), is_exit=ENTRY) is None


def test_an_entry_outside_the_window_names_it_and_is_a_409():
    error = Schedule().refusal(at(*WED, 15, 12, 4), is_exit=ENTRY)
    assert isinstance(error, OutsideWindow) and isinstance(error, AlertRejected)  # refused input: final
    assert error.status_code == 409 and error.body() == {
        "error": "outside_window",
        "message": "entries are accepted from 09:15 to 15:10 IST (ENTRY_WINDOW) and it is 15:12:04 IST; nothing was sent",
        "detail": [{"field": "ENTRY_WINDOW", "message": "is 09:15-15:10 IST; the entry arrived at 15:12:04 IST "
                                                        "(exits are accepted until 15:30)"}],
    }


def test_an_exit_after_the_close_is_refused_not_sent_as_an_after_market_order():
    error = Schedule().refusal(at(*WED, 15, 31, 10), is_exit=EXIT)
    assert isinstance(error, OutsideWindow) and error.status_code == 409
    assert error.public_message == ("exits are accepted during the session, 09:15 to 15:30 IST, and it is 15:31:10 IST; "
                                    "nothing was sent (an exit is never sent as an after-market order)")
    assert [(p.field, p.message) for p in error.detail] == [("session", "is 09:15-15:30 IST; the exit arrived at 15:31:10 IST")]


@pytest.mark.parametrize("day, said", [
    (SAT, "Saturday 2026-12-05 is a weekend"),
    ((2026, 12, 6), "Sunday 2026-12-06 is a weekend"),
    (XMAS, "Friday 2026-12-25 is Christmas, an NSE trading holiday"),
    ((2026, 1, 15), "Thursday 2026-01-15 is Municipal Corporation election, Maharashtra, an NSE trading holiday"),
])  # fmt: skip
def test_a_closed_day_names_the_weekend_or_the_holiday(day, said):
    error = Schedule().refusal(at(*day, 10, 0), is_exit=EXIT)
    assert isinstance(error, MarketClosed) and error.status_code == 409 and error.error == "market_closed"
    assert error.public_message == f"the exchange is closed: {said}; nothing was sent"
    assert [(p.field, p.message) for p in error.detail] == [
        ("TRADING_CALENDAR", f"{said}; entries and exits are accepted on trading days only")]


@pytest.mark.parametrize("day, clock, is_exit, refused", [
    (SAT, (10, 0, 0), ENTRY, None),
    (XMAS, (10, 0, 0), EXIT, None),
    (SAT, (15, 20, 0), ENTRY, None),      # nor the window
    (SAT, (22, 0, 0), EXIT, None),        # nor the session: a rehearsal after work
])  # fmt: skip
def test_calendar_always_opens_every_day_and_every_hour(day, clock, is_exit, refused):
    answer = Schedule(calendar=CalendarMode.ALWAYS).refusal(at(*day, *clock), is_exit=is_exit)
    assert (type(answer) if answer else None) is refused


def test_an_edited_holiday_list_closes_its_days():
    holidays = parse_holidays('["2027"]\npublished = true\nsource = "x"\n'
                              'holidays = [{ date = 2027-01-26, name = "Republic Day" }]\n')
    error = Schedule(holidays=holidays).refusal(at(2027, 1, 26, 10, 0), is_exit=ENTRY)
    assert isinstance(error, MarketClosed) and "Tuesday 2027-01-26 is Republic Day" in error.public_message


# --- freshness --------------------------------------------------------------------------------------

@pytest.mark.parametrize("is_exit, age, refused, says", [
    (ENTRY, 60, None, None),
    (ENTRY, 61, StaleAlert, "is 61 s old; entries older than 60 s are not sent"),
    (EXIT, 61, None, None),                         # exits: MAX_EXIT_AGE_SECONDS
    (EXIT, 300, None, None),
    (EXIT, 301, StaleAlert, "is 301 s old; exits older than 300 s are not sent"),
    (ENTRY, -10, None, None),
    (EXIT, -11, StaleAlert, "is 11 s in the future; check the sender's clock"),
    (ENTRY, None, None, None),                      # no `time` in the alert: nothing to judge
])  # fmt: skip
def test_exits_have_their_own_freshness_limit(is_exit, age, refused, says):
    answer = Schedule().refusal(at(*WED, 12, 0), is_exit=is_exit, age_seconds=age)
    assert (type(answer) if answer else None) is refused
    if says:
        assert answer.status_code == 400 and answer.detail[0].field == "time" and answer.detail[0].message == says


def test_staleness_is_judged_before_the_hour():
    assert isinstance(Schedule().refusal(at(*SAT, 20, 0), is_exit=ENTRY, age_seconds=3600), StaleAlert)


def test_the_exits_limit_is_never_tighter_than_the_entries():
    schedule = Schedule(max_alert_age_seconds=600, max_exit_age_seconds=300)
    assert (schedule.max_age(ENTRY), schedule.max_age(EXIT)) == (600, 600)
    assert schedule.refusal(at(*WED, 12, 0), is_exit=EXIT, age_seconds=500) is None


def test_check_raises_what_refusal_returns():
    Schedule().check(at(*WED, 12, 0), is_exit=ENTRY)
    with pytest.raises(MarketClosed):
        Schedule().check(at(*SAT, 12, 0), is_exit=EXIT)


# --- square-off ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("schedule, day, clock, due", [
    (Schedule(), WED, (15, 14, 59), False),
    (Schedule(), WED, (15, 15, 0), True),
    (Schedule(), WED, (15, 29, 0), True),
    (Schedule(), WED, (15, 30, 0), True),
    (Schedule(), WED, (15, 30, 1), False),
    (Schedule(), WED, (9, 30, 0), False),
    (Schedule(), SAT, (15, 20, 0), False),
    (Schedule(), XMAS, (15, 20, 0), False),
    (Schedule(square_off_at=None), WED, (15, 20, 0), False),
    (Schedule(square_off_at=time(14, 0)), WED, (14, 0, 0), True),
    (Schedule(calendar=CalendarMode.ALWAYS), SAT, (15, 20, 0), True),
])  # fmt: skip
def test_square_off_is_due_from_its_minute_to_the_close_on_trading_days(schedule, day, clock, due):
    assert schedule.square_off_due(at(*day, *clock)) is due


def test_the_calendar_reports_a_year_without_a_holiday_list():
    assert Schedule().missing_holiday_list(at(2026, 6, 1, 8, 45)) is None
    said = Schedule().missing_holiday_list(at(2027, 1, 4, 8, 45))
    assert said is not None and said.startswith("no NSE holiday list for 2027")
    assert Schedule(calendar=CalendarMode.ALWAYS).missing_holiday_list(at(2027, 1, 4, 8, 45)) is None


# --- parsing the settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, window", [
    ("09:15-15:10", TimeWindow(time(9, 15), time(15, 10))),
    (" 9:15 - 15:10 ", TimeWindow(time(9, 15), time(15, 10))),
    ("00:00-23:59", TimeWindow(time(0, 0), time(23, 59))),
])  # fmt: skip
def test_an_entry_window_reads(text, window):
    assert parse_entry_window(text) == window


@pytest.mark.parametrize("text, says", [
    ("09:15", "must be HH:MM-HH:MM in IST"),
    ("15:10-09:15", "15:10-09:15 does not end after it starts"),
    ("09:15-09:15", "does not end after it starts"),
    ("24:00-25:00", "'24:00' is not a time of day HH:MM"),
    ("09:60-10:00", "'09:60' is not a time of day"),
    ("0915-1510", "'0915' is not a time of day HH:MM"),
    ("9.15-15.10", "'9.15' is not a time of day HH:MM"),
])  # fmt: skip
def test_a_bad_entry_window_says_why(text, says):
    with pytest.raises(ValueError) as caught:
        parse_entry_window(text)
    assert says in str(caught.value)


@pytest.mark.parametrize("text, moment", [("15:15", time(15, 15)), ("off", None), (" OFF ", None), ("09:15", time(9, 15)), ("15:29", time(15, 29))])
def test_square_off_reads(text, moment):
    assert parse_square_off(text) == moment


@pytest.mark.parametrize("text, says", [
    ("15:30", "15:30 is not inside the session, 09:15 to before 15:30 IST"),
    ("09:14", "09:14 is not inside the session"),
    ("3pm", "'3pm' is not a time of day"),
    ("", "is not a time of day"),
])  # fmt: skip
def test_a_bad_square_off_says_why(text, says):
    with pytest.raises(ValueError) as caught:
        parse_square_off(text)
    assert says in str(caught.value)


def test_the_calendar_mode_reads_in_any_case_and_says_its_words():
    assert parse_calendar_mode(" Exchange ") is CalendarMode.EXCHANGE and parse_calendar_mode("ALWAYS") is CalendarMode.ALWAYS
    with pytest.raises(ValueError, match="must be exchange .* or always"):
        parse_calendar_mode("nse")


@pytest.mark.parametrize("window, square_off, calendar, problems", [
    ("09:15-15:10", "15:15", "exchange", []),
    ("09:15-15:15", "15:15", "exchange", ["ENTRY_WINDOW (09:15-15:15) must end before SQUARE_OFF_AT (15:15)"]),
    ("09:15-15:20", "off", "always", []),
    ("x", "16:00", "nse", ["ENTRY_WINDOW: must be", "SQUARE_OFF_AT: 16:00 is not inside", "TRADING_CALENDAR: must be"]),
])  # fmt: skip
def test_the_settings_check_names_each_variable(window, square_off, calendar, problems):
    found = schedule_problems(window, square_off, calendar)
    assert len(found) == len(problems) and all(said.startswith(start) for said, start in zip(found, problems, strict=True))


def test_the_settings_default_to_the_documented_hours_and_build_a_schedule():
    settings = settings_from_env({})
    assert (settings.entry_window, settings.trading_calendar, settings.square_off_at, settings.max_exit_age_seconds) == (
        "09:15-15:10", "exchange", "15:15", 300)
    assert Schedule.from_settings(settings) == Schedule()
    custom = Schedule.from_settings(settings_from_env({
        "ENTRY_WINDOW": "10:00-14:00", "TRADING_CALENDAR": "always", "SQUARE_OFF_AT": "off",
        "MAX_EXIT_AGE_SECONDS": "120", "MAX_ALERT_AGE_SECONDS": "30"}))
    assert custom == Schedule(TimeWindow(time(10), time(14)), None, CalendarMode.ALWAYS, 30, 120)


@pytest.mark.parametrize("environ, named", [
    ({"ENTRY_WINDOW": "9-15"}, "ENTRY_WINDOW: '9' is not a time of day"),
    ({"ENTRY_WINDOW": "09:15-15:20"}, "ENTRY_WINDOW (09:15-15:20) must end before SQUARE_OFF_AT (15:15)"),
    ({"SQUARE_OFF_AT": "15:45"}, "SQUARE_OFF_AT: 15:45 is not inside the session"),
    ({"TRADING_CALENDAR": "nse"}, "TRADING_CALENDAR: must be exchange"),
    ({"MAX_EXIT_AGE_SECONDS": "0"}, "max_exit_age_seconds"),
])  # fmt: skip
def test_unreadable_settings_stop_the_relay_naming_the_variable(environ, named):
    with pytest.raises(ValidationError) as caught:
        settings_from_env(environ)
    assert named in str(caught.value)


@pytest.mark.parametrize("schedule, day, clock, inside", [
    (Schedule(), WED, (9, 14, 59), False),
    (Schedule(), WED, (9, 15, 0), True),
    (Schedule(), WED, (15, 30, 0), True),
    (Schedule(), WED, (15, 30, 1), False),
    (Schedule(), SAT, (11, 0, 0), False),
    (Schedule(), XMAS, (11, 0, 0), False),
    (Schedule(calendar=CalendarMode.ALWAYS), SAT, (23, 0, 0), True),
])  # fmt: skip
def test_in_session_is_a_trading_days_session(schedule, day, clock, inside):
    assert schedule.in_session(at(*day, *clock)) is inside


def test_the_next_session_opens_at_0915_of_the_next_trading_day():
    from datetime import datetime

    from chalicelib.config import IST

    opens = Schedule().next_session_open(at(*XMAS, 11, 0, 0))  # Christmas: Friday 25 Dec 2026
    assert datetime.fromtimestamp(opens, IST).strftime("%Y-%m-%d %H:%M") == "2026-12-28 09:15"
