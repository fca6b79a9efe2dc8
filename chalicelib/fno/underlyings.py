"""Underlyings for option-chain requests (pure: no I/O).

`GET /market/option-chain` wants the underlying's own `SECURITY_ID` (`underlying-scrip`), not a
contract's: an index's from the index master (`GET /market/instruments?source=index`, three
columns `EXCH,SEGMENT,SECURITY_ID` where SEGMENT holds the index name: `NSE,NIFTY 50,40000001`),
a stock's from its cash row in the equity master. The index names differ from the derivative
underlyings; OpenAlgo's map is used, compared case-insensitively and ignoring spaces.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.fno.contracts import OptionSeries
from chalicelib.fno.relative import strike_count_for
from chalicelib.fno.symbols import Exchange, Offset

# Index master name → derivative underlying (OpenAlgo's map, plus the names the exchanges use).
INDEX_NAMES = {
    "NIFTY 50": "NIFTY", "NIFTY": "NIFTY",
    "BANK NIFTY": "BANKNIFTY", "NIFTY BANK": "BANKNIFTY", "BANKNIFTY": "BANKNIFTY",
    "NIFTY FINANCIAL": "FINNIFTY", "NIFTY FIN SERVICE": "FINNIFTY", "FINNIFTY": "FINNIFTY",
    "NIFTY MIDCAP SEL": "MIDCPNIFTY", "NIFTY MID SELECT": "MIDCPNIFTY", "MIDCPNIFTY": "MIDCPNIFTY",
    "NIFTY NEXT 50": "NIFTYNXT50", "NIFTYNXT50": "NIFTYNXT50",
    "SENSEX": "SENSEX", "BANKEX": "BANKEX", "SENSEX 50": "SENSEX50", "SENSEX50": "SENSEX50",
}
_KEYS = {re.sub(r"\s+", "", name): underlying for name, underlying in INDEX_NAMES.items()}


@dataclass(frozen=True)
class IndexUnderlyings:
    """(exchange, derivative underlying) → the index's SECURITY_ID."""

    ids: dict[tuple[Exchange, str], str]

    @classmethod
    def from_csv(cls, text: str) -> IndexUnderlyings:
        ids: dict[tuple[Exchange, str], str] = {}
        for row in csv.reader(io.StringIO(text)):
            if len(row) < 3:
                continue
            exchange_text, name, security_id = (cell.strip() for cell in row[:3])
            underlying = _KEYS.get(re.sub(r"\s+", "", name.upper()))
            if underlying and exchange_text.upper() in Exchange.__members__ and security_id:
                ids.setdefault((Exchange(exchange_text.upper()), underlying), security_id)
        return cls(ids)

    def security_id(self, exchange: Exchange, underlying: str) -> str | None:
        return self.ids.get((exchange, underlying))


def option_chain_params(series: OptionSeries, underlying_scrip: str, offset: Offset, *,
                        is_index: bool) -> dict[str, Any]:
    """Query parameters of `GET /market/option-chain` for a relative option of `series`."""
    return {"exchange": series.exchange.value, "segment": "INDEX" if is_index else "EQUITY",
            "underlying-scrip": underlying_scrip, "expiry": series.expiry.isoformat(),
            "strike_count": strike_count_for(offset)}
