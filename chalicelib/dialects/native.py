"""The relay's own alert: JSON or `key=value` text, fields exactly as the alert model names them
(README, *The alert*). The identity mapping: what worked before the dialects still does."""

from __future__ import annotations

from chalicelib.alerts import Alert, ParsedBody, validate_alert
from chalicelib.dialects.base import Format, Reading

# Fields no other dialect has: one of them makes a body the relay's own.
MARKERS = frozenset({"order_type", "quantity_type", "amount", "lots", "stop_loss", "target", "trailing_stop",
                     "validity", "amo", "alert_id", "position_scope", "expiry"})


def reading(parsed: ParsedBody) -> Reading:
    def build() -> Alert:
        assert parsed.fields is not None
        return validate_alert(parsed.fields)

    return Reading(Format.NATIVE, parsed.claimed_secret, parsed.problem, build)
