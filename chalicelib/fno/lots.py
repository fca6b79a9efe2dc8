"""Quantities and prices of derivative orders: lots, freeze limits, ticks (pure: no I/O).

Quantities are in units (INDstocks' `qty`), always a whole number of lots. An order at or above
the exchange's freeze quantity is refused by the exchange, so it is split into children, each a
lot multiple strictly below the limit (INDstocks says "less than freeze qty"; whether equal
passes is unverified, so children stay below it).

Prices are rounded to the contract's tick in the trader's favour and the answer shows both:
- LIMIT: a BUY rounds down (never pays more than asked), a SELL rounds up (never sells for less).
- stop trigger: a BUY stop rounds up and a SELL stop rounds down: toward the side where the stop
  has not yet triggered, so rounding never fires a stop before the level the trader chose.
- marketable LIMIT from an LTP: a BUY at LTP + pct rounds up and a SELL at LTP − pct rounds
  down: away from the LTP, so the buffer the trader asked for is never cut by rounding. A SELL
  never goes below one tick.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from types import MappingProxyType

from chalicelib.errors import AlertRejected, FieldProblem
from chalicelib.instruments import plausible_rupee_tick

# Exchange freeze quantities in units (NSE/BSE circulars, Jan 2026). Not in the master: a table
# a stage can change (parse_freeze_overrides). Stock derivatives have none unless configured.
DEFAULT_FREEZE_UNITS: Mapping[str, int] = MappingProxyType({
    "NIFTY": 1800, "BANKNIFTY": 600, "FINNIFTY": 1800, "MIDCPNIFTY": 2800, "NIFTYNXT50": 600,
    "SENSEX": 1000, "BANKEX": 900,
})
MAX_CHILD_ORDERS = 20
_NO_LIMIT_WORDS = {"NONE", "OFF", "0"}


def _refuse(field: str, message: str) -> AlertRejected:
    return AlertRejected(detail=[FieldProblem(field, message)])


def _is_buy(side: str) -> bool:
    # `side` is a plain "BUY"/"SELL" or the alert model's str-valued Side enum.
    word = str(getattr(side, "value", side)).upper()
    if word not in ("BUY", "SELL"):
        raise ValueError("side must be BUY or SELL")
    return word == "BUY"


# --- lots -----------------------------------------------------------------------------------

def order_units(lot_units: int, *, quantity: int | None = None, lots: int | None = None,
                instrument: str = "this contract") -> int:
    """Units to send: `quantity` (units, a multiple of the lot) or `lots` × lot, one of the two."""
    if lot_units < 1:
        raise ValueError("lot_units must be at least 1")
    if (quantity is None) == (lots is None):
        raise _refuse("quantity", "send either quantity (in units) or lots, not both and not neither")
    if lots is not None:
        if lots < 1:
            raise _refuse("lots", "must be at least 1")
        return lots * lot_units
    assert quantity is not None
    if quantity < 1 or quantity % lot_units:
        below = quantity // lot_units * lot_units
        nearest = [units for units in (below, below + lot_units) if units > 0]
        raise _refuse("quantity", f"must be a multiple of the lot size of {instrument}, {lot_units} units "
                                  f"(nearest: {' or '.join(map(str, nearest))}; or send lots)")
    return quantity


# --- freeze limits --------------------------------------------------------------------------

@dataclass(frozen=True)
class FreezeLimits:
    """Freeze quantity in units per underlying; an underlying not in the table has none."""

    units: Mapping[str, int]

    def for_underlying(self, underlying: str) -> int | None:
        return self.units.get(underlying.upper())


def parse_freeze_overrides(text: str) -> dict[str, int | None]:
    """`NIFTY=1800,BANKNIFTY=600,RELIANCE=off` → {name: units, or None to lift a limit}.
    ValueError naming the first bad pair."""
    overrides: dict[str, int | None] = {}
    for pair in (part.strip() for part in text.replace(";", ",").split(",")):
        if not pair:
            continue
        name, equals, value = (piece.strip().upper() for piece in pair.partition("="))
        if not equals or not name or not name.replace("&", "").replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"{pair!r} is not UNDERLYING=UNITS (e.g. NIFTY=1800, or RELIANCE=off)")
        if value in _NO_LIMIT_WORDS:
            overrides[name] = None
        elif value.isdigit() and int(value) <= 10_000_000:
            overrides[name] = int(value)
        else:
            raise ValueError(f"{pair!r}: the freeze limit must be a whole number of units, or off")
    return overrides


def freeze_limits(overrides: str | None = None) -> FreezeLimits:
    """The shipped table with a stage's overrides applied."""
    table: dict[str, int] = dict(DEFAULT_FREEZE_UNITS)
    for name, units in parse_freeze_overrides(overrides or "").items():
        if units is None:
            table.pop(name, None)
        else:
            table[name] = units
    return FreezeLimits(MappingProxyType(table))


