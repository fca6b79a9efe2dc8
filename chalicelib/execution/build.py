"""The order one send writes (`build_write`): a cash alert's on its instrument, a futures or
options alert's on its contract (the day's F&O master, prices on its tick, its freeze-limit
children), an entry's size and bracket legs at its entry price (chalicelib/strategy/entries.py,
imported only for an entry that has them); and what its ledger item records of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalicelib.alerts import Alert
from chalicelib.broker import OrderWrite
from chalicelib.errors import AlertRejected, FieldProblem
from chalicelib.execution.answers import contract_traits
from chalicelib.fno.lots import LastPrice, order_units, split_for_freeze
from chalicelib.fno.symbols import ContractQuery, EquityTicker, RelativeOption
from chalicelib.moments import ist_date
from chalicelib.orders import (
    build_derivative_order,
    build_order,
    checked_tick,
    entry_price,
    planned_order,
    remarks_tag,
    sends_marketable_limit,
)

if TYPE_CHECKING:
    from chalicelib.relay import Relay
    from chalicelib.strategy.entries import EntryPlan


@dataclass(frozen=True)
class Built:
    """The order to write, the token to go on with, the price that values it for the limits and
    where that price came from, and its child quantities (more than one: over its freeze limit)."""

    write: OrderWrite
    token: str
    alert_price: Decimal | None
    price_is: str
    children: tuple[int, ...] = ()


def build_write(relay: Relay, alert: Alert, order: Alert, now: float, token: str, described: dict[str, Any]) -> Built:
    """The order `order` asks (the alert itself, or the side and quantity a target made of it),
    remarked with `alert`'s id; what the answer says of it (a contract, its rounding, a size, a
    bracket) goes into `described`."""
    children: tuple[int, ...] = ()  # an order over its freeze limit: the child quantities
    reading = order.reading()
    remarks = remarks_tag(alert.alert_id, relay.make_nonce())
    alert_price, price_is = order.price, "alert price"
    equity = isinstance(reading, EquityTicker)
    if order.sized:  # built at one share or one lot, then sized at its entry price
        order = order.model_copy(update={"quantity": 1} if equity else {"lots": 1})
    if isinstance(reading, EquityTicker):
        instrument = relay.instruments.resolve(order.resolved_exchange.value, order.ticker, ist_date(now))
        write = build_order(order, instrument, remarks, relay.settings)
        traits: tuple[Decimal, int, str, str | None] = (instrument.tick_size, 1, order.ticker, None)
    else:
        write, contract, token, leg_price, children = derivative_order(relay, order, reading, token, now, remarks)
        described.update(contract)
        alert_price = alert_price or leg_price
        traits = contract_traits(contract["contract"])
    if order.sized or order.bracket_fields:
        write, plan, token = plan_entry(relay, order, write, token, alert_price, traits)
        alert_price, price_is = plan.entry, plan.entry_from
        described.update(plan.answer())
        if traits[3] is not None and order.sized:  # a contract sized here: its freeze limit anew
            units = int(write.body["qty"])
            described["contract"]["qty_units"] = units
            children = split_for_freeze(units, traits[1], relay.freeze_limits.for_underlying(traits[3]),
                                        field="amount")
    return Built(write, token, alert_price, price_is, children)


def ledger_request(write: OrderWrite, described: dict[str, Any]) -> dict[str, Any]:
    """What the order's ledger item records of it: the exact request, and the contract, position
    and sizing the answer describes."""
    request = {"endpoint": write.path, "request": json.dumps(write.body), "remarks": write.body["remarks"],
               "security_id": str(write.body["security_id"]), "side": write.body["txn_type"],
               "qty": write.body["qty"]}
    if "contract" in described:  # the contract, its price rounding and freeze limit
        request["contract"] = json.dumps({k: v for k, v in described.items() if k != "position"}, sort_keys=True)
    if "position" in described:  # a target's: from where, to where
        request["position"] = json.dumps(described["position"], sort_keys=True)
    if "sizing" in described:  # how a sizing mode derived the quantity
        request["sizing"] = json.dumps(described["sizing"], sort_keys=True, ensure_ascii=False)
    return request


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
