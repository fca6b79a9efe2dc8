"""An entry's plan: its bracket legs and its size, from one entry price (pure).

The relay builds the order first, then asks here what the alert's `stop_loss`/`target` and
`quantity_type` make of it at the entry price:

- the entry price is the one INDstocks checks bracket legs against (api doc §5): the order's
  LIMIT price (as rounded to the tick), a stop's trigger-limit, or, for MARKET, the alert's
  `price` (`{{close}}`) when it carries one, else one last-price read. Sizing values the order at
  the same price, so the legs, the size and the MAX_ORDER_VALUE check agree.
- the legs come from `brackets.bracket_legs` (rounded to the tick, each checked on its side);
  `risk` sizing measures to the stop as sent (`Bracket.stop_price`), after % and tick rounding.
- the size from `sizing.size_order`, in whole shares or whole lots of the contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.alerts import Alert
from chalicelib.strategy.brackets import Bracket, bracket_legs
from chalicelib.strategy.sizing import Sizing, size_order


@dataclass(frozen=True)
class EntryPlan:
    entry: Decimal
    entry_from: str  # "limit price", "trigger-limit price", "alert price" or "last price"
    bracket: Bracket
    sizing: Sizing | None = None

    def answer(self) -> dict[str, Any]:
        """What the answer says of the plan: `bracket` (the entry price the legs were computed
        from, each leg's rounding and the legs as sent) and `sizing`."""
        said: dict[str, Any] = {}
        if self.bracket:
            said["bracket"] = {"entry_price": str(self.entry), "entry_price_from": self.entry_from,
                               "legs": dict(self.bracket.legs),
                               "rounding": {name: dict(shown) for name, shown in self.bracket.rounding.items()}}
        if self.sizing is not None:
            said["sizing"] = self.record()
        return said

    def record(self) -> dict[str, Any] | None:
        """How the quantity was derived (the ledger's `sizing`), None for a fixed quantity."""
        if self.sizing is None:
            return None
        return {"quantity_type": self.sizing.mode.value, "units": self.sizing.units, "lots": self.sizing.lots,
                "description": self.sizing.description, "inputs": dict(self.sizing.inputs)}

    def record_text(self) -> str | None:
        record = self.record()
        return None if record is None else json.dumps(record, sort_keys=True, ensure_ascii=False)


def plan_entry(alert: Alert, *, entry: Decimal, entry_from: str, tick: Decimal, lot_units: int = 1,
               protection_pct: Decimal = Decimal("0.5"), funds: Decimal | None = None,
               instrument: str = "this instrument") -> EntryPlan:
    """The legs and the size of `alert`'s entry at `entry` (AlertRejected naming the field, or
    SizeTooSmall, when they cannot be)."""
    side = alert.action.side
    if side is None:
        raise ValueError(f"{alert.action.value} is not an entry")
    bracket = bracket_legs(side, entry, tick, exchange=alert.resolved_exchange, stop_loss=alert.stop_loss,
                           target=alert.target, protection_pct=protection_pct, validity=alert.validity.value,
                           amo=alert.amo)
    sizing = None
    if alert.sized:
        sizing = size_order(alert.quantity_type, alert.amount, side=side, price=entry, lot_units=lot_units,
                            stop_loss=bracket.stop_price, funds=funds, field="amount", price_is=entry_from,
                            instrument=instrument)
    return EntryPlan(entry, entry_from, bracket, sizing)
