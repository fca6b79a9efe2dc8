"""What a view shows for each account of the stage, from the relay's own data.

`accounts()` lists the stage's accounts (ACCOUNTS; one, `primary`, without it), each with its own
services (token, ledger, relay, sweep); every view section, form and action names its account.
The kill switch is the stage's: a pause stops every account.

Per account and view: the token's metadata (SSM, cached), the kill switch (one GetItem), today's
journal (one Query), the last sweep and the alarm markers (GetItems in the state table), and the
broker data from `BrokerReads` (cached, see there).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.accounts.model import namespace
from chalicelib.dashboard.broker_reads import BrokerReads, BrokerView
from chalicelib.errors import RelayError, TokenUnavailable
from chalicelib.kill_switch import SwitchState
from chalicelib.moments import ist_date, ist_midnight
from chalicelib.state import DynamoTable, StateTable
from chalicelib.token_renewal import TOKEN_LIFETIME
from chalicelib.tokens import ParameterMissing

if TYPE_CHECKING:
    from chalicelib.services import AccountServices, Services

TIMELINE_LIMIT = 200
# What the timeline, the counts and the chart read of each journal item (not the request bodies).
TIMELINE_FIELDS = ("key", "alert_id", "state", "message", "received_at", "updated_at", "symbol", "side", "qty",
                   "order_id", "broker_status", "traded_qty", "traded_price", "exchange_message", "follow_message",
                   "latency_ms", "received_epoch", "sent_epoch", "origin")
SWEEP_LATE_SECONDS = 180  # the sweep runs every minute: three missed runs is an alarm
_ADMIN_LOCK_LIMIT, _ADMIN_WINDOW = 20, 900  # as AdminGuard's defaults
_ATTENTION = ("unknown", "absent", "failed")


@dataclass(frozen=True)
class Account:
    """One INDstocks account of the stage: the stage's services, its own, its cached broker reads."""

    id: str
    stage: Services
    own: AccountServices
    reads: BrokerReads
    namespace: str  # its items' prefix in the state table (the first account's is "")


@dataclass
class TokenState:
    present: bool
    valid: bool | None  # None: not verified (INDstocks did not answer)
    account_name: str | None = None
    stored_at: float | None = None
    expires_at: float | None = None
    last_validated: float | None = None
    rotation: bool = False
    problem: str | None = None


@dataclass
class AccountView:
    id: str
    label: str
    token: TokenState
    switch: SwitchState
    broker: BrokerView
    timeline: list[dict[str, Any]]
    counts: dict[str, int]
    latencies: list[tuple[float, float]]  # (received epoch, alert → broker answer ms)
    last_sweep: dict[str, Any] | None
    alarms: list[str] = field(default_factory=list)
    paper: bool = False  # the account trades on paper (TRADING_MODE or its ACCOUNTS `mode`)


class _Markers(DynamoTable):
    """The state table's markers the dashboard reads: the day's dead-token alarm, the loss limit,
    the admin lock for everyone."""

    def item(self, pk: str) -> dict[str, Any]:
        return dict(self._call("get_item", Key={"pk": {"S": pk}}).get("Item") or {})


_built: tuple[Services, list[Account]] | None = None  # the services they were built for, and them


def accounts(services: Services) -> list[Account]:
    """The stage's accounts, built once per services instance (their cached reads live as long as it does)."""
    global _built
    if _built is None or _built[0] is not services:
        stage_state = _state(services)
        _built = (services, [Account(each.account.name, services, each,
                                     BrokerReads(each.relay, stage_state, each.account.name),
                                     namespace(each.account, services.book)) for each in services.accounts])
    return _built[1]


def find(services: Services, account_id: str) -> Account | None:
    return next((account for account in accounts(services) if account.id == account_id), None)


def _state(services: Services) -> StateTable:
    return StateTable(lambda: services.relay.ledger.client, services.settings.state_table)


