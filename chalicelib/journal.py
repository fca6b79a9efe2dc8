"""The journal endpoint's query parameters, validated by a model like everything else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import FieldProblem, InvalidRequest
from chalicelib.ledger import State


class JournalQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: State | None = None
    since: datetime | None = None
    limit: int = Field(default=50, ge=1, le=500)


def journal_query(params: dict[str, str]) -> dict[str, Any]:
    try:
        query = JournalQuery.model_validate(params)
    except ValidationError as invalid:
        raise InvalidRequest(
            "invalid journal query",
            detail=[FieldProblem(".".join(map(str, e["loc"])) or "query", e["msg"]) for e in invalid.errors(include_input=False)],
        ) from None
    since = query.since
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return {
        "state": query.status.value if query.status else None,
        "since": since.timestamp() if since else None,
        "limit": query.limit,
    }
