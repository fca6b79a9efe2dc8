"""An alert's whole life, top to bottom.

    parse → authenticate → validate → resolve instrument → read token → build the order
      → send it once → classify the reply → answer + one log line

Each step is one call whose name says what it decides; the rules live in the modules called.
Time and randomness come in as arguments so tests neither sleep nor patch clocks.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from chalicelib import auth
from chalicelib.alerts import Alert, parse_body, validate_alert
from chalicelib.broker import BrokerClient, OrderWrite, Outcome, WriteResult
from chalicelib.config import IST, Settings
from chalicelib.errors import AlertRejected, FieldProblem, RelayError, StaleAlert, TokenUnavailable
from chalicelib.instruments import InstrumentMaster
from chalicelib.ledger import Claim, Ledger, State, ledger_key
from chalicelib.observability import log_alert, tag_alert
from chalicelib.orders import build_order, remarks_tag
from chalicelib.pacing import WritePacer
from chalicelib.reconcile import find_order
from chalicelib.risk import RiskGuard
from chalicelib.tokens import TokenStore, WebhookSecret


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
    started: float | None = None  # when the alert arrived (perf counter), for latencies

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
        ledger: Ledger,
        pacer: WritePacer,
        risk: RiskGuard,
        make_nonce: Callable[[], str] = lambda: secrets.token_hex(6),
        perf_counter: Callable[[], float] = time.perf_counter,
    ):
        self.settings = settings
        self.webhook_secret = webhook_secret
        self.tokens = tokens
        self.instruments = instruments
        self.broker = broker
        self.ledger = ledger
        self.pacer = pacer
        self.risk = risk
        self._make_nonce = make_nonce
        self._perf = perf_counter

    def handle_alert(self, incoming: IncomingAlert, now: float) -> Answer:
        started = self._perf()
        trail = _Trail({"source_ip": incoming.source_ip, "request_id": incoming.request_id}, started)
        try:
            answer = self._place(incoming, now, trail)
        except RelayError as error:
            trail.note(
                status_code=error.status_code,
                reason=error.public_message,
                cause=error.cause,
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
        key = ledger_key(alert)
        trail.note(key=key, **alert.summary())
        tag_alert(alert_id=alert.alert_id, ledger_key=key)

        stale = _staleness(alert, now, self.settings.max_alert_age_seconds)
        claim = self.ledger.claim(
            key, alert, now, State.REJECTED if stale else State.RECEIVED, message=stale.message if stale else None
        )
        if not claim.won:
            return _duplicate(claim)
        if stale:
            raise stale

        try:
            token = self.tokens.current()
            instrument = self.instruments.resolve(alert.resolved_exchange.value, alert.ticker, ist_date(now))
            write = build_order(alert, instrument, remarks_tag(alert.alert_id, self._make_nonce()), self.settings)
            token = self.risk.check(write.body, token, now)  # last: it counts the order for the day
        except RelayError as error:
            # Refused input is final; a missing token or dependency leaves the alert re-sendable.
            final = isinstance(error, AlertRejected)
            self.ledger.update(key, State.REJECTED if final else State.FAILED, now, message=error.public_message)
            raise
        trail.note(security_id=instrument.security_id, remarks=write.body["remarks"], endpoint=write.path)
        request = {"endpoint": write.path, "request": json.dumps(write.body), "remarks": write.body["remarks"],
                   "security_id": instrument.security_id}

        slot = self.pacer.reserve()
        if slot is None:
            self.ledger.update(key, State.QUEUED, now, **request)
            return Answer(202, {"status": "queued", "key": key, "remarks": write.body["remarks"],
                                "message": "over the order pace; the sweep will send it within a minute"})
        result = self.send_recorded(key, token, write, State.RECEIVED, slot, trail, extra=request)
        if result is None:  # settled elsewhere while this invocation waited: never write twice
            return _duplicate(Claim(key, False, self.ledger.get(key)))
        return _answer(result, write)

    def send_recorded(
        self, key: str, token: str, write: OrderWrite, expect: State, slot: float,
        trail: _Trail | None = None, extra: dict[str, Any] | None = None,
    ) -> WriteResult | None:
        """Mark the item sent (only if it is still in `expect`), write once in its pacing slot,
        reconcile an unknown outcome, record the result. None: another invocation had already
        moved the item, and nothing was written."""
        trail = trail or _Trail({"key": key})
        if not self.ledger.begin_send(key, expect, time.time(), **(extra or {})):
            trail.note(send_skipped=f"no longer {expect.value}")
            return None
        # The wait comes after the mark so that the write follows its slot as closely as possible.
        result = self._send_once(token, write, trail, slot)
        if result.outcome is Outcome.UNKNOWN:
            result = self._reconcile_now(token, write, result, trail)
        state = _STATE_AFTER[result.outcome]
        self.ledger.update(
            key,
            state,
            time.time(),
            # A broker rejection stays visible to the sweep until it has been announced.
            still_open=True if state is State.REJECTED else None,
            order_id=result.order_id,
            broker_status=result.order_status,
            message=result.message or None,
            latency_ms=trail.fields.get("broker_latency_ms"),
        )
        return result

    def _reconcile_now(self, token: str, write: OrderWrite, unknown: WriteResult, trail: _Trail) -> WriteResult:
        """Look for the order in the book a few times before answering 'unknown'."""
        for attempt in range(self.settings.reconcile_attempts):
            time.sleep(self.settings.reconcile_interval_seconds)
            try:
                row = find_order(self.broker.order_book(token), write.body)
            except RelayError:
                continue
            if row is not None:
                trail.note(reconciled=True, reconcile_attempt=attempt + 1)
                return WriteResult(Outcome.PLACED, order_id=str(row.get("id")), order_status=row.get("status"),
                                   message=f"found in the order book after: {unknown.message}")
        return unknown

    def _authenticate(self, incoming: IncomingAlert, claimed_secret: str | None, now: float) -> str:
        return auth.authenticate(
            raw_body=incoming.raw_body,
            claimed_secret=claimed_secret,
            signature=incoming.headers.get(auth.SIGNATURE_HEADER),
            secret=self.webhook_secret.value(),
            now=now,
            max_age_seconds=self.settings.signature_max_age_seconds,
        )

    def _send_once(self, token: str, write: OrderWrite, trail: _Trail, slot: float) -> WriteResult:
        """One write in its pacing slot. Only a TokenException (nothing placed) may lead to a
        second one, and only with a token that differs from the one the broker just refused."""
        if not self.pacer.wait_for(slot):
            return _LEFT_FOR_THE_SWEEP
        result = self._timed_place(token, write, trail)
        if result.outcome is Outcome.TOKEN_INVALID:
            try:
                fresh = self.tokens.reread()
            except RelayError as error:  # SSM down or the token gone: still nothing was placed
                trail.note(token_reread_failed=error.error, cause=error.cause)
                return result
            if fresh != token:
                trail.note(token_reread=True)
                # A second write needs its own slot, within the same allowed wait as the first:
                # two full waits plus two round trips could outlast API Gateway and the Lambda.
                second_slot = self.pacer.reserve()
                if second_slot is None or not self.pacer.wait_for(second_slot):
                    return _LEFT_FOR_THE_SWEEP
                result = self._timed_place(fresh, write, trail)
        return result

    def _timed_place(self, token: str, write: OrderWrite, trail: _Trail) -> WriteResult:
        started = self._perf()
        if trail.started is not None and "to_broker_ms" not in trail.fields:
            # The relay's own cost: alert in → order request on its way out.
            trail.note(to_broker_ms=round((started - trail.started) * 1000, 1))
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


_STATE_AFTER = {
    Outcome.PLACED: State.PLACED,
    Outcome.REJECTED: State.REJECTED,
    Outcome.UNKNOWN: State.UNKNOWN,
    Outcome.NOT_SENT: State.FAILED,  # provably not sent: the alert may be sent again
    Outcome.TOKEN_INVALID: State.FAILED,  # a TokenException places nothing
    Outcome.QUEUED: State.QUEUED,  # nothing placed yet: the sweep sends it with the token it reads
}
_FUTURE_TOLERANCE_SECONDS = 10
# Nothing was written (or only a TokenException, which places nothing): the sweep sends it.
_LEFT_FOR_THE_SWEEP = WriteResult(
    Outcome.QUEUED, message="no pacing slot could be kept within the allowed wait; the sweep will send it"
)


def _staleness(alert: Alert, now: float, max_age: int) -> StaleAlert | None:
    if alert.time is None:
        return None
    age = now - alert.time.timestamp()
    if age > max_age:
        return StaleAlert(
            "the alert is stale", detail=[FieldProblem("time", f"is {age:.0f} s old; alerts older than {max_age} s are not sent")]
        )
    if age < -_FUTURE_TOLERANCE_SECONDS:
        return StaleAlert(
            "the alert is from the future", detail=[FieldProblem("time", f"is {-age:.0f} s in the future; check the sender's clock")]
        )
    return None


def _duplicate(claim: Claim) -> Answer:
    first = claim.existing or {}
    return Answer(
        200,
        {"status": "duplicate", "key": claim.key, "first_seen": first.get("received_at"),
         "state": first.get("state"), "order_id": first.get("order_id")},
    )


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
    if result.outcome is Outcome.QUEUED:
        return Answer(202, {"status": "queued", "remarks": remarks, "message": result.message})
    return Answer(
        504 if result.timed_out else 502,
        {
            "status": "unknown",
            "message": f"{result.message}; the order may or may not exist: check the order book for remarks {remarks}",
            "remarks": remarks,
        },
    )
