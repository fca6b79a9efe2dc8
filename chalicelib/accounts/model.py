"""Accounts of a stage, as configured, and what an alert means for each (pure).

The exchanges tie one static IP to one client, with family members (spouse, dependent children,
parents) allowed to share it: one stage may hold several accounts of one family, each with its
own token; unrelated accounts need a stage of their own (README, "Several accounts").

`ACCOUNTS` is a JSON list of objects (`name`, optional `token_parameter`, `client_id_parameter`,
`mpin_parameter`, `totp_secret_parameter`, `multiplier`, `enabled`). Without it the stage has
exactly one account, `primary`, on the stage's own parameters: every answer, ledger key and state
item is what it was before accounts existed. The first account always keeps those: its ledger
keys are the alert's, its pacing schedule, day count and locks the stage's. Every other account
takes its parameters under `/indstocks-relay/<stage>/accounts/<name>/` unless given, its ledger
keys carry `|<name>` and its state items the namespace `@<name>/`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.errors import AlertRejected, FieldProblem

if TYPE_CHECKING:
    from chalicelib.alerts import Alert
    from chalicelib.config import Settings

DEFAULT_ACCOUNT = "primary"
EVERY_ACCOUNT = "all"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,23}$"
_NAME = re.compile(NAME_PATTERN)
# What separates an account's suffix from the alert's own key: never in an alert_id, a hash or an archive key.
KEY_SEPARATOR = "|"
_KEY_ACCOUNT = re.compile(r"\|([a-z0-9][a-z0-9_-]*)")


class Account(BaseModel):
    """One INDstocks account of the stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    token_parameter: str | None = None
    client_id_parameter: str | None = None
    mpin_parameter: str | None = None
    totp_secret_parameter: str | None = None
    # Each order's quantity (lots, target position, capital or risk amount) times this, rounded down.
    multiplier: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)] = Decimal(1)
    enabled: bool = True
    # `paper`: this account trades on paper only (chalicelib/paper/); unset: the stage's TRADING_MODE.
    mode: Literal["live", "paper"] | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == EVERY_ACCOUNT:
            raise ValueError(f"{EVERY_ACCOUNT!r} means every account in an alert; choose another name")
        return value


@dataclass(frozen=True)
class AccountBook:
    """The stage's accounts, in order; the first is the default target and keeps the stage's names."""

    accounts: tuple[Account, ...]

    @property
    def first(self) -> Account:
        return self.accounts[0]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(account.name for account in self.accounts)

    def named(self, name: str) -> Account:
        return next(account for account in self.accounts if account.name == name)

    def is_first(self, account: Account) -> bool:
        return account.name == self.first.name

    def targets(self, requested: tuple[str, ...] | None) -> tuple[Account, ...]:
        """The accounts an alert's `accounts` field names (None: the first), or a field-named
        refusal before anything is sent: an unknown or a disabled account."""
        if requested is None:
            wanted: tuple[Account, ...] = (self.first,)
        elif requested == (EVERY_ACCOUNT,):
            wanted = tuple(account for account in self.accounts if account.enabled)
            if not wanted:
                raise _refusal("all: every account of this stage is disabled")
            return wanted
        else:
            unknown = [name for name in requested if name not in self.names]
            if unknown:
                raise _refusal(f"{', '.join(unknown)}: no such account in this stage (it has {', '.join(self.names)})")
            wanted = tuple(self.named(name) for name in dict.fromkeys(requested))
        disabled = [account.name for account in wanted if not account.enabled]
        if disabled:
            said = "defaults to the stage's first account, " if requested is None else ""
            raise _refusal(f"{said}{', '.join(disabled)}: disabled (ACCOUNTS); nothing was sent")
        return wanted

    def for_key(self, key: str) -> Account:
        """The account a ledger key belongs to (a key without a suffix: the first)."""
        found = _KEY_ACCOUNT.search(key)
        return self.named(found.group(1)) if found and found.group(1) in self.names else self.first


def _refusal(message: str) -> AlertRejected:
    return AlertRejected(detail=[FieldProblem("accounts", message)])


