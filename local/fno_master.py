"""A generated INDstocks F&O instrument master and index master, for the simulator. Never shipped.

`generate_fno_master(today)` is what `GET /market/instruments?source=fno` serves: the 16 columns of
the equity master (shared/indstocks-fno.md), NSE and BSE contracts in one file, deterministic for
a given `today`. Expiry rules as of 2026: NIFTY weekly on Tuesday plus the monthly (last Tuesday);
BANKNIFTY, FINNIFTY, MIDCPNIFTY, NIFTYNXT50 and stocks monthly only (last Tuesday); SENSEX weekly on
Thursday plus the monthly (last Thursday); BANKEX monthly (last Thursday). A trading holiday (the
NSE 2026 list, used for BSE too) moves an expiry to the previous trading day. Live expiries: the
next four weekly and the next three monthly ones; the last expiry before `today` stays in the file
as expired rows, as a real master carries them.

Security ids are numbered in file order (NSE from 35001, BSE from 1100001): unique in one file,
but not stable from one day to the next, like exchange tokens that are recycled after expiry.

`generate_fno_master(today, real_size=True)` is a benchmark-size master (about 100 000 rows,
~200 stock underlyings, wide strike ranges); the default one is a few thousand rows.
`parse_fno_master(text)` reads any master of this shape (a generated one or a real download).
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from chalicelib.trading_calendar import is_trading_day

FNO_COLUMNS = (
    "EXCH", "SEGMENT", "SECURITY_ID", "INSTRUMENT_NAME", "EXPIRY_CODE", "TRADING_SYMBOL", "LOT_UNITS",
    "CUSTOM_SYMBOL", "EXPIRY_DATE", "STRIKE_PRICE", "OPTION_TYPE", "TICK_SIZE", "EXPIRY_FLAG",
    "SEM_EXCH_INSTRUMENT_TYPE", "SERIES", "SYMBOL_NAME",
)  # fmt: skip
INDEX_COLUMNS = ("EXCH", "SEGMENT", "SECURITY_ID")
FNO_TICK = Decimal("0.05")
EXPIRY_TIME = "14:30:00"
NSE_FIRST_ID = 35001
BSE_FIRST_ID = 1100001
TUESDAY, THURSDAY = 1, 3
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Underlying:
    """One F&O underlying: contract terms and where the simulator's market starts."""

    name: str  # the text before the first "-" of TRADING_SYMBOL
    exchange: str
    lot: int
    freeze: int  # orders of this many units or more are refused (not in the master)
    step: Decimal  # strike spacing
    spot: Decimal  # default price of the underlying
    weekday: int  # expiry weekday
    weekly: bool
    index_name: str | None = None  # SEGMENT in the index master; None for a stock
    underlying_id: str = ""  # index master id, or the stock's cash id (option chain `underlying-scrip`)
    volatility: float = 0.13

    @property
    def is_index(self) -> bool:
        return self.index_name is not None


def _index(name: str, exchange: str, lot: int, freeze: int, step: str, spot: str, weekday: int, weekly: bool,
           index_name: str, index_id: str) -> Underlying:  # fmt: skip
    return Underlying(name, exchange, lot, freeze, Decimal(step), Decimal(spot), weekday, weekly, index_name, index_id)


# Lots: NSE/FAOP/70616 (Jan 2026 series) and BSE; freeze limits: shared/indstocks-fno.md. Index ids
# other than NIFTY 50's 40000001 (from the docs) are made up for the simulator.
INDEX_UNDERLYINGS: tuple[Underlying, ...] = (
    _index("NIFTY", "NSE", 65, 1800, "50", "24471.70", TUESDAY, True, "NIFTY 50", "40000001"),
    _index("BANKNIFTY", "NSE", 30, 600, "100", "55210.35", TUESDAY, False, "BANK NIFTY", "40000002"),
    _index("FINNIFTY", "NSE", 60, 1800, "50", "26120.55", TUESDAY, False, "Nifty Financial", "40000003"),
    _index("MIDCPNIFTY", "NSE", 120, 2800, "25", "12840.20", TUESDAY, False, "Nifty Midcap Sel", "40000004"),
    _index("NIFTYNXT50", "NSE", 25, 600, "100", "67250.80", TUESDAY, False, "Nifty Next 50", "40000005"),
    _index("SENSEX", "BSE", 20, 1000, "100", "80540.25", THURSDAY, True, "SENSEX", "50000001"),
    _index("BANKEX", "BSE", 30, 900, "100", "62310.40", THURSDAY, False, "BANKEX", "50000002"),
)
# Indices without derivatives, so a name-mapping resolver meets rows it must not map.
OTHER_INDICES = (("NSE", "Nifty IT", "40000006", "NIFTYIT", Decimal("37150.45")),
                 ("NSE", "India VIX", "40000007", "INDIAVIX", Decimal("13.42")))  # fmt: skip


