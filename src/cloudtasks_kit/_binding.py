"""A route's signature plus the keywords given to ``.delay()`` -> the HTTP request of a task.

Where each parameter lives (path, query, header, cookie, body, form) and under which name is
read from FastAPI's own analysis of the endpoint (``route.dependant``), never re-derived from
the signature, so the producer cannot disagree with the worker about it. Validation goes
through the ``ModelField`` FastAPI built for each parameter when the route was declared: its
TypeAdapter exists once per route, and it is the very one the worker validates the request
with. A value that validates here but would arrive different (a ``/`` in a ``{segment}``, a
``None`` in a query string, two values for one header) is refused rather than sent.
"""

from __future__ import annotations

import enum
import functools
import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.cookies import SimpleCookie
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin
from urllib.parse import quote, urlencode

from fastapi import params
from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import SchemaSerializer, SchemaValidator
from starlette.convertors import PathConvertor

from ._errors import InvalidTaskArguments, RouteNotDelayable
from ._marks import is_worker_dependency
from ._protocol import HEADER_NAME

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fastapi._compat import ModelField
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute

__all__ = ["BoundRequest"]

# What FastAPI injects from the live request or response: a task's caller has nothing to pass.
_INJECTED = {
    "request_param_name": "Request",
    "websocket_param_name": "WebSocket",
    "http_connection_param_name": "HTTPConnection",
    "response_param_name": "Response",
    "background_tasks_param_name": "BackgroundTasks",
    "security_scopes_param_name": "SecurityScopes",
}
# Quotes ; , " \ and spaces the way Starlette's cookie parser unquotes them.
_quote_cookie = SimpleCookie().value_encode
# What ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` builds on every call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# The C encoder that JSONEncoder.encode makes on each call, made once (same arguments, without
# the check for circular references: what a serializer dumped in JSON mode is a tree).
_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # None without the C module
_C_ENCODER = (
    _make_encoder(
        None, _JSON.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    if _make_encoder is not None
    else None
)


def _json_bytes(payload: Any) -> bytes:
    if _C_ENCODER is None:
        return _JSON.encode(payload).encode()
    return "".join(_C_ENCODER(payload, 0)).encode()


class _Source(enum.StrEnum):
    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"
    BODY = "body"
    FORM = "form"


@dataclass(frozen=True, slots=True)
class BoundRequest:
    """The request a task will send; ``path`` has no mount prefix, ``body`` is ``b""`` if none."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    source: _Source
    key: str  # path placeholder, query or form key, header or cookie name, JSON key
    # Every declaration of this keyword in the dependency tree: the value must satisfy each.
    fields: tuple[ModelField, ...]
    # A model read field by field (``Annotated[Filters, Query()]``): field name -> request key.
    flat: dict[str, tuple[str, FieldInfo]] | None
    slash_ok: bool  # only a ``{name:path}`` placeholder may receive a ``/``
    # The validator and JSON-mode serializer of the one field's TypeAdapter, called directly:
    # what ModelField.validate / serialize call, without their wrappers on every .delay().
    # None when the keyword has several fields (or FastAPI keeps no adapter): the wrappers.
    validate: Callable[[Any], Any] | None = None
    dump: Callable[[Any], Any] | None = None


class RouteBinder:
    """Validates ``.delay()`` keywords against one route and encodes them as its request."""

    __slots__ = (
        "_embed",
        "_form",
        "_label",
        "_method",
        "_params",
        "_path",
        "_plain",
        "_required",
        "_required_set",
    )

    def __init__(
        self,
        *,
        label: str,
        method: str,
        path: tuple[tuple[str, str | None], ...],
        parameters: dict[str, _Param],
        embed: bool,
        form: bool,
    ) -> None:
        self._label = label
        self._method = method
        self._path = path
        self._params = parameters
        self._embed = embed
        self._form = form
        self._required = tuple(
            p.name for p in parameters.values() if any(f.field_info.is_required() for f in p.fields)
        )
        self._required_set = frozenset(self._required)
        self._plain = None if form else _plain_plan(parameters)

    @classmethod
    def for_route(cls, route: APIRoute) -> RouteBinder:
        """Work out, once per route, where every keyword goes.

        :raises RouteNotDelayable: the route has several methods, takes something FastAPI
            injects (``Request``, ``BackgroundTasks``, ...) anywhere in its dependency tree,
            takes files, or declares one keyword in two incompatible places.
        """
        methods = sorted(route.methods or ())
        label = f"{route.name} ({'|'.join(methods)} {route.path})"
        if len(methods) != 1:
            raise RouteNotDelayable(f"{label} cannot be delayed: a task sends exactly one method")
        # FastAPI reads every body parameter from the form as soon as one of them is a Form.
        form = any(isinstance(f.field_info, params.Form) for f in _all_bodies(route.dependant))
        parameters: dict[str, _Param] = {}
        for dependant in _walk(route.dependant):
            call = getattr(dependant.call, "__name__", type(dependant.call).__name__)
            for attribute, what in _INJECTED.items():
                if (injected := getattr(dependant, attribute)) is not None:
                    raise RouteNotDelayable(
                        f"{label} cannot be delayed: parameter {injected!r} of {call}() is "
                        f"typed {what}, which FastAPI injects and a task's caller cannot pass"
                    )
            for param in _params_of(dependant, route, label, form=form):
                known = parameters.setdefault(param.name, param)
                if known is param:
                    continue
                if (known.source, known.key, known.flat) != (param.source, param.key, param.flat):
                    raise RouteNotDelayable(
                        f"{label} cannot be delayed: {param.name!r} is both a {known.source} "
                        f"and a {param.source} parameter, and .delay() takes one value per name"
                    )
                parameters[param.name] = replace(known, fields=(*known.fields, *param.fields))
        parameters = {name: _compiled(param) for name, param in parameters.items()}
        path: list[tuple[str, str | None]] = []
        keyed = {p.key: p for p in parameters.values() if p.source is _Source.PATH}
        for literal, placeholder, _, _ in string.Formatter().parse(route.path_format):
            if placeholder is not None and placeholder not in keyed:
                raise RouteNotDelayable(
                    f"{label} cannot be delayed: no parameter supplies {{{placeholder}}}"
                )
            path.append((literal, placeholder))
        # FastAPI's rule (``_should_embed_body_fields``): several bodies, or Body(embed=True),
        # are sent as one JSON object keyed by name; a lone body is the whole payload.
        bodies = [f for p in parameters.values() if p.source is _Source.BODY for f in p.fields]
        names = {f.name for f in bodies}
        embed = len(names) > 1 or any(getattr(f.field_info, "embed", False) for f in bodies)
        return cls(
            label=label,
            method=methods[0],
            path=tuple(path),
            parameters=parameters,
            embed=embed,
            form=form,
        )

    def bind(self, *args: object, **kwargs: object) -> BoundRequest:
        """Validate keywords against the route and encode them as the task's HTTP request.

        An argument left out is not sent, so the worker applies the route's default exactly as
        for any other request; sending the default instead would pin default factories at
        enqueue time and would need every default to survive the wire (``None`` cannot).

        :raises InvalidTaskArguments: naming every positional, unknown, missing or invalid
            argument, or one that would not reach the worker as it was given.
        """
        if not args and self._plain is not None:
            bound = self._bind_plain(self._plain, kwargs)
            if bound is not None:
                return bound
        errors: list[str] = []
        if args and self._params:
            hint = ", ".join(f"{name}=..." for name in list(self._params)[: len(args)])
            errors.append(f"positional arguments are not accepted; pass {hint} as keywords")
        elif args:
            errors.append("positional arguments are not accepted; this route takes none")
        # (Set operations on the key views first: the lists are built only when something is off.)
        if not kwargs.keys() <= self._params.keys():
            errors += [f"unexpected keyword {n!r}" for n in kwargs if n not in self._params]
        if not kwargs.keys() >= self._required_set:
            errors += [
                f"missing required argument {n!r}" for n in self._required if n not in kwargs
            ]
        path: dict[str, str] = {}
        query: list[tuple[str, str]] = []
        form: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        cookies: list[str] = []
        body: dict[str, Any] = {}
        for name, value in kwargs.items():
            if (param := self._params.get(name)) is None:
                continue
            # The adapter's own validator; on a problem, the fields' validate() words it. (A try
            # costs nothing when nothing is raised; contextlib.suppress does, on each call.)
            if param.validate is None:
                validated = _INVALID
            else:
                try:
                    validated = param.validate(value)
                except ValidationError:
                    validated = _INVALID
            if validated is _INVALID:
                validated, problems = _validated(param, name, value)
                if problems:
                    errors += [".".join(map(str, p["loc"])) + ": " + p["msg"] for p in problems]
                    continue
            if param.source is _Source.BODY:
                body[param.key] = _dumped(param, validated)
                continue
            pairs = _pairs_of(param, validated, errors)
            if param.source is _Source.PATH:
                text = pairs[0][1] if len(pairs) == 1 else ""
                if text in ("", ".", "..") or ("/" in text and not param.slash_ok):
                    errors.append(f"{name}: {text!r} cannot be a path segment of this route")
                path[param.key] = text if _UNRESERVED.fullmatch(text) else quote(text, safe="")
            elif param.source in (_Source.QUERY, _Source.FORM):
                (query if param.source is _Source.QUERY else form).extend(pairs)
            elif param.source is _Source.HEADER:
                for key, text in ((k.lower(), t) for k, t in pairs):
                    if not HEADER_NAME.fullmatch(key):
                        errors.append(f"{name}: {key!r} cannot be the name of a header")
                    elif key in headers:
                        errors.append(f"{name}: a task sends each header once; got several values")
                    # Clients encode headers as ASCII and servers strip surrounding spaces.
                    elif not (text.isascii() and text.isprintable() and text == text.strip()):
                        errors.append(
                            f"{name}: header value {text!r} would arrive changed or not at all"
                        )
                    headers[key] = text
            else:
                for key, text in pairs:
                    if not (quoted := _quote_cookie(text)[1]).isascii():
                        errors.append(f"{name}: cookie value {text!r} cannot be sent")
                    cookies.append(f"{key}={quoted}")
        if errors:  # a dependency used twice reports its problems twice
            raise InvalidTaskArguments(self._label, list(dict.fromkeys(errors)))
        url = "".join(literal + (path[key] if key else "") for literal, key in self._path)
        if query:
            url += "?" + _query_string(query)
        if cookies:
            headers["cookie"] = "; ".join(cookies)
        content = b""
        if self._form:
            headers["content-type"] = "application/x-www-form-urlencoded"
            content = urlencode(form).encode()
        elif body:
            headers["content-type"] = "application/json"
            payload = body if self._embed else next(iter(body.values()))
            content = _json_bytes(payload)
        return BoundRequest(self._method, url, headers, content)

    def _bind_plain(
        self, plan: dict[str, _PlainParam], kwargs: dict[str, object]
    ) -> BoundRequest | None:
        """:meth:`bind` for calls whose every value is valid and plain (a string, number or
        boolean outside the body): the same request, in one tight pass. ``None`` as soon as
        anything is not (an unknown or missing keyword, an invalid value, a list, a header
        that would arrive changed): :meth:`bind` then does it all again and words the problem.
        """
        if not (kwargs.keys() <= plan.keys() and kwargs.keys() >= self._required_set):
            return None
        path: dict[str, str] = {}
        query: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        body: dict[str, Any] = {}
        try:
            for name, value in kwargs.items():
                source, key, validate, dump, slash_ok = plan[name]
                item = dump(validate(value))
                if source is _Source.BODY:
                    body[key] = item
                    continue
                kind = type(item)
                if kind is bool:
                    text = "true" if item else "false"
                elif kind is str or kind is int or kind is float:
                    text = str(item)
                else:
                    return None
                if source is _Source.PATH:
                    if text in ("", ".", "..") or ("/" in text and not slash_ok):
                        return None
                    path[key] = text if _UNRESERVED.fullmatch(text) else quote(text, safe="")
                elif source is _Source.QUERY:
                    query.append((key, text))
                elif key in headers or not (
                    text.isascii() and text.isprintable() and text == text.strip()
                ):
                    return None
                else:
                    headers[key] = text
        except ValidationError:
            return None
        url = "".join(literal + (path[key] if key else "") for literal, key in self._path)
        if query:
            url += "?" + _query_string(query)
        content = b""
        if body:
            headers["content-type"] = "application/json"
            content = _json_bytes(body if self._embed else next(iter(body.values())))
        return BoundRequest(self._method, url, headers, content)


#: What :meth:`RouteBinder._bind_plain` needs of a keyword: where it goes, its request key
#: (lower-case for a header), its field's validator and serializer, whether a path value may
#: hold a ``/``.
_PlainParam = tuple[_Source, str, Callable[[Any], Any], Callable[[Any], Any], bool]


def _plain_plan(parameters: dict[str, _Param]) -> dict[str, _PlainParam] | None:
    """The plain pass of a route whose keywords all allow it: one field each, with its
    adapter at hand, a path, query, header or JSON body value (no cookie, no model read field
    by field), header names valid and distinct. ``None`` otherwise: :meth:`bind` only."""
    plan: dict[str, _PlainParam] = {}
    header_keys: set[str] = set()
    for name, param in parameters.items():
        source = param.source
        if param.validate is None or param.dump is None or param.flat is not None:
            return None
        if source not in (_Source.PATH, _Source.QUERY, _Source.HEADER, _Source.BODY):
            return None
        key = param.key
        if source is _Source.HEADER:
            key = key.lower()
            if not HEADER_NAME.fullmatch(key) or key in header_keys:
                return None
            header_keys.add(key)
        plan[name] = (source, key, param.validate, param.dump, param.slash_ok)
    return plan


# Characters quote() and quote_plus() leave as they are: a value of only these is its own
# encoding, and the common one (ids, numbers, booleans) skips the encoder.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
# A value no validator returns: "not validated yet".
_INVALID: Any = object()


def _compiled(param: _Param) -> _Param:
    """``param`` with its field's validator and serializer at hand (one field only)."""
    if len(param.fields) != 1:
        return param
    adapter = getattr(param.fields[0], "_type_adapter", None)  # FastAPI's, private
    validator = getattr(adapter, "validator", None)
    serializer = getattr(adapter, "serializer", None)
    if not isinstance(validator, SchemaValidator) or not isinstance(serializer, SchemaSerializer):
        return param
    # As ModelField.validate and .serialize call the adapter: from_attributes, JSON mode, by
    # alias, every other option at its default.
    return replace(
        param,
        validate=functools.partial(validator.validate_python, from_attributes=True),
        dump=functools.partial(serializer.to_python, mode="json", by_alias=True),
    )


def _validated(param: _Param, name: str, value: object) -> tuple[Any, list[dict[str, Any]]]:
    """The value validated by every field of ``param``, or the problems FastAPI would report."""
    validated, found = param.fields[0].validate(value, {}, loc=(name,))
    # FastAPI up to 0.128.0 returns None, not [], when a value is valid.
    problems = list(found or ())
    for field in param.fields[1:]:
        problems += field.validate(value, {}, loc=(name,))[1] or ()
    return validated, problems


def _dumped(param: _Param, validated: Any) -> Any:
    return param.dump(validated) if param.dump is not None else param.fields[0].serialize(validated)


def _query_string(pairs: list[tuple[str, str]]) -> str:
    """``urlencode(pairs)``, without the encoder for the keys and values that need none."""
    if all(_UNRESERVED.fullmatch(key) and _UNRESERVED.fullmatch(text) for key, text in pairs):
        return "&".join(f"{key}={text}" for key, text in pairs)
    return urlencode(pairs)


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        if not is_worker_dependency(sub.call):  # resolved by the worker: see _marks
            yield from _walk(sub)


def _params_of(
    dependant: Dependant, route: APIRoute, label: str, *, form: bool
) -> Iterator[_Param]:
    convertors = route.param_convertors
    for field in dependant.path_params:
        key = _request_key(field.field_info, field.name)
        slash_ok = isinstance(convertors.get(key), PathConvertor)
        yield _Param(field.name, _Source.PATH, key, (field,), None, slash_ok)
    for source, fields in (
        (_Source.QUERY, dependant.query_params),
        (_Source.HEADER, dependant.header_params),
        (_Source.COOKIE, dependant.cookie_params),
    ):
        for field in fields:
            key = _request_key(field.field_info, field.name)
            yield _Param(field.name, source, key, (field,), _flat_keys(field, source), False)
    for field in dependant.body_params:
        if isinstance(field.field_info, params.File):
            raise RouteNotDelayable(
                f"{label} cannot be delayed: {field.name!r} is a file upload, which a task "
                "(a single request body of at most 1 MB, no multipart) does not carry"
            )
        source = _Source.FORM if form else _Source.BODY
        key = _request_key(field.field_info, field.name)
        yield _Param(field.name, source, key, (field,), _flat_keys(field, source), False)


def _all_bodies(dependant: Dependant) -> Iterator[ModelField]:
    for each in _walk(dependant):
        yield from each.body_params


def _request_key(info: FieldInfo, name: str) -> str:
    """The name FastAPI reads a value under: first validation alias, else alias, else name."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return alias if isinstance(alias, str) and alias else info.alias or name


def _flat_keys(field: ModelField, source: _Source) -> dict[str, tuple[str, FieldInfo]] | None:
    """For a model FastAPI reads field by field, each field's request key and info; else None."""
    info = field.field_info
    # (FastAPI's Form sets no ``embed``: a model in a form is read field by field, like a query.)
    if source is _Source.BODY:
        return None
    model = info.annotation
    if get_origin(model) in (Union, UnionType):
        choices = [arg for arg in get_args(model) if arg is not type(None)]
        model = choices[0] if len(choices) == 1 else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    convert = source is _Source.HEADER and getattr(info, "convert_underscores", True)
    keys: dict[str, tuple[str, FieldInfo]] = {}
    for name, sub in model.model_fields.items():
        key = _request_key(sub, name)
        if (
            source is _Source.HEADER
            and getattr(sub, "convert_underscores", convert)
            and key == name
            and not isinstance(sub.validation_alias, AliasChoices)
        ):
            key = key.replace("_", "-")
        keys[name] = (key, sub)
    return keys


def _pairs_of(param: _Param, validated: Any, errors: list[str]) -> list[tuple[str, str]]:
    """:func:`_pairs` as a list, computed directly for the common case: one plain string,
    number or boolean (what most path, query and header parameters are)."""
    if param.flat is None and param.source is not _Source.FORM:
        item = _dumped(param, validated)
        kind = type(item)
        if kind is bool:
            return [(param.key, "true" if item else "false")]
        if kind is str or kind is int or kind is float:
            return [(param.key, str(item))]
    return list(_pairs(param, validated, errors))


def _pairs(param: _Param, validated: Any, errors: list[str]) -> Iterator[tuple[str, str]]:
    """(key, text) pairs for a non-JSON value, refusing values the worker would read as absent."""
    info = param.fields[0].field_info
    entries: list[tuple[str, str, FieldInfo | None, Any, Any]] = []
    if param.flat is None:
        entries.append(
            (param.name, param.key, info, validated, param.fields[0].serialize(validated))
        )
    elif (dumped := param.fields[0].serialize(validated, by_alias=False)) is None:
        entries.append((param.name, param.key, info, None, None))
    else:
        for name, item in dumped.items():
            key, sub = param.flat.get(name, (name, None))  # extra="allow" keys go as they are
            entries.append((f"{param.name}.{name}", key, sub, getattr(validated, name), item))
    for label, key, field_info, value, item in entries:
        if (texts := _texts(item)) is None:
            errors.append(f"{label}: {item!r} cannot be sent as a {param.source} parameter")
        # A form field sent as "" reads as absent; a list holding "" does not.
        elif texts and (param.source is not _Source.FORM or texts != [""] or type(item) is list):
            yield from ((key, text) for text in texts)
        elif field_info is None or field_info.is_required():
            errors.append(f"{label}: {value!r} would reach the worker as absent, but is required")
        elif (default := field_info.get_default(call_default_factory=True)) != value:
            errors.append(
                f"{label}: {value!r} would reach the worker as absent and become {default!r}"
            )


def _texts(item: Any) -> list[str] | None:
    """The strings FastAPI parses back into ``item``; None if it has no such form."""
    texts: list[str] = []
    for each in item if isinstance(item, list) else [] if item is None else [item]:
        if isinstance(each, bool):
            texts.append("true" if each else "false")
        elif isinstance(each, str | int | float):
            texts.append(str(each))
        else:
            return None
    return texts
