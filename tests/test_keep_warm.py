"""The keep-warm schedule: one GET of the API's /health over real HTTP, only on trading days
inside the session, and nothing else (no services built, so no AWS or broker client exists)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import app as relay_app
from chalicelib import services
from chalicelib.keep_warm import keep_warm
from chalicelib.trading_calendar import IST
from local.stack import free_port

EVENT = {"id": "1", "detail-type": "Scheduled Event", "source": "aws.events", "account": "000000000000",
         "time": "2026-12-02T05:30:00Z", "region": "ap-south-1", "resources": [], "detail": {}, "version": "0"}


def at(year, month, day, hour, minute):
    return datetime(year, month, day, hour, minute, tzinfo=IST).timestamp()


@pytest.fixture
def api() -> Iterator[tuple[str, list[str]]]:
    """The API's /health on loopback: its URL and the paths it was asked for."""
    asked: list[str] = []

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status":"ok"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/health", asked
    server.shutdown()


def test_it_gets_health_inside_the_session_and_nothing_outside(api):
    url, asked = api
    assert keep_warm(at(2026, 12, 2, 9, 15), url) == {"warmed": True, "status": 200}
    assert keep_warm(at(2026, 12, 25, 9, 15), url) == {"warmed": False, "reason": "outside trading hours"}  # Christmas
    assert keep_warm(at(2026, 12, 2, 16, 0), url)["warmed"] is False
    assert keep_warm(at(2026, 12, 2, 9, 15), "") == {"warmed": False, "reason": "KEEP_WARM_URL is not set"}
    assert asked == ["/api/health"]


def test_an_api_that_cannot_be_reached_is_reported_not_raised():
    assert keep_warm(at(2026, 12, 2, 10, 0), f"http://127.0.0.1:{free_port()}/api/health") == {
        "warmed": False, "reason": "ConnectionError"}


def test_the_handler_reads_its_url_from_the_settings_and_builds_no_services(api, monkeypatch):
    url, asked = api
    monkeypatch.setenv("KEEP_WARM_URL", url)
    services.reset()  # settings are read again, with KEEP_WARM_URL
    monkeypatch.setattr(services, "build", lambda settings: pytest.fail("the keep-warm schedule built services"))
    monkeypatch.setattr(relay_app.time, "time", lambda: at(2026, 12, 2, 11, 0))
    assert relay_app.keep_warm(EVENT, None) == {"warmed": True, "status": 200}
    monkeypatch.setattr(relay_app.time, "time", lambda: at(2026, 12, 2, 16, 0))
    assert relay_app.keep_warm(EVENT, None)["warmed"] is False
    assert asked == ["/api/health"]
    services.reset()
