"""The relay's exception types. Each knows its HTTP status and its public body.

`app.py` turns any `RelayError` into a response in exactly one place; logic code raises and never
builds responses. Public messages never contain secrets, tokens or the raw request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RelayError(Exception):
    status_code = 500
    error = "internal_error"
    message = "internal error"

    def __init__(
        self, message: str | None = None, *, detail: list[FieldProblem] | None = None, cause: str | None = None
    ):
        super().__init__(message or self.message)
        self.public_message = message or self.message
        self.detail = detail or []
        self.cause = cause  # for the log line only (see failure_cause), never in the public body

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "message": self.public_message}
        if self.detail:
            body["detail"] = [problem.as_dict() for problem in self.detail]
        return body


class InvalidRequest(RelayError):
    status_code = 400
    error = "invalid_request"
    message = "the request is invalid"


class AlertRejected(InvalidRequest):
    """The alert is malformed, invalid or unsupported: nothing is sent to the broker."""

    error = "invalid_alert"
    message = "the alert is invalid"


class StaleAlert(AlertRejected):
    error = "stale_alert"


class UnknownSymbol(AlertRejected):
    error = "unknown_symbol"


class RiskLimitExceeded(AlertRejected):
    """The order is over one of the stage's risk limits (chalicelib/risk.py): nothing is sent."""

    status_code = 422
    error = "risk_limit"
    message = "the order is over a risk limit; nothing was sent"


class Paused(AlertRejected):
    """The kill switch is on for the stage or the alert's strategy (chalicelib/kill_switch.py):
    the alert is recorded `paused` and nothing is sent, now or on resume."""

    status_code = 409
    error = "paused"
    message = "the relay is paused; nothing was sent"


class ImplausibleTick(AlertRejected):
    """The instrument master's tick for this instrument is not a plausible rupee tick (it may be
    in paise): a price rounded to it could move by rupees, so priced orders are refused."""

    status_code = 422
    error = "implausible_tick"
    message = "the instrument's tick size is not plausible; nothing was sent"


class SizeTooSmall(AlertRejected):
    """A sizing mode (capital, risk, percent of funds) makes less than one share or one lot: the
    message says the inputs and the arithmetic; nothing is sent."""

    status_code = 422
    error = "size_too_small"
    message = "the order sizes to less than one share or lot; nothing was sent"


class OutsideWindow(AlertRejected):
    """Not now: an entry outside ENTRY_WINDOW, or an exit outside the session. The alert is
    valid and could pass at another time of day; nothing is sent."""

    status_code = 409
    error = "outside_window"
    message = "the alert arrived outside the hours it is accepted in; nothing was sent"


class MarketClosed(OutsideWindow):
    """Not today: the exchange is closed (a weekend or an NSE trading holiday)."""

    error = "market_closed"
    message = "the exchange is closed today; nothing was sent"


class BodyTooLarge(RelayError):
    """Refused before authentication and parsing: no alert is anywhere near this size."""

    status_code = 413
    error = "body_too_large"
    message = "the body is too large"


class Unauthenticated(RelayError):
    """Missing or wrong secret/signature. Deliberately says nothing about which."""

    status_code = 401
    error = "unauthorized"
    message = "missing or invalid credentials"


class TokenUnavailable(RelayError):
    """No usable INDstocks token: the trader must renew it."""

    status_code = 503
    error = "token_unavailable"
    message = "the INDstocks access token is missing or expired; renew it on the token page"


class NotConfigured(RelayError):
    status_code = 503
    error = "not_configured"
    message = "the relay is not configured"


class DependencyUnavailable(RelayError):
    """An AWS or broker read the relay needs (not an order write) failed; nothing was sent."""

    status_code = 503
    error = "dependency_unavailable"
    message = "a service the relay depends on is unavailable; the order was not sent"


class TokenRejected(RelayError):
    status_code = 400
    error = "token_rejected"
    message = "token rejected by INDstocks"


class BrokerUnreachable(RelayError):
    status_code = 502
    error = "broker_unreachable"
    message = "INDstocks could not be reached; nothing was stored"


class TokenGenerationFailed(RelayError):
    status_code = 502
    error = "token_generation_failed"
    message = "INDstocks did not issue a token"


class TokenNotStored(RelayError):
    """Rotation minted a token (which killed the previous one) but could not store it."""

    status_code = 503
    error = "token_not_stored"
    message = ("INDstocks issued a new token but the relay could not store it, and the previous token is no "
               "longer valid; paste a new token on the token page")


class AdminLocked(RelayError):
    """Too many wrong admin keys from all addresses together: the admin endpoints are closed to
    everyone until the window passes (someone is guessing from many addresses)."""

    status_code = 429
    error = "admin_locked"
    message = "too many failed admin keys from all addresses; the admin endpoints are locked, try again later"


class RotationBusy(RelayError):
    """Another instance generated (or is generating) a token within the last minute."""

    status_code = 429
    error = "rotation_busy"
    message = "a token was generated less than a minute ago or is being generated; not generating another"


def failure_cause(error: BaseException) -> str:
    """What failed underneath, safe to log: the first AWS error code along the exception chain
    (`ProvisionedThroughputExceededException`), else the innermost exception's type
    (`ReadTimeoutError`). Never a message: those can quote request values."""
    current: BaseException | None = error
    innermost = error
    while current is not None:
        response = getattr(current, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code"):
            return str(response["Error"]["Code"])
        innermost = current
        current = current.__cause__ or current.__context__
    return type(innermost).__name__
