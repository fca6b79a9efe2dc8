"""Typed settings, read from the environment once per process.

Chalice puts each stage's `environment_variables` into the Lambda environment (and into the
process environment under `chalice local` and `chalice.test.Client`). Everything that varies by
stage lives here; nothing else in the relay reads `os.environ`.
"""

from __future__ import annotations

import os
from datetime import timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.deadline import OUTCOME_RESERVE_SECONDS, hard_budget

DEFAULT_BASE_URL = "https://api.indstocks.com"
# Indian Standard Time: the exchanges' clock, the trader's, and the day the instrument master is for.
IST = timezone(timedelta(hours=5, minutes=30), "IST")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = "dev"
    indstocks_base_url: str = DEFAULT_BASE_URL
    token_parameter: str = ""
    webhook_secret_parameter: str = ""
    admin_key_parameter: str = ""
    client_id_parameter: str = ""
    mpin_parameter: str = ""
    totp_secret_parameter: str = ""
    # The dashboard's session-signing secret (SecureString, created on first use; rotate to sign out everyone).
    dashboard_secret_parameter: str = ""
    state_table: str = ""
    orders_table: str = ""
    order_retention_days: int = Field(default=7, ge=1, le=400)
    # Freshness: an alert whose `time` is older than this, or more than 10 s ahead, is refused.
    max_alert_age_seconds: int = Field(default=60, ge=1, le=86400)
    # How long an alert may wait in its own request for a pacing slot; past it the alert is queued
    # (202) and the order queue sends it in its slot. Short: TradingView gives up after 3 s.
    pacing_max_wait_seconds: float = Field(default=10, ge=0, le=25)
    # The SQS FIFO queue of writes over the pace (infra/build.py and `make run` set it). Empty:
    # queued alerts wait for the minute sweep.
    order_queue_url: str = ""
    # A queued alert the sweep has not sent this long after it arrived (the token died, say) is
    # not sent at all: marked failed and reported. An old signal is not a reason to trade.
    queue_max_age_seconds: int = Field(default=300, ge=60, le=86400)
    # An unknown outcome not found in the order book after this long is reported as absent. Must
    # exceed the function timeout: an invocation still writing must never be declared absent.
    order_settle_seconds: int = Field(default=60, ge=5, le=3600)
    # The webhook function's timeout as deployed (.chalice/config.json `lambda_timeout`); with API
    # Gateway's 29 s it bounds every invocation (chalicelib/deadline.py).
    function_timeout_seconds: int = Field(default=30, ge=3, le=90)
    # Aim to answer within this many seconds of arrival whenever a slot is free at once (TradingView
    # gives up after 3 s, transit included): a slow broker write is cut short to fit.
    answer_budget_seconds: float = Field(default=2.5, ge=1.0, le=25)
    # Alerts without alert_id are keyed by a hash of their fields: an identical one within this
    # window of the first is a duplicate, after it a new alert.
    dedupe_window_seconds: int = Field(default=60, ge=1, le=86400)
    # In-request reconciliation of an unknown outcome: book reads and the pause between them.
    reconcile_attempts: int = Field(default=2, ge=0, le=10)
    reconcile_interval_seconds: float = Field(default=0.5, ge=0, le=5)
    alerts_topic_arn: str = ""
    telegram_bot_token_parameter: str = ""
    telegram_chat_id_parameter: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    # Which order outcomes the sweep announces (comma-separated); absent/exchange rejections always.
    notify_outcomes: str = "placed,rejected,unknown"
    token_page_url: str = ""
    # The pre-market check warns when the token is older than this (tokens live 24 h).
    token_stale_hours: float = Field(default=20, gt=0, le=24)
    # INDstocks order writes: connect fast, and give up reading before TradingView's 3 s cut-off.
    broker_connect_timeout: float = Field(default=1.0, gt=0, le=10)
    broker_read_timeout: float = Field(default=2.5, gt=0, le=25)
    # Instrument master downloads are larger and not on the 3 s clock when pre-warmed.
    instruments_timeout: float = Field(default=20.0, gt=0, le=60)
    instruments_cache_dir: str = "/tmp"  # noqa: S108 - Lambda's only writable directory
    token_cache_seconds: int = Field(default=60, ge=0, le=300)
    secret_cache_seconds: int = Field(default=300, ge=0, le=3600)
    # SL-M has no market-on-trigger at INDstocks: we send a trigger-limit this far beyond the
    # trigger (percent), so the stop still fills in a fast market.
    sl_m_protection_pct: Decimal = Field(default=Decimal("0.5"), ge=0, le=10)
    signature_max_age_seconds: int = Field(default=300, ge=1, le=3600)
    # Open question 5 of the API notes: the rule says sixteen 9s for BSE, one doc example
    # sends "99999". Configurable so a deployment can follow whichever the broker accepts.
    nse_algo_id: str = "99999"
    bse_algo_id: str = "9999999999999999"
    # Pooled connections idle longer than this are dropped before an order write: the NAT
    # gateway silently forgets flows after 350 s and would reset the first write.
    broker_idle_reset_seconds: int = Field(default=240, ge=0, le=3600)
    # The API's /health through API Gateway, for the keep-warm schedule (set by infra/build.py).
    keep_warm_url: str = ""
    # `make run`'s id for this run, echoed by /health so the stack knows the relay is its own.
    local_run_id: str = ""
    # Risk limits (chalicelib/risk.py): an alert over one is refused (422), nothing is sent.
    # Generous on purpose: they catch a typo or a runaway strategy, not a trader's normal size.
    max_order_qty: int = Field(default=10_000, ge=1, le=10_000_000)
    max_order_value: Decimal = Field(default=Decimal(1_000_000), gt=0, le=Decimal(10) ** 10)  # rupees
    max_orders_per_day: int = Field(default=500, ge=1, le=100_000)  # per IST day, all instances
    # Futures and options: exchange freeze quantities in units, over the shipped table
    # (chalicelib/fno/lots.py), e.g. "NIFTY=1800,BANKNIFTY=600,RELIANCE=off". An order at or above
    # its underlying's limit is sent as child orders strictly below it (chalicelib/relay.py).
    freeze_limits: str = ""
    # Strategy execution (chalicelib/strategy/windows.py), IST: entries only inside ENTRY_WINDOW on
    # trading days (TRADING_CALENDAR exchange: weekends and the NSE holidays of
    # chalicelib/strategy/holidays.toml closed; always: none), exits all session (09:15-15:30) and
    # up to MAX_EXIT_AGE_SECONDS old; positions due to be squared off from SQUARE_OFF_AT (or off).
    entry_window: str = "09:15-15:10"
    trading_calendar: str = "exchange"
    square_off_at: str = "15:15"
    max_exit_age_seconds: int = Field(default=300, ge=1, le=86400)
    # Options: a MARKET order goes as a LIMIT this many percent beyond the last traded price (BUY
    # above, SELL below), rounded to the contract's tick away from it; the price comes from one
    # quote read (a relative option: the option chain's leg). INDstocks turns an option MARKET
    # into a limit at the LTP and may refuse market orders on illiquid strikes. Unset: MARKET stays
    # MARKET. Futures are not affected.
    marketable_limit_pct: Decimal | None = Field(default=None, gt=0, le=20, allow_inf_nan=False)
    # The day's loss (₹, realised + unrealised, of the instruments the relay traded today) at which
    # the minute sweep flattens them and pauses the stage until the next session. Unset: off.
    max_daily_loss: Decimal | None = Field(default=None, gt=0, le=Decimal(10) ** 9, allow_inf_nan=False)
    # The stage's accounts (chalicelib/accounts/model.py): a JSON list of {name, token_parameter,
    # client_id_parameter, mpin_parameter, totp_secret_parameter, multiplier, enabled}. Unset: one
    # account on the parameters above.
    accounts: str = ""

    @model_validator(mode="after")
    def _accounts_readable(self) -> Settings:
        from chalicelib.accounts.model import account_book

        account_book(self)  # raises ValueError naming ACCOUNTS and what is wrong
        return self
    # Paper mode (chalicelib/paper/): `paper` makes the whole stage trade on paper (no broker
    # write ever leaves; an alert asking `"mode":"live"` is refused); `live` trades, and an alert
    # asking `"mode":"paper"` still goes to paper. PAPER_FUNDS: the paper account's cash each day.
    trading_mode: Literal["live", "paper"] = "live"
    paper_funds: Decimal = Field(default=Decimal(1_000_000), gt=0, le=Decimal(10) ** 12, allow_inf_nan=False)

    @model_validator(mode="after")
    def _freeze_limits_readable(self) -> Settings:
        from chalicelib.fno.lots import parse_freeze_overrides

        try:
            parse_freeze_overrides(self.freeze_limits)
        except ValueError as wrong:
            raise ValueError(f"FREEZE_LIMITS: {wrong}") from None
        return self

    @model_validator(mode="after")
    def _strategy_hours_readable(self) -> Settings:
        from chalicelib.strategy.windows import schedule_problems

        problems = schedule_problems(self.entry_window, self.square_off_at, self.trading_calendar)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _fits_the_invocation(self) -> Settings:
        """Refuse settings that cannot fit one invocation's budget, naming them."""
        budget = hard_budget(self.function_timeout_seconds)
        write = self.pacing_max_wait_seconds + self.broker_connect_timeout + self.broker_read_timeout
        problems = []
        if write + OUTCOME_RESERVE_SECONDS > budget:
            problems.append(
                f"PACING_MAX_WAIT_SECONDS + BROKER_CONNECT_TIMEOUT + BROKER_READ_TIMEOUT ({write:g} s) leave no time "
                f"to record the outcome within the invocation's {budget:g} s (FUNCTION_TIMEOUT_SECONDS and API "
                "Gateway's 29 s, less 1 s)")
        if self.answer_budget_seconds > budget:
            problems.append(f"ANSWER_BUDGET_SECONDS ({self.answer_budget_seconds:g}) exceeds the invocation's {budget:g} s")
        if self.order_settle_seconds <= self.function_timeout_seconds:
            problems.append(
                f"ORDER_SETTLE_SECONDS ({self.order_settle_seconds}) must exceed FUNCTION_TIMEOUT_SECONDS "
                f"({self.function_timeout_seconds}): an order still being written must never be declared absent")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# Each setting comes from the environment variable of its name in upper case (TOKEN_PARAMETER,
