"""What every command needs: the stage's settings, AWS clients, the relay's URL, and errors that
read as one line instead of a traceback."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from relay_cli.local_profile import LOCAL_STAGE, profile_path, read_profile

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REGION = "ap-south-1"
APP_NAME = "indstocks-relay"

_CREDENTIAL_CODES = {
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
    "InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationToken",
}  # fmt: skip
_UNSUPPORTED_CODES = {"NotImplemented", "InvalidAction", "UnknownOperationException", "UnsupportedOperation"}


class CliError(Exception):
    """A problem the operator must fix (credentials, parameters, tables, URL): one line, exit 2."""

    exit_code = 2


class Unsupported(CliError):
    """The endpoint does not implement an API (moto, LocalStack)."""


def stage_environment(stage: str, config_path: Path = REPO / ".chalice" / "config.json") -> dict[str, str]:
    """The Lambda environment Chalice gives the stage (app-wide, then the stage's own), as far as
    the committed config says; `RELAY_STAGE` is always the stage asked for."""
    env: dict[str, str] = {}
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        config = {}
    if isinstance(config, dict):
        env.update({k: str(v) for k, v in (config.get("environment_variables") or {}).items()})
        stage_config = (config.get("stages") or {}).get(stage) or {}
        env.update({k: str(v) for k, v in (stage_config.get("environment_variables") or {}).items()})
    env["RELAY_STAGE"] = stage
    return env


def deployed_url(stage: str, chalice_dir: Path = REPO / ".chalice") -> str | None:
    """The API URL `chalice deploy` recorded for the stage, if this checkout deployed it."""
    try:
        deployed = json.loads((chalice_dir / "deployed" / f"{stage}.json").read_text())
    except (OSError, ValueError):
        return None
    for resource in deployed.get("resources", []) if isinstance(deployed, dict) else []:
        if isinstance(resource, dict) and resource.get("rest_api_url"):
            return str(resource["rest_api_url"])
    return None


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"not an http(s) URL: {url!r} (e.g. http://127.0.0.1:8000 or https://…/api)")
    return url.strip().rstrip("/")


@dataclass
class Context:
    stage: str
    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    url_option: str | None = None
    # From the local stack's profile (stage local): its broker, admin key, dummy AWS keys, settings.
    local: dict[str, Any] = field(default_factory=dict)
    _session: Any = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _settings: Any = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: Any, environ: dict[str, str] | os._Environ[str] = os.environ) -> Context:
        stage = args.stage or "dev"
        endpoint_url = args.endpoint_url or environ.get("AWS_ENDPOINT_URL") or None
        local: dict[str, Any] = {}
        if stage == LOCAL_STAGE:
            path = profile_path(environ)
            local = read_profile(path) or {}
            if not local and not endpoint_url:  # never the stage `local` of a real AWS account
                raise CliError(f"no local stack is running ({path} is missing): start it with `make run`, "
                               f"then `relay … --stage local` finds it")
        return cls(
            stage=stage,
            region=args.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or local.get("region")
            or DEFAULT_REGION,
            profile=args.profile,
            endpoint_url=endpoint_url or local.get("aws_endpoint_url") or None,
            url_option=args.url or environ.get("RELAY_URL") or local.get("relay_url") or None,
            local=local,
        )

    # --- the stage's settings, exactly as the app derives them ---------------------------------

    @property
    def settings(self) -> Any:
        if self._settings is None:
            from chalicelib.config import settings_from_env

            self._settings = settings_from_env({**stage_environment(self.stage), **(self.local.get("settings") or {})})
        return self._settings

    # --- the relay's URL --------------------------------------------------------------------

    @property
    def url(self) -> str:
        url = self.url_option or deployed_url(self.stage)
        if not url:
            raise CliError(
                "no relay URL: pass --url (http://127.0.0.1:8000 for `make run`, or the API URL ending in /api) "
                "or set RELAY_URL"
            )
        return normalise_url(url)

    @property
    def has_url(self) -> bool:
        return bool(self.url_option or deployed_url(self.stage))

    # --- AWS ----------------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return self.endpoint_url or f"AWS {self.region}"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError, ProfileNotFound

            try:
                if self._session is None:
                    keys = self.local.get("aws_keys") if not self.profile else None  # moto takes any
                    self._session = boto3.Session(profile_name=self.profile, region_name=self.region, **(keys or {}))
                self._clients[service] = self._session.client(
                    service,
                    endpoint_url=self.endpoint_url,
                    config=Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"}),
                )
            except ProfileNotFound:
                raise CliError(f"AWS profile {self.profile!r} not found (check --profile / AWS_PROFILE)") from None
            except (BotoCoreError, ValueError) as error:
                raise CliError(f"cannot set up the AWS {service} client: {_one_line(error)}") from None
        return self._clients[service]

    def call(self, service: str, operation: str, what: str, *, missing: tuple[str, ...] = (), **kwargs: Any) -> Any:
        """One AWS call; an error code listed in `missing` returns None, any other failure is a CliError."""
        from botocore.exceptions import ClientError

        client = self.client(service)
        with self.translate(service, what):
            try:
                return getattr(client, operation)(**kwargs)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in missing:
                    return None
                raise

    def paginate(self, service: str, operation: str, what: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        client = self.client(service)
        with self.translate(service, what):
            yield from client.get_paginator(operation).paginate(**kwargs)

    @contextmanager
    def translate(self, service: str, what: str) -> Iterator[None]:
        """botocore's exceptions → one line for the operator (never a parameter value)."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
            ReadTimeoutError,
            TokenRetrievalError,
            UnauthorizedSSOTokenError,
        )

        try:
            yield
        except (NoCredentialsError, PartialCredentialsError):
            raise CliError(
                f"no AWS credentials for {what}: use --profile / AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        except (TokenRetrievalError, UnauthorizedSSOTokenError):
            raise CliError(f"the AWS login has expired ({what}): run `aws sso login` and try again") from None
        except NoRegionError:
            raise CliError("no AWS region: pass --region") from None
        except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError):
            raise CliError(f"cannot reach {service} at {self.where} ({what})") from None
        except ClientError as error:
            details = error.response.get("Error", {})
            code = str(details.get("Code") or "error")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _CREDENTIAL_CODES:
                raise CliError(f"AWS rejected the credentials ({code}) while {what}") from None
            if code.startswith("AccessDenied") or code == "UnauthorizedOperation":
                raise CliError(f"AWS denied {what} ({code}): check the credentials' IAM permissions") from None
            if code in _UNSUPPORTED_CODES or status == 501:
                raise Unsupported(f"{service} at {self.where} does not support {what} ({code})") from None
            message = _one_line(details.get("Message") or "")
            raise CliError(f"AWS error while {what}: {code}{': ' + message if message else ''}") from None
        except BotoCoreError as error:
            raise CliError(f"AWS error while {what}: {_one_line(error)}") from None


def _one_line(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def relay_request(method: str, url: str, what: str, *, timeout: tuple[float, float] = (5, 30), **kwargs: Any) -> Any:
    """An HTTP call to the relay; no answer at all is a CliError (exit 2)."""
    import requests

    try:
        return requests.request(method, url, allow_redirects=False, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise CliError(f"the relay at {_origin(url)} did not answer in time ({what})") from None
    except requests.RequestException:
        raise CliError(f"cannot reach the relay at {_origin(url)} ({what}): check --url") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def json_body(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

