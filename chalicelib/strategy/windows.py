"""When strategy alerts are accepted: entry window, session, trading days, freshness, square-off
(pure: `now` is an argument, epoch seconds; every time of day is IST).

- Entries (anything that opens or adds exposure) pass only inside ENTRY_WINDOW (`HH:MM-HH:MM`,
  default 09:15-15:10, both ends included to the second: 15:10:00 passes, 15:10:01 does not) on
  trading days. Outside it: 409 `outside_window`, naming the window.
- Exits (orders that only reduce exposure) pass during the whole session, 09:15-15:30 IST, on
  trading days. An exit outside the session is refused the same way (409 `outside_window`,
  naming the session), never turned into an after-market order: an AMO exit would fill at the
  next open at whatever price the market then has, which is a different trade from the one the
  strategy signalled. (The broker would refuse a plain order then anyway: AmoMustBeTrue.)
- Trading days (TRADING_CALENDAR): `exchange`, Monday to Friday less the NSE holidays of
  holidays.toml (a closed day: 409 `market_closed`, naming the weekend or the holiday, for
  entries and exits alike); `always`, every day and every hour (rehearsals and tests: neither
  the session nor ENTRY_WINDOW applies, freshness still does). Muhurat and other special
  sessions are not modelled.
- Freshness: an alert older than MAX_ALERT_AGE_SECONDS is stale (400 `stale_alert`); an exit's
  limit is MAX_EXIT_AGE_SECONDS, never tighter than the entries' one (a late exit is still
  worth sending, a late entry is not). More than 10 s in the future is stale for both.
  Checked first: a stale alert is stale whatever the hour.
- Square-off (SQUARE_OFF_AT, `HH:MM` or `off`): due from that minute until the close (15:30) on
  trading days. It must lie inside the session and after ENTRY_WINDOW's end, so no entry is
  accepted once the square-off has begun.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import Enum

from chalicelib.config import IST, Settings
from chalicelib.errors import FieldProblem, MarketClosed, OutsideWindow, RelayError, StaleAlert
from chalicelib.strategy.holidays import HolidayCalendar, shipped_calendar, weekday_name

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
FUTURE_TOLERANCE_SECONDS = 10
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _hhmm(moment: time) -> str:
    return moment.strftime("%H:%M")


class CalendarMode(str, Enum):
    EXCHANGE = "exchange"
    ALWAYS = "always"


@dataclass(frozen=True)
class TimeWindow:
    """From `start` to `end` (IST), both included."""

    start: time
    end: time

    def __contains__(self, moment: time) -> bool:
        return self.start <= moment.replace(microsecond=0) <= self.end

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


SESSION = TimeWindow(SESSION_OPEN, SESSION_CLOSE)


def _clock(text: str) -> time:
    match = _CLOCK.match(text.strip())
    if not match:
        raise ValueError(f"{text.strip()!r} is not a time of day HH:MM (00:00 to 23:59)")
    return time(int(match.group(1)), int(match.group(2)))


def parse_entry_window(text: str) -> TimeWindow:
    """`09:15-15:10` → TimeWindow; ValueError saying what is wrong (never an overnight window)."""
    start, dash, end = text.partition("-")
    if not dash:
        raise ValueError("must be HH:MM-HH:MM in IST, e.g. 09:15-15:10")
    window = TimeWindow(_clock(start), _clock(end))
    if window.start >= window.end:
        raise ValueError(f"{window} does not end after it starts (windows do not run past midnight)")
    return window


def parse_square_off(text: str) -> time | None:
    """`15:15` → 15:15, `off` → None; ValueError unless inside the session (09:15 to 15:29)."""
    if text.strip().lower() == "off":
        return None
    moment = _clock(text)
    if not SESSION_OPEN <= moment < SESSION_CLOSE:
        raise ValueError(f"{_hhmm(moment)} is not inside the session, {_hhmm(SESSION_OPEN)} to before "
                         f"{_hhmm(SESSION_CLOSE)} IST, when positions can be squared off; give a time inside it, or off")
    return moment


def parse_calendar_mode(text: str) -> CalendarMode:
    try:
        return CalendarMode(text.strip().lower())
    except ValueError:
        raise ValueError("must be exchange (weekends and NSE holidays closed) or always") from None


def schedule_problems(entry_window: str, square_off_at: str, trading_calendar: str) -> list[str]:
    """Every problem of the three settings, each naming its variable (the settings' check)."""
    problems, window, square_off = [], None, None
    try:
        window = parse_entry_window(entry_window)
    except ValueError as wrong:
        problems.append(f"ENTRY_WINDOW: {wrong}")
    try:
        square_off = parse_square_off(square_off_at)
    except ValueError as wrong:
        problems.append(f"SQUARE_OFF_AT: {wrong}")
    try:
        parse_calendar_mode(trading_calendar)
    except ValueError as wrong:
        problems.append(f"TRADING_CALENDAR: {wrong}")
    if window is not None and square_off is not None and window.end >= square_off:
        problems.append(f"ENTRY_WINDOW ({window}) must end before SQUARE_OFF_AT ({_hhmm(square_off)}): an entry "
                        "accepted once the square-off has begun would stay open")
    return problems


@dataclass(frozen=True)
class Schedule:
    """A stage's strategy hours (from Settings), and the decisions made with them."""

    entry_window: TimeWindow = TimeWindow(time(9, 15), time(15, 10))
    square_off_at: time | None = time(15, 15)
    calendar: CalendarMode = CalendarMode.EXCHANGE
    max_alert_age_seconds: int = 60
    max_exit_age_seconds: int = 300
    holidays: HolidayCalendar = field(default_factory=shipped_calendar)

    @classmethod
    def from_settings(cls, settings: Settings, holidays: HolidayCalendar | None = None) -> Schedule:
        return cls(parse_entry_window(settings.entry_window), parse_square_off(settings.square_off_at),
                   parse_calendar_mode(settings.trading_calendar), settings.max_alert_age_seconds,
                   settings.max_exit_age_seconds, holidays or shipped_calendar())

    def max_age(self, is_exit: bool) -> int:
        """The freshness limit: the exits' one is never tighter than the entries'."""
        return max(self.max_exit_age_seconds, self.max_alert_age_seconds) if is_exit else self.max_alert_age_seconds

    def closure(self, day: date) -> str | None:
        """Why `day` is closed under this calendar, or None on a trading day."""
        return None if self.calendar is CalendarMode.ALWAYS else self.holidays.closure(day)

    def refusal(self, now: float, *, is_exit: bool, age_seconds: float | None = None) -> RelayError | None:
        """Why an alert arriving at `now` may not proceed (None: it may). `age_seconds` is now −
        the alert's `time` (None when it carries none); `is_exit`: it only reduces exposure."""
        kind = "exits" if is_exit else "entries"
        if age_seconds is not None:
            limit = self.max_age(is_exit)
            if age_seconds > limit:
                return StaleAlert("the alert is stale", detail=[FieldProblem(
                    "time", f"is {age_seconds:.0f} s old; {kind} older than {limit} s are not sent")])
            if age_seconds < -FUTURE_TOLERANCE_SECONDS:
                return StaleAlert("the alert is from the future", detail=[FieldProblem(
                    "time", f"is {-age_seconds:.0f} s in the future; check the sender's clock")])
        if self.calendar is CalendarMode.ALWAYS:
            return None  # open every day and every hour: rehearsals and tests
        moment = datetime.fromtimestamp(now, IST)
        day, clock = moment.date(), moment.time().replace(microsecond=0)
        closed = self.closure(day)
        if closed is not None:
            said = f"{weekday_name(day)} {day.isoformat()} is {closed}"
            return MarketClosed(f"the exchange is closed: {said}; nothing was sent", detail=[FieldProblem(
                "TRADING_CALENDAR", f"{said}; entries and exits are accepted on trading days only")])
        if is_exit and clock not in SESSION:
            return OutsideWindow(
                f"exits are accepted during the session, {SESSION_OPEN:%H:%M} to {SESSION_CLOSE:%H:%M} IST, and it "
                f"is {clock} IST; nothing was sent (an exit is never sent as an after-market order)",
                detail=[FieldProblem("session", f"is {SESSION} IST; the exit arrived at {clock} IST")])
        if not is_exit and clock not in self.entry_window:
            return OutsideWindow(
                f"entries are accepted from {self.entry_window.start:%H:%M} to {self.entry_window.end:%H:%M} IST "
                f"(ENTRY_WINDOW) and it is {clock} IST; nothing was sent",
                detail=[FieldProblem("ENTRY_WINDOW", f"is {self.entry_window} IST; the entry arrived at {clock} IST "
                                                     f"(exits are accepted until {SESSION_CLOSE:%H:%M})")])
        return None

    def check(self, now: float, *, is_exit: bool, age_seconds: float | None = None) -> None:
        """Raise `refusal`'s answer, if any."""
        refused = self.refusal(now, is_exit=is_exit, age_seconds=age_seconds)
        if refused is not None:
            raise refused

    def in_session(self, now: float) -> bool:
        """Whether `now` is inside a trading day's session, 09:15-15:30 IST (always, under
        `always`): when positions can move and a loss can grow."""
        if self.calendar is CalendarMode.ALWAYS:
            return True
        moment = datetime.fromtimestamp(now, IST)
        return self.closure(moment.date()) is None and moment.time() in SESSION

    def next_session_open(self, now: float) -> float:
        """When the next session opens (09:15 IST of the next trading day after `now`'s day)."""
        day = datetime.fromtimestamp(now, IST).date() + timedelta(days=1)
        while self.closure(day) is not None:
            day += timedelta(days=1)
        return datetime.combine(day, SESSION_OPEN, tzinfo=IST).timestamp()

    def square_off_due(self, now: float) -> bool:
        """Whether positions are due to be squared off at `now`: from SQUARE_OFF_AT to the close
        on a trading day (never when it is off)."""
        if self.square_off_at is None:
            return False
        moment = datetime.fromtimestamp(now, IST)
        if self.closure(moment.date()) is not None:
            return False
        return moment.time() in TimeWindow(self.square_off_at, SESSION_CLOSE)

    def missing_holiday_list(self, now: float) -> str | None:
        """For the pre-market check: what to warn about when today's year has no holiday list
        (None under `always`, which needs none)."""
        if self.calendar is CalendarMode.ALWAYS:
            return None
        return self.holidays.missing_list(datetime.fromtimestamp(now, IST).year)
