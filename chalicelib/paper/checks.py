"""The INDstocks order-write bodies as the OpenAPI spec defines them, as data (pure).

A paper write must be refused where the broker would refuse it, before anything else: INDstocks
answers a body that breaks its published schema with 400 InputException. Lambda does not ship
the spec nor an OpenAPI validator, so the six write schemas are this table; tests/test_paper.py
holds it equal to `local/indstocks-openapi.yaml` (required fields, enums, types, bounds).
"""

from __future__ import annotations

from typing import Any

_SIDES = ("BUY", "SELL")
_SEGMENTS = ("EQUITY", "DERIVATIVE")
_PRODUCTS = ("CNC", "INTRADAY", "MARGIN")

# name → (type, enum or None, minimum or None, maxLength or None)
Field = tuple[str, tuple[str, ...] | None, int | None, int | None]
_PLACE: dict[str, Field] = {
    "txn_type": ("string", _SIDES, None, None),
    "exchange": ("string", ("NSE", "BSE"), None, None),
    "segment": ("string", _SEGMENTS, None, None),
    "product": ("string", _PRODUCTS, None, None),
    "order_type": ("string", ("LIMIT", "MARKET"), None, None),
    "validity": ("string", ("DAY", "IOC"), None, None),
    "security_id": ("string", None, None, None),
    "qty": ("integer", None, 1, None),
    "algo_id": ("string", None, None, None),
    "limit_price": ("number", None, None, None),
    "is_amo": ("boolean", None, None, None),
    "remarks": ("string", None, None, 100),
}
_PRICES = ("limit_price", "trigger_price", "trigger_limit_price", "sl_trigger_price", "sl_limit_price",
           "tgt_trigger_price", "tgt_limit_price")
_SMART: dict[str, Field] = {
    **{name: spec for name, spec in _PLACE.items() if name != "is_amo"},
    "exchange": ("string", ("NSE",), None, None),
    "order_type": ("string", ("LIMIT", "MARKET", "TRIGGER"), None, None),
    "validity": ("string", ("DAY",), None, None),
    **{name: ("number", None, None, None) for name in _PRICES},
    "is_tsl": ("boolean", None, None, None),
    "tsl_step_size": ("number", None, None, None),
}
_CANCEL: dict[str, Field] = {"order_id": ("string", None, None, None), "segment": ("string", _SEGMENTS, None, None)}
_PLACE_REQUIRED = ("txn_type", "exchange", "segment", "product", "order_type", "validity", "security_id", "qty", "algo_id")

# path → (required fields, every field the schema names)
WRITE_SCHEMAS: dict[str, tuple[tuple[str, ...], dict[str, Field]]] = {
    "/order": (_PLACE_REQUIRED, _PLACE),
    "/smart/order": (_PLACE_REQUIRED, _SMART),
    "/order/cancel": (("order_id", "segment"), _CANCEL),
    "/smart/order/cancel": (("order_id", "segment"), _CANCEL),
    "/order/modify": (("order_id", "segment", "qty", "limit_price"),
                      {**_CANCEL, "qty": ("integer", None, 1, None), "limit_price": ("number", None, None, None)}),
    "/smart/order/modify": (("order_id", "segment", "algo_id"), {
        **_CANCEL, "algo_id": ("string", None, None, None),
        "order_type": ("string", ("LIMIT", "MARKET", "TRIGGER"), None, None),
        "qty": ("integer", None, None, None),
        **{name: ("number", None, None, None) for name in _PRICES}}),
}


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, (int, float))
    return isinstance(value, str)


def schema_problems(path: str, body: Any) -> list[str]:
    """How `body` breaks the spec's schema of `POST path`; empty if it conforms. An unknown path
    is a problem too: a paper broker answers only what INDstocks has."""
    if path not in WRITE_SCHEMAS:
        return [f"POST {path} is not an INDstocks order write"]
    if not isinstance(body, dict):
        return ["body: is not an object"]
    required, fields = WRITE_SCHEMAS[path]
    problems = [f"{name}: is a required property" for name in required if name not in body]
    for name, value in body.items():
        if name not in fields:
            continue  # the spec does not forbid additional properties
        kind, enum, minimum, max_length = fields[name]
        if not _type_ok(value, kind):
            problems.append(f"{name}: {value!r} is not of type {kind!r}")
        elif enum is not None and value not in enum:
            problems.append(f"{name}: {value!r} is not one of {list(enum)}")
        elif minimum is not None and value < minimum:
            problems.append(f"{name}: {value!r} is less than the minimum of {minimum}")
        elif max_length is not None and len(value) > max_length:
            problems.append(f"{name}: {value!r} is too long")
    return problems
