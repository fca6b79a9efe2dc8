"""Deterministic F&O prices for the simulator: a contract's price follows its underlying's spot.

Options are priced with Black-Scholes (no rates, one volatility per underlying), futures at spot
plus a carry; both rounded to the contract's tick. Open interest, volume and the top of the book
are derived from the contract itself, so one spot always gives the same option chain.
"""

from __future__ import annotations

import math
import zlib
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from local.fno_master import MONTHS, FnoContract, strike_text

CARRY = 0.065  # a year's cost of carry in a future's price
DEFAULT_VOLATILITY = 0.2


def _cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _years(contract: FnoContract, today: date) -> float:
    # The contract trades until the close on its expiry day: a quarter of a day is left then.
    return (max((contract.expiry - today).days, 0) + 0.25) / 365


def to_tick(value: float, tick: Decimal) -> Decimal:
    ticks = (Decimal(repr(value)) / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return max(ticks, Decimal(1)) * tick


def _black_scholes(contract: FnoContract, spot: float, today: date, volatility: float) -> dict[str, float]:
    assert contract.strike is not None
    strike, years = float(contract.strike), _years(contract, today)
    root = volatility * math.sqrt(years)
    d1 = (math.log(spot / strike) + root * root / 2) / root
    d2 = d1 - root
    if contract.option_type == "CE":
        price, delta = spot * _cdf(d1) - strike * _cdf(d2), _cdf(d1)
    else:
        price, delta = strike * _cdf(-d2) - spot * _cdf(-d1), _cdf(d1) - 1
    return {
        "price": price,
        "delta": delta,
        "gamma": _pdf(d1) / (spot * root),
        "theta": -spot * _pdf(d1) * volatility / (2 * math.sqrt(years)) / 365,  # per day
        "vega": spot * _pdf(d1) * math.sqrt(years) / 100,  # per volatility point
    }


def contract_price(contract: FnoContract, spot: Decimal, today: date, volatility: float = DEFAULT_VOLATILITY) -> Decimal:
    """The last price of a future or option when its underlying is at `spot`."""
    if not contract.is_option:
        return to_tick(float(spot) * (1 + CARRY * _years(contract, today)), contract.tick)
    return to_tick(_black_scholes(contract, float(spot), today, volatility)["price"], contract.tick)


def _seed(contract: FnoContract) -> int:
    key = f"{contract.exchange}|{contract.trading_symbol}|{contract.expiry.isoformat()}"
    return zlib.crc32(key.encode())


def chain_leg(contract: FnoContract, spot: Decimal, today: date, volatility: float = DEFAULT_VOLATILITY,
              last_price: Decimal | None = None) -> dict[str, Any]:  # fmt: skip
    """One `ce`/`pe` leg of the option chain (OptionChainLeg in the spec)."""
    model = _black_scholes(contract, float(spot), today, volatility)
    price = last_price if last_price is not None else to_tick(model["price"], contract.tick)
    previous = to_tick(_black_scholes(contract, float(spot) * 0.995, today, volatility)["price"], contract.tick)
    seed = _seed(contract)
    oi = contract.lot * (500 + seed % 20000)
    return {
        "security_id": contract.security_id,
        "trading_symbol": contract.trading_symbol,
        "last_price": float(price),
        "previous_close_price": float(previous),
        "oi": oi,
        "previous_oi": oi - contract.lot * ((seed >> 8) % 400 - 200),
        "volume": contract.lot * ((seed >> 4) % 100000),
        "top_bid_price": float(max(price - contract.tick, contract.tick)),
        "top_bid_quantity": contract.lot * (1 + (seed >> 12) % 20),
        "top_ask_price": float(price + contract.tick),
        "top_ask_quantity": contract.lot * (1 + (seed >> 16) % 20),
        "iv": round(volatility * 100, 2),
        "greeks": {key: round(model[key], 4) for key in ("delta", "gamma", "theta", "vega")},
    }


def search_symbol(contract: FnoContract) -> str:
    """The search endpoint's own trading_symbol: NIFTY26AUG25FUT, NIFTY26JUL2825950CE."""
    day = contract.expiry
    expiry = f"{day.year % 100:02d}{MONTHS[day.month - 1].upper()}{day.day:02d}"
    if not contract.is_option:
        return f"{contract.underlying}{expiry}FUT"
    assert contract.strike is not None
    return f"{contract.underlying}{expiry}{strike_text(contract.strike)}{contract.option_type}"
