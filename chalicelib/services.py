"""Wiring: the relay's long-lived objects, built on first use and reused while warm.

Nothing here runs at import time (Chalice imports app.py to package it, and a cold start must
not wait for clients it may not need). Tests call `reset()` or `install()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from chalicelib.accounts.desk import Desk
from chalicelib.accounts.model import Account, AccountBook, account_book, account_settings, namespace
from chalicelib.admin import AdminGuard
from chalicelib.alerts import Mode
from chalicelib.broker import BrokerClient
from chalicelib.config import Settings, get_settings
from chalicelib.errors import FieldProblem, InvalidRequest, RelayError
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
class AccountServices:
    """One account's relay and the flows that act with its token."""

    account: Account
    relay: Relay
    tokens: TokenStore
    token_service: TokenService
    ledger: Ledger
    notifier: Notifier
    sweeper: Sweeper
    queued_sender: QueuedSender


@dataclass
class Services:
    settings: Settings
    relay: Relay  # the stage's first account's (it parses every alert and sends to the others through `desk`)
    tokens: TokenStore
    token_service: TokenService
    admin: AdminGuard
    notifier: Notifier
    ledger: Ledger
    sweeper: Sweeper
    parameters: ParameterStore
    order_queue: OrderQueue
    queued_sender: QueuedSender
    book: AccountBook
    accounts: tuple[AccountServices, ...]
    journal: Ledger  # every account's items (GET /orders)

    def account(self, name: str | None) -> AccountServices:
        """The services of the named account (None: the first); unknown: a 400 naming `account`."""
        if name is None:
            return self.accounts[0]
        for each in self.accounts:
            if each.account.name == name:
                return each
        raise InvalidRequest(f"no account {name[:30]!r} in this stage", detail=[FieldProblem(
            "account", f"must be one of {', '.join(self.book.names)}")])

    def each_account(self, act: Callable[[AccountServices], dict[str, Any]], *, enabled_only: bool = False
                     ) -> dict[str, Any]:
        """What `act` returns for the stage's one account, as before accounts existed; with several,
        each account's under `accounts`, one after another, each with its own token: one failing
        stops no other."""
        if len(self.accounts) == 1:
            return act(self.accounts[0])
        results = []
        for each in self.accounts:
            if enabled_only and not each.account.enabled:
                continue
            try:
                results.append({"account": each.account.name, **act(each)})
            except RelayError as error:
                results.append({"account": each.account.name, **error.body()})
        return {"accounts": results}

    def for_key(self, key: str) -> AccountServices:
        """The services of the account a ledger key belongs to."""
        return self.account(self.book.for_key(key).name)


@dataclass(frozen=True)
class Shared:
    """What every account of the stage uses alike: AWS client factories, the state table, the instrument
    masters, the webhook secret, the order queue and the kill switch."""

    settings: Settings
    book: AccountBook
    parameters: ParameterStore
    state: StateTable
    dynamodb: Callable[[], Any]
    instruments: InstrumentMaster
    derivatives: Callable[[], Derivatives]
    webhook_secret: WebhookSecret
    order_queue: OrderQueue
    switch: KillSwitch
    notifier: Callable[..., Notifier]


