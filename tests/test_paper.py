"""Paper mode: everything runs except broker writes. Through chalice.test.Client against moto
(the ledger, the paper book in the state table) and the simulator over HTTP, which provides the
last prices and whose own request log proves that no order write ever reached it."""

from __future__ import annotations

import json
import time
import zlib
from datetime import datetime
from decimal import Decimal

import boto3
import pytest

from chalicelib import services
from chalicelib.broker import BrokerClient, OrderWrite, Outcome
from chalicelib.config import IST
from chalicelib.paper import PaperBroker
from chalicelib.paper.checks import WRITE_SCHEMAS, schema_problems
from local.openapi import request_body_schema, request_errors
from local.simulator import ORDER_WRITE_PATHS
from tests.conftest import ORDERS_TABLE, SEEDED_ADMIN_KEY, SEEDED_TOKEN, STATE_TABLE
from tests.test_fno_alerts import alert as fno_alert
from tests.test_fno_alerts import futures

SBIN, INFY = "3045", "1594"
ADMIN = {"X-Admin-Key": SEEDED_ADMIN_KEY, "Content-Type": "application/json"}


def at_ist(hour, minute):
    return datetime(2026, 12, 2, hour, minute, tzinfo=IST).timestamp()


def rebuild(stack, **settings):
    stack.settings = stack.settings.model_copy(update=settings)
    services.install(services.build(stack.settings))
    return stack


@pytest.fixture
def paper(stack):
    """A paper stage (TRADING_MODE=paper), the simulator's exchange on: it would fill anything sent."""
    stack.simulator.fills = True
    return rebuild(stack, trading_mode="paper", max_order_value=Decimal(10) ** 9)


def no_write_reached_the_broker(sim):
    """The simulator's own log: reads only (GET), never an order write endpoint."""
    assert sim.order_writes() == []
    assert [(r.method, r.path) for r in sim.requests() if r.method != "GET" or r.path in ORDER_WRITE_PATHS] == []


def paper_book():
    raw = boto3.client("dynamodb").get_item(TableName=STATE_TABLE, Key={"pk": {"S": "paper-book#default"}},
                                            ConsistentRead=True)["Item"]
    return json.loads(zlib.decompress(raw["book"]["B"]))


def paper_net(security_id, product="INTRADAY"):
    positions = services.get().relay.broker.positions(SEEDED_TOKEN)
    return sum(p.net_qty for p in positions if p.security_id == security_id and p.product == product)


def ledger_item(key):
    raw = boto3.client("dynamodb").get_item(TableName=ORDERS_TABLE, Key={"key": {"S": key}}, ConsistentRead=True)
    return {name: next(iter(value.values())) for name, value in raw["Item"].items()}


def ok(response, status="placed"):
    assert response.status_code in (200, 202), response.json_body
    assert response.json_body["status"] == status, response.json_body
    assert response.json_body["mode"] == "paper", response.json_body
    return response.json_body


