"""indstocks-relay: TradingView alerts in, INDstocks orders out.

Routes, schedules and wiring only. The logic lives in chalicelib/; every relay error becomes an
HTTP answer in exactly one place (`_answer_errors`).
"""

from __future__ import annotations

import gc

# A cold start's imports allocate hundreds of thousands of objects, and the collector would walk
# them several times before the first alert is answered (≈ 30 ms here). It is switched off for
# the imports below and back on at the end of this module, with what they built frozen out of
# later collections (the warm path's pauses stay short too). tests/test_cold_imports.py holds it.
gc.disable()

import functools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from chalice import Chalice, Cron, Rate, Response

from chalicelib import observability, services
from chalicelib.config import get_settings
from chalicelib.dialects.openalgo import ENDPOINTS as OPENALGO_ENDPOINTS
from chalicelib.errors import FieldProblem, InvalidRequest, RelayError
from chalicelib.moments import ist_date
from chalicelib.observability import logger
from chalicelib.order_queue import QUEUE_NAME, queued_keys
from chalicelib.relay import IncomingAlert

# token_page, dashboard, journal, premarket and keep_warm are imported where they are used: a cold
# instance's first alert needs none of them, and it waits for every module imported here.

# Chalice's own logger shares the app's name with our Powertools logger; left to configure
# itself it would drop every line below ERROR. debug stays False: no tracebacks to callers.
app = Chalice(app_name="indstocks-relay", configure_logs=False)

_JSON = {"Content-Type": "application/json", "Cache-Control": "no-store"}
_FORM = "application/x-www-form-urlencoded"


@app.middleware("all")
def _observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Every invocation: correlation id on every log line, metrics flushed at the end."""
    observability.begin_invocation(_correlation_id(event))
    try:
        return get_response(event)
    finally:
        observability.end_invocation()


def _correlation_id(event: Any) -> str:
    """API Gateway's request id when there is one, else the Lambda request id."""
    context = getattr(event, "context", None)
    if isinstance(context, dict) and context.get("requestId"):
        return str(context["requestId"])
    lambda_context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    return str(getattr(lambda_context, "aws_request_id", None) or uuid.uuid4())


def _json(status_code: int, body: dict[str, Any]) -> Response:
    return Response(body=body, status_code=status_code, headers=dict(_JSON))


def _page(status_code: int, message: str | None = None, ok: bool = False) -> Response:
    from chalicelib import token_page

    accounts = services.get().book.names  # from the settings: the page makes no AWS call
    return Response(body=token_page.render(message, ok=ok, accounts=accounts), status_code=status_code,
                    headers=dict(token_page.HEADERS))


def _wants_page() -> bool:
    content_type = (app.current_request.headers or {}).get("content-type", "")
    return content_type.split(";")[0].strip().lower() == _FORM


def _answer_errors(view: Callable[..., Response]) -> Callable[..., Response]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except RelayError as error:
            if _wants_page():
                return _page(error.status_code, error.public_message)
            return _json(error.status_code, error.body())
        except Exception as error:  # noqa: BLE001 - a bug: answer cleanly, log the type only (no payloads)
            logger.error("unhandled error", extra={"error_type": type(error).__name__})
            return _json(500, {"error": "internal_error", "message": "internal error"})

    return wrapped


def _source_ip() -> str | None:
    return ((app.current_request.context or {}).get("identity") or {}).get("sourceIp")


def _incoming(require_signature: bool = False, route: str | None = None) -> IncomingAlert:
    request = app.current_request
    return IncomingAlert(
        raw_body=request.raw_body or b"",
        headers={name.lower(): value for name, value in (request.headers or {}).items()},
        source_ip=_source_ip(),
        request_id=(request.context or {}).get("requestId"),
        remaining_seconds=_remaining_seconds(),
        require_signature=require_signature,
        route=route,
    )


def _remaining_seconds() -> float | None:
    """What Lambda says is left of this invocation (absent outside Lambda-like runners)."""
    remaining = getattr(app.lambda_context, "get_remaining_time_in_millis", None)
    try:
        return remaining() / 1000 if callable(remaining) else None
    except Exception:  # noqa: BLE001 - a runner's context without a usable clock: the setting decides
        return None


def _admin_fields() -> dict[str, str]:
    """admin_key/token from a form or a JSON body; anything else is a 400."""
    raw = app.current_request.raw_body or b""
    if _wants_page():
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return {key: values[0] for key, values in form.items() if values}
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise InvalidRequest("the body is not valid JSON", detail=[FieldProblem("body", "is not valid JSON")]) from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", detail=[FieldProblem("body", "must be a JSON object")])
    return {key: value for key, value in body.items() if isinstance(value, str)}


def _check_admin(fields: dict[str, str]) -> None:
    key = fields.get("admin_key") or (app.current_request.headers or {}).get("x-admin-key")
    services.get().admin.check(key, _source_ip(), time.time())


# --- the webhook ---------------------------------------------------------------------------


