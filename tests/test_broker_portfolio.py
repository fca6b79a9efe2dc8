"""BrokerClient's portfolio reads and the cancel write, over real HTTP against the simulator's
exchange: positions in four reads, funds, last prices in batches (one unquotable code refuses a
whole batch), and cancels sent once on the right endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.broker import BrokerClient, OrderWrite, Outcome
from chalicelib.errors import DependencyUnavailable, TokenUnavailable
from chalicelib.portfolio import Position, net_position
from local.simulator import DEFAULT_BALANCE, IndstocksSimulator
from tests.conftest import SEEDED_TOKEN
from tests.test_simulator_fno import OCT27, TODAY, nifty

SBIN = ("NSE", "3045")


@pytest.fixture
def sim() -> Iterator[IndstocksSimulator]:
    with IndstocksSimulator(tokens=(SEEDED_TOKEN,), today=TODAY, fills=True) as simulator:
        simulator.rate_limit_writes = None
        yield simulator


@pytest.fixture
def broker(sim) -> BrokerClient:
    return BrokerClient(sim.url, connect_timeout=0.5, read_timeout=2.0)


def cash(**changes: Any) -> dict[str, Any]:
    body = {"txn_type": "BUY", "exchange": "NSE", "segment": "EQUITY", "product": "INTRADAY", "order_type": "MARKET",
            "validity": "DAY", "security_id": "3045", "qty": 10, "algo_id": "99999"}  # fmt: skip
    return {key: value for key, value in {**body, **changes}.items() if value is not None}


def derivative(contract: Any, **changes: Any) -> dict[str, Any]:
    return cash(**{"exchange": contract.exchange, "segment": "DERIVATIVE", "product": "MARGIN",
                   "security_id": contract.security_id, "qty": contract.lot, **changes})  # fmt: skip


def placed(broker: BrokerClient, body: dict[str, Any], path: str = "/order") -> str:
    result = broker.place(SEEDED_TOKEN, OrderWrite(path, body))
    assert result.outcome is Outcome.PLACED, result
    assert result.order_id is not None
    return result.order_id


# --- positions --------------------------------------------------------------------------------


def test_positions_are_four_reads_in_one_typed_list(sim, broker):
    option, future = nifty(sim), sim.find_contract("RELIANCE", OCT27)
    placed(broker, cash(product="CNC", qty=5))
    placed(broker, cash(qty=3))
    placed(broker, derivative(option))
    placed(broker, derivative(future, product="INTRADAY", txn_type="SELL"))
    rows = broker.positions(SEEDED_TOKEN)
    reads = [request.query for request in sim.requests("/portfolio/positions")]
    assert reads == [{"segment": "equity", "product": "cnc"}, {"segment": "equity", "product": "intraday"},
                     {"segment": "derivative", "product": "margin"}, {"segment": "derivative", "product": "intraday"}]  # fmt: skip
    assert all(isinstance(row, Position) for row in rows) and len(rows) == 4
    by_product = {(row.segment, row.product): row for row in rows}
    assert by_product[("EQUITY", "CNC")].net_qty == 5 and by_product[("EQUITY", "INTRADAY")].net_qty == 3
    assert by_product[("EQUITY", "CNC")].avg_price == Decimal("800") and by_product[("EQUITY", "CNC")].exchange == "NSE"
    index_option = by_product[("DERIVATIVE", "MARGIN")]
    assert (index_option.security_id, index_option.exchange, index_option.net_qty) == (option.security_id, None, 65)
    stock_future = by_product[("DERIVATIVE", "INTRADAY")]
    assert (stock_future.exchange, stock_future.net_qty, stock_future.avg_price) == ("NSE", -future.lot, sim.fno_price(future))
    assert net_position(rows, "3045", "INTRADAY", segment="EQUITY", exchange="NSE") == 3
    assert net_position(rows, option.security_id, "MARGIN", exchange="NSE") == 65


def test_positions_carry_the_days_closed_rows_and_realised_profit(sim, broker):
    placed(broker, cash(qty=10))
    sim.set_price(*SBIN, 812.5)
    placed(broker, cash(qty=10, txn_type="SELL"))
    [row] = broker.positions(SEEDED_TOKEN)
    assert (row.net_qty, row.realized_profit, row.buy_qty, row.sell_qty) == (0, Decimal("125"), 10, 10)
    assert row.unrealized(Decimal("900")) == 0


def test_positions_can_be_narrowed_to_some_reads_and_refuse_a_pair_indstocks_does_not_take(sim, broker):
    placed(broker, cash(product="CNC"))
    assert [row.product for row in broker.positions(SEEDED_TOKEN, reads=[("equity", "cnc")])] == ["CNC"]
    with pytest.raises(ValueError):
        broker.positions(SEEDED_TOKEN, reads=[("EQUITY", "CNC")])
    assert len(sim.requests("/portfolio/positions")) == 1


@pytest.mark.parametrize("kind", ["http500", "garbage", "cloudflare", "rate_limit"])
def test_one_failed_positions_read_fails_them_all(sim, broker, kind):
    placed(broker, cash())
    sim.inject_fault("/portfolio/positions", kind)
    with pytest.raises(DependencyUnavailable):
        broker.positions(SEEDED_TOKEN)
    assert len(sim.requests("/portfolio/positions")) == 1  # no retry, no partial list


def test_a_dead_token_is_token_unavailable(sim, broker):
    for read in (lambda: broker.positions("dead"), lambda: broker.funds("dead"), lambda: broker.last_prices("dead", ["NSE_3045"])):
        with pytest.raises(TokenUnavailable):
            read()


# --- funds ------------------------------------------------------------------------------------


def test_funds_are_read_as_typed_figures_that_follow_the_fills(sim, broker):
    funds = broker.funds(SEEDED_TOKEN)
    assert funds.tradable_cash == funds.sod_balance == DEFAULT_BALANCE and funds.realized_pnl == 0
    placed(broker, cash(product="CNC", qty=10))  # blocks 8000
    sim.set_price(*SBIN, 790)
    funds = broker.funds(SEEDED_TOKEN)
    assert funds.tradable_cash == DEFAULT_BALANCE - 8000 and funds.unrealized_pnl == Decimal("-100")
    assert funds.futures == funds.option_buy == funds.option_sell == funds.intraday_equity == funds.tradable_cash
    [position] = broker.positions(SEEDED_TOKEN)
    assert position.unrealized(Decimal("790")) == funds.unrealized_pnl


def test_an_unexpected_funds_reply_fails(sim, broker):
    sim.inject_fault("/funds", "shape_e")  # a 200 that is no success envelope
    with pytest.raises(DependencyUnavailable):
        broker.funds(SEEDED_TOKEN)


# --- last prices ------------------------------------------------------------------------------


def test_last_prices_of_cash_and_fno_codes_are_the_prices_fills_use(sim, broker):
    option = nifty(sim)
    sim.set_price(*SBIN, 812.35)
    code = f"NFO_{option.security_id}"
    quotes = broker.last_prices(SEEDED_TOKEN, ["NSE_3045", code, "NSE_3045", "BSE_500112"])
    assert quotes.prices == {"NSE_3045": Decimal("812.35"), code: sim.fno_price(option), "BSE_500112": Decimal("800")}
    assert quotes.unquotable == frozenset()
    [request] = sim.requests("/market/quotes/ltp")
    assert request.query == {"scrip-codes": f"NSE_3045,{code},BSE_500112"}  # each code once
    order_id = placed(broker, derivative(option))
    assert Decimal(sim.orders[-1]["traded_price"]) == quotes.prices[code] and order_id


def test_an_unquotable_code_is_found_and_the_others_still_priced(sim, broker):
    codes = ["NSE_3045", "NSE_1594", "NSE_424242", "BSE_500112", "NSE_2885"]
    quotes = broker.last_prices(SEEDED_TOKEN, codes)
    assert quotes.unquotable == {"NSE_424242"}
    assert set(quotes.prices) == set(codes) - {"NSE_424242"} and quotes.prices["NSE_1594"] == Decimal("1500")
    batches = [request.query["scrip-codes"].split(",") for request in sim.requests("/market/quotes/ltp")]
    assert batches[0] == codes and len(batches) <= 7  # refused whole, then halved to the culprit
    assert ["NSE_424242"] in batches


def test_codes_are_sent_a_thousand_at_a_time(sim, broker):
    live = [c for c in sim.fno_contracts if c.expiry >= TODAY and c.exchange == "NSE"][:1001]
    assert len(live) == 1001
    quotes = broker.last_prices(SEEDED_TOKEN, [f"NFO_{c.security_id}" for c in live])
    assert len(quotes.prices) == 1001 and not quotes.unquotable
    assert [len(r.query["scrip-codes"].split(",")) for r in sim.requests("/market/quotes/ltp")] == [1000, 1]


def test_too_many_unquotable_codes_fail_the_call_within_its_request_budget(sim, broker):
    with pytest.raises(DependencyUnavailable):
        broker.last_prices(SEEDED_TOKEN, [f"NSE_{9000000 + n}" for n in range(64)], max_requests=8)
    assert len(sim.requests("/market/quotes/ltp")) == 8


def test_a_400_that_is_not_the_bad_codes_answer_is_not_bisected(sim, broker):
    sim.inject_fault("/market/quotes/ltp", "error_code_shape")  # 400 with an error envelope
    with pytest.raises(DependencyUnavailable):
        broker.last_prices(SEEDED_TOKEN, ["NSE_3045", "NSE_1594"])
    assert len(sim.requests("/market/quotes/ltp")) == 1


@pytest.mark.parametrize("code", ["", "NSE_3045,NSE_1594", " NSE_3045"])
def test_a_malformed_code_is_refused_before_any_request(sim, broker, code):
    with pytest.raises(ValueError):
        broker.last_prices(SEEDED_TOKEN, [code])
    assert sim.requests() == []


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_sends_the_order_id_and_segment_once_to_the_orders_endpoint(sim, broker):
    order_id = placed(broker, cash(order_type="LIMIT", limit_price=700))
    result = broker.cancel_order(SEEDED_TOKEN, order_id, "EQUITY", smart=False)
    assert (result.outcome, result.order_id, result.order_status) == (Outcome.PLACED, order_id, "CANCELLED")
    [request] = sim.requests("/order/cancel")
    assert request.json == {"order_id": order_id, "segment": "EQUITY"} and request.headers["authorization"] == SEEDED_TOKEN
    again = broker.cancel_order(SEEDED_TOKEN, order_id, "EQUITY", smart=False)
    assert (again.outcome, again.message) == (Outcome.REJECTED, "Position could not be found")


def test_a_gtt_leg_is_cancelled_by_its_own_id_on_the_smart_endpoint(sim, broker):
    body = cash(order_type="LIMIT", limit_price=795, sl_trigger_price=780, sl_limit_price=779)
    result = broker.place(SEEDED_TOKEN, OrderWrite("/smart/order", body))
    [parent] = [row for row in sim.orders if row["id"] == result.order_id]
    [child] = [row for row in sim.orders if row["order_type"] == "OCO"]
    wrong = broker.cancel_order(SEEDED_TOKEN, child["id"], "EQUITY", smart=False)
    assert wrong.outcome is Outcome.REJECTED
    for order_id in (child["id"], parent["id"]):
        assert broker.cancel_order(SEEDED_TOKEN, order_id, "EQUITY", smart=True).outcome is Outcome.PLACED
    assert {row["status"] for row in sim.orders} == {"CANCELLED"}
    assert [r.json["order_id"] for r in sim.requests("/smart/order/cancel")] == [child["id"], parent["id"]]


def test_a_filled_order_cannot_be_cancelled(sim, broker):
    order_id = placed(broker, cash())
    result = broker.cancel_order(SEEDED_TOKEN, order_id, "EQUITY", smart=False)
    assert result.outcome is Outcome.REJECTED and result.error_type == "OrderException"


@pytest.mark.parametrize("kind, outcome", [("timeout", Outcome.UNKNOWN), ("http500", Outcome.UNKNOWN),
                                           ("rate_limit", Outcome.UNKNOWN), ("reset", Outcome.UNKNOWN)])  # fmt: skip
def test_a_cancel_with_an_unknown_outcome_is_unknown_and_never_resent(sim, kind, outcome):
    broker = BrokerClient(sim.url, connect_timeout=0.5, read_timeout=0.3)
    order_id = placed(broker, cash(order_type="LIMIT", limit_price=700))
    sim.inject_fault("/order/cancel", kind, delay=1.0)
    assert broker.cancel_order(SEEDED_TOKEN, order_id, "EQUITY", smart=False).outcome is outcome
    assert len(sim.requests("/order/cancel")) == 1


def test_a_cancel_needs_the_books_segment(broker):
    with pytest.raises(ValueError):
        broker.cancel_order(SEEDED_TOKEN, "GTT-2900001", "equity", smart=True)
