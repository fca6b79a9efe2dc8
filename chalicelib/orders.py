"""Alert + instrument → the exact INDstocks request. Pure: no I/O, no clock, no randomness.

- MARKET and LIMIT go to `POST /order`.
- SL and SL-M go to `POST /smart/order` as `order_type: "TRIGGER"` (the only stop INDstocks has).
  SL uses the alert's price as the trigger-limit; SL-M has no market-on-trigger at INDstocks, so
  it becomes a trigger-limit a protection buffer beyond the trigger.
- Prices are rounded to the instrument's tick, never to the trader's disadvantage: a BUY limit
  rounds down, a SELL limit rounds up; triggers round to the nearest tick. A tick that may be in
  paise (see instruments.plausible_rupee_tick) refuses the order instead: never round by rupees.
- MARKETABLE_LIMIT_PCT: an option's MARKET goes to `POST /order` as a LIMIT at its last price ±
  that percent, rounded away from the last price (`sends_marketable_limit`, `_marketable_order`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from chalicelib.alerts import Alert, Exchange, OrderType, Side
from chalicelib.broker import OrderWrite
from chalicelib.config import Settings
from chalicelib.errors import AlertRejected, FieldProblem, ImplausibleTick
from chalicelib.fno.lots import LastPrice, RoundedPrice, marketable_limit, round_limit, round_trigger
from chalicelib.instruments import Instrument, plausible_rupee_tick

if TYPE_CHECKING:  # a cash alert's cold start does not load the F&O contracts module
    from chalicelib.fno.contracts import Contract
    from chalicelib.portfolio import Position

REMARKS_PREFIX = "tvr"
_REMARKS_LIMIT = 100
_RESERVED_REMARKS = re.compile(r"^\s*tv\s*-\s*terminal\s*$", re.I)


def remarks_tag(alert_id: str | None, nonce: str) -> str:
    """The order's `remarks`: our prefix, the alert id and a nonce, unique per alert.

    It is how an order whose outcome is unknown is found again in the order book.
    """
    tag = f"{REMARKS_PREFIX}:{alert_id}:{nonce}" if alert_id else f"{REMARKS_PREFIX}:{nonce}"
    tag = tag[:_REMARKS_LIMIT]
    assert not _RESERVED_REMARKS.match(tag)  # the prefix makes TV-TERMINAL impossible
    return tag


def child_remarks(remarks: str, child: int, children: int) -> str:
    """A child order's tag (an order split below its freeze limit): the parent's, then `:c2/4`,
    so each child is found in the book on its own and all of them by the parent's tag."""
    suffix = f":c{child}/{children}"
    return remarks[:_REMARKS_LIMIT - len(suffix)] + suffix


def round_to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    steps = (price / tick).to_integral_value(rounding=rounding)
    return (steps * tick).quantize(tick)


def _side(alert: Alert) -> Side:
    """The order's side: an alert reaches the order builder with BUY or SELL (an exit or a
    target position is turned into one first, chalicelib/relay.py)."""
    side = alert.action.side
    if side is None:
        raise ValueError(f"{alert.action.value} is not an order side")
    return side


def _limit_rounding(side: Side) -> str:
    return ROUND_FLOOR if side is Side.BUY else ROUND_CEILING


def _as_number(price: Decimal) -> float:
    # The spec types prices as JSON numbers; a tick-rounded Decimal converts without surprise.
    return float(price)


def _positive(price: Decimal, field: str) -> Decimal:
    if price <= 0:
        raise AlertRejected(detail=[FieldProblem(field, "is below the instrument's tick size")])
    return price


def _rupee_tick(instrument: Instrument, price: Decimal) -> Decimal:
    """The tick to round `price` to, refused when it may be in paise (never round by rupees)."""
    tick = instrument.tick_size
    if not plausible_rupee_tick(tick, price):
        name = f"{instrument.exchange}:{instrument.ticker}"
        what = (f"{name} has a tick size of {tick} in the instrument master, not a plausible rupee tick at a price of "
                f"{price} (the master may give ticks in paise)")
        raise ImplausibleTick(f"{what}; LIMIT and stop orders on {name} are refused, nothing was sent",
                              detail=[FieldProblem("symbol", what)])
    return tick


def algo_id(exchange: Exchange, settings: Settings) -> str:
    return settings.nse_algo_id if exchange is Exchange.NSE else settings.bse_algo_id


def closing_order(position: Position, exchange: Exchange, remarks: str, settings: Settings) -> OrderWrite:
    """The MARKET order that takes a position (a row of GET /portfolio/positions) to flat, in its
    own product and segment (flatten: the relay decides it, no alert)."""
    if position.net_qty == 0:
        raise ValueError("a flat position needs no closing order")
    return OrderWrite("/order", {
        "txn_type": (Side.SELL if position.net_qty > 0 else Side.BUY).value,
        "exchange": exchange.value,
        "segment": position.segment,
        "product": position.product,
        "security_id": position.security_id,
        "qty": abs(position.net_qty),
        "order_type": "MARKET",
        "validity": "DAY",
        "algo_id": algo_id(exchange, settings),
        "remarks": remarks,
    })