def _stock(name: str, lot: int, spot: str, step: str, cash_id: str = "", freeze: int = 0) -> Underlying:
    # Stock freeze limits are per stock on NSE; the simulator uses 20 lots unless told otherwise.
    return Underlying(name, "NSE", lot, freeze or lot * 20, Decimal(step), Decimal(spot), TUESDAY, False,
                      None, cash_id, 0.28)  # fmt: skip


# In every master: VEDL has half-rupee strikes (292.5). Cash ids are NSE's (RELIANCE as in the
# simulator's equity master).
STOCK_UNDERLYINGS: tuple[Underlying, ...] = (
    _stock("RELIANCE", 500, "1400.00", "10", "2885", 10000),
    _stock("TATAMOTORS", 800, "681.40", "10", "3456", 16000),
    _stock("VEDL", 1150, "291.35", "2.5", "3063", 23000),
)
# Only in the real-size master. Names with "&", "-" or a leading digit are real and on purpose.
_MORE_STOCKS = (
    ("HDFCBANK", 550, "1900", "20"), ("ICICIBANK", 700, "1400", "10"), ("SBIN", 750, "800", "10"),
    ("INFY", 400, "1500", "20"), ("TCS", 175, "3400", "50"), ("AXISBANK", 625, "1150", "10"),
    ("KOTAKBANK", 400, "2100", "20"), ("LT", 175, "3600", "50"), ("ITC", 1600, "420", "5"),
    ("HINDUNILVR", 300, "2400", "20"), ("BHARTIARTL", 475, "1900", "20"), ("MARUTI", 50, "12500", "100"),
    ("TITAN", 175, "3500", "50"), ("ASIANPAINT", 250, "2400", "20"), ("BAJFINANCE", 750, "950", "10"),
    ("SUNPHARMA", 350, "1700", "20"), ("WIPRO", 3000, "250", "2.5"), ("HCLTECH", 350, "1500", "20"),
    ("ULTRACEMCO", 50, "12000", "100"), ("NTPC", 1500, "340", "5"), ("POWERGRID", 1900, "290", "2.5"),
    ("ONGC", 2250, "240", "2.5"), ("COALINDIA", 1350, "390", "5"), ("TATASTEEL", 5500, "160", "1"),
    ("JSWSTEEL", 675, "1050", "10"), ("ADANIENT", 300, "2400", "20"), ("ADANIPORTS", 475, "1400", "20"),
    ("HINDALCO", 1400, "700", "10"), ("GRASIM", 250, "2700", "20"), ("CIPLA", 375, "1500", "20"),
    ("DRREDDY", 625, "1250", "10"), ("M&M", 200, "3000", "50"), ("BAJAJ-AUTO", 75, "8500", "100"),
    ("360ONE", 500, "1100", "20"), ("EICHERMOT", 175, "5600", "50"), ("HEROMOTOCO", 150, "4300", "50"),
    ("BPCL", 1975, "320", "5"), ("IOC", 4875, "140", "1"), ("GAIL", 3150, "180", "2.5"),
    ("DLF", 825, "780", "10"), ("TECHM", 600, "1500", "20"), ("PNB", 8000, "105", "1"),
    ("BANKBARODA", 2925, "240", "2.5"), ("CANBK", 6750, "110", "1"), ("IDEA", 71475, "8", "1"),
    ("ZOMATO", 1425, "280", "5"), ("TRENT", 100, "5200", "50"), ("INDIGO", 150, "5600", "50"),
    ("BEL", 1425, "400", "5"), ("HAL", 150, "4500", "50"),
)  # fmt: skip
REAL_SIZE_STOCKS = 200  # about NSE's count of stock underlyings; the rest are made-up FNOSTKnnn


