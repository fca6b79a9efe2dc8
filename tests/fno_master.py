"""A realistic INDstocks F&O master for tests and the bench: both exchanges, index weeklies and
monthlies, ~200 stocks with three monthly series, ~100 000 rows at the default size.

Expiries follow the exchanges' calendar: NIFTY weekly on Tuesday and NSE monthly on the last
Tuesday, SENSEX weekly on Thursday and BSE monthly on the last Thursday, each moved to the
previous trading day when it falls on a holiday (chalicelib/trading_calendar.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from chalicelib.trading_calendar import is_trading_day

COLUMNS = (
    "EXCH", "SEGMENT", "SECURITY_ID", "INSTRUMENT_NAME", "EXPIRY_CODE", "TRADING_SYMBOL", "LOT_UNITS",
    "CUSTOM_SYMBOL", "EXPIRY_DATE", "STRIKE_PRICE", "OPTION_TYPE", "TICK_SIZE", "EXPIRY_FLAG",
    "SEM_EXCH_INSTRUMENT_TYPE", "SERIES", "SYMBOL_NAME",
)  # fmt: skip
TUESDAY, THURSDAY = 1, 3
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Underlying:
    name: str
    exchange: str
    lot: int
    spot: Decimal
    step: Decimal
    strikes_each_side: int
    weekly: bool = False
    index: bool = True


INDICES = (
    Underlying("NIFTY", "NSE", 65, Decimal(24000), Decimal(50), 45, weekly=True),
    Underlying("BANKNIFTY", "NSE", 30, Decimal(52000), Decimal(100), 40),
    Underlying("FINNIFTY", "NSE", 60, Decimal(23500), Decimal(50), 40),
    Underlying("MIDCPNIFTY", "NSE", 120, Decimal(12500), Decimal(25), 40),
    Underlying("NIFTYNXT50", "NSE", 25, Decimal(65000), Decimal(100), 40),
    Underlying("SENSEX", "BSE", 20, Decimal(80000), Decimal(100), 45, weekly=True),
    Underlying("BANKEX", "BSE", 30, Decimal(60000), Decimal(100), 40),
)
# Real names first (with the awkward characters), then made-up ones up to the wanted count.
STOCK_NAMES = ("RELIANCE", "TATAMOTORS", "SBIN", "M&M", "BAJAJ-AUTO", "360ONE", "VEDL", "INFY", "HDFCBANK", "TCS")


def shifted(day: date) -> date:
    """The expiry actually used: the previous trading day while `day` is a holiday or weekend."""
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def last_weekday(year: int, month: int, weekday: int) -> date:
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1))
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def monthly_expiries(today: date, weekday: int, count: int) -> list[date]:
    found, year, month = [], today.year, today.month
    while len(found) < count:
        day = shifted(last_weekday(year, month, weekday))
        if day >= today:
            found.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def weekly_expiries(today: date, weekday: int, count: int) -> list[date]:
    first = today + timedelta(days=(weekday - today.weekday()) % 7)
    return [shifted(first + timedelta(weeks=week)) for week in range(count)]


def trading_symbol(name: str, day: date, strike: Decimal | None = None, option_type: str = "") -> str:
    month = f"{_MONTHS[day.month - 1]}{day.year}"
    if strike is None:
        return f"{name}-{month}-FUT"
    return f"{name}-{month}-{format(strike.normalize(), 'f')}-{option_type}"


def _stocks(count: int) -> list[Underlying]:
    names = list(STOCK_NAMES)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    serial = 0
    while len(names) < count:
        names.append("STK" + letters[serial // 26 % 26] + letters[serial % 26])
        serial += 1
    stocks = []
    for number, name in enumerate(names[:count]):
        spot = Decimal(100 + (number * 37) % 4900)
        step = Decimal("2.5") if spot < 500 else Decimal(10) if spot < 2000 else Decimal(20)
        stocks.append(Underlying(name, "NSE", 100 + (number * 25) % 1400, spot, step, 40, index=False))
    return stocks


def rows(today: date, stocks: int = 200, expiry_format: str = "%Y-%m-%d 14:30:00", segment: str = "D",
         tick: str = "0.05", flags: bool = True) -> Iterator[dict[str, str]]:
    security_id = 35000
    for underlying in (*INDICES, *_stocks(stocks)):
        weekday = TUESDAY if underlying.exchange == "NSE" else THURSDAY
        monthlies = monthly_expiries(today, weekday, 3)
        weeklies = weekly_expiries(today, weekday, 8) if underlying.weekly else []
        option_expiries = sorted(set(monthlies) | set(weeklies))
        for day in option_expiries:
            flag = ("M" if day in monthlies else "W") if flags else ""
            common = {"EXCH": underlying.exchange, "SEGMENT": segment, "LOT_UNITS": str(underlying.lot),
                      "EXPIRY_DATE": day.strftime(expiry_format), "TICK_SIZE": tick, "EXPIRY_FLAG": flag,
                      "SYMBOL_NAME": "" if underlying.index else underlying.name}
            if day in monthlies:
                security_id += 1
                yield {**common, "SECURITY_ID": str(security_id),
                       "INSTRUMENT_NAME": "FUTIDX" if underlying.index else "FUTSTK",
                       "TRADING_SYMBOL": trading_symbol(underlying.name, day), "STRIKE_PRICE": "-0.01",
                       "OPTION_TYPE": "XX", "SEM_EXCH_INSTRUMENT_TYPE": "FUT"}
            atm = (underlying.spot / underlying.step).to_integral_value() * underlying.step
            for at in range(-underlying.strikes_each_side, underlying.strikes_each_side + 1):
                strike = atm + at * underlying.step
                if strike <= 0:
                    continue
                for option_type in ("CE", "PE"):
                    security_id += 1
                    yield {**common, "SECURITY_ID": str(security_id),
                           "INSTRUMENT_NAME": "OPTIDX" if underlying.index else "OPTSTK",
                           "TRADING_SYMBOL": trading_symbol(underlying.name, day, strike, option_type),
                           "STRIKE_PRICE": f"{strike:.2f}", "OPTION_TYPE": option_type,
                           "SEM_EXCH_INSTRUMENT_TYPE": "OP"}


def master_csv(today: date, **options: object) -> str:
    """The whole master as INDstocks serves it (CSV text with the 16 columns)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows(today, **options):  # type: ignore[arg-type]
        writer.writerow([row.get(column, "") for column in COLUMNS])
    return out.getvalue()


def to_csv(table: list[dict[str, str]]) -> str:
    """A hand-written master: rows as dicts, missing columns blank."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in table:
        writer.writerow([row.get(column, "") for column in COLUMNS])
    return out.getvalue()
