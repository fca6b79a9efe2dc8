"""Symbol → INDstocks `security_id`, from the instrument master CSV.

The equity master (`GET /market/instruments?source=equity`) is downloaded at most once per IST
day per instance, kept in memory as a compact index of cash rows only, and written to the
instance's /tmp so a warm container that lost its memory state (or a second process) does not
download it again. If the day's download fails, yesterday's copy is used: cash-equity ids do not
change from one day to the next, and an order matters more than a fresh file.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from chalicelib.errors import DependencyUnavailable, FieldProblem, UnknownSymbol, failure_cause

log = logging.getLogger(__name__)

DEFAULT_TICK = Decimal("0.05")
_REQUIRED_COLUMNS = {"EXCH", "SEGMENT", "SECURITY_ID", "TRADING_SYMBOL", "TICK_SIZE", "SERIES"}
_CACHE_PREFIX = "indstocks-equity-"


@dataclass(frozen=True)
class Instrument:
    exchange: str
    ticker: str
    security_id: str
    tick_size: Decimal


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

    def resolve(self, exchange: str, ticker: str) -> Instrument:
        found = self._rows.get((exchange, ticker))
        if found is None:
            raise UnknownSymbol(
                detail=[FieldProblem("symbol", f"{ticker} is not a cash-equity symbol on {exchange}")]
            )
        return Instrument(exchange, ticker, found[0], _tick(found[1]))


class InstrumentMaster:
    """The day's index, from memory, then /tmp, then a download."""

    def __init__(self, download: Callable[[], str], cache_dir: str):
        self._download = download
        self._cache_dir = Path(cache_dir)
        self._index: InstrumentIndex | None = None
        self._day: date | None = None

    def _cache_file(self, day: date) -> Path:
        return self._cache_dir / f"{_CACHE_PREFIX}{day.isoformat()}.csv"

    def index(self, today: date) -> InstrumentIndex:
        if self._index is not None and self._day == today:
            return self._index
        cached = self._cache_file(today)
        if cached.exists():
            try:
                return self._remember(InstrumentIndex.from_csv(cached.read_text("utf-8")), today)
            except (OSError, ValueError):
                log.warning("instrument cache unreadable; downloading again")
        try:
            return self.refresh(today)
        except DependencyUnavailable:
            stale = self._stale_index()
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
