"""Exactly-once orders: claims, duplicates, staleness, pacing, reconciliation, the sweep, the
journal. Through chalice.test.Client and the relay object, against moto and the simulator."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib import services
from chalicelib.relay import IncomingAlert
from tests.conftest import ORDERS_TABLE, SEEDED_ADMIN_KEY, SEEDED_SECRET, SEEDED_TOKEN, STATE_TABLE


def ledger_items():
    table = boto3.client("dynamodb")
    items = table.scan(TableName=ORDERS_TABLE)["Items"]
    return {item["key"]["S"]: {k: list(v.values())[0] for k, v in item.items()} for item in items}


def item(key):
    return ledger_items()[key]


def run_sweep(stack, now=None):
    return services.get().sweeper.run(now or time.time())


def iso(delta_seconds=0.0):
    return (datetime.now(UTC) + timedelta(seconds=delta_seconds)).isoformat()


# --- duplicates ---------------------------------------------------------------------------


def test_sequential_replay_is_a_duplicate_and_never_resent(stack):
    body = stack.alert(alert_id="replay-1")
    first = stack.post(body)
    assert first.status_code == 200 and first.json_body["status"] == "placed"
    second = stack.post(body)
    assert second.status_code == 200
    assert second.json_body["status"] == "duplicate"
    assert second.json_body["order_id"] == first.json_body["order_id"]
    assert second.json_body["first_seen"] == item("id:replay-1")["received_at"]
    assert len(stack.simulator.order_writes()) == 1


def test_alerts_without_alert_id_are_keyed_by_content(stack):
    body = stack.alert(alert_id=None, time=iso())
    assert stack.post(body).json_body["status"] == "placed"
    assert stack.post(body).json_body["status"] == "duplicate"
    assert stack.post({**body, "quantity": 2}).json_body["status"] == "placed"  # different alert
    assert len(stack.simulator.order_writes()) == 2
    assert all(key.startswith("sha256:") for key in ledger_items())


def test_concurrent_identical_alerts_reach_the_broker_once(stack):
    relay = services.get().relay
    raw = json.dumps(stack.alert(alert_id="race-1")).encode()

    def send(_):
        return relay.handle_alert(IncomingAlert(raw, {}), now=time.time()).body["status"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(send, range(50)))
    assert outcomes.count("placed") == 1 and outcomes.count("duplicate") == 49
    assert len(stack.simulator.order_writes()) == 1


# --- freshness ------------------------------------------------------------------------------


@pytest.mark.parametrize("delta, word", [(-120, "old"), (-61, "old"), (30, "future")])
def test_stale_or_future_alerts_are_refused_and_recorded(stack, delta, word):
    response = stack.post(stack.alert(alert_id=f"stale{delta}", time=iso(delta)))
    assert response.status_code == 400
    [problem] = response.json_body["detail"]
    assert problem["field"] == "time" and word in problem["message"]
    assert item(f"id:stale{delta}")["state"] == "rejected"
    # The journal says what the answer says: the reason and the field, not "the alert is invalid".
    assert item(f"id:stale{delta}")["message"] == f"{response.json_body['message']}: time {problem['message']}"
    assert stack.simulator.order_writes() == []


def test_an_unknown_symbol_is_recorded_with_its_reason_and_field(stack):
    response = stack.post(stack.alert(alert_id="nosuch-1", symbol="NSE:NOSUCHCO"))
    assert response.status_code == 400 and response.json_body["error"] == "unknown_symbol"
    [problem] = response.json_body["detail"]
    recorded = item("id:nosuch-1")
    assert recorded["state"] == "rejected" and problem["field"] in recorded["message"]
    assert recorded["message"] == f"{response.json_body['message']}: {problem['field']} {problem['message']}"


def test_fresh_alert_within_the_window_is_sent(stack):
    assert stack.post(stack.alert(time=iso(-30))).status_code == 200
    assert stack.post(stack.alert(time=iso(5))).status_code == 200


# --- unknown outcomes ---------------------------------------------------------------------------

FAULTS = ["timeout", "reset", "http500", "rate_limit", "cloudflare", "shape_e", "garbage"]


@pytest.mark.parametrize("kind", FAULTS)
def test_unknown_outcome_that_was_placed_ends_placed_with_the_right_id(stack, kind):
    stack.simulator.inject_fault("/order", kind, place=True, delay=1.0)
    response = stack.post(stack.alert(alert_id=f"maybe-{kind}"))
    time.sleep(0.05)
    [row] = stack.simulator.orders
    assert len(stack.simulator.order_writes()) == 1
    if response.json_body["status"] != "placed":  # not yet visible: the sweep finds it
        run_sweep(stack)
    else:
        assert response.json_body["order_id"] == row["id"]
    recorded = item(f"id:maybe-{kind}")
    assert recorded["state"] == "placed" and recorded["order_id"] == row["id"]
    assert len(stack.simulator.order_writes()) == 1


def test_unknown_outcome_that_was_not_placed_becomes_absent_after_settling(stack):
    stack.simulator.inject_fault("/order", "http500", place=False)
    response = stack.post(stack.alert(alert_id="ghost-1"))
    assert response.status_code == 502 and response.json_body["status"] == "unknown"
    assert item("id:ghost-1")["state"] == "unknown"
    run_sweep(stack)  # too early: still unknown
    assert item("id:ghost-1")["state"] == "unknown"
    report = run_sweep(stack, now=time.time() + 61)
    assert report.absent == ["id:ghost-1"]
    assert item("id:ghost-1")["state"] == "absent"
    assert len(stack.simulator.order_writes()) == 1  # never resent


# --- pacing ---------------------------------------------------------------------------------


def test_burst_of_50_distinct_alerts_places_50_orders_without_a_429(stack):
    """Answered at once (placed when a slot was free, else queued), then the queue's consumer,
    ten at a time as Lambda runs it, sends the rest in their slots."""
    relay, sender = services.get().relay, services.get().queued_sender
    # With {{close}} as the README's template sends: a MARKET order is valued without a quote read
    # (INDstocks allows 5 a second).
    bodies = [json.dumps(stack.alert(alert_id=f"burst-{n}", price="812.35")).encode() for n in range(50)]

    def send(raw):
        answer = relay.handle_alert(IncomingAlert(raw, {}), now=time.time())
        return answer.status_code, answer.body["status"]

    with ThreadPoolExecutor(max_workers=25) as pool:
        outcomes = list(pool.map(send, bodies))
    assert set(outcomes) <= {(200, "placed"), (202, "queued")} and (200, "placed") in outcomes
    queued = [f"id:burst-{n}" for n, outcome in enumerate(outcomes) if outcome == (202, "queued")]
    assert {item(key)["state"] for key in queued} <= {"queued"}
    with ThreadPoolExecutor(max_workers=10) as consumers:
        results = list(consumers.map(lambda key: sender.send(key, time.time()).outcome, queued))
    assert results == ["placed"] * len(queued)
    writes = stack.simulator.order_writes()
    assert len(writes) == 50 and len(stack.simulator.orders) == 50
    stamps = sorted(w.received_at for w in writes)
    assert max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps) <= 10
    assert {item(f"id:burst-{n}")["state"] for n in range(50)} == {"placed"}


def pace_a_minute_apart():
    """Every write after the first lands a minute out, beyond any allowed wait: it is queued.
    (Not the real 150 ms spacing: on a busy machine two posts can be further apart than that.)
    A schedule of its own, so the real one is untouched when normal pacing returns. Lateness is
    not what these tests are about: on a busy machine the first write can reach its check more
    than 300 ms after its slot (the ledger's `sent` mark lies between), and a late writer would
    be refused a fresh slot here and queue too."""
    from chalicelib.pacing import WritePacer

    relay = services.get().relay
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=0.0, spacing=60.0, late_tolerance=3600.0,
                             schedule="test-minute-apart")


def pace_normally():
    from chalicelib.pacing import WritePacer

    relay = services.get().relay
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=10)


def free_slot(relay):
    slot = relay.pacer.reserve()
    assert slot is not None, "the real schedule should be free here"
    return slot


def test_writes_over_the_pace_are_queued_then_sent_by_the_sweep(stack):
    pace_a_minute_apart()
    statuses = [stack.post(stack.alert(alert_id=f"q-{n}")).json_body["status"] for n in range(3)]
    assert statuses == ["placed", "queued", "queued"]
    assert {item(f"id:q-{n}")["state"] for n in (1, 2)} == {"queued"}
    assert len(stack.simulator.order_writes()) == 1
    pace_normally()
    assert sorted(run_sweep(stack).sent) == ["id:q-1", "id:q-2"]
    assert {item(f"id:q-{n}")["state"] for n in range(3)} == {"placed"}
    assert len(stack.simulator.order_writes()) == 3


def queue_one(stack, alert_id):
    """An alert over the pace: answered `queued`, left for the sweep."""
    pace_a_minute_apart()
    filler = stack.post(stack.alert(alert_id="pace-filler")).json_body  # takes the free slot
    assert filler["status"] == "placed", filler
    assert stack.post(stack.alert(alert_id=alert_id)).json_body["status"] == "queued"
    pace_normally()
    return f"id:{alert_id}"


def writes_for(stack, key):
    remarks = item(key)["remarks"]
    return [w for w in stack.simulator.order_writes() if w.json.get("remarks") == remarks]


def test_a_queued_alert_moves_into_sent_once_however_often_it_is_sent(stack):
    from chalicelib.broker import OrderWrite
    from chalicelib.ledger import State

    key = queue_one(stack, "twice-1")
    queued = item(key)
    write = OrderWrite(queued["endpoint"], json.loads(queued["request"]))
    relay = services.get().relay
    first = relay.send_recorded(key, SEEDED_TOKEN, write, State.QUEUED, free_slot(relay), writer="sweep-1",
                                deadline=relay.deadline())
    second = relay.send_recorded(key, SEEDED_TOKEN, write, State.QUEUED, free_slot(relay), writer="sweep-2",
                                 deadline=relay.deadline())  # e.g. a sweep delivered twice
    assert first is not None and first.result.order_id and second is None
    assert len(writes_for(stack, key)) == 1
    assert item(key)["state"] == "placed" and item(key)["order_id"] == first.result.order_id


def test_two_sweeps_at_once_send_a_queued_alert_once(stack):
    import threading

    key = queue_one(stack, "twice-2")
    start = threading.Barrier(2)

    def sweep(_):
        start.wait()
        return run_sweep(stack)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(sweep, range(2)))
    assert sorted(r.sent for r in reports) == [[], [key]]
    assert len(writes_for(stack, key)) == 1 and item(key)["state"] == "placed"


def test_a_sweep_that_finds_another_one_running_does_nothing(stack):
    key = queue_one(stack, "busy-1")
    from chalicelib.state import StateTable

    state = StateTable(lambda: boto3.client("dynamodb"), STATE_TABLE)
    assert state.acquire("sweep", time.time(), 50, holder="someone-else")
    report = run_sweep(stack)
    assert report.skipped and report.examined == 0 and item(key)["state"] == "queued"
    state.release("sweep", "someone-else")
    assert run_sweep(stack).sent == [key]


def test_a_sweep_gives_its_lock_back_so_the_next_one_runs(stack):
    key = queue_one(stack, "lock-1")
    now = time.time()
    first, second = run_sweep(stack, now=now), run_sweep(stack, now=now + 1)  # well inside the 50 s hold
    assert first.sent == [key] and not second.skipped and second.examined == 2  # both placed orders, followed


def test_an_alert_left_received_by_a_dead_invocation_is_failed_reported_and_sendable_again(stack):
    from chalicelib.alerts import validate_alert

    body = stack.alert(alert_id="died-1")
    alert = validate_alert(dict(body))
    now = time.time()
    assert services.get().ledger.claim("id:died-1", alert, now, token="dead-invocation").won  # the invocation died here
    assert run_sweep(stack, now=now + 30).failed == []  # it might still be alive
    assert item("id:died-1")["state"] == "received"
    report = run_sweep(stack, now=now + 121)
    assert report.failed == ["id:died-1"]
    recorded = item("id:died-1")
    assert recorded["state"] == "failed" and "nothing was placed" in recorded["message"] and "open" not in recorded
    assert stack.simulator.order_writes() == []
    resent = stack.post(body)  # a failed alert may be sent again
    assert resent.json_body["status"] == "placed" and len(stack.simulator.order_writes()) == 1


# --- after "placed" -------------------------------------------------------------------------


def test_sweep_follows_placed_orders_to_a_terminal_status(stack):
    filled = stack.post(stack.alert(alert_id="fill-1")).json_body["order_id"]
    refused = stack.post(stack.alert(alert_id="fail-1")).json_body["order_id"]
    stack.simulator.set_order_status(filled, "SUCCESS", traded_qty=1, traded_price="801.05")
    stack.simulator.set_order_status(refused, "FAILED", extra_info="RMS: Blocked for trading")
    report = run_sweep(stack)
    assert set(report.finished) == {"id:fill-1", "id:fail-1"} and report.exchange_rejected == ["id:fail-1"]
    done, failed = item("id:fill-1"), item("id:fail-1")
    assert (done["broker_status"], done["traded_qty"], done["traded_price"]) == ("SUCCESS", "1", "801.05")
    assert failed["broker_status"] == "FAILED" and "Blocked" in failed["exchange_message"]
    assert "open" not in done and "open" not in failed
    after = run_sweep(stack)
    assert not after.skipped and after.examined == 0  # nothing left to follow
    book_reads = stack.simulator.requests("/order-book")
    assert len(book_reads) == 1  # one book read for the whole sweep


def test_a_placed_order_that_leaves_the_order_book_is_followed_for_36_hours_then_let_go(stack):
    stack.post(stack.alert(alert_id="amo-1", amo=True))
    stack.simulator.new_trading_day()  # the next day's book no longer lists it
    now = time.time()
    assert run_sweep(stack, now=now + 3600).unfollowed == [] and "open" in item("id:amo-1")
    report = run_sweep(stack, now=now + 36 * 3600 + 1)
    assert report.unfollowed == ["id:amo-1"]
    left = item("id:amo-1")
    assert left["state"] == "placed" and "open" not in left and "not seen" in left["follow_message"]
    assert run_sweep(stack, now=now + 36 * 3600 + 61).examined == 0


# --- the journal ------------------------------------------------------------------------------


def journal(stack, query="", key=SEEDED_ADMIN_KEY):
    headers = {"X-Admin-Key": key} if key else {}
    return stack.client.http.get("/orders" + query, headers=headers)


def test_journal_needs_the_admin_key(stack):
    assert journal(stack, key=None).status_code == 401
    assert journal(stack, key="wrong-admin-key-1").status_code == 401


def test_journal_lists_newest_first_with_filters(stack):
    stack.post(stack.alert(alert_id="j-1"))
    stack.simulator.inject_fault("/order", "rms_reject")
    stack.post(stack.alert(alert_id="j-2"))
    stack.post(stack.alert(alert_id="j-3", time=iso(-600)))
    orders = journal(stack).json_body["orders"]
    assert [o["alert_id"] for o in orders] == ["j-3", "j-2", "j-1"]
    first = orders[-1]
    for field in ("key", "state", "alert_id", "symbol", "side", "qty", "order_id", "received_at"):
        assert field in first
    assert [o["alert_id"] for o in journal(stack, "?status=rejected").json_body["orders"]] == ["j-3", "j-2"]
    assert len(journal(stack, "?limit=1").json_body["orders"]) == 1
    assert journal(stack, "?since=" + iso(60).replace("+", "%2B")).json_body["orders"] == []
    bad = journal(stack, "?status=nonsense&limit=0")
    assert bad.status_code == 400 and {d["field"] for d in bad.json_body["detail"]} == {"status", "limit"}


def test_no_secret_or_token_in_any_ledger_item(stack):
    stack.post(stack.alert(alert_id="s-1"))
    stack.post(stack.alert(alert_id="s-2", time=iso(-600)))
    stack.simulator.inject_fault("/order", "http500", place=False)
    stack.post(stack.alert(alert_id="s-3"))
    dump = json.dumps(ledger_items())
    assert len(ledger_items()) == 3
    assert SEEDED_SECRET not in dump and SEEDED_TOKEN not in dump and SEEDED_ADMIN_KEY not in dump


def test_a_placed_item_records_the_decision_and_expires_in_seven_days(stack):
    response = stack.post(stack.alert(alert_id="rec-1", quantity=3, order_type="LIMIT", price="812.35"))
    recorded = item("id:rec-1")
    assert recorded["state"] == "placed"
    assert (recorded["symbol"], recorded["side"], recorded["qty"], recorded["order_type"]) == ("SBIN", "BUY", "3", "LIMIT")
    assert recorded["order_id"] == response.json_body["order_id"]
    assert recorded["remarks"] == response.json_body["remarks"] and recorded["remarks"].startswith("tvr:rec-1:")
    assert json.loads(recorded["request"])["limit_price"] == 812.35
    assert float(recorded["latency_ms"]) >= 0 and recorded["received_at"]
    expires = int(recorded["expires_at"]) - float(recorded["received_epoch"])
    assert 7 * 86400 - 5 <= expires <= 7 * 86400 + 5


def test_rejected_item_keeps_the_brokers_message(stack):
    stack.simulator.inject_fault("/order", "rms_reject")
    stack.post(stack.alert(alert_id="rec-2"))
    recorded = item("id:rec-2")
    assert recorded["state"] == "rejected" and recorded["message"].startswith("RMS:")


# --- key stability ----------------------------------------------------------------------------


def test_the_key_of_an_alert_without_alert_id_does_not_change_across_releases():
    """A replay that straddles an upgrade must still be a duplicate: this hash is the one the
    first release computed for this alert, before `amo` existed."""
    from chalicelib.alerts import validate_alert
    from chalicelib.ledger import ledger_key

    body = {"symbol": "NSE:SBIN", "action": "buy", "quantity": 5, "order_type": "LIMIT", "price": 812.35,
            "time": "2026-12-01T09:15:00Z"}
    released = "sha256:c8608c9e221f0de2c52f230a4f8f1966e76c3b91ec4bac4b65d5c566fb3f9442"
    assert ledger_key(validate_alert(body)) == ledger_key(validate_alert({**body, "amo": False})) == released
    assert ledger_key(validate_alert({**body, "amo": True})) != released  # a different order


def test_a_renewed_token_over_the_pace_is_queued_for_the_sweep_not_waited_for(stack):
    from tests.conftest import seed

    stack.post(stack.alert())  # warms the token cache with the seeded token
    stack.simulator.set_tokens(["tok-RENEWED-Q"])
    seed(stack.ssm, token="tok-RENEWED-Q")
    stack.simulator.reset()
    pace_a_minute_apart()  # the first write takes the free slot; a second one would wait a minute
    response = stack.post(stack.alert(alert_id="renewed-q", order_type="LIMIT", price="800"))  # priced: no price read
    assert response.status_code == 202 and response.json_body["status"] == "queued", response.json_body
    [refused] = stack.simulator.order_writes()
    assert refused.headers["authorization"] == SEEDED_TOKEN and stack.simulator.orders == []
    assert item("id:renewed-q")["state"] == "queued"
    pace_normally()
    assert run_sweep(stack).sent == ["id:renewed-q"]
    _, placed = stack.simulator.order_writes()
    assert placed.headers["authorization"] == "tok-RENEWED-Q" and placed.json == refused.json
    assert item("id:renewed-q")["state"] == "placed" and item("id:renewed-q")["order_id"]


def test_a_writer_that_cannot_keep_any_slot_leaves_the_alert_to_the_sweep(stack):
    from chalicelib.pacing import WritePacer

    relay = services.get().relay
    # Every wake-up counts as late (as if the instance were frozen at each sleep).
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=10, late_tolerance=-1.0, schedule="test-always-late")
    response = stack.post(stack.alert(alert_id="always-late"))
    assert response.status_code == 202 and response.json_body["status"] == "queued", response.json_body
    assert stack.simulator.order_writes() == []
    assert item("id:always-late")["state"] == "queued"
    pace_normally()
    assert run_sweep(stack).sent == ["id:always-late"]
    [write] = stack.simulator.order_writes()
    assert write.json["remarks"] == item("id:always-late")["remarks"]
    assert item("id:always-late")["state"] == "placed"


def kill_the_token(stack):
    stack.simulator.set_tokens(["someone-elses-token"])
    services.get().relay.tokens.forget()


def test_a_queued_alert_is_not_sent_after_the_queue_limit_even_once_the_token_works(stack, capsys):
    key = queue_one(stack, "old-q")
    queued_at = float(item(key)["received_epoch"])
    kill_the_token(stack)  # the trader forgot to renew: the sweep cannot send
    assert run_sweep(stack, now=queued_at + 60).blocked == "token_unavailable"
    assert item(key)["state"] == "queued"  # within the limit: still waiting

    capsys.readouterr()
    report = run_sweep(stack, now=queued_at + 301)  # past the 300 s limit, token still dead
    assert report.failed == [key] and report.blocked == "token_unavailable"  # the filler still needs the book
    recorded = item(key)
    assert recorded["state"] == "failed" and "not sent" in recorded["message"] and "open" not in recorded
    notices = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"event":"notification"' in line]
    assert [notice["outcome"] for notice in notices] == ["expired"] and notices[0]["key"] == key

    stack.simulator.set_tokens([SEEDED_TOKEN])  # renewed later: the old signal stays unsent
    services.get().relay.tokens.forget()
    run_sweep(stack, now=queued_at + 400)
    assert writes_for(stack, key) == [] and item(key)["state"] == "failed"


def test_a_dead_token_does_not_keep_the_sweep_from_failing_a_stuck_alert(stack):
    from chalicelib.alerts import validate_alert

    now = time.time()
    assert services.get().ledger.claim("id:died-2", validate_alert(dict(stack.alert(alert_id="died-2"))), now, token="dead-invocation").won
    queue_one(stack, "young-q")
    kill_the_token(stack)
    report = run_sweep(stack, now=now + 121)
    assert report.failed == ["id:died-2"] and report.blocked == "token_unavailable"  # the young queued alert waits
    assert item("id:died-2")["state"] == "failed" and item("id:young-q")["state"] == "queued"
    stack.simulator.set_tokens([SEEDED_TOKEN])  # renewed: the next sweep sends it
    assert run_sweep(stack, now=time.time()).sent == ["id:young-q"]
    assert item("id:young-q")["state"] == "placed"


def test_a_slow_sent_mark_makes_the_writer_late_and_without_a_fresh_slot_in_the_wait_it_queues(stack, monkeypatch):
    from chalicelib.pacing import LATE_TOLERANCE, WritePacer

    relay = services.get().relay
    slow_mark = relay.ledger.transact  # the warm path's one write: claim, slot and `sent` mark

    def transact(*args, **kwargs):
        applied = slow_mark(*args, **kwargs)
        time.sleep(LATE_TOLERANCE + 0.1)  # a DynamoDB latency spike between reservation and write
        return applied

    monkeypatch.setattr(relay.ledger, "transact", transact)
    relay.pacer = WritePacer(relay.pacer._state, max_wait_seconds=0.0, spacing=60.0, schedule="test-slow-mark")
    response = stack.post(stack.alert(alert_id="slow-mark"))
    # Its slot is gone and the next one is a minute out, beyond the allowed wait: queued, unsent.
    assert response.status_code == 202 and response.json_body["status"] == "queued", response.json_body
    assert stack.simulator.order_writes() == [] and item("id:slow-mark")["state"] == "queued"