def build(settings: Settings, brokers: Callable[[Account], BrokerClient] | None = None) -> Services:
    """Every account's relay and flows. `brokers`: the broker object each account's relay writes
    through (default: an INDstocks client of its own per account)."""
    book = account_book(settings)
    make_broker = brokers or (lambda account: _broker(settings))
    dynamodb = _safely(lambda: boto3.client("dynamodb", config=_AWS_CONFIG))
    ssm = _safely(lambda: boto3.client("ssm", config=_AWS_CONFIG))
    parameters = ParameterStore(ssm)
    state = StateTable(dynamodb, settings.state_table)
    sns = _safely(lambda: boto3.client("sns", config=_NOTIFY_CONFIG))

    def notifier(label: str = "", *, alarm: bool = False) -> Notifier:
        return Notifier(
            settings.alerts_topic_arn,
            _safely(lambda: boto3.client("sns", config=_ALARM_CONFIG)) if alarm else sns,
            telegram_credentials=lambda: _telegram_credentials(parameters, settings),
            telegram_api=settings.telegram_api_url,
            **({"timeout": _ALARM_TELEGRAM_TIMEOUT} if alarm else {}),
            label=label,
        )

    first_broker = make_broker(book.first)
    first_tokens = _token_store(parameters, account_settings(settings, book.first))

    def download_master(source: str) -> str:
        return first_broker.instruments_csv(first_tokens.current(), source, timeout=settings.instruments_timeout)

    def download_equity_master() -> str:
        return download_master("equity")

    instruments = InstrumentMaster(download_equity_master, settings.instruments_cache_dir, shared=state)
    built_derivatives: list[Derivatives] = []
    derivatives_lock = threading.Lock()

    # Futures and options: loaded on the first derivative alert (or the 08:45 check), never for a
    # cash one; one master for every account.
    def derivatives() -> Derivatives:
        from chalicelib.fno.master import Derivatives, FnoMaster  # not imported by a cash-only cold start

        with derivatives_lock:  # the accounts' threads ask at once; one master for all
            if built_derivatives:
                return built_derivatives[0]
            built_derivatives.append(Derivatives(
                FnoMaster(download_master, shared=state), first_broker,
                lambda exchange, ticker, day: instruments.resolve(exchange, ticker, day).security_id,
                first_tokens.reread))
            return built_derivatives[0]

    shared = Shared(
        settings=settings, book=book, parameters=parameters, state=state, dynamodb=dynamodb,
        instruments=instruments, derivatives=derivatives,
        webhook_secret=WebhookSecret(parameters, settings.webhook_secret_parameter, settings.secret_cache_seconds),
        order_queue=OrderQueue(lambda: boto3.client("sqs", config=_AWS_CONFIG), settings.order_queue_url),
        switch=KillSwitch(dynamodb, settings.state_table), notifier=notifier,
    )
    accounts = tuple(
        build_account(shared, account, first_broker if book.is_first(account) else make_broker(account),
                      tokens=first_tokens if book.is_first(account) else None)
        for account in book.accounts)
    first = accounts[0]
    first.relay.fan_out = Desk(book, {each.account.name: each.relay for each in accounts}).fan_out
    return Services(
        settings=settings,
        relay=first.relay,
        tokens=first.tokens,
        token_service=first.token_service,
        admin=AdminGuard(parameters, settings.admin_key_parameter, state, notifier=notifier()),
        notifier=first.notifier,
        ledger=first.ledger,
        sweeper=first.sweeper,
        parameters=parameters,
        order_queue=shared.order_queue,
        queued_sender=first.queued_sender,
        book=book,
        accounts=accounts,
        journal=Ledger(dynamodb, settings.orders_table, settings.order_retention_days, unmarked=book.first.name),
    )


