"""NSE trading days and the window in which the API function is kept warm (pure, apart from
reading the shipped holiday list once per process).

A trading day is a weekday that is not an NSE trading holiday (chalicelib/strategy/holidays.toml).
Years without a published list fall back to plain weekdays: warming on an unlisted holiday costs a
few invocations, never an order.
"""

from __future__ import annotations

from datetime import date, datetime, time

from chalicelib.config import IST
from chalicelib.strategy.holidays import shipped_calendar

# Warm from the pre-open (09:00) to the close (15:30), both included.
WARM_FROM = time(9, 0)
WARM_UNTIL = time(15, 30)

# The one list of NSE trading holidays is chalicelib/strategy/holidays.toml (editable data, read
# once per process); this is its shape for the keep-warm schedule and the F&O expiry rules.
NSE_HOLIDAYS: dict[int, frozenset[date]] = shipped_calendar().by_year()


def is_trading_day(day: date, holidays: dict[int, frozenset[date]] = NSE_HOLIDAYS) -> bool:
    return day.weekday() < 5 and day not in holidays.get(day.year, frozenset())


def should_warm(now: float, holidays: dict[int, frozenset[date]] = NSE_HOLIDAYS) -> bool:
    """Whether the epoch second `now` falls on a trading day between 09:00 and 15:30 IST."""
    moment = datetime.fromtimestamp(now, IST)
    return is_trading_day(moment.date(), holidays) and WARM_FROM <= moment.time().replace(microsecond=0) <= WARM_UNTIL

