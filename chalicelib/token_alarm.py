"""The dead-token alarm: the first alert of an IST day that finds no usable token tells the
trader at once, in one message, however many alerts follow and however many instances run them.

One conditional write in the state table decides who sends it, so concurrent instances send one
message. That write is all a later dead-token alert pays; the first one also pays the message,
on channels with tight timeouts, so the webhook still answers well inside TradingView's 3 s.
Storing a new token re-arms the alarm: if that token dies too the same day, the trader hears
about it again. The alerts themselves are listed by the sweep's next message (they are failed).
"""

from __future__ import annotations

from chalicelib.errors import RelayError
from chalicelib.moments import ist_date
from chalicelib.notify import Notifier
from chalicelib.observability import logger
from chalicelib.state import StateTable

ALARM_HOLDER = "dead-token-alarm"
_DAY_SECONDS = 86400  # the name carries the IST date: the next day's first dead-token alert is new


class DeadTokenAlarm:
    def __init__(self, state: StateTable, notifier: Notifier, token_page_url: str):
        self._state = state
        self._notifier = notifier
        self._token_page_url = token_page_url

    @staticmethod
    def _name(now: float) -> str:
        return f"token-invalid#{ist_date(now).isoformat()}"

    def announce(self, now: float) -> bool:
        """Tell the trader unless today's alarm has gone out already; True when this call sent it.
        Never raises: the alert's own answer matters more."""
        try:
            if not self._state.acquire(self._name(now), now, _DAY_SECONDS, holder=ALARM_HOLDER):
                return False
        except RelayError as error:  # the state table is down: the alert's answer still says why
            logger.warning("dead-token alarm undecided", extra={"event": "token_alarm", "cause": error.cause})
            return False
        self._notifier.warn(
            "INDstocks token dead: alerts are failing",
            "An alert could not be sent: the relay has no valid INDstocks token (missing, expired or replaced). "
            "Nothing was placed, and every alert fails until a new token is stored. Paste one on the token page "
            f"now: {self._token_page_url or '(token page)'}. The relay's next order message lists the failed alerts.",
            outcome="token_dead",
        )
        return True

    def rearm(self, now: float) -> None:
        """A new token is stored: its death today would be news again."""
        try:
            self._state.release(self._name(now), ALARM_HOLDER)
        except RelayError as error:
            logger.warning("dead-token alarm not re-armed", extra={"event": "token_alarm", "cause": error.cause})
