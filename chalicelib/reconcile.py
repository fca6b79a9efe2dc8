"""Finding an order whose outcome is unknown, and reading a placed order's progress.

Pure functions over order-book rows (`GET /order-book`); the sweep and the webhook call them
with one book read. An order is ours when its remarks tag matches, and the security id, side
and quantity agree (the tag alone could be typed by hand in another order).
"""

from __future__ import annotations

from typing import Any

# Broker statuses after which nothing more will happen to the order (indstocks-api §4.4).
TERMINAL_STATUSES = {
    "SUCCESS", "FAILED", "ABORTED", "CANCELLED", "EXPIRED",
    "PARTIALLY FILLED - CANCELLED", "PARTIALLY FILLED - EXPIRED",
}  # fmt: skip
EXCHANGE_REJECTIONS = {"FAILED", "ABORTED"}


def find_order(book: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, Any] | None:
    for row in book:
        if (
            row.get("remarks") == request.get("remarks")
            and str(row.get("security_id")) == str(request.get("security_id"))
            and row.get("txn_type") == request.get("txn_type")
            and _int(row.get("requested_qty")) == request.get("qty")
        ):
            return row
    return None


def order_by_id(book: list[dict[str, Any]], order_id: str) -> dict[str, Any] | None:
    return next((row for row in book if row.get("id") == order_id), None)


def progress(row: dict[str, Any]) -> dict[str, Any]:
    """What the ledger records about a placed order's life at the exchange."""
    status = str(row.get("status") or "")
    return {
        "broker_status": status,
        "traded_qty": _int(row.get("traded_qty")),
        "traded_price": _float(row.get("traded_price")),
        "exchange_message": (str(row.get("extra_info") or "").strip() or None),
        "terminal": status in TERMINAL_STATUSES,
        "exchange_rejected": status in EXCHANGE_REJECTIONS,
    }


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