def build_order(alert: Alert, instrument: Instrument, remarks: str, settings: Settings) -> OrderWrite:
    exchange = alert.resolved_exchange
    common = {
        "txn_type": _side(alert).value,
        "exchange": exchange.value,
        "segment": "EQUITY",
        "product": alert.product.value,
        "security_id": instrument.security_id,
        "qty": alert.quantity,
        "algo_id": algo_id(exchange, settings),
        "remarks": remarks,
    }
    amo = {"is_amo": True} if alert.amo else {}  # sent only when set: the broker's default is false
    if alert.order_type is OrderType.MARKET:  # needs no tick
        return OrderWrite("/order", {**common, "order_type": "MARKET", "validity": alert.validity.value, **amo})
    reference = alert.price if alert.price is not None else alert.trigger_price
    assert reference is not None
    tick = _rupee_tick(instrument, reference)
    if alert.order_type is OrderType.LIMIT:
        assert alert.price is not None
        limit = _positive(round_to_tick(alert.price, tick, _limit_rounding(_side(alert))), "price")
        return OrderWrite(
            "/order",
            {**common, "order_type": "LIMIT", "validity": alert.validity.value, "limit_price": _as_number(limit), **amo},
        )

    assert alert.trigger_price is not None
    trigger = _positive(round_to_tick(alert.trigger_price, tick, ROUND_HALF_UP), "trigger_price")
    if alert.order_type is OrderType.SL:
        assert alert.price is not None
        limit = _positive(round_to_tick(alert.price, tick, _limit_rounding(_side(alert))), "price")
    else:
        # SL-M: a BUY stop may pay up to the buffer above the trigger, a SELL down to below it.
        buffer = settings.sl_m_protection_pct / Decimal(100)
        if _side(alert) is Side.BUY:
            limit = round_to_tick(trigger * (1 + buffer), tick, ROUND_CEILING)
        else:
            limit = _positive(round_to_tick(trigger * (1 - buffer), tick, ROUND_FLOOR), "trigger_price")
    return OrderWrite(
        "/smart/order",
        {
            **common,
            "order_type": "TRIGGER",
            "validity": "DAY",
            "trigger_price": _as_number(trigger),
            "trigger_limit_price": _as_number(limit),
        },
    )


# --- futures and options ----------------------------------------------------------------------

def sends_marketable_limit(alert: Alert, contract: Contract, settings: Settings) -> bool:
    """MARKETABLE_LIMIT_PCT: an option's MARKET order goes as a LIMIT beyond its last price, which
    must be read first. Futures stay MARKET: they are liquid, and the issue asked it of options."""
    return settings.marketable_limit_pct is not None and alert.order_type is OrderType.MARKET and contract.is_option


def build_derivative_order(alert: Alert, contract: Contract, units: int, remarks: str, settings: Settings,
                           last_price: LastPrice | None = None) -> tuple[OrderWrite, dict[str, dict[str, str]]]:
    """A resolved contract's order (`segment: DERIVATIVE`, `exchange` NSE or BSE, never NFO/BFO),
    and each price as asked and as sent (chalicelib/fno/lots.py: LIMIT prices round BUY down and
    SELL up; triggers BUY up and SELL down, so a stop never fires before the trader's level).
    With MARKETABLE_LIMIT_PCT an option's MARKET is a LIMIT at `last_price` ± that percent, rounded
    away from it (`sends_marketable_limit`; the caller reads `last_price`)."""
    exchange = Exchange(contract.exchange.value)
    name = contract.openalgo_symbol
    if alert.order_type.is_stop and exchange is Exchange.BSE:
        raise AlertRejected(detail=[FieldProblem(
            "order_type", f"{alert.order_type.value} is not possible on {name}: stop orders are INDstocks smart "
                          "orders, which are NSE-only; BSE derivatives take MARKET and LIMIT")])
    common = {
        "txn_type": _side(alert).value,
        "exchange": exchange.value,
        "segment": "DERIVATIVE",
        "product": alert.product.value,
        "security_id": contract.security_id,
        "qty": units,
        "algo_id": algo_id(exchange, settings),
        "remarks": remarks,
    }
    amo = {"is_amo": True} if alert.amo else {}
    if sends_marketable_limit(alert, contract, settings):
        if last_price is None:
            raise ValueError("an option's MARKET order under MARKETABLE_LIMIT_PCT needs its last price")
        return _marketable_order(alert, contract, common, amo, last_price, settings)
    if alert.order_type is OrderType.MARKET:
        return OrderWrite("/order", {**common, "order_type": "MARKET", "validity": alert.validity.value, **amo}), {}
    reference = alert.price if alert.price is not None else alert.trigger_price
    assert reference is not None
    if not contract.tick_plausible(reference):
        what = (f"{name} has a tick size of {contract.tick_size} in the F&O master, not a plausible rupee tick "
                "(the master may give ticks in paise)")
        raise ImplausibleTick(f"{what}; LIMIT and stop orders on {name} are refused, nothing was sent",
                              detail=[FieldProblem("symbol", what)])
    tick, side = contract.tick_size, _side(alert).value
    if alert.order_type is OrderType.LIMIT:
        assert alert.price is not None
        limit = round_limit(alert.price, tick, side)
        return (OrderWrite("/order", {**common, "order_type": "LIMIT", "validity": alert.validity.value,
                                      "limit_price": _as_number(limit.rounded), **amo}),
                {"price": _shown(limit)})
    assert alert.trigger_price is not None
    trigger = round_trigger(alert.trigger_price, tick, side)
    if alert.order_type is OrderType.SL:
        assert alert.price is not None
        limit = round_limit(alert.price, tick, side)
    else:  # SL-M: a trigger-limit the protection buffer beyond the trigger, rounded away from it
        buffer = settings.sl_m_protection_pct / Decimal(100)
        if _side(alert) is Side.BUY:
            limit = RoundedPrice(trigger.rounded * (1 + buffer),
                                 round_to_tick(trigger.rounded * (1 + buffer), tick, ROUND_CEILING), tick)
        else:
            limit = RoundedPrice(trigger.rounded * (1 - buffer), _positive(
                round_to_tick(trigger.rounded * (1 - buffer), tick, ROUND_FLOOR), "trigger_price"), tick)
    return (OrderWrite("/smart/order", {**common, "order_type": "TRIGGER", "validity": "DAY",
                                        "trigger_price": _as_number(trigger.rounded),
                                        "trigger_limit_price": _as_number(limit.rounded)}),
            {"trigger_price": _shown(trigger), **({"price": _shown(limit)} if alert.price is not None else {})})


