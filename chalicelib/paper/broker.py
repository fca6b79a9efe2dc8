"""PaperBroker: the broker client's surface, with no order write ever leaving.

Market data (instruments, option chain, last prices, profile) is read from INDstocks through
the live client, read-only. Order writes (`place`, `cancel_order`) and the account's reads
(order book, positions, funds, trade book) are answered from the paper book (paper/exchange.py),
kept as one item of the stage's state table per account: read, changed, written back on the
condition that nobody wrote it meanwhile (else read and changed again). A write answers the
`WriteResult` INDstocks' reply would classify to, with a `PAPER-…` order id.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.broker import BrokerClient, OrderWrite, Outcome, WriteResult, cancel_write
from chalicelib.config import IST
from chalicelib.deadline import Timeouts
from chalicelib.errors import DependencyUnavailable, RelayError, TokenUnavailable
from chalicelib.paper import exchange
from chalicelib.portfolio import POSITION_READS, Funds, LastPrices, Position, funds_from_data, positions_from_rows
from chalicelib.state import DynamoTable

# Writers that found the book changed under them read it again; a burst of paper alerts on one
# account contends for one item, so a few more than once, with a little jitter.
_ATTEMPTS = 12
_BOOK_RETENTION_SECONDS = 8 * 86400
_PLACING_PATHS = ("/order", "/smart/order", "/order/modify", "/smart/order/modify")


class PaperStore(DynamoTable):
    """One paper book per account: `pk` `paper-book#<account>`, the book compressed, a version."""

    unavailable = "the paper book is unavailable; nothing was placed"

    def __init__(self, client_factory: Callable[[], Any], table_name: str, account: str = "default"):
        super().__init__(client_factory, table_name)
        self._key = {"pk": {"S": f"paper-book#{account}"}}

    def load(self) -> tuple[dict[str, Any] | None, int]:
        item = self._call("get_item", Key=self._key, ConsistentRead=True).get("Item")
        if not item:
            return None, 0
        return json.loads(zlib.decompress(item["book"]["B"])), int(item["version"]["N"])

    def save(self, book: dict[str, Any], version: int, now: float) -> bool:
        """Write the book unless another writer changed it since `version` was read."""
        try:
            self._call(
                "put_item",
                Item={**self._key, "book": {"B": zlib.compress(json.dumps(book, separators=(",", ":")).encode())},
                      "version": {"N": str(version + 1)}, "expires_at": {"N": str(int(now) + _BOOK_RETENTION_SECONDS)}},
                ConditionExpression="attribute_not_exists(pk) OR version = :seen",
                ExpressionAttributeValues={":seen": {"N": str(version)}},
            )
        except ClientError:
            return False
        return True


class PaperBroker(BrokerClient):
    """A BrokerClient that trades on paper. `capital`: the starting cash of each day (PAPER_FUNDS).

    A subclass so that it goes wherever the live client goes, but it never calls the client's
    constructor: it has no session of its own, so a method it does not override that would
    send anything (`generate_token`, a write added later) fails instead of reaching INDstocks.
    Every method it answers is overridden below; tests/test_paper.py checks the list."""

    paper = True

    def __init__(self, live: BrokerClient, store: PaperStore, capital: Decimal, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.live = live
        self._store = store
        self._capital = capital
        self._clock = clock
        self._sleep = sleep

    # --- market data: INDstocks, read-only --------------------------------------------------

    def profile(self, token: str) -> dict[str, Any]:
        return self.live.profile(token)

    def instruments_csv(self, token: str, source: str = "equity", timeout: float | None = None) -> str:
        return self.live.instruments_csv(token, source, timeout=timeout)

    def option_chain(self, token: str, params: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        return self.live.option_chain(token, params, timeout=timeout)

    def last_price(self, token: str, exchange_name: str, security_id: str) -> Decimal:
        return self.live.last_price(token, exchange_name, security_id)

    def last_prices(self, token: str, codes: Sequence[str], *, timeout: float | None = None,
                    max_requests: int = 16) -> LastPrices:
        return self.live.last_prices(token, codes, timeout=timeout, max_requests=max_requests)

    # --- writes: the paper book -------------------------------------------------------------

    def place(self, token: str, write: OrderWrite, *, timeouts: Timeouts | None = None) -> WriteResult:
        """Answer one order write from the paper book. Never raises: a failure of the relay's own
        (the book or the price unavailable) is NOT_SENT, which is true: nothing was placed."""
        try:
            last = self._last(token, write) if write.path in _PLACING_PATHS else None
            if write.path in ("/order", "/smart/order") and write.body.get("order_type") == "MARKET" and last is None:
                return WriteResult(Outcome.NOT_SENT, "paper: no last price to fill the MARKET order at; nothing placed")
            placed = self._change(lambda book, now: exchange.place(book, write.path, write.body, last,
                                                                   self._capital, now))
        except exchange.Refused as refused:
            return WriteResult(Outcome.REJECTED, f"paper: {refused.message}", http_status=400,
                               error_type=refused.error_type)
        except TokenUnavailable:
            return WriteResult(Outcome.TOKEN_INVALID, "paper: the token could not read the last price",
                               error_type="TokenException")
        except RelayError as error:
            return WriteResult(Outcome.NOT_SENT, f"paper: {error.public_message}")
        return WriteResult(Outcome.PLACED, order_id=placed.order_id, order_status=placed.order_status,
                           http_status=200)

    def cancel_order(self, token: str, order_id: str, segment: str, *, smart: bool,
                     timeouts: Timeouts | None = None) -> WriteResult:
        return self.place(token, cancel_write(order_id, segment, smart=smart), timeouts=timeouts)

    def run_exchange(self, token: str) -> list[str]:
        """The minute sweep's look at the resting paper orders: one batch of last prices for
        every instrument with a working order, then fills, triggers and OCO legs. The ids filled."""
        book, _ = self._load()
        codes = exchange.working_codes(book)
        if not codes:
            return []
        prices = dict(self.live.last_prices(token, codes).prices)
        return self._change(lambda book, now: exchange.run(book, prices, now))

    # --- the account: the paper book --------------------------------------------------------

    def order_book(self, token: str, timeout: float | None = None) -> list[dict[str, Any]]:
        return exchange.public_rows(self._load()[0])

    def positions(self, token: str, *, timeout: float | None = None,
                  reads: Iterable[tuple[str, str]] = POSITION_READS) -> list[Position]:
        rows = [position.row() for position in exchange.position_book(self._load()[0]).values()]
        found: list[Position] = []
        for segment, product in reads:
            if (segment, product) not in POSITION_READS:
                raise ValueError(f"INDstocks takes no positions read for {segment}/{product}")
            found += positions_from_rows([row for row in rows if (row["segment"], row["product"]) ==
                                          (segment.upper(), product.upper())], segment, product)
        return found

    def funds(self, token: str, *, timeout: float | None = None) -> Funds:
        return funds_from_data(exchange.funds_data(self._load()[0], self._capital))

    def trade_book(self, token: str, segment: str = "EQUITY") -> list[dict[str, Any]]:
        return [fill for fill in self._load()[0]["fills"] if fill["segment"] == segment]

    # --- the book ---------------------------------------------------------------------------

    def _day(self, now: float) -> str:
        return datetime.fromtimestamp(now, IST).date().isoformat()

    def _load(self) -> tuple[dict[str, Any], int]:
        """Today's book (a new day starts flat) and the version it was read at."""
        book, version = self._store.load()
        today = self._day(self._clock())
        return (book if book is not None and book.get("day") == today else exchange.new_book(today)), version

    def _change(self, change: Callable[[dict[str, Any], str], Any]) -> Any:
        for _ in range(_ATTEMPTS):
            book, version = self._load()
            now = self._clock()
            result = change(book, datetime.fromtimestamp(now, IST).isoformat(timespec="seconds"))
            if self._store.save(book, version, now):
                return result
            self._sleep(random.uniform(0.005, 0.03))  # noqa: S311 - jitter, not a secret
        raise DependencyUnavailable("the paper book was too busy to change; nothing was placed", cause="contended")

    def _last(self, token: str, write: OrderWrite) -> Decimal | None:
        """The last price of the write's instrument (a modify: of the order it names), or None."""
        body = write.body
        if "security_id" not in body:
            row = next((row for row in self._load()[0]["orders"] if row["id"] == body.get("order_id")), None)
            if row is None:
                return None
            code = exchange.row_code(row)
        elif isinstance(body.get("exchange"), str) and isinstance(body.get("segment"), str):
            code = exchange.quote_code(body["exchange"], body["segment"], str(body["security_id"]))
        else:
            return None  # refused by the schema check
        try:
            return self.live.last_prices(token, [code]).prices.get(code)
        except TokenUnavailable:
            raise
        except (RelayError, ValueError):
            return None
