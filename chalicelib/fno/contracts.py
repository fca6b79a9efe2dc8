"""The F&O index: contracts of the instrument master (`source=fno`) and their resolution (pure).

Built once a day from the master CSV (`FnoIndex.from_csv`), shared between instances as a
compact copy (`to_compact`/`from_compact`, split into DynamoDB-sized chunks with `split_chunks`/
`join_chunks`), and asked `resolve(query, now_epoch)` per alert.

Keys and rules:
- A contract is (exchange, underlying, expiry date, strike, CE/PE/FUT). TRADING_SYMBOL
  (`NIFTY-Aug2026-24450-CE`) carries no day, so weekly contracts of one month share it: it is
  never a key. The underlying is TRADING_SYMBOL without its `-MonYYYY-…` tail (so `BAJAJ-AUTO`
  and `M&M` survive), else the text before the first `-`.
- A contract is live until 15:30 IST on its expiry date (the listed date, which already carries
  any holiday shift). From 15:30 on it is expired: `NIFTY1!` then means the next future.
- EXPIRY_DATE is parsed tolerantly and only its date is kept. Numeric dates with `/` are read
  month first (`07/16/2026 14:00`, as positions show them) and with `-` day first
  (`25-08-2026`), unless a value in the same file proves the other order (a first part above 12
  means day first, a second part above 12 month first).
- EXPIRY_FLAG `M` marks a monthly expiry and `W` a weekly one; an expiry without a flag is
  monthly when it is the last listed expiry of its month.
- TICK_SIZE is read as rupees (blank: 0.05); `Contract.tick_plausible` guards a paise reading.

Layout, for speed and memory at ~100 000 rows: one text block per (exchange, underlying,
expiry) holding its rows, one line each; a lookup is two dict hits and one substring search in
a block of a few hundred lines, and nothing is parsed until a contract is asked for.
"""

from __future__ import annotations

import bisect
import csv
import difflib
import hashlib
import io
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum

from chalicelib.config import IST
from chalicelib.errors import AlertRejected, FieldProblem
from chalicelib.fno.lots import plausible_fno_tick
from chalicelib.fno.symbols import (
    ContinuousFuture,
    ContractKind,
    ContractQuery,
    ExactContract,
    Exchange,
    ExpiryRule,
    MonthFuture,
    OptionType,
    strike_key,
)

MARKET_CLOSE = time(15, 30)
DEFAULT_TICK = Decimal("0.05")
# A DynamoDB item holds 400 KB: each chunk of the shared copy stays well below, with room for
# the item's key and attributes.
CHUNK_MAX_BYTES = 350_000
_COMPACT_VERSION = "FNO1"
_CHUNK_MAGIC = b"FNOC"
_CHUNK_HEADER = 16  # magic 4 + digest 8 + index 2 + count 2
_REQUIRED_COLUMNS = ("EXCH", "SEGMENT", "SECURITY_ID", "INSTRUMENT_NAME", "TRADING_SYMBOL", "LOT_UNITS",
                     "EXPIRY_DATE", "STRIKE_PRICE", "OPTION_TYPE", "TICK_SIZE", "EXPIRY_FLAG")
_DERIVATIVE_SEGMENTS = {"FNO", "D"}
_EXCHANGES = {"NSE": Exchange.NSE, "NFO": Exchange.NSE, "BSE": Exchange.BSE, "BFO": Exchange.BSE}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TRADING_SYMBOL_TAIL = re.compile(r"^(?P<underlying>.+?)-[A-Za-z]{3}\d{4}-(?:FUT|[\d.]+-(?:CE|PE))$")
_LISTED_SHOWN = 6


class ExpiryFlag(str, Enum):
    WEEKLY = "W"
    MONTHLY = "M"


@dataclass(frozen=True, slots=True)
class Contract:
    security_id: str
    exchange: Exchange
    underlying: str
    kind: ContractKind
    expiry: date
    strike: Decimal | None
    lot_units: int
    tick_size: Decimal
    trading_symbol: str
    expiry_flag: ExpiryFlag

    @property
    def is_option(self) -> bool:
        return self.kind is not ContractKind.FUT

    @property
    def openalgo_symbol(self) -> str:
        """`NIFTY27JAN26FUT`, `NIFTY06JAN2624000CE`: one name per contract, for answers."""
        day = f"{self.expiry.day:02d}{_MONTHS[self.expiry.month - 1].upper()}{self.expiry.year % 100:02d}"
        if self.strike is None:
            return f"{self.underlying}{day}FUT"
        return f"{self.underlying}{day}{strike_key(self.strike)}{self.kind.value}"

    def tick_plausible(self, price: Decimal | None = None) -> bool:
        return plausible_fno_tick(self.tick_size, price)