def split_for_freeze(units: int, lot_units: int, freeze_units: int | None,
                     max_children: int = MAX_CHILD_ORDERS, *, field: str = "quantity") -> tuple[int, ...]:
    """Children of an order, each a lot multiple strictly below the freeze limit: as few as
    possible, as even as lots allow (larger ones first). Below the limit: the order itself."""
    if units < 1 or lot_units < 1 or units % lot_units:
        raise ValueError("units must be a positive multiple of lot_units")
    if freeze_units is None or units < freeze_units:
        return (units,)
    lots_per_child = (freeze_units - 1) // lot_units
    if lots_per_child < 1:
        raise _refuse(field, f"one lot ({lot_units} units) is not below the freeze limit of {freeze_units} "
                                  "units; the freeze table needs correcting")
    lots = units // lot_units
    children = math.ceil(lots / lots_per_child)
    if children > max_children:
        most = max_children * lots_per_child
        raise _refuse(field, f"{units} units need {children} orders below the freeze limit of {freeze_units}; "
                                  f"at most {max_children} are sent, so at most {most * lot_units} units "
                                  f"({most} lots)")
    base, extra = divmod(lots, children)
    return tuple((base + 1) * lot_units for _ in range(extra)) + tuple(base * lot_units for _ in range(children - extra))


# --- ticks ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoundedPrice:
    """A price before and after rounding to the tick, so the answer can show both."""

    original: Decimal
    rounded: Decimal
    tick: Decimal

    @property
    def changed(self) -> bool:
        return self.original != self.rounded


@dataclass(frozen=True)
class LastPrice:
    """A contract's last traded price and where it was read: `quote NFO_<id>` (one
    /market/quotes/ltp read) or `option chain` (the leg a relative option was chosen from)."""

    value: Decimal
    source: str


def plausible_fno_tick(tick: Decimal, price: Decimal | None = None) -> bool:
    """Whether TICK_SIZE can be a rupee tick for a derivative at `price`. TICK_SIZE is read as
    rupees (OpenAlgo's reading); its unit is unverified. The equity guard applies (whole paise,
    a tick of a rupee or more only on a price of a thousand ticks), and derivatives go further:
    NSE and BSE F&O ticks are 5 or 10 paise, never a rupee, so a tick of 1 or more is the paise
    reading (5 = 5 paise) even on a NIFTY future at 24 000."""
    return plausible_rupee_tick(tick, price) and tick < 1


def _to_tick(price: Decimal, tick: Decimal, up: bool) -> Decimal:
    if tick <= 0:
        raise ValueError("tick must be above zero")
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (steps * tick).quantize(tick)


def _positive(rounded: Decimal, tick: Decimal, field: str, original: Decimal) -> Decimal:
    if rounded <= 0:
        raise _refuse(field, f"{original} rounds to 0 at the tick of {tick}; the lowest price is {tick}")
    return rounded


def round_limit(price: Decimal, tick: Decimal, side: str, field: str = "price") -> RoundedPrice:
    """A LIMIT price on the tick: BUY down, SELL up (in the trader's favour)."""
    rounded = _to_tick(price, tick, up=not _is_buy(side))
    return RoundedPrice(price, _positive(rounded, tick, field, price), tick)


def round_trigger(price: Decimal, tick: Decimal, side: str, field: str = "trigger_price") -> RoundedPrice:
    """A stop trigger on the tick: BUY up, SELL down (never triggers before the chosen level)."""
    rounded = _to_tick(price, tick, up=_is_buy(side))
    return RoundedPrice(price, _positive(rounded, tick, field, price), tick)


def marketable_limit(ltp: Decimal, percent: Decimal, side: str, tick: Decimal) -> RoundedPrice:
    """LIMIT price that crosses the book: LTP + percent for a BUY, rounded up; LTP − percent for
    a SELL, rounded down but never below one tick. `original` is the unrounded LTP ± percent."""
    try:
        ltp, percent = Decimal(ltp), Decimal(percent)
    except InvalidOperation:
        raise ValueError("ltp and percent must be numbers") from None
    if not ltp.is_finite() or ltp <= 0:
        raise ValueError("ltp must be above zero")
    if not percent.is_finite() or not 0 <= percent <= 50:
        raise ValueError("percent must be between 0 and 50")
    buy = _is_buy(side)
    target = ltp * (1 + percent / 100) if buy else ltp * (1 - percent / 100)
    rounded = _to_tick(target, tick, up=buy)
    return RoundedPrice(target, max(rounded, tick.quantize(tick)), tick)