@app.route("/webhook", methods=["POST"], content_types=["application/json", "text/plain"])
@_answer_errors
def webhook() -> Response:
    answer = services.get().relay.handle_alert(_incoming(), now=time.time())
    return _json(answer.status_code, answer.body)


@app.route("/webhook/signed", methods=["POST"], content_types=["application/json", "text/plain"])
@_answer_errors
def signed_webhook() -> Response:
    """For senders that sign (X-Relay-Signature), from any IP: /webhook admits only TradingView's
    IPs in AWS, so this route must refuse a body secret alone."""
    answer = services.get().relay.handle_alert(_incoming(require_signature=True), now=time.time())
    return _json(answer.status_code, answer.body)


# --- OpenAlgo's API paths (chalicelib/dialects/openalgo.py): its bodies, its answers --------


def _openalgo(endpoint: str) -> Response:
    from chalicelib.dialects import openalgo

    try:
        answer = services.get().relay.handle_alert(_incoming(route=f"openalgo/{endpoint}"), now=time.time())
        status, body = openalgo.respond(answer.status_code, answer.body)
    except RelayError as error:
        status, body = openalgo.error_answer(error)
    except Exception as error:  # noqa: BLE001 - a bug: answer cleanly, log the type only (no payloads)
        logger.error("unhandled error", extra={"error_type": type(error).__name__})
        status, body = 500, {"status": "error", "message": "internal error"}
    return _json(status, body)


def _openalgo_route(endpoint: str) -> None:
    def view() -> Response:
        return _openalgo(endpoint)

    view.__name__ = f"openalgo_{endpoint}"  # Chalice names each route by its view
    app.route(f"/api/v1/{endpoint}", methods=["POST"], content_types=["application/json", "text/plain"])(view)


for _endpoint in OPENALGO_ENDPOINTS:
    _openalgo_route(_endpoint)


@app.route("/health", methods=["GET"])
def health() -> Response:
    # Cheap on purpose: no AWS or broker call, so probes cost nothing and cannot fail on them.
    answer = {"status": "ok", "service": "indstocks-relay"}
    if run := get_settings().local_run_id:  # `make run` checks that READY's /health is its own
        answer["run"] = run
    return _json(200, answer)


# --- the journal ---------------------------------------------------------------------------


@app.route("/orders", methods=["GET"])
@_answer_errors
def orders() -> Response:
    """The ledger, newest first: ?status=<state>&since=<2h | today | ISO-8601>&limit=<1..500>&account=<name>
    (unset: every account). Admin key header."""
    from chalicelib.journal import journal_query

    _check_admin({})
    query = journal_query(app.current_request.query_params or {}, now=time.time())
    return _json(200, {"orders": services.get().journal.journal(**query)})


# --- the kill switch -----------------------------------------------------------------------


@app.route("/pause", methods=["POST"], content_types=["application/json"])
@_answer_errors
def pause() -> Response:
    """Nothing reaches the broker until /resume: the whole stage, or {"strategy": …} alone."""
    return _switch("pause")


@app.route("/resume", methods=["POST"], content_types=["application/json"])
@_answer_errors
def resume() -> Response:
    return _switch("resume")


@app.route("/flatten", methods=["POST"], content_types=["application/json"])
@_answer_errors
def flatten() -> Response:
    """Pause, cancel the open orders and close the positions: {"scope": "relay" | "all", "strategy": …}."""
    from chalicelib.flatten import Flattener, flatten_request

    fields = _admin_fields()
    _check_admin(fields)
    request = flatten_request(fields)
    built, now = services.get(), time.time()
    return _json(200, built.each_account(lambda each: Flattener(each.relay, each.ledger).run(
        now, scope=request.scope, strategy=request.strategy)))


def _switch(action: str) -> Response:
    from chalicelib.kill_switch import switch_request

    fields = _admin_fields()
    _check_admin(fields)
    request = switch_request(fields)
    switch, now = services.get().relay.switch, time.time()
    state = (switch.pause(now, strategy=request.strategy, reason=request.reason) if action == "pause"
             else switch.resume(now, strategy=request.strategy))
    logger.warning("kill switch " + action, extra={"event": "kill_switch", "action": action,
                                                   "strategy": request.strategy, **state.as_dict()})
    return _json(200, {"status": "paused" if state.stops(request.strategy, now) else "live", **state.as_dict()})


# --- the daily token -----------------------------------------------------------------------


@app.route("/token", methods=["GET"])
def token_form() -> Response:
    return _page(200)


@app.route("/token", methods=["POST"], content_types=[_FORM, "application/json"])
@_answer_errors
def token_paste() -> Response:
    fields = _admin_fields()
    _check_admin(fields)
    token = fields.get("token", "")
    if not token.strip():
        raise InvalidRequest("the token is missing", detail=[FieldProblem("token", "is required")])
    built = services.get()
    account = built.account(fields.get("account") or None)
    stored = account.token_service.store_pasted(token, time.time())
    if _wants_page():
        saved_in = f" in account {account.account.name}" if len(built.accounts) > 1 else ""
        return _page(200, f"Token saved{saved_in} for {stored.account_name}. It expires "
                          f"{stored.as_dict()['expires_at_ist']}.", ok=True)
    return _json(200, stored.as_dict())