def _marketable_order(alert: Alert, contract: Contract, common: Mapping[str, object], amo: Mapping[str, bool],
                      last_price: LastPrice, settings: Settings) -> tuple[OrderWrite, dict[str, dict[str, str]]]:
    """The MARKET option order as a LIMIT at LTP + percent (BUY, rounded up) or LTP − percent
    (SELL, rounded down, never below one tick), and what the answer shows of it."""
    name = contract.openalgo_symbol
    if not contract.tick_plausible(last_price.value):
        what = (f"{name} has a tick size of {contract.tick_size} in the F&O master, not a plausible rupee tick "
                "(the master may give ticks in paise)")
        raise ImplausibleTick(f"{what}; MARKETABLE_LIMIT_PCT cannot price a LIMIT on it, nothing was sent",
                              detail=[FieldProblem("symbol", what)])
    percent = settings.marketable_limit_pct
    assert percent is not None
    limit = marketable_limit(last_price.value, percent, alert.action.value, contract.tick_size)
    return (OrderWrite("/order", {**common, "order_type": "LIMIT", "validity": alert.validity.value,
                                  "limit_price": _as_number(limit.rounded), **amo}),
            {"price": {"asked": "MARKET", "ltp": str(last_price.value), "ltp_from": last_price.source,
                       "percent": str(percent), "target": str(limit.original), "sent": str(limit.rounded),
                       "tick": str(limit.tick)}})


def _shown(price: RoundedPrice) -> dict[str, str]:
    return {"asked": str(price.original), "sent": str(price.rounded), "tick": str(price.tick)}


# --- strategy entries: a bracket's legs, a sized quantity -------------------------------------

def entry_price(body: Mapping[str, object]) -> tuple[Decimal, str] | None:
    """The price an order's bracket legs are checked against (api doc §5), and what it is: a
    LIMIT's limit, a TRIGGER's trigger-limit (else its trigger). None for MARKET: INDstocks
    checks against the live price, which the caller supplies."""
    if body.get("limit_price") is not None:
        return Decimal(str(body["limit_price"])), "limit price"
    if body.get("order_type") == "TRIGGER":
        return Decimal(str(body.get("trigger_limit_price", body["trigger_price"]))), "trigger-limit price"
    return None


def checked_tick(tick: Decimal, price: Decimal, name: str) -> Decimal:
    """`tick`, refused when it may be in paise at `price` (never round legs by rupees)."""
    if not plausible_rupee_tick(tick, price):
        what = (f"{name} has a tick size of {tick} in the instrument master, not a plausible rupee tick at a price of "
                f"{price} (the master may give ticks in paise)")
        raise ImplausibleTick(f"{what}; stop_loss and target cannot be rounded, nothing was sent",
                              detail=[FieldProblem("symbol", what)])
    return tick


def planned_order(write: OrderWrite, units: int, legs: Mapping[str, float]) -> OrderWrite:
    """The order with its planned quantity, and with bracket legs as one `POST /smart/order`
    (api doc §5: the legs ride on the entry; smart orders are NSE, DAY, without `is_amo`: the
    alert model refused the others already). An order without legs keeps its endpoint."""
    body = {**write.body, "qty": units}
    if not legs:
        return OrderWrite(write.path, body)
    if body.get("exchange") != "NSE" or body.get("validity") != "DAY" or body.get("is_amo"):
        raise ValueError("bracket legs ride only on an NSE DAY order without is_amo")
    return OrderWrite("/smart/order", {**body, **legs})
