"""Futures and options, the pure part: symbols traders send, the F&O master's contracts, lots,
freeze limits and ticks, and strikes picked from an option chain. Value types in, value types or
AlertRejected out; time comes in as `now_epoch`; no AWS, no HTTP.

    reading = parse_symbol("NSE:NIFTY1!")             # or parse_relative_option({...})
    contract = FnoIndex.from_csv(master).resolve(reading, now_epoch)
    units = order_units(contract.lot_units, lots=2)
    children = split_for_freeze(units, contract.lot_units, freeze_limits().for_underlying("NIFTY"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.fno.contracts import (
        CHUNK_MAX_BYTES,
        Contract,
        ExpiryFlag,
        FnoIndex,
        OptionSeries,
        expiry_ends_at,
        join_chunks,
        parse_expiry_date,
        split_chunks,
        underlying_of,
    )
    from chalicelib.fno.lots import (
        DEFAULT_FREEZE_UNITS,
        MAX_CHILD_ORDERS,
        FreezeLimits,
        RoundedPrice,
        freeze_limits,
        marketable_limit,
        order_units,
        parse_freeze_overrides,
        plausible_fno_tick,
        round_limit,
        round_trigger,
        split_for_freeze,
    )
    from chalicelib.fno.relative import (
        ChosenLeg,
        OptionChain,
        choose_leg,
        read_chain,
        resolve_relative,
        strike_count_for,
    )
    from chalicelib.fno.symbols import (
        ContinuousFuture,
        ContractKind,
        ContractQuery,
        EquityTicker,
        ExactContract,
        Exchange,
        ExchangeSaid,
        ExpiryRule,
        MonthFuture,
        Offset,
        OptionType,
        RelativeOption,
        SymbolReading,
        normalise_exchange,
        parse_contract_symbol,
        parse_relative_option,
        parse_symbol,
    )
    from chalicelib.fno.underlyings import IndexUnderlyings, option_chain_params

# The public face is imported on first use: a cash alert reads its symbol with fno.symbols alone,
# and the contracts and option-chain modules stay out of a cold start that never needs them.
_HOME = {
    "CHUNK_MAX_BYTES": "contracts",
    "Contract": "contracts",
    "ExpiryFlag": "contracts",
    "FnoIndex": "contracts",
    "OptionSeries": "contracts",
    "expiry_ends_at": "contracts",
    "join_chunks": "contracts",
    "parse_expiry_date": "contracts",
    "split_chunks": "contracts",
    "underlying_of": "contracts",
    "DEFAULT_FREEZE_UNITS": "lots",
    "MAX_CHILD_ORDERS": "lots",
    "FreezeLimits": "lots",
    "RoundedPrice": "lots",
    "freeze_limits": "lots",
    "marketable_limit": "lots",
    "order_units": "lots",
    "parse_freeze_overrides": "lots",
    "plausible_fno_tick": "lots",
    "round_limit": "lots",
    "round_trigger": "lots",
    "split_for_freeze": "lots",
    "ChosenLeg": "relative",
    "OptionChain": "relative",
    "choose_leg": "relative",
    "read_chain": "relative",
    "resolve_relative": "relative",
    "strike_count_for": "relative",
    "ContinuousFuture": "symbols",
    "ContractKind": "symbols",
    "ContractQuery": "symbols",
    "EquityTicker": "symbols",
    "ExactContract": "symbols",
    "Exchange": "symbols",
    "ExchangeSaid": "symbols",
    "ExpiryRule": "symbols",
    "MonthFuture": "symbols",
    "Offset": "symbols",
    "OptionType": "symbols",
    "RelativeOption": "symbols",
    "SymbolReading": "symbols",
    "normalise_exchange": "symbols",
    "parse_contract_symbol": "symbols",
    "parse_relative_option": "symbols",
    "parse_symbol": "symbols",
    "IndexUnderlyings": "underlyings",
    "option_chain_params": "underlyings",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = [
    "CHUNK_MAX_BYTES", "DEFAULT_FREEZE_UNITS", "MAX_CHILD_ORDERS",
    "ChosenLeg", "ContinuousFuture", "Contract", "ContractKind", "ContractQuery", "EquityTicker", "ExactContract",
    "Exchange", "ExchangeSaid", "ExpiryFlag", "ExpiryRule", "FnoIndex", "FreezeLimits", "IndexUnderlyings",
    "MonthFuture", "Offset",
    "OptionChain", "OptionSeries", "OptionType", "RelativeOption", "RoundedPrice", "SymbolReading",
    "choose_leg", "expiry_ends_at", "freeze_limits", "join_chunks", "marketable_limit", "normalise_exchange",
    "option_chain_params", "order_units", "parse_contract_symbol", "parse_expiry_date", "parse_freeze_overrides", "parse_relative_option",
    "parse_symbol", "plausible_fno_tick", "read_chain", "resolve_relative", "round_limit", "round_trigger",
    "split_chunks", "split_for_freeze", "strike_count_for", "underlying_of",
]