# MAX_ALERT_AGE_SECONDS, …); only the stage has a name of its own.
_ENV_NAMES = {field: field.upper() for field in Settings.model_fields} | {"stage": "RELAY_STAGE"}
SETTING_VARIABLES = frozenset(_ENV_NAMES.values())


def settings_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> Settings:
    values = {field: environ[name] for field, name in _ENV_NAMES.items() if environ.get(name)}
    stage = values.get("stage", "dev")
    # Parameter names default under the stage's own path, which the IAM policy is scoped to.
    prefix = f"/indstocks-relay/{stage}"
    values.setdefault("token_parameter", f"{prefix}/indstocks-token")
    values.setdefault("webhook_secret_parameter", f"{prefix}/webhook-secret")
    values.setdefault("admin_key_parameter", f"{prefix}/admin-key-hash")
    values.setdefault("client_id_parameter", f"{prefix}/indstocks-client-id")
    values.setdefault("mpin_parameter", f"{prefix}/indstocks-mpin")
    values.setdefault("totp_secret_parameter", f"{prefix}/indstocks-totp-secret")
    values.setdefault("dashboard_secret_parameter", f"{prefix}/dashboard-session-secret")
    values.setdefault("telegram_bot_token_parameter", f"{prefix}/telegram-bot-token")
    values.setdefault("telegram_chat_id_parameter", f"{prefix}/telegram-chat-id")
    values.setdefault("state_table", f"indstocks-relay-{stage}-state")
    values.setdefault("orders_table", f"indstocks-relay-{stage}-orders")
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
