"""Relative options: the strike of ATM / ITMn / OTMn from an option chain (pure: no I/O).

Input is the `data` of INDstocks' `GET /market/option-chain` (`underlying_ltp` and `strikes`
keyed by strike text, each with `ce`/`pe` legs carrying `security_id`), already fetched.

- The ladder is the listed strikes that have a leg of the asked type, in numeric order.
- ATM is the ladder strike nearest the spot (`underlying_ltp`). A spot exactly halfway between
  two strikes takes the lower one, for calls and puts alike (one rule, stated once).
- For a call, ITMn is n strikes below ATM and OTMn n above; for a put, the reverse.
- An offset past the end of the chain is refused (AlertRejected on `offset`), naming how far the chain reaches; ask the
  broker for `strike_count_for(offset)` strikes on each side so that only a chain cut short by
  the exchange's own listing can fall short.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import AlertRejected, DependencyUnavailable, FieldProblem
from chalicelib.fno.contracts import Contract, FnoIndex, OptionSeries
from chalicelib.fno.symbols import MAX_OFFSET_DEPTH, Offset, OptionType, RelativeOption, strike_key

# Strikes each side of ATM asked of the option chain: the deepest offset plus one, so a spot
# that moved a strike since the chain's own ATM still leaves room.
STRIKE_COUNT_FOR_DEEPEST = MAX_OFFSET_DEPTH + 1


def strike_count_for(offset: Offset) -> int:
    return offset.depth + 1


class ChainLeg(BaseModel):
    # A broker response: fields INDstocks adds later are ignored, not refused.
    model_config = ConfigDict(extra="ignore", frozen=True)

    security_id: str = Field(min_length=1)
    trading_symbol: str = ""
    last_price: Decimal | None = None


class ChainStrike(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    ce: ChainLeg | None = None
    pe: ChainLeg | None = None


class OptionChain(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    underlying_ltp: Decimal = Field(gt=0, allow_inf_nan=False)
    expiry: str | None = None
    strikes: dict[str, ChainStrike]


@dataclass(frozen=True)
class ChosenLeg:
    security_id: str
    strike: Decimal
    trading_symbol: str
    option_type: OptionType
    offset: Offset
    atm_strike: Decimal
    spot: Decimal


def read_chain(data: Mapping[str, Any]) -> OptionChain:
    """The option chain's `data` (or the whole response with `data`); DependencyUnavailable if unusable."""
    body = data.get("data", data) if isinstance(data, Mapping) else data
    try:
        return OptionChain.model_validate(body)
    except ValidationError as invalid:
        raise DependencyUnavailable("the INDstocks option chain is unusable; the order was not sent",
                                    cause=f"{invalid.error_count()} schema problems") from None


def _ladder(chain: OptionChain, option_type: OptionType) -> list[tuple[Decimal, ChainLeg]]:
    ladder = []
    for text, legs in chain.strikes.items():
        leg = legs.ce if option_type is OptionType.CE else legs.pe
        try:
            strike = Decimal(text)
        except InvalidOperation:
            continue
        if leg is not None and strike.is_finite() and strike > 0:
            ladder.append((strike, leg))
    return sorted(ladder, key=lambda item: item[0])


def atm_position(strikes: list[Decimal], spot: Decimal) -> int:
    """Index of the strike nearest `spot` in ascending `strikes`; a tie takes the lower."""
    return min(range(len(strikes)), key=lambda at: (abs(strikes[at] - spot), strikes[at]))


def choose_leg(chain: OptionChain | Mapping[str, Any], option_type: OptionType, offset: Offset,
               underlying: str = "the underlying") -> ChosenLeg:
    """The leg `offset` strikes from ATM, or AlertRejected naming how far the chain reaches."""
    parsed = chain if isinstance(chain, OptionChain) else read_chain(chain)
    ladder = _ladder(parsed, option_type)
    if not ladder:
        raise DependencyUnavailable(f"the option chain of {underlying} lists no {option_type.value} strikes; "
                                    "the order was not sent")
    strikes = [strike for strike, _ in ladder]
    atm = atm_position(strikes, parsed.underlying_ltp)
    target = atm + offset.steps_up(option_type)
    if not 0 <= target < len(ladder):
        raise AlertRejected(detail=[FieldProblem("offset", _reach(offset, option_type, atm, strikes))])
    strike, leg = ladder[target]
    return ChosenLeg(leg.security_id, strike, leg.trading_symbol, option_type, offset, strikes[atm],
                     parsed.underlying_ltp)


def _reach(offset: Offset, option_type: OptionType, atm: int, strikes: list[Decimal]) -> str:
    above, below = len(strikes) - 1 - atm, atm
    up_word, down_word = ("OTM", "ITM") if option_type is OptionType.CE else ("ITM", "OTM")
    reach = [f"{word}{count}" for word, count in ((up_word, above), (down_word, below)) if count]
    return (f"{offset} is beyond the option chain: ATM is {strike_key(strikes[atm])} and the chain lists "
            f"{above} {option_type.value} strikes above it and {below} below"
            + (f" (up to {' and '.join(reach)})" if reach else " (only ATM)"))


def resolve_relative(index: FnoIndex, query: RelativeOption, series: OptionSeries,
                     chain: OptionChain | Mapping[str, Any]) -> tuple[Contract, ChosenLeg]:
    """The contract a relative option picks: the leg from the chain, checked against the master
    (lot size and tick come from there). `series` is `index.option_series(...)`, the expiry the
    chain was fetched for. A leg the master does not list, or lists under another security id,
    is refused (DependencyUnavailable, not the trader's fault): the chain and the master disagree,
    and guessing would trade the wrong contract."""
    leg = choose_leg(chain, query.option_type, query.offset, series.underlying)
    contract = index.option_contract(series, query.option_type, leg.strike)
    if contract is None or contract.security_id != leg.security_id:
        raise DependencyUnavailable(
            f"the option chain's {series.underlying} {strike_key(leg.strike)} {query.option_type.value} of "
            f"{series.expiry.isoformat()} does not match the instrument master; the order was not sent")
    return contract, leg
