"""The 08:45 IST check: will the first order of the day go through?

Two things every order needs and a trader cannot see from a phone: a live token, and today's
instrument master (symbol → security id). A failure of either is announced before the market
opens, not discovered through a rejected alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.errors import RelayError
from chalicelib.instruments import InstrumentMaster
from chalicelib.notify import Notifier
from chalicelib.observability import logger
from chalicelib.token_renewal import TokenHealth, TokenService


@dataclass(frozen=True)
class PremarketReport:
    token: TokenHealth
    instruments_ok: bool | None  # None: not checked (the download needs a valid token)
    instruments: str
    instruments_notified: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.token.healthy, "reason": self.token.reason, "notified": self.token.notified,
                "instruments_ok": self.instruments_ok, "instruments": self.instruments,
                "instruments_notified": self.instruments_notified}


def premarket_check(
    token_service: TokenService, instruments: InstrumentMaster, notifier: Notifier, now: float, today: date
) -> PremarketReport:
    health = token_service.check(now)
    if not health.healthy:
        return PremarketReport(health, None, "not checked: it is downloaded with the token")
    try:
        index = instruments.refresh(today)
    except RelayError as failure:
        notified = notifier.warn(
            "INDstocks instrument master unavailable",
            f"Today's INDstocks instrument master could not be loaded ({failure.public_message}). Alerts "
            "cannot be matched to INDstocks securities until it loads; the relay tries again on each alert.",
            outcome="instruments_unavailable",
        )
        return PremarketReport(health, False, failure.public_message, notified)
    rows = len(index)
    logger.info("instrument check", extra={"event": "instrument_check", "rows": rows})
    implausible = index.implausible_ticks()
    if implausible:  # priced orders on these are refused; the trader should know before 09:15
        found = f"{len(implausible)} of {rows} instruments have implausible tick sizes (e.g. {', '.join(implausible[:3])})"
        notified = notifier.warn(
            "INDstocks instrument master: implausible tick sizes",
            f"Today's INDstocks instrument master: {found}; it may give ticks in paise. LIMIT and stop orders on "
            "these instruments are refused rather than rounded by rupees; MARKET orders still go.",
            outcome="implausible_ticks",
        )
        return PremarketReport(health, True, f"{rows} cash-equity instruments; {found}", notified)
    return PremarketReport(health, True, f"{rows} cash-equity instruments")
