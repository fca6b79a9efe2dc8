"""The 08:45 IST check: will the first order of the day go through?

Two things every order needs and a trader cannot see from a phone: a live token, and today's
instrument master (symbol → security id). A failure of either is announced before the market
opens, not discovered through a rejected alert.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from chalicelib.errors import RelayError
from chalicelib.fno.master import FnoMaster
from chalicelib.instruments import InstrumentMaster
from chalicelib.notify import Notifier
from chalicelib.observability import logger
from chalicelib.strategy.windows import Schedule
from chalicelib.token_renewal import TokenHealth, TokenService


@dataclass(frozen=True)
class PremarketReport:
    token: TokenHealth
    instruments_ok: bool | None  # None: not checked (the download needs a valid token)
    instruments: str
    instruments_notified: bool = False
    fno_ok: bool | None = None  # None: not checked (no F&O master configured, or the equity one failed)
    fno: str | None = None
    holidays: str | None = None  # the warning when this year has no NSE holiday list

    def as_dict(self) -> dict[str, Any]:
        report = {"healthy": self.token.healthy, "reason": self.token.reason, "notified": self.token.notified,
                  "instruments_ok": self.instruments_ok, "instruments": self.instruments,
                  "instruments_notified": self.instruments_notified}
        if self.fno is not None:
            report |= {"fno_ok": self.fno_ok, "fno": self.fno}
        if self.token.fno_onboarded is not None:  # the profile's is_nse/bse_fno_onboarded
            report["fno_onboarded"] = self.token.fno_onboarded
        if self.holidays is not None:
            report["holidays"] = self.holidays
        return report


def premarket_check(
    token_service: TokenService, instruments: InstrumentMaster, notifier: Notifier, now: float, today: date,
    fno: FnoMaster | None = None, schedule: Schedule | None = None,
) -> PremarketReport:
    report = _equity_check(token_service, instruments, notifier, now, today)
    if fno is not None and report.instruments_ok:
        ok, said, notified = _fno_check(fno, notifier, today)
        report = replace(report, instruments_notified=report.instruments_notified or notified, fno_ok=ok, fno=said)
    missing = schedule.missing_holiday_list(now) if schedule is not None else None
    if missing is not None:  # every weekday then counts as a trading day: entries on a holiday go out
        notifier.warn("NSE holiday list missing", f"{missing}. Add the year's list from NSE's circular.",
                      outcome="holidays_missing")
        report = replace(report, holidays=missing)
    return report


def _fno_check(fno: FnoMaster, notifier: Notifier, today: date) -> tuple[bool, str, bool]:
    """Download today's F&O master and the index master and share them (cold instances then read
    the shared copies)."""
    try:
        index = fno.refresh(today)
    except RelayError as failure:
        notified = notifier.warn(
            "INDstocks F&O instrument master unavailable",
            f"Today's INDstocks F&O instrument master could not be loaded ({failure.public_message}). Futures and "
            "options alerts download it themselves until it loads, which is slow.",
            outcome="fno_instruments_unavailable",
        )
        return False, failure.public_message, notified
    said = f"{len(index)} F&O contracts"
    if index.skipped_rows:
        said += f"; {index.skipped_rows} rows unreadable"
    try:  # the index ids option chains are read by, shared too: a relative option then needs one broker read
        fno.underlyings(today)
    except RelayError as failure:
        said += (f"; the index master could not be loaded ({failure.public_message}): the first relative option "
                 "on an index downloads it")
    implausible = index.implausible_ticks()
    logger.info("F&O instrument check", extra={"event": "fno_instrument_check", "rows": len(index),
                                                "skipped_rows": index.skipped_rows, "implausible": len(implausible)})
    if implausible:
        said += f"; implausible tick sizes on {len(implausible)} underlyings (e.g. {', '.join(implausible[:3])})"
        notified = notifier.warn(
            "INDstocks F&O master: implausible tick sizes",
            f"Today's INDstocks F&O master: {said}. LIMIT and stop orders on these are refused rather than "
            "rounded by rupees; MARKET orders still go.",
            outcome="implausible_ticks",
        )
        return True, said, notified
    return True, said, False


def _equity_check(
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
