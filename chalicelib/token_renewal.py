"""Renewing the daily INDstocks token: pasted by the trader, or minted with TOTP, and checked
before the market opens.

Every token is validated with `GET /user/profile` from the relay itself (so, in AWS, through
the static IP) before it is stored. The token goes to its SecureString; metadata (when stored,
expected expiry, whose account) goes to a plain parameter next to it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any

from chalicelib.broker import BrokerClient
from chalicelib.config import IST, Settings
from chalicelib.errors import (
    BrokerUnreachable,
    DependencyUnavailable,
    NotConfigured,
    RelayError,
    RotationBusy,
    TokenGenerationFailed,
    TokenNotStored,
    TokenRejected,
    TokenUnavailable,
)
from chalicelib.notify import Notifier
from chalicelib.observability import logger, record_token_age
from chalicelib.state import StateTable
from chalicelib.token_alarm import DeadTokenAlarm
from chalicelib.tokens import ParameterMissing, ParameterStore, TokenStore

TOKEN_LIFETIME = timedelta(hours=24)
GENERATION_SPACING_SECONDS = 61  # INDstocks: one token per 60 s; a second one kills the first
# The cash session's end: the pre-market check wants a token that lives past it.
SESSION_CLOSE = dt_time(15, 30)
# A minted token has already killed the previous one, so its SSM write is tried again (never the
# generation): at most 4 attempts, pauses 0.5, 1, 2 s, none started later than 8 s after the
# first, which keeps even slow attempts well inside the scheduled function's 30 s.
STORE_ATTEMPTS = 4
STORE_BACKOFF_SECONDS = 0.5
STORE_RETRY_WINDOW_SECONDS = 8.0


@dataclass(frozen=True)
class StoredToken:
    account_name: str
    user_id: str
    stored_at: datetime
    expires_at: datetime
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "stored",
            "account_name": self.account_name,
            "user_id": self.user_id,
            "stored_at": self.stored_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "expires_at_ist": self.expires_at.astimezone(IST).strftime("%d %b %Y, %H:%M IST"),
            "source": self.source,
        }


@dataclass(frozen=True)
class TokenHealth:
    healthy: bool
    reason: str
    age_hours: float | None = None
    account_name: str | None = None
    notified: bool = False
    # From the same profile read: may this account trade futures & options on NSE / BSE?
    fno_onboarded: dict[str, bool] | None = None


def _meta_name(token_parameter: str) -> str:
    return token_parameter + "-meta"


def _fno_onboarded(profile: dict[str, Any]) -> dict[str, bool] | None:
    said = {exchange: profile.get(f"is_{exchange.lower()}_fno_onboarded") for exchange in ("NSE", "BSE")}
    return {exchange: bool(value) for exchange, value in said.items() if isinstance(value, bool)} or None


def _account_name(profile: dict[str, Any]) -> str:
    name = " ".join(str(profile.get(key) or "").strip() for key in ("first_name", "last_name")).strip()
    return name or str(profile.get("user_id") or "unknown account")


class TokenService:
    def __init__(
        self,
        settings: Settings,
        *,
        parameters: ParameterStore,
        tokens: TokenStore,
        broker: BrokerClient,
        state: StateTable,
        notifier: Notifier,
        alarm: DeadTokenAlarm | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self._parameters = parameters
        self._tokens = tokens
        self._broker = broker
        self._state = state
        self._notifier = notifier
        self._alarm = alarm
        self.sleep = sleep  # between store attempts; tests pass one that does not sleep
        self._clock = clock

    # --- validation and storage -------------------------------------------------------------

    def _profile(self, token: str) -> dict[str, Any]:
        try:
            return self._broker.profile(token)
        except TokenUnavailable:
            raise TokenRejected() from None
        except DependencyUnavailable:
            raise BrokerUnreachable() from None

    def _store(self, token: str, profile: dict[str, Any], now: float, source: str, *, attempts: int = 1) -> StoredToken:
        stored_at = datetime.fromtimestamp(now, UTC)
        stored = StoredToken(
            account_name=_account_name(profile),
            user_id=str(profile.get("user_id") or ""),
            stored_at=stored_at,
            expires_at=stored_at + TOKEN_LIFETIME,
            source=source,
        )
        self._put_token(token, attempts)
        meta = {key: value for key, value in stored.as_dict().items() if key != "status"}
        self._parameters.put_plain(_meta_name(self.settings.token_parameter), json.dumps(meta))
        self._tokens.forget()  # the very next order in this process uses the new token
        if self._alarm is not None:
            self._alarm.rearm(now)  # if this token dies too, the trader hears about it again
        self._notifier.warn(
            "INDstocks token renewed",
            f"A new INDstocks token for {stored.account_name} was stored ({source}); "
            f"it expires {stored.as_dict()['expires_at_ist']}.",
            outcome="token_renewed",
        )
        logger.info(
            "token stored",
            extra={"event": "token", "outcome": "stored", "source": source, "user_id": stored.user_id,
                   "expires_at": stored.expires_at.isoformat()},
        )
        return stored

    def _put_token(self, token: str, attempts: int) -> None:
        """Write the token; a failed SSM write (idempotent) is tried again up to `attempts` times,
        with doubling pauses, none starting later than STORE_RETRY_WINDOW_SECONDS after the first."""
        started = self._clock()
        for attempt in range(1, attempts + 1):
            try:
                self._parameters.put_secure(self.settings.token_parameter, token)
                return
            except DependencyUnavailable as failure:
                pause = STORE_BACKOFF_SECONDS * 2 ** (attempt - 1)
                if attempt == attempts or self._clock() - started + pause > STORE_RETRY_WINDOW_SECONDS:
                    raise
                logger.warning("token not stored; trying again", extra={"event": "token", "outcome": "store_retry",
                                                                          "attempt": attempt, "cause": failure.cause})
                self.sleep(pause)

    def store_pasted(self, token: str, now: float) -> StoredToken:
        token = token.strip()
        if not token or len(token) > 4096 or any(ch.isspace() for ch in token):
            raise TokenRejected("that does not look like an INDstocks token")
        profile = self._profile(token)
        return self._store(token, profile, now, "paste")

    # --- automatic rotation ------------------------------------------------------------------

    def _rotation_credentials(self) -> tuple[str, str, str]:
        names = (self.settings.client_id_parameter, self.settings.mpin_parameter, self.settings.totp_secret_parameter)
        try:
            return tuple(self._parameters.get(name, max_age=300).strip() for name in names)  # type: ignore[return-value]
        except ParameterMissing:
            raise NotConfigured(
                "automatic rotation is not configured (client id, MPIN and TOTP secret parameters)"
            ) from None

    def rotation_configured(self) -> bool:
        try:
            self._rotation_credentials()
        except NotConfigured:
            return False
        return True

    def rotate(self, now: float) -> StoredToken:
        """Mint one token with TOTP. Single-flight across instances, never retried."""
        try:
            client_id, mpin, code = self._rotation_request(now)
            if not self._state.acquire("token-generation", now, GENERATION_SPACING_SECONDS):
                logger.warning("token rotation skipped: busy", extra={"event": "token", "outcome": "rotation_busy"})
                raise RotationBusy()
            token = self._broker.generate_token(client_id, mpin, code)
        except (RotationBusy, NotConfigured):
            raise
        except RelayError as failure:
            self._notifier.warn(
                "INDstocks token rotation failed",
                f"Automatic token rotation failed: {failure.public_message}. "
                f"Paste a token on the token page: {self.settings.token_page_url or '(token page)'}",
                outcome="rotation_failed",
            )
            raise
        try:
            profile = self._broker.profile(token)
        except RelayError:
            # The new token is already the only live one: store it even if the profile read
            # failed, or every order until tomorrow would go out with a dead token.
            profile = {}
        try:
            return self._store(token, profile, now, "rotation", attempts=STORE_ATTEMPTS)
        except DependencyUnavailable as failure:
            # The generation is never repeated (it would burn a code and could walk into the
            # lockout): the old token is dead and this one is lost, so the trader must paste one.
            logger.error("minted token not stored", extra={"event": "token", "outcome": "store_failed",
                                                            "cause": failure.cause})
            self._notifier.warn(
                "INDstocks token minted but NOT stored",
                "Automatic rotation got a new INDstocks token but the relay could not store it "
                f"({failure.public_message}). The previous token is no longer valid, so every order fails "
                f"until a token is stored: paste a new one on the token page now: "
                f"{self.settings.token_page_url or '(token page)'}",
                outcome="token_not_stored",
            )
            raise TokenNotStored(cause=failure.cause) from None

    def _rotation_request(self, now: float) -> tuple[str, str, str]:
        import pyotp  # here, not at the top: only the morning rotation needs it, never a cold alert

        client_id, mpin, totp_secret = self._rotation_credentials()
        try:
            code = pyotp.TOTP(totp_secret).at(int(now))
        except (ValueError, TypeError):
            raise TokenGenerationFailed("the TOTP secret stored for rotation is not a valid base32 secret") from None
        return client_id, mpin, code

    # --- pre-market check ---------------------------------------------------------------------

    def _stored_at(self) -> datetime | None:
        # SSM's own LastModifiedDate: true however the token was stored (page, CLI, console).
        return self._parameters.modified_at(self.settings.token_parameter)

    def check(self, now: float) -> TokenHealth:
        """Is the live token usable for today's session? Warn the trader if not."""
        health = self._health(now)
        if health.age_hours is not None:
            record_token_age(health.age_hours)
        log = logger.info if health.healthy else logger.warning
        log("token check", extra={"event": "token_check", "healthy": health.healthy, "reason": health.reason,
                                  "age_hours": health.age_hours})
        if health.healthy:
            return health
        notified = self._notifier.warn(
            "INDstocks token needs renewal",
            f"The relay's INDstocks token is {health.reason}. Renew it before the market opens: "
            f"{self.settings.token_page_url or '(token page)'}",
            outcome="token_stale",
            reason=health.reason,
        )
        return TokenHealth(health.healthy, health.reason, health.age_hours, health.account_name, notified,
                           health.fno_onboarded)

    def _health(self, now: float) -> TokenHealth:
        try:
            token = self._tokens.reread()
        except TokenUnavailable:
            return TokenHealth(False, "missing")
        stored_at = self._stored_at()
        age = (now - stored_at.timestamp()) / 3600 if stored_at else None
        try:
            profile = self._broker.profile(token)
        except TokenUnavailable:
            return TokenHealth(False, "rejected by INDstocks", age)
        except DependencyUnavailable:
            return TokenHealth(False, "unverifiable: INDstocks did not answer", age)
        rounded, account = (round(age, 2) if age is not None else None), _account_name(profile)
        onboarded = _fno_onboarded(profile)
        if stored_at is not None:
            # Valid now is not enough: a token pasted at 13:00 yesterday dies at 13:00 today.
            day = datetime.fromtimestamp(now, IST).date()
            expires = (stored_at + TOKEN_LIFETIME).astimezone(IST)
            close = datetime.combine(day, SESSION_CLOSE, tzinfo=IST)
            when = f"{expires:%H:%M} IST" if expires.date() == day else f"{expires:%d %b %H:%M} IST"
            if expires < close:
                return TokenHealth(False, f"valid but expires {when}, before the close ({close:%H:%M} IST)",
                                   rounded, account, fno_onboarded=onboarded)
            if age is not None and age > self.settings.token_stale_hours:
                return TokenHealth(False, f"{age:.1f} hours old (expires {when})", rounded, account,
                                   fno_onboarded=onboarded)
        return TokenHealth(True, "valid", rounded, account, fno_onboarded=onboarded)
