"""The INDstocks HTTP client.

Money-safety rules live here (../docs: indstocks-api §9, §12):
- an order write is sent at most once per call; nothing in this module ever resends it;
- a write counts as placed only on HTTP 2xx + `status == "success"` + an order id;
- a timeout, reset, 5xx, 429, non-JSON (e.g. a Cloudflare page) or shape-E reply is an
  UNKNOWN outcome (the order may exist), never a failure to retry;
- only a failure before the first request byte was handed to the socket proves the request never
  left: DNS, a refused or timed-out connect, a failed TLS handshake (untrusted certificate, the
  server closing mid-handshake). That is NOT_SENT; every other failure is UNKNOWN.

The exception's type proves nothing: urllib3 raises the same `SSLError` for a failed handshake and
for a corrupt record in the reply, and the same `ConnectionError` for a refused connect and a reset
after the body went out. So the session's adapter traces each request on its own connections: did
it try to connect, did it start writing. NOT_SENT needs that trace to say "connect tried, nothing
written". A pooled connection that breaks on the first write is UNKNOWN (its bytes may have reached
the broker); a request the trace did not see (a proxy's connections, another adapter mounted for
the broker's URL) is UNKNOWN on any failure. The adapter also never retries anything.

`classify_write_reply` is a pure function over (HTTP status, body) so every reply shape is one
row in a test table.
"""

from __future__ import annotations

import json
import re
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from chalicelib.deadline import Timeouts
from chalicelib.errors import DependencyUnavailable, TokenGenerationFailed, TokenUnavailable, failure_cause
from chalicelib.portfolio import (
    MAX_QUOTE_CODES,
    POSITION_READS,
    Funds,
    LastPrices,
    Position,
    funds_from_data,
    positions_from_rows,
    quote_price,
)

_MAX_MESSAGE = 300
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
_TOKEN_ERROR_KINDS = {"TokenException"}


class Outcome(str, Enum):
    PLACED = "placed"
    REJECTED = "rejected"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - an outcome name, not a secret
    UNKNOWN = "unknown"
    NOT_SENT = "not_sent"
    # Set by the relay, never by the broker client: a second write (after a TokenException,
    # which places nothing) found no pacing slot within the wait and was left for the sweep.
    QUEUED = "queued"


@dataclass(frozen=True)
class WriteResult:
    outcome: Outcome
    message: str = ""
    order_id: str | None = None
    order_status: str | None = None
    http_status: int | None = None
    error_type: str | None = None
    timed_out: bool = False


@dataclass(frozen=True)
class OrderWrite:
    """One order write: the endpoint and the exact JSON body INDstocks receives."""

    path: str
    body: dict[str, Any]

    @property
    def is_smart(self) -> bool:
        return self.path.startswith("/smart/")


def _clean(message: Any) -> str:
    text = _CONTROL_CHARS.sub(" ", str(message)).strip()
    return text[:_MAX_MESSAGE]


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _error_kind(payload: dict[str, Any]) -> str | None:
    # Shape A says `error_type`, the Conventions page prints `error_code` (open question 6).
    kind = payload.get("error_type") or payload.get("error_code")
    return str(kind) if kind else None


def _broker_message(payload: dict[str, Any]) -> str:
    error = payload.get("error")
    if isinstance(error, dict) and error.get("msg"):
        return _clean(error["msg"])
    for key in ("message", "debug_info", "error"):
        if payload.get(key):
            return _clean(payload[key])
    return ""


def _is_shape_e(payload: dict[str, Any]) -> bool:
    return payload.get("status") == "failure" or isinstance(payload.get("error"), dict)


def _placed_order(payload: dict[str, Any]) -> tuple[str, str | None] | None:
    """The order id of a success envelope, for /order and /smart/order alike."""
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    legs = data.get("order_data")
    if isinstance(legs, list) and legs and isinstance(legs[0], dict):
        data = legs[0]
    order_id = data.get("order_id")
    if isinstance(order_id, str) and order_id.strip():
        status = data.get("order_status")
        return order_id.strip(), str(status) if status else None
    return None


