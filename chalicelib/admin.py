"""The admin key that guards the token page and the other operator endpoints.

Only a salted scrypt hash is stored (SSM SecureString named by ADMIN_KEY_PARAMETER); the key
itself is stored nowhere. Verification is constant time. Five failures from one source IP
within 15 minutes lock that IP out (429) until the window has passed, across all instances;
twenty from all addresses together lock everyone out and notify the owner once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.errors import AdminLocked, FieldProblem, InvalidRequest, NotConfigured, RelayError, Unauthenticated
from chalicelib.notify import Notifier
from chalicelib.observability import logger
from chalicelib.state import StateTable
from chalicelib.tokens import ParameterMissing, ParameterStore

RequestModel = TypeVar("RequestModel", bound=BaseModel)

MIN_KEY_LENGTH = 12
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB, tens of ms: cheap for us, slow for a guesser


class TooManyAttempts(RelayError):
    status_code = 429
    error = "too_many_attempts"
    message = "too many failed attempts from this address; try again later"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_admin_key(key: str, salt: bytes | None = None) -> str:
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"the admin key must be at least {MIN_KEY_LENGTH} characters")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(key.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def verify_admin_key(key: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            key.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


class AdminGuard:
    """Each attempt is counted before the (deliberately slow) key check, by one conditional
    update per window: one for the source IP, one for all addresses together. Checking the
    count and recording a failure as two steps would let parallel guesses all pass the check.
    A right key gives its attempts back, so the owner never uses up the budget."""

    def __init__(
        self,
        parameters: ParameterStore,
        parameter_name: str,
        state: StateTable,
        *,
        max_failures: int = 5,
        max_failures_everywhere: int = 20,
        window_seconds: int = 900,
        notifier: Notifier | None = None,
    ):
        self._parameters = parameters
        self._parameter_name = parameter_name
        self._state = state
        self._max_failures = max_failures
        self._max_everywhere = max_failures_everywhere
        self._window = window_seconds
        self._notifier = notifier

    def _stored_hash(self) -> str:
        try:
            return self._parameters.get(self._parameter_name, max_age=300)
        except ParameterMissing:
            raise NotConfigured("no admin key is set; run `relay set-admin-key` first") from None

    def check(self, key: str | None, source_ip: str | None, now: float) -> None:
        """Raise unless `key` is the admin key; lock out an IP after 5 failures in the window,
        and everyone after 20 from all addresses."""
        mine = self._state.take_attempt(f"admin#{source_ip or 'unknown'}", now, self._window, self._max_failures)
        if mine is None:
            logger.warning("admin key locked out", extra={"event": "admin_auth", "outcome": "locked_out", "source_ip": source_ip})
            raise TooManyAttempts()
        everyone = self._state.take_attempt("admin#all", now, self._window, self._max_everywhere)
        if everyone is None:
            self._state.give_back_attempt(mine)  # not checked: not this address's failure
            self._locked_for_everyone(source_ip, now)
        if key and verify_admin_key(key, self._stored_hash()):
            self._state.give_back_attempt(everyone)
            self._state.give_back_attempt(mine)
            return
        logger.warning(
            "admin key rejected",
            extra={"event": "admin_auth", "outcome": "rejected", "source_ip": source_ip,
                   "failures_in_window": mine.count, "failures_everywhere": everyone.count},
        )
        raise Unauthenticated()

    def _locked_for_everyone(self, source_ip: str | None, now: float) -> NoReturn:
        logger.warning("admin key locked for everyone",
                       extra={"event": "admin_auth", "outcome": "locked_everywhere", "source_ip": source_ip})
        # One message per window, however many instances and attempts run into the lock.
        if self._notifier is not None and self._state.acquire("admin-lock-notice", now, self._window):
            self._notifier.warn(
                "Admin endpoints locked",
                f"{self._max_everywhere} wrong admin keys within {self._window // 60} minutes, from all addresses "
                "together: someone may be guessing your admin key. The token page and the journal refuse every "
                f"key, yours too, until {self._window // 60} minutes after the first of them.",
                outcome="admin_locked",
            )
        raise AdminLocked()


def admin_request(model: type[RequestModel], fields: dict[str, Any]) -> RequestModel:
    """The body of an admin route as its model (pydantic, extra="forbid"), or InvalidRequest
    naming each bad field (the admin key itself never echoed)."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        problems = [FieldProblem(".".join(map(str, e["loc"])) or "body", e["msg"])
                    for e in error.errors(include_url=False, include_input=False)]
        raise InvalidRequest("the request is invalid", detail=problems) from None
