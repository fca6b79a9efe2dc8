"""Where a journal read starts, one grammar for `GET /orders?since=` and `relay orders --since`:
a duration back from now (`90s`, `15m`, `2h`, `3d`), `today` (since midnight IST), or an
ISO-8601 time (`2026-11-25T09:00`; IST when it has no offset, as a trader in India reads it)."""

from __future__ import annotations

import re
from datetime import date, datetime

from chalicelib.config import IST

SINCE_FORMS = "a duration (90s, 15m, 2h, 3d), 'today', or an ISO-8601 time (2026-11-25T09:00, IST when no offset)"
_DURATION = re.compile(r"^(\d{1,9}(?:\.\d{1,6})?)\s*(s|sec|m|min|h|hr|d|day|days)$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400, "days": 86400}


def ist_date(now: float) -> date:
    """The trading day `now` falls on (IST): the day of the instrument master, the order count, …"""
    return datetime.fromtimestamp(now, IST).date()


def ist_midnight(now: float) -> float:
    return datetime.fromtimestamp(now, IST).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def parse_since(text: str, now: float) -> float:
    """Epoch seconds, or ValueError saying the accepted forms (never quoting the text)."""
    value = text.strip()
    if value.lower() == "today":
        return ist_midnight(now)
    match = _DURATION.match(value)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=IST)).timestamp()
    except (ValueError, OverflowError):  # not a time, or one at the very edge of the calendar
        raise ValueError(f"must be {SINCE_FORMS}") from None