def classify_write_reply(http_status: int, body: bytes) -> WriteResult:
    """Decide what an order-write reply means. Pure; every branch is a row in the tests."""
    payload = _json_object(body)
    if payload is None:
        return WriteResult(
            Outcome.UNKNOWN, f"HTTP {http_status} with a reply that is not JSON", http_status=http_status
        )
    kind = _error_kind(payload)
    message = _broker_message(payload)
    if 200 <= http_status < 300:
        placed = _placed_order(payload) if payload.get("status") == "success" else None
        if placed:
            return WriteResult(
                Outcome.PLACED, order_id=placed[0], order_status=placed[1], http_status=http_status
            )
        return WriteResult(
            Outcome.UNKNOWN,
            message or "success reply without an order id",
            http_status=http_status,
            error_type=kind,
        )
    if _is_shape_e(payload):
        # e.g. "no order number in rs response": the order has been seen in the book afterwards.
        return WriteResult(Outcome.UNKNOWN, message, http_status=http_status, error_type=kind)
    if http_status in (401, 403) and (kind in _TOKEN_ERROR_KINDS or (http_status == 401 and not kind)):
        return WriteResult(Outcome.TOKEN_INVALID, message, http_status=http_status, error_type=kind)
    if http_status in (408, 429) or http_status >= 500:
        return WriteResult(Outcome.UNKNOWN, message or f"HTTP {http_status}", http_status=http_status, error_type=kind)
    if 400 <= http_status < 500:
        return WriteResult(
            Outcome.REJECTED, message or f"HTTP {http_status}", http_status=http_status, error_type=kind
        )
    return WriteResult(Outcome.UNKNOWN, message or f"HTTP {http_status}", http_status=http_status, error_type=kind)


class _WriteTrace:
    """What the traced connections did for one request."""

    __slots__ = ("connecting", "writing")

    def __init__(self) -> None:
        self.connecting = False  # a connect (TCP, then TLS) was attempted
        self.writing = False  # a request byte was handed to the socket


# The request being sent on this thread, so its connection can report to it; per prepared request,
# what happened (kept while the request, and so the exception raised for it, is alive).
_current_trace: ContextVar[_WriteTrace | None] = ContextVar("indstocks_write_trace", default=None)
_traces: weakref.WeakKeyDictionary[Any, _WriteTrace] = weakref.WeakKeyDictionary()


class _TracedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        trace = _current_trace.get()
        if trace is not None:
            trace.connecting = True
        super().connect()

    def send(self, data: Any) -> None:
        if self.sock is None:  # http.client connects lazily here: connect first, so failing it writes nothing
            self.connect()
        trace = _current_trace.get()
        if trace is not None:
            trace.writing = True  # before the write: a failing sendall may still have sent bytes
        super().send(data)


class _TracedHTTPSConnection(_TracedHTTPConnection, HTTPSConnection):
    """The TLS handshake runs inside `connect`, so its failures stay before any write."""


class _TracedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TracedHTTPConnection


class _TracedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TracedHTTPSConnection


class _WriteTracingAdapter(HTTPAdapter):
    """requests' adapter with no retries (the default), on connections that trace each request."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TracedHTTPPool, "https": _TracedHTTPSPool}

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        trace = _traces[request] = _WriteTrace()
        token = _current_trace.set(trace)
        try:
            return super().send(request, *args, **kwargs)
        finally:
            _current_trace.reset(token)


def _trace_writes(session: requests.Session) -> requests.Session:
    """Send the broker's requests through the tracing adapter, whatever the factory built."""
    for prefix in ("https://", "http://"):
        session.mount(prefix, _WriteTracingAdapter())
    return session


def _never_left(error: requests.RequestException) -> bool:
    """True only when the failed request's trace shows a connect attempt and no byte written."""
    request = getattr(error, "request", None)
    trace = _traces.get(request) if request is not None else None
    return trace is not None and trace.connecting and not trace.writing