@app.route("/token/rotate", methods=["POST"], content_types=["application/json"])
@_answer_errors
def token_rotate() -> Response:
    fields = _admin_fields()
    _check_admin(fields)
    stored = services.get().account(fields.get("account") or None).token_service.rotate(time.time())
    return _json(200, stored.as_dict())


# --- the phone dashboard --------------------------------------------------------------------


@app.route("/dashboard", methods=["GET"])
@_answer_errors
def dashboard_view() -> Response:
    """Signed in: the view; otherwise the sign-in form (chalicelib/dashboard)."""
    return _dashboard()


@app.route("/dashboard", methods=["POST"], content_types=[_FORM])
@_answer_errors
def dashboard_form() -> Response:
    """Sign-in and the actions: urlencoded forms, each with its CSRF token once signed in."""
    return _dashboard()


def _dashboard() -> Response:
    from chalicelib.dashboard import Request, serve

    request = app.current_request
    page = serve(services.get(), Request(request.method, {k.lower(): v for k, v in (request.headers or {}).items()},
                                         request.raw_body or b"", _source_ip()))
    return Response(body=page.body, status_code=page.status, headers=page.headers)


# --- schedules (UTC) ---------------------------------------------------------------------


@app.schedule(Cron(0, 3, "?", "*", "MON-FRI", "*"), name="morning_token_rotation")
def morning_token_rotation(event: Any) -> dict[str, Any]:
    """08:30 IST: mint the day's token with TOTP, for each enabled account set up for it."""
    built = services.get()
    return built.each_account(lambda each: _rotate(each.token_service), enabled_only=True)


def _rotate(renewal: Any) -> dict[str, Any]:
    if not renewal.rotation_configured():
        logger.info("token rotation not configured; skipping", extra={"event": "token", "outcome": "rotation_skipped"})
        return {"rotated": False, "reason": "not configured"}
    try:
        stored = renewal.rotate(time.time())
    except RelayError as failure:  # already reported by the service; a schedule must not loop
        return {"rotated": False, "reason": failure.public_message}
    return {"rotated": True, "expires_at": stored.expires_at.isoformat()}


@app.schedule(Cron(15, 3, "?", "*", "MON-FRI", "*"), name="premarket_token_check")
def premarket_token_check(event: Any) -> dict[str, Any]:
    """08:45 IST: warn (SNS + log) if the live token is missing, rejected or stale, or today's
    instrument master cannot be loaded."""
    from chalicelib.premarket import premarket_check

    built, now = services.get(), time.time()
    fno = built.relay.derivatives.master if built.relay.derivatives is not None else None
    return built.each_account(lambda each: premarket_check(
        each.token_service, each.relay.instruments, each.notifier, now, ist_date(now), fno=fno,
        schedule=each.relay.schedule).as_dict(), enabled_only=True)


# --- orders whose fate is still open ----------------------------------------------------------


@app.schedule(Rate(1, unit=Rate.MINUTES), name="order_sweep")
def order_sweep(event: Any) -> dict[str, Any]:
    """Every minute, at any hour (AMO orders exist outside market hours): send queued alerts,
    reconcile unknown outcomes, follow placed orders to a terminal status."""
    built, now = services.get(), time.time()
    return built.each_account(lambda each: each.sweeper.run(now).as_dict())


# --- writes over the pace, sent in their slot ---------------------------------------------


@app.on_sqs_message(queue=QUEUE_NAME, batch_size=1, name="send_queued_orders")
def send_queued_orders(event: Any) -> dict[str, Any]:
    """One queued alert per message (FIFO, grouped by instrument). Raising hands the message back
    to the queue for another delivery; the ledger's conditional move into `sent` makes any
    delivery after the first write nothing."""
    built, now = services.get(), time.time()
    remaining = getattr(getattr(event, "context", None), "get_remaining_time_in_millis", None)
    seconds = remaining() / 1000 if callable(remaining) else None
    # Each queued item is its account's: sent with that account's token, in its pacing schedule.
    results = [built.for_key(key).queued_sender.send(key, now, seconds)
               for key in queued_keys(record.body for record in event)]
    return {"results": [{"key": r.key, "outcome": r.outcome} for r in results]}


# --- the API function kept warm through the session ---------------------------------------


@app.schedule(Cron("0/5", "3-10", "?", "*", "MON-FRI", "*"), name="keep_warm")
def keep_warm(event: Any) -> dict[str, Any]:
    """Every 5 minutes, 08:30-16:25 IST on weekdays; pings only on NSE trading days 09:00-15:30."""
    from chalicelib.keep_warm import keep_warm as keep_warm_now

    outcome = keep_warm_now(time.time(), get_settings().keep_warm_url)
    logger.info("keep warm", extra={"event": "keep_warm", **outcome})
    return outcome


# The imports are done: what they built is permanent, the collector works on what comes after.
gc.freeze()
gc.enable()
