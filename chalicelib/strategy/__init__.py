"""Strategy execution, the pure part: what an alert that says "be long 50" should send, how big
an order a sizing mode makes, bracket legs, and when entries and exits are accepted. Value types
in, value types or a RelayError naming the field out; time comes in as an argument; no AWS, no
HTTP. Each name is imported on first use (the keep-warm schedule reads only the holidays).

    order = order_for_target(+50, net, in_flight=open_qty, lot_units=lot)   # TargetOrder (maybe noop)
    Schedule.from_settings(settings).check(now, is_exit=order.reduces_only, age_seconds=age)
    bracket = bracket_legs(Side.BUY, entry, tick, exchange=Exchange.NSE, stop_loss="1.5%", target="3%")
    size = size_order("risk", 2000, side=Side.BUY, price=entry, stop_loss=bracket.stop_price)
    body = {**smart_order_body, **bracket.legs}                              # /smart/order
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.strategy.brackets import LEG_FIELDS, Bracket, bracket_legs, check_carrier, check_opens_only
    from chalicelib.strategy.entries import EntryPlan, plan_entry
    from chalicelib.strategy.holidays import HolidayCalendar, parse_holidays, shipped_calendar
    from chalicelib.strategy.levels import Level, parse_level
    from chalicelib.strategy.sizing import QuantityType, Sizing, size_order
    from chalicelib.strategy.targets import TargetOrder, exit_order, order_for_target
    from chalicelib.strategy.windows import (
        SESSION,
        CalendarMode,
        Schedule,
        TimeWindow,
        parse_calendar_mode,
        parse_entry_window,
        parse_square_off,
        schedule_problems,
    )

_HOME = {
    "LEG_FIELDS": "brackets", "Bracket": "brackets", "bracket_legs": "brackets", "check_carrier": "brackets",
    "check_opens_only": "brackets", "EntryPlan": "entries", "plan_entry": "entries",
    "HolidayCalendar": "holidays", "parse_holidays": "holidays", "shipped_calendar": "holidays",
    "Level": "levels", "parse_level": "levels",
    "QuantityType": "sizing", "Sizing": "sizing", "size_order": "sizing",
    "TargetOrder": "targets", "exit_order": "targets", "order_for_target": "targets",
    "SESSION": "windows", "CalendarMode": "windows", "Schedule": "windows", "TimeWindow": "windows",
    "parse_calendar_mode": "windows", "parse_entry_window": "windows", "parse_square_off": "windows",
    "schedule_problems": "windows",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = [
    "LEG_FIELDS", "SESSION",
    "Bracket", "CalendarMode", "EntryPlan", "HolidayCalendar", "Level", "QuantityType", "Schedule", "Sizing",
    "TargetOrder", "TimeWindow",
    "bracket_legs", "check_carrier", "check_opens_only", "exit_order", "order_for_target", "parse_calendar_mode",
    "parse_entry_window", "parse_holidays", "plan_entry",
    "parse_level", "parse_square_off", "schedule_problems", "shipped_calendar", "size_order",
]
