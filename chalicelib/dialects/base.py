"""What every dialect shares: the reading of a body before and after authentication, and the
one way onto the alert model (validate_alert), with errors in the dialect's own field names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from pydantic import ValidationError

from chalicelib.alerts import Alert, validate_alert
from chalicelib.errors import AlertRejected, FieldProblem


class Format(str, Enum):
    NATIVE = "native"
    OPENALGO = "openalgo"
    TRADERSPOST = "traderspost"
    PINECONNECTOR = "pineconnector"

    @property
    def label(self) -> str:
        return {"native": "the relay's own alert", "openalgo": "OpenAlgo", "traderspost": "TradersPost",
                "pineconnector": "PineConnector"}[self.value]


class Reading:
    """A body split into fields of one format, or the reason it could not be, before anything is
    judged: `claimed_secret` is what authentication compares, `alert()` maps and validates after."""

    def __init__(self, fmt: Format, claimed_secret: str | None, problem: FieldProblem | None,
                 build: Callable[[], Alert], *, name: str | None = None):
        self.format = fmt
        self.name = name or fmt.value  # what the alert log line says (`ambiguous` for a body of several)
        self.claimed_secret = claimed_secret
        self.problem = problem
        self._build = build

    def alert(self) -> Alert:
        """The one alert model, built from this format's fields (AlertRejected in its names)."""
        alert = self._build()
        alert._format = self.format.value  # recorded in the journal and the log line
        return alert


def renamed(error: AlertRejected, names: Mapping[str, str]) -> AlertRejected:
    """The same refusal, each field named as the dialect names it."""
    error.detail = [FieldProblem(names.get(problem.field, problem.field), problem.message) for problem in error.detail]
    return error


def validate_as(fields: dict[str, Any], names: Mapping[str, str]) -> Alert:
    """validate_alert on the fields a dialect mapped; its refusals name the dialect's fields."""
    try:
        return validate_alert(fields)
    except AlertRejected as refused:
        raise renamed(refused, names) from None


def model_problems(invalid: ValidationError, names: Mapping[str, str] | None = None) -> AlertRejected:
    """A dialect model's own refusal: every bad field by its name in the body, input never echoed."""
    from chalicelib.alerts import _field_name, _message  # the alert model's wording, shared

    problems = []
    for error in invalid.errors(include_url=False, include_input=False):
        name = _field_name(error["loc"])
        message = _message(error)
        if error["type"] == "extra_forbidden":
            message = "is not a known field of this format (check the spelling)"
        problems.append(FieldProblem((names or {}).get(name, name), message))
    return AlertRejected(detail=problems)


def problem(field: str, message: str) -> AlertRejected:
    return AlertRejected(detail=[FieldProblem(field, message)])
