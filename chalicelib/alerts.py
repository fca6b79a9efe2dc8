"""TradingView alerts: body parsing and the strict alert model.

TradingView posts the alert message as the body: `application/json` when the message is valid
JSON, `text/plain` otherwise. We never trust the header: the body is parsed as JSON when it
looks like JSON, else as `key=value` pairs (`secret=… symbol=NSE:SBIN action=buy quantity=5`).

Every rule about a field lives in the model below, so a bad alert is refused with the names of
the fields at fault and never reaches the broker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from chalicelib.errors import AlertRejected, BodyTooLarge, FieldProblem
from chalicelib.fno.symbols import (  # Exchange: the one NSE/BSE enum, cash and derivatives alike
    MAX_SYMBOL_LENGTH,
    EquityTicker,
    Exchange,
    OptionType,
    RelativeOption,
    SymbolReading,
    checked_expiry,
    checked_offset,
    parse_relative_option,
    parse_symbol,
)

MAX_BODY_BYTES = 16 * 1024  # an alert is a few hundred bytes: anything near this is not one
MAX_QUANTITY = 1_000_000
MAX_PRICE = Decimal("10000000")
_TEXT_PAIR = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*)=(.*)$", re.S)
# A cash ticker, or a derivative form (`NIFTY1!`, `NIFTY260106C24000`, `VEDL24APR25292.5CE`):
# chalicelib/fno/symbols.py reads which one it is once the model is built.
_SYMBOL = re.compile(rf"^(?:([A-Z_]+):)?([A-Z0-9][A-Z0-9&._\-]{{0,{MAX_SYMBOL_LENGTH - 2}}}!?)$")
MAX_LOTS = 10_000
_ALERT_ID = re.compile(r"^[A-Za-z0-9 _.:/#@+=\-]{1,60}$")
_STRATEGY = re.compile(r"^[A-Za-z0-9 _.:/#@+=\-]{1,40}$")


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"


class Action(str, Enum):
    """What the alert asks: an order (BUY, SELL), to close the instrument's position (EXIT) or to
    cancel its open orders (CANCEL).
    With `position_size`, BUY and SELL only name the strategy's move: the target decides."""

    BUY = "BUY"
    SELL = "SELL"
    EXIT = "EXIT"
    CANCEL = "CANCEL"  # cancel the instrument's open orders
    EXIT_ALL = "EXIT_ALL"  # EXIT every instrument the relay traded today (of the alert's strategy)
    CANCEL_ALL = "CANCEL_ALL"  # CANCEL the open orders of every such instrument

    @property
    def opens_nothing(self) -> bool:
        """An exit or a cancel: no quantity, size or bracket of its own."""
        return self in (Action.EXIT, Action.CANCEL, Action.EXIT_ALL, Action.CANCEL_ALL)

    @property
    def every_instrument(self) -> bool:
        return self in (Action.EXIT_ALL, Action.CANCEL_ALL)

    @property
    def side(self) -> Side | None:
        return Side(self.value) if self in (Action.BUY, Action.SELL) else None


class Venue(str, Enum):
    """What the alert's `exchange` (or the symbol's prefix) says. NFO/BFO name derivatives only;
    NSE_INDEX/BSE_INDEX (OpenAlgo) the exchange of a relative option's index. TradingView's
    delayed-feed suffix `_DL` is dropped. Orders always carry NSE or BSE (`exchange`)."""

    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    NSE_INDEX = "NSE_INDEX"
    BSE_INDEX = "BSE_INDEX"

    @property
    def exchange(self) -> Exchange:
        return Exchange.BSE if self in (Venue.BSE, Venue.BFO, Venue.BSE_INDEX) else Exchange.NSE