@dataclass(frozen=True)
class FnoContract:
    """One row of an F&O master, parsed. Key a contract on (exchange, underlying, expiry, strike,
    option_type): two weekly contracts of one month share their TRADING_SYMBOL."""

    exchange: str
    segment: str
    security_id: str
    instrument: str  # FUTIDX, FUTSTK, OPTIDX, OPTSTK
    underlying: str
    expiry: date
    strike: Decimal | None  # None on a future
    option_type: str | None  # CE, PE; None on a future
    lot: int
    tick: Decimal
    flag: str  # W or M
    trading_symbol: str
    custom_symbol: str

    @property
    def is_option(self) -> bool:
        return self.option_type is not None


def underlyings(*, real_size: bool = False) -> tuple[Underlying, ...]:
    if not real_size:
        return INDEX_UNDERLYINGS + STOCK_UNDERLYINGS
    more = [_stock(name, lot, spot, step) for name, lot, spot, step in _MORE_STOCKS]
    for n in range(len(STOCK_UNDERLYINGS) + len(more), REAL_SIZE_STOCKS):
        spot = Decimal(200 + (n * 137) % 4800)
        step = Decimal("50") if spot >= 2500 else Decimal("20") if spot >= 1000 else Decimal("10")
        more.append(Underlying(f"FNOSTK{n:03d}", "NSE", 250 + (n * 25) % 2000, (250 + (n * 25) % 2000) * 20, step,
                               spot, TUESDAY, False, None, "", 0.28))  # fmt: skip
    return INDEX_UNDERLYINGS + STOCK_UNDERLYINGS + tuple(more)


def underlying_table(*, real_size: bool = False) -> dict[tuple[str, str], Underlying]:
    """(exchange, name) → underlying, for every underlying of the (default or real-size) master."""
    return {(u.exchange, u.name): u for u in underlyings(real_size=real_size)}


# --- expiries ----------------------------------------------------------------------------------


def previous_trading_day_or_same(day: date) -> date:
    """A holiday (or weekend) expiry moves back to the previous trading day."""
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def monthly_expiry(year: int, month: int, weekday: int) -> date:
    """The last `weekday` of the month, moved back over holidays."""
    last = date(year, month, calendar.monthrange(year, month)[1])
    return previous_trading_day_or_same(last - timedelta(days=(last.weekday() - weekday) % 7))


def _months_from(year: int, month: int, step: int = 1) -> Iterator[tuple[int, int]]:
    while True:
        yield year, month
        month += step
        if month == 13:
            year, month = year + 1, 1
        elif month == 0:
            year, month = year - 1, 12


def _weekly_expiries(weekday: int, start: date, step: int) -> Iterator[date]:
    """Adjusted weekly expiries from the week of `start`, forwards (step 1) or backwards (-1)."""
    raw = start + timedelta(days=(weekday - start.weekday()) % 7)
    while True:
        yield previous_trading_day_or_same(raw)
        raw += timedelta(days=7 * step)


@dataclass(frozen=True)
class ExpirySchedule:
    live: tuple[date, ...]  # ascending, all on or after today
    monthly: frozenset[date]  # the monthly ones among live and expired
    expired: date  # the last expiry before today


def expiry_schedule(underlying: Underlying, today: date, *, weekly: int = 4, monthly: int = 3) -> ExpirySchedule:
    monthlies: list[date] = []
    for year, month in _months_from(today.year, today.month):
        if len(monthlies) == monthly:
            break
        expiry = monthly_expiry(year, month, underlying.weekday)
        if expiry >= today:
            monthlies.append(expiry)
    weeklies: list[date] = []
    if underlying.weekly:
        for expiry in _weekly_expiries(underlying.weekday, today - timedelta(days=7), 1):
            if expiry >= today:
                weeklies.append(expiry)
            if len(weeklies) == weekly:
                break
    expired = _last_expiry_before(underlying, today)
    all_monthly = set(monthlies) | ({expired} if _is_monthly(underlying, expired) else set())
    return ExpirySchedule(tuple(sorted(set(monthlies) | set(weeklies))), frozenset(all_monthly), expired)