def test_every_write_path_runs_on_paper_and_no_broker_write_endpoint_is_called(paper):
    sim, post, alert = paper.simulator, paper.post, paper.alert
    market = ok(post(alert(quantity=10)))                                            # MARKET: fills at 800
    assert market["order_id"].startswith("PAPER-EQ-")
    limit = ok(post(alert(quantity=5, order_type="LIMIT", price="700")))            # rests below the market
    stop = ok(post(alert(quantity=3, order_type="SL", price="851", trigger_price="850")))  # a smart TRIGGER
    bracket = ok(post(alert(symbol="NSE:INFY", quantity=4, stop_loss="1%", target="2%")))  # entry + OCO legs
    assert bracket["order_status"] == "CREATED" and bracket["bracket"]["legs"]["sl_trigger_price"] < 1500
    book = {row["id"]: row for row in paper_book()["orders"]}
    assert book[market["order_id"]]["status"] == "SUCCESS" and book[market["order_id"]]["traded_price"] == "800.00"
    assert book[limit["order_id"]]["status"] == "PENDING" and book[stop["order_id"]]["order_type"] == "GTT_LIMIT"
    legs = [row for row in book.values() if row["order_type"] == "OCO"]
    assert len(legs) == 1 and legs[0]["status"] == "SL-PENDING" and legs[0]["txn_type"] == "SELL"  # armed
    assert paper_net(SBIN) == 10 and paper_net(INFY) == 4

    target = ok(post(alert(position_size=20, quantity=None)))  # net 10, in flight +5 +3: the difference, 2
    assert target["position"]["change"] == 2 and paper_net(SBIN) == 12
    exited = ok(post(alert(symbol="NSE:INFY", action="exit", quantity=None)))
    assert exited["position"]["change"] == -4 and paper_net(INFY) == 0
    cancelled = ok(post(alert(action="cancel", quantity=None)), "cancelled")
    assert {(o["order_id"], o["status"]) for o in cancelled["orders"]} == {
        (limit["order_id"], "cancelled"), (stop["order_id"], "cancelled")}
    ok(post(alert(quantity=2, order_type="LIMIT", price="700")))
    assert ok(post(alert(action="cancel_all", symbol=None, quantity=None)), "cancelled")["orders"][0]["status"] \
        == "cancelled"
    exits = ok(post(alert(action="exit_all", symbol=None, quantity=None)), "exited")
    assert [(c["security_id"], c["net"], c["status"]) for c in exits["closes"]] == [(SBIN, 12, "placed")]
    assert paper_net(SBIN) == 0

    ok(post(alert(quantity=6)))
    flattened = paper.client.http.post("/flatten", headers=ADMIN, body="{}").json_body
    assert [(c["security_id"], c["net"], c["status"]) for c in flattened["closes"]] == [(SBIN, 6, "placed")]
    assert flattened["closes"][0]["order_id"].startswith("PAPER-")
    assert paper_net(SBIN) == 0
    item = ledger_item(flattened["closes"][0]["key"])
    assert item["origin"] == "flatten" and item["mode"] == "paper" and item["state"] == "placed"
    no_write_reached_the_broker(sim)
    # Every paper write was a body INDstocks would have accepted.
    assert paper_book()["orders"] and all(row["id"].startswith("PAPER-") for row in paper_book()["orders"])