def cancel_write(order_id: str, segment: str, *, smart: bool) -> OrderWrite:
    """The cancel of one order by its own id: `/smart/order/cancel` for a smart order or a GTT
    leg, `/order/cancel` for any other; `segment` from the order book row."""
    if segment not in ("EQUITY", "DERIVATIVE"):
        raise ValueError(f"segment must be EQUITY or DERIVATIVE, not {segment!r}")
    return OrderWrite("/smart/order/cancel" if smart else "/order/cancel", {"order_id": order_id, "segment": segment})


class BrokerClient:
    """One pooled HTTP session to INDstocks, reused across warm invocations."""

    paper = False  # chalicelib.paper.PaperBroker: True (nothing it does reaches a write endpoint)

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        idle_reset_seconds: float = 240,
        session_factory: Callable[[], requests.Session] = requests.Session,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base_url = base_url.rstrip("/")
        self._timeouts = (connect_timeout, read_timeout)
        self._idle_reset = idle_reset_seconds
        self._session_factory = session_factory
        self._session: requests.Session | None = None
        self._clock = clock
        self._last_used = 0.0

    def _fresh_session(self) -> requests.Session:
        """The shared session, minus connections the NAT gateway has probably forgotten."""
        now = self._clock()
        if self._session is None:
            self._session = _trace_writes(self._session_factory())
        elif now - self._last_used > self._idle_reset:
            self._session.close()  # drops pooled sockets; the session stays usable
        self._last_used = now
        return self._session

    def _headers(self, token: str) -> dict[str, str]:
        # Raw token, no "Bearer" prefix (indstocks-api §2.1).
        return {"Authorization": token, "Content-Type": "application/json", "Accept": "application/json"}

    def place(self, token: str, write: OrderWrite, *, timeouts: Timeouts | None = None) -> WriteResult:
        """Send one order write exactly once and classify what came back. `timeouts`: the ones the
        invocation's deadline leaves (default: the configured ones)."""
        session = self._fresh_session()
        try:
            reply = session.post(
                self.base_url + write.path,
                data=json.dumps(write.body, separators=(",", ":")),
                headers=self._headers(token),
                timeout=(timeouts.connect, timeouts.read) if timeouts else self._timeouts,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            if _never_left(error):
                return WriteResult(Outcome.NOT_SENT, "could not connect to INDstocks; the order was not sent")
            timed_out = isinstance(error, requests.Timeout)
            reason = "no reply from INDstocks in time" if timed_out else "the connection to INDstocks failed"
            return WriteResult(Outcome.UNKNOWN, reason, timed_out=timed_out)
        return classify_write_reply(reply.status_code, reply.content)

    def _read(
        self, token: str, path: str, *, timeout: float | None = None, params: dict[str, str] | None = None,
        passthrough: frozenset[int] = frozenset(),
    ) -> requests.Response:  # fmt: skip
        """A GET that is safe to repeat; token and availability problems become relay errors.
        A reply whose status is in `passthrough` is returned for the caller to read."""
        session = self._fresh_session()
        try:
            reply = session.get(
                self.base_url + path,
                params=params,
                headers=self._headers(token),
                timeout=(self._timeouts[0], timeout or self._timeouts[1]),
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise DependencyUnavailable(
                "INDstocks is unreachable; the order was not sent", cause=failure_cause(error)
            ) from None
        if reply.status_code in (401, 403):
            payload = _json_object(reply.content) or {}
            if _error_kind(payload) in _TOKEN_ERROR_KINDS or reply.status_code == 401:
                raise TokenUnavailable()
        if not 200 <= reply.status_code < 300 and reply.status_code not in passthrough:
            raise DependencyUnavailable(f"INDstocks answered HTTP {reply.status_code}; the order was not sent")
        return reply

    def _success_data(self, token: str, path: str, what: str, *, timeout: float | None = None,
                      params: dict[str, str] | None = None) -> Any:  # fmt: skip
        """The `data` of a `{"status": "success", "data": …}` read."""
        payload = _json_object(self._read(token, path, timeout=timeout, params=params).content) or {}
        if payload.get("status") != "success" or "data" not in payload:
            raise DependencyUnavailable(f"INDstocks returned an unexpected {what} reply; the order was not sent")
        return payload["data"]

    def profile(self, token: str) -> dict[str, Any]:
        payload = _json_object(self._read(token, "/user/profile").content) or {}
        data = payload.get("data")
        if payload.get("status") != "success" or not isinstance(data, dict):
            raise DependencyUnavailable("INDstocks returned an unexpected profile reply")
        return data

    def instruments_csv(self, token: str, source: str = "equity", timeout: float | None = None) -> str:
        reply = self._read(token, "/market/instruments", timeout=timeout, params={"source": source})
        return reply.content.decode("utf-8-sig")

    def order_book(self, token: str, timeout: float | None = None) -> list[dict[str, Any]]:
        payload = _json_object(self._read(token, "/order-book", timeout=timeout).content) or {}
        data = payload.get("data")
        if payload.get("status") != "success" or not isinstance(data, list):
            raise DependencyUnavailable("INDstocks returned an unexpected order-book reply")
        return [row for row in data if isinstance(row, dict)]

    def option_chain(self, token: str, params: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """`GET /market/option-chain` (spot and leg ids of one expiry): a read, safe to repeat."""
        payload = _json_object(self._read(token, "/market/option-chain", timeout=timeout,
                                          params={name: str(value) for name, value in params.items()}).content) or {}
        data = payload.get("data")
        if payload.get("status") != "success" or not isinstance(data, dict):
            raise DependencyUnavailable("INDstocks returned an unexpected option-chain reply; the order was not sent")
        return data

    def last_price(self, token: str, exchange: str, security_id: str) -> Decimal:
        """The last traded price of one cash instrument (`GET /market/quotes/ltp`): a read."""
        code = f"{exchange}_{security_id}"
        payload = _json_object(self._read(token, "/market/quotes/ltp", params={"scrip-codes": code}).content) or {}
        data = payload.get("data")
        quote = data.get(code) if isinstance(data, dict) else None
        price = quote.get("live_price") if isinstance(quote, dict) else None
        try:
            value = Decimal(str(price)) if isinstance(price, (int, float, str)) and not isinstance(price, bool) else None
        except InvalidOperation:
            value = None
        if payload.get("status") != "success" or value is None or not value.is_finite() or value <= 0:
            raise DependencyUnavailable("INDstocks returned no usable last price")
        return value

    def positions(
        self, token: str, *, timeout: float | None = None, reads: Iterable[tuple[str, str]] = POSITION_READS
    ) -> list[Position]:
        """The day's positions, closed ones included: one `GET /portfolio/positions` per
        (segment, product) pair of `reads` (default: the four INDstocks takes), as one list.
        Reads, safe to repeat; one failing or unreadable read fails the call (a missing row would
        look like a flat position)."""
        found: list[Position] = []
        for segment, product in reads:
            if (segment, product) not in POSITION_READS:
                raise ValueError(f"INDstocks takes no positions read for {segment}/{product}")
            data = self._success_data(token, "/portfolio/positions", "positions", timeout=timeout,
                                      params={"segment": segment, "product": product})  # fmt: skip
            try:
                found += positions_from_rows(data, segment, product)
            except ValueError as problem:
                raise DependencyUnavailable(
                    f"INDstocks returned positions the relay cannot read ({problem}); the order was not sent"
                ) from None
        return found

    def funds(self, token: str, *, timeout: float | None = None) -> Funds:
        """`GET /funds`: tradable cash (`detailed_avl_balance.eq_cnc`), the derivative figures, P&L."""
        data = self._success_data(token, "/funds", "funds", timeout=timeout)
        try:
            return funds_from_data(data)
        except ValueError as problem:
            raise DependencyUnavailable(
                f"INDstocks returned funds the relay cannot read ({problem}); the order was not sent"
            ) from None

    def last_prices(
        self, token: str, codes: Sequence[str], *, timeout: float | None = None, max_requests: int = 16
    ) -> LastPrices:
        """Last prices of quote codes (`NSE_3045`, `NFO_35001`, …): `GET /market/quotes/ltp`, at
        most 1000 codes a request. One code INDstocks cannot quote makes it refuse the whole batch
        (HTTP 400, `success: false`, api doc §6): such a batch is halved until each such code stands
        alone, and those come back in `unquotable` beside the others' prices. More than
        `max_requests` requests (many unquotable codes) fail the call instead."""
        wanted = list(dict.fromkeys(codes))
        for code in wanted:
            if not code or "," in code or code != code.strip():
                raise ValueError(f"not a quote code: {code!r}")
        prices: dict[str, Decimal] = {}
        unquotable: set[str] = set()
        budget = [max_requests]
        for start in range(0, len(wanted), MAX_QUOTE_CODES):
            self._quote_batch(token, wanted[start : start + MAX_QUOTE_CODES], prices, unquotable, budget, timeout)
        return LastPrices(prices, frozenset(unquotable))

    def _quote_batch(
        self, token: str, codes: list[str], prices: dict[str, Decimal], unquotable: set[str], budget: list[int],
        timeout: float | None,
    ) -> None:  # fmt: skip
        if budget[0] <= 0:
            raise DependencyUnavailable("INDstocks could not quote too many of the codes; the order was not sent")
        budget[0] -= 1
        reply = self._read(token, "/market/quotes/ltp", timeout=timeout, params={"scrip-codes": ",".join(codes)},
                           passthrough=frozenset({400}))  # fmt: skip
        payload = _json_object(reply.content) or {}
        if reply.status_code == 400:
            if payload.get("success") is not False:
                raise DependencyUnavailable("INDstocks answered HTTP 400 to a quote read; the order was not sent")
            if len(codes) == 1:
                unquotable.add(codes[0])
                return
            middle = len(codes) // 2
            for half in (codes[:middle], codes[middle:]):
                self._quote_batch(token, half, prices, unquotable, budget, timeout)
            return
        data = payload.get("data")
        if payload.get("status") != "success" or not isinstance(data, dict):
            raise DependencyUnavailable("INDstocks returned an unexpected quote reply; the order was not sent")
        for code in codes:
            price = quote_price(data.get(code))
            if price is None:
                unquotable.add(code)
            else:
                prices[code] = price

    def cancel_order(
        self, token: str, order_id: str, segment: str, *, smart: bool, timeouts: Timeouts | None = None
    ) -> WriteResult:
        """Cancel one order by its own id: `POST /smart/order/cancel` for a smart order or any of
        its `GTT-` legs (`smart=True`), `POST /order/cancel` for any other; `segment` is the order
        book row's (a `GTT-` id does not tell it). A write like `place`: sent exactly once, never
        retried. PLACED means INDstocks accepted the cancel; REJECTED (e.g. "Position could not be
        found": already executed or cancelled) changed nothing; UNKNOWN must be settled from the
        order book."""
        return self.place(token, cancel_write(order_id, segment, smart=smart), timeouts=timeouts)

    def generate_token(self, client_id: str, mpin: str, totp: str) -> str:
        """POST /generate/token exactly once (a retry would burn a TOTP code and kill tokens)."""
        session = self._fresh_session()
        try:
            reply = session.post(
                self.base_url + "/generate/token",
                data=json.dumps({"mpin": mpin, "totp": totp}),
                headers={"x-api-key": client_id, "Content-Type": "application/json", "Accept": "application/json"},
                timeout=(self._timeouts[0], max(self._timeouts[1], 5.0)),
                allow_redirects=False,
            )
        except requests.RequestException:
            raise TokenGenerationFailed("INDstocks did not answer the token generation request") from None
        payload = _json_object(reply.content) or {}
        if not 200 <= reply.status_code < 300:
            detail = _broker_message(payload) or "no details"
            raise TokenGenerationFailed(f"INDstocks refused to generate a token (HTTP {reply.status_code}: {detail})")
        # Open question 4: the envelope is unconfirmed; read data.token, then top-level token.
        data = payload.get("data")
        token = (data.get("token") if isinstance(data, dict) else None) or payload.get("token")
        if not isinstance(token, str) or not token.strip():
            raise TokenGenerationFailed("INDstocks answered the token generation without a token")
        return token.strip()
