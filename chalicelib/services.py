"""Wiring: the relay's long-lived objects, built on first use and reused while warm.

Nothing here runs at import time (Chalice imports app.py to package it, and a cold start must
not wait for clients it may not need). Tests call `reset()` to start from nothing.
"""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib.broker import BrokerClient
from chalicelib.config import Settings, get_settings
from chalicelib.instruments import InstrumentMaster
from chalicelib.relay import Relay
from chalicelib.tokens import ParameterStore, TokenStore, WebhookSecret

_relay: Relay | None = None


def _ssm_client() -> Any:
    return boto3.client("ssm")


def build_relay(settings: Settings) -> Relay:
    parameters = ParameterStore(_ssm_client)
    broker = BrokerClient(
        settings.indstocks_base_url,
        connect_timeout=settings.broker_connect_timeout,
        read_timeout=settings.broker_read_timeout,
        idle_reset_seconds=settings.broker_idle_reset_seconds,
    )
    tokens = TokenStore(parameters, settings.token_parameter, settings.token_cache_seconds)

    def download_equity_master() -> str:
        return broker.instruments_csv(tokens.current(), "equity", timeout=settings.instruments_timeout)

    return Relay(
        settings,
        webhook_secret=WebhookSecret(parameters, settings.webhook_secret_parameter, settings.secret_cache_seconds),
        tokens=tokens,
        instruments=InstrumentMaster(download_equity_master, settings.instruments_cache_dir),
        broker=broker,
    )


def relay() -> Relay:
    global _relay
    if _relay is None:
        _relay = build_relay(get_settings())
    return _relay


def reset() -> None:
    """Forget every client and cache (tests; a new environment)."""
    global _relay
    _relay = None
    get_settings.cache_clear()


def install(instance: Relay) -> None:
    """Use this relay instead of building one from the environment (tests, the local stack)."""
    global _relay
    _relay = instance
