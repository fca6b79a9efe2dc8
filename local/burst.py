"""A bar close's burst through the local stack, measured: what tests/test_burst.py checks and
`make bench` reports (bench/run.py `burst`).

`alerts` distinct alerts at once, as a TradingView watchlist alert fires them at a bar close:
most of them from a thread pool, one per symbol of a watchlist the simulator is given
(`add_watchlist`), and a series on one symbol (NSE:SBIN) sent one after another, each once the
one before it was answered, so their arrival order is known. Then the book is watched until every answered alert's order is in it.
Each order carries its alert's id in its remarks (tvr:<alert_id>:<nonce>), so the simulator's
writes say which alert each one is for: lost (never written), duplicated (written twice), and the
series' writes in arrival order or not.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

SERIES_SYMBOL = "NSE:SBIN"
WATCHLIST_FIRST_ID = 700000


def watchlist_symbol(n: int) -> str:
    return f"WATCH{n:03d}"


def add_watchlist(simulator: Any, symbols: int) -> list[str]:
    """`symbols` more NSE cash instruments in the simulator's master (WATCH000, …), with a last
    price; before the relay first loads the master. Returns their TradingView symbols."""
    from decimal import Decimal

    header, *rows = simulator.instruments_csv.strip().splitlines()
    columns = header.split(",")
    for n in range(symbols):
        security_id, ticker = str(WATCHLIST_FIRST_ID + n), watchlist_symbol(n)
        values = {"EXCH": "NSE", "SEGMENT": "E", "SECURITY_ID": security_id, "INSTRUMENT_NAME": "EQUITY",
                  "TRADING_SYMBOL": ticker, "LOT_UNITS": "1", "CUSTOM_SYMBOL": ticker, "TICK_SIZE": "0.05",
                  "SERIES": "EQ", "SYMBOL_NAME": f"WATCHLIST STOCK {n}"}
        rows.append(",".join(values.get(column, "") for column in columns))
        simulator.ltp[security_id] = Decimal("812.35")
    simulator.instruments_csv = "\n".join([header, *rows]) + "\n"
    return [f"NSE:{watchlist_symbol(n)}" for n in range(symbols)]
ANSWERED = ("placed", "queued")


@dataclass
class Answer:
    alert_id: str
    status_code: int
    status: str
    ms: float


@dataclass
class BurstReport:
    alerts: int
    answers: list[Answer]
    series: list[str]  # the series' alert ids, in the order they were sent
    seconds_to_answer_all: float
    seconds_to_drain: float | None  # first alert sent → last order written; None: not all were
    seconds_to_last_write: float | None  # first alert sent → the last order written, all or not
    busiest_second: int  # most order writes the simulator received within any one second
    lost: list[str]  # answered placed/queued, never written
    duplicated: list[str]  # written more than once
    series_in_order: bool
    series_writes: list[str] = field(default_factory=list)  # the series' alert ids in write order
    written: set[str] = field(default_factory=set)  # the alerts with an order in the book

    @property
    def max_answer_ms(self) -> float:
        return max(answer.ms for answer in self.answers)

    def count(self, status: str) -> int:
        return sum(1 for answer in self.answers if answer.status == status)

    @property
    def other(self) -> dict[str, int]:
        return dict(Counter(a.status for a in self.answers if a.status not in ANSWERED))

    @property
    def in_book(self) -> int:
        return len(self.written)


def alert_of(remarks: str | None) -> str | None:
    """The alert id in an order's remarks tag (tvr:<alert_id>:<nonce>)."""
    parts = (remarks or "").split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "tvr" else None


def busiest_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    return max((sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps), default=0)


def run_burst(stack: Any, symbols: list[str], *, alerts: int = 100, series: int = 10, prefix: str = "burst",
              drain_timeout: float = 15.0) -> BurstReport:
    """`symbols`: the pool's, one alert each in turn (add_watchlist's, for a watchlist's burst)."""
    simulator = stack.simulator
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=alerts))

    def body(alert_id: str, symbol: str) -> dict[str, Any]:  # with {{close}}, as the README's template sends
        return {"secret": stack.webhook_secret, "symbol": symbol, "action": "buy", "quantity": 1,
                "price": "812.35", "alert_id": alert_id}

    def send(alert_id: str, symbol: str) -> Answer:
        sent = time.perf_counter()
        try:
            response = session.post(stack.webhook_url, json=body(alert_id, symbol), timeout=60)
            reply = response.json()
            status, code = reply.get("status") or reply.get("error", "no answer"), response.status_code
        except (requests.RequestException, ValueError) as failure:  # counted, not raised
            status, code = type(failure).__name__, 0
        return Answer(alert_id, code, status, (time.perf_counter() - sent) * 1000)

    series_ids = [f"{prefix}-series-{n:02d}" for n in range(series)]
    pool_ids = [f"{prefix}-{n:03d}" for n in range(alerts - series)]

    def send_series() -> list[Answer]:
        return [send(alert_id, SERIES_SYMBOL) for alert_id in series_ids]

    started_wall, started = time.monotonic(), time.perf_counter()  # the simulator stamps with time.monotonic
    with ThreadPoolExecutor(max_workers=alerts) as pool:
        series_answers = pool.submit(send_series)
        answers = list(pool.map(lambda n: send(pool_ids[n], symbols[n % len(symbols)]), range(len(pool_ids))))
        answers += series_answers.result()
    answered = time.perf_counter() - started

    expected = {a.alert_id for a in answers if a.status in ANSWERED}

    def written() -> list[tuple[str | None, float]]:
        return [(alert_of((w.json or {}).get("remarks")), w.received_at) for w in simulator.order_writes()]

    deadline = time.monotonic() + drain_timeout - answered
    while time.monotonic() < deadline and not expected <= {alert for alert, _ in written()}:
        time.sleep(0.05)
    time.sleep(1.0)  # a second delivery, if any, writes within this
    writes = written()
    counts = Counter(alert for alert, _ in writes)
    complete = expected <= set(counts)
    series_writes = [alert for alert, _ in sorted(writes, key=lambda w: w[1]) if alert in series_ids]
    series_expected = [alert_id for alert_id in series_ids if alert_id in expected]
    stamps = [t for alert, t in writes if alert in expected]
    last = round(max(stamps) - started_wall, 2) if stamps else None
    return BurstReport(
        alerts=alerts, answers=answers, series=series_ids, seconds_to_answer_all=round(answered, 2),
        seconds_to_drain=last if complete else None, seconds_to_last_write=last,
        busiest_second=busiest_second([t for _, t in writes]),
        lost=sorted(expected - set(counts)), duplicated=sorted(alert for alert, n in counts.items() if n > 1 and alert),
        series_in_order=series_writes == series_expected, series_writes=series_writes, written=set(counts) - {None},
    )
