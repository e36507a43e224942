"""What attempt this is: :class:`TaskContext` and the :func:`task_context` dependency.

``ctx: TaskContextDep`` gives the queue, task, attempt and ETA Cloud Tasks sends in its
``X-CloudTasks-*`` headers, or the job and schedule time of a Cloud Scheduler call; with a kit
container, also the queue's retry limits from its settings, hence whether this attempt is the
last (:attr:`TaskContext.is_last_attempt`). A request
that claims to be a task or a job but has a missing or malformed header is answered 400,
naming the header. The dependency carries the worker mark (:mod:`cloudtasks_kit._marks`), so a
route using it still binds on a ``DelayedRoute`` router: ``.delay()`` never asks for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from .._active import find_container
from .._errors import CloudTasksKitError
from .._marks import mark_worker_dependency
from .._protocol import (
    QUEUE_NAME,
    SCHEDULER,
    SCHEDULER_JOB_NAME,
    SCHEDULER_SCHEDULE_TIME,
    TASK_ATTEMPT_HEADERS,
    TASK_ETA,
    TASK_EXECUTION_COUNT,
    TASK_NAME,
    TASK_PREVIOUS_RESPONSE,
    TASK_RETRY_COUNT,
    TASK_RETRY_REASON,
)
from ..settings import KitSettings, QueueSettings

__all__ = ["InvalidTaskHeaders", "TaskContext", "TaskContextDep", "task_context"]


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

    For a task, the ``queue_name`` .. ``retry_reason`` fields are set, and ``max_attempts`` /
    ``max_retry_duration`` when the queue's settings set them; for a Cloud Scheduler call,
    ``job_name`` and (for cron runs) ``schedule_time``; for any other request (a direct call, a
    test), everything is ``None`` / ``0``. Times are aware and in UTC.
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
    #: The queue's ``retry.max_attempts`` in the settings (``queues.<key>``, found by the queue
    #: id); ``None`` when the settings do not set it (Cloud Tasks' own default then applies).
    max_attempts: int | None = None
    #: The queue's ``retry.max_retry_duration`` in the settings; ``None`` when unset.
    max_retry_duration: timedelta | None = None

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

    @property
    def attempts_left(self) -> int | None:
        """Attempts Cloud Tasks will still make after this one if it fails (``0``: this is the
        last), from the retry count and the queue's ``max_attempts`` in the settings.

        ``None`` when it cannot be known: the request is not a task; the settings set no
        ``max_attempts`` for the queue (or ``0``, Cloud Tasks' default) or set ``-1``
        (unlimited); or they set a ``max_retry_duration``, since Cloud Tasks then retries past
        ``max_attempts`` until that time has passed since the first attempt, a time it does not
        send. The settings are taken to be what the queue has: run ``queues sync``.
        """
        if not self.is_task or not self.max_attempts or self.max_attempts < 0:
            return None
        if self.max_retry_duration:
            return None
        return max(self.max_attempts - self.attempt, 0)

    @property
    def is_last_attempt(self) -> bool | None:
        """Cloud Tasks gives the task up if this attempt fails: it counts as attempt number
        ``max_attempts`` (or later). ``False`` with unlimited attempts; ``None`` when it cannot
        be known (see :attr:`attempts_left`).
        """
        if self.is_task and self.max_attempts == -1 and not self.max_retry_duration:
            return False
        left = self.attempts_left
        return None if left is None else left == 0

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
        context = _EMPTY
        if any(values.get(name) is not None for name in TASK_ATTEMPT_HEADERS):
            previous = values.get(TASK_PREVIOUS_RESPONSE)
            context = cls(
                queue_name=values.required_text(QUEUE_NAME),
                task_name=values.required_text(TASK_NAME),
                retry_count=values.count(TASK_RETRY_COUNT),
                execution_count=values.count(TASK_EXECUTION_COUNT),
                eta=values.epoch(TASK_ETA),
                previous_response=values.status(TASK_PREVIOUS_RESPONSE) if previous else None,
                retry_reason=values.get(TASK_RETRY_REASON) or None,
            )
        if values.get(SCHEDULER) is not None or values.get(SCHEDULER_JOB_NAME) is not None:
            flag = values.get(SCHEDULER)
            if flag is not None and flag.lower() != "true":
                raise InvalidTaskHeaders(SCHEDULER, f"expected 'true', got {flag!r}")
            schedule_time = values.get(SCHEDULER_SCHEDULE_TIME)
            context = replace(
                context,
                job_name=values.required_text(SCHEDULER_JOB_NAME),
                schedule_time=values.rfc3339(SCHEDULER_SCHEDULE_TIME) if schedule_time else None,
            )
        return context

    def with_settings(self, settings: KitSettings) -> TaskContext:
        """This context with its queue's retry limits from ``settings`` (found by queue id)."""
        found = configured_queue(settings, self.queue_name)
        retry = found[1].retry if found is not None else None
        if retry is None:
            return self
        return replace(
            self, max_attempts=retry.max_attempts, max_retry_duration=retry.max_retry_duration
        )


def configured_queue(
    settings: KitSettings, queue_id: str | None
) -> tuple[str, QueueSettings] | None:
    """The key and settings of the queue whose Cloud Tasks id is ``queue_id`` (what
    ``X-CloudTasks-QueueName`` holds), if the settings declare it."""
    if queue_id is None:
        return None
    return next(((k, q) for k, q in settings.queues.items() if q.id == queue_id), None)


def container_settings(app: Any) -> KitSettings | None:
    """The settings of the container serving ``app``'s request; ``None`` with no container."""
    container = find_container(app)
    if container is None:
        return None
    settings: KitSettings = container.settings()
    return settings


class _Headers:
    """Typed reads of one request's headers; each failure names its header."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers

    def get(self, name: str) -> str | None:
        value = self._headers.get(name)
        return value if value is not None else self._headers.get(_LOWER.get(name) or name.lower())

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
    # One pass over the raw ASGI headers (names lower-case), keeping those read here under the
    # names from_headers asks for: a plain dict and one lookup per name.
    headers = {}
    for raw_name, raw_value in request.scope["headers"]:
        name = _READ.get(raw_name.lower())
        if name is not None:
            headers[name] = raw_value.decode("latin-1")
    try:
        context = TaskContext.from_headers(headers)
    except InvalidTaskHeaders as exc:
        raise HTTPException(400, detail=f"malformed Cloud Tasks request: {exc}") from None
    if context.is_task and (settings := container_settings(request.app)) is not None:
        context = context.with_settings(settings)
    return context


TaskContextDep = Annotated[TaskContext, Depends(task_context)]

#: A context that says nothing (frozen: one serves every request that is no task or job).
_EMPTY = TaskContext()
_LOWER = {
    name: name.lower()
    for name in (
        *TASK_ATTEMPT_HEADERS,
        TASK_PREVIOUS_RESPONSE,
        TASK_RETRY_REASON,
        SCHEDULER,
        SCHEDULER_JOB_NAME,
        SCHEDULER_SCHEDULE_TIME,
    )
}
#: The headers TaskContext reads: lower-case raw name -> the name from_headers asks for.
_READ = {lower.encode("latin-1"): name for name, lower in _LOWER.items()}
