"""Price levels an alert names (`stop_loss`, `target`): an absolute price, or a percent of the
entry price written "1.5%" (pure).

A percent is a distance, never a direction: the side decides it. For a BUY entry a stop of
"1.5%" is 1.5 % below the entry and a target of "3%" 3 % above; for a SELL entry the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from chalicelib.alerts import MAX_PRICE
from chalicelib.errors import AlertRejected, FieldProblem

MAX_PERCENT = Decimal(1000)  # an option's target can be several times its premium


def _refuse(field: str, message: str) -> AlertRejected:
    return AlertRejected(detail=[FieldProblem(field, message)])


@dataclass(frozen=True)
class Level:
    """An absolute price (`percent` False) or a percent of the entry (`percent` True)."""

    value: Decimal
    percent: bool = False

    def price(self, entry: Decimal, *, below: bool) -> Decimal:
        """The price this level means for an entry at `entry`: a percent below or above it."""
        if not self.percent:
            return self.value
        step = entry * self.value / 100
        return entry - step if below else entry + step

    def __str__(self) -> str:
        return f"{self.value.normalize():f}%" if self.percent else f"{self.value:f}"


def parse_level(value: object, field: str) -> Level:
    """`101.5`, `"101.5"` or `"1.5%"` → a Level; AlertRejected naming `field` otherwise."""
    if isinstance(value, Level):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _refuse(field, 'must be a price (101.5) or a percent of the entry price ("1.5%")')
    text = str(value).strip()
    if "{{" in text:
        raise _refuse(field, "contains an unexpanded TradingView placeholder")
    percent = text.endswith("%")
    try:
        number = Decimal(text.removesuffix("%").strip())
    except InvalidOperation:
        raise _refuse(field, 'must be a price (101.5) or a percent of the entry price ("1.5%")') from None
    if not number.is_finite() or number <= 0:
        raise _refuse(field, "must be above zero")
    if percent and number > MAX_PERCENT:
        raise _refuse(field, f"a percent of the entry price must be at most {MAX_PERCENT}%")
    if not percent and number > MAX_PRICE:
        raise _refuse(field, f"must be at most {MAX_PRICE}")
    return Level(number, percent)
