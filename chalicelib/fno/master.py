"""The day's F&O and index masters, shared between instances like the equity master
(chalicelib/instruments.py), and the resolution of a derivative alert against them.

Looked for in this order: memory, the shared copy in the state table, a download. The shared
copy is the F&O index of the contracts live when it was written (`FnoIndex.to_compact(now)`),
split into chunks of at most 350 KB (`split_chunks`: a DynamoDB item holds 400 KB), one item
each, named by the IST date: F&O security ids are recycled after expiry, so a copy is never
used on another day and there is no stale fallback (unlike cash ids). The 08:45 check (or the
first instance of the day to download) writes it; a cold instance at the opening bell then
reads one or two items instead of downloading and parsing a 10+ MB CSV inside an alert.

Loaded lazily: a cash alert never touches this module's masters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from chalicelib.errors import DependencyUnavailable, FieldProblem, TokenUnavailable, UnknownSymbol, failure_cause
from chalicelib.fno.contracts import Contract, FnoIndex, join_chunks, split_chunks
from chalicelib.fno.lots import LastPrice
from chalicelib.fno.relative import ChosenLeg, read_chain, resolve_relative
from chalicelib.fno.symbols import INDEX_UNDERLYINGS, ContractQuery, Exchange, OptionType, RelativeOption, strike_key
from chalicelib.fno.underlyings import IndexUnderlyings, option_chain_params
from chalicelib.instruments import SharedCopies
from chalicelib.moments import ist_date

log = logging.getLogger(__name__)

SHARED_RETENTION_SECONDS = 2 * 86400
_CHUNK_COUNT_AT = slice(14, 16)  # split_chunks' header: magic 4, digest 8, index 2, count 2


def _fno_name(day: date, part: int) -> str:
    return f"instruments-fno#{day.isoformat()}#{part}"


def _index_name(day: date) -> str:
    return f"instruments-index#{day.isoformat()}"


class FnoMaster:
    """The day's F&O index and index-underlying ids: memory, the shared copy, then a download."""

    def __init__(self, download: Callable[[str], str], shared: SharedCopies | None = None,
                 clock: Callable[[], float] = time.time):
        self._download = download  # source ("fno" or "index") → CSV text
        self._shared = shared
        self._clock = clock
        self._index: tuple[date, FnoIndex] | None = None
        self._underlyings: tuple[date, IndexUnderlyings] | None = None
        self.loaded_from: str | None = None  # "shared" or "download": for the log line and tests
        self._loading = threading.Lock()

    def index(self, today: date) -> FnoIndex:
        if self._index is not None and self._index[0] == today:
            return self._index[1]
        with self._loading:  # a stage's accounts resolve side by side: one load for all of them
            if self._index is not None and self._index[0] == today:
                return self._index[1]
            return self._load(today)

    def _load(self, today: date) -> FnoIndex:
        shared = self._read_shared(today)
        if shared is not None:
            self.loaded_from = "shared"
            self._index = (today, shared)
            return shared
        return self.refresh(today)

    def refresh(self, today: date) -> FnoIndex:
        """Download and parse today's F&O master now and share it (the pre-market check)."""
        try:
            index = FnoIndex.from_csv(self._download("fno"))
        except ValueError as error:
            raise DependencyUnavailable("the INDstocks F&O instrument master is unusable; the order was not sent",
                                        cause=failure_cause(error)) from None
        self._share(index, today)
        self.loaded_from = "download"
        self._index = (today, index)
        return index

    def underlyings(self, today: date) -> IndexUnderlyings:
        """Index ids for option-chain requests (`source=index`, a few hundred bytes)."""
        if self._underlyings is not None and self._underlyings[0] == today:
            return self._underlyings[1]
        text = self._get(_index_name(today))
        if text is None:
            downloaded = self._download("index")
            self._put(_index_name(today), downloaded.encode("utf-8"))
            text = downloaded.encode("utf-8")
        found = IndexUnderlyings.from_csv(text.decode("utf-8", "replace"))
        self._underlyings = (today, found)
        return found

    # --- the shared copy: best effort both ways, a download is always the way out -------------

    def _share(self, index: FnoIndex, day: date) -> None:
        if self._shared is None:
            return
        chunks = split_chunks(index.to_compact(self._clock()))
        # Chunk 0 last: a reader starts there, so it never finds a copy whose other chunks are not yet written.
        for part in [*range(1, len(chunks)), 0]:
            if not self._put(_fno_name(day, part), chunks[part]):
                return

    def _put(self, name: str, body: bytes) -> bool:
        if self._shared is None:
            return False
        try:
            self._shared.put_blob(name, body, int(self._clock()) + SHARED_RETENTION_SECONDS)
        except DependencyUnavailable as error:
            log.warning("could not share %s (%s)", name, error.cause)
            return False
        return True

    def _get(self, name: str) -> bytes | None:
        if self._shared is None:
            return None
        try:
            return self._shared.get_blob(name)
        except DependencyUnavailable as error:
            log.warning("shared %s unreadable (%s)", name, error.cause)
            return None

    def _read_shared(self, day: date) -> FnoIndex | None:
        first = self._get(_fno_name(day, 0))
        if first is None:
            return None
        try:
            count = int.from_bytes(first[_CHUNK_COUNT_AT], "big")
            chunks = [first]
            for part in range(1, count):
                chunk = self._get(_fno_name(day, part))
                if chunk is None:
                    return None
                chunks.append(chunk)
            return FnoIndex.from_compact(join_chunks(chunks))
        except ValueError:
            log.warning("shared F&O index damaged; downloading")
            return None


