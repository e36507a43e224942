"""Dead letters: a task whose last attempt fails on the worker is parked, not lost.

Cloud Tasks has no dead-letter queue: once a task has used its attempts it is deleted, payload
and all. When a queue's settings name a ``dead_letter`` queue, :class:`DeadLetterMiddleware`
(installed by ``install_task_handlers``) watches each attempt the settings make the last
(:attr:`TaskContext.is_last_attempt`; every other request passes untouched). If that attempt
fails (an unhandled exception, a 5xx answer, ``RetryLater``), it:

1. checks the caller's OIDC token as ``verify_task_caller`` does (unless ``auth.enabled`` is
   off): a request that merely claims to be a last attempt is neither reported nor parked,
   since a replay would turn it into a signed task;
2. calls the ``on_exhausted`` hook, if given, with the context and the :class:`TaskFailure`
   (its errors are logged; a hook cannot lose a task);
3. reads both queues: the dead-letter queue must be paused (a copy in a running queue would be
   dispatched at once), and the task's queue must really give the task up after this attempt
   (``max_attempts`` reached, no ``max_retry_duration``), so settings that differ from the
   queue never take away a task Cloud Tasks would still retry;
4. creates a copy of the request in the dead-letter queue (URL, method, headers without what
   the attempt added, body) with the ``X-CloudTasksKit-DeadLetter-*`` headers, named after the
   task, its ETA and the attempt: a second delivery of the same attempt parks nothing twice;
5. answers 200, so Cloud Tasks stops.

If step 1, 3 or 4 fails, the original answer goes out (the 5xx, or the exception to the server's
500): Cloud Tasks still has the task until its own limit. The RPCs run on the container's sync
client in a thread: the event loop is not blocked, and the client is not tied to one loop (the
async client's channel belongs to the loop that made it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from google.api_core import exceptions
from google.cloud import tasks_v2
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._active import active_container
from .._errors import ContainerNotWired
from .._protocol import (
    ATTEMPT_ADDED_HEADERS,
    ATTEMPT_ADDED_PREFIXES,
    DEAD_LETTER_ATTEMPTS,
    DEAD_LETTER_QUEUE,
    DEAD_LETTER_REASON,
    DEAD_LETTER_STATUS,
    DEAD_LETTER_TASK,
    HOP_BY_HOP_HEADERS,
    QUEUE_NAME,
    TASK_ETA,
)
from ..settings import KitSettings
from ._auth import task_url
from ._context import InvalidTaskHeaders, TaskContext, configured_queue

__all__ = ["ExhaustedHook", "TaskFailure"]

log = logging.getLogger("cloudtasks_kit.worker")

#: Where the ``RetryLater`` handler leaves the exception for the middleware (request scope).
ERROR_SCOPE_KEY = "cloudtasks_kit.error"
# Added on the way from Cloud Tasks to the app (hop-by-hop, proxies, Google's front end), not
# part of the task; a replay gets its own.
_TRANSPORT_HEADERS = HOP_BY_HOP_HEADERS | {"via", "forwarded", "x-cloud-trace-context"}
_TRANSPORT_PREFIXES = ("x-forwarded-",)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_METHODS = {m.name: m for m in tasks_v2.HttpMethod}  # type: ignore[attr-defined]
# Headers must stay well under Cloud Tasks' 80 KB; a reason is for people, one line is enough.
_REASON_LIMIT = 1000
_PAUSED = tasks_v2.Queue.State.PAUSED
_QUEUE_HEADER = QUEUE_NAME.lower().encode("latin-1")  # ASGI header names are lower-case


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """How the last attempt of a task failed, as the ``on_exhausted`` hook gets it."""

    #: What the worker answered: the handler's 5xx, or 500 for an unhandled exception.
    status: int
    #: One line: the exception (``RuntimeError: boom``) or the answer's ``detail``.
    reason: str
    #: The exception, when one was raised (``RetryLater`` included).
    error: BaseException | None = None


#: ``on_exhausted(context, failure)``: a plain function (run in a thread) or a coroutine.
ExhaustedHook = Callable[[TaskContext, TaskFailure], Awaitable[None] | None]


class _NotParked(Exception):
    """Why a task was not parked; the original answer goes out."""


@dataclass(frozen=True, slots=True)
class _Watched:
    """A last attempt, and what the middleware needs if it fails."""

    context: TaskContext
    container: Any
    settings: KitSettings
    queue_key: str
    dead_letter: str | None
    headers: list[tuple[str, str]]


@dataclass
class _HeldResponse:
    """A 5xx answer kept back until the middleware knows whether it parked the task."""

    start: Message | None = None
    messages: list[Message] = field(default_factory=list)
    forwarded: bool = False

    def hold(self, message: Message) -> bool:
        if message["type"] == "http.response.start" and not self.forwarded:
            if int(message["status"]) >= 500:
                self.start = message
                return True
            self.forwarded = True
            return False
        if self.start is not None:
            self.messages.append(message)
            return True
        return False

    def reason(self) -> str:
        status = int(self.start["status"]) if self.start is not None else 500
        body = b"".join(m.get("body", b"") for m in self.messages if "body" in m)
        detail: object = body.decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):  # not JSON, or not an object
            detail = json.loads(body).get("detail", detail)
        return _one_line(f"HTTP {status}: {detail}" if detail else f"HTTP {status}")

    async def release(self, send: Send) -> None:
        assert self.start is not None
        await send(self.start)
        for message in self.messages:
            await send(message)


class DeadLetterMiddleware:
    """ASGI middleware: park a task whose last attempt failed (see the module's docstring).

    Installed by ``install_task_handlers(app, on_exhausted=...)``.

    :param on_exhausted: called with the :class:`TaskContext` and the :class:`TaskFailure` when
        a last attempt fails, whether or not the queue has a dead-letter queue.
    """

    def __init__(self, app: ASGIApp, *, on_exhausted: ExhaustedHook | None = None) -> None:
        self.app = app
        self.on_exhausted = on_exhausted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watched = self._watch(scope) if scope["type"] == "http" else None
        if watched is None:
            await self.app(scope, receive, send)
            return
        # The copy needs the whole body, which the handler may never read.
        body, after_body = await _read_body(receive)
        pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
        if after_body is not None:
            pending.append(after_body)

        async def replay() -> Message:
            return pending.pop(0) if pending else await receive()

        held = _HeldResponse()

        async def send_or_hold(message: Message) -> None:
            if not held.hold(message):
                await send(message)

        try:
            await self.app(scope, replay, send_or_hold)
        except Exception as exc:
            if held.forwarded:
                raise
            failure = TaskFailure(500, _one_line(f"{type(exc).__name__}: {exc}"), exc)
            if not await self._exhausted(scope, watched, body, failure, send):
                raise
            return
        if held.start is None:
            return
        error = scope.get(ERROR_SCOPE_KEY)
        failure = TaskFailure(
            int(held.start["status"]),
            held.reason(),
            error if isinstance(error, BaseException) else None,
        )
        if not await self._exhausted(scope, watched, body, failure, send):
            await held.release(send)

    def _watch(self, scope: Scope) -> _Watched | None:
        """The request, if it is a last attempt whose failure this middleware acts on."""
        raw = scope["headers"]
        if not any(name == _QUEUE_HEADER for name, _ in raw):
            return None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
        lookup = dict(headers)
        try:
            context = TaskContext.from_headers(lookup)
            container = active_container(scope.get("app"), what="dead letters")
        except (InvalidTaskHeaders, ContainerNotWired):
            return None  # malformed headers are task_context's 400; no container, no settings
        settings: KitSettings = container.settings()
        context = context.with_settings(settings)
        found = configured_queue(settings, context.queue_name)
        if not context.is_last_attempt or found is None:
            return None
        key, queue = found
        if queue.dead_letter is None and self.on_exhausted is None:
            return None
        return _Watched(context, container, settings, key, queue.dead_letter, headers)

    async def _exhausted(
        self, scope: Scope, watched: _Watched, body: bytes, failure: TaskFailure, send: Send
    ) -> bool:
        """Verify the caller, call the hook, park; ``True`` when parked and answered 200."""
        what = _describe(watched.context)
        try:
            await _verify_caller(scope, watched)
        except _NotParked as exc:
            log.error(
                "%s failed as a last attempt, but %s; answering %d", what, exc, failure.status
            )
            return False
        if self.on_exhausted is not None:
            await _call_hook(self.on_exhausted, watched.context, failure, what)
        if watched.dead_letter is None:
            return False
        try:
            name = await asyncio.to_thread(_park, watched, scope, body, failure)
        except Exception as exc:
            log.error(
                "could not park %s in its dead-letter queue (%s); answering %d, so Cloud Tasks "
                "keeps the task until its own limit",
                what,
                exc if isinstance(exc, _NotParked) else f"{type(exc).__name__}: {exc}",
                failure.status,
            )
            return False
        # An unhandled exception is not re-raised once parked: its traceback is logged here.
        unhandled = failure.error is not None and not isinstance(failure.error, HTTPException)
        log.warning(
            "parked %s as dead letter %s: %s",
            what,
            name,
            failure.reason,
            exc_info=failure.error if unhandled else None,
        )
        response = JSONResponse({"detail": f"parked as dead letter {name}"}, status_code=200)
        await response(scope, _no_receive, send)
        return True


async def _call_hook(
    hook: ExhaustedHook, context: TaskContext, failure: TaskFailure, what: str
) -> None:
    try:
        if inspect.iscoroutinefunction(hook):
            await hook(context, failure)
        else:
            # A plain function may block (a log shipper, an HTTP alert): not on the event loop.
            result = await asyncio.to_thread(hook, context, failure)
            if inspect.isawaitable(result):
                await result
    except Exception:
        log.exception("the on_exhausted hook failed for %s", what)


async def _verify_caller(scope: Scope, watched: _Watched) -> None:
    if not watched.settings.auth.enabled:
        return
    verifier = watched.container.task_caller_verifier()
    try:
        await verifier(Request(scope))
    except HTTPException as exc:
        raise _NotParked(f"the caller is not verified: {exc.status_code} {exc.detail}") from None


def _park(watched: _Watched, scope: Scope, body: bytes, failure: TaskFailure) -> str:
    """Create the copy in the dead-letter queue (blocking: runs in a thread); its name."""
    settings, context = watched.settings, watched.context
    assert watched.dead_letter is not None
    timeout = settings.task_create_timeout
    client = watched.container.tasks_client()
    dead_letter = settings.queue_path(watched.dead_letter)
    source = settings.queue_path(watched.queue_key)
    if client.get_queue(name=dead_letter, timeout=timeout).state != _PAUSED:
        raise _NotParked(
            f"{dead_letter} is not paused (run `cloudtasks-kit queues sync`): "
            "a copy there would be dispatched at once"
        )
    retry = client.get_queue(name=source, timeout=timeout).retry_config
    if not _gives_up(retry, context.attempt):
        raise _NotParked(
            f"{source} has max_attempts={retry.max_attempts}, max_retry_duration="
            f"{retry.max_retry_duration.total_seconds():g}s, so Cloud Tasks retries after "
            f"attempt {context.attempt}; the settings differ from the queue (run queues sync)"
        )
    task = tasks_v2.Task(
        name=f"{dead_letter}/tasks/{_letter_id(source, watched)}",
        http_request=_copy(watched, scope, body, source, failure),
    )
    try:
        return str(client.create_task(parent=dead_letter, task=task, timeout=timeout).name)
    except exceptions.AlreadyExists:
        return str(task.name)  # parked by an earlier delivery of this very attempt


def _gives_up(retry: tasks_v2.RetryConfig, attempt: int) -> bool:
    """Cloud Tasks deletes the task if this attempt fails (SEMANTICS: both limits spent)."""
    duration: timedelta = retry.max_retry_duration
    return 0 <= retry.max_attempts <= attempt and not duration


def _letter_id(source: str, watched: _Watched) -> str:
    # The hashed prefix Google recommends; the task id after it, for people reading a list.
    eta = dict(watched.headers).get(TASK_ETA.lower(), "")
    task = watched.context.task_name or ""
    key = f"{source}/tasks/{task}\n{eta}\n{watched.context.attempt}"
    return f"{hashlib.sha256(key.encode()).hexdigest()[:16]}-{task}"[:500]


def _copy(
    watched: _Watched, scope: Scope, body: bytes, source: str, failure: TaskFailure
) -> tasks_v2.HttpRequest:
    method = scope["method"].upper()
    if method not in _METHODS:
        raise _NotParked(f"Cloud Tasks has no HTTP method {method}")
    headers: dict[str, str] = {}
    for name, value in watched.headers:
        if (
            name in ATTEMPT_ADDED_HEADERS
            or name in _TRANSPORT_HEADERS
            or name.startswith(ATTEMPT_ADDED_PREFIXES + _TRANSPORT_PREFIXES)
        ):
            continue
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    headers.update(
        {
            DEAD_LETTER_QUEUE: source,
            DEAD_LETTER_TASK: watched.context.task_name or "",
            DEAD_LETTER_ATTEMPTS: str(watched.context.attempt),
            DEAD_LETTER_STATUS: str(failure.status),
            DEAD_LETTER_REASON: failure.reason,
        }
    )
    # The task's own URL as the kit built it (base URL from the settings, never the Host the
    # request came with): the same URL the worker's audience check expects.
    settings = watched.settings
    queue = settings.queues.get(watched.queue_key)
    base_url = (queue.base_url if queue is not None else None) or settings.base_url
    if base_url is None:
        raise _NotParked("no base_url in the settings to build the task's URL with")
    return tasks_v2.HttpRequest(
        url=task_url(Request(scope), base_url),
        http_method=_METHODS[method],
        headers=headers,
        body=body if method in _BODY_METHODS else b"",
    )


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole request body, and a disconnect if one came instead of the rest."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


async def _no_receive() -> Message:
    # A plain response never reads the request; ASGI still wants a receive callable.
    return {"type": "http.disconnect"}


def _one_line(text: str) -> str:
    """Printable ASCII on one line (a header value), at most :data:`_REASON_LIMIT` long."""
    flat = "".join(c if c.isprintable() else " " for c in " ".join(text.split()))
    safe = flat.encode("ascii", "backslashreplace").decode("ascii")
    return safe if len(safe) <= _REASON_LIMIT else safe[: _REASON_LIMIT - 3] + "..."


def _describe(context: TaskContext) -> str:
    return f"task {context.task_name} (queue {context.queue_name}, attempt {context.attempt})"
