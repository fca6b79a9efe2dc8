"""SSM Parameter Store access: the INDstocks token and the webhook secret.

Values are SecureStrings, read with decryption (GetParameter) and kept in an in-memory cache with
a max age. The token's max age is short (60 s) so a token pasted on one instance reaches every
warm instance within a minute; a broker 401/403 forces a re-read sooner.

The cache is these few lines rather than Powertools' SSM provider: importing Powertools'
parameters package (every provider it has, AppConfig, DynamoDB and Secrets Manager included)
cost each cold start a few milliseconds before the first alert, for one GetParameter call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.errors import DependencyUnavailable, NotConfigured, TokenUnavailable, failure_cause


class ParameterMissing(Exception):
    """The parameter does not exist in SSM."""


def _is_not_found(error: BaseException) -> bool:
    return failure_cause(error) == "ParameterNotFound"


class ParameterStore:
    """SecureString reads (cached) and writes; the boto3 client is created on first use."""

    def __init__(self, client_factory: Callable[[], Any]):
        self._client_factory = client_factory
        self._ssm: Any = None
        self._cache: dict[str, tuple[str, float]] = {}  # name → (value, read at)

    def get(self, name: str, *, max_age: int, force: bool = False) -> str:
        cached = self._cache.get(name)
        now = time.monotonic()
        if cached is not None and not force and now - cached[1] <= max_age:
            return cached[0]
        client = self.client  # outside the try: a client that cannot be built is a bug, not an outage
        try:
            value = str(client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
        except Exception as error:  # noqa: BLE001 - botocore raises several kinds
            if _is_not_found(error):
                raise ParameterMissing(name) from None
            raise DependencyUnavailable(
                "the parameter store is unavailable; the order was not sent", cause=failure_cause(error)
            ) from None
        self._cache[name] = (value, now)
        return value

    def put_secure(self, name: str, value: str) -> None:
        """Overwrite a SecureString (the account's default aws/ssm key) and forget cached values."""
        self._put(name, value, "SecureString")
        self._cache.clear()

    def put_plain(self, name: str, value: str) -> None:
        self._put(name, value, "String")

    def _put(self, name: str, value: str, kind: str) -> None:
        try:
            self.client.put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)
        except Exception as error:  # noqa: BLE001 - botocore raises several kinds
            raise DependencyUnavailable(
                "the parameter store is unavailable; nothing was stored", cause=failure_cause(error)
            ) from None

    def modified_at(self, name: str) -> datetime | None:
        """When the parameter was last written (SSM's own record), or None if it is absent."""
        try:
            reply = self.client.get_parameter(Name=name, WithDecryption=False)
        except Exception as error:  # noqa: BLE001 - botocore raises several kinds
            if _is_not_found(error):
                return None
            raise DependencyUnavailable("the parameter store is unavailable", cause=failure_cause(error)) from None
        modified = reply["Parameter"].get("LastModifiedDate")
        return modified if isinstance(modified, datetime) else None

    @property
    def client(self) -> Any:
        """The SSM client, created on first use."""
        if self._ssm is None:
            self._ssm = self._client_factory()
        return self._ssm

    def clear(self) -> None:
        self._cache.clear()


class TokenStore:
    """The live INDstocks access token."""

    def __init__(self, parameters: ParameterStore, name: str, max_age: int):
        self._parameters = parameters
        self._name = name
        self._max_age = max_age

    def current(self, *, force: bool = False) -> str:
        try:
            token = self._parameters.get(self._name, max_age=self._max_age, force=force).strip()
        except ParameterMissing:
            raise TokenUnavailable() from None
        if not token:
            raise TokenUnavailable()
        return token

    def forget(self) -> None:
        self._parameters.clear()

    def reread(self) -> str:
        """Bypass the cache: another instance may have stored a new token."""
        return self.current(force=True)


class WebhookSecret:
    def __init__(self, parameters: ParameterStore, name: str, max_age: int):
        self._parameters = parameters
        self._name = name
        self._max_age = max_age

    def value(self) -> str:
        try:
            secret = self._parameters.get(self._name, max_age=self._max_age)
        except ParameterMissing:
            raise NotConfigured("the webhook secret is not configured") from None
        if not secret:
            raise NotConfigured("the webhook secret is not configured")
        return secret