def view(account: Account, now: float) -> AccountView:
    own, stage = account.own, account.stage
    items = own.ledger.journal(since=ist_midnight(now), limit=TIMELINE_LIMIT, fields=TIMELINE_FIELDS)
    broker = account.reads.view(now, max((_epoch(item.get("updated_at")) or 0 for item in items), default=0))
    token = _token_state(account, broker, now)
    counts = Counter(str(item.get("state")) for item in items)
    counts["filled"] = sum(1 for item in items if _filled(item))
    state = _state(stage)
    markers = _Markers(lambda: own.ledger.client, stage.settings.state_table)
    label = account.id if len(stage.accounts) > 1 or not token.account_name else ""
    result = AccountView(
        id=account.id, label=" · ".join(filter(None, (label, token.account_name))), token=token,
        switch=own.relay.switch.read(), broker=broker, timeline=items, counts=dict(counts),
        latencies=_latencies(items), last_sweep=state.within(account.namespace).read_note("sweep"),
        paper=bool(getattr(own.relay.broker, "paper", False)),
    )
    result.alarms = _alarms(result, markers, account.namespace, now)
    return result


def _filled(item: dict[str, Any]) -> bool:
    return str(item.get("broker_status") or "").upper() == "SUCCESS" or bool(item.get("traded_qty"))


def _latencies(items: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Alert in → broker answer, per order written today: the wait before the write (pace slot,
    queue) plus the broker's own answer time, as the ledger records them."""
    points = []
    for item in items:
        received, sent, broker_ms = item.get("received_epoch"), item.get("sent_epoch"), item.get("latency_ms")
        if received is not None and sent is not None and broker_ms is not None:
            points.append((float(received), max(0.0, (float(sent) - float(received)) * 1000) + float(broker_ms)))
    return sorted(points)


def _token_state(account: Account, broker: BrokerView, now: float) -> TokenState:
    own, parameters = account.own, account.stage.parameters
    token_parameter = own.token_service.settings.token_parameter
    try:
        own.tokens.current()
    except TokenUnavailable:
        return TokenState(present=False, valid=False, rotation=_rotation(own), problem="no token stored")
    except RelayError as error:
        return TokenState(present=False, valid=None, rotation=_rotation(own), problem=error.public_message)
    meta: dict[str, Any] = {}
    try:
        meta = json.loads(parameters.get(token_parameter + "-meta", max_age=30))
    except (ParameterMissing, RelayError, ValueError):
        pass
    stored_at = _epoch(meta.get("stored_at"))
    if stored_at is None:  # stored without the relay (CLI, console): SSM's own record of when
        try:
            modified = parameters.modified_at(token_parameter)
        except RelayError:
            modified = None
        stored_at = modified.timestamp() if modified else None
    expires_at = _epoch(meta.get("expires_at")) or (stored_at + TOKEN_LIFETIME.total_seconds() if stored_at else None)
    valid: bool | None = None if broker.problem and not broker.token_rejected else not broker.token_rejected
    if expires_at is not None and expires_at <= now:
        valid = False
    return TokenState(
        present=True, valid=valid, account_name=meta.get("account_name"), stored_at=stored_at, expires_at=expires_at,
        last_validated=broker.read_at if valid else stored_at, rotation=_rotation(own),
        problem="rejected by INDstocks" if broker.token_rejected else None,
    )


def _rotation(own: AccountServices) -> bool:
    try:
        return own.token_service.rotation_configured()
    except RelayError:
        return False


def _epoch(text: Any) -> float | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _alarms(view: AccountView, markers: _Markers, namespace: str, now: float) -> list[str]:
    alarms = []
    day = ist_date(now).isoformat()
    if view.token.valid is False:
        alarms.append(f"Token: {view.token.problem or 'not usable'}; paste a new one below")
    if markers.item(f"{namespace}lock#token-invalid#{day}"):
        alarms.append("Alerts found the token dead today (the trader was told)")
    if markers.item(f"{namespace}lock#loss-limit#{day}"):
        alarms.append("The daily loss limit was reached today: paused until the next session")
    admin = markers.item("attempts#admin#all")  # the stage's admin key: no account's namespace
    if admin and int(admin.get("attempts", {}).get("N", 0)) >= _ADMIN_LOCK_LIMIT and \
            float(admin.get("window_start", {}).get("N", 0)) > now - _ADMIN_WINDOW:
        alarms.append("Admin key locked for everyone: too many wrong keys")
    attention = sum(view.counts.get(state, 0) for state in _ATTENTION)
    rejected_by_exchange = sum(1 for item in view.timeline if item.get("exchange_message"))
    if attention or rejected_by_exchange:
        alarms.append(f"{attention + rejected_by_exchange} order(s) today need attention (unknown, absent, failed "
                      "or rejected by the exchange)")
    if view.last_sweep is None or now - float(view.last_sweep.get("at") or 0) > SWEEP_LATE_SECONDS:
        alarms.append("The minute sweep has not run in the last 3 minutes")
    return alarms