def _is_monthly(underlying: Underlying, day: date) -> bool:
    return monthly_expiry(day.year, day.month, underlying.weekday) == day


def _last_expiry_before(underlying: Underlying, today: date) -> date:
    if underlying.weekly:
        return next(e for e in _weekly_expiries(underlying.weekday, today + timedelta(days=7), -1) if e < today)
    return next(e for y, m in _months_from(today.year, today.month, -1)
                if (e := monthly_expiry(y, m, underlying.weekday)) < today)  # fmt: skip


# --- rows --------------------------------------------------------------------------------------


def strike_text(strike: Decimal) -> str:
    """24450 → "24450", 292.50 → "292.5" (the option chain's keys, the TRADING_SYMBOL's strike)."""
    text = f"{strike:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def strikes_around(spot: Decimal, step: Decimal, per_side: int) -> list[Decimal]:
    centre = (spot / step).to_integral_value() * step
    return [centre + k * step for k in range(-per_side, per_side + 1) if centre + k * step > 0]


def _symbols(u: Underlying, expiry: date, strike: Decimal | None, option_type: str | None) -> tuple[str, str]:
    month = MONTHS[expiry.month - 1]
    if strike is None:
        return f"{u.name}-{month}{expiry.year}-FUT", f"{u.name} {month.upper()} FUT"
    call_put = "CALL" if option_type == "CE" else "PUT"
    return (f"{u.name}-{month}{expiry.year}-{strike_text(strike)}-{option_type}",
            f"{u.name} {expiry.day} {month.upper()} {strike_text(strike)} {call_put}")  # fmt: skip


def _rows(u: Underlying, today: date, per_side: int, segment: str, next_id: Iterator[int]) -> Iterator[list[str]]:
    schedule = expiry_schedule(u, today)
    strikes = strikes_around(u.spot, u.step, per_side)
    futures = [e for e in sorted(schedule.monthly) if e >= today]
    odd_symbol_name = {"SENSEX": "BSX", "BANKEX": "BKX"}.get(u.name)
    for expiry in (schedule.expired, *schedule.live):
        flag = "M" if expiry in schedule.monthly else "W"
        legs: list[tuple[Decimal | None, str | None]] = [(None, None)] if expiry in schedule.monthly else []
        legs += [(strike, side) for strike in strikes for side in ("CE", "PE")]
        for strike, option_type in legs:
            symbol, custom = _symbols(u, expiry, strike, option_type)
            if strike is None:
                instrument = "FUTIDX" if u.is_index else "FUTSTK"
                expiry_code = str(futures.index(expiry)) if expiry in futures else ""
            else:
                instrument = "OPTIDX" if u.is_index else "OPTSTK"
                expiry_code = ""
            symbol_name = odd_symbol_name or ("" if u.is_index else symbol)
            yield [
                u.exchange, segment, str(next(next_id)), instrument, expiry_code, symbol, str(u.lot), custom,
                f"{expiry.isoformat()} {EXPIRY_TIME}", "" if strike is None else f"{strike:.2f}",
                option_type or "", str(FNO_TICK), flag, "FUT" if strike is None else "OP", "", symbol_name,
            ]  # fmt: skip


def _ids(first: int) -> Iterator[int]:
    n = first
    while True:
        yield n
        n += 1


