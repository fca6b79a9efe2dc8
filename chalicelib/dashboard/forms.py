"""The dashboard's forms, one pydantic model per action (extra="forbid": a field the form does
not have is refused, never ignored). Bad input is a 400 naming the field, never echoing a value."""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.flatten import Scope

MAX_BODY_BYTES = 16384
_ACCOUNT = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,23}$")  # an account name (chalicelib/accounts)
_CSRF = Field(min_length=1, max_length=100)


class FormProblem(Exception):
    """A form the dashboard cannot take: its HTTP status and a message safe to show."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(_Form):
    do: Literal["sign_in"]
    admin_key: str = Field(default="", max_length=1024, repr=False)


class _Signed(_Form):
    """Every form of a signed-in session carries its CSRF token."""

    csrf: str = _CSRF


class SignOut(_Signed):
    do: Literal["sign_out"]


class SignOutEverywhere(_Signed):
    do: Literal["sign_out_everywhere"]


class OnAccount(_Signed):
    """Pause, resume, or the first step of a flatten (which only asks for confirmation)."""

    do: Literal["pause", "resume", "flatten"]
    account: str = _ACCOUNT


class FlattenConfirmed(_Signed):
    do: Literal["flatten_confirmed"]
    account: str = _ACCOUNT
    scope: Scope = Scope.RELAY


class PasteToken(_Signed):
    do: Literal["paste_token"]
    account: str = _ACCOUNT
    token: str = Field(min_length=1, max_length=4096, repr=False)


class Cancel(_Signed):
    do: Literal["cancel"]
    account: str = _ACCOUNT
    order_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


FORMS: dict[str, type[_Form]] = {name: model for model in (SignIn, SignOut, SignOutEverywhere, OnAccount,
                                                             FlattenConfirmed, PasteToken, Cancel)
                                 for name in model.model_fields["do"].annotation.__args__}  # type: ignore[union-attr]


def fields_of(body: bytes) -> dict[str, str]:
    """The urlencoded body as fields; a field given twice or a body over the limit is refused."""
    if len(body) > MAX_BODY_BYTES:
        raise FormProblem(413, f"the form is larger than {MAX_BODY_BYTES} bytes")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise FormProblem(400, "the form could not be read (UTF-8, application/x-www-form-urlencoded)") from None
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise FormProblem(400, f"field {repeated[0]!r} was given more than once")
    return {name: values[0] for name, values in parsed.items()}


def form_of(fields: dict[str, str]) -> _Form:
    """The action's model, validated; a 400 naming each bad field otherwise (values never echoed)."""
    model = FORMS.get(fields.get("do", ""))
    if model is None:
        raise FormProblem(400, f"field 'do' must be one of: {', '.join(sorted(FORMS))}")
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        said = "; ".join(f"field {'.'.join(map(str, e['loc'])) or 'form'!r}: {e['msg']}"
                         for e in error.errors(include_url=False, include_input=False))
        raise FormProblem(400, said) from None
