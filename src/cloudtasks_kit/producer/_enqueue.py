"""A bound request plus options -> a CreateTaskRequest -> hooks -> a created task.

The :class:`TaskEnqueuer` is what the container hands to ``.delay()``: it holds the resolved
settings and hook chain and the client's provider, so overriding any of them in the container
changes where the next task goes, with no re-import.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dependency_injector import providers
from fastapi.routing import APIRoute
from google.api_core import exceptions as api_exceptions
from google.cloud import tasks_v2
from google.protobuf import timestamp_pb2
from opentelemetry.trace import Span

from .._binding import BoundRequest
from .._errors import (
    InvalidTaskArguments,
    TaskAlreadyExists,
    TaskCreateError,
    TaskCreateTimeout,
    TaskCreateUnreachable,
)
from .._hooks import DelayedTaskHook, deadline_delayed_hook, run_hooks
from .._protocol import header_problems
from .._routing import route_url
from .._rpc import (
    CLOUD_TASKS,
    async_call_options,
    call_options,
    is_unreachable,
    unreachable_message,
)
from ..settings import KitSettings
from ._options import DelayOptions, merge_headers
from ._tracing import producer_span

__all__ = ["DelayResult", "TaskEnqueuer"]

_METHODS = {m.name: m for m in tasks_v2.HttpMethod}  # type: ignore[attr-defined]
# Errors worth another try within the create timeout: the service may answer next time.
_TRANSIENT = (
    api_exceptions.ServiceUnavailable,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.TooManyRequests,
    api_exceptions.Aborted,
)
_FIRST_BACKOFF = 0.1
_MAX_BACKOFF = 2.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The protobuf class under proto-plus's wrapper. The hot path builds and reads the protobuf
# messages directly: every proto-plus constructor and attribute read goes through its marshal,
# which cost as much as binding the arguments (hooks still get a proto-plus request, wrapping
# the same message).
_CreateTaskRequestPb: Any = tasks_v2.CreateTaskRequest.pb()
_NO_SPAN: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


@dataclass(frozen=True, slots=True)
class DelayResult:
    """What ``.delay()`` created."""

    name: str  # projects/P/locations/L/queues/Q/tasks/ID
    task_id: str
    queue: str  # projects/P/locations/L/queues/Q
    schedule_time: datetime  # aware, UTC
    url: str


class TaskEnqueuer:
    """Builds, hooks and creates the tasks of ``.delay()`` / ``.adelay()``.

    :param settings: where tasks go (queues, base URL, timeouts).
    :param client: a ``CloudTasksClient`` (or ``CloudTasksAsyncClient``), or a
        dependency-injector provider of one: the container passes its client's provider, so
        the client is built on the first task and closed with the container's resources.
    :param hooks: run on every request, before the route's and the call's own.
    :param worker_app: the app serving the routes, for the prefixes of ``include_router``.
    """

    def __init__(
        self,
        settings: KitSettings,
        client: Any,
        hooks: Sequence[DelayedTaskHook],
        worker_app: Any = None,
    ) -> None:
        self.settings = settings
        self._client_source = client
        self.hooks = tuple(hooks)
        self.worker_app = worker_app

    @property
    def client(self) -> Any:
        """The client; for an async client's provider, what it gives (await it)."""
        source = self._client_source
        return source() if isinstance(source, providers.Provider) else source

    async def aclient(self) -> Any:
        """The async client, initialised on first use."""
        client = self.client
        if inspect.isawaitable(client):
            # Shielded: every later call awaits the same initialisation, which a cancelled call
            # must not cancel with it. A done one is returned at once, with no loop round trip.
            client = await asyncio.shield(client)
        return client

    def enqueue(self, route: APIRoute, bound: BoundRequest, options: DelayOptions) -> DelayResult:
        request = self.build_request(route, bound, options)
        with self._producer_span(request) as span:
            request = self._run_hooks(route, request, options)
            return _result(request, self._create(self.client, request, options), span)

    async def aenqueue(
        self, route: APIRoute, bound: BoundRequest, options: DelayOptions
    ) -> DelayResult:
        """:meth:`enqueue` on the async client: the same request, hooks and errors."""
        request = self.build_request(route, bound, options)
        client = await self.aclient()
        with self._producer_span(request) as span:
            request = self._run_hooks(route, request, options)
            return _result(request, await self._acreate(client, request, options), span)

    def _producer_span(
        self, request: tasks_v2.CreateTaskRequest
    ) -> contextlib.AbstractContextManager[Span | None]:
        if not self.settings.tracing:
            return _NO_SPAN  # tracing off in settings: not even the generator
        message = tasks_v2.CreateTaskRequest.pb(request)
        task_id = message.task.name.rsplit("/", 1)[1] if message.task.name else None
        return producer_span(message.parent.rsplit("/", 1)[1], task_id)

    def _run_hooks(
        self, route: APIRoute, request: tasks_v2.CreateTaskRequest, options: DelayOptions
    ) -> tasks_v2.CreateTaskRequest:
        """The hooks' request, its headers checked: what reaches the RPC can be sent.

        :raises InvalidTaskArguments: a header (from the arguments, ``.options(headers=)`` or
            a hook) that Cloud Tasks could not send; nothing is created.
        """
        # Settings first, then the route's and the call's: the most specific wins.
        hooks = self.hooks
        if options.hooks or options.dispatch_deadline is not None:
            hooks = (*hooks, *_option_hooks(options))
        hooked = run_hooks(hooks, request)
        headers = tasks_v2.CreateTaskRequest.pb(hooked).task.http_request.headers
        problems = header_problems(dict(headers))
        if problems:
            raise InvalidTaskArguments(_label(route), problems)
        return hooked

    def build_request(
        self, route: APIRoute, bound: BoundRequest, options: DelayOptions
    ) -> tasks_v2.CreateTaskRequest:
        return self._request_for(bound, options, *self._target(route, options))

    def _target(self, route: APIRoute, options: DelayOptions) -> tuple[str, str]:
        """Where a task of ``route`` with ``options`` goes: the queue's path, and the URL in
        front of the route's path (base URL and mount prefixes). The same for every call of a
        route with the same queue and base URL: a batch asks once."""
        queue = self.settings.queue_path(options.queue)
        return queue, route_url(self._base_url(options), self.worker_app, route, "")

    def _request_for(
        self, bound: BoundRequest, options: DelayOptions, queue: str, url_base: str
    ) -> tasks_v2.CreateTaskRequest:
        """The request of one call, for the :meth:`_target` of its route and options."""
        headers = (
            dict(merge_headers(bound.headers.items(), options.headers))
            if options.headers
            else bound.headers
        )
        # Built as protobuf and wrapped once (see _CreateTaskRequestPb): the same message.
        request = _CreateTaskRequestPb(parent=queue)
        task = request.task
        http = task.http_request
        http.url = url_base + bound.path
        http.http_method = _METHODS[bound.method]
        http.headers.update(headers)
        http.body = bound.body
        if options.task_id is not None:
            task.name = f"{queue}/tasks/{_task_id(options.task_id, options.hash_task_id)}"
        schedule = _schedule_time(options)
        if schedule is not None:
            task.schedule_time.CopyFrom(schedule)
        wrapped: tasks_v2.CreateTaskRequest = tasks_v2.CreateTaskRequest.wrap(request)
        return wrapped

    def _base_url(self, options: DelayOptions) -> object:
        if options.base_url is not None:
            return options.base_url
        queue = self.settings.queue_settings(options.queue)
        return (queue.base_url if queue is not None else None) or self.settings.base_url

    def _create(
        self, client: Any, request: tasks_v2.CreateTaskRequest, options: DelayOptions
    ) -> tasks_v2.Task:
        try:
            return self._create_with_retries(client, request, options)
        except api_exceptions.NotFound:
            self._check_may_create_queue(request)
        self.create_missing_queue(client, request)
        return self._create_with_retries(client, request, options)

    async def _acreate(
        self, client: Any, request: tasks_v2.CreateTaskRequest, options: DelayOptions
    ) -> tasks_v2.Task:
        try:
            return await self._acreate_with_retries(client, request, options)
        except api_exceptions.NotFound:
            self._check_may_create_queue(request)
        await self.acreate_missing_queue(client, request)
        return await self._acreate_with_retries(client, request, options)

    def create_missing_queue(self, client: Any, request: tasks_v2.CreateTaskRequest) -> None:
        """Create the queue ``request`` goes to (Cloud Tasks said it does not exist, and the
        settings allow it); one created meanwhile by another process is as good.

        :raises TaskCreateError: the queue could not be created (``TaskCreateUnreachable``
            when the service does not answer).
        """
        try:
            with contextlib.suppress(api_exceptions.Conflict):
                client.create_queue(**_queue_of(request), **call_options(self.settings))
        except api_exceptions.GoogleAPICallError as exc:
            raise self._queue_error(exc) from None

    async def acreate_missing_queue(self, client: Any, request: tasks_v2.CreateTaskRequest) -> None:
        """:meth:`create_missing_queue` on the async client."""
        try:
            with contextlib.suppress(api_exceptions.Conflict):
                await client.create_queue(**_queue_of(request), **async_call_options(self.settings))
        except api_exceptions.GoogleAPICallError as exc:
            raise self._queue_error(exc) from None

    def _queue_error(self, exc: api_exceptions.GoogleAPICallError) -> TaskCreateError:
        if is_unreachable(exc):
            return TaskCreateUnreachable(unreachable_message(self.settings, CLOUD_TASKS, exc))
        return TaskCreateError(f"could not create the missing queue: {exc}")

    def _create_with_retries(
        self, client: Any, request: tasks_v2.CreateTaskRequest, options: DelayOptions
    ) -> tasks_v2.Task:
        attempts = _Attempts(request, self._timeout(options), self.settings)
        while True:
            remaining = attempts.start()
            try:
                task: tasks_v2.Task = client.create_task(
                    request=request, timeout=remaining, retry=None
                )
                return task
            except api_exceptions.GoogleAPICallError as exc:
                time.sleep(attempts.failed(exc))

    async def _acreate_with_retries(
        self, client: Any, request: tasks_v2.CreateTaskRequest, options: DelayOptions
    ) -> tasks_v2.Task:
        attempts = _Attempts(request, self._timeout(options), self.settings)
        while True:
            remaining = attempts.start()
            try:
                task: tasks_v2.Task = await client.create_task(
                    request=request, timeout=remaining, retry=None
                )
                return task
            except api_exceptions.GoogleAPICallError as exc:
                await asyncio.sleep(attempts.failed(exc))

    def _timeout(self, options: DelayOptions) -> float:
        return options.create_timeout or self.settings.task_create_timeout

    def _check_may_create_queue(self, request: tasks_v2.CreateTaskRequest) -> None:
        if not self.settings.create_missing_queues:
            raise TaskCreateError(
                f"queue {request.parent} does not exist; create it with "
                "`cloudtasks-kit queues sync` (or set create_missing_queues)"
            ) from None


