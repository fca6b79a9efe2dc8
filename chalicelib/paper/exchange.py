"""The paper exchange: one account's paper book and what INDstocks and the exchange would do to it.

Pure: a book is a JSON-ready dict (`new_book`), every function takes it and the last prices it
needs and changes it in place; the store (paper/broker.py) keeps it in DynamoDB. The rules are
those of the local simulator's exchange (local/simulator.py), which is what the relay's tests
hold live behaviour to:

- writes are refused as INDstocks refuses them: the spec's schema (paper/checks.py), algo ids,
  reserved remarks, a LIMIT without its price, a stop's trigger on the wrong side of the last
  price, bracket legs on the wrong side of the entry, and RMS (the fill would block more margin
  than is free); modify and cancel of an order that is not open: "Position could not be found";
- a MARKET order fills at once, whole, at the last price; a LIMIT when the last price reaches
  it; a stop (TRIGGER, shown as GTT_LIMIT) once its trigger is crossed, then as a limit at its
  trigger-limit; a smart order's stop-loss/target legs are one OCO child (`PAPER-GTT-…`) that arms
  when its parent executed and fills by whichever leg is crossed first. Fills are at the last
  price of that moment, never worse than the order's limit. After-market orders rest (O-PENDING);
- positions are the day's fills at average cost; funds are the starting capital plus realised
  P&L less the margin the positions block: equity INTRADAY a fifth of the value, equity CNC and
  MARGIN the whole value, every derivative 15 % (a simplification: a long option is charged less
  than its premium). A book is one IST day: the next day starts flat at the starting capital.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, replace
from decimal import Decimal
from typing import Any

from chalicelib.paper.checks import schema_problems

ORDER_PREFIX = "PAPER-"
TERMINAL = frozenset({"SUCCESS", "CANCELLED", "EXPIRED", "FAILED", "ABORTED", "PARTIALLY FILLED - CANCELLED",
                      "PARTIALLY FILLED - EXPIRED"})
_RESTING = frozenset({"O-PENDING"})  # an AMO waits for a session the paper exchange does not model
NOT_FOUND = "Position could not be found"
MARGIN_REFUSAL = "RMS: Margin exceeds available funds"
NSE_ALGO_IDS = frozenset({"99999"})
BSE_ALGO_IDS = frozenset({"9999999999999999", "99999"})  # the docs contradict themselves on BSE
INTRADAY_EQUITY_MARGIN = Decimal("0.20")
DERIVATIVE_MARGIN = Decimal("0.15")
_ZERO = Decimal(0)
_LEG_FIELDS = ("sl_trigger_price", "sl_limit_price", "tgt_trigger_price", "tgt_limit_price")


class Refused(Exception):
    """What INDstocks would answer instead of accepting the write: its error type and message."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class Placed:
    order_id: str
    order_status: str


def new_book(day: str) -> dict[str, Any]:
    return {"day": day, "next": 1, "orders": [], "fills": []}


def quote_code(exchange: str, segment: str, security_id: str) -> str:
    """The quote code of an order's instrument: NSE_3045, BSE_500112, NFO_/BFO_ for derivatives."""
    venue = {"NSE": "NFO", "BSE": "BFO"}.get(exchange, exchange) if segment == "DERIVATIVE" else exchange
    return f"{venue}_{security_id}"


def row_code(row: dict[str, Any]) -> str:
    return quote_code(str(row["exchange"]), str(row["segment"]), str(row["security_id"]))


