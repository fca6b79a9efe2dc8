"""Paper trading: everything runs except broker writes.

`PaperBroker` has the broker client's surface: market data comes from INDstocks (read-only),
order writes and the account's reads (order book, positions, funds) from a paper book in the
state table (`PaperStore`), filled by the rules of `exchange`. `paper_broker` builds one for an
account; the relay built with it is a paper relay (services._RelayParts.relay).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from chalicelib.broker import BrokerClient
from chalicelib.paper.broker import PaperBroker, PaperStore
from chalicelib.paper.exchange import ORDER_PREFIX

PAPER = "paper"
LIVE = "live"


def paper_broker(live: BrokerClient, dynamodb: Callable[[], Any], state_table: str, capital: Decimal,
                 account: str = "default") -> PaperBroker:
    """The paper broker of one account of a stage: its book is `paper-book#<account>`."""
    return PaperBroker(live, PaperStore(dynamodb, state_table, account), capital)


__all__ = ["LIVE", "ORDER_PREFIX", "PAPER", "PaperBroker", "PaperStore", "paper_broker"]
