"""The REST face: Google's JSON/HTTP mapping of each API, served over the same methods.

The routes are not written here: they are the HTTP rules of the official clients' REST
transports (``_get_http_options()`` of each method: verb, URI template, body field), so a
client of any language that speaks REST to Google speaks it to the emulator at the same paths.
A request becomes the very request message the gRPC face would deserialize: the body (the
whole request for ``"*"``, else the named field) and the query parameters (by JSON or proto
name, dotted for nested fields) through ``google.protobuf.json_format``, then the URI
template's variables. The answer is the response message in proto3 JSON; enums are names,
or numbers when the client asks with ``$alt=json;enum-encoding=int`` as the Python and Node
transports do. Errors have Google's REST shape,
``{"error": {"code": 404, "message": ..., "status": "NOT_FOUND", "details": []}}``, with the
HTTP status of their code (``HTTP_STATUS``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._errors import HTTP_STATUS, ApiError, invalid_argument
from .._methods import Api, MethodTable, invoke
from .._origin import from_another_site
from .._stats import Stats

__all__ = ["rest_routes"]

_VERBS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
_VARIABLE = re.compile(r"\{(?P<field>[^}=]+)(?:=(?P<template>[^}]+))?\}")
# System parameters every Google API accepts and no request message holds; "$alt" and the
# other "$"-prefixed ones are skipped by prefix.
_SYSTEM_PARAMETERS = frozenset(
    {
        "alt",
        "fields",
        "key",
        "access_token",
        "oauth_token",
        "prettyPrint",
        "quotaUser",
        "userIp",
        "callback",
        "uploadType",
        "upload_protocol",
    }
)


@dataclass(frozen=True, slots=True)
class _Rule:
    rpc: str
    verb: str
    prefix: str  # the template's first segment: "v2"
    path: re.Pattern[str]
    variables: tuple[str, ...]  # the request field each group of ``path`` fills
    body: str | None  # "*": the whole request; a field name; None: no body
    methods: MethodTable


def rest_routes(apis: Sequence[Api], stats: Stats) -> list[Route]:
    """Starlette routes serving every HTTP rule of each API's REST transport.

    A rule whose method the API lacks answers UNIMPLEMENTED, as the gRPC face does for a
    method it does not serve.
    """
    # APIs may share a client's REST transport (Cloud Tasks' methods and the long-running
    # operations of its batch methods): each rule is served by the API that has its method.
    served: dict[tuple[str, str], _Rule] = {}
    for api in apis:
        for rule in _rules(api.rest_transport, api.methods()):
            key = (rule.verb, rule.path.pattern)
            if key not in served or rule.rpc in rule.methods:
                served[key] = rule
    rules = list(served.values())
    face = _Face(rules, stats)
    # One catch-all per first path segment ("/v2", "/v1"): the rules then match the whole path,
    # custom verbs (":pause") included, which Starlette's path syntax cannot express.
    prefixes = sorted({rule.prefix for rule in rules})
    return [Route(f"/{prefix}/{{path:path}}", face.handle, methods=_VERBS) for prefix in prefixes]


def _rules(transport: type, methods: MethodTable) -> list[_Rule]:
    rules = []
    for attribute in sorted(dir(transport)):
        options = getattr(getattr(transport, attribute), "_get_http_options", None)
        if not attribute.startswith("_Base") or options is None:
            continue
        for option in options():
            path, variables = _compile(option["uri"])
            rules.append(
                _Rule(
                    attribute.removeprefix("_Base"),
                    option["method"].upper(),
                    option["uri"].split("/")[1],
                    path,
                    variables,
                    option.get("body"),
                    methods,
                )
            )
    return rules


def _compile(uri: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A URI template (``/v2/{name=projects/*/locations/*/queues/*}:pause``) -> a pattern
    of the whole path with one group per variable, and the variables' field paths."""
    pattern: list[str] = []
    variables: list[str] = []
    end = 0
    for match in _VARIABLE.finditer(uri):
        pattern.append(re.escape(uri[end : match.start()]))
        segments = (match["template"] or "*").split("/")
        pattern.append("(" + "/".join(_segment(each) for each in segments) + ")")
        variables.append(match["field"])
        end = match.end()
    pattern.append(re.escape(uri[end:]))
    return re.compile("".join(pattern)), tuple(variables)