def _dec(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def _text(value: Any) -> str:
    return "" if value is None or value == "" else f"{_dec(value):.2f}"


def public_rows(book: dict[str, Any]) -> list[dict[str, Any]]:
    """The book's orders as `GET /order-book` shows them (without the exchange's own notes)."""
    return [{name: value for name, value in row.items() if not name.startswith("_")} for row in book["orders"]]


# --- writes ------------------------------------------------------------------------------------

def place(book: dict[str, Any], path: str, body: dict[str, Any], last: Decimal | None, capital: Decimal,
          now: str) -> Placed:
    """Accept (and book) an order write, or raise Refused. `last`: the instrument's last price,
    None when it could not be read (a stop's side and a MARKET entry then go unchecked)."""
    problems = schema_problems(path, body)
    if problems:
        raise Refused("InputException", "; ".join(problems))
    if path in ("/order/cancel", "/smart/order/cancel"):
        row = _open_row(book, body["order_id"], body["segment"], smart=path.startswith("/smart/"))
        row.update(status="CANCELLED", updated_at=now)
        return Placed(row["id"], "CANCELLED")
    if path in ("/order/modify", "/smart/order/modify"):
        return _modify(book, path, body, last, now)
    smart = path == "/smart/order"
    _check_order(body, last)
    legs = check_legs(body, _entry_price(body, last)) if smart else {}
    _check_margin(book, body, last, capital)
    row = _book(book, body, smart=smart, legs=legs, last=last, now=now)
    if last is not None:
        run(book, {row_code(row): last}, now)
    if body["validity"] == "IOC" and row["status"] not in TERMINAL:  # what did not fill at once is cancelled
        row.update(status="CANCELLED", extra_info="paper order: IOC, not marketable at once", updated_at=now)
    if smart:
        return Placed(row["id"], "CREATED")
    return Placed(row["id"], "O-PENDING" if body.get("is_amo") else "INITIATED")


def _check_order(body: dict[str, Any], last: Decimal | None) -> None:
    ids = NSE_ALGO_IDS if body["exchange"] == "NSE" else BSE_ALGO_IDS
    if body["algo_id"] not in ids:
        raise Refused("InputException", f"invalid algo_id for {body['exchange']}")
    remarks = body.get("remarks")
    if remarks is not None and "".join(remarks.split()).upper() == "TV-TERMINAL":
        raise Refused("RequestValidationException", "remarks value is reserved")
    if body["segment"] == "DERIVATIVE" and body["product"] == "CNC":
        raise Refused("OrderException", "CNC product is not allowed for derivatives; use MARGIN or INTRADAY")
    if body["order_type"] == "LIMIT" and "limit_price" not in body:
        raise Refused("InputException", "limit_price is required for a LIMIT order")
    if body["order_type"] == "TRIGGER" and "trigger_price" not in body:
        raise Refused("InputException", "trigger_price is required for a TRIGGER order")
    for name in ("limit_price", "trigger_price", "trigger_limit_price"):
        if name in body:
            _positive(name, body[name])
    if body["order_type"] == "TRIGGER" and last is not None:
        trigger = _dec(body["trigger_price"])
        if body["txn_type"] == "BUY" and not trigger > last:
            raise Refused("OrderException", "trigger price must be above the last traded price for a BUY")
        if body["txn_type"] == "SELL" and not trigger < last:
            raise Refused("OrderException", "trigger price must be below the last traded price for a SELL")


def _entry_price(body: dict[str, Any], last: Decimal | None) -> Decimal | None:
    if body["order_type"] == "LIMIT":
        return _dec(body["limit_price"])
    if body["order_type"] == "TRIGGER":
        return _dec(body.get("trigger_limit_price", body["trigger_price"]))
    return last


def check_legs(body: dict[str, Any], entry: Decimal | None,
               check_price: Callable[[str, Any], None] | None = None) -> dict[str, str]:
    """A smart order's stop-loss and target legs as INDstocks checks them (api doc §5), as the OCO
    child's order-book prices, or Refused. Each leg comes as a pair. On a BUY the stop-loss sits
    below the entry with its limit below its trigger, the target above it with its limit above its
    trigger; a SELL mirrors both. The entry is unknown for a MARKET order without a last price:
    then only the trigger/limit order is checked. `check_price(field, value)`: each leg price's own
    check (default: above zero; the simulator checks its tick too, and shares this rule)."""
    legs: dict[str, str] = {}
    side = body["txn_type"]
    for leg, name in (("sl", "stop-loss"), ("tgt", "target")):
        trigger_field, limit_field = f"{leg}_trigger_price", f"{leg}_limit_price"
        given = [field for field in (trigger_field, limit_field) if field in body]
        if not given:
            continue
        if len(given) == 1:
            raise Refused("InputException", f"{trigger_field} and {limit_field} must be given together")
        for field in (trigger_field, limit_field):
            (check_price or _positive)(field, body[field])
        trigger, limit = _dec(body[trigger_field]), _dec(body[limit_field])
        below = (leg == "sl") == (side == "BUY")
        where = "below" if below else "above"
        if entry is not None and not (trigger < entry if below else trigger > entry):
            raise Refused("OrderException", f"the {name} trigger must be {where} the entry price for a {side}")
        if not (limit < trigger if below else limit > trigger):
            raise Refused("OrderException", f"the {name} limit must be {where} its trigger for a {side}")
        legs[trigger_field], legs[limit_field] = _text(trigger), _text(limit)
    return legs


def _positive(field: str, value: Any) -> None:
    if _dec(value) <= 0:
        raise Refused("InputException", f"{field} must be above zero")


def _check_margin(book: dict[str, Any], body: dict[str, Any], last: Decimal | None, capital: Decimal) -> None:
    """RMS: refuse an order whose fill would block more margin than is free. One that reduces a
    position needs none."""
    price = _entry_price(body, last)
    if price is None:
        return
    positions = position_book(book)
    key = (body["segment"], body["exchange"], body["security_id"], body["product"])
    before = positions.get(key) or _position(key)
    after = replace(before)
    after.add(body["txn_type"], int(body["qty"]), price)
    needed = after.margin() - before.margin()
    if needed > 0 and needed > available(positions, capital):
        raise Refused("OrderException", MARGIN_REFUSAL)


def _book(book: dict[str, Any], body: dict[str, Any], *, smart: bool, legs: dict[str, str], last: Decimal | None,
          now: str) -> dict[str, Any]:
    trigger = body["order_type"] == "TRIGGER"
    if trigger:  # a standalone TRIGGER shows as GTT_LIMIT with its prices in the tgt_* fields
        requested, tgt_trigger = "", _text(body["trigger_price"])
        tgt_limit = _text(body.get("trigger_limit_price", body["trigger_price"]))
    else:  # MARKET is booked as a limit at the last price (api doc §4.1)
        requested, tgt_trigger, tgt_limit = _text(body.get("limit_price", last)), "", ""
    status = ("SL-PENDING" if trigger else "CREATED") if smart else "O-PENDING" if body.get("is_amo") else "INITIATED"
    number = book["next"]
    book["next"] = number + 1
    row: dict[str, Any] = {
        "id": f"{ORDER_PREFIX}{'EQ' if body['segment'] == 'EQUITY' else 'DRV'}-{number:08d}",
        "exch_order_id": "", "security_id": body["security_id"], "name": "", "txn_type": body["txn_type"],
        "exchange": body["exchange"], "segment": body["segment"], "product": body["product"],
        "order_type": "GTT_LIMIT" if trigger else body["order_type"], "validity": body["validity"],
        "off_mkt_flag": "true" if body.get("is_amo") else "false", "requested_qty": int(body["qty"]),
        "traded_qty": 0, "requested_price": requested, "traded_price": "", "sl_trigger_price": "",
        "sl_limit_price": "", "tgt_trigger_price": tgt_trigger, "tgt_limit_price": tgt_limit, "status": status,
        "extra_info": "paper order", "created_at": now, "updated_at": now, "_smart": smart,
    }  # fmt: skip
    if "remarks" in body:
        row["remarks"] = body["remarks"]
    book["orders"].append(row)
    if legs:  # the child closes what the parent opens: the other side, the same quantity and product
        child = {**row, "id": f"{ORDER_PREFIX}GTT-{book['next']:08d}", "order_type": "OCO", "requested_price": "",
                 "txn_type": "SELL" if body["txn_type"] == "BUY" else "BUY", "status": "CREATED",
                 "sl_trigger_price": legs.get("sl_trigger_price", ""), "sl_limit_price": legs.get("sl_limit_price", ""),
                 "tgt_trigger_price": legs.get("tgt_trigger_price", ""),
                 "tgt_limit_price": legs.get("tgt_limit_price", ""), "_parent": row["id"], "_smart": True}
        book["next"] += 1
        row["_child"] = child["id"]
        book["orders"].append(child)
    return row


def _open_row(book: dict[str, Any], order_id: str, segment: str, *, smart: bool) -> dict[str, Any]:
    """The order a modify/cancel names, if it can still change, on its own endpoint family."""
    row = next((row for row in book["orders"] if row["id"] == order_id), None)
    if row is None or row["segment"] != segment or row["status"] in TERMINAL or bool(row.get("_smart")) != smart:
        raise Refused("OrderException", NOT_FOUND)
    return row


def _modify(book: dict[str, Any], path: str, body: dict[str, Any], last: Decimal | None, now: str) -> Placed:
    smart = path.startswith("/smart/")
    if smart and body["algo_id"] not in NSE_ALGO_IDS:
        raise Refused("InputException", "invalid algo_id for NSE")
    row = _open_row(book, body["order_id"], body["segment"], smart=smart)
    placed_type = "TRIGGER" if row["order_type"] == "GTT_LIMIT" else row["order_type"]
    if body.get("order_type", placed_type) != placed_type:
        raise Refused("OrderException", "order_type must match the existing order")
    columns = (tuple((name, name) for name in _LEG_FIELDS) if row["order_type"] == "OCO" else
               (("limit_price", "requested_price"), ("trigger_price", "tgt_trigger_price"),
                ("trigger_limit_price", "tgt_limit_price")))
    allowed = {name for name, _ in columns} | {"order_id", "segment", "algo_id", "order_type", "qty"}
    misplaced = sorted(name for name in body if name not in allowed)
    if misplaced:
        raise Refused("OrderException", f"{', '.join(misplaced)} cannot be modified on this order")
    for name, column in columns:
        if name in body:
            if _dec(body[name]) <= 0:
                raise Refused("InputException", f"{name} must be above zero")
            row[column] = _text(body[name])
    if "qty" in body:
        row["requested_qty"] = int(body["qty"])
    row.update(status="MODIFIED", updated_at=now)
    if last is not None:
        run(book, {row_code(row): last}, now)
    return Placed(row["id"], "MODIFIED")


# --- the exchange ------------------------------------------------------------------------------

def working_codes(book: dict[str, Any]) -> list[str]:
    """The quote codes of every order the exchange may still act on: what the sweep prices."""
    codes = {row_code(row) for row in book["orders"] if _working(book, row)}
    return sorted(codes)


def _working(book: dict[str, Any], row: dict[str, Any]) -> bool:
    if row["status"] in TERMINAL or row["status"] in _RESTING:
        return False
    return row.get("_parent") is None or bool(row.get("_armed"))


def run(book: dict[str, Any], prices: dict[str, Decimal], now: str) -> list[str]:
    """Let the exchange act on every working order whose last price is known, until nothing more
    happens; the ids of the orders that filled."""
    filled: list[str] = []
    moved = True
    while moved:
        moved = False
        for row in book["orders"]:
            last = prices.get(row_code(row))
            if last is None or not _working(book, row):
                continue
            stepped, did_fill = _step(book, row, last, now)
            moved = moved or stepped
            if did_fill:
                filled.append(row["id"])
    return filled


def _leg_fires(leg: str, buy: bool, last: Decimal, trigger: Decimal) -> bool:
    rising = (leg == "sl") == buy  # a SELL child (a long) stops out falling, takes its target rising
    return last >= trigger if rising else last <= trigger


def _step(book: dict[str, Any], row: dict[str, Any], last: Decimal, now: str) -> tuple[bool, bool]:
    """One look at one working order at the last price: (it triggered or filled, it filled)."""
    buy, kind, fired = row["txn_type"] == "BUY", row["order_type"], False
    if kind == "GTT_LIMIT" and not row.get("_triggered"):
        trigger = _dec(row["tgt_trigger_price"])
        if not (last >= trigger if buy else last <= trigger):
            return False, False
        row["_triggered"] = fired = True
    if kind == "OCO" and not row.get("_leg"):
        row["_leg"] = next((leg for leg in ("sl", "tgt") if row[f"{leg}_trigger_price"]
                            and _leg_fires(leg, buy, last, _dec(row[f"{leg}_trigger_price"]))), None)
        if not row["_leg"]:
            return False, False
        fired = True
        row["extra_info"] = f"paper order: {'stop-loss' if row['_leg'] == 'sl' else 'target'} leg triggered; " \
                            "the other leg is cancelled"
    if fired:
        row.update(status="PENDING", updated_at=now)
    limits = {"MARKET": None, "LIMIT": row["requested_price"], "GTT_LIMIT": row["tgt_limit_price"],
              "OCO": row.get(f"{row.get('_leg')}_limit_price")}
    if kind not in limits:
        return fired, False
    limit = _dec(limits[kind]) if limits[kind] not in (None, "") else None
    if limit is not None and not (last <= limit if buy else last >= limit):
        if row["status"] in ("INITIATED", "CREATED", "MODIFIED"):
            row["status"] = "PENDING"  # open at the exchange
        return fired, False
    _fill(book, row, last, now)
    return True, True


def _fill(book: dict[str, Any], row: dict[str, Any], price: Decimal, now: str) -> None:
    """The whole remaining quantity trades at `price`; a parent that executed arms its OCO child."""
    qty = int(row["requested_qty"]) - int(row["traded_qty"])
    row.update(status="SUCCESS", traded_qty=int(row["requested_qty"]), traded_price=_text(price), updated_at=now,
               exch_order_id=row["exch_order_id"] or f"PAPER{row['id'].rsplit('-', 1)[1]}")
    book["fills"].append({"order_id": row["id"], "security_id": row["security_id"], "exchange": row["exchange"],
                          "segment": row["segment"], "product": row["product"], "side": row["txn_type"], "qty": qty,
                          "price": str(price), "at": now, "remarks": row.get("remarks")})
    child = next((other for other in book["orders"] if other["id"] == row.get("_child")), None)
    if child is not None and child["status"] not in TERMINAL and not child.get("_armed"):
        child.update(_armed=True, status="SL-PENDING", updated_at=now)


# --- positions and funds -----------------------------------------------------------------------

@dataclass
class AverageCost:
    """A position built fill by fill at average cost: what the buys and sells add up to, the
    open quantity's average price and the realised P&L (the simulator's positions are these too)."""

    buy_qty: int = 0
    buy_value: Decimal = _ZERO
    sell_qty: int = 0
    sell_value: Decimal = _ZERO
    net_qty: int = 0
    cost: Decimal = _ZERO  # average price of the open quantity, unrounded
    realized: Decimal = _ZERO

    def add(self, side: str, qty: int, price: Decimal) -> None:
        signed = qty if side == "BUY" else -qty
        if side == "BUY":
            self.buy_qty, self.buy_value = self.buy_qty + qty, self.buy_value + qty * price
        else:
            self.sell_qty, self.sell_value = self.sell_qty + qty, self.sell_value + qty * price
        if self.net_qty == 0 or (self.net_qty > 0) == (signed > 0):  # opening or adding
            held = abs(self.net_qty)
            self.cost = (self.cost * held + price * qty) / (held + qty)
            self.net_qty += signed
            return
        closed = min(qty, abs(self.net_qty))
        self.realized += (price - self.cost) * closed * (1 if self.net_qty > 0 else -1)
        self.net_qty += signed
        if self.net_qty == 0:
            self.cost = _ZERO
        elif qty > closed:  # went through flat: the rest opens at this price
            self.cost = price

    @property
    def avg_price(self) -> Decimal:
        """The average price as the positions read shows it (4 places); P&L figures use this one."""
        return self.cost.quantize(Decimal("0.0001"))

    @property
    def realized_profit(self) -> Decimal:
        return self.realized.quantize(Decimal("0.01"))


@dataclass
class Position(AverageCost):
    """One (segment, exchange, security, product) paper position."""

    _: KW_ONLY
    segment: str
    exchange: str
    security_id: str
    product: str

    def margin(self) -> Decimal:
        value = abs(self.net_qty) * self.avg_price
        if self.segment == "DERIVATIVE":
            return value * DERIVATIVE_MARGIN
        return value * (INTRADAY_EQUITY_MARGIN if self.product == "INTRADAY" else 1)

    def row(self) -> dict[str, Any]:
        """One row of `GET /portfolio/positions`."""
        def average(value: Decimal, qty: int) -> float:
            return float((value / qty).quantize(Decimal("0.0001"))) if qty else 0.0

        return {"security_id": self.security_id, "exchange": self.exchange, "segment": self.segment,
                "product": self.product, "net_qty": self.net_qty, "avg_price": float(self.avg_price),
                "buy_qty": self.buy_qty, "buy_avg": average(self.buy_value, self.buy_qty), "sell_qty": self.sell_qty,
                "sell_avg": average(self.sell_value, self.sell_qty),
                "realized_profit": float(self.realized_profit)}


def position_book(book: dict[str, Any]) -> dict[tuple[str, str, str, str], Position]:
    positions: dict[tuple[str, str, str, str], Position] = {}
    for fill in book["fills"]:
        key = (fill["segment"], fill["exchange"], fill["security_id"], fill["product"])
        position = positions.get(key) or positions.setdefault(key, _position(key))
        position.add(fill["side"], int(fill["qty"]), Decimal(fill["price"]))
    return positions


def _position(key: tuple[str, str, str, str]) -> Position:
    segment, exchange_name, security_id, product = key
    return Position(segment=segment, exchange=exchange_name, security_id=security_id, product=product)


def available(positions: dict[tuple[str, str, str, str], Position], capital: Decimal) -> Decimal:
    """Cash free for new positions: the starting capital, plus realised P&L, less blocked margin."""
    return capital + sum((p.realized for p in positions.values()), _ZERO) - sum(
        (p.margin() for p in positions.values()), _ZERO)


def funds_data(book: dict[str, Any], capital: Decimal) -> dict[str, Any]:
    """`GET /funds`'s data: one pool of cash, free for every product (unrealised P&L not marked)."""
    positions = position_book(book)
    free = float(available(positions, capital).quantize(Decimal("0.01")))
    realized = float(sum((p.realized for p in positions.values()), _ZERO).quantize(Decimal("0.01")))
    return {"sod_balance": float(capital), "withdrawal_balance": max(free, 0.0), "realized_pnl": realized,
            "unrealized_pnl": 0.0, "detailed_avl_balance": {name: free for name in (
                "eq_cnc", "eq_mis", "future", "option_buy", "option_sell")}}
