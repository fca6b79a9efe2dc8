"""A local stand-in for the INDstocks REST API, for `make run` and the tests. Never shipped.

INDstocks has no sandbox: every call is live money. This server answers the way the broker is
documented to (shared/indstocks-api.md): raw-token auth, the instrument CSV, spec-validated order
writes with the broker's business checks, the order book, the 10/s order rate limit, and, on
demand, every failure a relay must survive without losing or duplicating an order (timeouts
after the order was placed, connection resets, 5xx, 429, Cloudflare pages, shape-E bodies...).

Futures & options (shared/indstocks-fno.md): `source=fno` serves a master generated for `today`
(local/fno_master.py), `source=index` the index list; the option chain, instrument search and
expiries, and NFO_/BFO_/NIDX_/BIDX_ quotes are built from that master, priced from a spot per
underlying (`set_spot`; `ltp[security_id]` pins one contract). Derivative orders get INDstocks'
refusals (unknown or expired contract, lot multiple, freeze limit, tick, CNC, F&O not activated
via `fno_enabled`/`fno_exchanges`) and `DRV-` ids.

Smart orders (api doc §5): `sl_*`/`tgt_*` legs are checked as INDstocks documents them and booked
as one `GTT-` child (`order_type: "OCO"`) that arms when its parent executes. Cancel and modify
go by each leg's own id, on the endpoint family the order was placed on.

The exchange (`fills=True`; off by default, so an order stays where a test puts it with
`set_order_status`): a MARKET order fills at once at the last price, a LIMIT when the last price
reaches it, a TRIGGER when its trigger is crossed (then as a limit at its trigger-limit), an armed
OCO child by whichever leg is crossed first. Every fill is whole, at the last price of that
moment, which is never worse than the order's limit. `set_price` and `set_spot` move a price and
let the exchange run. Fills (whichever way they happen, `set_order_status` included) make the
trade book, the positions and the funds (`balance`, and a simple margin model: see DEFAULT_BALANCE);
with fills on, an order whose margin exceeds the free cash is refused as RMS refuses it.

In-process: `with IndstocksSimulator(tokens=["t"]) as sim: ...`.
Out of process: `python -m local.simulator --port 8001 --token t`, driven over `/_sim/*`.
It binds to loopback only: it hands out tokens over its control API.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyotp

from chalicelib.paper.exchange import AverageCost, Refused, check_legs
from local.fno_market import chain_leg, contract_price, search_symbol
from local.fno_master import (
    OTHER_INDICES,
    FnoContract,
    generate_fno_master,
    generate_index_master,
    index_underlyings,
    parse_fno_master,
    parse_index_master,
    strike_text,
    underlying_table,
)
from local.openapi import query_errors, request_errors

IST = timezone(timedelta(hours=5, minutes=30))
USER_ID = "SIM123"
GENERATION_SPACING = 60  # seconds between two generated tokens
NSE_ALGO_ID = "99999"
BSE_ALGO_ID = "9999999999999999"
ORDER_WRITE_PATHS = frozenset(
    {"/order", "/order/modify", "/order/cancel", "/smart/order", "/smart/order/modify", "/smart/order/cancel"}
)
INSTRUMENT_SOURCES = frozenset({"equity", "fno", "index"})
INSTRUMENT_COLUMNS = (
    "EXCH", "SEGMENT", "SECURITY_ID", "INSTRUMENT_NAME", "EXPIRY_CODE", "TRADING_SYMBOL", "LOT_UNITS",
    "CUSTOM_SYMBOL", "EXPIRY_DATE", "STRIKE_PRICE", "OPTION_TYPE", "TICK_SIZE", "EXPIRY_FLAG",
    "SEM_EXCH_INSTRUMENT_TYPE", "SERIES", "SYMBOL_NAME",
)  # fmt: skip
DEFAULT_TICK = Decimal("0.05")
# Finished orders: modify/cancel of these fails like a missing order (api doc §10).
TERMINAL_STATUSES = frozenset(
    {"SUCCESS", "CANCELLED", "EXPIRED", "FAILED", "ABORTED", "PARTIALLY FILLED - CANCELLED",
     "PARTIALLY FILLED - EXPIRED"}  # fmt: skip
)
# The exchange leaves these alone: an AMO waits for a session the simulator does not model.
_RESTING_STATUSES = frozenset({"O-PENDING"})
_MARGIN_REFUSAL = "RMS: Margin exceeds available funds"
_NOT_FOUND = "Position could not be found"  # INDstocks' words for modify/cancel of a missing or finished order

# The account: cash at the start of the day, and the margin a position blocks (a simple model,
# documented here rather than INDstocks' SPAN/exposure figures, which it does not publish):
#   cash (CNC, and MARGIN on equity): the full value;  equity INTRADAY: a fifth of the value;
#   futures (MARGIN or INTRADAY): 15 % of the value;   a long option: the full premium;
#   a short option: 15 % of strike × quantity.
# Value is quantity × the position's average price. Unrealised P&L does not change what is free.
DEFAULT_BALANCE = Decimal("1000000.00")
INTRADAY_EQUITY_MARGIN = Decimal("0.20")
FUTURES_MARGIN = Decimal("0.15")
SHORT_OPTION_MARGIN = Decimal("0.15")
_FIRST_GTT_NUMBER = 2900001

# (ticker, company, NSE id, BSE id, tick, last price): real cash ids from the instrument master.
_CASH_STOCKS = (
    ("SBIN", "State Bank of India", "3045", "500112", "0.05", "800.00"),
    ("RELIANCE", "Reliance Industries Ltd", "2885", "500325", "0.05", "1400.00"),
    ("INFY", "Infosys Ltd", "1594", "500209", "0.05", "1500.00"),
    ("TCS", "Tata Consultancy Services Ltd", "11536", "532540", "0.05", "3400.00"),
    ("HDFCBANK", "HDFC Bank Ltd", "1333", "500180", "0.05", "1900.00"),
    ("M&M", "Mahindra & Mahindra Ltd", "2031", "500520", "0.05", "3000.00"),
    ("BAJAJ-AUTO", "Bajaj Auto Ltd", "16669", "532977", "0.05", "8500.00"),
    ("YESBANK", "Yes Bank Ltd", "11915", "532648", "0.01", "20.00"),
)
# Rows a symbol resolver must skip: same ticker in another NSE series, and a stock future.
SBIN_BE_SECURITY_ID = "999001"
SBIN_FUTURE_SECURITY_ID = "999002"


def _instrument_row(**values: str) -> list[str]:
    return [values.get(column, "") for column in INSTRUMENT_COLUMNS]


def _default_instruments() -> tuple[str, dict[str, Decimal]]:
    rows, ltp = [], {}
    for ticker, company, nse_id, bse_id, tick, price in _CASH_STOCKS:
        for exchange, security_id, series in (("NSE", nse_id, "EQ"), ("BSE", bse_id, "A")):
            rows.append(_instrument_row(
                EXCH=exchange, SEGMENT="E", SECURITY_ID=security_id, INSTRUMENT_NAME="EQUITY",
                TRADING_SYMBOL=ticker, LOT_UNITS="1", CUSTOM_SYMBOL=company, TICK_SIZE=tick,
                SERIES=series, SYMBOL_NAME=company.upper(),
            ))  # fmt: skip
            ltp[security_id] = Decimal(price)
    rows.append(_instrument_row(
        EXCH="NSE", SEGMENT="E", SECURITY_ID=SBIN_BE_SECURITY_ID, INSTRUMENT_NAME="EQUITY", TRADING_SYMBOL="SBIN",
        LOT_UNITS="1", CUSTOM_SYMBOL="State Bank of India", TICK_SIZE="0.05", SERIES="BE",
        SYMBOL_NAME="STATE BANK OF INDIA",
    ))  # fmt: skip
    rows.append(_instrument_row(
        EXCH="NSE", SEGMENT="D", SECURITY_ID=SBIN_FUTURE_SECURITY_ID, INSTRUMENT_NAME="FUTSTK",
        TRADING_SYMBOL="SBIN-Dec2026-FUT", LOT_UNITS="750", CUSTOM_SYMBOL="SBIN DEC FUT",
        EXPIRY_DATE="2026-12-29", TICK_SIZE="0.05", EXPIRY_FLAG="M", SYMBOL_NAME="SBIN-Dec2026-FUT",
    ))  # fmt: skip
    ltp[SBIN_BE_SECURITY_ID] = Decimal("800.00")
    ltp[SBIN_FUTURE_SECURITY_ID] = Decimal("805.00")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(INSTRUMENT_COLUMNS)
    writer.writerows(rows)
    return out.getvalue(), ltp


DEFAULT_INSTRUMENTS_CSV, DEFAULT_LTP = _default_instruments()

# Fault kind → whether an order write hit by it is placed anyway by default.
FAULT_KINDS: dict[str, bool] = {
    "timeout": True,
    "reset": False,
    "http500": False,
    "rate_limit": False,
    "rms_reject": False,
    "cloudflare": False,
    "shape_e": True,
    "garbage": True,
    "token_expired": False,
    "user_exception": False,
    "error_code_shape": False,
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the broker received it (header names lower-case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "body": self.body.decode("utf-8", errors="replace"),
        }


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class _Fault:
    kind: str
    remaining: int
    place: bool
    delay: float
    status: int | None


@dataclass(frozen=True)
class _Instrument:
    exchange: str
    segment: str
    security_id: str
    name: str
    tick: Decimal
    symbol: str = ""  # TRADING_SYMBOL
    contract: FnoContract | None = None  # set for a row of the F&O master


@dataclass
class _Working:
    """What the exchange keeps about an accepted order beside its book row (which holds its prices)."""

    instrument: _Instrument
    smart: bool  # placed on /smart/order: modified and cancelled on /smart/order/*
    parent_id: str | None = None  # an OCO child's parent
    child_id: str | None = None  # a smart parent's OCO child
    armed: bool = False  # an OCO child whose parent executed
    triggered: bool = False  # a TRIGGER whose trigger was crossed: it now works as a limit
    leg: str | None = None  # "sl" or "tgt": the OCO leg that fired (the other one is cancelled)


@dataclass(frozen=True)
class _Fill:
    fill_id: int
    order_id: str
    exch_order_id: str
    instrument: _Instrument
    segment: str
    product: str
    side: str
    qty: int
    price: Decimal
    at: str
    remarks: str | None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.segment, self.instrument.exchange, self.instrument.security_id, self.product)


@dataclass
class _Position(AverageCost):
    """One (segment, exchange, security, product) position, built fill by fill at average cost
    (the arithmetic is the paper exchange's, chalicelib/paper/exchange.py: one rule for both)."""

    _: KW_ONLY
    instrument: _Instrument
    segment: str
    product: str

    def margin(self) -> Decimal:
        """The margin this position blocks (the model above DEFAULT_BALANCE)."""
        held = abs(self.net_qty)
        contract = self.instrument.contract
        if contract is None and self.segment == "EQUITY":
            rate = INTRADAY_EQUITY_MARGIN if self.product == "INTRADAY" else Decimal(1)
            return held * self.avg_price * rate
        if contract is None or not contract.is_option:
            return held * self.avg_price * FUTURES_MARGIN
        if self.net_qty > 0:
            return held * self.avg_price
        return held * (contract.strike or Decimal(0)) * SHORT_OPTION_MARGIN


@dataclass(frozen=True)
class _FnoBook:
    """The served F&O master, parsed: contracts by (EXCH, SECURITY_ID) and by underlying."""

    by_id: dict[tuple[str, str], FnoContract]
    by_underlying: dict[str, list[FnoContract]]

    @classmethod
    def of(cls, text: str) -> _FnoBook:
        contracts = parse_fno_master(text)
        by_underlying: dict[str, list[FnoContract]] = {}
        for contract in contracts:
            by_underlying.setdefault(contract.underlying, []).append(contract)
        for listed in by_underlying.values():
            listed.sort(key=_contract_order)
        return cls({(c.exchange, c.security_id): c for c in contracts}, by_underlying)


def _contract_order(contract: FnoContract) -> tuple[Any, ...]:
    return (contract.expiry, contract.is_option, contract.strike or 0, contract.option_type or "", contract.exchange)


# Every underlying the generator knows (the real-size set contains the default one): lots,
# freeze limits, volatilities and default spots.
_UNDERLYINGS = underlying_table(real_size=True)
_FREEZE = {key: u.freeze for key, u in _UNDERLYINGS.items()}
_VOLATILITY = {u.name: u.volatility for u in _UNDERLYINGS.values()}
DEFAULT_SPOTS: dict[str, Decimal] = {u.name: u.spot for u in _UNDERLYINGS.values()}
DEFAULT_SPOTS.update({key: spot for _, _, _, key, spot in OTHER_INDICES})
_CHAIN_ERROR = {"message": "Bad Request", "debug_info": "Invalid exchange, segment, underlying-scrip or expiry passed"}


def _json_reply(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload).encode())