@dataclass(frozen=True)
class OptionSeries:
    """The options of one underlying and expiry: what an option-chain request needs."""

    exchange: Exchange
    underlying: str
    expiry: date
    expiry_flag: ExpiryFlag


def expiry_ends_at(day: date) -> float:
    """Epoch second at which contracts expiring on `day` stop being live (15:30 IST)."""
    return datetime.combine(day, MARKET_CLOSE, IST).timestamp()


def _refuse(field: str, message: str) -> AlertRejected:
    return AlertRejected(detail=[FieldProblem(field, message)])


def _listed(days: Iterable[date]) -> str:
    shown = [day.isoformat() for day in days]
    if not shown:
        return "none"
    more = len(shown) - _LISTED_SHOWN
    return ", ".join(shown[:_LISTED_SHOWN]) + (f" and {more} later" if more > 0 else "")


# --- EXPIRY_DATE ----------------------------------------------------------------------------

_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})([/-])(\d{1,2})[/-](\d{4})$")
_NAMED = re.compile(r"^(\d{1,2})[- ]?([A-Za-z]{3})[- ]?(\d{4}|\d{2})$")
_COMPACT_DAY = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_MONTH_NUMBERS = {name.upper(): number for number, name in enumerate(_MONTHS, start=1)}


def _date_part(text: str) -> str:
    return re.split(r"[ T]", text.strip(), maxsplit=1)[0]


def numeric_order(texts: Iterable[str]) -> dict[str, bool]:
    """Per separator (`/`, `-`), whether numeric dates in these texts are day first: proven by
    a part above 12, else `/` month first and `-` day first."""
    day_first = {"/": False, "-": True}
    proven: set[str] = set()
    for text in texts:
        match = _NUMERIC.match(_date_part(text))
        if not match or match[2] in proven:
            continue
        if int(match[1]) > 12:
            day_first[match[2]] = True
            proven.add(match[2])
        elif int(match[3]) > 12:
            day_first[match[2]] = False
            proven.add(match[2])
    return day_first


def parse_expiry_date(text: str, day_first: dict[str, bool] | None = None) -> date | None:
    """The date of an EXPIRY_DATE value in any of the forms seen, or None."""
    part = _date_part(text)
    order = day_first or {"/": False, "-": True}
    try:
        if match := _ISO.match(part):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _NUMERIC.match(part):
            first, second = int(match[1]), int(match[3])
            day, month = (first, second) if order[match[2]] else (second, first)
            return date(int(match[4]), month, day)
        if match := _NAMED.match(part):
            named = _MONTH_NUMBERS.get(match[2].upper())
            year = int(match[3]) if len(match[3]) == 4 else 2000 + int(match[3])
            return date(year, named, int(match[1])) if named else None
        if match := _COMPACT_DAY.match(part):
            return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return None


def underlying_of(trading_symbol: str) -> str:
    """`NIFTY-Aug2026-24450-CE` → NIFTY, `BAJAJ-AUTO-Aug2026-FUT` → BAJAJ-AUTO."""
    text = trading_symbol.strip().upper()
    match = _TRADING_SYMBOL_TAIL.match(text)
    return match["underlying"] if match else text.split("-", 1)[0]


def _derived_symbol(underlying: str, day: date, kind: str, strike: str) -> str:
    month = f"{_MONTHS[day.month - 1]}{day.year}"
    return f"{underlying}-{month}-FUT" if kind == "FUT" else f"{underlying}-{month}-{strike}-{kind}"


def _decimal_text(raw: str) -> str | None:
    try:
        value = Decimal(raw)
    except (InvalidOperation, ValueError):
        return None
    return strike_key(value) if value.is_finite() and value > 0 else None


# --- the index ------------------------------------------------------------------------------

