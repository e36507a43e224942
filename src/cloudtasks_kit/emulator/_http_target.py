"""Checking the HTTP target of a task (``HttpRequest``) or a job (``HttpTarget``).

Both APIs describe the request to send the same way (URL, method, headers, body, an OAuth or
OIDC token) and Google validates them alike, so one function checks both, in place, with
error messages that name the caller's field. Whatever would keep the request from being sent
(a URL that does not parse, a bad port, a control character in the URL or a header, headers
over Google's size limit) is refused here, at create time: a task or job stored is one the
sender can send. Google's header rules (:func:`~cloudtasks_kit._protocol.apply_header_rules`)
are applied to what is stored, and again to each attempt.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from google.cloud import tasks_v2

from .._protocol import HeaderRules, apply_header_rules, header_problems
from ._errors import invalid_argument, shown
from ._http_attempt import encoded_headers, method_name

__all__ = ["TargetRules", "check_http_target"]

# Cloud Tasks' and Cloud Scheduler's HttpMethod enums have the same numbers.
_Method: Any = tasks_v2.HttpMethod
_METHODS = {int(method) for method in _Method} - {_Method.HTTP_METHOD_UNSPECIFIED.value}
_BODY_METHODS = {_Method.POST.value, _Method.PUT.value, _Method.PATCH.value}
_MAX_URL = 2083
# No whitespace or control character may stand in a URL (RFC 3986); CR/LF would split the
# request line.
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True, slots=True)
class TargetRules:
    field: str  # "task.http_request" or "job.http_target", for messages
    url_attribute: str  # "url" or "uri"
    headers: HeaderRules  # the service's header rules, from _protocol


def check_http_target(http: Any, rules: TargetRules) -> None:
    """Validate ``http`` and fill in what the service fills in (method, User-Agent, and the
    default Content-Type where the service sets one); drop the headers the service drops."""
    field = rules.field
    url_field = f"{field}.{rules.url_attribute}"
    url = getattr(http, rules.url_attribute)
    parsed = _check_url(url, url_field)
    if http.http_method == _Method.HTTP_METHOD_UNSPECIFIED.value:
        http.http_method = _Method.POST.value
    if http.http_method not in _METHODS:
        raise invalid_argument(f"{field}.http_method: {http.http_method} is not an HttpMethod")
    if http.body and http.http_method not in _BODY_METHODS:
        method = _Method(http.http_method).name
        raise invalid_argument(
            f"{field}.body: a body is allowed only with POST, PUT or PATCH, not {method}"
        )
    given = dict(http.headers)
    problems = header_problems(given)
    if problems:
        raise invalid_argument(f"{field}.headers: {problems[0]}")
    token_kind = http.WhichOneof("authorization_header")
    _check_token(http, token_kind, url, field)
    kept = apply_header_rules(
        given, rules.headers, body=bool(http.body), token=token_kind is not None
    )
    http.headers.clear()
    http.headers.update(kept)
    # The request as the sender will build it: anything httpx refuses is refused now.
    problem = _unsendable(method_name(http.http_method), url, parsed, kept)
    if problem is not None:
        raise invalid_argument(f"{field}: cannot be sent: {problem}")


def _check_url(url: str, field: str) -> httpx.URL:
    """The URL as the sender parses it; INVALID_ARGUMENT naming ``field`` if it cannot be sent."""
    checked = _checked_url(url)
    if isinstance(checked, str):
        raise invalid_argument(f"{field}: {checked}")
    return checked


# Tasks mostly go to a few URLs (a route's, with a few path values): parsing each once keeps
# create fast. The result is the same for the same text, so caching changes no answer.
@functools.lru_cache(maxsize=4096)
def _checked_url(url: str) -> httpx.URL | str:
    """The parsed URL, or why it cannot be sent (without the field's name)."""
    if not url:
        return "required"
    if len(url) > _MAX_URL:
        return f"longer than {_MAX_URL} characters"
    bad = _URL_FORBIDDEN.search(url)
    if bad is not None:
        return (
            f"{shown(url)} holds {shown(bad.group())}; a URL has no spaces or "
            "control characters (percent-encode them)"
        )
    bad_port = f"{shown(url)}: the port must be a number from 1 to 65535"
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:  # an unbalanced "[" of an IPv6 host, say
        return f"{shown(url)} is not a valid URL: {exc}"
    try:
        port = parts.port
    except ValueError:
        return bad_port
    if parts.scheme not in ("http", "https") or not hostname:
        return f"{shown(url)} is not an absolute http:// or https:// URL"
    if port == 0:
        return bad_port
    try:
        return httpx.URL(url)  # as the sender parses it: an invalid IDNA host, say
    except httpx.InvalidURL as exc:
        return f"{shown(url)} is not a valid URL: {exc}"


# (method, URL, header names, Content-Type) -> why httpx refuses such a request, or None.
_VERDICTS: dict[tuple[str, str, tuple[str, ...], str | None], str | None] = {}
_MAX_VERDICTS = 4096


def _unsendable(method: str, url: str, parsed: httpx.URL, headers: Mapping[str, str]) -> str | None:
    """Why httpx would not build this request, or ``None``.

    What httpx builds a request from is the method, the URL, the header names and the
    Content-Type (it looks for a multipart boundary there); every other value passes through as
    the bytes it is. So its verdict is kept per those four: most tasks are one route's, with
    other values in the same headers, and need no request built (nor headers encoded) for them.
    """
    content_type = next(
        (value for name, value in headers.items() if name.lower() == "content-type"), None
    )
    key = (method, url, tuple(headers), content_type)
    if key in _VERDICTS:
        return _VERDICTS[key]
    try:
        httpx.Request(method, parsed, headers=encoded_headers(headers))
        verdict = None
    except Exception as exc:  # whatever it is, the request cannot be sent
        verdict = f"{type(exc).__name__}: {exc}"
    if len(_VERDICTS) >= _MAX_VERDICTS:
        _VERDICTS.clear()
    _VERDICTS[key] = verdict
    return verdict


def _check_token(http: Any, token_kind: str | None, url: str, field: str) -> None:
    if token_kind == "oauth_token":
        if not (urlsplit(url).hostname or "").endswith(".googleapis.com"):
            raise invalid_argument(
                f"{field}.oauth_token: OAuth tokens are only for *.googleapis.com targets; "
                "use oidc_token"
            )
        if not http.oauth_token.service_account_email:
            raise invalid_argument(f"{field}.oauth_token.service_account_email: empty")
    elif token_kind == "oidc_token" and not http.oidc_token.service_account_email:
        raise invalid_argument(f"{field}.oidc_token.service_account_email: empty")