def test_a_split_order_goes_to_paper_as_children(paper):
    rebuild(paper, paper_funds=Decimal(10) ** 10)
    future = futures(paper.simulator, "NIFTY")[0]
    units = 2 * ((1800 - 1) // future.lot * future.lot) + future.lot
    answer = ok(paper.post(fno_alert(symbol="NIFTY1!", exchange="NFO", quantity=units)), "split")
    assert [child["status"] for child in answer["children"]] == ["placed"] * 3
    assert all(child["order_id"].startswith("PAPER-DRV-") for child in answer["children"])
    assert sum(p.net_qty for p in services.get().relay.broker.positions(SEEDED_TOKEN)) == units
    no_write_reached_the_broker(paper.simulator)


def test_the_square_off_and_the_loss_limit_flatten_paper_positions(paper):
    rebuild(paper, square_off_at="15:15", max_daily_loss=Decimal(500))
    sim = paper.simulator
    ok(paper.post(paper.alert(quantity=10)))  # long 10 SBIN at 800
    sweeper = services.get().sweeper
    sim.set_price("NSE", SBIN, "740")  # -600: past the limit
    report = sweeper.run(at_ist(11, 1))
    assert report.day_pnl == "-600.00" and report.squared_off == [f"close {SBIN} net 10: placed"]
    assert paper_net(SBIN) == 0 and services.get().relay.switch.read().paused
    services.get().relay.switch.resume(time.time())
    ok(paper.post(paper.alert(quantity=4)))
    resting = ok(paper.post(paper.alert(quantity=1, order_type="LIMIT", price="700")))
    report = sweeper.run(at_ist(15, 16))
    assert report.squared_off == [f"cancel {resting['order_id']}: cancelled", f"close {SBIN} net 4: placed"]
    assert paper_net(SBIN) == 0
    no_write_reached_the_broker(sim)


def test_the_sweep_fills_a_resting_paper_limit_when_the_price_crosses(paper):
    sim = paper.simulator
    resting = ok(paper.post(paper.alert(quantity=5, order_type="LIMIT", price="790")))
    sweeper = services.get().sweeper
    sweeper.run(time.time())
    assert paper_net(SBIN) == 0  # 800: not yet
    sim.set_price("NSE", SBIN, "789.5")
    report = sweeper.run(time.time())
    assert report.paper_filled == [resting["order_id"]]
    assert paper_net(SBIN) == 5
    row = next(row for row in paper_book()["orders"] if row["id"] == resting["order_id"])
    assert row["status"] == "SUCCESS" and row["traded_price"] == "789.50"  # at the last price, under the limit
    no_write_reached_the_broker(sim)


def test_paper_funds_refuse_what_they_cannot_pay_for(paper):
    rebuild(paper, paper_funds=Decimal(10000))
    refused = paper.post(paper.alert(quantity=100, product="CNC"))  # ₹80,000 of delivery on ₹10,000
    assert refused.status_code == 422 and refused.json_body["status"] == "rejected"
    assert "RMS: Margin exceeds available funds" in refused.json_body["message"]
    ok(paper.post(paper.alert(quantity=10, product="CNC")))  # ₹8,000: fits
    assert services.get().relay.broker.funds(SEEDED_TOKEN).tradable_cash == Decimal(2000)
    no_write_reached_the_broker(paper.simulator)


def test_a_live_alert_on_a_paper_stage_is_refused_naming_the_field(paper):
    answer = paper.post(paper.alert(mode="live"))
    assert answer.status_code == 400
    assert [d["field"] for d in answer.json_body["detail"]] == ["mode"]
    no_write_reached_the_broker(paper.simulator)


def test_a_paper_alert_on_a_live_stage_goes_to_paper_and_live_ones_still_go_live(stack):
    stack.simulator.fills = True
    live = stack.post(stack.alert(quantity=3)).json_body
    assert live["status"] == "placed" and "mode" not in live and live["order_id"].startswith("EQ-")
    assert len(stack.simulator.order_writes()) == 1
    on_paper = ok(stack.post(stack.alert(quantity=7, mode="paper")))
    assert on_paper["order_id"].startswith("PAPER-EQ-")
    assert len(stack.simulator.order_writes()) == 1  # still only the live one
    # Live positions and paper positions are apart.
    relay = services.get().relay
    assert sum(p.net_qty for p in relay.broker.positions(SEEDED_TOKEN) if p.security_id == SBIN) == 3
    twin = relay.for_mode("paper")
    assert sum(p.net_qty for p in twin.broker.positions(SEEDED_TOKEN) if p.security_id == SBIN) == 7
    # A paper target moves the paper position only; a live exit closes the live one only.
    assert ok(stack.post(stack.alert(position_size=2, quantity=None, mode="paper")))["position"]["net"] == 7
    assert sum(p.net_qty for p in twin.broker.positions(SEEDED_TOKEN) if p.security_id == SBIN) == 2
    exited = stack.post(stack.alert(action="exit", quantity=None)).json_body
    assert exited["status"] == "placed" and exited["position"]["net"] == 3
    assert [w.json["qty"] for w in stack.simulator.order_writes()] == [3, 3]
    # The journal marks each order with its mode; a replay is a duplicate.
    orders = stack.client.http.get("/orders", headers={"X-Admin-Key": SEEDED_ADMIN_KEY}).json_body["orders"]
    modes = {order["remarks"]: order["mode"] for order in orders if order.get("remarks")}
    assert (modes[live["remarks"]], modes[on_paper["remarks"]]) == ("live", "paper")
    replay = stack.alert(quantity=7, mode="paper", alert_id="paper-replay")
    ok(stack.post(replay))
    assert ok(stack.post(replay), "duplicate")
    assert len(stack.simulator.order_writes()) == 2


def test_a_paper_alert_without_the_field_on_a_paper_stage_is_journaled_paper(paper):
    answer = ok(paper.post(paper.alert(quantity=1, alert_id="journal-paper")))
    assert ledger_item("id:journal-paper")["mode"] == "paper"
    assert answer["order_id"].startswith("PAPER-")


def test_the_paper_write_table_is_the_specs():
    for path, (required, fields) in WRITE_SCHEMAS.items():
        schema = request_body_schema("POST", path)
        assert list(required) == schema["required"], path
        assert set(fields) == set(schema["properties"]), path
        for name, (kind, enum, minimum, max_length) in fields.items():
            spec = schema["properties"][name]
            assert (kind, list(enum) if enum else None, minimum, max_length) == (
                spec["type"], spec.get("enum"), spec.get("minimum"), spec.get("maxLength")), (path, name)


@pytest.mark.parametrize("path, body", [
    ("/order", {"txn_type": "BUY"}),
    ("/order", {"txn_type": "HOLD", "exchange": "NSE", "segment": "EQUITY", "product": "CNC", "order_type": "MARKET",
                "validity": "DAY", "security_id": "3045", "qty": 0, "algo_id": "99999"}),
    ("/smart/order", {"txn_type": "BUY", "exchange": "BSE", "segment": "EQUITY", "product": "CNC",
                      "order_type": "TRIGGER", "validity": "IOC", "security_id": "3045", "qty": 1, "algo_id": "99999",
                      "trigger_price": "850"}),
    ("/order/cancel", {"order_id": 5, "segment": "equity"}),
    ("/order", {"txn_type": "BUY", "exchange": "NSE", "segment": "EQUITY", "product": "CNC", "order_type": "LIMIT",
                "validity": "DAY", "security_id": "3045", "qty": 1, "algo_id": "99999", "limit_price": 700.5,
                "is_amo": False, "remarks": "tvr:x"}),
])
def test_paper_refuses_a_body_exactly_when_the_spec_does(path, body):
    assert bool(schema_problems(path, body)) == bool(request_errors("POST", path, body)), (path, body)


def test_the_paper_broker_overrides_every_public_method_of_the_live_client():
    public = {name for name in vars(BrokerClient) if not name.startswith("_") and callable(vars(BrokerClient)[name])}
    assert public - set(vars(PaperBroker)) == {"generate_token"}  # which fails: a paper broker has no session


def test_a_paper_broker_answers_a_malformed_write_as_the_broker_would(paper):
    broker = services.get().relay.broker
    result = broker.place(SEEDED_TOKEN, OrderWrite("/order", {"txn_type": "BUY"}))
    assert result.outcome is Outcome.REJECTED and result.error_type == "InputException"
    with pytest.raises(AttributeError):
        broker.generate_token("client", "1234", "000000")
    no_write_reached_the_broker(paper.simulator)


def test_a_queued_paper_alert_is_sent_to_paper_by_the_sweep_and_the_queue(stack):
    """A paper alert that must queue (here: a live write of its instrument waits in the queue,
    holding the lane) is sent later by the sweep or the queue's consumer: to paper, never live."""
    from chalicelib.order_queue import message_group

    relay = services.get().relay
    for sent_by in ("sweep", "queue"):
        relay.pacer.hold_lane(message_group("NSE", SBIN), time.time())
        queued = stack.post(stack.alert(quantity=2, mode="paper")).json_body
        assert (queued["status"], queued["mode"]) == ("queued", "paper"), queued
        assert ledger_item(queued["key"])["mode"] == "paper"
        if sent_by == "sweep":
            assert services.get().sweeper.run(time.time()).sent == [queued["key"]]
        else:
            assert services.get().queued_sender.send(queued["key"], time.time()).outcome == "placed"
        item = ledger_item(queued["key"])
        assert item["state"] == "placed" and item["order_id"].startswith("PAPER-EQ-"), item
        relay.pacer.release_lane(message_group("NSE", SBIN))
    assert stack.simulator.order_writes() == []
    assert sum(p.net_qty for p in relay.for_mode("paper").broker.positions(SEEDED_TOKEN)) == 4


def test_a_burst_of_paper_alerts_is_booked_whole(paper):
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.relay import IncomingAlert

    # Twelve threads share the GIL with moto and the in-process simulator: on a busy machine a last-price
    # read's connection or reply can outlast the suite's 0.5 s timeouts (a 503, nothing booked), which is
    # not what this tests.
    relay = rebuild(paper, broker_connect_timeout=2.0, broker_read_timeout=2.0) and services.get().relay
    bodies = [json.dumps(paper.alert(quantity=1)).encode() for _ in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda body: relay.handle_alert(IncomingAlert(body, {}), now=time.time()), bodies))
    # As live: an admission that keeps meeting concurrent ones is queued, and sent by the sweep.
    assert {answer.body["status"] for answer in answers} <= {"placed", "queued"}, [a.body for a in answers]
    assert all(answer.body["mode"] == "paper" for answer in answers)
    queued = sorted(answer.body["key"] for answer in answers if answer.body["status"] == "queued")
    assert sorted(services.get().sweeper.run(time.time()).sent) == queued
    assert len({row["id"] for row in paper_book()["orders"]}) == 12 and paper_net(SBIN) == 12
    no_write_reached_the_broker(paper.simulator)


