"""POST /webhook/signed: for senders that sign, open to any IP in AWS, so a valid
X-Relay-Signature is required there; /webhook keeps accepting a body secret or a signature."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from chalicelib import auth
from chalicelib.errors import Unauthenticated
from relay_cli import cli
from tests.conftest import SEEDED_SECRET

UNAUTHORIZED = {"error": "unauthorized", "message": "missing or invalid credentials"}


def post_signed(stack, body, headers=None, content_type="application/json"):
    raw = body if isinstance(body, str) else json.dumps(body)
    return stack.client.http.post("/webhook/signed", headers={"Content-Type": content_type, **(headers or {})}, body=raw)


def signature(raw, secret=SEEDED_SECRET, at=None):
    return {"X-Relay-Signature": auth.sign(raw.encode(), secret, int(at or time.time()))}


def test_without_a_signature_it_is_refused_and_nothing_is_sent(stack):
    body = stack.alert()
    body.pop("secret")
    answer = post_signed(stack, body)
    assert (answer.status_code, answer.json_body) == (401, UNAUTHORIZED)
    assert stack.simulator.order_writes() == []


def test_a_body_secret_alone_is_refused_there(stack):
    answer = post_signed(stack, stack.alert())  # right secret in the body, no signature
    assert (answer.status_code, answer.json_body) == (401, UNAUTHORIZED)
    answer = post_signed(stack, f"secret={SEEDED_SECRET} symbol=NSE:SBIN action=buy quantity=1", content_type="text/plain")
    assert answer.status_code == 401
    assert stack.simulator.order_writes() == []


@pytest.mark.parametrize("bad", ["wrong key", "stale", "another body"])
def test_a_bad_signature_is_refused(stack, bad):
    body = stack.alert()
    body.pop("secret")
    raw = json.dumps(body)
    headers = {"wrong key": signature(raw, secret="not-the-secret"), "stale": signature(raw, at=time.time() - 3600),
               "another body": signature(raw + " ")}[bad]
    assert post_signed(stack, raw, headers).status_code == 401
    assert stack.simulator.order_writes() == []


def test_a_valid_signature_places_the_order(stack):
    body = stack.alert(quantity=3)
    body.pop("secret")
    raw = json.dumps(body)
    answer = post_signed(stack, raw, signature(raw))
    assert answer.status_code == 200 and answer.json_body["status"] == "placed"
    [write] = stack.simulator.order_writes()
    assert write.json["qty"] == 3 and body["alert_id"] in write.json["remarks"]


def test_the_tradingview_route_still_takes_a_body_secret_or_a_signature(stack):
    assert stack.post(stack.alert()).json_body["status"] == "placed"
    body = stack.alert()
    body.pop("secret")
    raw = json.dumps(body)
    assert stack.post(raw, headers=signature(raw)).json_body["status"] == "placed"
    assert len(stack.simulator.order_writes()) == 2


def test_authenticate_requires_the_signature_when_told():
    raw, now = b'{"symbol":"SBIN"}', 1_800_000_000
    with pytest.raises(Unauthenticated):
        auth.authenticate(raw_body=raw, claimed_secret="s", signature=None, secret="s", now=now, max_age_seconds=300,
                          require_signature=True)
    assert auth.authenticate(raw_body=raw, claimed_secret=None, signature=auth.sign(raw, "s", now), secret="s", now=now,
                             max_age_seconds=300, require_signature=True) == "signature"


# --- relay test-alert uses the signed route ---------------------------------------------------------


class _Recorded(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        answer = json.dumps({"status": "placed", "order_id": "EQ-1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def test_relay_test_alert_signs_and_posts_to_the_signed_route(capsys):
    _Recorded.requests = []
    server = HTTPServer(("127.0.0.1", 0), _Recorded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api"
        code = cli.main(["--stage", "local", "--region", "ap-south-1", "--url", url, "test-alert", "--secret", SEEDED_SECRET])
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, capsys.readouterr()
    [(path, headers, body)] = _Recorded.requests
    assert path == "/api/webhook/signed"
    auth.verify_signature(headers["x-relay-signature"], body, SEEDED_SECRET, time.time(), 300)
    assert "secret" not in json.loads(body) and SEEDED_SECRET not in capsys.readouterr().out