@dataclass(frozen=True)
class ResolvedContract:
    """The contract an alert trades, and for a relative option the chain it was chosen from."""

    contract: Contract
    leg: ChosenLeg | None = None
    chain_read_at: str | None = None
    token: str | None = None  # the token the chain read ended with (it may have been renewed)
    last_price: Decimal | None = None  # the chosen leg's, from the chain: values the order without a quote read

    def describe(self) -> dict[str, Any]:
        """What the answer, the ledger item and the log line say about the contract."""
        contract = self.contract
        described: dict[str, Any] = {
            "symbol": contract.openalgo_symbol,
            "trading_symbol": contract.trading_symbol,
            "exchange": contract.exchange.value,
            "underlying": contract.underlying,
            "expiry": contract.expiry.isoformat(),
            "strike": strike_key(contract.strike) if contract.strike is not None else None,
            "option_type": contract.kind.value if contract.is_option else None,
            "instrument": "option" if contract.is_option else "future",
            "security_id": contract.security_id,
            "lot_units": contract.lot_units,
            "tick_size": str(contract.tick_size),
        }
        if self.leg is not None:
            described.update(offset=str(self.leg.offset), spot=str(self.leg.spot),
                             atm_strike=strike_key(self.leg.atm_strike), chain_read_at=self.chain_read_at)
        return {name: value for name, value in described.items() if value is not None}


class Derivatives:
    """A derivative alert's contract, from the day's masters (and one option-chain read for a
    relative option)."""

    def __init__(self, master: FnoMaster, broker: Any, equity_security_id: Callable[[str, str, date], str],
                 reread_token: Callable[[], str], clock: Callable[[], float] = time.time):
        self.master = master
        self._broker = broker
        self._equity_security_id = equity_security_id
        self._reread_token = reread_token
        self._clock = clock

    def resolve(self, reading: ContractQuery | RelativeOption, token: str, now: float) -> ResolvedContract:
        today = ist_date(now)
        index = self.master.index(today)
        if not isinstance(reading, RelativeOption):
            return ResolvedContract(index.resolve(reading, now))
        series = index.option_series(reading.underlying, reading.exchange, reading.expiry, now)
        is_index = series.underlying in INDEX_UNDERLYINGS
        if is_index:
            scrip = self.master.underlyings(today).security_id(series.exchange, series.underlying)
            if scrip is None:
                raise DependencyUnavailable(f"the INDstocks index master lists no {series.exchange.value} "
                                            f"{series.underlying}; the order was not sent")
        else:
            try:
                scrip = self._equity_security_id(series.exchange.value, series.underlying, today)
            except UnknownSymbol:
                raise UnknownSymbol(detail=[FieldProblem(
                    "underlying", f"{series.underlying} has no cash-equity row on {series.exchange.value} to "
                                  "read its option chain by")]) from None
        params = option_chain_params(series, scrip, reading.offset, is_index=is_index)
        chain, token = self._read_chain(token, params)
        read_at = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="milliseconds")
        parsed = read_chain(chain)
        contract, leg = resolve_relative(index, reading, series, parsed)
        legs = next((legs for text, legs in parsed.strikes.items() if _same_strike(text, leg.strike)), None)
        side = (legs.ce if reading.option_type is OptionType.CE else legs.pe) if legs else None
        return ResolvedContract(contract, leg, read_at, token, side.last_price if side else None)

    def last_price(self, resolved: ResolvedContract, token: str) -> tuple[LastPrice, str]:
        """The contract's last traded price for a marketable LIMIT (MARKETABLE_LIMIT_PCT): the
        chain's leg price a relative option was chosen with (no read), else one quote read
        (`NFO_<id>` / `BFO_<id>`). Also the token to go on with. Unreadable: DependencyUnavailable,
        and nothing is sent (never a MARKET in its place)."""
        if resolved.last_price is not None and resolved.last_price > 0:
            return LastPrice(resolved.last_price, "option chain"), token
        contract = resolved.contract
        segment = "NFO" if contract.exchange is Exchange.NSE else "BFO"
        code = f"{segment}_{contract.security_id}"
        try:
            try:
                return LastPrice(self._broker.last_price(token, segment, contract.security_id), f"quote {code}"), token
            except TokenUnavailable:
                # A read is safe to repeat: once, with a token another instance may have stored.
                fresh = self._reread_token()
                if fresh == token:
                    raise
                return LastPrice(self._broker.last_price(fresh, segment, contract.security_id), f"quote {code}"), fresh
        except DependencyUnavailable as failure:
            raise DependencyUnavailable(
                f"the last price of {contract.openalgo_symbol} ({code}) could not be read from INDstocks; "
                "MARKETABLE_LIMIT_PCT sends a MARKET option order as a LIMIT from it, and a MARKET order is not "
                "sent in its place: nothing was sent", cause=failure.cause) from None

    def _read_chain(self, token: str, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
        try:
            return self._broker.option_chain(token, params), token
        except TokenUnavailable:
            # A read is safe to repeat: once, with a token another instance may have stored.
            fresh = self._reread_token()
            if fresh == token:
                raise
            return self._broker.option_chain(fresh, params), fresh


def _same_strike(text: str, strike: Decimal) -> bool:
    try:
        return Decimal(text) == strike
    except ArithmeticError:
        return False
