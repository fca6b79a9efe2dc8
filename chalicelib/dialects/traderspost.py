"""TradersPost's signal body (its webhook reference): `ticker`, `action`, `sentiment`,
`quantity`/`quantityType`, `orderType` with `limitPrice`/`stopPrice`, `signalPrice`,
`takeProfit`/`stopLoss` objects, `timeInForce`, `time`, `extras`; the relay secret in `secret`.

`sentiment` is the position after the trade: `flat` makes a buy or a sell the close of the whole
position (action EXIT); bullish/long and bearish/short leave the order as it is.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.alerts import MAX_PRICE, MAX_QUANTITY, ParsedBody, Price, _price, _refuse_placeholder
from chalicelib.dialects.base import Format, Reading, model_problems, problem, validate_as

# Fields no other dialect has: one of them makes a /webhook body TradersPost's.
MARKERS = frozenset({"ticker", "sentiment", "orderType", "limitPrice", "stopPrice", "signalPrice", "takeProfit",
                     "stopLoss", "quantityType", "timeInForce", "extras"})
TRAILING = ("INDstocks does not run trailing stops (the smart order's is_tsl is not live): send a fixed stop, and "
            "a new alert to move it")


def _lower_word(value: Any) -> Any:
    value = _refuse_placeholder(value)
    return value.strip().lower() if isinstance(value, str) else value


class Action(str, Enum):
    BUY = "buy"
    SELL = "sell"
    EXIT = "exit"
    CANCEL = "cancel"
    ADD = "add"


class Sentiment(str, Enum):
    BULLISH = "bullish"
    LONG = "long"
    BEARISH = "bearish"
    SHORT = "short"
    FLAT = "flat"

    @property
    def side(self) -> str | None:
        return {"bullish": "BUY", "long": "BUY", "bearish": "SELL", "short": "SELL"}.get(self.value)


class QuantityType(str, Enum):
    FIXED_QUANTITY = "fixed_quantity"
    DOLLAR_AMOUNT = "dollar_amount"  # rupees here: the relay's capital
    RISK_DOLLAR_AMOUNT = "risk_dollar_amount"  # rupees at risk to the stop: risk
    PERCENT_OF_EQUITY = "percent_of_equity"  # a percent of tradable cash: percent_of_funds
    PERCENT_OF_POSITION = "percent_of_position"


_SIZING = {QuantityType.FIXED_QUANTITY: "fixed", QuantityType.DOLLAR_AMOUNT: "capital",
           QuantityType.RISK_DOLLAR_AMOUNT: "risk", QuantityType.PERCENT_OF_EQUITY: "percent_of_funds"}


class OrderType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


_ORDER_TYPES = {OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT", OrderType.STOP: "SL-M", OrderType.STOP_LIMIT: "SL"}


class StopType(str, Enum):
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(str, Enum):
    DAY = "day"
    GTC = "gtc"
    OPG = "opg"
    CLS = "cls"
    IOC = "ioc"
    FOK = "fok"


Percent = Annotated[Decimal, BeforeValidator(_price), Field(gt=0, le=100, allow_inf_nan=False)]
Amount = Annotated[Decimal, BeforeValidator(_price), Field(gt=0, le=MAX_PRICE, allow_inf_nan=False)]
Lower = BeforeValidator(_lower_word)


class _Leg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    percent: Percent | None = None
    amount: Amount | None = None

    def level(self, name: str, price: Decimal | None) -> str:
        given = [value for value in (price, self.percent, self.amount) if value is not None]
        if len(given) != 1:
            raise PydanticCustomError("level", f"give exactly one of {name}, percent and amount")
        if self.amount is not None:
            raise PydanticCustomError("level", "an amount away from the entry is not a level the relay takes: send percent, or "
                             f"{name} (a price)")
        return f"{self.percent}%" if self.percent is not None else str(price)


class TakeProfit(_Leg):
    limitPrice: Price | None = None  # noqa: N815 - TradersPost's name

    @model_validator(mode="after")
    def _one_level(self) -> TakeProfit:
        self.level("limitPrice", self.limitPrice)
        return self


class StopLoss(_Leg):
    type: Annotated[StopType, Lower] = StopType.STOP
    stopPrice: Price | None = None  # noqa: N815
    limitPrice: Price | None = None  # noqa: N815
    trailPrice: Amount | None = None  # noqa: N815
    trailPercent: Percent | None = None  # noqa: N815

    @model_validator(mode="after")
    def _one_level(self) -> StopLoss:
        if self.type is StopType.TRAILING_STOP or self.trailPrice is not None or self.trailPercent is not None:
            raise PydanticCustomError("trailing_stop", TRAILING)
        if self.type is StopType.STOP_LIMIT or self.limitPrice is not None:
            raise PydanticCustomError("stop_limit", "INDstocks' bracket stop leg is priced by the relay (a stop-limit at SL_M_PROTECTION_PCT "
                             "beyond the trigger): send type stop with stopPrice or percent")
        self.level("stopPrice", self.stopPrice)
        return self


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: SecretStr | None = Field(default=None, exclude=True, repr=False)
    ticker: Annotated[str, Field(min_length=1, max_length=40)]
    action: Annotated[Action, Lower]
    sentiment: Annotated[Sentiment | None, Lower] = None
    quantity: Annotated[Decimal, BeforeValidator(_price),
                        Field(gt=0, le=MAX_PRICE * MAX_QUANTITY, allow_inf_nan=False)] | None = None
    quantityType: Annotated[QuantityType, Lower] = QuantityType.FIXED_QUANTITY  # noqa: N815
    orderType: Annotated[OrderType, Lower] = OrderType.MARKET  # noqa: N815
    limitPrice: Price | None = None  # noqa: N815
    stopPrice: Price | None = None  # noqa: N815
    signalPrice: Price | None = None  # noqa: N815
    price: Price | None = None  # TradingView templates' older name of signalPrice
    takeProfit: TakeProfit | None = None  # noqa: N815
    stopLoss: StopLoss | None = None  # noqa: N815
    timeInForce: Annotated[TimeInForce, Lower] = TimeInForce.DAY  # noqa: N815
    time: Annotated[str | None, Field(max_length=40)] = None
    extras: Annotated[dict[str, Any] | None, Field(max_length=20)] = None  # carried by TradersPost, unused here


def reading(parsed: ParsedBody) -> Reading:
    fields = parsed.fields or {}
    secret = fields.get("secret")

    def build() -> Any:
        try:
            signal = Signal.model_validate(fields)
        except ValidationError as invalid:
            raise model_problems(invalid) from None
        mapped, names = alert_fields(signal)
        return validate_as(mapped, names)

    return Reading(Format.TRADERSPOST, secret if isinstance(secret, str) else None, parsed.problem, build)


def alert_fields(signal: Signal) -> tuple[dict[str, Any], dict[str, str]]:
    """The alert model's fields for a signal, and the signal's name of each (for refusals)."""
    names = {"symbol": "ticker", "exchange": "ticker", "quantity": "quantity", "amount": "quantity",
             "quantity_type": "quantityType", "order_type": "orderType", "trigger_price": "stopPrice",
             "target": "takeProfit", "stop_loss": "stopLoss", "validity": "timeInForce", "position_size": "sentiment"}
    fields: dict[str, Any] = {"symbol": signal.ticker, "action": _action(signal)}
    if signal.time is not None:
        fields["time"] = signal.time
    if signal.orderType is OrderType.TRAILING_STOP:
        raise problem("orderType", TRAILING)
    fields["order_type"] = _ORDER_TYPES[signal.orderType]
    if signal.signalPrice is not None and signal.price is not None:
        raise problem("price", "send signalPrice or price (its older name), not both")
    signalled = signal.signalPrice if signal.signalPrice is not None else signal.price
    if signal.orderType in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        names["price"] = "limitPrice"
        fields["price"] = signal.limitPrice
    else:
        if signal.limitPrice is not None:
            raise problem("limitPrice", f"applies to limit and stop_limit orders, not {signal.orderType.value}")
        names["price"] = "signalPrice" if signal.signalPrice is not None else "price"
        fields["price"] = signalled  # a market order is valued at it (MAX_ORDER_VALUE), never priced
    if signal.stopPrice is not None or signal.orderType in (OrderType.STOP, OrderType.STOP_LIMIT):
        fields["trigger_price"] = signal.stopPrice
    if signal.timeInForce not in (TimeInForce.DAY, TimeInForce.IOC):
        raise problem("timeInForce", "INDstocks orders are day or ioc")
    fields["validity"] = signal.timeInForce.value.upper()
    if signal.takeProfit is not None:
        fields["target"] = signal.takeProfit.level("limitPrice", signal.takeProfit.limitPrice)
    if signal.stopLoss is not None:
        fields["stop_loss"] = signal.stopLoss.level("stopPrice", signal.stopLoss.stopPrice)
    fields.update(_size(signal, fields["action"]))
    return {name: value for name, value in fields.items() if value is not None}, names


def _action(signal: Signal) -> str:
    if signal.action is Action.EXIT:
        if signal.sentiment is not None:  # TradersPost refuses it too: an exit has no sentiment
            raise problem("sentiment", "is not allowed with action exit (an exit always leaves the position flat)")
        return "EXIT"
    if signal.action is Action.CANCEL:
        return "CANCEL"
    if signal.action is Action.ADD:
        side = signal.sentiment.side if signal.sentiment is not None else None
        if side is None:
            raise problem("sentiment", "action add needs bullish/long (add to a long) or bearish/short (to a short)")
        return side
    if signal.sentiment is Sentiment.FLAT:
        return "EXIT"  # a buy or a sell that leaves the position flat: close it, whatever its size
    return signal.action.value.upper()


def _size(signal: Signal, action: str) -> dict[str, Any]:
    if action in ("EXIT", "CANCEL"):
        if signal.quantityType is not QuantityType.FIXED_QUANTITY:
            raise problem("quantityType", f"action {signal.action.value}"
                                          f"{' with sentiment flat' if signal.sentiment else ''} closes or cancels "
                                          "everything of the ticker: leave it out")
        # sentiment flat closes the whole position: TradingView's contracts say no more than that
        return {} if signal.sentiment is Sentiment.FLAT else {"quantity": _units(signal.quantity)}
    if signal.quantityType is QuantityType.PERCENT_OF_POSITION:
        raise problem("quantityType", "percent_of_position is not supported: the relay's targets are whole positions; "
                                      "send fixed_quantity, or sentiment flat (or action exit) to close the position")
    mode = _SIZING[signal.quantityType]
    if mode == "fixed":
        return {"quantity": _units(signal.quantity)}
    if signal.quantity is None:
        raise problem("quantity", f"is required with quantityType {signal.quantityType.value}")
    return {"quantity_type": mode, "amount": signal.quantity}


def _units(quantity: Decimal | None) -> str | None:
    """A share count as text: the alert model decides whether it is whole."""
    return None if quantity is None else str(quantity)