def account_book(settings: Settings) -> AccountBook:
    """The stage's accounts from ACCOUNTS, each with its parameter names filled in; without
    ACCOUNTS, one account on the stage's own parameters. ValueError names what is wrong."""
    if not settings.accounts.strip():
        return AccountBook((_filled(Account(name=DEFAULT_ACCOUNT), settings, first=True),))
    try:
        listed = json.loads(settings.accounts)
    except ValueError as broken:
        raise ValueError(f"ACCOUNTS is not valid JSON: {broken}") from None
    if not isinstance(listed, list) or not listed:
        raise ValueError("ACCOUNTS must be a JSON list of at least one account object")
    accounts = []
    for position, entry in enumerate(listed):
        try:
            account = Account.model_validate(entry)
        except ValidationError as wrong:
            problem = wrong.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise ValueError(f"ACCOUNTS[{position}]{'.' + where if where else ''}: {problem['msg']}") from None
        accounts.append(_filled(account, settings, first=position == 0))
    names = [account.name for account in accounts]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"ACCOUNTS: the name {', '.join(repeated)} is used twice")
    prefix = f"/indstocks-relay/{settings.stage}/"
    for account in accounts:
        for field in _PARAMETERS:
            value = getattr(account, field)
            if not value.startswith(prefix):  # the functions' IAM policy reads parameters there only
                raise ValueError(f"ACCOUNTS: {account.name}.{field} {value!r} must lie under {prefix}")
        stored = re.compile(rf"^{re.escape(prefix)}accounts/[^/]+/indstocks-token$")
        if account.token_parameter != settings.token_parameter and not stored.match(account.token_parameter or ""):
            # the token page and rotation write it: the policy allows PutParameter there only
            raise ValueError(f"ACCOUNTS: {account.name}.token_parameter must be {prefix}accounts/<folder>/indstocks-token")
    return AccountBook(tuple(accounts))


_PARAMETERS = ("token_parameter", "client_id_parameter", "mpin_parameter", "totp_secret_parameter")
_FILES = {"token_parameter": "indstocks-token", "client_id_parameter": "indstocks-client-id",
          "mpin_parameter": "indstocks-mpin", "totp_secret_parameter": "indstocks-totp-secret"}


def _filled(account: Account, settings: Settings, *, first: bool) -> Account:
    """The account with every parameter name: the stage's own for the first, else its own folder."""
    folder = f"/indstocks-relay/{settings.stage}/accounts/{account.name}"
    return account.model_copy(update={
        field: getattr(account, field) or (getattr(settings, field) if first else f"{folder}/{_FILES[field]}")
        for field in _PARAMETERS})


def account_settings(settings: Settings, account: Account) -> Settings:
    """The stage's settings as one account sees them: its token and rotation credentials."""
    return settings.model_copy(update={field: getattr(account, field) for field in _PARAMETERS}
                               | ({"trading_mode": account.mode} if account.mode else {}))


def account_key(key: str, account: Account, book: AccountBook) -> str:
    """An account's ledger key for an alert: the alert's own for the first account."""
    return key if book.is_first(account) else f"{key}{KEY_SEPARATOR}{account.name}"


def namespace(account: Account, book: AccountBook) -> str:
    """The prefix of an account's items in the state table (pacing, day count, lanes, locks)."""
    return "" if book.is_first(account) else f"@{account.name}/"


def scaled_alert(alert: Alert, multiplier: Decimal) -> Alert:
    """The alert as an account with this multiplier sends it: quantity, lots, a target position
    and a capital or risk amount times the multiplier, rounded down (towards zero). A quantity
    that rounds to nothing is refused for that account, naming the field."""
    if multiplier == 1:
        return alert
    update: dict[str, object] = {}
    for field in ("quantity", "lots"):
        given = getattr(alert, field)
        if given is not None:
            scaled = int((Decimal(given) * multiplier).to_integral_value(ROUND_DOWN))
            if scaled < 1:
                raise AlertRejected(detail=[FieldProblem(
                    field, f"{given} × this account's multiplier {multiplier} rounds down to 0; nothing was sent")])
            update[field] = scaled
    if alert.position_size is not None:
        update["position_size"] = int((Decimal(alert.position_size) * multiplier).to_integral_value(ROUND_DOWN))
    if alert.amount is not None and alert.quantity_type in ("capital", "risk"):
        update["amount"] = alert.amount * multiplier
    return alert.model_copy(update=update)