class OrderType(str, Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    SL_M = "SL-M"

    @property
    def is_stop(self) -> bool:
        return self in (OrderType.SL, OrderType.SL_M)


class Product(str, Enum):
    CNC = "CNC"
    INTRADAY = "INTRADAY"
    MARGIN = "MARGIN"


class PositionScope(str, Enum):
    """Whose position a target or an exit is about: the account's net position in the
    instrument (OpenAlgo's meaning), or the one the relay built for the alert's strategy."""

    ACCOUNT = "ACCOUNT"
    STRATEGY = "STRATEGY"


class Validity(str, Enum):
    DAY = "DAY"
    IOC = "IOC"


class Mode(str, Enum):
    """Where the alert's orders go: the broker, or the paper book (chalicelib/paper/)."""

    LIVE = "live"
    PAPER = "paper"


_PRODUCT_ALIASES = {"MIS": "INTRADAY", "NRML": "MARGIN"}
_NEEDS_PRICE = (OrderType.LIMIT, OrderType.SL)
_NEEDS_TRIGGER = (OrderType.SL, OrderType.SL_M)


def _problem(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _refuse_placeholder(value: Any) -> Any:
    if isinstance(value, str) and "{{" in value:
        raise _problem("placeholder", "contains an unexpanded TradingView placeholder")
    return value


def _upper_word(value: Any) -> Any:
    value = _refuse_placeholder(value)
    return value.strip().upper() if isinstance(value, str) else value


def _lower_word(value: Any) -> Any:
    value = _refuse_placeholder(value)
    return value.strip().lower() if isinstance(value, str) else value


def _venue_word(value: Any) -> Any:
    value = _upper_word(value)
    return value.removesuffix("_DL") if isinstance(value, str) else value


def _product(value: Any) -> Any:
    value = _upper_word(value)
    return _PRODUCT_ALIASES.get(value, value) if isinstance(value, str) else value


def _whole_quantity(value: Any) -> Any:
    """Accept 5, 5.0, "5" and "5.0" (TradingView's {{strategy.order.contracts}}); refuse 5.5."""
    value = _refuse_placeholder(value)
    if isinstance(value, bool):
        raise _problem("whole_number", "must be a whole number of shares, not a boolean")
    if isinstance(value, (int, float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise _problem("whole_number", "must be a whole number of shares") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise _problem("whole_number", "must be a whole number of shares")
        return int(number)
    raise _problem("whole_number", "must be a whole number of shares")


def _price(value: Any) -> Any:
    value = _refuse_placeholder(value)
    if isinstance(value, bool):
        raise _problem("price_type", "must be a number, not a boolean")
    if isinstance(value, str):
        return value.strip()
    return value


def _level_of(field: str) -> Callable[[Any], Any]:
    """A `stop_loss` or `target` level as chalicelib/strategy/levels.py reads it, kept as text."""
    def level(value: Any) -> Any:
        if value is None:
            return None
        from chalicelib.strategy.levels import parse_level  # imports this module: read on use

        try:
            return str(parse_level(value, field))
        except AlertRejected as refused:
            raise _problem("level", refused.detail[0].message) from None
    return level


def _account_names(value: Any) -> Any:
    """`accounts`: a list of names, or one string of names joined by `+` (text bodies, where commas
    separate pairs) or commas; "all" alone."""
    from chalicelib.accounts.model import EVERY_ACCOUNT, NAME_PATTERN

    value = _refuse_placeholder(value)
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in re.split(r"[+,]", value)]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(name, str) for name in value):
        raise _problem("accounts", 'must be ["all"] or a list of account names')
    names = tuple(name.strip().lower() for name in value)
    wrong = [name for name in names if name != EVERY_ACCOUNT and not re.match(NAME_PATTERN, name)]
    if wrong:
        raise _problem("accounts", f"{wrong[0][:30]!r} is not an account name (lower-case letters, digits, _ and -)")
    if EVERY_ACCOUNT in names and len(names) > 1:
        raise _problem("accounts", '"all" already names every account: send it alone')
    return names


def _no_trailing_stop(value: Any) -> Any:
    from chalicelib.strategy.brackets import TRAILING_STOP_REFUSAL

    raise _problem("trailing_stop", TRAILING_STOP_REFUSAL)


Quantity = Annotated[int, BeforeValidator(_whole_quantity), Field(ge=1, le=MAX_QUANTITY)]
# TradingView's {{strategy.position_size}}: signed (+ long, - short, 0 flat), in units.
PositionSize = Annotated[int, BeforeValidator(_whole_quantity), Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]
Lots = Annotated[int, BeforeValidator(_whole_quantity), Field(ge=1, le=MAX_LOTS)]
Word = Annotated[str, BeforeValidator(_upper_word)]
# Error kinds a later field raises on behalf of an earlier one (validate_alert names that field).
_ON_BEHALF = {"quantity_missing": ("quantity", "is required (or lots, for futures and options; or position_size, "
                                                "a target position)"),
              "symbol_missing": ("symbol", "is required (or, for a relative option: underlying, option_type, "
                                           "offset and expiry)")}
Price = Annotated[
    Decimal, BeforeValidator(_price), Field(gt=0, le=MAX_PRICE, allow_inf_nan=False)
]


class Alert(BaseModel):
    """One TradingView alert. Field order matters: later validators read earlier fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: SecretStr | None = Field(default=None, exclude=True, repr=False)
    symbol: Annotated[str | None, BeforeValidator(_upper_word)] = None
    exchange: Annotated[Venue | None, BeforeValidator(_venue_word)] = Field(
        default=None, validate_default=True
    )
    action: Annotated[Action, BeforeValidator(_upper_word)]
    # How the quantity is derived (chalicelib/strategy/sizing.py): `fixed` (quantity or lots as
    # given), or from `amount`: rupees to spend (`capital`), rupees at risk to the stop (`risk`),
    # a percent of tradable cash (`percent_of_funds`).
    quantity_type: Annotated[str, BeforeValidator(_refuse_placeholder)] = "fixed"
    amount: Annotated[Decimal, BeforeValidator(_price), Field(allow_inf_nan=False)] | None = Field(
        default=None, validate_default=True)
    # A target position instead of an order: the relay sends the difference to the current one.
    position_size: PositionSize | None = None
    quantity: Quantity | None = None
    # Futures and options: a number of lots instead of `quantity` (units).
    lots: Lots | None = Field(default=None, validate_default=True)
    order_type: Annotated[OrderType, BeforeValidator(_upper_word)] = OrderType.MARKET
    price: Price | None = Field(default=None, validate_default=True)
    trigger_price: Price | None = Field(default=None, validate_default=True)
    # A bracket (chalicelib/strategy/brackets.py): an absolute price or a percent of the entry
    # ("1.5%"), kept in the level's own spelling; the entry becomes one smart order with legs.
    stop_loss: Annotated[str | None, BeforeValidator(_level_of("stop_loss"))] = None
    target: Annotated[str | None, BeforeValidator(_level_of("target"))] = None
    trailing_stop: Annotated[Any, BeforeValidator(_no_trailing_stop)] = None
    product: Annotated[Product, BeforeValidator(_product)] = Product.INTRADAY
    validity: Annotated[Validity, BeforeValidator(_upper_word)] = Field(
        default=Validity.DAY, validate_default=True
    )
    # After-market order: INDstocks refuses an order outside market hours unless it carries
    # is_amo (validation AmoMustBeTrue). Only /order has the flag; smart (stop) orders do not.
    amo: Annotated[bool, BeforeValidator(_refuse_placeholder)] = False
    alert_id: Annotated[str | None, BeforeValidator(_refuse_placeholder)] = None
    time: datetime | None = None
    # A relative option (instead of `symbol`): the strike is picked from the live option chain.
    option_type: Annotated[OptionType | None, BeforeValidator(_upper_word)] = None
    offset: Word | None = None
    expiry: Annotated[str | None, BeforeValidator(_refuse_placeholder)] = Field(
        default=None, validation_alias=AliasChoices("expiry", "expiry_date"))
    underlying: Word | None = Field(default=None, validate_default=True)
    # The strategy the alert belongs to: the kill switch can pause it alone.
    strategy: Annotated[str | None, BeforeValidator(_refuse_placeholder)] = None
    position_scope: Annotated[PositionScope, BeforeValidator(_upper_word)] = PositionScope.ACCOUNT
    # The format the alert came in (chalicelib/dialects): recorded, never part of its identity.
    _format: str = PrivateAttr(default="native")
    # The stage's accounts to send to (chalicelib/accounts): ["all"] or names; unset: the first.
    accounts: Annotated[tuple[str, ...] | None, BeforeValidator(_account_names)] = None
    # `paper`: trade this alert on paper (chalicelib/paper/); unset: the stage's TRADING_MODE.
    mode: Annotated[Mode | None, BeforeValidator(_lower_word)] = None

    @field_validator("symbol")
    @classmethod
    def _symbol_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = _SYMBOL.match(value)
        if not match:
            raise _problem("symbol", "must be a ticker such as SBIN or NSE:SBIN, or a futures or options "
                                     "symbol such as NIFTY1! or NIFTY27JAN26FUT")
        prefix = match.group(1)
        if prefix is not None and prefix.removesuffix("_DL") not in ("NSE", "BSE", "NFO", "BFO"):
            raise _problem("symbol", f"exchange prefix {prefix!r} is not supported; use NSE, BSE, NFO or BFO")
        return value

    @field_validator("exchange")
    @classmethod
    def _exchange_matches_prefix(cls, value: Venue | None, info: ValidationInfo) -> Venue:
        symbol = info.data.get("symbol")
        prefix = Venue(symbol.split(":", 1)[0].removesuffix("_DL")) if symbol and ":" in symbol else None
        if value is None:
            return prefix or Venue.NSE
        if prefix and prefix.exchange is not value.exchange:
            raise _problem(
                "exchange", f"{value.value} contradicts the {prefix.value}: prefix of the symbol"
            )
        return value

    @field_validator("lots")
    @classmethod
    def _quantity_or_lots(cls, value: int | None, info: ValidationInfo) -> int | None:
        if "quantity" not in info.data:  # the quantity itself is wrong: said there
            return value
        if value is not None and info.data["quantity"] is not None:
            raise _problem("lots", "send either quantity (units) or lots, not both")
        if "position_size" not in info.data:  # the target itself is wrong: said there
            return value
        sized_elsewhere = ((info.data.get("action") is not None and info.data["action"].opens_nothing)
                           or info.data.get("position_size") is not None
                           or info.data.get("quantity_type", "fixed") != "fixed" or "quantity_type" not in info.data)
        if value is None and info.data["quantity"] is None and not sized_elsewhere:
            raise _problem("quantity_missing", "is required")
        return value

    @field_validator("quantity_type")
    @classmethod
    def _known_quantity_type(cls, value: str) -> str:
        from chalicelib.strategy.sizing import QuantityType  # imports this module: read on use

        try:
            return QuantityType.parse(value).value
        except AlertRejected as refused:
            raise _problem("quantity_type", refused.detail[0].message) from None

    @field_validator("amount")
    @classmethod
    def _amount_for_its_mode(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        mode = info.data.get("quantity_type")
        if mode is None:  # the mode itself is wrong: said there
            return value
        if mode == "fixed":
            if value is not None:
                raise _problem("not_applicable", "applies only with quantity_type capital, risk or percent_of_funds; "
                                                 "with fixed, send quantity (or lots)")
            return value
        if value is None:
            raise _problem("required", f"is required with quantity_type {mode} ("
                                       f"{'a percent of tradable cash' if mode == 'percent_of_funds' else 'rupees'})")
        if value <= 0:
            raise _problem("amount", "must be above zero")
        if mode == "percent_of_funds" and value > 100:
            raise _problem("amount", "is a percent of tradable cash with quantity_type percent_of_funds: at most 100")
        if value > MAX_PRICE * MAX_QUANTITY:
            raise _problem("amount", f"must be at most {MAX_PRICE * MAX_QUANTITY}")
        return value

    @field_validator("order_type")
    @classmethod
    def _stops_are_nse_only(cls, value: OrderType, info: ValidationInfo) -> OrderType:
        venue = info.data.get("exchange")
        if value.is_stop and venue is not None and venue.exchange is Exchange.BSE:
            raise _problem(
                "order_type",
                f"{value.value} orders are NSE-only at INDstocks (stop orders are smart orders); "
                "BSE supports MARKET and LIMIT",
            )
        return value

    @field_validator("price")
    @classmethod
    def _price_when_needed(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        order_type = info.data.get("order_type")
        if value is None and order_type in _NEEDS_PRICE:
            raise _problem("required", f"is required for {order_type.value} orders")
        return value

    @field_validator("trigger_price")
    @classmethod
    def _trigger_when_needed(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        order_type = info.data.get("order_type")
        if order_type is None:
            return value
        if value is None and order_type in _NEEDS_TRIGGER:
            raise _problem("required", f"is required for {order_type.value} orders")
        if value is not None and order_type not in _NEEDS_TRIGGER:
            raise _problem(
                "not_applicable",
                f"applies only to SL and SL-M orders, not {order_type.value}; "
                "use order_type SL or SL-M for a stop",
            )
        return value

    @field_validator("validity")
    @classmethod
    def _stops_are_day_only(cls, value: Validity, info: ValidationInfo) -> Validity:
        order_type = info.data.get("order_type")
        if order_type is not None and order_type.is_stop and value is not Validity.DAY:
            raise _problem("validity", f"{order_type.value} orders can only be DAY orders")
        return value

    @field_validator("amo")
    @classmethod
    def _amo_is_market_or_limit(cls, value: bool, info: ValidationInfo) -> bool:
        order_type = info.data.get("order_type")
        if value and order_type is not None and order_type.is_stop:
            raise _problem(
                "amo",
                f"after-market {order_type.value} orders are not possible at INDstocks "
                "(stop orders are smart orders, which have no AMO flag); use MARKET or LIMIT",
            )
        return value

    @field_validator("alert_id")
    @classmethod
    def _alert_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not _ALERT_ID.match(value):
            raise _problem(
                "alert_id",
                "must be 1-60 characters: letters, digits, space and _ . : / # @ + = -",
            )
        return value

    @field_validator("strategy")
    @classmethod
    def _strategy_shape(cls, value: str | None) -> str | None:
        if value is not None and not _STRATEGY.match(value):
            raise _problem("strategy", "must be 1-40 characters: letters, digits, space and _ . : / # @ + = -")
        return value

    @field_validator("time")
    @classmethod
    def _aware_time(cls, value: datetime | None) -> datetime | None:
        # TradingView's {{timenow}} is UTC; a time without an offset is read as UTC.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("offset")
    @classmethod
    def _offset_form(cls, value: str | None) -> str | None:
        return None if value is None else checked_offset(value)

    @field_validator("expiry")
    @classmethod
    def _expiry_form(cls, value: str | None) -> str | None:
        return None if value is None else checked_expiry(value)

    @field_validator("underlying")
    @classmethod
    def _symbol_or_relative_option(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "symbol" not in info.data:  # the symbol itself is wrong: said there
            return value
        symbol = info.data["symbol"]
        companions = {name: info.data.get(name) for name in ("option_type", "offset", "expiry")}
        if value is None:
            if symbol is None and not (info.data.get("action") is not None and info.data["action"].every_instrument):
                raise _problem("symbol_missing", "is required")
            given = [name for name, said in companions.items() if said is not None]
            if given:
                raise _problem("relative_option", f"is required with {', '.join(given)} (a relative option); "
                                                  "with symbol, leave those out")
            return value
        if symbol is not None:
            raise _problem("relative_option", "send either symbol or underlying (a relative option), not both")
        # A companion that failed its own check is not in info.data: it is reported already.
        missing = [name for name, said in companions.items() if said is None and name in info.data]
        if missing:
            raise _problem("relative_option", f"a relative option also needs {', '.join(missing)}")
        return value

    @property
    def ticker(self) -> str:
        """The symbol without its exchange prefix; a relative option's description."""
        if self.symbol is None and self.underlying is None:
            return "*"  # EXIT_ALL / CANCEL_ALL: every instrument
        if self.symbol is None:
            return f"{self.underlying} {self.offset} {self.option_type.value if self.option_type else ''} {self.expiry}"
        return self.symbol.rsplit(":", 1)[-1]

    @property
    def bracket_fields(self) -> list[str]:
        """The bracket levels the alert gives: `stop_loss`, `target`, both or none."""
        return [name for name in ("stop_loss", "target") if getattr(self, name) is not None]

    @property
    def sized(self) -> bool:
        """The quantity comes from a sizing mode (`quantity_type` other than fixed)."""
        return self.quantity_type != "fixed"

    @property
    def resolved_exchange(self) -> Exchange:
        assert self.exchange is not None  # the validator always fills it
        return self.exchange.exchange

    def reading(self) -> SymbolReading | RelativeOption:
        """What the alert trades: a cash ticker, a contract query or a relative option
        (chalicelib/fno/symbols.py). AlertRejected naming the field when it names nothing tradable."""
        said = self.exchange.value if self.exchange is not None and "exchange" in self.model_fields_set else None
        if self.symbol is None:
            assert self.option_type is not None and self.offset is not None and self.expiry is not None
            return parse_relative_option({"underlying": self.underlying, "option_type": self.option_type.value,
                                          "offset": self.offset, "expiry": self.expiry,
                                          **({"exchange": said} if said else {})})
        return parse_symbol(self.symbol, said)

    def summary(self) -> dict[str, Any]:
        """The fields logs and the ledger record about an alert (never the secret)."""
        described = {
            "alert_id": self.alert_id,
            "symbol": self.ticker,
            "exchange": self.resolved_exchange.value,
            "side": self.action.value,
            "position_size": self.position_size,
            "qty": self.quantity,
            "lots": self.lots,
            "order_type": self.order_type.value,
            "product": self.product.value,
            "amo": self.amo or None,
            "strategy": self.strategy,
            "format": self._format,
            "mode": self.mode.value if self.mode else None,
        }
        return {name: value for name, value in described.items() if value is not None}


class ParsedBody:
    """A body split into fields, or the reason it could not be."""

    def __init__(self, fields: dict[str, Any] | None, problem: FieldProblem | None = None):
        self.fields = fields
        self.problem = problem

    @property
    def claimed_secret(self) -> str | None:
        secret = (self.fields or {}).get("secret")
        return secret if isinstance(secret, str) else None


def refuse_oversized(raw: bytes) -> None:
    """First of all, before authentication and parsing: a huge body costs nothing to refuse."""
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge(
            f"the body is over the limit of {MAX_BODY_BYTES} bytes (16 KB)",
            detail=[FieldProblem("body", f"is {len(raw)} bytes; at most {MAX_BODY_BYTES} are accepted")],
        )


def parse_body(raw: bytes) -> ParsedBody:
    """Split the raw body into fields without judging them (authentication comes first)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ParsedBody(None, FieldProblem("body", "is not valid UTF-8"))
    stripped = text.strip()
    if not stripped:
        return ParsedBody(None, FieldProblem("body", "is empty"))
    if stripped[0] in "{[\"":
        return _parse_json(stripped, text)
    return _parse_pairs(stripped)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key in fields:
            raise _DuplicateKey(key)
        fields[key] = value
    return fields


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _parse_json(text: str, original: str) -> ParsedBody:
    try:
        value = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except _DuplicateKey as duplicate:
        # Still read the fields (last value wins) so authentication sees the secret: a
        # correctly authenticated sender deserves the real reason, not a 401.
        fields = json.loads(text)
        return ParsedBody(
            fields if isinstance(fields, dict) else None,
            FieldProblem(_short(duplicate.key), "appears more than once"),
        )
    except json.JSONDecodeError as broken:
        return ParsedBody(None, FieldProblem("body", _json_error(broken, original)))
    except (ValueError, RecursionError):
        return ParsedBody(None, FieldProblem("body", "is not valid JSON (nested too deeply)"))
    if not isinstance(value, dict):
        return ParsedBody(None, FieldProblem("body", "must be a JSON object"))
    return ParsedBody(value)


def _json_error(broken: json.JSONDecodeError, original: str) -> str:
    """The decoder's reason and where, counted in the body as sent (before stripping). The
    reason is one of the decoder's fixed phrases: it never quotes the body."""
    position = len(original) - len(original.lstrip()) + broken.pos
    line = original.count("\n", 0, position) + 1
    column = position - original.rfind("\n", 0, position)
    return f"is not valid JSON: {broken.msg.removesuffix(' at')} at line {line}, column {column}"


def _parse_pairs(text: str) -> ParsedBody:
    """key=value pairs. A word without `=` is reported by its position, never its text (it may
    be the secret); the pairs around it are still read so the secret among them authenticates."""
    fields: dict[str, Any] = {}
    problem: FieldProblem | None = None
    for position, token in enumerate((token for token in re.split(r"[\s,;]+", text) if token), start=1):
        match = _TEXT_PAIR.match(token)
        if not match:
            problem = problem or FieldProblem(
                "body", f"word {position} is not a key=value pair; write JSON or key=value pairs separated by spaces"
            )
            continue
        key, value = match.group(1), match.group(2)
        if key in fields:
            return ParsedBody(fields, problem or FieldProblem(_short(key), "appears more than once"))
        fields[key] = value
    return ParsedBody(fields, problem)


def _short(name: str, limit: int = 64) -> str:
    return name if len(name) <= limit else name[:limit] + "…"


def _field_name(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "body"
    name = ".".join(str(part) for part in loc)
    return _short(name) if name.strip() else repr(name)  # an empty or blank key still gets a name


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "is not a known alert field (check the spelling)"
    if error["type"] == "missing":
        return "is required"
    return str(error["msg"])


def validate_alert(fields: dict[str, Any]) -> Alert:
    """Build the alert or raise AlertRejected naming every bad field (input never echoed)."""
    try:
        alert = Alert.model_validate(fields)
    except ValidationError as invalid:
        problems = [
            FieldProblem(*_ON_BEHALF[error["type"]]) if error["type"] in _ON_BEHALF
            else FieldProblem(_field_name(error["loc"]), _message(error))
            for error in invalid.errors(include_url=False, include_input=False)
        ]
        raise AlertRejected(detail=problems) from None
    _check_sizing(alert)
    _check_scope(alert)
    _check_bracket(alert)
    _check_instrument(alert)
    return alert


def _check_scope(alert: Alert) -> None:
    if alert.position_scope is PositionScope.ACCOUNT:
        return
    if alert.strategy is None:
        raise AlertRejected(detail=[FieldProblem("position_scope", "STRATEGY needs the alert's strategy: the position "
                                                                   "is the one the relay built for that strategy")])
    if alert.position_size is None and alert.action is not Action.EXIT:
        raise AlertRejected(detail=[FieldProblem("position_scope", "applies to position_size and action EXIT only")])


def _check_sizing(alert: Alert) -> None:
    """An exit or a target position decides its own quantity, and so does a sizing mode: one
    given too is a contradiction."""
    given = "quantity" if alert.quantity is not None else "lots" if alert.lots is not None else None
    if alert.quantity_type != "fixed":
        if alert.action.opens_nothing:
            raise AlertRejected(detail=[FieldProblem("quantity_type", f"action {alert.action.value} sends no new "
                                                                      "position: leave it out")])
        said = given or ("position_size" if alert.position_size is not None else None)
        if said is not None:
            raise AlertRejected(detail=[FieldProblem(said, f"quantity_type {alert.quantity_type} derives the quantity "
                                                           "from amount: leave it out")])
        if alert.quantity_type == "risk" and alert.stop_loss is None:
            raise AlertRejected(detail=[FieldProblem("stop_loss", "is required with quantity_type risk: the risk is "
                                                                  "measured from the entry price to the stop")])
    if given is None:
        return
    if alert.action is Action.EXIT:
        raise AlertRejected(detail=[FieldProblem(given, "action EXIT closes the whole position: leave it out")])
    if alert.action is Action.CANCEL:
        raise AlertRejected(detail=[FieldProblem(given, "action CANCEL cancels the instrument's open orders: leave it out")])
    if alert.action.every_instrument:
        raise AlertRejected(detail=[FieldProblem(given, f"action {alert.action.value} acts on whole positions and "
                                                       "open orders: leave it out")])
    if alert.position_size is not None:
        raise AlertRejected(detail=[FieldProblem(given, "position_size is the target and the relay sends the "
                                                       "difference to the current position: leave it out")])


def _check_bracket(alert: Alert) -> None:
    """`stop_loss`/`target` ride on an entry sent as one NSE smart order (DAY, no AMO flag)."""
    from chalicelib.strategy.brackets import check_carrier  # imports this module: read on use

    given = alert.bracket_fields
    if given and alert.action.opens_nothing:
        raise AlertRejected(detail=[FieldProblem(name, f"action {alert.action.value} opens nothing to protect: "
                                                       "leave it out") for name in given])
    check_carrier(given, exchange=alert.resolved_exchange, validity=alert.validity.value, amo=alert.amo)


def _check_instrument(alert: Alert) -> None:
    """What needs the symbol read: a derivative form, lots and products that fit it."""
    if alert.action.every_instrument:
        if alert.symbol is not None or alert.underlying is not None:
            raise AlertRejected(detail=[FieldProblem("symbol" if alert.symbol is not None else "underlying",
                                                     f"action {alert.action.value} acts on every instrument the "
                                                     "relay traded today: leave it out")])
        return
    reading = alert.reading()
    if isinstance(reading, EquityTicker):
        if alert.lots is not None:
            raise AlertRejected(detail=[FieldProblem(
                "lots", "applies to futures and options only; send quantity (shares) for a cash-equity symbol")])
        return
    if alert.product is Product.CNC:
        raise AlertRejected(detail=[FieldProblem(
            "product", "CNC is for cash equity only; futures and options take MARGIN (NRML, carried forward) "
                       "or INTRADAY (MIS)")])
