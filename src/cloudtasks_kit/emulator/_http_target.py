"""Checking the HTTP target of a task (``HttpRequest``) or a job (``HttpTarget``).

Both APIs describe the request to send the same way (URL, method, headers, body, an OAuth or
OIDC token) and Google validates them alike, so one function checks both, in place, with
error messages that name the caller's field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from google.cloud import tasks_v2

from ._errors import invalid_argument

__all__ = ["TargetRules", "check_http_target"]

# Cloud Tasks' and Cloud Scheduler's HttpMethod enums have the same numbers.
_Method: Any = tasks_v2.HttpMethod
_BODY_METHODS = {_Method.POST.value, _Method.PUT.value, _Method.PATCH.value}
_MAX_URL = 2083


@dataclass(frozen=True, slots=True)
class TargetRules:
    field: str  # "task.http_request" or "job.http_target", for messages
    url_attribute: str  # "url" or "uri"
    user_agent: str
    # Headers the service computes or reserves: a target's own values for them are dropped.
    dropped_headers: frozenset[str] = frozenset({"host", "content-length", "user-agent"})
    reserved_prefixes: tuple[str, ...] = ()
    # Set when a body comes with no Content-Type (Cloud Scheduler does; Cloud Tasks does not).
    default_content_type: str | None = None


def check_http_target(http: Any, rules: TargetRules) -> None:
    """Validate ``http`` and fill in what the service fills in (method, User-Agent)."""
    field = rules.field
    url = getattr(http, rules.url_attribute)
    url_field = f"{field}.{rules.url_attribute}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_argument(f"{url_field}: {url!r} is not an absolute http:// or https:// URL")
    if len(url) > _MAX_URL:
        raise invalid_argument(f"{url_field}: longer than {_MAX_URL} characters")
    if http.http_method == _Method.HTTP_METHOD_UNSPECIFIED.value:
        http.http_method = _Method.POST.value
    if http.body and http.http_method not in _BODY_METHODS:
        method = _Method(http.http_method).name
        raise invalid_argument(
            f"{field}.body: a body is allowed only with POST, PUT or PATCH, not {method}"
        )
    for header in list(http.headers):
        if not header or any(c in header for c in " \t\r\n:"):
            raise invalid_argument(f"{field}.headers: {header!r} is not a header name")
        if any(c in http.headers[header] for c in "\r\n"):
            raise invalid_argument(f"{field}.headers[{header!r}]: line break in value")
        lower = header.lower()
        if lower in rules.dropped_headers or lower.startswith(rules.reserved_prefixes):
            del http.headers[header]
    http.headers["User-Agent"] = rules.user_agent
    if (
        rules.default_content_type is not None
        and http.body
        and not any(h.lower() == "content-type" for h in http.headers)
    ):
        http.headers["Content-Type"] = rules.default_content_type
    token_kind = http.WhichOneof("authorization_header")
    if token_kind == "oauth_token":
        if not (parts.hostname or "").endswith(".googleapis.com"):
            raise invalid_argument(
                f"{field}.oauth_token: OAuth tokens are only for *.googleapis.com targets; "
                "use oidc_token"
            )
        if not http.oauth_token.service_account_email:
            raise invalid_argument(f"{field}.oauth_token.service_account_email: empty")
    elif token_kind == "oidc_token" and not http.oidc_token.service_account_email:
        raise invalid_argument(f"{field}.oidc_token.service_account_email: empty")