@pytest.mark.parametrize("mode", ["paperz", 1, "{{strategy.mode}}"])
def test_a_mode_that_is_not_live_or_paper_is_refused_naming_the_field(stack, mode):
    answer = stack.post(stack.alert(mode=mode))
    assert answer.status_code == 400 and [d["field"] for d in answer.json_body["detail"]] == ["mode"], answer.json_body
    assert stack.simulator.order_writes() == []


def test_an_ioc_limit_that_cannot_fill_at_once_is_cancelled_and_one_that_can_fills(paper):
    missed = ok(paper.post(paper.alert(quantity=2, order_type="LIMIT", price="700", validity="IOC")))
    filled = ok(paper.post(paper.alert(quantity=3, order_type="LIMIT", price="805", validity="IOC")))
    book = {row["id"]: row for row in paper_book()["orders"]}
    assert book[missed["order_id"]]["status"] == "CANCELLED" and book[filled["order_id"]]["status"] == "SUCCESS"
    assert book[filled["order_id"]]["traded_price"] == "800.00" and paper_net(SBIN) == 3


def test_make_run_says_when_it_trades_on_paper():
    from local.stack import LocalStack, banner

    assert "PAPER (TRADING_MODE=paper)" in banner(LocalStack(settings={"TRADING_MODE": "paper"}), set())
    assert "PAPER" not in banner(LocalStack(), set())


