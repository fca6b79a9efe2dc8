"""The state table's locks when AWS refuses to give one back: nothing raises out of a `finally`."""

from __future__ import annotations

import time

import boto3
from botocore.exceptions import ClientError

from chalicelib import services
from chalicelib.state import StateTable
from chalicelib.sweep import SWEEP_LOCK_SECONDS, Sweeper
from tests.conftest import STATE_TABLE
from tests.test_ledger import item, queue_one


def refusing_delete_item() -> StateTable:
    """The state table on a real boto3 client (moto) whose DeleteItem AWS answers AccessDenied,
    as it did in AWS while the role's policy lacked dynamodb:DeleteItem."""
    client = boto3.client("dynamodb")

    def access_denied(**_):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "DeleteItem")

    client.meta.events.register("before-call.dynamodb.DeleteItem", access_denied)
    return StateTable(lambda: client, STATE_TABLE)


def test_a_sweep_whose_lock_release_is_denied_still_returns_its_report(stack, capsys):
    key = queue_one(stack, "release-denied-1")
    built = services.get()
    sweeper = Sweeper(built.relay, built.ledger, refusing_delete_item(), built.notifier, built.settings.order_settle_seconds)
    now = time.time()

    report = sweeper.run(now)

    assert report.sent == [key] and item(key)["state"] == "placed"
    out = capsys.readouterr().out
    assert "lock not released" in out and "AccessDeniedException" in out
    # The lock it could not give back holds until it expires, then the next sweep runs.
    assert sweeper.run(now + 1).skipped
    assert not sweeper.run(now + SWEEP_LOCK_SECONDS + 1).skipped


def test_release_logs_and_swallows_a_refusal(stack, capsys):
    state = refusing_delete_item()
    assert state.acquire("job", time.time(), 60, holder="me")
    capsys.readouterr()
    state.release("job", "me")  # must not raise
    out = capsys.readouterr().out
    assert "lock not released" in out and "AccessDeniedException" in out
