"""One alert, several accounts: each target account's relay sends it, side by side.

The alert was parsed, authenticated and validated once (`Relay.handle_alert` of the stage's
first account). Each target account then goes through its own relay (`Relay.dispatch`): its own
ledger item (the alert's key, `|<name>` for every account but the first), pacing schedule (≤ 10
writes a second each), day count, token, quantity × multiplier, outcome and dead-token notice.
Accounts run concurrently, one thread each, within the invocation's one deadline: sequentially,
three accounts of 0.2-0.6 s writes (longer with a slow broker or a reconcile) would eat
TradingView's 3 s; side by side the answer waits for the slowest account only. One account
failing (dead token, a rejection, an unknown outcome, an AWS error) is that account's outcome
and never stops another. A replay finds every account's item claimed: nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.accounts.model import Account, AccountBook, account_key
from chalicelib.errors import RelayError, TokenUnavailable
from chalicelib.execution.answers import Answer, Trail, severity
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.alerts import Alert
    from chalicelib.deadline import Deadline
    from chalicelib.relay import Relay


class Desk:
    """The relays of a stage's accounts, by name."""

    def __init__(self, book: AccountBook, relays: Mapping[str, Relay]):
        self.book = book
        self.relays = dict(relays)

    def fan_out(self, key: str, alert: Alert, targets: tuple[Account, ...], now: float, deadline: Deadline,
                trail: Trail) -> Answer:
        """Send the alert for every target account; the answer lists each account's outcome, and
        its HTTP status is the worst of theirs (as a split order's is its worst child's)."""
        if len(targets) == 1:
            outcomes = [self._one(key, alert, targets[0], now, deadline, trail)]
        else:
            from concurrent.futures import ThreadPoolExecutor  # only an alert for several accounts

            with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="account") as pool:
                outcomes = list(pool.map(lambda account: self._one(key, alert, account, now, deadline, trail), targets))
        worst = max(outcomes, key=lambda outcome: severity(outcome["http_status"]))
        trail.note(accounts=[f"{outcome['account']}:{outcome['status']}" for outcome in outcomes])
        return Answer(worst["http_status"], {"status": worst["status"], "key": key, "accounts": outcomes})

    def _one(self, key: str, alert: Alert, account: Account, now: float, deadline: Deadline,
             trail: Trail) -> dict[str, Any]:
        """One account's outcome, whatever happened to it; its own log line."""
        relay = self.relays[account.name]
        own_key = account_key(key, account, self.book)
        own = Trail({**trail.fields, "account": account.name, "key": own_key}, trail.started)
        try:
            answer = relay.dispatch(own_key, alert, now, deadline, own)
            status, code, body = str(answer.body["status"]), answer.status_code, answer.body
        except RelayError as error:
            status, code, body = error.error, error.status_code, error.body()
            own.note(reason=error.public_message, cause=error.cause,
                     fields=[problem.field for problem in error.detail] or None)
            if isinstance(error, TokenUnavailable):
                relay.on_token_dead(now)
        except Exception as error:  # noqa: BLE001 - a bug in one account must not take the others' answers
            status, code = "internal_error", 500
            body = {"error": status, "message": "internal error; check the journal for this account's item"}
            own.note(error_type=type(error).__name__)
        if status == "token_invalid" or any(child.get("status") == "token_invalid" for child in body.get("children", ())):
            relay.on_token_dead(now)
        own.note(status_code=code)
        (logger.info if status == "placed" else logger.warning)(
            "account " + status, extra={"event": "alert_account", "outcome": status,
                                        **{name: value for name, value in own.fields.items() if value is not None}})
        paper = {"mode": "paper"} if own.fields.get("mode") == "paper" else {}  # set by the account's relay
        return {"account": account.name, "http_status": code, **body, **paper, "key": own_key, "status": status}
