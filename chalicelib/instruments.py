"""Symbol → INDstocks `security_id`, from the instrument master CSV.

The equity master (`GET /market/instruments?source=equity`) is kept in memory as a compact
index of cash rows only. A cold instance looks for the day's index in this order: its /tmp (a
second process on one machine), the shared copy in the state table, a download.

The shared copy is what the 08:45 pre-market check (or the first instance of the day to
download) leaves: the index alone, compressed, one DynamoDB item (~50 KB for the real equity
master, a 400 KB item limit). Cold instances at the opening bell then read one item instead of
each downloading the master: faster, and a burst of them cannot run into the Data API's 5
requests a second. If the day's download fails, the newest earlier copy is used (memory, /tmp,
then the shared copies of the last few days): cash-equity ids do not change from one day to
the next, and an order matters more than a fresh file.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

from chalicelib.errors import DependencyUnavailable, FieldProblem, UnknownSymbol, failure_cause

log = logging.getLogger(__name__)

DEFAULT_TICK = Decimal("0.05")
_REQUIRED_COLUMNS = {"EXCH", "SEGMENT", "SECURITY_ID", "TRADING_SYMBOL", "TICK_SIZE", "SERIES"}
_CACHE_PREFIX = "indstocks-equity-"
# DynamoDB items hold 400 KB; a compressed index larger than this is not shared (only downloaded).
SHARED_MAX_BYTES = 350_000
SHARED_RETENTION_SECONDS = 4 * 86400
# How many earlier days a cold instance looks back for a shared copy when today's download fails
# (a Monday's last copy is Friday's when the pre-market check runs on weekdays only).
_SHARED_LOOKBACK_DAYS = 4


class SharedCopies(Protocol):
    """Where instances share the day's index (the state table)."""

    def get_blob(self, name: str) -> bytes | None: ...

    def put_blob(self, name: str, body: bytes, expires_at: int) -> None: ...


@dataclass(frozen=True)
class Instrument:
    exchange: str
    ticker: str
    security_id: str
    tick_size: Decimal


# TICK_SIZE's unit is not documented (rupees in OpenAlgo's reading, paise in the master this
# format comes from). Read as rupees, a paise master's 5 for SBIN would round ₹803.40 to ₹800.
# Cash-equity ticks are whole paise and at most ₹5 (NSE: ₹1 above ₹10 000, ₹5 above ₹20 000),
# so a tick below a rupee is certainly rupees, and one of ₹1 to ₹5 is believed only for a price
# of at least a thousand ticks: a paise tick read as rupees is never more than a few hundred
# ticks into its price (1 paisa below ₹250, 5 paise below ₹1 000, …).
RUPEE_TICK_CEILING = Decimal(5)
_MIN_TICKS_IN_PRICE = 1000
_PAISA = Decimal("0.01")


def plausible_rupee_tick(tick: Decimal, price: Decimal | None = None) -> bool:
    """Whether `tick` can be a rupee tick for an order at `price` (None: for some price)."""
    if tick % _PAISA != 0 or tick > RUPEE_TICK_CEILING:
        return False
    return tick < 1 or price is None or price >= tick * _MIN_TICKS_IN_PRICE


def _tick(raw: str) -> Decimal:
    try:
        tick = Decimal(raw)
    except (InvalidOperation, TypeError):
        return DEFAULT_TICK
    return tick if tick.is_finite() and tick > 0 else DEFAULT_TICK


class InstrumentIndex:
    """Cash-equity rows keyed by (exchange, ticker)."""

    def __init__(self, rows: dict[tuple[str, str], tuple[str, str]]):
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @classmethod
    def from_csv(cls, text: str) -> InstrumentIndex:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or not _REQUIRED_COLUMNS.issubset(reader.fieldnames):
            raise ValueError("not an INDstocks instrument master (columns missing)")
        rows: dict[tuple[str, str], tuple[str, str]] = {}
        for row in reader:
            exchange = (row["EXCH"] or "").strip().upper()
            # Cash rows only; on NSE only the EQ series (BE/BZ/SM… are other markets).
            if (row["SEGMENT"] or "").strip() != "E":
                continue
            if exchange == "NSE" and (row["SERIES"] or "").strip().upper() != "EQ":
                continue
            if exchange not in ("NSE", "BSE"):
                continue
            ticker = (row["TRADING_SYMBOL"] or "").strip().upper()
            security_id = (row["SECURITY_ID"] or "").strip()
            if ticker and security_id:
                rows.setdefault((exchange, ticker), (security_id, (row["TICK_SIZE"] or "").strip()))
        if not rows:
            raise ValueError("the instrument master has no cash-equity rows")
        return cls(rows)

    def to_compact(self) -> bytes:
        """The index alone (not the master), tab-separated and compressed: for the shared copy."""
        lines = "".join(f"{exchange}\t{ticker}\t{security_id}\t{tick}\n"
                        for (exchange, ticker), (security_id, tick) in self._rows.items())
        return zlib.compress(lines.encode("utf-8"), 6)

    @classmethod
    def from_compact(cls, body: bytes) -> InstrumentIndex:
        try:
            text = zlib.decompress(body).decode("utf-8")
        except (zlib.error, UnicodeDecodeError) as error:
            raise ValueError("the shared instrument index is damaged") from error
        rows: dict[tuple[str, str], tuple[str, str]] = {}
        for line in text.splitlines():
            fields = line.split("\t")
            if len(fields) != 4:
                raise ValueError("the shared instrument index is damaged")
            rows[(fields[0], fields[1])] = (fields[2], fields[3])
        if not rows:
            raise ValueError("the shared instrument index is empty")
        return cls(rows)

    def implausible_ticks(self) -> list[str]:
        """`EXCH:TICKER tick` of rows whose tick cannot be rupees, or, when most rows have ticks
        of a rupee or more (a master in paise), of every such row. Empty for a rupee master."""
        ticks = {f"{exchange}:{ticker}": _tick(raw) for (exchange, ticker), (_, raw) in self._rows.items()}
        whole = {name for name, tick in ticks.items() if tick >= 1}
        in_paise = len(whole) * 2 > len(ticks)
        return [f"{name} {tick}" for name, tick in ticks.items()
                if not plausible_rupee_tick(tick) or (in_paise and name in whole)]

    def resolve(self, exchange: str, ticker: str) -> Instrument:
        found = self._rows.get((exchange, ticker))
        if found is None:
            raise UnknownSymbol(
                detail=[FieldProblem("symbol", f"{ticker} is not a cash-equity symbol on {exchange}")]
            )
        return Instrument(exchange, ticker, found[0], _tick(found[1]))