class _Attempts:
    """The create retry policy, one instance per task, shared by the sync and async paths:
    which errors deserve another try, how long to wait, and when to give up."""

    __slots__ = ("backoff", "deadline", "last_error", "left", "request", "settings", "timeout")

    def __init__(
        self, request: tasks_v2.CreateTaskRequest, timeout: float, settings: KitSettings
    ) -> None:
        self.request = request
        self.timeout = timeout
        self.settings = settings
        self.deadline = time.monotonic() + timeout
        self.left = settings.task_create_retries + 1
        self.backoff = _FIRST_BACKOFF
        self.last_error: api_exceptions.GoogleAPICallError | None = None

    def start(self) -> float:
        """Seconds the next attempt may take. :raises TaskCreateTimeout: none left."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            if self.last_error is not None and is_unreachable(self.last_error):
                raise self._unreachable(self.last_error, f"within {self.timeout:g} s")
            raise TaskCreateTimeout(
                f"creating a task in {self.request.parent} did not succeed within "
                f"{self.timeout:g} s"
            )
        self.left -= 1
        return remaining

    def failed(self, exc: api_exceptions.GoogleAPICallError, *, answered: bool = False) -> float:
        """Seconds to wait before the next attempt, or the typed error that ends the call.

        ``answered``: the service did answer, with ``exc`` as one task's status in a batch; an
        UNAVAILABLE there says nothing about reaching the service.
        """
        self.last_error = None if answered else exc
        # Before Conflict: Aborted is a Conflict too (409), but worth another try.
        if isinstance(exc, _TRANSIENT):
            if self.left <= 0:
                if is_unreachable(exc) and not answered:
                    raise self._unreachable(
                        exc, f"after {self.settings.task_create_retries + 1} tries"
                    )
                raise TaskCreateError(
                    f"creating a task in {self.request.parent} failed after retries; "
                    f"last error: {exc}"
                ) from exc
            wait = min(self.backoff, max(0.0, self.deadline - time.monotonic()))
            self.backoff = min(self.backoff * 2, _MAX_BACKOFF)
            return wait
        if isinstance(exc, api_exceptions.NotFound):
            raise exc  # the queue is missing: the caller decides whether to create it
        if isinstance(exc, api_exceptions.Conflict):
            # Conflict, not only AlreadyExists: the REST transport raises the parent class.
            raise TaskAlreadyExists(self.request.task.name) from None
        raise TaskCreateError(f"Cloud Tasks refused the task: {exc}") from exc

    def _unreachable(
        self, exc: api_exceptions.GoogleAPICallError, when: str
    ) -> TaskCreateUnreachable:
        # Without the chained gRPC traceback: the message says all a user can act on.
        error = TaskCreateUnreachable(
            f"no task created in {self.request.parent} {when}: "
            + unreachable_message(self.settings, CLOUD_TASKS, exc)
        )
        error.__suppress_context__ = True
        return error


def _label(route: APIRoute) -> str:
    return f"{route.name} ({'|'.join(sorted(route.methods or ()))} {route.path})"


def _queue_of(request: tasks_v2.CreateTaskRequest) -> dict[str, Any]:
    return {"parent": request.parent.rsplit("/queues/", 1)[0], "queue": {"name": request.parent}}


def _result(
    request: tasks_v2.CreateTaskRequest, task: tasks_v2.Task, span: Span | None
) -> DelayResult:
    # Read from the protobuf messages under proto-plus's wrappers (see _CreateTaskRequestPb).
    result = delay_result(tasks_v2.CreateTaskRequest.pb(request), tasks_v2.Task.pb(task))
    if span is not None:
        span.set_attribute("messaging.message.id", result.task_id)
    return result


def delay_result(sent: Any, created: Any) -> DelayResult:
    """What a ``CreateTaskRequest`` (``sent``) created (``created``), both protobuf messages."""
    name: str = created.name
    stamp = created.schedule_time
    # Aware, in UTC; microseconds are all a datetime holds (Cloud Tasks' times have no more).
    schedule_time = _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)
    return DelayResult(
        name, name.rsplit("/", 1)[1], sent.parent, schedule_time, sent.task.http_request.url
    )


def _option_hooks(options: DelayOptions) -> tuple[DelayedTaskHook, ...]:
    if options.dispatch_deadline is None:
        return options.hooks
    return (deadline_delayed_hook(options.dispatch_deadline), *options.hooks)


def _task_id(task_id: str, hashed: bool) -> str:
    if not hashed:
        return task_id
    # Google advises against sequential ids (they hurt its sharding): a hash prefix spreads them.
    return f"{hashlib.sha256(task_id.encode()).hexdigest()[:8]}-{task_id}"


def _schedule_time(options: DelayOptions) -> timestamp_pb2.Timestamp | None:
    if options.countdown is not None:
        when = datetime.now(UTC) + timedelta(seconds=options.countdown)
    elif options.eta is not None:
        when = options.eta
    else:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when.astimezone(UTC))
    return stamp