def _segment(template: str) -> str:
    if template == "**":
        return ".+"
    return "[^/]+" if template == "*" else re.escape(template)


class _Face:
    def __init__(self, rules: list[_Rule], stats: Stats) -> None:
        self._rules = rules
        self._stats = stats

    async def handle(self, request: Request) -> Response:
        path = request.scope["path"]
        try:
            if from_another_site(request):
                raise ApiError(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"refused {request.method} {path} from a page of another site "
                    f"({request.headers['origin']}): clients send no Origin",
                )
            rule, values = self._match(request.method, path)
            entry = rule.methods.get(rule.rpc)
            if entry is None:
                raise ApiError(
                    grpc.StatusCode.UNIMPLEMENTED, f"{rule.rpc} is not emulated ({path})"
                )
            method, request_class, _ = entry
            message = request_class()
            if rule.body is not None:
                _parse_body(await request.body(), message, rule.body)
            _parse_query(request.query_params.multi_items(), message)
            for field, value in zip(rule.variables, values, strict=True):
                _set_field(message, field, value)
            # Called on the event loop, as the gRPC face calls it: the core is single-threaded.
            answer = invoke(rule.rpc, method, message, self._stats)
        except ApiError as error:
            return _error(error)
        numbers = "enum-encoding=int" in request.query_params.get("$alt", "")
        return JSONResponse(json_format.MessageToDict(answer, use_integers_for_enums=numbers))

    def _match(self, verb: str, path: str) -> tuple[_Rule, tuple[str, ...]]:
        for rule in self._rules:
            if rule.verb == verb:
                match = rule.path.fullmatch(path)
                if match is not None:
                    return rule, match.groups()
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"no method of this API at {verb} {path}")


def _parse_body(raw: bytes, message: Any, body: str) -> None:
    if not raw.strip():
        return
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}") from None
    if not isinstance(document, dict):
        raise invalid_argument("Invalid JSON payload received. The body must be a JSON object.")
    target = message if body == "*" else getattr(message, body)
    try:
        json_format.ParseDict(document, target)
    except json_format.ParseError as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}") from None


def _parse_query(items: list[tuple[str, str]], message: Any) -> None:
    """Query parameters into ``message``, by JSON or proto name: ``pageSize=5``,
    ``responseView=FULL``, ``updateMask=rateLimits,retryConfig``."""
    document: dict[str, Any] = {}
    for key, value in items:
        if key.startswith("$") or key in _SYSTEM_PARAMETERS:
            continue
        # Every query parameter of these APIs is a top-level string, number, enum or
        # well-known type (FieldMask): json_format reads each from its string, as from JSON.
        document[_field(message.DESCRIPTOR, key).name] = value
    try:
        json_format.ParseDict(document, message)
    except json_format.ParseError as exc:
        raise invalid_argument(f"Invalid query parameters. {exc}") from None


def _field(descriptor: Any, name: str) -> Any:
    field = descriptor.fields_by_name.get(name) or next(
        (each for each in descriptor.fields if each.json_name == name), None
    )
    if field is None:
        raise invalid_argument(
            f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter.'
        )
    return field


def _set_field(message: Any, path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        message = getattr(message, part)
    setattr(message, leaf, value)


def _error(error: ApiError) -> JSONResponse:
    status = HTTP_STATUS[error.code]
    return JSONResponse(
        {
            "error": {
                "code": status,
                "message": error.message,
                "status": error.code.name,
                "details": [],
            }
        },
        status_code=status,
    )