class InstrumentMaster:
    """The day's index, from memory, then /tmp, then the shared copy, then a download."""

    def __init__(
        self, download: Callable[[], str], cache_dir: str, shared: SharedCopies | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._download = download
        self._cache_dir = Path(cache_dir)
        self._shared = shared
        self._clock = clock
        self._index: InstrumentIndex | None = None
        self._day: date | None = None
        # One load at a time: a stage's accounts resolve side by side (chalicelib/accounts/desk.py),
        # and a cold instance must read or download the master once, not once per account.
        self._loading = threading.Lock()

    def _cache_file(self, day: date) -> Path:
        return self._cache_dir / f"{_CACHE_PREFIX}{day.isoformat()}.csv"

    def index(self, today: date) -> InstrumentIndex:
        if self._index is not None and self._day == today:
            return self._index
        with self._loading:
            return self._load(today)

    def _load(self, today: date) -> InstrumentIndex:
        if self._index is not None and self._day == today:  # loaded by the thread we waited for
            return self._index
        cached = self._cache_file(today)
        if cached.exists():
            try:
                return self._remember(InstrumentIndex.from_csv(cached.read_text("utf-8")), today)
            except (OSError, ValueError):
                log.warning("instrument cache unreadable; downloading again")
        shared = self._read_shared(today)
        if shared is not None:
            return self._remember(shared, today)
        try:
            return self.refresh(today)
        except DependencyUnavailable:
            stale = self._stale_index() or self._stale_shared(today)
            if stale is None:
                raise
            log.warning("instrument master download failed; using the previous copy")
            return stale

    def refresh(self, today: date) -> InstrumentIndex:
        """Download and parse today's master now, without falling back to an older copy: the
        pre-market check uses it to find out whether today's download works."""
        try:
            text = self._download()
            index = InstrumentIndex.from_csv(text)
        except ValueError as error:
            raise DependencyUnavailable("the INDstocks instrument master is unusable", cause=failure_cause(error)) from None
        self._write_cache(self._cache_file(today), text)
        self._share(index, today)
        return self._remember(index, today)

    def resolve(self, exchange: str, ticker: str, today: date) -> Instrument:
        return self.index(today).resolve(exchange, ticker)

    def _remember(self, index: InstrumentIndex, day: date) -> InstrumentIndex:
        self._index, self._day = index, day
        return index

    def _stale_index(self) -> InstrumentIndex | None:
        if self._index is not None:
            return self._index
        for older in sorted(self._cache_dir.glob(f"{_CACHE_PREFIX}*.csv"), reverse=True):
            try:
                return InstrumentIndex.from_csv(older.read_text("utf-8"))
            except (OSError, ValueError):
                continue
        return None

    # --- the shared copy: best effort both ways, a download is always the way out -------------

    def _share(self, index: InstrumentIndex, day: date) -> None:
        if self._shared is None:
            return
        body = index.to_compact()
        if len(body) > SHARED_MAX_BYTES:
            log.warning("instrument index too large to share (%d bytes); each instance downloads", len(body))
            return
        try:
            self._shared.put_blob(_shared_name(day), body, int(self._clock()) + SHARED_RETENTION_SECONDS)
        except DependencyUnavailable as error:
            log.warning("could not share the instrument index (%s)", error.cause)

    def _read_shared(self, day: date) -> InstrumentIndex | None:
        if self._shared is None:
            return None
        try:
            body = self._shared.get_blob(_shared_name(day))
            return InstrumentIndex.from_compact(body) if body is not None else None
        except DependencyUnavailable as error:
            log.warning("shared instrument index unreadable (%s); downloading", error.cause)
        except ValueError:
            log.warning("shared instrument index damaged; downloading")
        return None

    def _stale_shared(self, today: date) -> InstrumentIndex | None:
        for back in range(1, _SHARED_LOOKBACK_DAYS + 1):
            index = self._read_shared(today - timedelta(days=back))
            if index is not None:
                return index
        return None

    def _write_cache(self, target: Path, text: str) -> None:
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            for old in self._cache_dir.glob(f"{_CACHE_PREFIX}*.csv"):
                old.unlink(missing_ok=True)
            # Write then rename, so a concurrent reader never sees half a file.
            handle, temporary = tempfile.mkstemp(dir=self._cache_dir, suffix=".part")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, target)
        except OSError:
            log.warning("could not cache the instrument master in %s", self._cache_dir)


def _shared_name(day: date) -> str:
    return f"instruments-equity#{day.isoformat()}"
