"""Validate request bodies against the vendored INDstocks OpenAPI 3.0 spec.

INDstocks answers a body that does not conform to its published schema with 400
InputException. The simulator and the tests use this module so that "conforms" means exactly
what the spec says, checked by a real OpenAPI validator rather than by hand-written field rules.
Every schema is validated through a `$ref` into the whole spec document, so references between
schemas (including the one into `#/components/schemas/OrderDetails/properties/data`) resolve.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).with_name("indstocks-openapi.yaml")
_SPEC_URI = "urn:indstocks-openapi"


@cache
def spec() -> dict[str, Any]:
    """The parsed spec, read once per process."""
    with SPEC_PATH.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@cache
def _registry() -> Registry:
    # OAS 3.0 schemas are a draft-4 dialect; the spec document is the one resource.
    resource: Resource = Resource(contents=spec(), specification=DRAFT4)
    return Registry().with_resource(_SPEC_URI, resource)


@cache
def _validator(pointer: str) -> OAS30Validator:
    """A validator for the schema at a JSON pointer into the spec (e.g. `/components/schemas/X`)."""
    return OAS30Validator(
        {"$ref": f"{_SPEC_URI}#{pointer}"}, registry=_registry(), format_checker=oas30_format_checker
    )


def _pointer_token(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _errors_at(pointer: str, body: Any) -> list[str]:
    errors = sorted(_validator(pointer).iter_errors(body), key=lambda error: [str(p) for p in error.absolute_path])
    return [f"{'.'.join(str(p) for p in error.absolute_path) or 'body'}: {error.message}" for error in errors]


def schema_errors(schema_name: str, body: Any) -> list[str]:
    """Messages for every way `body` breaks `#/components/schemas/<schema_name>`; empty if valid."""
    if schema_name not in spec()["components"]["schemas"]:
        raise KeyError(f"no schema named {schema_name!r} in the INDstocks spec")
    return _errors_at(f"/components/schemas/{_pointer_token(schema_name)}", body)


def _request_body_pointer(method: str, path: str) -> str | None:
    operation = spec()["paths"].get(path, {}).get(method.lower(), {})
    if "schema" not in operation.get("requestBody", {}).get("content", {}).get("application/json", {}):
        return None
    return "/" + "/".join(
        _pointer_token(part)
        for part in ("paths", path, method.lower(), "requestBody", "content", "application/json", "schema")
    )


def request_body_schema(method: str, path: str) -> dict[str, Any] | None:
    """The operation's application/json request-body schema, `$ref`s at its top resolved; None if it has none."""
    pointer = _request_body_pointer(method, path)
    if pointer is None:
        return None
    resolver = _registry().resolver(base_uri=_SPEC_URI)
    schema = resolver.lookup(f"#{pointer}").contents
    while "$ref" in schema:
        schema = resolver.lookup(schema["$ref"]).contents
    return schema


def request_errors(method: str, path: str, body: Any) -> list[str]:
    """Messages for every way `body` breaks the request-body schema of `method path`; empty if valid."""
    pointer = _request_body_pointer(method, path)
    if pointer is None:
        raise KeyError(f"{method.upper()} {path} has no JSON request body in the INDstocks spec")
    return _errors_at(pointer, body)


def _operation(method: str, path: str) -> dict[str, Any]:
    operation = spec()["paths"].get(path, {}).get(method.lower())
    if operation is None:
        raise KeyError(f"no operation {method.upper()} {path} in the INDstocks spec")
    return operation


def response_errors(method: str, path: str, status: int, body: Any) -> list[str]:
    """Messages for every way `body` breaks the application/json schema the spec documents for
    `method path` answering `status`; KeyError if the spec documents none for that status."""
    operation = _operation(method, path)
    response = operation.get("responses", {}).get(str(status), {})
    if "schema" not in response.get("content", {}).get("application/json", {}):
        raise KeyError(f"{method.upper()} {path} documents no JSON response for HTTP {status}")
    pointer = "/" + "/".join(
        _pointer_token(part)
        for part in ("paths", path, method.lower(), "responses", str(status), "content", "application/json", "schema")
    )
    return _errors_at(pointer, body)


def _coerced(value: str, schema: dict[str, Any]) -> Any:
    """A query parameter arrives as text: read it as the number its schema asks for, if it is one."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    return value


def query_errors(method: str, path: str, query: dict[str, str]) -> list[str]:
    """Messages for every query parameter of `method path` that is missing while required, or
    whose value breaks its schema (an enum's case included); empty if the query conforms."""
    resolver = _registry().resolver(base_uri=_SPEC_URI)
    errors = []
    base = ("paths", path, method.lower(), "parameters")
    for index, parameter in enumerate(_operation(method, path).get("parameters", [])):
        pointer = "/" + "/".join(_pointer_token(part) for part in (*base, str(index)))
        while "$ref" in parameter:
            pointer = parameter["$ref"].lstrip("#")
            parameter = resolver.lookup(parameter["$ref"]).contents
        if parameter.get("in") != "query":
            continue
        name = parameter["name"]
        if name not in query:
            if parameter.get("required"):
                errors.append(f"{name}: a required query parameter is missing")
            continue
        value = _coerced(query[name], parameter.get("schema", {}))
        errors += [f"{name}: {error.message}" for error in _validator(pointer + "/schema").iter_errors(value)]
    return errors
