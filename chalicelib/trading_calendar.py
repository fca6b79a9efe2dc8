"""NSE trading days and the window in which the API function is kept warm (pure: no I/O).

A trading day is a weekday that is not an NSE trading holiday. Years without a list below fall
back to plain weekdays: warming on an unlisted holiday costs a few invocations, never an order.
"""

from __future__ import annotations

from datetime import date, datetime, time

from chalicelib.config import IST

# Warm from the pre-open (09:00) to the close (15:30), both included.
WARM_FROM = time(9, 0)
WARM_UNTIL = time(15, 30)

# NSE, "Trading holidays for the calendar year 2026", equity segment (NSE's holiday circular,
# nseindia.com → Resources → Exchange communication → Holidays). Holidays on a Saturday or Sunday
# are left out; 8 Nov 2026 (Diwali Laxmi Pujan, muhurat trading) is a Sunday.
# 2027: not yet published when this list was written. Add it from NSE's circular (usually out in
# December); until then 2027 counts every weekday as a trading day.
NSE_HOLIDAYS: dict[int, frozenset[date]] = {
    2026: frozenset(date(2026, month, day) for month, day in (
        (1, 15),   # Municipal Corporation election, Maharashtra
        (1, 26),   # Republic Day
        (3, 3),    # Holi
        (3, 26),   # Shri Ram Navami
        (3, 31),   # Shri Mahavir Jayanti
        (4, 3),    # Good Friday
        (4, 14),   # Dr. Baba Saheb Ambedkar Jayanti
        (5, 1),    # Maharashtra Day
        (5, 28),   # Bakri Id
        (6, 26),   # Muharram
        (9, 14),   # Ganesh Chaturthi
        (10, 2),   # Mahatma Gandhi Jayanti
        (10, 20),  # Dussehra
        (11, 10),  # Diwali-Balipratipada
        (11, 24),  # Prakash Gurpurb Sri Guru Nanak Dev
        (12, 25),  # Christmas
    )),
    2027: frozenset(),
}


def is_trading_day(day: date, holidays: dict[int, frozenset[date]] = NSE_HOLIDAYS) -> bool:
    return day.weekday() < 5 and day not in holidays.get(day.year, frozenset())


def should_warm(now: float, holidays: dict[int, frozenset[date]] = NSE_HOLIDAYS) -> bool:
    """Whether the epoch second `now` falls on a trading day between 09:00 and 15:30 IST."""
    moment = datetime.fromtimestamp(now, IST)
    return is_trading_day(moment.date(), holidays) and WARM_FROM <= moment.time().replace(microsecond=0) <= WARM_UNTIL

