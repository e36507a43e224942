"""The worker side of a task: what attempt this is, and how to answer Cloud Tasks.

- :class:`TaskContext` and the :func:`task_context` dependency (``ctx: TaskContextDep``): the
  queue, task, attempt and ETA Cloud Tasks sends in its ``X-CloudTasks-*`` headers, or the
  job and schedule time of a Cloud Scheduler call. A request that claims to be a task or a job
  but has a missing or malformed header is answered 400, naming the header.
- :class:`RetryLater` (503 with ``Retry-After``, which Cloud Tasks backs off on) and
  :class:`DropTask` (2xx: acknowledged, never retried), raised by a handler;
  :func:`attempt_guard` drops a task once it has been attempted ``max_attempts`` times.
- :func:`install_task_handlers` logs both with the task's name.

The dependencies here carry :data:`~cloudtasks_kit.binding.WORKER_DEPENDENCY_ATTRIBUTE`, so a
route using them still binds on a ``DelayedRoute`` router: ``.delay()`` never asks for them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from .binding import WORKER_DEPENDENCY_ATTRIBUTE
from .errors import CloudTasksKitError

__all__ = [
    "DropTask",
    "InvalidTaskHeaders",
    "RetryLater",
    "TaskContext",
    "TaskContextDep",
    "attempt_guard",
    "install_task_handlers",
    "task_context",
]

log = logging.getLogger("cloudtasks_kit.worker")

QUEUE_NAME = "X-CloudTasks-QueueName"
TASK_NAME = "X-CloudTasks-TaskName"
RETRY_COUNT = "X-CloudTasks-TaskRetryCount"
EXECUTION_COUNT = "X-CloudTasks-TaskExecutionCount"
ETA = "X-CloudTasks-TaskETA"
PREVIOUS_RESPONSE = "X-CloudTasks-TaskPreviousResponse"
RETRY_REASON = "X-CloudTasks-TaskRetryReason"
SCHEDULER = "X-CloudScheduler"
JOB_NAME = "X-CloudScheduler-JobName"
SCHEDULE_TIME = "X-CloudScheduler-ScheduleTime"

# Sent on every attempt of an HTTP task; any one of them means the request claims to be one.
_TASK_HEADERS = (QUEUE_NAME, TASK_NAME, RETRY_COUNT, EXECUTION_COUNT, ETA)

_C = TypeVar("_C", bound=Callable[..., Any])


def mark_worker_dependency(call: _C) -> _C:
    """Mark a dependency as resolved by the worker from the request itself: the route binder
    skips it (and what it depends on), so ``.delay()`` never asks for it."""
    setattr(call, WORKER_DEPENDENCY_ATTRIBUTE, True)
    return call


class InvalidTaskHeaders(CloudTasksKitError, ValueError):
    """A request claims to be a task or a job, but one of its headers is missing or malformed.

    :attr:`header` names the header; :func:`task_context` answers 400 with the message.
    """

    def __init__(self, header: str, problem: str) -> None:
        self.header = header
        super().__init__(f"{header}: {problem}")


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What Cloud Tasks / Cloud Scheduler say about the request being handled.

    For a task, the ``queue_name`` .. ``retry_reason`` fields are set; for a Cloud Scheduler
    call, ``job_name`` and (for cron runs) ``schedule_time``; for any other request (a direct
    call, a test), everything is ``None`` / ``0``. Times are aware and in UTC.
    """

    #: The queue id (short form), e.g. ``kitchen-orders``.
    queue_name: str | None = None
    #: The task id (short form, the last part of the task's name).
    task_name: str | None = None
    #: Attempts before this one: ``0`` on the first attempt.
    retry_count: int = 0
    #: Earlier attempts that got a response other than 5xx.
    execution_count: int = 0
    #: When the task was (last) scheduled to run.
    eta: datetime | None = None
    #: The HTTP status of the previous attempt; ``None`` on the first attempt.
    previous_response: int | None = None
    #: Why the task is retried; ``None`` when not given (Google sends it empty for HTTP tasks).
    retry_reason: str | None = None
    #: The Cloud Scheduler job's id (short form).
    job_name: str | None = None
    #: When the scheduler job was due; ``None`` for manual runs.
    schedule_time: datetime | None = None

    @property
    def is_task(self) -> bool:
        """The request is an attempt of a Cloud Tasks task."""
        return self.task_name is not None

    @property
    def is_scheduled(self) -> bool:
        """The request is a Cloud Scheduler call."""
        return self.job_name is not None

    @property
    def attempt(self) -> int:
        """This attempt's number, from 1 (``retry_count + 1``)."""
        return self.retry_count + 1

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> TaskContext:
        """Read the context from request headers.

        :param headers: a case-insensitive mapping (Starlette's ``request.headers``), or a
            plain one with lower-case names.
        :raises InvalidTaskHeaders: the request claims to be a task (any ``X-CloudTasks-*``
            header Cloud Tasks always sends) or a job (``X-CloudScheduler*``) but a header of
            it is missing or malformed.
        """
        values = _Headers(headers)
        context = cls()
        if any(values.get(name) is not None for name in _TASK_HEADERS):
            previous = values.get(PREVIOUS_RESPONSE)
            context = cls(
                queue_name=values.required_text(QUEUE_NAME),
                task_name=values.required_text(TASK_NAME),
                retry_count=values.count(RETRY_COUNT),
                execution_count=values.count(EXECUTION_COUNT),
                eta=values.epoch(ETA),
                previous_response=values.status(PREVIOUS_RESPONSE) if previous else None,
                retry_reason=values.get(RETRY_REASON) or None,
            )
        if values.get(SCHEDULER) is not None or values.get(JOB_NAME) is not None:
            flag = values.get(SCHEDULER)
            if flag is not None and flag.lower() != "true":
                raise InvalidTaskHeaders(SCHEDULER, f"expected 'true', got {flag!r}")
            schedule_time = values.get(SCHEDULE_TIME)
            context = replace(
                context,
                job_name=values.required_text(JOB_NAME),
                schedule_time=values.rfc3339(SCHEDULE_TIME) if schedule_time else None,
            )
        return context