class _Expiry:
    """The contracts of one (exchange, underlying, expiry): a header and a block of rows
    `KIND\\tSTRIKE\\tSECURITY_ID\\tLOT\\tTICK\\tTRADING_SYMBOL`, each line starting with `\\n`.
    LOT and TICK are empty when equal to the expiry's own, TRADING_SYMBOL when it is the
    derived `UNDERLYING-MonYYYY-…` form."""

    __slots__ = ("day", "ends_at", "flag", "lot", "tick", "block", "has_future", "has_options")

    def __init__(self, day: date, flag: ExpiryFlag, lot: str, tick: str, block: str):
        self.day = day
        self.ends_at = expiry_ends_at(day)
        self.flag = flag
        self.lot = lot
        self.tick = tick
        self.block = block
        self.has_future = "\nFUT\t" in block
        self.has_options = "\nCE\t" in block or "\nPE\t" in block

    def strikes(self, kind: str) -> list[Decimal]:
        marker = f"\n{kind}\t"
        found, start = [], self.block.find(marker)
        while start != -1:
            end = self.block.find("\t", start + len(marker))
            found.append(Decimal(self.block[start + len(marker):end]))
            start = self.block.find(marker, end)
        return sorted(found)


class _Underlying:
    __slots__ = ("exchange", "name", "expiries", "by_day")

    def __init__(self, exchange: Exchange, name: str, expiries: list[_Expiry]):
        self.exchange = exchange
        self.name = name
        self.expiries = sorted(expiries, key=lambda expiry: expiry.day)
        self.by_day = {expiry.day: expiry for expiry in self.expiries}

    def live(self, now: float, *, futures: bool = False, options: bool = False) -> list[_Expiry]:
        return [expiry for expiry in self.expiries if expiry.ends_at > now
                and (not futures or expiry.has_future) and (not options or expiry.has_options)]


