"""An alert's whole life, top to bottom.

    parse → authenticate → validate → resolve instrument → read token → build the order
      → send it once → classify the reply → answer + one log line

Each step is one call whose name says what it decides; the rules live in the modules called.
Time and randomness come in as arguments so tests neither sleep nor patch clocks.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from chalicelib import auth
from chalicelib.alerts import Alert, parse_body, validate_alert
from chalicelib.broker import BrokerClient, OrderWrite, Outcome, WriteResult
from chalicelib.config import Settings
from chalicelib.errors import AlertRejected, RelayError, TokenUnavailable
from chalicelib.instruments import InstrumentMaster
from chalicelib.observability import log_alert
from chalicelib.orders import build_order, remarks_tag
from chalicelib.tokens import TokenStore, WebhookSecret

IST = timezone(timedelta(hours=5, minutes=30), "IST")


@dataclass(frozen=True)
class IncomingAlert:
    raw_body: bytes
    headers: Mapping[str, str]  # lower-case names
    source_ip: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


@dataclass
class _Trail:
    """What the alert's log line will say; filled in as the alert moves along."""

    fields: dict[str, Any] = field(default_factory=dict)

    def note(self, **values: Any) -> None:
        self.fields.update(values)


def ist_date(now: float) -> date:
    return datetime.fromtimestamp(now, IST).date()


class Relay:
    def __init__(
        self,
        settings: Settings,
        *,
        webhook_secret: WebhookSecret,
        tokens: TokenStore,
        instruments: InstrumentMaster,
        broker: BrokerClient,
        make_nonce: Callable[[], str] = lambda: secrets.token_hex(6),
        perf_counter: Callable[[], float] = time.perf_counter,
    ):
        self.settings = settings
        self.webhook_secret = webhook_secret
        self.tokens = tokens
        self.instruments = instruments
        self.broker = broker
        self._make_nonce = make_nonce
        self._perf = perf_counter

    def handle_alert(self, incoming: IncomingAlert, now: float) -> Answer:
        started = self._perf()
        trail = _Trail({"source_ip": incoming.source_ip, "request_id": incoming.request_id})
        try:
            answer = self._place(incoming, now, trail)
        except RelayError as error:
            trail.note(
                status_code=error.status_code,
                reason=error.public_message,
                fields=[problem.field for problem in error.detail] or None,
                latency_ms=round((self._perf() - started) * 1000, 1),
            )
            log_alert(error.error, **trail.fields)
            raise
        trail.note(status_code=answer.status_code, latency_ms=round((self._perf() - started) * 1000, 1))
        log_alert(answer.body["status"], **trail.fields)
        return answer

    def _place(self, incoming: IncomingAlert, now: float, trail: _Trail) -> Answer:
        parsed = parse_body(incoming.raw_body)
        trail.note(auth=self._authenticate(incoming, parsed.claimed_secret, now))
        if parsed.problem is not None:
            raise AlertRejected(detail=[parsed.problem])
        assert parsed.fields is not None
        alert = validate_alert(parsed.fields)
        trail.note(**_describe(alert))

        token = self.tokens.current()
        instrument = self.instruments.resolve(alert.resolved_exchange.value, alert.ticker, ist_date(now))
        write = build_order(alert, instrument, remarks_tag(alert.alert_id, self._make_nonce()), self.settings)
        trail.note(security_id=instrument.security_id, remarks=write.body["remarks"], endpoint=write.path)

        result = self._send_once(token, write, trail)
        return _answer(result, write)

    def _authenticate(self, incoming: IncomingAlert, claimed_secret: str | None, now: float) -> str:
        return auth.authenticate(
            raw_body=incoming.raw_body,
            claimed_secret=claimed_secret,
            signature=incoming.headers.get(auth.SIGNATURE_HEADER),
            secret=self.webhook_secret.value(),
            now=now,
            max_age_seconds=self.settings.signature_max_age_seconds,
        )

    def _send_once(self, token: str, write: OrderWrite, trail: _Trail) -> WriteResult:
        """One write. Only a TokenException (nothing placed) may lead to a second one, and only
        with a token that differs from the one the broker just refused."""
        result = self._timed_place(token, write, trail)
        if result.outcome is Outcome.TOKEN_INVALID:
            fresh = self.tokens.reread()
            if fresh != token:
                trail.note(token_reread=True)
                result = self._timed_place(fresh, write, trail)
        return result

    def _timed_place(self, token: str, write: OrderWrite, trail: _Trail) -> WriteResult:
        started = self._perf()
        result = self.broker.place(token, write)
        trail.note(
            broker_latency_ms=round((self._perf() - started) * 1000, 1),
            broker_http_status=result.http_status,
            broker_error_type=result.error_type,
            order_id=result.order_id,
            order_status=result.order_status,
            broker_message=result.message or None,
        )
        return result


def _describe(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "symbol": alert.ticker,
        "exchange": alert.resolved_exchange.value,
        "side": alert.action.value,
        "qty": alert.quantity,
        "order_type": alert.order_type.value,
        "product": alert.product.value,
    }


def _answer(result: WriteResult, write: OrderWrite) -> Answer:
    remarks = write.body["remarks"]
    if result.outcome is Outcome.PLACED:
        return Answer(
            200,
            {"status": "placed", "order_id": result.order_id, "order_status": result.order_status, "remarks": remarks},
        )
    if result.outcome is Outcome.REJECTED:
        return Answer(422, {"status": "rejected", "message": result.message})
    if result.outcome is Outcome.TOKEN_INVALID:
        return Answer(
            TokenUnavailable.status_code,
            {"status": "token_invalid", "error": TokenUnavailable.error, "message": TokenUnavailable.message},
        )
    if result.outcome is Outcome.NOT_SENT:
        return Answer(502, {"status": "not_sent", "message": result.message})
    return Answer(
        504 if result.timed_out else 502,
        {
            "status": "unknown",
            "message": f"{result.message}; the order may or may not exist: check the order book for remarks {remarks}",
            "remarks": remarks,
        },
    )
