"""The journal endpoint's query parameters, validated by a model like everything else."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from chalicelib.alerts import Mode
from chalicelib.errors import FieldProblem, InvalidRequest
from chalicelib.ledger import State
from chalicelib.moments import parse_since


class JournalQuery(BaseModel):
    """Validated with context {"now": epoch seconds}: `since` may be a duration back from it."""

    model_config = ConfigDict(extra="forbid")

    status: State | None = None
    mode: Mode | None = None  # live or paper orders alone
    since: float | None = None  # epoch seconds
    limit: int = Field(default=50, ge=1, le=500)
    account: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,23}$")  # unset: every account

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_since(value, (info.context or {})["now"])
        except ValueError as unreadable:
            raise PydanticCustomError("since", str(unreadable)) from None


def journal_query(params: dict[str, str], now: float) -> dict[str, Any]:
    try:
        query = JournalQuery.model_validate(params, context={"now": now})
    except ValidationError as invalid:
        raise InvalidRequest(
            "invalid journal query",
            detail=[FieldProblem(".".join(map(str, e["loc"])) or "query", e["msg"]) for e in invalid.errors(include_input=False)],
        ) from None
    return {
        "state": query.status.value if query.status else None,
        "since": query.since,
        "limit": query.limit,
        "account": query.account,
        "mode": query.mode.value if query.mode else None,
    }