def test_the_sweep_triggers_a_paper_stop_and_a_brackets_target_leg(paper):
    sim, sweeper = paper.simulator, services.get().sweeper
    stop = ok(paper.post(paper.alert(quantity=3, order_type="SL", price="852", trigger_price="850")))
    ok(paper.post(paper.alert(symbol="NSE:INFY", quantity=4, stop_loss="1%", target="2%")))  # long 4 at 1500
    sim.set_price("NSE", SBIN, "849")
    sim.set_price("NSE", INFY, "1529")
    assert sweeper.run(time.time()).paper_filled == []  # neither trigger crossed
    sim.set_price("NSE", SBIN, "851")  # the stop triggers and fills, under its limit
    sim.set_price("NSE", INFY, "1531")  # the target leg fires: the OCO child sells the 4
    filled = sweeper.run(time.time()).paper_filled
    book = {row["id"]: row for row in paper_book()["orders"]}
    [leg] = [row for row in book.values() if row["order_type"] == "OCO"]
    assert sorted(filled) == sorted([stop["order_id"], leg["id"]])
    assert (book[stop["order_id"]]["status"], book[stop["order_id"]]["traded_price"]) == ("SUCCESS", "851.00")
    assert (leg["status"], leg["traded_price"]) == ("SUCCESS", "1531.00") and "target leg" in leg["extra_info"]
    assert paper_net(SBIN) == 3 and paper_net(INFY) == 0
    no_write_reached_the_broker(sim)


def test_a_live_stages_paper_twin_squares_off_and_stops_at_its_loss_apart_from_live(stack):
    rebuild(stack, square_off_at="15:15", max_daily_loss=Decimal(500))
    stack.simulator.fills = True
    assert stack.post(stack.alert(quantity=3)).json_body["status"] == "placed"  # live long 3
    ok(stack.post(stack.alert(quantity=10, mode="paper")))  # paper long 10
    stack.simulator.set_price("NSE", SBIN, "740")  # live -180, paper -600: only paper is past the limit
    report = services.get().sweeper.run(at_ist(11, 1))
    assert (report.day_pnl, report.paper_day_pnl) == ("-180.00", "-600.00")
    assert report.squared_off == [f"close {SBIN} net 10: placed"]
    assert not services.get().relay.switch.read().paused  # a paper loss never pauses live trading
    assert len(stack.simulator.order_writes()) == 1
    ok(stack.post(stack.alert(quantity=2, mode="paper")))
    report = services.get().sweeper.run(at_ist(15, 16))
    assert report.squared_off == [f"close {SBIN} net 3: placed", f"close {SBIN} net 2: placed"]  # live, then paper
    assert [(w.json["txn_type"], w.json["qty"]) for w in stack.simulator.order_writes()] == [("BUY", 3), ("SELL", 3)]
    twin = services.get().relay.for_mode("paper")
    assert sum(p.net_qty for p in twin.broker.positions(SEEDED_TOKEN)) == 0


def test_the_journal_lists_paper_orders_apart(stack):
    live = stack.post(stack.alert(quantity=1)).json_body
    on_paper = ok(stack.post(stack.alert(quantity=1, mode="paper")))
    headers = {"X-Admin-Key": SEEDED_ADMIN_KEY}
    paper_only = stack.client.http.get("/orders?mode=paper", headers=headers).json_body["orders"]
    live_only = stack.client.http.get("/orders?mode=live", headers=headers).json_body["orders"]
    assert [order["order_id"] for order in paper_only] == [on_paper["order_id"]]
    assert [order["order_id"] for order in live_only] == [live["order_id"]]
    wrong = stack.client.http.get("/orders?mode=sandbox", headers=headers)
    assert wrong.status_code == 400 and [d["field"] for d in wrong.json_body["detail"]] == ["mode"]
