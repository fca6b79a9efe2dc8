"""Dashboard sessions: an HMAC-signed cookie, its CSRF token, and the signing secret in SSM.

The cookie holds `v1.<session id>.<issued>.<expires>.<mac>`, the MAC an HMAC-SHA256 of the rest
under the signing secret. Nothing is stored per session: a session is valid while its MAC
verifies and its clock has not run out (at most SESSION_SECONDS). Rotating the secret (the
dashboard's "sign out everywhere", or `aws ssm put-parameter … --overwrite`) ends every session
at once on the instance that rotated it, and on the others once their cached copy is older than
SECRET_MAX_AGE_SECONDS. The secret is a SecureString created on first use when it is missing.

The CSRF token of a session is an HMAC of its id and issue time under the same secret: every
POST must carry it, and it is worth nothing for another session or after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from chalicelib.errors import DependencyUnavailable, failure_cause
from chalicelib.tokens import ParameterMissing, ParameterStore

SESSION_SECONDS = 12 * 3600
SECRET_MAX_AGE_SECONDS = 30  # how late another warm instance may learn of a rotation
COOKIE_NAME = "__Host-relay-dashboard"
_VERSION = "v1"
_CLOCK_SKEW_SECONDS = 60


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Session:
    """A signed-in session. `id` names it in logs and the journal; the cookie itself is never logged."""

    id: str
    issued: int
    expires: int


class SigningSecret:
    """The secret sessions are signed with: an SSM SecureString, created on first use."""

    def __init__(self, parameters: ParameterStore, name: str):
        self._parameters = parameters
        self.name = name

    def value(self) -> bytes:
        try:
            return self._parameters.get(self.name, max_age=SECRET_MAX_AGE_SECONDS).encode()
        except ParameterMissing:
            pass
        try:  # first use: create it, unless another instance just did (then read theirs)
            self._parameters.client.put_parameter(Name=self.name, Value=_new_secret(), Type="SecureString",
                                                  Overwrite=False)
        except Exception as error:  # noqa: BLE001 - botocore raises several kinds
            if failure_cause(error) != "ParameterAlreadyExists":
                raise DependencyUnavailable("the parameter store is unavailable; no session was opened",
                                            cause=failure_cause(error)) from None
        return self._parameters.get(self.name, max_age=SECRET_MAX_AGE_SECONDS, force=True).encode()

    def rotate(self) -> None:
        """A new secret: every session signed with the old one ends."""
        self._parameters.put_secure(self.name, _new_secret())


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _mac(secret: bytes, text: str) -> str:
    return _b64(hmac.new(secret, text.encode(), hashlib.sha256).digest())


def open_session(secret: bytes, now: float, lifetime: int = SESSION_SECONDS) -> tuple[Session, str]:
    """A new session and its cookie value."""
    session = Session(secrets.token_hex(8), int(now), int(now) + min(lifetime, SESSION_SECONDS))
    body = f"{_VERSION}.{session.id}.{session.issued}.{session.expires}"
    return session, f"{body}.{_mac(secret, body)}"


def read_session(secret: bytes, cookie_value: str | None, now: float) -> Session | None:
    """The session a cookie value stands for, or None: unsigned, forged, expired, too long, or
    signed with a secret that has since been rotated."""
    parts = (cookie_value or "").split(".")
    if len(parts) != 5 or parts[0] != _VERSION:
        return None
    version, session_id, issued, expires, mac = parts
    if not hmac.compare_digest(_mac(secret, f"{version}.{session_id}.{issued}.{expires}"), mac):
        return None
    try:
        start, end = int(issued), int(expires)
    except ValueError:
        return None
    if start > now + _CLOCK_SKEW_SECONDS or now >= end or end - start > SESSION_SECONDS:
        return None
    return Session(session_id, start, end)


def csrf_token(secret: bytes, session: Session) -> str:
    return _mac(secret, f"csrf.{session.id}.{session.issued}")


def csrf_ok(secret: bytes, session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(secret, session), token or "")


def session_cookie(value: str, session: Session, now: float) -> str:
    """The Set-Cookie value: host-only (`__Host-`), never readable by script, never cross-site."""
    max_age = max(0, session.expires - int(now))
    return f"{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"


def cleared_cookie() -> str:
    return f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"


def cookie_from_header(header: str | None) -> str | None:
    """This dashboard's cookie value from a Cookie header."""
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE_NAME:
            return value
    return None