def build_account(shared: Shared, account: Account, broker: BrokerClient, *, tokens: TokenStore | None = None
                  ) -> AccountServices:
    """One account's relay, sweep, queued sender and token flows, writing through `broker` (the
    seam: another broker object, such as a paper broker, makes another kind of account). Its
    token and rotation credentials are its own parameters; its pacing schedule, day count, lanes
    and locks live in its namespace of the state table; its ledger items carry its name."""
    book, settings = shared.book, account_settings(shared.settings, account)
    state = shared.state.within(namespace(account, book)) if not book.is_first(account) else shared.state
    label = "" if len(book.accounts) == 1 else account.name
    notifier = shared.notifier(label)
    tokens = tokens or _token_store(shared.parameters, settings)
    alarm = DeadTokenAlarm(state, shared.notifier(label, alarm=True), settings.token_page_url)
    ledger = Ledger(shared.dynamodb, settings.orders_table, settings.order_retention_days,
                    account=account.name, unmarked=book.first.name)
    parts = _RelayParts(settings, shared, account, tokens, ledger, state, alarm.announce)

    def paper() -> BrokerClient:  # chalicelib.paper is imported only by a relay that trades on paper
        from chalicelib.paper import paper_broker

        return paper_broker(broker, shared.dynamodb, settings.state_table, settings.paper_funds,
                            account="default" if book.is_first(account) else account.name)

    # TRADING_MODE=paper (the stage's, or this account's `mode`): this account trades on paper
    # only; live: it trades, and alerts that ask `"mode":"paper"` go to its paper twin (built on
    # the first such alert or sweep).
    if broker.paper:
        relay = parts.relay(broker)
    elif settings.trading_mode == Mode.PAPER.value:
        relay = parts.relay(paper())
    else:
        relay = parts.relay(broker, paper_twin=lambda: parts.relay(paper()))
    return AccountServices(
        account=account,
        relay=relay,
        tokens=tokens,
        token_service=TokenService(settings, parameters=shared.parameters, tokens=tokens, broker=broker, state=state,
                                   notifier=notifier, alarm=alarm),
        ledger=ledger,
        notifier=notifier,
        sweeper=Sweeper(relay, ledger, state, notifier, settings.order_settle_seconds,
                        notify_outcomes=frozenset(filter(None, settings.notify_outcomes.split(","))),
                        queue_max_age_seconds=settings.queue_max_age_seconds,
                        queue_handoff_seconds=QUEUE_HANDOFF_SECONDS if settings.order_queue_url else 0),
        queued_sender=QueuedSender(relay, ledger, queue_max_age_seconds=settings.queue_max_age_seconds),
    )


@dataclass(frozen=True)
class _RelayParts:
    """What an account's relays share, live or paper: its token, ledger and state namespace."""

    settings: Settings
    shared: Shared
    account: Account
    tokens: TokenStore
    ledger: Ledger
    state: StateTable
    on_token_dead: Callable[[float], object]

    def relay(self, broker: BrokerClient, *, paper_twin: Callable[[], Relay] | None = None) -> Relay:
        """A relay that sends through `broker`: a PaperBroker makes it a paper relay (its positions,
        funds and order book are the paper book's; it paces and counts its orders apart from live's,
        whose broker budget it never uses); else a live one, with `paper_twin` for paper alerts."""
        settings, shared, is_paper = self.settings, self.shared, broker.paper
        return Relay(
            settings,
            webhook_secret=shared.webhook_secret,
            tokens=self.tokens,
            instruments=shared.instruments,
            derivatives=shared.derivatives,
            broker=broker,
            ledger=self.ledger,
            pacer=(WritePacer(self.state, max_wait_seconds=settings.pacing_max_wait_seconds, spacing=0,
                              schedule=PAPER_SCHEDULE) if is_paper
                   else WritePacer(self.state, max_wait_seconds=settings.pacing_max_wait_seconds)),
            on_token_dead=self.on_token_dead,
            order_queue=shared.order_queue,
            risk=RiskGuard(RiskLimits.from_settings(settings), broker, self.state, self.tokens,
                           **({"counter": PAPER_COUNTER} if is_paper else {})),
            switch=shared.switch,
            positions=PositionDesk(broker, self.state),
            book=shared.book,
            account=self.account,
            mode=Mode.PAPER if is_paper else Mode.LIVE,
            paper_twin=paper_twin,
        )


def _broker(settings: Settings) -> BrokerClient:
    return BrokerClient(
        settings.indstocks_base_url,
        connect_timeout=settings.broker_connect_timeout,
        read_timeout=settings.broker_read_timeout,
        idle_reset_seconds=settings.broker_idle_reset_seconds,
    )


def _token_store(parameters: ParameterStore, settings: Settings) -> TokenStore:
    return TokenStore(parameters, settings.token_parameter, settings.token_cache_seconds)


def _safely(factory: Callable[[], Any]) -> Callable[[], Any]:
    """A factory that builds its client while no other thread builds one: boto3 builds clients
    from one shared session, which is safe in one thread at a time only (the accounts of an
    alert run side by side). Each caller still gets a client of its own."""

    def client() -> Any:
        with _CLIENT_BUILDING:
            return factory()

    return client


_CLIENT_BUILDING = threading.Lock()


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