def _debug_info_reply(debug_info: str) -> _Reply:
    """Shape C: the contract/expiry endpoints' and the option chain's 400."""
    return _json_reply(400, {"message": "Bad Request", "debug_info": debug_info})


def _error_reply(status: int, error_type: str, message: str) -> _Reply:
    return _json_reply(status, {"status": "error", "message": message, "error_type": error_type})


class _Rejected(Exception):
    """Raised by a check to answer with `reply` instead of going on."""

    def __init__(self, reply: _Reply):
        super().__init__(reply.status)
        self.reply = reply


def _reject(status: int, error_type: str, message: str) -> _Rejected:
    return _Rejected(_error_reply(status, error_type, message))


_TOKEN_REJECTED = _error_reply(403, "TokenException", "Invalid or expired token")
_RATE_LIMITED = _json_reply(429, {"error": "Rate limit exceeded", "success": False})
_SERVER_ERRORS = {
    500: ("GeneralException", "Something went wrong"),
    502: ("NetworkException", "Bad gateway"),
    503: ("ServiceUnavailableException", "Service unavailable"),
    504: ("GatewayTimeoutException", "Gateway timeout"),
}
_CLOUDFLARE_PAGE = (
    b"<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head>"
    b"<body><h1>Just a moment...</h1><p>Checking if the site connection is secure.</p></body></html>"
)
_CANNED_FAULTS = {
    "rate_limit": _RATE_LIMITED,
    "rms_reject": _error_reply(400, "OrderException", "RMS: Margin exceeds available funds"),
    "cloudflare": _Reply(403, _CLOUDFLARE_PAGE, "text/html; charset=UTF-8"),
    "shape_e": _json_reply(200, {"status": "failure", "error": {"msg": "no order number in rs response"}}),
    "garbage": _Reply(200, b'{"status": "succ\x00<html>upstream', "application/json"),
    "token_expired": _TOKEN_REJECTED,
    "user_exception": _error_reply(403, "UserException", "Segment not activated"),
    "error_code_shape": _json_reply(
        400, {"status": "error", "message": "Invalid input", "error_code": "INVALID_INPUT"}
    ),
}


# Modify request field → the order-book column it changes.
_MODIFIABLE_PRICES = (
    ("limit_price", "requested_price"),
    ("trigger_price", "tgt_trigger_price"),
    ("trigger_limit_price", "tgt_limit_price"),
)
# An OCO child's legs: request field and order-book column share the name.
_LEG_PRICES = tuple((field, field) for field in ("sl_trigger_price", "sl_limit_price", "tgt_trigger_price", "tgt_limit_price"))
FIRST_FILL_ID = 50000001


def _exchange_order_id(order_id: str) -> str:
    """The exchange's id for an order: EQ-/DRV- numbers as booked, GTT- ones in a range of their own."""
    prefix, _, number = order_id.partition("-")
    return str((1300000000000000 if prefix == "GTT" else 1100000000000000) + int(number))


def _leg_fires(leg: str, buy: bool, last: Decimal, trigger: Decimal) -> bool:
    """Whether an OCO leg's trigger is crossed. The child closes the parent's position: a SELL
    child (a long) stops out as the price falls and takes its target as it rises; a BUY child
    (a short) the other way round."""
    rising = (leg == "sl") == buy
    return last >= trigger if rising else last <= trigger


def _check_legs(body: dict[str, Any], entry: Decimal | None, tick: Decimal) -> dict[str, str]:
    """A smart order's stop-loss and target legs as INDstocks checks them (api doc §5), as the
    child's order-book prices: the paper exchange's rule (chalicelib/paper/exchange.py), each leg
    price on the instrument's tick besides."""
    try:
        return check_legs(body, entry, lambda field, value: _check_price(field, value, tick))
    except Refused as refused:
        raise _reject(400, refused.error_type, refused.message) from None


def _fault_reply(fault: _Fault) -> _Reply:
    if fault.kind == "http500":
        status = fault.status or 500
        error_type, message = _SERVER_ERRORS.get(status, _SERVER_ERRORS[500])
        return _error_reply(status, error_type, message)
    reply = _CANNED_FAULTS[fault.kind]
    return replace(reply, status=fault.status) if fault.status else reply


def _decimal(value: Any) -> Decimal:
    # repr() of a float is its shortest round-trip text: 812.35 stays 812.35, not 812.349999...
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def _price_text(value: Any) -> str:
    """Order-book prices are strings, "" when there is none."""
    return "" if value is None else f"{_decimal(value):.2f}"


def _ist_now() -> str:
    return datetime.now(IST).isoformat(timespec="seconds")


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        return False


