"""What an alert asks beyond one plain order, carried out for a relay (`Relay` calls each flow
where it is used, so none of them weighs on a cash alert's cold start):

- `targets`: position targets and exits: where the instrument stands, under its lock, and only
  the difference sent (`place_to_target`).
- `cancels`: CANCEL of one instrument's open orders, CANCEL_ALL / EXIT_ALL of every instrument
  traded today, and the one cancel each sends (`cancel_open_orders`, `act_on_every_instrument`,
  `cancel_one`).
- `children`: an order at or above its freeze limit, sent as child orders below it
  (`place_children`).
- `build`: the order one send writes: a cash or contract order, an entry's size and bracket
  (`build_write`), and what its ledger item records (`ledger_request`).
- `answers` (pure): the answer, the log line's trail, worst-of statuses, freshness refusals;
  `records`: the broker's outcome and the ledger's record of it, as answers.

Each flow takes the `Relay` it acts for and uses its admission, send-once and record steps.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "place_to_target": "targets", "hold_instrument": "targets",
    "cancel_open_orders": "cancels", "act_on_every_instrument": "cancels", "cancel_one": "cancels",
    "place_children": "children", "Child": "children",
    "build_write": "build", "ledger_request": "build", "derivative_order": "build", "plan_entry": "build",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = sorted(_HOME)
