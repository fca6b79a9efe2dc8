"""How big an order a sizing mode makes (`quantity_type`), in units, always rounded DOWN to whole
shares or whole lots (pure).

| mode | the alert's number is | units |
|---|---|---|
| `fixed` (default) | units (shares; a lot multiple for futures and options) | as given |
| `capital` | rupees to spend | rupees ÷ (price × lot), whole lots |
| `risk` | rupees at risk | rupees ÷ (stop distance × lot), whole lots; needs `stop_loss` |
| `percent_of_funds` | percent of tradable cash | cash × % ÷ (price × lot), whole lots |

- price: the entry price the order is valued at (a LIMIT's price, else the alert's `{{close}}` or
  the last traded price: the caller's choice, named in the description).
- risk: the stop distance is entry − stop for a BUY and stop − entry for a SELL, and must be
  above zero. The stop is the level the order's stop-loss leg carries: pass the bracket's stop
  trigger (after % and tick rounding, `Bracket.stop_price`) so the risk is measured to the price
  actually sent; a percent level given here is resolved against the price unrounded. Slippage
  past the stop (the stop leg's protection buffer) is not in the arithmetic.
- percent_of_funds: notional value, no leverage: the order's price × units stays within the
  share of cash, also for intraday and futures, whose margin is smaller. Conservative on purpose.
- A size that rounds to zero is refused (SizeTooSmall, 422) with the arithmetic, never rounded up.

Each result carries a one-line description and the inputs, for the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import Enum
from types import MappingProxyType

from chalicelib.alerts import MAX_QUANTITY, Side
from chalicelib.errors import AlertRejected, FieldProblem, SizeTooSmall
from chalicelib.fno.lots import order_units
from chalicelib.strategy.levels import Level, parse_level


class QuantityType(str, Enum):
    FIXED = "fixed"
    CAPITAL = "capital"
    RISK = "risk"
    PERCENT_OF_FUNDS = "percent_of_funds"

    @classmethod
    def parse(cls, value: object, field: str = "quantity_type") -> QuantityType:
        if isinstance(value, cls):
            return value
        word = value.strip().lower() if isinstance(value, str) else None
        try:
            return cls(word)
        except ValueError:
            raise AlertRejected(detail=[FieldProblem(field, "must be one of " + ", ".join(m.value for m in cls))]) from None


@dataclass(frozen=True)
class Sizing:
    """The units a sizing mode makes, and how (for the ledger)."""

    mode: QuantityType
    units: int
    lot_units: int
    description: str
    inputs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def lots(self) -> int:
        return self.units // self.lot_units


def _rupees(value: Decimal) -> str:
    return f"₹{value:,.0f}" if value == value.to_integral_value() else f"₹{value:,.2f}"


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _count(units: int, lot_units: int) -> str:
    """"133 shares", "1 share", "0 lots of 65 units", "2 lots of 65 units"."""
    if lot_units == 1:
        return f"{units} share{'' if units == 1 else 's'}"
    lots = units // lot_units
    return f"{lots} lot{'' if lots == 1 else 's'} of {lot_units} units"


def _decimal(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise AlertRejected(detail=[FieldProblem(field, "must be a number")])
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise AlertRejected(detail=[FieldProblem(field, "must be a number")]) from None
    if not number.is_finite():
        raise AlertRejected(detail=[FieldProblem(field, "must be a number")])
    return number


def _whole_lots(amount: Decimal, per_lot: Decimal, lot_units: int) -> tuple[int, Decimal]:
    """Units in the whole lots `amount` pays for at `per_lot` rupees a lot, and the exact ratio."""
    ratio = amount / per_lot
    lots = int(ratio.to_integral_value(rounding=ROUND_FLOOR))
    return lots * lot_units, ratio


def _ratio(ratio: Decimal) -> str:
    return f"{ratio:,.2f}" if ratio < 10**9 else f"{ratio:.3e}"


def size_order(mode: QuantityType | str, amount: object, *, side: Side, price: Decimal | None = None,
               lot_units: int = 1, stop_loss: Level | Decimal | str | None = None, funds: Decimal | None = None,
               field: str = "quantity", price_is: str = "price", instrument: str = "this instrument") -> Sizing:
    """Units for `amount` under `mode`. AlertRejected (400) naming the field for a missing or
    impossible input; SizeTooSmall (422) when the size rounds down to zero."""
    mode = QuantityType.parse(mode)
    if lot_units < 1:
        raise ValueError("lot_units must be at least 1")
    if mode is QuantityType.FIXED:
        return _fixed(amount, lot_units, field, instrument)
    value = _decimal(amount, field)
    if price is None or price <= 0:
        raise ValueError(f"quantity_type {mode.value} needs the entry price above zero")
    per_lot = price * lot_units
    buys = "buys" if side is Side.BUY else "sells"  # a SELL's value: what selling that many brings
    at = f"at {_rupees(price)}" + (f" ({price_is})" if price_is != "price" else "")
    inputs: dict[str, str] = {"quantity_type": mode.value, field: _number(value), "price": _number(price),
                              "lot_units": str(lot_units)}
    if mode is QuantityType.CAPITAL:
        if value <= 0:
            raise AlertRejected(detail=[FieldProblem(field, "is the rupees to spend with quantity_type capital; must be above zero")])
        units, ratio = _whole_lots(value, per_lot, lot_units)
        said = f"{_rupees(value)} {buys} {_count(units, lot_units)} {at}"
        formula = f"{_rupees(value)} ÷ {_rupees(per_lot)} = {_ratio(ratio)}, rounded down"
    elif mode is QuantityType.RISK:
        if value <= 0:
            raise AlertRejected(detail=[FieldProblem(field, "is the rupees at risk with quantity_type risk; must be above zero")])
        stop = _stop_price(stop_loss, side, price)
        distance = price - stop if side is Side.BUY else stop - price
        units, ratio = _whole_lots(value, distance * lot_units, lot_units)
        said = (f"{_rupees(value)} at risk over a {_rupees(distance)} stop distance is {_count(units, lot_units)} "
                f"(entry {_rupees(price)}, stop {_rupees(stop)})")
        formula = f"{_rupees(value)} ÷ ({_rupees(distance)} × {lot_units}) = {_ratio(ratio)}, rounded down"
        inputs |= {"stop_loss": _number(stop), "stop_distance": _number(distance)}
    else:
        if not 0 < value <= 100:
            raise AlertRejected(detail=[FieldProblem(field, "is a percent of tradable cash with quantity_type "
                                                            "percent_of_funds; must be above 0 and at most 100")])
        if funds is None:
            raise ValueError("quantity_type percent_of_funds needs the tradable cash")
        spend = max(funds, Decimal(0)) * value / 100
        units, ratio = _whole_lots(spend, per_lot, lot_units)
        said = (f"{_number(value)}% of {_rupees(max(funds, Decimal(0)))} tradable cash is {_rupees(spend)}, which "
                f"{buys} {_count(units, lot_units)} {at}")
        formula = f"{_rupees(spend)} ÷ {_rupees(per_lot)} = {_ratio(ratio)}, rounded down"
        inputs |= {"funds": _number(funds)}
    inputs["formula"] = formula
    if units < 1:
        raise SizeTooSmall(f"{said}; nothing was sent", detail=[FieldProblem(field, f"{said}: {formula}")])
    if units > MAX_QUANTITY:
        raise AlertRejected(detail=[FieldProblem(field, f"{said}: more than the {MAX_QUANTITY} units one alert can send")])
    return Sizing(mode, units, lot_units, f"{said}: {formula}", MappingProxyType(inputs))


def _fixed(amount: object, lot_units: int, field: str, instrument: str) -> Sizing:
    value = _decimal(amount, field)
    if value != value.to_integral_value() or not 1 <= value <= MAX_QUANTITY:
        raise AlertRejected(detail=[FieldProblem(field, f"must be a whole number of units from 1 to {MAX_QUANTITY}")])
    units = order_units(lot_units, quantity=int(value), instrument=instrument)  # a lot multiple, or refused
    said = f"{_count(units, lot_units)} as given" if lot_units == 1 else f"{units} units ({_count(units, lot_units)}) as given"
    return Sizing(QuantityType.FIXED, units, lot_units, said,
                  MappingProxyType({"quantity_type": "fixed", field: str(units), "lot_units": str(lot_units)}))


def _stop_price(stop_loss: Level | Decimal | str | None, side: Side, entry: Decimal) -> Decimal:
    if stop_loss is None:
        raise AlertRejected(detail=[FieldProblem("stop_loss", "is required with quantity_type risk: the risk is "
                                                               "measured from the entry price to the stop")])
    level = parse_level(stop_loss, "stop_loss")
    stop = level.price(entry, below=side is Side.BUY)
    if stop <= 0:
        raise AlertRejected(detail=[FieldProblem("stop_loss", f"{level} below the entry price {_rupees(entry)} is at or "
                                                               "below zero")])
    if side is Side.BUY and stop >= entry:
        raise AlertRejected(detail=[FieldProblem("stop_loss", f"{_rupees(stop)} is not below the entry price "
                                                               f"{_rupees(entry)}: a BUY's stop must be below it")])
    if side is Side.SELL and stop <= entry:
        raise AlertRejected(detail=[FieldProblem("stop_loss", f"{_rupees(stop)} is not above the entry price "
                                                               f"{_rupees(entry)}: a SELL's stop must be above it")])
    return stop