class IndstocksSimulator:
    """The broker, on a loopback port; thread safe. See the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Iterable[str] = ("sim-token",),
        *,
        log_requests: bool = False,
        today: date | None = None,
        fills: bool = False,
        balance: Any = DEFAULT_BALANCE,
    ):
        if not _is_loopback(host):
            raise ValueError(f"the simulator binds to loopback only, not {host!r}")
        self.host, self.port = host, port
        self.log_requests = log_requests
        self.rate_limit_writes: int | None = 10
        self.rate_window_seconds = 1.0  # tests widen it so "within the window" never races the clock
        self.bse_algo_ids: set[str] = {BSE_ALGO_ID}
        # Sessions are not modelled unless a test sets this: False = outside market hours, where
        # INDstocks refuses an order without is_amo (validation AmoMustBeTrue, api doc §11).
        self.market_open: bool | None = None
        # Last price per security id, for TRIGGER checks and MARKET rows; an id not here skips the check.
        self.ltp: dict[str, Decimal] = dict(DEFAULT_LTP)
        # F&O: an account without activation gets UserException 403 on a derivative order, and
        # its profile says so; `fno_exchanges` narrows activation to one exchange.
        self.fno_enabled = True
        self.fno_exchanges: set[str] = {"NSE", "BSE"}
        # Underlying → spot; options and futures are priced from it (an id in `ltp` overrides).
        self.spots: dict[str, Decimal] = dict(DEFAULT_SPOTS)
        # The exchange (module docstring): off, orders stay where they are booked or put.
        self.fills = fills
        # The account's cash at the start of the day (GET /funds `sod_balance`).
        self.sod_balance = _decimal(balance)
        self._today = today  # None: today in IST, read at each use
        self._fno_csv: str | None = None  # None: generated for `today`
        self._fno_generated: tuple[date, str] | None = None
        self._fno_bytes: bytes | None = None
        self._fno_book: _FnoBook | None = None
        self._index_csv = generate_index_master()
        self._index_ids: dict[tuple[str, str], str] | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._tokens: set[str] = set(tokens)
        self._requests: list[RecordedRequest] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._orders: list[dict[str, Any]] = []
        # Order writes per account in the rolling window; an account is a token's entry in
        # `token_accounts` (several accounts of a family, `make run`'s ACCOUNTS), else the one account.
        self._write_times: dict[str, deque[float]] = {}
        self.token_accounts: dict[str, str] = {}
        self._next_order_number = 31000001
        self._next_gtt_number = _FIRST_GTT_NUMBER
        self._working: dict[str, _Working] = {}
        self._fills: list[_Fill] = []
        self._instruments_csv = DEFAULT_INSTRUMENTS_CSV
        self._instruments_bytes: bytes | None = None
        self._instrument_index: dict[tuple[str, str], _Instrument] | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Token generation: off until configure_generation(); open question 4 says the token may
        # come as data.token or top-level token, so both envelopes can be served.
        self.token_envelope = "data"
        self.generated_tokens: list[str] = []
        self._generation: dict[str, str] | None = None
        self._last_generation: float | None = None
        self._used_codes: set[str] = set()
        self._wrong_codes: deque[float] = deque()
        self._lockouts: deque[float] = deque()
        self._generation_locked_until = 0.0
        self._routes: dict[tuple[str, str], Callable[[RecordedRequest], _Reply]] = {
            ("GET", "/user/profile"): self._profile,
            ("GET", "/market/instruments"): self._instruments,
            ("GET", "/order-book"): self._order_book,
            ("GET", "/trade-book"): self._trade_book,
            ("GET", "/portfolio/positions"): self._positions,
            ("GET", "/funds"): self._funds,
            ("GET", "/market/quotes/ltp"): self._last_prices,
            ("GET", "/market/option-chain"): self._option_chain,
            ("GET", "/market/instruments/search"): self._search,
            ("GET", "/market/instruments/expiries"): self._expiries,
            ("POST", "/order"): self._place,
            ("POST", "/smart/order"): self._place,
            ("POST", "/order/modify"): self._modify,
            ("POST", "/smart/order/modify"): self._modify,
            ("POST", "/order/cancel"): self._cancel,
            ("POST", "/smart/order/cancel"): self._cancel,
            ("POST", "/generate/token"): self._generate_token,
        }

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> IndstocksSimulator:
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        # A short poll interval makes stop() quick: tests start and stop one simulator each.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="indstocks-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a "timeout" fault
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> IndstocksSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- test-facing state ----------------------------------------------------------------

    @property
    def live_tokens(self) -> set[str]:
        with self._lock:
            return set(self._tokens)

    def set_tokens(self, tokens: Iterable[str]) -> None:
        with self._lock:
            self._tokens = set(tokens)

    def add_token(self, token: str, account: str | None = None) -> None:
        """Accept `token`; with `account`, as the token of that account (its own write limit)."""
        with self._lock:
            self._tokens.add(token)
            if account is not None:
                self.token_accounts[token] = account

    @property
    def instruments_csv(self) -> str:
        return self._instruments_csv

    @instruments_csv.setter
    def instruments_csv(self, text: str) -> None:
        # Served and indexed lazily, so a 100 000-row master costs nothing until it is used.
        with self._lock:
            self._instruments_csv = text
            self._instruments_bytes = None
            self._instrument_index = None

    # --- F&O state -----------------------------------------------------------------------

    @property
    def today(self) -> date:
        """The trading day the F&O master is generated for and contracts expire against."""
        return self._today or datetime.now(IST).date()

    @today.setter
    def today(self, day: date | None) -> None:
        with self._lock:
            self._today = day
            if self._fno_csv is None:
                self._fno_bytes = self._fno_book = None

    @property
    def fno_csv(self) -> str:
        """The served `source=fno` master: generated for `today` unless a test set its own."""
        with self._lock:
            if self._fno_csv is not None:
                return self._fno_csv
            today = self.today
            if self._fno_generated is None or self._fno_generated[0] != today:
                self._fno_generated = (today, generate_fno_master(today))
                self._fno_bytes = self._fno_book = None
            return self._fno_generated[1]

    @fno_csv.setter
    def fno_csv(self, text: str | None) -> None:
        """Serve `text` (e.g. `generate_fno_master(day, real_size=True)`); None: back to the generated one."""
        with self._lock:
            self._fno_csv = text
            self._fno_bytes = self._fno_book = None

    @property
    def index_csv(self) -> str:
        return self._index_csv

    @index_csv.setter
    def index_csv(self, text: str) -> None:
        with self._lock:
            self._index_csv = text
            self._index_ids = None

    @property
    def fno_contracts(self) -> list[FnoContract]:
        """Every contract of the served master, expired ones included, in file order per underlying."""
        return [c for listed in self._fno().by_underlying.values() for c in listed]

    def find_contract(
        self, underlying: str, expiry: date, strike: Any = None, option_type: str | None = None
    ) -> FnoContract:
        """The contract keyed on (underlying, expiry, strike, option type); a future without strike/type."""
        wanted = None if strike is None else _decimal(strike)
        for contract in self._fno().by_underlying.get(underlying, []):
            if (contract.expiry, contract.strike, contract.option_type) == (expiry, wanted, option_type):
                return contract
        raise KeyError((underlying, expiry, strike, option_type))

    def set_spot(self, underlying: str, price: Any) -> None:
        """Move an underlying: its index quote, option chain and every contract's price follow,
        and the exchange runs (a contract pinned in `ltp` keeps its price)."""
        spot = _decimal(price)
        if not spot > 0:
            raise ValueError("a spot price must be above zero")
        with self._lock:
            self.spots[underlying] = spot
            self._run_exchange()

    def set_price(self, exchange: str, security_id: str, price: Any) -> None:
        """Move one instrument's last price (a cash row of the equity master or an F&O contract):
        its quote follows, and the exchange runs. Writing `ltp[...]` directly moves the quote only."""
        value = _decimal(price)
        if not value > 0:
            raise ValueError("a price must be above zero")
        with self._lock:
            if self._instrument_index is None:
                self._instrument_index = _index_instruments(self._instruments_csv)
            known = (exchange, security_id) in self._instrument_index or (exchange, security_id) in self._fno().by_id
            if not known:
                raise KeyError((exchange, security_id))
            self.ltp[security_id] = value
            self._run_exchange()

    def fno_price(self, contract: FnoContract) -> Decimal | None:
        """A contract's last price: `ltp[security_id]` if set, else the model at its underlying's spot."""
        with self._lock:
            override = self.ltp.get(contract.security_id)
            spot = self.spots.get(contract.underlying)
        if override is not None:
            return override
        if spot is None:
            return None
        return contract_price(contract, spot, self.today, _VOLATILITY.get(contract.underlying, 0.2))

    def _fno(self) -> _FnoBook:
        text = self.fno_csv
        with self._lock:
            if self._fno_book is None:
                self._fno_book = _FnoBook.of(text)
            return self._fno_book

    def _fno_reply_bytes(self) -> bytes:
        text = self.fno_csv
        with self._lock:
            if self._fno_bytes is None:
                self._fno_bytes = text.encode()
            return self._fno_bytes

    def _index_underlying(self, exchange: str, security_id: str) -> str | None:
        with self._lock:
            if self._index_ids is None:
                self._index_ids = index_underlyings(parse_index_master(self._index_csv))
            return self._index_ids.get((exchange, security_id))

    def _fno_account(self, exchange: str) -> bool:
        return self.fno_enabled and exchange in self.fno_exchanges

    def inject_fault(
        self,
        path: str,
        kind: str,
        *,
        count: int = 1,
        place: bool | None = None,
        delay: float = 5.0,
        status: int | None = None,
    ) -> None:
        """The next `count` requests to `path` get fault `kind`; `place`: an order write is booked anyway."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = _Fault(kind, count, FAULT_KINDS[kind] if place is None else place, delay, status)
        with self._lock:
            self._faults.setdefault(path, deque()).append(fault)

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self._requests if path is None or request.path == path]

    def order_writes(self) -> list[RecordedRequest]:
        return [request for request in self.requests() if _is_order_write(request)]

    @property
    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._orders]

    def new_trading_day(self) -> None:
        """The order book lists today's orders only: start an empty one. Positions are the day's
        too: the day's realised P&L is booked into the cash, and the new day starts flat (carried
        positions and holdings are not modelled)."""
        with self._lock:
            self.sod_balance += sum((p.realized_profit for p in self._position_book().values()), Decimal(0))
            self._orders.clear()
            self._working.clear()
            self._fills.clear()

    def set_order_status(
        self,
        order_id: str,
        status: str,
        *,
        extra_info: str = "",
        traded_qty: int | None = None,
        traded_price: Any = None,
    ) -> None:
        """Put an order where a test wants it. A `traded_qty` above the row's is a fill of the
        difference (at `traded_price`, else the row's, else the last price): it reaches the trade
        book and the positions, and arms the order's OCO child."""
        with self._lock:
            row = self._row(order_id)
            if row is None:
                raise KeyError(order_id)
            filled_before = row["traded_qty"]
            row.update(status=status, extra_info=extra_info, updated_at=_ist_now())
            if traded_qty is not None:
                row["traded_qty"] = traded_qty
            if traded_price is not None:
                row["traded_price"] = _price_text(traded_price)
            working = self._working.get(order_id)
            if working is not None and traded_qty is not None and traded_qty > filled_before:
                price = row["traded_price"] or _price_text(self._last_price(working.instrument))
                if price:
                    self._record_fill(row, working, traded_qty - filled_before, _decimal(price))
            self._run_exchange()

    def clear_faults(self) -> None:
        """Forget the faults not yet served."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget requests, faults, orders, fills and the rate window; keep tokens, market data and the balance."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._orders.clear()
            self._working.clear()
            self._fills.clear()
            self._write_times.clear()

    # --- request handling -----------------------------------------------------------------

    def _record(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> RecordedRequest:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        request = RecordedRequest(method, path, query, headers, body, parsed, time.monotonic())
        with self._lock:
            self._requests.append(request)
        return request

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.popleft()
            return fault

    def _respond(self, request: RecordedRequest) -> _Reply | None:
        """The answer to a broker request; None means: reset the connection."""
        fault = self._take_fault(request.path)
        if fault is None:
            return self._handle(request)
        # A placing fault really runs the request, so the order lands in the book.
        placed = self._handle(request) if fault.place and _is_order_write(request) else None
        if fault.kind == "timeout":
            self._stopping.wait(fault.delay)
            if placed is not None:
                return placed
            if _is_order_write(request):
                return _error_reply(504, *_SERVER_ERRORS[504])
            return self._handle(request)
        if fault.kind == "reset":
            return None
        return _fault_reply(fault)

    def _handle(self, request: RecordedRequest) -> _Reply:
        route = self._routes.get((request.method, request.path))
        if route is None:
            if any(path == request.path for _, path in self._routes):
                return _error_reply(405, "MethodNotAllowedException", "Method not allowed")
            return _error_reply(404, "NotFoundException", "Not found")
        try:
            if request.path == "/market/option-chain" and "authorization" not in request.headers:
                # This endpoint answers a missing header with its own 400, not TokenException.
                return _json_reply(400, {"message": "Authorization header is missing", "success": False})
            if request.path != "/generate/token":  # it authenticates with x-api-key instead
                self._check_token(request)
            if _is_order_write(request):
                self._admit_write(request.headers.get("authorization") or "")
            return route(request)
        except _Rejected as rejection:
            return rejection.reply

    def _check_token(self, request: RecordedRequest) -> None:
        # The header is the raw token: "Bearer <token>" is just a wrong token.
        with self._lock:
            if request.headers.get("authorization") not in self._tokens:
                raise _Rejected(_TOKEN_REJECTED)

    def _admit_write(self, token: str) -> None:
        """At most `rate_limit_writes` order writes per rolling second and account, all of its
        tokens together (INDstocks limits each account)."""
        now = time.monotonic()
        with self._lock:
            times = self._write_times.setdefault(self.token_accounts.get(token, ""), deque())
            while times and times[0] <= now - self.rate_window_seconds:
                times.popleft()
            if self.rate_limit_writes is not None and len(times) >= self.rate_limit_writes:
                raise _Rejected(_RATE_LIMITED)
            times.append(now)

    # --- read endpoints -------------------------------------------------------------------

    def _profile(self, _request: RecordedRequest) -> _Reply:
        return _json_reply(200, {"status": "success", "data": {
            "user_id": USER_ID, "email": "trader@example.com", "first_name": "Demo", "last_name": "Trader",
            "demat_id": "1208160000000001", "is_nse_onboarded": True, "is_bse_onboarded": True,
            "is_nse_fno_onboarded": self._fno_account("NSE"), "is_bse_fno_onboarded": self._fno_account("BSE"),
            "ucc": "SIMUCC01",
            "is_ddpi_active": True,
        }})  # fmt: skip

    def _instruments(self, request: RecordedRequest) -> _Reply:
        """`equity`: the cash master; `fno`: the generated F&O master; `index`: the index list."""
        source = request.query.get("source")
        if source not in INSTRUMENT_SOURCES:
            return _json_reply(400, {"message": "Source not present or invalid", "success": False})
        if source == "fno":
            self._fno()  # the contract book behind quotes and orders, built now rather than in a 0.5 s read
            return _Reply(200, self._fno_reply_bytes(), "text/csv")
        if source == "index":
            return _Reply(200, self.index_csv.encode(), "text/csv")
        with self._lock:
            if self._instruments_bytes is None:
                self._instruments_bytes = self._instruments_csv.encode()
            return _Reply(200, self._instruments_bytes, "text/csv")

    def _order_book(self, _request: RecordedRequest) -> _Reply:
        return _json_reply(200, {"status": "success", "data": self.orders})

    def _trade_book(self, request: RecordedRequest) -> _Reply:
        """`?segment=EQUITY|DERIVATIVE`: the day's fills of that segment (api doc §6)."""
        _check_query(request)
        segment = request.query["segment"]
        with self._lock:
            fills = [fill for fill in self._fills if fill.segment == segment]
        data = []
        for fill in fills:
            trade: dict[str, Any] = {
                "fill_id": fill.fill_id, "exch_order_id": fill.exch_order_id, "quantity": fill.qty,
                "price": float(fill.price), "trade_date": fill.at, "trade_serial_no": str(fill.fill_id),
                "scrip_code": fill.instrument.security_id,
            }  # fmt: skip
            if fill.remarks is not None:
                trade["remarks"] = fill.remarks
            data.append(trade)
        return _json_reply(200, {"status": "success", "data": data})

    def _positions(self, request: RecordedRequest) -> _Reply:
        """`?segment=equity|derivative&product=cnc|intraday|margin`, lower case as the spec's enums
        say (an upper-case value is refused): the day's positions of that segment and product,
        closed ones included, as one flat array (api doc §6)."""
        _check_query(request)
        segment, product = request.query["segment"].upper(), request.query["product"].upper()
        with self._lock:
            book = self._position_book()
        rows = [_position_row(p) for (p_segment, _, _, p_product), p in book.items()
                if (p_segment, p_product) == (segment, product)]  # fmt: skip
        return _json_reply(200, {"status": "success", "data": rows})

    def _funds(self, _request: RecordedRequest) -> _Reply:
        """The account (api doc §6): one pool of cash, so every `detailed_avl_balance` figure
        INDstocks offers here is the cash free for that product (commodities and MTF: none)."""
        with self._lock:
            book = self._position_book()
            free = self._available(book)
            realized = sum((p.realized_profit for p in book.values()), Decimal(0))
            unrealized = Decimal(0)
            for position in book.values():
                last = self._last_price(position.instrument) if position.net_qty else None
                if last is not None:
                    unrealized += (_decimal(last) - position.avg_price) * position.net_qty
            sod = self.sod_balance
        return _json_reply(200, {"status": "success", "data": {
            "sod_balance": _money(sod), "pledge_received": 0.0, "pledge_remained": 0.0,
            "detailed_avl_balance": {
                "option_sell": _money(free), "future": _money(free), "option_buy": _money(free),
                "comm_option_buy": 0.0, "eq_mis": _money(free), "eq_cnc": _money(free), "eq_mtf": 0.0,
            },
            "withdrawal_balance": _money(max(free, Decimal(0))), "funds_added": 0.0, "funds_withdrawn": 0.0,
            "realized_pnl": _money(realized), "unrealized_pnl": _money(unrealized),
            "brokerage": 0.0, "eq_charges": 0.0, "fno_charges": 0.0,
        }})  # fmt: skip

    def _last_prices(self, request: RecordedRequest) -> _Reply:
        """`scrip-codes=NSE_3045,BSE_500112`: one unknown or unpriced code fails the whole batch
        with HTTP 400, as INDstocks does (api doc §6)."""
        codes = [code.strip() for code in request.query.get("scrip-codes", "").split(",")]
        data: dict[str, Any] = {}
        for code in codes:
            segment, _, security_id = code.partition("_")
            fno_price = self._fno_quote(segment, security_id)
            if fno_price is not None:
                data[code] = {"live_price": float(fno_price)}
                continue
            exchange, cash = _QUOTE_SEGMENTS.get(segment, ("", False))
            with self._lock:
                if self._instrument_index is None:
                    self._instrument_index = _index_instruments(self._instruments_csv)
                found = self._instrument_index.get((exchange, security_id))
                price = self.ltp.get(security_id)
            if found is None or (found.segment == "E") != cash or price is None:
                return _json_reply(400, {"message": "Invalid scrip codes or mode", "success": False})
            data[code] = {"live_price": float(price)}
        return _json_reply(200, {"status": "success", "data": data})

    def _fno_quote(self, segment: str, security_id: str) -> Decimal | None:
        """The price behind an NFO_/BFO_ code of a live contract, or an NIDX_/BIDX_ index code."""
        if segment in _INDEX_QUOTE_SEGMENTS:
            underlying = self._index_underlying(_INDEX_QUOTE_SEGMENTS[segment], security_id)
            with self._lock:
                return None if underlying is None else self.spots.get(underlying)
        if segment not in ("NFO", "BFO"):
            return None
        contract = self._fno().by_id.get((_QUOTE_SEGMENTS[segment][0], security_id))
        if contract is None or contract.expiry < self.today:
            return None
        return self.fno_price(contract)

    def _option_chain(self, request: RecordedRequest) -> _Reply:
        """`exchange`, `segment` (INDEX|EQUITY), `underlying-scrip`, `expiry`, `strike_count` (each side of ATM)."""
        query = request.query
        exchange, segment, scrip = query.get("exchange"), query.get("segment"), query.get("underlying-scrip", "")
        expiry = _query_date(query.get("expiry"))
        try:
            strike_count = int(query.get("strike_count") or 10)
        except ValueError:
            return _debug_info_reply("strike_count must be an integer")
        if exchange not in ("NSE", "BSE") or segment not in ("INDEX", "EQUITY") or expiry is None or strike_count < 1:
            return _json_reply(400, _CHAIN_ERROR)
        underlying = self._underlying_of_scrip(exchange, segment, scrip)
        today = self.today
        legs = [
            c for c in self._fno().by_underlying.get(underlying or "", [])
            if c.exchange == exchange and c.expiry == expiry and c.is_option and expiry >= today
        ]  # fmt: skip
        with self._lock:
            spot = self.spots.get(underlying or "")
        if not legs or spot is None:
            return _json_reply(400, _CHAIN_ERROR)
        strikes = sorted({c.strike for c in legs if c.strike is not None})
        atm = min(range(len(strikes)), key=lambda i: (abs(strikes[i] - spot), strikes[i]))
        window = set(strikes[max(atm - strike_count, 0) : atm + strike_count + 1])
        volatility = _VOLATILITY.get(underlying or "", 0.2)
        ladder: dict[str, dict[str, Any]] = {}
        for contract in legs:
            if contract.strike in window and contract.option_type is not None:
                with self._lock:
                    override = self.ltp.get(contract.security_id)
                leg = chain_leg(contract, spot, today, volatility, override)
                ladder.setdefault(strike_text(contract.strike), {})[contract.option_type.lower()] = leg
        return _json_reply(200, {"status": "success", "data": {
            "underlying_ltp": float(spot), "expiry": expiry.isoformat(), "strikes": ladder}})  # fmt: skip

    def _underlying_of_scrip(self, exchange: str, segment: str, scrip: str) -> str | None:
        if segment == "INDEX":
            return self._index_underlying(exchange, scrip)
        with self._lock:
            if self._instrument_index is None:
                self._instrument_index = _index_instruments(self._instruments_csv)
            cash = self._instrument_index.get((exchange, scrip))
        if cash is not None and cash.segment == "E" and cash.symbol:
            return cash.symbol
        # Stock underlyings the simulator's small equity master does not list (TATAMOTORS, VEDL).
        return next((u.name for u in _UNDERLYINGS.values() if not u.is_index and u.underlying_id == scrip), None)

    def _live_contracts(self, query: dict[str, str]) -> list[FnoContract] | _Reply:
        """The live contracts of `underlying` for search/expiries, or the 400 their parameters earn."""
        if query.get("segment") != "DERIVATIVE":
            return _debug_info_reply("Only segment=DERIVATIVE is supported")
        today = self.today
        live = [c for c in self._fno().by_underlying.get(query.get("underlying", ""), []) if c.expiry >= today]
        if not live:
            return _debug_info_reply("Invalid or unknown underlying/segment/expiry passed")
        return live

    def _search(self, request: RecordedRequest) -> _Reply:
        query = request.query
        live = self._live_contracts(query)
        if isinstance(live, _Reply):
            return live
        try:
            expiry = _query_date(query["expiry"]) if query.get("expiry") else None
            low = _decimal(query["strike_from"]) if query.get("strike_from") else None
            high = _decimal(query["strike_to"]) if query.get("strike_to") else None
            page, page_size = int(query.get("page") or 1), int(query.get("page_size") or 50)
        except (ValueError, ArithmeticError):
            return _debug_info_reply("Invalid parameter passed")
        instrument_type, option_type = query.get("instrument_type"), query.get("option_type")
        if (
            (query.get("expiry") and expiry is None) or instrument_type not in (None, "OPTIDX", "OPTSTK", "FUTIDX", "FUTSTK")
            or option_type not in (None, "CE", "PE") or page < 1 or not 1 <= page_size <= 100
        ):  # fmt: skip
            return _debug_info_reply("Invalid parameter passed")
        options_only = option_type is not None or low is not None or high is not None
        found = [
            c for c in live
            if (instrument_type is None or c.instrument == instrument_type) and (expiry is None or c.expiry == expiry)
            and (not options_only or (c.is_option and c.strike is not None
                 and (option_type is None or c.option_type == option_type)
                 and (low is None or c.strike >= low) and (high is None or c.strike <= high)))
        ]  # fmt: skip
        shown = found[(page - 1) * page_size : page * page_size]
        return _json_reply(200, {"status": "success", "data": {
            "count": len(found), "page": page, "page_size": page_size,
            "instruments": [{
                "security_id": c.security_id, "trading_symbol": search_symbol(c), "instrument_type": c.instrument,
                "expiry": c.expiry.isoformat(), "strike_price": None if c.strike is None else float(c.strike),
                "option_type": c.option_type, "lot_size": c.lot,
            } for c in shown],
        }})  # fmt: skip

    def _expiries(self, request: RecordedRequest) -> _Reply:
        live = self._live_contracts(request.query)
        if isinstance(live, _Reply):
            return live
        return _json_reply(200, {"status": "success", "data": sorted({c.expiry.isoformat() for c in live})})

    # --- token generation (indstocks-api §3) ------------------------------------------------

    def configure_generation(self, *, client_id: str, mpin: str, totp_secret: str) -> None:
        """Enable POST /generate/token for this account (x-api-key = client id)."""
        with self._lock:
            self._generation = {"client_id": client_id, "mpin": mpin, "totp_secret": totp_secret}

    def _generate_token(self, request: RecordedRequest) -> _Reply:
        """Real TOTP checks, the 1-per-60-s throttle, the lockout rules, and one live token."""
        body = _conforming_body(request)
        now = time.time()
        with self._lock:
            account = self._generation
            if account is None:
                return _error_reply(501, "GeneralException", "Token generation is not configured")
            if now < self._generation_locked_until:  # calls during a lockout do not extend it
                return _error_reply(403, "UserException", "Token generation is locked; try again later")
            if request.headers.get("x-api-key") != account["client_id"] or body["mpin"] != account["mpin"]:
                return _error_reply(401, "InputException", "Invalid client id or MPIN")
            if self._last_generation is not None and now - self._last_generation < GENERATION_SPACING:
                return _json_reply(429, {"error": "Rate limit exceeded", "success": False})
            code = body["totp"]
            if code in self._used_codes or not pyotp.TOTP(account["totp_secret"]).verify(code, valid_window=1):
                self._wrong_totp(now)
                return _error_reply(401, "InputException", "Invalid TOTP")
            self._used_codes.add(code)
            self._last_generation = now
            token = "sim-" + secrets.token_urlsafe(24)
            self._tokens = {token}  # a new token kills every earlier one
            self.generated_tokens.append(token)
        payload: dict[str, Any] = {"token": token}
        if self.token_envelope == "data":
            payload = {"status": "success", "data": payload}
        return _json_reply(200, payload)

    def _wrong_totp(self, now: float) -> None:
        """5 wrong codes in 15 min → 15-min lockout; 3 lockouts within 1 h → 1-h lockout."""
        self._wrong_codes = deque(t for t in self._wrong_codes if now - t < 900)
        self._wrong_codes.append(now)
        if len(self._wrong_codes) >= 5:
            self._wrong_codes.clear()
            self._lockouts = deque(t for t in self._lockouts if now - t < 3600)
            self._lockouts.append(now)
            self._generation_locked_until = now + (3600 if len(self._lockouts) >= 3 else 900)

    # --- order writes ---------------------------------------------------------------------

    def _place(self, request: RecordedRequest) -> _Reply:
        body = _conforming_body(request)
        smart = request.path == "/smart/order"
        instrument = self._check_order(body)
        legs = _check_legs(body, self._entry_price(body, instrument), instrument.tick) if smart else {}
        with self._lock:
            if self.fills:
                self._check_margin(body, instrument)
            row, child = self._book(body, instrument, smart=smart, legs=legs)
            self._run_exchange()
        if smart:  # the reply is the placement's, whatever the exchange did since
            placed: dict[str, Any] = {"order_id": row["id"], "order_status": "CREATED"}
            if child is not None:
                placed["child_order_details"] = {"order_id": child["id"], "order_status": "CREATED"}
            return _json_reply(200, {"status": "success", "data": {"order_data": [placed]}})
        status = "O-PENDING" if body.get("is_amo") else "INITIATED"
        return _json_reply(200, {"status": "success", "data": {"order_id": row["id"], "order_status": status}})

    def _check_order(self, body: dict[str, Any]) -> _Instrument:
        """The broker's business checks after schema validation (api doc §4, §5, §10)."""
        exchange = body["exchange"]
        accepted_algo_ids = {NSE_ALGO_ID} if exchange == "NSE" else self.bse_algo_ids
        if body["algo_id"] not in accepted_algo_ids:
            raise _reject(400, "InputException", f"invalid algo_id for {exchange}")
        remarks = body.get("remarks")
        if remarks is not None and "".join(remarks.split()).upper() == "TV-TERMINAL":
            raise _reject(400, "RequestValidationException", "remarks value is reserved")
        if body["segment"] == "DERIVATIVE" and not self._fno_account(exchange):
            raise _reject(403, "UserException", f"F&O segment not activated for {exchange}")
        instrument = self._instrument(exchange, body["segment"], body["security_id"])
        if instrument.contract is not None:
            _check_derivative(body, instrument.contract)
        if self.market_open is False and not body.get("is_amo"):
            raise _reject(400, "OrderException", "AmoMustBeTrue: the market is closed; place an after-market order")
        if body["order_type"] == "LIMIT" and "limit_price" not in body:
            raise _reject(400, "InputException", "limit_price is required for a LIMIT order")
        if body["order_type"] == "TRIGGER" and "trigger_price" not in body:
            raise _reject(400, "InputException", "trigger_price is required for a TRIGGER order")
        for field in ("limit_price", "trigger_price", "trigger_limit_price"):
            if field in body:
                _check_price(field, body[field], instrument.tick)
        last_price = self._last_price(instrument)
        if body["order_type"] == "TRIGGER" and last_price is not None:
            trigger = _decimal(body["trigger_price"])
            if body["txn_type"] == "BUY" and not trigger > _decimal(last_price):
                raise _reject(400, "OrderException", "trigger price must be above the last traded price for a BUY")
            if body["txn_type"] == "SELL" and not trigger < _decimal(last_price):
                raise _reject(400, "OrderException", "trigger price must be below the last traded price for a SELL")
        return instrument

    def _last_price(self, instrument: _Instrument) -> Decimal | None:
        if instrument.contract is not None:
            return self.fno_price(instrument.contract)
        return self.ltp.get(instrument.security_id)

    def _instrument(self, exchange: str, segment: str, security_id: str) -> _Instrument:
        if segment == "DERIVATIVE":  # the F&O master first, then any derivative row of the equity one
            contract = self._fno().by_id.get((exchange, security_id))
            if contract is not None:
                if contract.expiry < self.today:
                    raise _reject(400, "OrderException", "instrument not tradable: the contract has expired")
                return _Instrument(exchange, contract.segment, security_id, contract.trading_symbol, contract.tick,
                                   contract.trading_symbol, contract)  # fmt: skip
        with self._lock:
            if self._instrument_index is None:
                self._instrument_index = _index_instruments(self._instruments_csv)
            found = self._instrument_index.get((exchange, security_id))
        if found is None or (found.segment == "E") != (segment == "EQUITY"):
            raise _reject(400, "OrderException", "instrument not found")
        return found

    def _entry_price(self, body: dict[str, Any], instrument: _Instrument) -> Decimal | None:
        """The price an order enters at, as INDstocks checks legs against it (api doc §5): the
        limit, the trigger-limit (else the trigger) of a TRIGGER, the last price for MARKET."""
        if body["order_type"] == "LIMIT":
            return _decimal(body["limit_price"])
        if body["order_type"] == "TRIGGER":
            return _decimal(body.get("trigger_limit_price", body["trigger_price"]))
        last = self._last_price(instrument)
        return None if last is None else _decimal(last)

    def _check_margin(self, body: dict[str, Any], instrument: _Instrument) -> None:
        """RMS: refuse an order whose fill would block more margin than the account has free
        (lock held). An order that reduces a position needs none."""
        price = self._entry_price(body, instrument)
        if price is None:
            return
        key = (body["segment"], instrument.exchange, instrument.security_id, body["product"])
        book = self._position_book()
        now = book.get(key) or _Position(instrument=instrument, segment=body["segment"], product=body["product"])
        after = replace(now)
        after.add(body["txn_type"], body["qty"], price)
        needed = after.margin() - now.margin()
        if needed > 0 and needed > self._available(book):
            raise _reject(400, "OrderException", _MARGIN_REFUSAL)

    def _book(
        self, body: dict[str, Any], instrument: _Instrument, *, smart: bool, legs: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Append the order-book rows INDstocks would show for an accepted order (lock held): the
        order, and the `GTT-` OCO child holding its stop-loss/target legs if it has any."""
        trigger = body["order_type"] == "TRIGGER"
        if trigger:  # a standalone TRIGGER shows as GTT_LIMIT with its prices in the tgt_* fields
            requested_price = ""
            target_trigger = _price_text(body["trigger_price"])
            target_limit = _price_text(body.get("trigger_limit_price", body["trigger_price"]))
        else:  # MARKET is booked as a limit at the last price (api doc §4.1)
            requested_price = _price_text(body.get("limit_price", self._last_price(instrument)))
            target_trigger = target_limit = ""
        if smart:  # a stop waits for its trigger (SL-PENDING, api doc §4.4); other smart orders are CREATED
            status = "SL-PENDING" if trigger else "CREATED"
        else:
            status = "O-PENDING" if body.get("is_amo") else "INITIATED"
        now = _ist_now()
        number = self._next_order_number
        self._next_order_number += 1
        row: dict[str, Any] = {
            "id": f"{'EQ' if body['segment'] == 'EQUITY' else 'DRV'}-{number:08d}",
            "exch_order_id": "" if smart else str(1100000000000000 + number),
            "security_id": instrument.security_id,
            "name": instrument.name,
            "txn_type": body["txn_type"],
            "exchange": body["exchange"],
            "segment": body["segment"],
            "product": body["product"],
            "order_type": "GTT_LIMIT" if trigger else body["order_type"],
            "validity": body["validity"],
            "off_mkt_flag": "true" if body.get("is_amo") else "false",
            "requested_qty": body["qty"],
            "traded_qty": 0,
            "requested_price": requested_price,
            "traded_price": "",
            "sl_trigger_price": "",
            "sl_limit_price": "",
            "tgt_trigger_price": target_trigger,
            "tgt_limit_price": target_limit,
            "status": status,
            "extra_info": "",
            "created_at": now,
            "updated_at": now,
            "user_id": USER_ID,
        }
        if "remarks" in body:
            row["remarks"] = body["remarks"]
        self._orders.append(row)
        working = self._working[row["id"]] = _Working(instrument, smart)
        if not legs:
            return dict(row), None
        # The child closes what the parent opens: the other side, the same quantity and product.
        child = {
            **row,
            "id": f"GTT-{self._next_gtt_number}",
            "exch_order_id": "",
            "txn_type": "SELL" if body["txn_type"] == "BUY" else "BUY",
            "order_type": "OCO",
            "requested_price": "",
            "sl_trigger_price": legs.get("sl_trigger_price", ""),
            "sl_limit_price": legs.get("sl_limit_price", ""),
            "tgt_trigger_price": legs.get("tgt_trigger_price", ""),
            "tgt_limit_price": legs.get("tgt_limit_price", ""),
            "status": "CREATED",  # inactive until the parent executes
        }
        self._next_gtt_number += 1
        self._orders.append(child)
        self._working[child["id"]] = _Working(instrument, smart=True, parent_id=row["id"])
        working.child_id = child["id"]
        return dict(row), dict(child)

    # --- the exchange (fills=True) ---------------------------------------------------------

    def _run_exchange(self) -> None:
        """Let the exchange act on every working order until nothing more happens (lock held)."""
        if not self.fills:
            return
        moved = True
        while moved:
            moved = False
            for row in self._orders:
                working = self._working.get(row["id"])
                if working is None or row["status"] in TERMINAL_STATUSES or row["status"] in _RESTING_STATUSES:
                    continue
                if working.parent_id is not None and not working.armed:
                    continue
                last = self._last_price(working.instrument)
                if last is not None and self._step(row, working, _decimal(last)):
                    moved = True

    def _step(self, row: dict[str, Any], working: _Working, last: Decimal) -> bool:
        """One look at one working order at the last price; True if it triggered or filled."""
        buy = row["txn_type"] == "BUY"
        kind = row["order_type"]
        fired = False
        if kind == "GTT_LIMIT" and not working.triggered:
            trigger = _decimal(row["tgt_trigger_price"])
            if not (last >= trigger if buy else last <= trigger):
                return False
            working.triggered = fired = True
        if kind == "OCO" and working.leg is None:
            working.leg = next((leg for leg in ("sl", "tgt")
                                if row[f"{leg}_trigger_price"] and _leg_fires(leg, buy, last, _decimal(row[f"{leg}_trigger_price"]))),
                               None)  # fmt: skip
            if working.leg is None:
                return False
            fired = True
            leg_name = "stop-loss" if working.leg == "sl" else "target"
            row["extra_info"] = f"{leg_name} leg triggered; the other leg is cancelled"
        if fired:
            row.update(status="PENDING", updated_at=_ist_now())
        if kind == "MARKET":
            limit = None
        elif kind == "LIMIT":
            limit = _decimal(row["requested_price"])
        elif kind == "GTT_LIMIT":
            limit = _decimal(row["tgt_limit_price"])
        elif kind == "OCO":
            limit = _decimal(row[f"{working.leg}_limit_price"])
        else:
            return fired
        if limit is not None and not (last <= limit if buy else last >= limit):
            if row["status"] in ("INITIATED", "CREATED"):
                row["status"] = "PENDING"  # open at the exchange
            return fired
        self._fill(row, working, last)
        return True

    def _fill(self, row: dict[str, Any], working: _Working, price: Decimal) -> None:
        """The whole remaining quantity trades at `price` (lock held)."""
        qty = row["requested_qty"] - row["traded_qty"]
        row.update(status="SUCCESS", traded_qty=row["requested_qty"], traded_price=_price_text(price),
                   updated_at=_ist_now())  # fmt: skip
        self._record_fill(row, working, qty, price)

    def _record_fill(self, row: dict[str, Any], working: _Working, qty: int, price: Decimal) -> None:
        """A trade of `qty` at `price` for the order in `row`: the trade book and the positions are
        built from these. A parent that executed arms its OCO child (lock held)."""
        if not row["exch_order_id"]:  # a smart order gets its exchange id when it reaches the exchange
            row["exch_order_id"] = _exchange_order_id(row["id"])
        self._fills.append(_Fill(
            fill_id=FIRST_FILL_ID + len(self._fills), order_id=row["id"], exch_order_id=row["exch_order_id"],
            instrument=working.instrument, segment=row["segment"], product=row["product"], side=row["txn_type"],
            qty=qty, price=price, at=_ist_now(), remarks=row.get("remarks"),
        ))  # fmt: skip
        child = self._working.get(working.child_id or "")
        child_row = self._row(working.child_id) if working.child_id else None
        if row["status"] != "SUCCESS" or child is None or child_row is None or child.armed:
            return
        if child_row["status"] not in TERMINAL_STATUSES:  # a child cancelled while inactive stays so
            child.armed = True
            child_row.update(status="SL-PENDING", updated_at=_ist_now())

    def _position_book(self) -> dict[tuple[str, str, str, str], _Position]:
        """(segment, exchange, security id, product) → the position the day's fills make (lock held)."""
        book: dict[tuple[str, str, str, str], _Position] = {}
        for fill in self._fills:
            position = book.get(fill.key)
            if position is None:
                position = book[fill.key] = _Position(instrument=fill.instrument, segment=fill.segment, product=fill.product)
            position.add(fill.side, fill.qty, fill.price)
        return book

    def _available(self, book: dict[tuple[str, str, str, str], _Position]) -> Decimal:
        """Cash free for new positions: the day's start, plus realised P&L, minus blocked margin."""
        realized = sum((p.realized_profit for p in book.values()), Decimal(0))
        return self.sod_balance + realized - sum((p.margin() for p in book.values()), Decimal(0))

    # --- modify, cancel ---------------------------------------------------------------------

    def _modify(self, request: RecordedRequest) -> _Reply:
        body = _conforming_body(request)
        smart = request.path.startswith("/smart/")
        if smart and body["algo_id"] != NSE_ALGO_ID:
            raise _reject(400, "InputException", "invalid algo_id for NSE")
        with self._lock:
            row = self._open_row(body["order_id"], body["segment"], smart=smart)
            placed_type = "TRIGGER" if row["order_type"] == "GTT_LIMIT" else row["order_type"]
            if body.get("order_type", placed_type) != placed_type:
                raise _reject(400, "OrderException", "order_type must match the existing order")
            tick = self._tick_of(row)
            contract = self._contract_of(row)
            if contract is not None and "qty" in body:
                _check_lot_and_freeze(body["qty"], contract)
            changes: dict[str, Any] = {"status": "MODIFIED", "updated_at": _ist_now()}
            # An OCO child is changed by its legs' prices; any other order by its own (api doc §5).
            prices = _LEG_PRICES if row["order_type"] == "OCO" else _MODIFIABLE_PRICES
            misplaced = [field for field, _ in (_MODIFIABLE_PRICES if prices is _LEG_PRICES else _LEG_PRICES)
                         if field in body]  # fmt: skip
            if misplaced:
                raise _reject(400, "OrderException", f"{', '.join(misplaced)} cannot be modified on this order")
            for field, column in prices:
                if field in body:
                    _check_price(field, body[field], tick)
                    changes[column] = _price_text(body[field])
            if "qty" in body:
                changes["requested_qty"] = body["qty"]
            row.update(changes)
            self._run_exchange()
        return _json_reply(200, {"status": "success", "data": {"order_id": row["id"], "order_status": "MODIFIED"}})

    def _cancel(self, request: RecordedRequest) -> _Reply:
        body = _conforming_body(request)
        with self._lock:
            row = self._open_row(body["order_id"], body["segment"], smart=request.path.startswith("/smart/"))
            row.update(status="CANCELLED", updated_at=_ist_now())
        return _json_reply(200, {"status": "success", "data": {"order_id": row["id"], "order_status": "CANCELLED"}})

    def _row(self, order_id: str) -> dict[str, Any] | None:
        return next((row for row in self._orders if row["id"] == order_id), None)

    def _open_row(self, order_id: str, segment: str, *, smart: bool) -> dict[str, Any]:
        """The order a modify/cancel names, if it can still change. A smart order (a GTT leg
        included) is only found by /smart/order/*, any other only by /order/*: each family knows
        its own orders."""
        row = self._row(order_id)
        working = self._working.get(order_id)
        if (
            row is None or row["segment"] != segment or row["status"] in TERMINAL_STATUSES
            or (working is not None and working.smart != smart)
        ):  # fmt: skip
            raise _reject(400, "OrderException", _NOT_FOUND)
        return row

    def _contract_of(self, row: dict[str, Any]) -> FnoContract | None:
        if row["segment"] != "DERIVATIVE":
            return None
        return self._fno().by_id.get((row["exchange"], row["security_id"]))

    def _tick_of(self, row: dict[str, Any]) -> Decimal:
        try:
            return self._instrument(row["exchange"], row["segment"], row["security_id"]).tick
        except _Rejected:  # the master was replaced since the order was placed
            return DEFAULT_TICK

    # --- the control API (/_sim/*) --------------------------------------------------------

    def _configure_fno(
        self, *, enabled: bool | None = None, exchanges: list[str] | None = None, today: str | None = None,
        real_size: bool | None = None,
    ) -> None:  # fmt: skip
        """POST /_sim/fno: account activation, the trading day, the master's size."""
        if enabled is not None:
            self.fno_enabled = bool(enabled)
        if exchanges is not None:
            self.fno_exchanges = set(exchanges)
        if today is not None:
            self.today = date.fromisoformat(today)
        if real_size is not None:
            self.fno_csv = generate_fno_master(self.today, real_size=True) if real_size else None

    def _configure_account(self, *, fills: bool | None = None, balance: Any = None) -> None:
        """POST /_sim/account: the exchange on or off, the cash at the start of the day."""
        with self._lock:
            if balance is not None:
                self.sod_balance = _decimal(balance)
            if fills is not None:
                self.fills = bool(fills)
                self._run_exchange()

    def _control(self, method: str, path: str, query: dict[str, str], body: bytes) -> _Reply:
        try:
            payload = json.loads(body) if body else {}
            if (method, path) == ("GET", "/_sim/requests"):
                return _json_reply(200, {"requests": [r.as_json() for r in self.requests(query.get("path"))]})
            if (method, path) == ("GET", "/_sim/orders"):
                return _json_reply(200, {"orders": self.orders})
            if (method, path) == ("POST", "/_sim/faults"):
                self.inject_fault(payload.pop("path"), payload.pop("kind"), **payload)
            elif (method, path) == ("POST", "/_sim/tokens"):
                if not isinstance(payload["tokens"], list):
                    raise TypeError("tokens must be a list")
                self.set_tokens(payload["tokens"])
            elif (method, path) == ("POST", "/_sim/generation"):
                self.configure_generation(**payload)
            elif (method, path) == ("POST", "/_sim/reset"):
                self.reset()
            elif (method, path) == ("POST", "/_sim/spot"):
                self.set_spot(payload["underlying"], payload["price"])
            elif (method, path) == ("POST", "/_sim/price"):
                self.set_price(payload["exchange"], payload["security_id"], payload["price"])
            elif (method, path) == ("POST", "/_sim/account"):
                self._configure_account(**payload)
            elif (method, path) == ("POST", "/_sim/fno"):
                self._configure_fno(**payload)
            elif (method, path) == ("POST", "/_sim/order-status"):
                self.set_order_status(payload.pop("order_id"), payload.pop("status"), **payload)
            else:
                return _json_reply(404, {"error": f"no control call {method} {path}"})
        except (ValueError, KeyError, TypeError, AttributeError) as problem:
            return _json_reply(400, {"error": f"{type(problem).__name__}: {problem}"})
        return _json_reply(200, {"status": "ok"})


# Quote code prefix → (the master's EXCH, whether it names a cash row).
_QUOTE_SEGMENTS = {"NSE": ("NSE", True), "BSE": ("BSE", True), "NFO": ("NSE", False), "BFO": ("BSE", False)}
# Index quote prefix → the index master's EXCH (ids as in `source=index`).
_INDEX_QUOTE_SEGMENTS = {"NIDX": "NSE", "BIDX": "BSE"}


def _query_date(text: str | None) -> date | None:
    """A `YYYY-MM-DD` query parameter, None if absent or malformed."""
    try:
        return date.fromisoformat(text) if text and len(text) == 10 else None
    except ValueError:
        return None


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def _average(value: Decimal, qty: int) -> float:
    return float((value / qty).quantize(Decimal("0.0001"))) if qty else 0.0


def _position_row(position: _Position) -> dict[str, Any]:
    """One row of GET /portfolio/positions (PositionsResponse in the spec). No carried positions:
    the cf_* figures are null. A derivative on an index shows an empty `exchange`, as INDstocks'
    derivative index positions may (api doc §6)."""
    instrument, contract = position.instrument, position.instrument.contract
    on_index = contract is not None and contract.instrument.endswith("IDX")
    row: dict[str, Any] = {
        "position_id": f"{instrument.exchange}-{position.segment}-{instrument.security_id}-{position.product}",
        "security_id": instrument.security_id, "symbol": instrument.symbol or instrument.name,
        "segment": position.segment, "product": position.product, "exchange": "" if on_index else instrument.exchange,
        "isin": "", "net_qty": position.net_qty, "avg_price": float(position.avg_price),
        "buy_qty": position.buy_qty, "buy_avg": _average(position.buy_value, position.buy_qty),
        "sell_qty": position.sell_qty, "sell_avg": _average(position.sell_value, position.sell_qty),
        "realized_profit": float(position.realized_profit),
        "day_buy_qty": position.buy_qty, "day_buy_val": _money(position.buy_value),
        "day_sell_qty": position.sell_qty, "day_sell_val": _money(position.sell_value),
        "cf_buy_qty": None, "cf_buy_val": None, "cf_sell_qty": None, "cf_sell_val": None,
    }  # fmt: skip
    if contract is not None:
        row.update(
            drv_instrument=contract.instrument, drv_expiry_date=f"{contract.expiry:%m/%d/%Y} 14:30",
            drv_option_type=contract.option_type or "", drv_strike_price=float(contract.strike or 0),
        )  # fmt: skip
    return row


def _check_query(request: RecordedRequest) -> None:
    """The query parameters conform to the operation's (enums and case included), else 400 InputException."""
    errors = query_errors(request.method, request.path, request.query)
    if errors:
        raise _reject(400, "InputException", "; ".join(errors))


def _is_order_write(request: RecordedRequest) -> bool:
    return request.method == "POST" and request.path in ORDER_WRITE_PATHS


def _conforming_body(request: RecordedRequest) -> dict[str, Any]:
    """The JSON body if it conforms to the operation's schema; else 400 InputException, as INDstocks answers."""
    try:
        body = json.loads(request.body)
    except ValueError:
        raise _reject(400, "InputException", "request body is not valid JSON") from None
    errors = request_errors(request.method, request.path, body)
    if errors:
        raise _reject(400, "InputException", "; ".join(errors))
    return body


def _check_derivative(body: dict[str, Any], contract: FnoContract) -> None:
    """What INDstocks refuses on a derivative order beyond the equity checks (api doc §4.1, F&O facts)."""
    if body["product"] == "CNC":
        raise _reject(400, "OrderException", "CNC product is not allowed for derivatives; use MARGIN or INTRADAY")
    _check_lot_and_freeze(body["qty"], contract)


def _check_lot_and_freeze(qty: int, contract: FnoContract) -> None:
    if qty % contract.lot:
        raise _reject(400, "OrderException", f"QtyMultipleOfLotSize: Qty should be a multiple of lot size {contract.lot}")
    freeze = _FREEZE.get((contract.exchange, contract.underlying))
    if freeze is not None and qty >= freeze:  # "below the freeze qty": equal is refused too
        raise _reject(400, "OrderException", "QtyWithinFreezeQty: Qty should be less than freeze qty")


def _check_price(field: str, value: Any, tick: Decimal) -> None:
    price = _decimal(value)
    if price <= 0:
        raise _reject(400, "InputException", f"{field} must be above zero")
    if price % tick != 0:
        raise _reject(400, "OrderException", "price not a multiple of tick size")


def _tick(raw: str) -> Decimal:
    try:
        tick = Decimal(raw)
    except InvalidOperation:
        return DEFAULT_TICK
    return tick if tick.is_finite() and tick > 0 else DEFAULT_TICK


def _index_instruments(text: str) -> dict[tuple[str, str], _Instrument]:
    """(EXCH, SECURITY_ID) → instrument, for the order checks; empty if the text is no master."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, [])
    if not {"EXCH", "SEGMENT", "SECURITY_ID", "TICK_SIZE"}.issubset(header):
        return {}
    index: dict[tuple[str, str], _Instrument] = {}
    for row in rows:
        cells = dict(zip(header, row))
        exchange, security_id = cells.get("EXCH", ""), cells.get("SECURITY_ID", "")
        name, tick = cells.get("CUSTOM_SYMBOL", ""), _tick(cells.get("TICK_SIZE", ""))
        segment, symbol = cells.get("SEGMENT", ""), cells.get("TRADING_SYMBOL", "")
        index[(exchange, security_id)] = _Instrument(exchange, segment, security_id, name, tick, symbol)
    return index


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Answers go out in several small writes; with Nagle on, a keep-alive client waits ~40 ms
    # for each (delayed ACK). A real broker answers at once, so neither should we.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        simulator = self.server.simulator
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = self.rfile.read(length) if length > 0 else b""
        if url.path.startswith("/_sim/"):
            reply: _Reply | None = simulator._control(self.command, url.path, query, body)
        else:
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = simulator._respond(simulator._record(self.command, url.path, query, headers, body))
        if reply is None:
            self._reset_connection()
        else:
            self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _send(self, reply: _Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client gave up (e.g. it timed out during a "timeout" fault)
            self.close_connection = True

    def _reset_connection(self) -> None:
        """Drop the connection with a TCP RST and no HTTP answer at all."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        # The socket really closes (with SO_LINGER 0: a reset) once its file objects are closed too.
        self.rfile.close()
        self.wfile.close()
        self.wfile = io.BytesIO()  # http.server flushes wfile after the handler returns
        self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines and status codes only: never headers (the token) or bodies.
        if self.server.simulator.log_requests:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: IndstocksSimulator):
        super().__init__(address, _Handler)
        self.simulator = simulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the INDstocks simulator until SIGINT/SIGTERM.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--token", action="append", dest="tokens", help="a live access token (repeatable)")
    parser.add_argument("--today", type=date.fromisoformat, help="the F&O trading day, YYYY-MM-DD (default: today, IST)")
    parser.add_argument("--fno-real-size", action="store_true", help="serve a ~100 000-row F&O master")
    parser.add_argument("--fills", action="store_true", help="run the exchange: orders fill, positions and funds move")
    parser.add_argument("--balance", type=Decimal, default=DEFAULT_BALANCE, help="the account's cash at the start of the day")
    options = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    tokens = options.tokens or ("sim-token",)
    with IndstocksSimulator(options.host, options.port, tokens, log_requests=True, today=options.today,
                            fills=options.fills, balance=options.balance) as simulator:
        if options.fno_real_size:
            simulator.fno_csv = generate_fno_master(simulator.today, real_size=True)
        print(f"INDstocks simulator listening on {simulator.url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
