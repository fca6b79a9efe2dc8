"""Position targets: an alert that says "be long 50" becomes the one order that gets there (pure).

All quantities are signed units (shares; contracts' units for futures and options, never lots):
+ long, − short, 0 flat, as TradingView's `{{strategy.position_size}}` says them.

- `target`: where the alert wants the position. An exit is target 0.
- `net`: the broker's net position in the instrument now (the positions read).
- `in_flight`: orders already sent for the instrument and not yet done (sent, or open in the
  book), signed by side: an open BUY of 10 is +10, an open SELL of 10 is −10. They are counted as
  if they fill: a repeated "be long 50" while a BUY 50 is still open sends nothing more.

The order is target − (net + in_flight): positive is a BUY, negative a SELL, zero nothing to send
(a value, not an error). A reversal is one order: +10 → −10 is one SELL 20. Futures and options
must stay whole lots: a target or a position off the lot is refused, naming both and the lot.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.alerts import Side
from chalicelib.errors import AlertRejected, FieldProblem


def _signed(units: int) -> str:
    return f"{units:+d}" if units else "0"


@dataclass(frozen=True)
class TargetOrder:
    """What reaching `target` from `net` (+ `in_flight`) takes: one order, or nothing."""

    target: int
    net: int
    in_flight: int
    lot_units: int = 1

    @property
    def current(self) -> int:
        """The position the order starts from: net plus what is in flight."""
        return self.net + self.in_flight

    @property
    def change(self) -> int:
        return self.target - self.current

    @property
    def noop(self) -> bool:
        return self.change == 0

    @property
    def side(self) -> Side | None:
        """BUY or SELL, None when there is nothing to send."""
        if self.change == 0:
            return None
        return Side.BUY if self.change > 0 else Side.SELL

    @property
    def quantity(self) -> int:
        """Units to send (0 for a noop)."""
        return abs(self.change)

    @property
    def lots(self) -> int:
        return self.quantity // self.lot_units

    @property
    def closing(self) -> int:
        """Units of the order that reduce the current exposure."""
        current, target = self.current, self.target
        if current == 0 or (target != 0 and (current > 0) == (target > 0)):
            return max(0, abs(current) - abs(target))
        return abs(current)  # flat or the other side: all of the current position goes

    @property
    def opening(self) -> int:
        """Units of the order that add exposure (a new position, a larger one, or the new side)."""
        return self.quantity - self.closing

    @property
    def reduces_only(self) -> bool:
        """True when the order only reduces exposure (an exit, or a smaller position on the same
        side): the rules for exits apply to it. A noop reduces nothing."""
        return not self.noop and self.opening == 0

    @property
    def reverses(self) -> bool:
        return self.current != 0 and self.target != 0 and (self.current > 0) != (self.target > 0)

    def describe(self) -> str:
        """One line for the ledger: from where, to where, what is sent."""
        start = f"{_signed(self.current)} (net {_signed(self.net)}, in flight {_signed(self.in_flight)})"
        if self.noop:
            return f"position {start} is already the target {_signed(self.target)}: nothing to send"
        assert self.side is not None
        lots = f" ({self.lots} lot{'s' if self.lots != 1 else ''} of {self.lot_units})" if self.lot_units > 1 else ""
        parts = [f"closes {self.closing}" if self.closing else "", f"opens {self.opening}" if self.opening else ""]
        return (f"position {start} to {_signed(self.target)}: {self.side.value} {self.quantity}{lots}, "
                f"{' and '.join(part for part in parts if part)}")


def order_for_target(target: int, net: int, *, in_flight: int = 0, lot_units: int = 1,
                     instrument: str = "this instrument") -> TargetOrder:
    """The order that takes the position to `target`; AlertRejected (field `position_size`)
    when futures and options would leave whole lots: the target or the position is off the lot."""
    if lot_units < 1:
        raise ValueError("lot_units must be at least 1")
    order = TargetOrder(target, net, in_flight, lot_units)
    if lot_units == 1 or order.change % lot_units == 0:
        return order
    if target % lot_units:
        below = abs(target) // lot_units * lot_units
        nearest = (below, below + lot_units)
        sign = -1 if target < 0 else 1
        raise AlertRejected(detail=[FieldProblem("position_size", (
            f"{_signed(target)} units of {instrument} is not a whole number of lots of {lot_units} units "
            f"(nearest: {' or '.join(_signed(sign * units) for units in nearest)})"))])
    raise AlertRejected(detail=[FieldProblem("position_size", (
        f"the position in {instrument} is {_signed(order.current)} units (net {_signed(net)}, in flight "
        f"{_signed(in_flight)}), not a whole number of lots of {lot_units} units, so no order of whole lots "
        f"reaches {_signed(target)}; nothing was sent: square the odd units off by hand"))])


def exit_order(net: int, *, in_flight: int = 0, lot_units: int = 1, instrument: str = "this instrument") -> TargetOrder:
    """An exit: the order that takes the position to flat (target 0)."""
    return order_for_target(0, net, in_flight=in_flight, lot_units=lot_units, instrument=instrument)
