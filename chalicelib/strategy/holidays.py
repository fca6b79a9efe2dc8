"""NSE trading days: Monday to Friday, less the holidays of the shipped list (holidays.toml).

The list is data, not code: `holidays.toml` beside this module, one table per year, edited when
NSE publishes a year's circular. `parse_holidays` reads that text (pure, ValueError naming the
first problem); `shipped_calendar` reads the shipped file once per process. A year without a
published list counts every weekday as a trading day (never refuses a day it knows nothing
about) and says so through `missing_list`, for the pre-market check to warn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

HOLIDAYS_FILE = Path(__file__).with_name("holidays.toml")
_YEAR_KEYS = {"published", "source", "holidays"}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def weekday_name(day: date) -> str:
    return _WEEKDAYS[day.weekday()]


@dataclass(frozen=True)
class HolidayCalendar:
    """Weekday holidays by date (→ name), the years the file has a table for, and those of them
    whose list is published (complete)."""

    holidays: Mapping[date, str]
    published_years: frozenset[int]
    years: frozenset[int] = frozenset()

    def holiday(self, day: date) -> str | None:
        """The holiday's name, or None when `day` is not a listed holiday."""
        return self.holidays.get(day)

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def closure(self, day: date) -> str | None:
        """Why the exchange is closed on `day` ("a weekend", "Christmas, an NSE trading holiday"),
        or None on a trading day."""
        if day.weekday() >= 5:
            return "a weekend"
        name = self.holidays.get(day)
        return None if name is None else f"{name}, an NSE trading holiday"

    def has_list(self, year: int) -> bool:
        return year in self.published_years

    def missing_list(self, year: int) -> str | None:
        """None when `year` has a published list; else what a warning should say."""
        if self.has_list(year):
            return None
        return (f"no NSE holiday list for {year} in the shipped calendar (chalicelib/strategy/holidays.toml): "
                f"every weekday of {year} counts as a trading day until it is added")

    def by_year(self) -> dict[int, frozenset[date]]:
        """Holiday dates per year, every year of the file (an unpublished one empty)."""
        years: dict[int, set[date]] = {year: set() for year in self.years | self.published_years}
        for day in self.holidays:
            years.setdefault(day.year, set()).add(day)
        return {year: frozenset(days) for year, days in sorted(years.items())}


def parse_holidays(text: str) -> HolidayCalendar:
    """The calendar a holidays.toml text describes; ValueError naming the first problem."""
    import tomllib  # only where the list is read: the settings' checks import this module too

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as broken:
        raise ValueError(f"the holiday list is not valid TOML: {broken}") from None
    holidays: dict[date, str] = {}
    published: set[int] = set()
    years: set[int] = set()
    for key, table in document.items():
        year = _year(key, table)
        years.add(year)
        for entry in table["holidays"]:
            day, name = _holiday(year, entry)
            if day in holidays:
                raise ValueError(f"[{year}]: {day.isoformat()} is listed twice")
            holidays[day] = name
        if table["published"]:
            published.add(year)
    return HolidayCalendar(MappingProxyType(dict(sorted(holidays.items()))), frozenset(published), frozenset(years))


def _year(key: str, table: Any) -> int:
    if not (key.isdigit() and len(key) == 4):
        raise ValueError(f"[{key}]: a table's name must be a year, such as [\"2027\"]")
    if not isinstance(table, dict) or set(table) != _YEAR_KEYS:
        keys = ", ".join(sorted(table)) if isinstance(table, dict) else "none"
        raise ValueError(f"[{key}]: must hold exactly published, source and holidays (it holds {keys})")
    if not isinstance(table["published"], bool) or not isinstance(table["holidays"], list):
        raise ValueError(f"[{key}]: published must be true or false, holidays a list")
    if table["published"] and not table["holidays"]:
        raise ValueError(f"[{key}]: a published year lists its holidays")
    return int(key)


def _holiday(year: int, entry: Any) -> tuple[date, str]:
    if not isinstance(entry, dict) or set(entry) != {"date", "name"}:
        raise ValueError(f"[{year}]: each holiday is {{ date = {year}-MM-DD, name = \"…\" }}")
    day, name = entry["date"], entry["name"]
    if type(day) is not date or not isinstance(name, str) or not name.strip():
        raise ValueError(f"[{year}]: {day!r} needs a date (unquoted, {year}-MM-DD) and a name")
    if day.year != year:
        raise ValueError(f"[{year}]: {day.isoformat()} is not in {year}")
    if day.weekday() >= 5:
        raise ValueError(f"[{year}]: {day.isoformat()} ({name}) is a {weekday_name(day)}; list weekday holidays only")
    return day, name.strip()


@lru_cache(maxsize=1)
def shipped_calendar() -> HolidayCalendar:
    """The calendar of the shipped holidays.toml, read once per process."""
    return parse_holidays(HOLIDAYS_FILE.read_text("utf-8"))
