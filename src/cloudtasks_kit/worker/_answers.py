"""How a handler answers Cloud Tasks: retry later, drop the task, or stop after N attempts.

- :class:`RetryLater` (503 with ``Retry-After``, which Cloud Tasks backs off on) and
  :class:`DropTask` (2xx: acknowledged, never retried), raised by a handler;
- :func:`attempt_guard` drops a task once it has been attempted ``max_attempts`` times;
- :func:`install_task_handlers` logs both (WARNING) with the task's name, and parks a task
  whose last attempt fails in its queue's dead-letter queue (:mod:`._dead_letters`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from .._marks import mark_worker_dependency
from ._context import InvalidTaskHeaders, TaskContext, TaskContextDep
from ._dead_letters import ERROR_SCOPE_KEY, DeadLetterMiddleware, ExhaustedHook

__all__ = ["DropTask", "RetryLater", "attempt_guard", "install_task_handlers"]

log = logging.getLogger("cloudtasks_kit.worker")


class RetryLater(HTTPException):
    """Raise in a handler to have the task retried: answered 503, with ``Retry-After`` if given.

    Cloud Tasks backs off harder on a 503 and waits at least ``Retry-After`` seconds (rounded
    up to whole seconds, as HTTP requires) before the next attempt. The queue's ``max_attempts``
    still applies. Works without :func:`install_task_handlers`, which adds a log line.

    :param after: seconds (or a timedelta) to wait at least; ``None``: the queue's backoff.
    :param reason: why, for the log and the response body.
    """

    def __init__(self, after: float | timedelta | None = None, reason: str = "") -> None:
        seconds = after.total_seconds() if isinstance(after, timedelta) else after
        if seconds is not None and (
            isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0
        ):
            raise ValueError(f"RetryLater(after=...): expected non-negative seconds, got {after!r}")
        self.after = seconds
        self.reason = reason
        headers = {"Retry-After": str(math.ceil(seconds))} if seconds is not None else None
        detail = "retry later" + (f": {reason}" if reason else "")
        super().__init__(503, detail=detail, headers=headers)


class DropTask(HTTPException):
    """Raise in a handler to give a task up: answered 200, so Cloud Tasks does not retry it.

    With :func:`install_task_handlers` the reason is logged (WARNING, logger
    ``cloudtasks_kit.worker``) with the task's name and attempt.

    :param reason: why the task is dropped.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(200, detail=f"task dropped: {reason}")


def attempt_guard(max_attempts: int) -> Callable[..., Awaitable[None]]:
    """A dependency that drops a task once it has been attempted ``max_attempts`` times.

    The handler runs on attempts 1 to ``max_attempts``; the next attempt is answered 200
    without running it (see :class:`DropTask`), and the drop logged. Requests that are not
    Cloud Tasks attempts pass. Per route: ``dependencies=[Depends(attempt_guard(3))]``; for
    every route of a router or app, pass the same to ``APIRouter(...)`` or ``FastAPI(...)``.

    :param max_attempts: at least 1.
    """
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts: expected an integer >= 1, got {max_attempts!r}")

    @mark_worker_dependency
    async def guard(ctx: TaskContextDep) -> None:  # async: no thread-pool hop
        if ctx.is_task and ctx.attempt > max_attempts:
            raise DropTask(f"attempt {ctx.attempt} is past max_attempts={max_attempts}")

    guard.__name__ = guard.__qualname__ = f"attempt_guard_{max_attempts}"
    return guard


def install_task_handlers(app: FastAPI, *, on_exhausted: ExhaustedHook | None = None) -> None:
    """Answer :class:`RetryLater` and :class:`DropTask` as above, and log each with the task's
    name and attempt (logger ``cloudtasks_kit.worker``). Other exceptions keep FastAPI's
    handling (an unhandled one is a 500, so Cloud Tasks retries the task).

    On what the settings make a task's last attempt (:attr:`TaskContext.is_last_attempt`), a
    failure (an exception, a 5xx, :class:`RetryLater`) is parked in the queue's
    ``dead_letter`` queue and answered 200 (see :mod:`cloudtasks_kit.worker._dead_letters`).
    Call it where the app is built, before it starts (it adds an ASGI middleware).

    :param on_exhausted: ``(context, failure)``, called on such a failed last attempt (with or
        without a dead-letter queue): to log, alert or keep the task elsewhere.
    """
    app.add_exception_handler(RetryLater, _retry_later)
    app.add_exception_handler(DropTask, _drop_task)
    app.add_middleware(DeadLetterMiddleware, on_exhausted=on_exhausted)


def _retry_later(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RetryLater)
    request.scope[ERROR_SCOPE_KEY] = exc  # for the dead-letter middleware, on a last attempt
    after = "the queue's backoff" if exc.after is None else f"at least {exc.after:g}s"
    # WARNING: plain uvicorn shows no INFO line of other loggers, and a retry is worth seeing.
    log.warning(
        "retry later %s, after %s%s",
        _describe(request),
        after,
        f": {exc.reason}" if exc.reason else "",
    )
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _drop_task(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DropTask)
    log.warning("dropped %s: %s", _describe(request), exc.reason)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def _describe(request: Request) -> str:
    """``task <name> (queue <q>, attempt <n>)``, ``job <name>`` or ``<METHOD> <path>``."""
    try:
        ctx = TaskContext.from_headers(request.headers)
    except InvalidTaskHeaders:
        ctx = TaskContext()
    if ctx.is_task:
        return f"task {ctx.task_name} (queue {ctx.queue_name}, attempt {ctx.attempt})"
    if ctx.is_scheduled:
        return f"job {ctx.job_name}"
    return f"{request.method} {request.url.path}"
