"""Which format a body is in: by the route (`/api/v1/…` is OpenAlgo), else by fields only one
format has. A body with the fields of several is refused, naming them: the relay never guesses
what an order means."""

from __future__ import annotations

from typing import Any

from chalicelib.alerts import ParsedBody, parse_body
from chalicelib.dialects import native, openalgo, pineconnector, traderspost
from chalicelib.dialects.base import Format, Reading
from chalicelib.errors import AlertRejected, FieldProblem

_MARKERS = {Format.NATIVE: native.MARKERS, Format.OPENALGO: openalgo.MARKERS,
            Format.TRADERSPOST: traderspost.MARKERS}


class AmbiguousFormat(AlertRejected):
    """The body has fields that only different formats have."""

    error = "ambiguous_format"
    message = "the body has fields of more than one alert format; send the fields of one"

    def __init__(self, resembled: dict[Format, list[str]]):
        super().__init__(detail=[FieldProblem(name, f"is a field of {fmt.label} format")
                                 for fmt, names in resembled.items() for name in names])
        self.resembled = resembled

    def body(self) -> dict[str, Any]:
        return {**super().body(), "formats": {fmt.value: names for fmt, names in self.resembled.items()}}


def read_alert(raw: bytes, route: str | None = None) -> Reading:
    """The body read in its format, before authentication; `route` is `openalgo/<endpoint>` on
    OpenAlgo's paths, None on /webhook."""
    if route is not None:
        fmt, _, endpoint = route.partition("/")
        assert fmt == Format.OPENALGO.value and endpoint in openalgo.ENDPOINTS, route
        return openalgo.reading(_json_object(raw), endpoint)
    text = _text(raw)
    if text is not None and text[:1] not in "{[\"" and pineconnector.looks_like(text):
        return pineconnector.reading(text)
    parsed = parse_body(raw)
    resembled = {fmt: sorted(markers & parsed.fields.keys()) for fmt, markers in _MARKERS.items()
                 if parsed.fields and markers & parsed.fields.keys()}
    if len(resembled) > 1:
        return _ambiguous(parsed, resembled)
    if Format.TRADERSPOST in resembled:
        return traderspost.reading(parsed)
    if Format.OPENALGO in resembled:
        return openalgo.reading(parsed)
    return native.reading(parsed)


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None


def _json_object(raw: bytes) -> ParsedBody:
    parsed = parse_body(raw)
    text = _text(raw)
    if parsed.problem is None and text is not None and not text.startswith("{"):
        return ParsedBody(None, FieldProblem("body", "must be a JSON object (OpenAlgo's request body)"))
    return parsed


def _ambiguous(parsed: ParsedBody, resembled: dict[Format, list[str]]) -> Reading:
    fields = parsed.fields or {}
    claimed = fields.get("secret", fields.get("apikey"))

    def refuse() -> Any:
        raise AmbiguousFormat(resembled)

    return Reading(Format.NATIVE, claimed if isinstance(claimed, str) else None, parsed.problem, refuse,
                   name="ambiguous")
