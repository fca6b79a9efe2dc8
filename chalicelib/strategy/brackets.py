"""Bracket legs of an entry: `stop_loss` and `target` as INDstocks smart-order leg fields (pure).

An entry with a bracket is one `POST /smart/order` whose body carries the legs:
`sl_trigger_price` + `sl_limit_price` and `tgt_trigger_price` + `tgt_limit_price`, each pair
given together (API notes §5). The legs are OCO children that arm once the entry fills.

Levels: an absolute price or a percent of the entry price ("1.5%": below the entry for a BUY's
stop and above it for its target; mirrored for a SELL). Side rules (§5): a BUY's stop is below
the entry and its target above; a SELL's the reverse. The entry price is the one the broker
checks the legs against: the entry's LIMIT price, else the price the caller expects it to fill
at (the alert's `{{close}}` or the last price); a MARKET entry that fills beyond the stop is
the broker's to refuse.

Rounding to the tick (the contract's or the share's tick, already checked plausible by the
caller), the project's rules of chalicelib/fno/lots.py applied to the exit side of each leg:
- stop-loss trigger: rounded away from the entry (a BUY's stop down, a SELL's up), like any stop
  trigger: it never fires before the level asked. The loss can be up to one tick more than
  asked; risk sizing measures to this rounded trigger (`Bracket.stop_price`), so the rupees at
  risk stay within the budget.
- stop-loss limit: INDstocks has no market-on-trigger, so, as for SL-M, a protection buffer of
  SL_M_PROTECTION_PCT beyond the trigger (below it for a BUY's stop, above for a SELL's),
  rounded away from the trigger so the buffer is never cut, and always at least one tick beyond
  it (§5 wants the limit strictly below/above the trigger, even with a buffer of 0).
- target limit: never worse than asked (a BUY's target, a SELL exit, rounds up; a SELL's
  target rounds down); the target trigger is one tick before it (toward the entry), so the exit
  limit rests in the book when the price reaches the trigger, and §5's "limit above the
  trigger" (BUY; below for SELL) holds whether it means strictly or not.
After rounding, both triggers must still be on their side of the entry; a target less than two
ticks from the entry cannot be, and is refused.

Refused, naming the field: a bracket on BSE (smart orders are NSE-only), on an IOC or
after-market entry (smart orders are DAY-only and have no AMO flag), and `trailing_stop`:
INDstocks does not run trailing stops (`is_tsl` is not live and is silently ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from chalicelib.alerts import Side
from chalicelib.errors import AlertRejected, FieldProblem
from chalicelib.fno.lots import RoundedPrice, marketable_limit, round_limit, round_trigger
from chalicelib.fno.symbols import Exchange
from chalicelib.strategy.levels import Level, parse_level

LEG_FIELDS = ("sl_trigger_price", "sl_limit_price", "tgt_trigger_price", "tgt_limit_price")


def _refuse(*problems: tuple[str, str]) -> AlertRejected:
    return AlertRejected(detail=[FieldProblem(name, message) for name, message in problems])


def _shown(price: RoundedPrice, level: Level) -> dict[str, str]:
    shown = {"asked": str(price.original), "sent": str(price.rounded), "tick": str(price.tick)}
    return {"level": str(level), **shown} if level.percent else shown


@dataclass(frozen=True)
class Bracket:
    """Leg fields ready to merge into a `/smart/order` body (empty: no bracket), each level as
    asked and as sent, and the stop and target as sent."""

    legs: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    rounding: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    stop_price: Decimal | None = None  # the stop-loss trigger as sent
    target_price: Decimal | None = None  # the target limit as sent

    def __bool__(self) -> bool:
        return bool(self.legs)


TRAILING_STOP_REFUSAL = ("INDstocks does not run trailing stops: the smart order's is_tsl is not live and is "
                         "silently ignored; send a fixed stop_loss, and a new alert to move it")


def check_carrier(given: list[str], *, exchange: Exchange, validity: str = "DAY", amo: bool = False,
                  trailing_stop: object = None) -> None:
    """Whether an entry can carry the bracket fields `given` (`stop_loss`, `target`): a smart
    order is NSE-only, DAY-only and has no after-market flag; a trailing stop is never possible.
    AlertRejected naming the field at fault; the alert model asks this before any I/O."""
    if trailing_stop is not None:
        raise _refuse(("trailing_stop", TRAILING_STOP_REFUSAL))
    if not given:
        return
    if exchange is Exchange.BSE:
        raise _refuse(*((name, "needs an INDstocks smart order, which is NSE-only; BSE orders take no stop_loss or "
                               "target") for name in given))
    if str(validity).upper() != "DAY":
        raise _refuse(("validity", f"an entry with {' and '.join(given)} is a smart order, which is DAY-only"))
    if amo:
        raise _refuse(("amo", f"an entry with {' and '.join(given)} is a smart order, which has no after-market flag"))


def check_opens_only(closing: int, given: list[str], *, decided: str = "") -> None:
    """A bracket's legs close what the entry opens, the same quantity (the OCO child): so it fits
    only an order that opens or adds exposure and closes nothing. A target order that reduces
    the position, or reverses it (closes some, opens the rest), is refused naming the fields."""
    if closing and given:
        why = f" ({decided})" if decided else ""
        raise _refuse(*((name, f"applies only to an order that opens or adds to a position; this one closes "
                               f"{closing} units{why}, and its legs would close more than it opens: leave "
                               f"{name} out, or go flat first and send the new position with it") for name in given))


def bracket_legs(side: Side, entry: Decimal, tick: Decimal, *, exchange: Exchange,
                 stop_loss: Level | Decimal | str | float | None = None,
                 target: Level | Decimal | str | float | None = None, trailing_stop: object = None,
                 protection_pct: Decimal = Decimal("0.5"), validity: str = "DAY", amo: bool = False) -> Bracket:
    """The legs of an entry on `side` at `entry`. AlertRejected naming the field when a level is
    on the wrong side of the entry, too close to it, or when the entry cannot carry legs."""
    given = [name for name, level in (("stop_loss", stop_loss), ("target", target)) if level is not None]
    check_carrier(given, exchange=exchange, validity=validity, amo=amo, trailing_stop=trailing_stop)
    if not given:
        return Bracket()
    if entry <= 0 or tick <= 0:
        raise ValueError("entry and tick must be above zero")
    buy = side is Side.BUY
    exit_side = Side.SELL if buy else Side.BUY
    legs: dict[str, float] = {}
    rounding: dict[str, Mapping[str, str]] = {}
    stop_price = target_price = None
    if stop_loss is not None:
        level = parse_level(stop_loss, "stop_loss")
        asked = _on_its_side(level, entry, side, "stop_loss")
        trigger = round_trigger(asked, tick, exit_side.value, field="stop_loss")
        limit = _beyond(trigger.rounded, protection_pct, exit_side, tick)
        legs |= {"sl_trigger_price": float(trigger.rounded), "sl_limit_price": float(limit)}
        rounding["stop_loss"] = MappingProxyType(_shown(trigger, level))
        stop_price = trigger.rounded
    if target is not None:
        level = parse_level(target, "target")
        asked = _on_its_side(level, entry, side, "target")
        limit_price = round_limit(asked, tick, exit_side.value, field="target")
        trigger_price = limit_price.rounded - tick if buy else limit_price.rounded + tick
        if (trigger_price <= entry) if buy else (trigger_price >= entry):
            raise _refuse(("target", (
                f"{level} is too close to the entry price {entry}: its leg triggers one tick before the target, at "
                f"{trigger_price}, which must be {'above' if buy else 'below'} the entry; set the target at least two "
                f"ticks ({2 * tick}) {'above' if buy else 'below'} it")))
        legs |= {"tgt_trigger_price": float(trigger_price), "tgt_limit_price": float(limit_price.rounded)}
        rounding["target"] = MappingProxyType(_shown(limit_price, level))
        target_price = limit_price.rounded
    return Bracket(MappingProxyType(legs), MappingProxyType(rounding), stop_price, target_price)


def _on_its_side(level: Level, entry: Decimal, side: Side, name: str) -> Decimal:
    """The price `level` means, refused when it is not on its side of the entry."""
    buy = side is Side.BUY
    below = buy if name == "stop_loss" else not buy
    price = level.price(entry, below=below)
    if price <= 0:
        raise _refuse((name, f"{level} below the entry price {entry} is at or below zero"))
    if (price >= entry) if below else (price <= entry):
        where = "below" if below else "above"
        what = "stop_loss" if name == "stop_loss" else "target"
        raise _refuse((name, f"{level} is not {where} the entry price {entry}: a {side.value}'s {what} must be {where} it"))
    return price


def _beyond(trigger: Decimal, protection_pct: Decimal, exit_side: Side, tick: Decimal) -> Decimal:
    """The stop-loss leg's limit: the protection buffer beyond the trigger, at least one tick."""
    limit = marketable_limit(trigger, protection_pct, exit_side.value, tick).rounded
    if exit_side is Side.BUY:
        return max(limit, trigger + tick)
    limit = min(limit, trigger - tick)
    if limit <= 0:
        raise _refuse(("stop_loss", f"a stop at {trigger} leaves no price below it for the stop's limit (tick {tick})"))
    return limit