class _Headers:
    """Typed reads of one request's headers; each failure names its header."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers

    def get(self, name: str) -> str | None:
        value = self._headers.get(name)
        return value if value is not None else self._headers.get(name.lower())

    def required_text(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise InvalidTaskHeaders(name, "missing")
        if not value.strip():
            raise InvalidTaskHeaders(name, "empty")
        return value

    def count(self, name: str) -> int:
        value = self.required_text(name)
        if not (value.isascii() and value.isdigit()):
            raise InvalidTaskHeaders(name, f"expected a non-negative integer, got {value!r}")
        return int(value)

    def status(self, name: str) -> int:
        value = self.required_text(name)
        if not (value.isascii() and value.isdigit() and len(value) == 3):
            raise InvalidTaskHeaders(name, f"expected an HTTP status code, got {value!r}")
        return int(value)

    def epoch(self, name: str) -> datetime:
        value = self.required_text(name)
        try:
            seconds = float(value)
            if not math.isfinite(seconds):
                raise ValueError(value)
            return datetime.fromtimestamp(seconds, UTC)
        except (ValueError, OverflowError, OSError):
            raise InvalidTaskHeaders(
                name, f"expected seconds since the epoch, got {value!r}"
            ) from None

    def rfc3339(self, name: str) -> datetime:
        value = self.required_text(name)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
            raise InvalidTaskHeaders(
                name, f"expected an RFC 3339 time such as 2024-05-01T06:00:00Z, got {value!r}"
            )
        return parsed.astimezone(UTC)


@mark_worker_dependency
async def task_context(request: Request) -> TaskContext:
    """FastAPI dependency: the :class:`TaskContext` of the request being handled.

    ``async`` though it awaits nothing: FastAPI runs a plain function dependency on its thread
    pool, a hop that cost more than reading the headers.

    ``ctx: TaskContextDep`` (or ``Annotated[TaskContext, Depends(task_context)]``). A request
    with broken task or job headers is answered 400 naming the header; the handler never runs.
    """
    # The raw ASGI headers (names already lower-case) in a dict: one pass, then plain lookups
    # instead of a scan of the header list for each of the dozen names read.
    headers = {
        name.decode("latin-1"): value.decode("latin-1") for name, value in request.scope["headers"]
    }
    try:
        return TaskContext.from_headers(headers)
    except InvalidTaskHeaders as exc:
        raise HTTPException(400, detail=f"malformed Cloud Tasks request: {exc}") from None


TaskContextDep = Annotated[TaskContext, Depends(task_context)]


# --- answering Cloud Tasks ---------------------------------------------------------------------


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


def install_task_handlers(app: FastAPI) -> None:
    """Answer :class:`RetryLater` and :class:`DropTask` as above, and log each with the task's
    name and attempt (logger ``cloudtasks_kit.worker``). Other exceptions keep FastAPI's
    handling (an unhandled one is a 500, so Cloud Tasks retries the task)."""
    app.add_exception_handler(RetryLater, _retry_later)
    app.add_exception_handler(DropTask, _drop_task)


def _retry_later(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RetryLater)
    after = "the queue's backoff" if exc.after is None else f"at least {exc.after:g}s"
    log.info(
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
