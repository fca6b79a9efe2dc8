"""The order one send writes, beyond a cash alert's own: a futures or options alert's order on
its contract (the day's F&O master, prices on its tick, its freeze-limit children), and an
entry's size and bracket legs at its entry price (chalicelib/strategy/entries.py, imported only
for an entry that has them)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalicelib.alerts import Alert
from chalicelib.broker import OrderWrite
from chalicelib.errors import AlertRejected, FieldProblem
from chalicelib.fno.lots import LastPrice, order_units, split_for_freeze
from chalicelib.fno.symbols import ContractQuery, RelativeOption
from chalicelib.orders import build_derivative_order, checked_tick, entry_price, planned_order, sends_marketable_limit

if TYPE_CHECKING:
    from chalicelib.relay import Relay
    from chalicelib.strategy.entries import EntryPlan


def plan_entry(relay: Relay, order: Alert, write: OrderWrite, token: str, known_price: Decimal | None,
               traits: tuple[Decimal, int, str, str | None]) -> tuple[OrderWrite, EntryPlan, str]:
    """An entry's bracket legs and size (chalicelib/strategy/entries.py) at its entry price:
    the order's own, else the price the alert or the chain gave, else one last-price read
    (which then also values the order for MAX_ORDER_VALUE). Tradable cash is read only for
    percent_of_funds."""
    from chalicelib.strategy.entries import plan_entry as plan  # only an entry with a bracket or a size

    tick, lot_units, name, _ = traits
    entry, entry_from = entry_price(write.body) or (known_price, "alert price")
    if entry is None:
        entry, token = relay.risk.last_price(write.body, token)
        entry_from = "last price"
    funds = relay.broker.funds(token).tradable_cash if order.quantity_type == "percent_of_funds" else None
    made = plan(order, entry=entry, entry_from=entry_from, tick=checked_tick(tick, entry, name),
                lot_units=lot_units, protection_pct=relay.settings.sl_m_protection_pct, funds=funds,
                instrument=name)
    units = made.sizing.units if made.sizing is not None else int(write.body["qty"])
    return planned_order(write, units, made.bracket.legs), made, token


def derivative_order(relay: Relay, alert: Alert, reading: ContractQuery | RelativeOption, token: str, now: float,
                     remarks: str) -> tuple[OrderWrite, dict[str, Any], str, Decimal | None, tuple[int, ...]]:
    """A futures or options alert's order: the contract from the day's F&O master (a relative
    option's strike from one option-chain read), its quantity in units, prices on its tick.
    Also what the answer says about it, the token to go on with, the chosen leg's price and
    the quantities of its child orders (one: the order itself; several: it is at or above
    the exchange's freeze limit and goes out as children below it)."""
    derivatives = relay.derivatives
    if derivatives is None:
        raise AlertRejected(detail=[FieldProblem("symbol", "futures and options are not enabled in this relay")])
    resolved = derivatives.resolve(reading, token, now)
    contract = resolved.contract
    units = order_units(contract.lot_units, quantity=alert.quantity, lots=alert.lots,
                        instrument=contract.openalgo_symbol)
    freeze = relay.freeze_limits.for_underlying(contract.underlying)
    children = split_for_freeze(units, contract.lot_units, freeze,
                                field="lots" if alert.lots is not None else "quantity")
    token = resolved.token or token  # the chain read may have renewed it
    last_price: LastPrice | None = None
    if sends_marketable_limit(alert, contract, relay.settings):
        # MARKETABLE_LIMIT_PCT: an option's MARKET goes as a LIMIT from its last price (one quote
        # read, or the chain's); that LIMIT also values it for MAX_ORDER_VALUE: no second read.
        last_price, token = derivatives.last_price(resolved, token)
    write, rounding = build_derivative_order(alert, contract, units, remarks, relay.settings, last_price)
    described = {"contract": {**resolved.describe(), "qty_units": units},
                 **({"rounding": rounding} if rounding else {}),
                 **({"freeze_limit": freeze} if len(children) > 1 else {})}
    return write, described, token, resolved.last_price, children
