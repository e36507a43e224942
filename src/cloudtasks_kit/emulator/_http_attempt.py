"""One HTTP attempt of a task or a job: send, wait at most the deadline, classify the answer."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from google.cloud import tasks_v2

__all__ = ["HttpOutcome", "method_name", "new_http_client", "rpc_code_for_http", "send_http"]

# What the last attempt is recorded as when no response came back. Google documents no value
# for these cases; gateway-style codes make them read naturally in X-...-PreviousResponse.
NO_RESPONSE_DEADLINE = 504
NO_RESPONSE_UNREACHABLE = 503
# How much of a response body an attempt keeps: enough to read an error message.
EXCERPT_BYTES = 500
# Cloud Tasks' and Cloud Scheduler's HttpMethod enums have the same numbers and names.
_HttpMethod: Any = tasks_v2.HttpMethod  # an IntEnum at run time; typed as int
_METHODS: dict[int, str] = {int(method): method.name for method in _HttpMethod}


@dataclass(frozen=True, slots=True)
class HttpOutcome:
    status: int
    responded: bool
    latency: float
    retry_after: float | None = None
    error: str | None = None
    #: The start of the response body (for the console's attempt history).
    excerpt: str = ""

    @property
    def succeeded(self) -> bool:
        return self.responded and 200 <= self.status <= 299

    @property
    def status_text(self) -> str | None:
        """The status for a log line: the HTTP code, or why no response came."""
        return str(self.status) if self.responded else self.error


def new_http_client() -> httpx.AsyncClient:
    # trust_env=False: a proxy set in the environment must not swallow loopback dispatches.
    return httpx.AsyncClient(
        timeout=None,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=512),
    )


def method_name(http_method: int) -> str:
    """The HTTP method of a task's ``HttpRequest`` or a job's ``HttpTarget``."""
    return _METHODS.get(http_method, "POST")


async def send_http(
    client: httpx.AsyncClient,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    deadline: float,
) -> HttpOutcome:
    started = time.perf_counter()
    try:
        # The deadline bounds the whole exchange; httpx's own timeouts are per read/write.
        async with asyncio.timeout(deadline):
            response = await client.request(method, url, headers=headers, content=body or None)
    except TimeoutError:
        return HttpOutcome(
            NO_RESPONSE_DEADLINE, False, time.perf_counter() - started, error="deadline exceeded"
        )
    except (httpx.HTTPError, OSError, ValueError) as exc:
        # Refused connections, resets and garbage instead of HTTP all cost one retry.
        return HttpOutcome(
            NO_RESPONSE_UNREACHABLE,
            False,
            time.perf_counter() - started,
            error=f"{type(exc).__name__}: {exc}",
        )
    return HttpOutcome(
        response.status_code,
        True,
        time.perf_counter() - started,
        retry_after=_retry_after(response),
        excerpt=response.content[:EXCERPT_BYTES].decode("utf-8", "replace"),
    )


def _retry_after(response: httpx.Response) -> float | None:
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_RPC_CODES = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND
    409: 10,  # ABORTED
    429: 8,  # RESOURCE_EXHAUSTED
    499: 1,  # CANCELLED
    501: 12,  # UNIMPLEMENTED
    503: 14,  # UNAVAILABLE
    504: 4,  # DEADLINE_EXCEEDED
}


def rpc_code_for_http(status: int) -> int:
    """The google.rpc.Code an attempt's HTTP status is reported as (the mapping Google uses)."""
    if 200 <= status <= 299:
        return 0
    if status in _RPC_CODES:
        return _RPC_CODES[status]
    return 9 if 400 <= status <= 499 else 13  # FAILED_PRECONDITION / INTERNAL
