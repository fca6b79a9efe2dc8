"""The `chalice local` wrapper of the local stack: concurrent requests must not see each other."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from chalice import Chalice, local
from chalice import app as chalice_app
from chalice.config import Config

from local.chalice_local import run_requests_like_lambda


@pytest.fixture
def like_lambda(monkeypatch):
    # Undone after the test: the rest of the suite runs Chalice as shipped.
    for name in ("current_request", "lambda_context"):
        monkeypatch.setattr(chalice_app.Chalice, name, None, raising=False)
    monkeypatch.setattr(local.ThreadedHTTPServer, "request_queue_size", local.ThreadedHTTPServer.request_queue_size)
    run_requests_like_lambda()


def _echo_app(barrier: threading.Barrier) -> Chalice:
    app = Chalice(app_name="echo", configure_logs=False)

    @app.route("/echo", methods=["POST"])
    def echo():
        barrier.wait(timeout=5)  # both requests are stored before either view reads its own
        return {"body": app.current_request.json_body, "request_id": app.lambda_context.aws_request_id}

    return app


def _post_concurrently(app: Chalice, bodies: list[dict]) -> list[dict]:
    gateway = local.LocalGateway(app, Config())

    def post(body: dict) -> dict:
        reply = gateway.handle_request("POST", "/echo", {"content-type": "application/json"}, json.dumps(body).encode())
        return json.loads(reply["body"])

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_each_thread_sees_its_own_request(like_lambda):
    bodies = [{"n": 1}, {"n": 2}]
    replies = _post_concurrently(_echo_app(threading.Barrier(2)), bodies)
    assert [reply["body"] for reply in replies] == bodies
    assert replies[0]["request_id"] != replies[1]["request_id"]


def test_the_listen_backlog_is_raised_for_bursts(like_lambda):
    assert local.ThreadedHTTPServer.request_queue_size == 128
