"""One HTTP attempt of a task or a job: send, wait at most the deadline, classify the answer."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from google.cloud import tasks_v2

from .._protocol import HOP_BY_HOP_HEADERS

__all__ = [
    "HttpOutcome",
    "encoded_headers",
    "method_name",
    "new_http_client",
    "rpc_code_for_http",
    "send_http",
]

log = logging.getLogger("cloudtasks_kit.emulator.dispatch")

# What the last attempt is recorded as when no response came back. Google documents no value
# for these cases; gateway-style codes make them read naturally in X-...-PreviousResponse.
NO_RESPONSE_DEADLINE = 504
NO_RESPONSE_UNREACHABLE = 503
# The attempt could not be made at all (an error inside the emulator): a failed attempt too.
NO_RESPONSE_ERROR = 500
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


def encoded_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as the sender puts them on the wire: names in ASCII (tokens, checked at create
    time), values in UTF-8, as Google sends what a caller stored.

    Spaces and tabs around a value are not part of it in HTTP (RFC 9110, 5.5), and the sender
    refuses to send them: dropped. The hop-by-hop headers (RFC 9110, 7.6.1) describe one
    connection, which is the sender's, as is the body's framing (the service computes
    Content-Length): a caller's are not sent.
    """
    return [
        (name.encode("ascii"), value.strip(" \t").encode())
        for name, value in headers.items()
        if name.lower() not in HOP_BY_HOP_HEADERS
    ]


async def send_http(
    client: httpx.AsyncClient,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    deadline: float,
) -> HttpOutcome:
    """Send one attempt. Never raises (but for cancellation): every way it can end is an
    :class:`HttpOutcome`, so the caller's retry policy always decides what comes next."""
    started = time.perf_counter()
    try:
        # The deadline bounds the whole exchange; httpx's own timeouts are per read/write.
        async with asyncio.timeout(deadline):
            response = await client.request(
                method, url, headers=encoded_headers(headers), content=body or None
            )
    except TimeoutError:
        return HttpOutcome(
            NO_RESPONSE_DEADLINE, False, time.perf_counter() - started, error="deadline exceeded"
        )
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        # Refused connections, resets and garbage instead of HTTP all cost one retry.
        return HttpOutcome(
            NO_RESPONSE_UNREACHABLE,
            False,
            time.perf_counter() - started,
            error=f"{type(exc).__name__}: {exc}",
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        # Nothing a target does should get here: a bug, logged with its traceback, and still
        # one failed attempt, so the task or job follows its retry policy.
        log.exception("sending %s %s failed inside the emulator", method, url)
        return HttpOutcome(
            NO_RESPONSE_ERROR,
            False,
            time.perf_counter() - started,
            error=f"emulator error: {type(exc).__name__}: {exc}",
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
        seconds = float(value)
    except ValueError:
        pass
    else:
        # "NaN" and "inf" are not a delay a retry can wait for.
        return max(0.0, seconds) if math.isfinite(seconds) else None
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