def generate_fno_master(today: date, *, real_size: bool = False, segment: str | None = None) -> str:
    """The `source=fno` CSV for `today`. `segment`: "D" or "FNO" on every row; by default NSE rows
    say "D" and BSE rows "FNO", so a reader meets both spellings (docs and real files differ)."""
    if segment not in (None, "D", "FNO"):
        raise ValueError(f"segment must be 'D' or 'FNO', not {segment!r}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FNO_COLUMNS)
    ids = {"NSE": _ids(NSE_FIRST_ID), "BSE": _ids(BSE_FIRST_ID)}
    for u in underlyings(real_size=real_size):
        per_side = (110 if u.is_index else 26) if real_size else (15 if u.is_index else 10)
        row_segment = segment or ("D" if u.exchange == "NSE" else "FNO")
        writer.writerows(_rows(u, today, per_side, row_segment, ids[u.exchange]))
    return out.getvalue()


def generate_index_master() -> str:
    """The `source=index` CSV: EXCH, SEGMENT (which holds the index name), SECURITY_ID."""
    rows = [(u.exchange, u.index_name, u.underlying_id) for u in INDEX_UNDERLYINGS]
    rows += [(exchange, name, security_id) for exchange, name, security_id, _, _ in OTHER_INDICES]
    rows.sort(key=lambda row: (row[0] != "NSE", row[2]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


# --- reading a master --------------------------------------------------------------------------

_SYMBOL = re.compile(r"^(?P<underlying>.+)-[A-Z][a-z]{2}\d{4}-(?:FUT|[\d.]+-(?:CE|PE))$")


def parse_expiry(text: str) -> date | None:
    """`2026-08-25 14:30:00`, `2026-08-25` or `08/25/2026 14:30`: the date only."""
    text = text.strip()
    for pattern, length in (("%Y-%m-%d", 10), ("%m/%d/%Y", 10), ("%d-%m-%Y", 10)):
        try:
            return datetime.strptime(text[:length], pattern).date()
        except ValueError:
            continue
    return None


def underlying_of(trading_symbol: str) -> str:
    """The text before the month part (`BAJAJ-AUTO-Aug2026-FUT` → BAJAJ-AUTO), else before the first "-"."""
    match = _SYMBOL.match(trading_symbol)
    return match["underlying"] if match else trading_symbol.partition("-")[0]


def _decimal_or_none(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def parse_fno_master(text: str) -> list[FnoContract]:
    """Every F&O row of a master (segment D or FNO; FUT*/OPT* instruments); other rows are skipped."""
    rows = csv.DictReader(io.StringIO(text))
    contracts = []
    for row in rows:
        instrument = row.get("INSTRUMENT_NAME", "")
        if row.get("SEGMENT") not in ("D", "FNO") or instrument not in ("FUTIDX", "FUTSTK", "OPTIDX", "OPTSTK"):
            continue
        expiry = parse_expiry(row.get("EXPIRY_DATE", ""))
        option_type = row.get("OPTION_TYPE") if instrument.startswith("OPT") else None
        strike = _decimal_or_none(row.get("STRIKE_PRICE", "")) if option_type else None
        if expiry is None or (option_type is not None and (option_type not in ("CE", "PE") or strike is None)):
            continue
        try:
            lot = int(row.get("LOT_UNITS", "") or 1)
        except ValueError:
            lot = 1
        contracts.append(FnoContract(
            exchange=row.get("EXCH", ""), segment=row["SEGMENT"], security_id=row.get("SECURITY_ID", ""),
            instrument=instrument, underlying=underlying_of(row.get("TRADING_SYMBOL", "")), expiry=expiry,
            strike=strike, option_type=option_type, lot=lot,
            tick=_decimal_or_none(row.get("TICK_SIZE", "")) or FNO_TICK, flag=row.get("EXPIRY_FLAG", ""),
            trading_symbol=row.get("TRADING_SYMBOL", ""), custom_symbol=row.get("CUSTOM_SYMBOL", ""),
        ))  # fmt: skip
    return contracts


def parse_index_master(text: str) -> list[tuple[str, str, str]]:
    """(EXCH, index name, SECURITY_ID) rows, read positionally (the header calls the name SEGMENT)."""
    rows = csv.reader(io.StringIO(text))
    next(rows, None)
    return [(row[0], row[1], row[2]) for row in rows if len(row) >= 3]


def index_underlyings(rows: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
    """(EXCH, SECURITY_ID) → underlying name (NIFTY 50 → NIFTY...), for index rows with one."""
    names = {(u.exchange, u.index_name): u.name for u in INDEX_UNDERLYINGS}
    names.update({(exchange, name): key for exchange, name, _, key, _ in OTHER_INDICES})
    return {(exchange, security_id): names[(exchange, name)] for exchange, name, security_id in rows
            if (exchange, name) in names}  # fmt: skip
