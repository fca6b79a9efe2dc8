"""indstocks-relay: TradingView alerts in, INDstocks orders out.

Routes and wiring only. The logic lives in chalicelib/; every relay error becomes an HTTP answer
in exactly one place (`_answer_errors`).
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

from chalice import Chalice, Response

from chalicelib import services
from chalicelib.errors import RelayError
from chalicelib.observability import logger
from chalicelib.relay import IncomingAlert

app = Chalice(app_name="indstocks-relay")
app.debug = False  # never send tracebacks to a caller

_JSON = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _json(status_code: int, body: dict[str, Any]) -> Response:
    return Response(body=body, status_code=status_code, headers=dict(_JSON))


def _answer_errors(view: Callable[..., Response]) -> Callable[..., Response]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except RelayError as error:
            return _json(error.status_code, error.body())
        except Exception as error:  # a bug: answer cleanly, log the type only (no payloads)
            logger.error("unhandled error", extra={"error_type": type(error).__name__})
            return _json(500, {"error": "internal_error", "message": "internal error"})

    return wrapped


def _incoming() -> IncomingAlert:
    request = app.current_request
    context = request.context or {}
    return IncomingAlert(
        raw_body=request.raw_body or b"",
        headers={name.lower(): value for name, value in (request.headers or {}).items()},
        source_ip=(context.get("identity") or {}).get("sourceIp"),
        request_id=context.get("requestId"),
    )


@app.route("/webhook", methods=["POST"], content_types=["application/json", "text/plain"])
@_answer_errors
def webhook() -> Response:
    answer = services.relay().handle_alert(_incoming(), now=time.time())
    return _json(answer.status_code, answer.body)


@app.route("/health", methods=["GET"])
def health() -> Response:
    # Cheap on purpose: no AWS or broker call, so probes cost nothing and cannot fail on them.
    return _json(200, {"status": "ok", "service": "indstocks-relay"})
