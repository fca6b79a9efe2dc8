"""Wiring: the relay's long-lived objects, built on first use and reused while warm.

Nothing here runs at import time (Chalice imports app.py to package it, and a cold start must
not wait for clients it may not need). Tests call `reset()` or `install()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from chalicelib.admin import AdminGuard
from chalicelib.alerts import Mode
from chalicelib.broker import BrokerClient
from chalicelib.config import Settings, get_settings
from chalicelib.instruments import InstrumentMaster
from chalicelib.kill_switch import KillSwitch
from chalicelib.ledger import Ledger
from chalicelib.notify import Notifier
from chalicelib.order_queue import QUEUE_HANDOFF_SECONDS, OrderQueue
from chalicelib.pacing import WritePacer
from chalicelib.positions import PositionDesk
from chalicelib.queued_sender import QueuedSender
from chalicelib.relay import Relay
from chalicelib.risk import PAPER_COUNTER, RiskGuard, RiskLimits
from chalicelib.state import StateTable
from chalicelib.sweep import Sweeper
from chalicelib.token_alarm import DeadTokenAlarm
from chalicelib.token_renewal import TokenService
from chalicelib.tokens import ParameterMissing, ParameterStore, TokenStore, WebhookSecret

if TYPE_CHECKING:
    from chalicelib.fno.master import Derivatives

# AWS calls on the alert path must fail fast rather than eat TradingView's 3 s.
_AWS_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})
_NOTIFY_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
# The dead-token alarm is sent on the webhook's path: tighter still, TradingView waits 3 s.
_ALARM_CONFIG = Config(connect_timeout=0.5, read_timeout=0.8, retries={"max_attempts": 1})
_ALARM_TELEGRAM_TIMEOUT = 0.8
# Paper orders' pacing schedule: their own, without spacing (they use no broker write budget).
PAPER_SCHEDULE = "paper-writes"


@dataclass
class Services:
    settings: Settings
    relay: Relay
    tokens: TokenStore
    token_service: TokenService
    admin: AdminGuard
    notifier: Notifier
    ledger: Ledger
    sweeper: Sweeper
    parameters: ParameterStore
    order_queue: OrderQueue
    queued_sender: QueuedSender


def build(settings: Settings) -> Services:
    parameters = ParameterStore(lambda: boto3.client("ssm", config=_AWS_CONFIG))
    state = StateTable(lambda: boto3.client("dynamodb", config=_AWS_CONFIG), settings.state_table)
    pacer = WritePacer(state, max_wait_seconds=settings.pacing_max_wait_seconds)
    notifier = Notifier(
        settings.alerts_topic_arn,
        lambda: boto3.client("sns", config=_NOTIFY_CONFIG),
        telegram_credentials=lambda: _telegram_credentials(parameters, settings),
        telegram_api=settings.telegram_api_url,
    )
    broker = BrokerClient(
        settings.indstocks_base_url,
        connect_timeout=settings.broker_connect_timeout,
        read_timeout=settings.broker_read_timeout,
        idle_reset_seconds=settings.broker_idle_reset_seconds,
    )
    tokens = TokenStore(parameters, settings.token_parameter, settings.token_cache_seconds)
    alarm = DeadTokenAlarm(state, Notifier(
        settings.alerts_topic_arn,
        lambda: boto3.client("sns", config=_ALARM_CONFIG),
        telegram_credentials=lambda: _telegram_credentials(parameters, settings),
        telegram_api=settings.telegram_api_url,
        timeout=_ALARM_TELEGRAM_TIMEOUT,
    ), settings.token_page_url)

    def download_master(source: str) -> str:
        return broker.instruments_csv(tokens.current(), source, timeout=settings.instruments_timeout)

    def download_equity_master() -> str:
        return download_master("equity")

    instruments = InstrumentMaster(download_equity_master, settings.instruments_cache_dir, shared=state)
    # Futures and options: loaded on the first derivative alert (or the 08:45 check), never for a cash one;
    # once per instance, whichever relay (live or paper) asks first.
    @cache
    def derivatives() -> Derivatives:
        from chalicelib.fno.master import Derivatives, FnoMaster  # not imported by a cash-only cold start

        return Derivatives(
            FnoMaster(download_master, shared=state), broker,
            lambda exchange, ticker, day: instruments.resolve(exchange, ticker, day).security_id, tokens.reread)

    dynamodb = lambda: boto3.client("dynamodb", config=_AWS_CONFIG)  # noqa: E731
    order_queue = OrderQueue(lambda: boto3.client("sqs", config=_AWS_CONFIG), settings.order_queue_url)
    ledger = Ledger(dynamodb, settings.orders_table, settings.order_retention_days)
    shared = RelayParts(
        webhook_secret=WebhookSecret(parameters, settings.webhook_secret_parameter, settings.secret_cache_seconds),
        tokens=tokens, instruments=instruments, derivatives=derivatives, ledger=ledger, state=state, pacer=pacer,
        on_token_dead=alarm.announce, order_queue=order_queue, switch=KillSwitch(dynamodb, settings.state_table),
    )
    # TRADING_MODE=paper: the stage's relay trades on paper only; live: it trades, and alerts that
    # ask `"mode":"paper"` go to its paper twin (built on the first such alert or sweep).
    def paper() -> BrokerClient:  # chalicelib.paper is imported only by a relay that trades on paper
        from chalicelib.paper import paper_broker

        return paper_broker(broker, dynamodb, settings.state_table, settings.paper_funds)

    if settings.trading_mode == Mode.PAPER.value:
        relay = build_relay(settings, shared, paper())
    else:
        relay = build_relay(settings, shared, broker, paper_twin=lambda: build_relay(settings, shared, paper()))
    return Services(
        settings=settings,
        relay=relay,
        tokens=tokens,
        token_service=TokenService(
            settings, parameters=parameters, tokens=tokens, broker=broker, state=state, notifier=notifier,
            alarm=alarm,
        ),
        admin=AdminGuard(parameters, settings.admin_key_parameter, state, notifier=notifier),
        notifier=notifier,
        ledger=ledger,
        sweeper=Sweeper(relay, ledger, state, notifier, settings.order_settle_seconds,
                        notify_outcomes=frozenset(filter(None, settings.notify_outcomes.split(","))),
                        queue_max_age_seconds=settings.queue_max_age_seconds,
                        queue_handoff_seconds=QUEUE_HANDOFF_SECONDS if settings.order_queue_url else 0),
        parameters=parameters,
        order_queue=order_queue,
        queued_sender=QueuedSender(relay, ledger, queue_max_age_seconds=settings.queue_max_age_seconds),
    )


@dataclass(frozen=True)
class RelayParts:
    """What every relay of a stage shares, live or paper: the ledger, the token, the masters, …"""

    webhook_secret: WebhookSecret
    tokens: TokenStore
    instruments: InstrumentMaster
    derivatives: Callable[[], Derivatives]
    ledger: Ledger
    state: StateTable
    pacer: WritePacer
    on_token_dead: Callable[[float], object]
    order_queue: OrderQueue
    switch: KillSwitch


def build_relay(settings: Settings, parts: RelayParts, broker: BrokerClient, *,
                paper_twin: Callable[[], Relay] | None = None) -> Relay:
    """A relay that sends through `broker`: a PaperBroker makes it a paper relay (its positions,
    funds and order book are the paper book's; it paces and counts its orders apart from live's,
    whose broker budget it never uses); else a live one, with `paper_twin` for paper alerts."""
    is_paper = broker.paper
    pacer = WritePacer(parts.state, max_wait_seconds=settings.pacing_max_wait_seconds, spacing=0,
                       schedule=PAPER_SCHEDULE) if is_paper else parts.pacer
    return Relay(
        settings,
        webhook_secret=parts.webhook_secret,
        tokens=parts.tokens,
        instruments=parts.instruments,
        derivatives=parts.derivatives,
        broker=broker,
        ledger=parts.ledger,
        pacer=pacer,
        on_token_dead=parts.on_token_dead,
        order_queue=parts.order_queue,
        risk=RiskGuard(RiskLimits.from_settings(settings), broker, parts.state, parts.tokens,
                       **({"counter": PAPER_COUNTER} if is_paper else {})),
        switch=parts.switch,
        positions=PositionDesk(broker, parts.state),
        mode=Mode.PAPER if is_paper else Mode.LIVE,
        paper_twin=paper_twin,
    )


def _telegram_credentials(parameters: ParameterStore, settings: Settings) -> tuple[str, str] | None:
    """The bot token and chat id, when both are stored; Telegram is optional."""
    try:
        return (
            parameters.get(settings.telegram_bot_token_parameter, max_age=900),
            parameters.get(settings.telegram_chat_id_parameter, max_age=900),
        )
    except ParameterMissing:
        return None


_services: Services | None = None


def get() -> Services:
    global _services
    if _services is None:
        _services = build(get_settings())
    return _services


def install(instance: Services) -> None:
    """Use these services instead of building them from the environment (tests, tools)."""
    global _services
    _services = instance


def reset() -> None:
    """Forget every client and cache."""
    global _services
    _services = None
    get_settings.cache_clear()