class FnoIndex:
    """Live-or-recent derivative contracts of both exchanges, by underlying and expiry."""

    def __init__(self, underlyings: dict[tuple[Exchange, str], _Underlying], skipped_rows: int = 0):
        self._underlyings = underlyings
        self._by_name: dict[str, dict[Exchange, _Underlying]] = {}
        self._by_alias: dict[str, set[str]] = {}
        for (exchange, name), underlying in underlyings.items():
            self._by_name.setdefault(name, {})[exchange] = underlying
            self._by_alias.setdefault(_alias(name), set()).add(name)
        self.skipped_rows = skipped_rows  # master rows that could not be read (for a warning)

    def __len__(self) -> int:
        # Each row line starts with a newline and the block ends with one.
        return sum(max(0, expiry.block.count("\n") - 1) for underlying in self._underlyings.values()
                   for expiry in underlying.expiries)

    @property
    def underlyings(self) -> list[tuple[Exchange, str]]:
        return sorted(self._underlyings)

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def from_csv(cls, text: str) -> FnoIndex:
        """Parse the F&O master (or a mixed one: non-derivative rows are ignored). One pass over
        the rows; dates, strikes, ticks and lots repeat, so each distinct text is read once."""
        reader = csv.reader(io.StringIO(text))
        header = [name.strip().upper() for name in next(reader, [])]
        if not set(_REQUIRED_COLUMNS).issubset(header):
            raise ValueError("not an INDstocks F&O instrument master (columns missing)")
        (exch_at, segment_at, id_at, instrument_at, symbol_at, lot_at, day_at, strike_at, type_at, tick_at,
         flag_at) = (header.index(name) for name in _REQUIRED_COLUMNS)
        width = max(header.index(name) for name in _REQUIRED_COLUMNS) + 1
        decimals: dict[str, str | None] = {}
        lots: dict[str, str | None] = {}
        default_tick = strike_key(DEFAULT_TICK)
        # Grouped by the raw EXPIRY_DATE text first: its reading (day or month first) is only
        # known once every value of the file has been seen.
        raw_groups: dict[tuple[Exchange, str, str], dict[tuple[str, str], tuple[str, str, str, str, str]]] = {}
        skipped = 0
        for row in reader:
            if len(row) < width:
                continue
            exchange = _EXCHANGES.get(row[exch_at].strip().upper())
            if exchange is None or row[segment_at].strip().upper() not in _DERIVATIVE_SEGMENTS:
                continue
            instrument = row[instrument_at].strip().upper()
            if instrument.startswith("FUT"):
                kind, strike = "FUT", ""
            elif instrument.startswith("OPT"):
                raw_strike = row[strike_at].strip()
                if raw_strike not in decimals:
                    decimals[raw_strike] = _decimal_text(raw_strike)
                kind, strike = row[type_at].strip().upper(), decimals[raw_strike] or ""
            else:
                continue
            raw_lot = row[lot_at]
            if raw_lot not in lots:
                lots[raw_lot] = _lot_text(raw_lot)
            lot = lots[raw_lot]
            security_id = row[id_at].strip()
            symbol = row[symbol_at].strip()
            if not security_id or not symbol or lot is None or kind not in ("FUT", "CE", "PE") \
                    or (kind != "FUT" and not strike) or "\t" in symbol or "\n" in symbol:
                skipped += 1
                continue
            raw_tick = row[tick_at].strip()
            if raw_tick not in decimals:
                decimals[raw_tick] = _decimal_text(raw_tick)
            contracts = raw_groups.setdefault((exchange, underlying_of(symbol), row[day_at]), {})
            # The first row of a contract wins: a repeated (kind, strike) is the master's duplicate.
            contracts.setdefault((kind, strike), (security_id, lot, decimals[raw_tick] or default_tick, symbol,
                                                  row[flag_at].strip().upper()))
        order = numeric_order({raw_day for _, _, raw_day in raw_groups})
        groups: dict[tuple[Exchange, str, date], dict[tuple[str, str], tuple[str, str, str, str, str]]] = {}
        for (exchange, underlying, raw_day), contracts in raw_groups.items():
            day = parse_expiry_date(raw_day, order)
            if day is None:
                skipped += len(contracts)
                continue
            merged = groups.setdefault((exchange, underlying, day), {})
            for key, value in contracts.items():
                merged.setdefault(key, value)
        if not groups:
            raise ValueError("the F&O master has no futures or options rows")
        return cls._from_groups(groups, skipped)

    @classmethod
    def _from_groups(cls, groups: dict[tuple[Exchange, str, date], dict[tuple[str, str], tuple[str, str, str, str, str]]],
                     skipped: int) -> FnoIndex:
        by_underlying: dict[tuple[Exchange, str], list[_Expiry]] = {}
        unflagged: list[tuple[Exchange, str, date]] = []
        for (exchange, underlying, day), contracts in groups.items():
            lot = Counter(value[1] for value in contracts.values()).most_common(1)[0][0]
            tick = Counter(value[2] for value in contracts.values()).most_common(1)[0][0]
            flags = {value[4] for value in contracts.values()}
            # An expiry is monthly when any of its rows says so (futures and options of a monthly
            # expiry may not all carry the flag).
            flag = ExpiryFlag.MONTHLY if "M" in flags else ExpiryFlag.WEEKLY
            if not flags & {"M", "W"}:
                unflagged.append((exchange, underlying, day))
            lines = []
            for (kind, strike), (security_id, row_lot, row_tick, symbol, _) in sorted(
                    contracts.items(), key=lambda item: (item[0][0], Decimal(item[0][1] or 0))):
                derived = _derived_symbol(underlying, day, kind, strike)
                lines.append(f"\n{kind}\t{strike}\t{security_id}\t{'' if row_lot == lot else row_lot}\t"
                             f"{'' if row_tick == tick else row_tick}\t{'' if symbol == derived else symbol}")
            by_underlying.setdefault((exchange, underlying), []).append(
                _Expiry(day, flag, lot, tick, "".join(lines) + "\n"))
        underlyings = {key: _Underlying(key[0], key[1], expiries) for key, expiries in by_underlying.items()}
        for exchange, underlying, day in unflagged:
            # No flag: monthly when it is the last listed expiry of its month.
            listed = underlyings[(exchange, underlying)]
            later_same_month = any(other.day > day and (other.day.year, other.day.month) == (day.year, day.month)
                                   for other in listed.expiries)
            listed.by_day[day].flag = ExpiryFlag.WEEKLY if later_same_month else ExpiryFlag.MONTHLY
        return cls(underlyings, skipped)

    # --- the shared copy --------------------------------------------------------------------

    def to_compact(self, now_epoch: float | None = None) -> bytes:
        """The index alone, compressed; with `now_epoch`, only contracts live at that moment."""
        parts = [_COMPACT_VERSION]
        for (exchange, name), underlying in sorted(self._underlyings.items()):
            for expiry in underlying.expiries:
                if now_epoch is not None and expiry.ends_at <= now_epoch:
                    continue
                parts.append(f"\n#{exchange.value}\t{name}\t{expiry.day.isoformat()}\t{expiry.flag.value}\t"
                             f"{expiry.lot}\t{expiry.tick}{expiry.block.rstrip(chr(10))}")
        return zlib.compress("".join(parts).encode("utf-8"), 6)

    @classmethod
    def from_compact(cls, body: bytes) -> FnoIndex:
        try:
            text = zlib.decompress(body).decode("utf-8")
        except (zlib.error, UnicodeDecodeError) as error:
            raise ValueError("the shared F&O index is damaged") from error
        sections = text.split("\n#")
        if sections[0] != _COMPACT_VERSION:
            raise ValueError("the shared F&O index is of another version or damaged")
        by_underlying: dict[tuple[Exchange, str], list[_Expiry]] = {}
        days: dict[str, date] = {}
        try:
            for section in sections[1:]:
                cut = section.find("\n")
                header, block = (section, "") if cut == -1 else (section[:cut], section[cut:] + "\n")
                exchange, name, day_text, flag, lot, tick = header.split("\t")
                day = days.get(day_text) or days.setdefault(day_text, date.fromisoformat(day_text))
                by_underlying.setdefault((Exchange(exchange), name), []).append(
                    _Expiry(day, ExpiryFlag(flag), lot, tick, block))
        except ValueError as error:
            raise ValueError("the shared F&O index is damaged") from error
        if not by_underlying:
            raise ValueError("the shared F&O index is empty")
        return cls({key: _Underlying(key[0], key[1], expiries) for key, expiries in by_underlying.items()})

    # --- checks -----------------------------------------------------------------------------

    def implausible_ticks(self) -> list[str]:
        """`EXCH:UNDERLYING tick` for every underlying with a tick that cannot be rupees (for the
        pre-market warning); empty for a master in rupees."""
        found: set[str] = set()
        for (exchange, name), underlying in self._underlyings.items():
            for expiry in underlying.expiries:
                ticks = {expiry.tick} | {line.split("\t")[4] for line in expiry.block.split("\n") if line
                                         and line.split("\t")[4]}
                found |= {f"{exchange.value}:{name} {tick}" for tick in ticks if not plausible_fno_tick(Decimal(tick))}
        return sorted(found)

    # --- resolution -------------------------------------------------------------------------

    def resolve(self, query: ContractQuery, now_epoch: float) -> Contract:
        """The live contract a query names, or AlertRejected saying what is wrong and what is listed."""
        if isinstance(query, ContinuousFuture):
            return self._continuous(query, now_epoch)
        if isinstance(query, MonthFuture):
            return self._month_future(query, now_epoch)
        return self._exact(query, now_epoch)

    def option_series(self, underlying: str, exchange: Exchange | None, choice: ExpiryRule | date,
                      now_epoch: float, field: str = "expiry") -> OptionSeries:
        """The live option expiry a relative option asks for: `weekly` the nearest, `next_weekly`
        the one after, `monthly` the nearest monthly, or that date."""
        listed = self._underlying(underlying, exchange, "underlying")
        live = listed.live(now_epoch, options=True)
        if not live:
            raise _refuse("underlying", f"{listed.name} has no live options on {listed.exchange.value}")
        chosen: _Expiry | None
        if choice is ExpiryRule.WEEKLY:
            chosen = live[0]
        elif choice is ExpiryRule.NEXT_WEEKLY:
            chosen = live[1] if len(live) > 1 else None
        elif choice is ExpiryRule.MONTHLY:
            chosen = next((expiry for expiry in live if expiry.flag is ExpiryFlag.MONTHLY), None)
        else:
            chosen = next((expiry for expiry in live if expiry.day == choice), None)
            if chosen is None and expiry_ends_at(choice) <= now_epoch:
                raise _refuse(field, f"{listed.name} options of {choice.isoformat()} expired at 15:30 IST that day; "
                                     f"live expiries: {_listed(expiry.day for expiry in live)}")
        if chosen is None:
            what = choice.value if isinstance(choice, ExpiryRule) else choice.isoformat()
            raise _refuse(field, f"{listed.name} lists no live option expiry for {what}; "
                                 f"live expiries: {_listed(expiry.day for expiry in live)}")
        return OptionSeries(listed.exchange, listed.name, chosen.day, chosen.flag)

    def _underlying(self, name: str, exchange: Exchange | None, field: str = "symbol") -> _Underlying:
        listed = self._by_name.get(name)
        if listed is None:
            aliases = self._by_alias.get(_alias(name), set())
            if len(aliases) == 1:
                listed = self._by_name[next(iter(aliases))]
        if listed is None:
            close = difflib.get_close_matches(name, self._by_name, n=3, cutoff=0.75)
            hint = f"did you mean {' or '.join(close)}?" if close else \
                "use the underlying's exchange name, e.g. NIFTY, BANKNIFTY, SENSEX, RELIANCE"
            raise _refuse(field, f"{name} has no futures or options on NSE or BSE; {hint}")
        if exchange is None:
            return listed.get(Exchange.NSE) or listed[Exchange.BSE]
        if exchange not in listed:
            other = next(iter(listed.values()))
            derivative_word = "NFO" if other.exchange is Exchange.NSE else "BFO"
            raise _refuse(field, f"{other.name} derivatives are listed on {other.exchange.value}, not {exchange.value}; "
                                 f"send exchange {other.exchange.value} or {derivative_word}")
        return listed[exchange]

    def _continuous(self, query: ContinuousFuture, now: float) -> Contract:
        listed = self._underlying(query.underlying, query.exchange)
        live = listed.live(now, futures=True)
        if query.nth > len(live):
            allowed = f"use {listed.name}1!..{listed.name}{len(live)}!" if live else "none is live"
            raise _refuse("symbol", f"{query.symbol} asks for live future number {query.nth}; {listed.name} has "
                                    f"{len(live)} ({_listed(expiry.day for expiry in live)}): {allowed}")
        return self._contract(listed, live[query.nth - 1], "FUT", "")

    def _month_future(self, query: MonthFuture, now: float) -> Contract:
        listed = self._underlying(query.underlying, query.exchange)
        live = listed.live(now, futures=True)
        for expiry in live:
            if (expiry.day.year, expiry.day.month) == (query.year, query.month):
                return self._contract(listed, expiry, "FUT", "")
        month = f"{_MONTHS[query.month - 1]} {query.year}"
        # Of an earlier month, or of this month once its future expired: gone. Otherwise never listed.
        expired = (query.year, query.month) < _month_of(now) or any(
            (expiry.day.year, expiry.day.month) == (query.year, query.month) and expiry.has_future
            for expiry in listed.expiries)
        reason = "has expired" if expired else "is not listed"
        raise _refuse("symbol", f"the {listed.name} future of {month} {reason}; live futures expire on "
                                f"{_listed(expiry.day for expiry in live)} ({listed.name}1! is the nearest)")

    def _exact(self, query: ExactContract, now: float) -> Contract:
        listed = self._underlying(query.underlying, query.exchange)
        futures = query.kind is ContractKind.FUT
        live = listed.live(now, futures=futures, options=not futures)
        what = "future" if futures else "option"
        valid = f"live {what} expiries: {_listed(expiry.day for expiry in live)}"
        if expiry_ends_at(query.expiry) <= now:
            raise _refuse("symbol", f"{query.symbol} expired at 15:30 IST on {query.expiry.isoformat()}; {valid}")
        expiry = listed.by_day.get(query.expiry)
        if expiry is None or (futures and not expiry.has_future) or (not futures and not expiry.has_options):
            raise _refuse("symbol", f"no {listed.name} {what} expires on {query.expiry.isoformat()}; {valid}")
        if futures:
            return self._contract(listed, expiry, "FUT", "")
        assert query.strike is not None
        strike = strike_key(query.strike)
        found = self._contract_or_none(listed, expiry, query.kind.value, strike)
        if found is None:
            raise _refuse("symbol", f"strike {strike} is not listed for {listed.name} {query.kind.value} expiring "
                                    f"{query.expiry.isoformat()}; {_nearest(expiry.strikes(query.kind.value), query.strike)}")
        return found

    def _contract(self, listed: _Underlying, expiry: _Expiry, kind: str, strike: str) -> Contract:
        found = self._contract_or_none(listed, expiry, kind, strike)
        assert found is not None, "an expiry said to hold the contract must hold it"
        return found

    def _contract_or_none(self, listed: _Underlying, expiry: _Expiry, kind: str, strike: str) -> Contract | None:
        block = expiry.block
        start = block.find(f"\n{kind}\t{strike}\t")
        if start == -1:
            return None
        end = block.find("\n", start + 1)
        _, _, security_id, lot, tick, symbol = block[start + 1:end].split("\t")
        return Contract(
            security_id=security_id,
            exchange=listed.exchange,
            underlying=listed.name,
            kind=ContractKind(kind),
            expiry=expiry.day,
            strike=Decimal(strike) if strike else None,
            lot_units=int(lot or expiry.lot),
            tick_size=Decimal(tick or expiry.tick),
            trading_symbol=symbol or _derived_symbol(listed.name, expiry.day, kind, strike),
            expiry_flag=expiry.flag,
        )

    def live_expiries(self, underlying: str, exchange: Exchange | None, now_epoch: float, *,
                      futures: bool = False, options: bool = False) -> list[date]:
        """Expiry dates of an underlying live at `now_epoch` (only those with futures, or options)."""
        return [expiry.day for expiry in self._underlying(underlying, exchange).live(
            now_epoch, futures=futures, options=options)]

    def listed_strikes(self, series: OptionSeries, option_type: OptionType) -> list[Decimal]:
        """The strikes of a series listed for calls or puts, ascending."""
        listed = self._underlyings.get((series.exchange, series.underlying))
        expiry = listed.by_day.get(series.expiry) if listed else None
        return expiry.strikes(option_type.value) if expiry else []

    def option_contract(self, series: OptionSeries, option_type: OptionType, strike: Decimal) -> Contract | None:
        """The listed option of a series at a strike (None when the master does not list it)."""
        listed = self._underlyings.get((series.exchange, series.underlying))
        expiry = listed.by_day.get(series.expiry) if listed else None
        if listed is None or expiry is None:
            return None
        return self._contract_or_none(listed, expiry, option_type.value, strike_key(strike))


