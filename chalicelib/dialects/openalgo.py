"""OpenAlgo's order API: `/api/v1/placeorder`, `/placesmartorder`, `/optionsorder`,
`/closeposition`, `/cancelallorder` bodies as OpenAlgo documents them, mapped onto the alert
model, and the relay's answer put back into OpenAlgo's response shape.

`apikey` is the relay's webhook secret. Values may be strings or numbers, as OpenAlgo's clients
send them; a `price` or `trigger_price` of 0 means none (OpenAlgo's default).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError
from pydantic_core import PydanticCustomError

from chalicelib.alerts import (
    MAX_PRICE,
    OrderType,
    ParsedBody,
    PositionSize,
    Quantity,
    Side,
    Venue,
    _price,
    _upper_word,
    _venue_word,
    _whole_quantity,
)
from chalicelib.dialects.base import Format, Reading, model_problems, validate_as
from chalicelib.errors import RelayError
from chalicelib.fno.symbols import OptionType

ENDPOINTS = ("placeorder", "placesmartorder", "optionsorder", "closeposition", "cancelallorder")
# Fields no other dialect has: one of them makes a /webhook body OpenAlgo's.
MARKERS = frozenset({"apikey", "pricetype", "disclosed_quantity", "splitsize"})
# The alert model's field → OpenAlgo's, for refusals.
NAMES = {"order_type": "pricetype", "expiry": "expiry_date", "lots": "quantity"}


# OpenAlgo's exchanges (`Venue`: MCX and the currency segments are refused), its actions (`Side`),
# its price types (`OrderType`: MARKET, LIMIT, SL, SL-M) are the alert model's; its products are its own.
class Product(str, Enum):
    MIS = "MIS"
    CNC = "CNC"
    NRML = "NRML"


Word = Annotated[str, BeforeValidator(_upper_word), Field(min_length=1, max_length=40)]
# OpenAlgo sends "0" for a price it does not mean.
OptionalPrice = Annotated[Decimal, BeforeValidator(_price), Field(ge=0, le=MAX_PRICE, allow_inf_nan=False)]
Count = Annotated[int, BeforeValidator(_whole_quantity), Field(ge=0, le=1_000_000)]


def _zero_only(why: str) -> Callable[[int], int]:
    """A field OpenAlgo sends as 0 by default, for something INDstocks or the relay does otherwise."""
    def check(value: int) -> int:
        if value:
            raise PydanticCustomError("not_supported", why)
        return value
    return check


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    apikey: SecretStr = Field(exclude=True, repr=False)
    strategy: Annotated[str, Field(min_length=1, max_length=40)]


class _Order(_Request):
    exchange: Annotated[Venue, BeforeValidator(_venue_word)]
    action: Annotated[Side, BeforeValidator(_upper_word)]
    product: Annotated[Product, BeforeValidator(_upper_word)] = Product.MIS
    pricetype: Annotated[OrderType, BeforeValidator(_upper_word)] = OrderType.MARKET
    quantity: Quantity
    price: OptionalPrice = Decimal(0)
    trigger_price: OptionalPrice = Decimal(0)
    disclosed_quantity: Annotated[Count, AfterValidator(_zero_only(
        "INDstocks orders have no disclosed quantity: send 0 or leave it out"))] = 0

    def order_fields(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "exchange": self.exchange.value, "action": self.action.value,
                "product": self.product.value, "order_type": self.pricetype.value,
                **({"price": self.price} if self.price else {}),
                **({"trigger_price": self.trigger_price} if self.trigger_price else {})}


class PlaceOrder(_Order):
    symbol: Word

    def fields(self) -> dict[str, Any]:
        return {**self.order_fields(), "symbol": self.symbol, "quantity": self.quantity}


class PlaceSmartOrder(PlaceOrder):
    # OpenAlgo's scripts send quantity 0 with a target; the target decides, quantity is unused here
    quantity: Count  # type: ignore[assignment]
    position_size: PositionSize

    def fields(self) -> dict[str, Any]:
        # The target decides: the relay sends the difference to the current position (`quantity`
        # is OpenAlgo's order size and is not needed for it).
        return {**self.order_fields(), "symbol": self.symbol, "position_size": self.position_size}


class OptionsOrder(_Order):
    underlying: Word
    expiry_date: Word | None = None
    offset: Word
    option_type: Annotated[OptionType, BeforeValidator(_upper_word)]
    splitsize: Annotated[Count, AfterValidator(_zero_only(
        "the relay splits an order at its freeze limit by itself: send 0 or leave it out"))] = 0

    def fields(self) -> dict[str, Any]:
        return {**self.order_fields(), "underlying": self.underlying, "offset": self.offset,
                "option_type": self.option_type.value, "quantity": self.quantity,
                **({"expiry_date": self.expiry_date} if self.expiry_date else {})}


class ClosePosition(_Request):
    def fields(self) -> dict[str, Any]:
        # OpenAlgo closes every open position: here, every instrument the relay traded today.
        return {"action": "EXIT_ALL"}


class CancelAllOrder(_Request):
    def fields(self) -> dict[str, Any]:
        return {"action": "CANCEL_ALL"}


MODELS: dict[str, type[_Request]] = {"placeorder": PlaceOrder, "placesmartorder": PlaceSmartOrder,
                                     "optionsorder": OptionsOrder, "closeposition": ClosePosition,
                                     "cancelallorder": CancelAllOrder}


def endpoint_for(fields: dict[str, Any]) -> str:
    """Which OpenAlgo call a body posted to /webhook is, by its fields."""
    if {"underlying", "offset", "option_type", "expiry_date"} & fields.keys():
        return "optionsorder"
    return "placesmartorder" if "position_size" in fields else "placeorder"


def reading(parsed: ParsedBody, endpoint: str | None = None) -> Reading:
    fields = parsed.fields or {}
    apikey = fields.get("apikey")

    def build() -> Any:
        called = endpoint or endpoint_for(fields)
        try:
            request = MODELS[called].model_validate(fields)
        except ValidationError as invalid:
            raise model_problems(invalid) from None
        return validate_as(request.fields(), NAMES)  # type: ignore[attr-defined]

    return Reading(Format.OPENALGO, apikey if isinstance(apikey, str) else None, parsed.problem, build)


# --- the answer in OpenAlgo's shape -----------------------------------------------------------


def respond(status_code: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The relay's answer as OpenAlgo's `{"status": "success", "orderid": …}` or
    `{"status": "error", "message": …}`; the HTTP status stays the relay's. What the relay said
    in full rides along under `relay`."""
    said = body.get("status")
    ok = status_code < 300
    answer: dict[str, Any]
    if said == "placed":
        answer = {"status": "success", "orderid": body.get("order_id"), **_contract(body.get("contract"))}
    elif said == "duplicate":
        answer = {"status": "success", "orderid": body.get("order_id"),
                  "message": "already received: a duplicate of an earlier request, nothing was sent again"}
    elif said == "queued":
        answer = {"status": "success", "orderid": None,
                  "message": "queued: the relay sends it within seconds in its pacing slot; its order id is in "
                             f"the journal (remarks {body.get('remarks')})"}
    elif said == "noop":
        answer = {"status": "success", "message": body.get("message")}
    elif said == "split":
        ids = [child.get("order_id") for child in body.get("children", ())]
        answer = {"status": "success" if ok else "error", "orderid": ids[0] if ids else None, "orderids": ids,
                  "message": "; ".join(f"child {c.get('child')}: {c.get('status')}" for c in body.get("children", ()))}
    elif said == "cancelled":
        orders = body.get("orders", ())
        done = [o["order_id"] for o in orders if o.get("status") == "cancelled"]
        failed = [o["order_id"] for o in orders if o.get("status") != "cancelled"]
        answer = {"status": "success" if ok else "error", "canceled_orders": done, "failed_cancellations": failed,
                  "message": f"Canceled {len(done)} orders. Failed to cancel {len(failed)} orders."}
    elif said == "exited":
        closes = body.get("closes", ())
        failed = [c for c in closes if c.get("status") != "placed"]
        answer = {"status": "success" if ok else "error",
                  "message": "All Open Positions SquaredOff" if not failed else
                  f"{len(closes) - len(failed)} of {len(closes)} positions closed; "
                  + "; ".join(f"{c.get('security_id')}: {c.get('status')}" for c in failed)}
    elif said == "unknown":
        answer = {"status": "error",
                  "message": f"{body.get('message')}. Do not resend: the order may exist, and a copy of this "
                             "request is a duplicate while its outcome is open"}
    else:  # rejected, not_sent, token_invalid
        answer = {"status": "error", "message": body.get("message") or said}
    return status_code, {**answer, "relay": body}


def _contract(contract: dict[str, Any] | None) -> dict[str, Any]:
    """What OpenAlgo's options answer says of the contract: its symbol, exchange and, for a
    relative option, the offset and the spot it was picked at."""
    if not contract:
        return {}
    said = {"symbol": contract.get("symbol"), "exchange": {"NSE": "NFO", "BSE": "BFO"}.get(contract.get("exchange", "")),
            "offset": contract.get("offset"), "option_type": contract.get("option_type"),
            "underlying_ltp": float(contract["spot"]) if contract.get("spot") else None}
    return {name: value for name, value in said.items() if value is not None}


def error_answer(error: RelayError) -> tuple[int, dict[str, Any]]:
    """A refusal in OpenAlgo's shape: the message names every field at fault (never its value)."""
    fields = "; ".join(f"{p.field}: {p.message}" for p in error.detail)
    return error.status_code, {**error.body(), "status": "error",
                               "message": f"{error.public_message}: {fields}" if fields else error.public_message}