def _alias(name: str) -> str:
    # TradingView writes M&M as M_M and BAJAJ-AUTO as BAJAJ_AUTO: compare letters and digits only.
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def _month_of(now: float) -> tuple[int, int]:
    moment = datetime.fromtimestamp(now, IST)
    return moment.year, moment.month


def _lot_text(raw: str) -> str | None:
    try:
        lot = Decimal(raw.strip())
    except (InvalidOperation, ValueError):
        return None
    if not lot.is_finite() or lot < 1 or lot != lot.to_integral_value():
        return None
    return str(int(lot))


def _nearest(strikes: list[Decimal], wanted: Decimal) -> str:
    if not strikes:
        return "no strikes of this type are listed"
    at = bisect.bisect_left(strikes, wanted)
    neighbours = [strike_key(strike) for strike in strikes[max(0, at - 1):at + 1]]  # the one below, the one above
    return (f"nearest listed: {', '.join(neighbours)} (listed from {strike_key(strikes[0])} "
            f"to {strike_key(strikes[-1])})")


# --- chunks for DynamoDB items ---------------------------------------------------------------

def split_chunks(body: bytes, limit: int = CHUNK_MAX_BYTES) -> list[bytes]:
    """Split a compact copy into chunks of at most `limit` bytes, each naming its place and the
    whole it belongs to, so chunks of two different copies are never joined."""
    if limit <= _CHUNK_HEADER:
        raise ValueError("the chunk limit is too small")
    room = limit - _CHUNK_HEADER
    count = max(1, -(-len(body) // room))
    if count > 0xFFFF:
        raise ValueError("too many chunks")
    digest = hashlib.sha256(body).digest()[:8]
    return [_CHUNK_MAGIC + digest + index.to_bytes(2, "big") + count.to_bytes(2, "big")
            + body[index * room:(index + 1) * room] for index in range(count)]


def join_chunks(chunks: Iterable[bytes]) -> bytes:
    """The compact copy from its chunks (any order); ValueError if one is missing, foreign or damaged."""
    parts: dict[int, bytes] = {}
    digests, counts = set(), set()
    for chunk in chunks:
        if len(chunk) < _CHUNK_HEADER or not chunk.startswith(_CHUNK_MAGIC):
            raise ValueError("not a chunk of a shared F&O index")
        digests.add(chunk[4:12])
        counts.add(int.from_bytes(chunk[14:16], "big"))
        parts[int.from_bytes(chunk[12:14], "big")] = chunk[_CHUNK_HEADER:]
    if len(digests) != 1 or len(counts) != 1:
        raise ValueError("the chunks belong to different copies of the F&O index")
    count = counts.pop()
    if sorted(parts) != list(range(count)):
        raise ValueError(f"chunks missing: {count} expected, {len(parts)} given")
    body = b"".join(parts[index] for index in range(count))
    if hashlib.sha256(body).digest()[:8] != digests.pop():
        raise ValueError("the joined F&O index is damaged")
    return body
