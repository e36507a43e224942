"""Eager mode: a Cloud Tasks client stand-in that runs each task at once, in-process, through
the app's ASGI interface (Celery's eager mode, with Cloud Tasks' headers)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
from typing import Any
from urllib.parse import urlsplit

from .._protocol import (
    QUEUE_NAME,
    TASK_ETA,
    TASK_EXECUTION_COUNT,
    TASK_HEADER_RULES,
    TASK_NAME,
    TASK_RETRY_COUNT,
    apply_header_rules,
)

__all__ = ["AsyncEagerTasksClient", "EagerTaskFailed", "EagerTasksClient"]


class EagerTaskFailed(AssertionError):
    """The app answered an eager task with a status Cloud Tasks would retry."""


class EagerTasksClient:
    """A ``CloudTasksClient`` stand-in for fast unit tests: no emulator, no network.

    Each ``create_task`` is recorded in :attr:`tasks`; with an ``app``, the task's request is
    sent at once (countdown and ETA ignored) through the app's ASGI interface with the
    headers Cloud Tasks would add, and the answer kept in :attr:`responses`. A non-2xx answer
    raises :class:`EagerTaskFailed`, and an exception in the handler propagates, unless
    ``raise_on_failure`` is false (then it is kept as the 500 Cloud Tasks would see). Names are
    de-duplicated like the service does, so ``TaskAlreadyExists`` paths can be tested too.
    """

    def __init__(self, app: Any | None = None, *, raise_on_failure: bool = True) -> None:
        self.app = app
        self.raise_on_failure = raise_on_failure
        self.tasks: list[Any] = []
        self.responses: list[Any] = []
        self._names: set[str] = set()
        self._ids = itertools.count(1)

    def create_task(
        self,
        request: Any = None,
        *,
        parent: str | None = None,
        task: Any = None,
        **_: Any,
    ) -> Any:
        from google.api_core import exceptions
        from google.cloud import tasks_v2

        if request is None:
            request = tasks_v2.CreateTaskRequest(parent=parent, task=task)
        created = tasks_v2.Task(request.task)
        if not created.name:
            created.name = f"{request.parent}/tasks/eager-{next(self._ids)}"
        if created.name in self._names:
            raise exceptions.AlreadyExists(f"task {created.name} already exists")
        self._names.add(created.name)
        if "schedule_time" not in created:
            created.schedule_time = _now_timestamp()
        # Cloud Tasks' header rules, as the emulator applies them: User-Agent set, what the
        # service computes or reserves dropped, the token's Authorization the only one.
        http = created.http_request
        http.headers = apply_header_rules(
            dict(http.headers),
            TASK_HEADER_RULES,
            body=bool(http.body),
            token="oidc_token" in http or "oauth_token" in http,
        )
        self.tasks.append(created)
        if self.app is not None:
            self._run(created, request.parent)
        return created

    def _run(self, task: Any, queue: str) -> None:
        http = task.http_request
        headers = apply_header_rules(
            dict(http.headers),
            TASK_HEADER_RULES,
            body=bool(http.body),
            service={
                QUEUE_NAME: queue.rsplit("/", 1)[1],
                TASK_NAME: task.name.rsplit("/", 1)[1],
                TASK_RETRY_COUNT: "0",
                TASK_EXECUTION_COUNT: "0",
                TASK_ETA: f"{task.schedule_time.timestamp():.6f}",
            },
        )
        parts = urlsplit(http.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        response = _call_asgi(
            self.app,
            http.http_method.name,
            target,
            headers,
            http.body,
            raise_app_exceptions=self.raise_on_failure,
        )
        self.responses.append(response)
        if self.raise_on_failure and not 200 <= response.status_code <= 299:
            raise EagerTaskFailed(
                f"{http.http_method.name} {target} answered {response.status_code}: "
                f"{response.text[:500]}"
            )


class AsyncEagerTasksClient:
    """The async face of an :class:`EagerTasksClient` (what ``adelay()`` resolves): the same
    records, the same de-duplication, the same immediate run."""

    def __init__(self, eager: EagerTasksClient) -> None:
        self.eager = eager

    async def create_task(self, request: Any = None, **kwargs: Any) -> Any:
        # The app runs on a loop of its own in a thread, so the caller's loop is not blocked.
        return await asyncio.to_thread(self.eager.create_task, request, **kwargs)


def _now_timestamp() -> Any:
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _call_asgi(
    app: Any,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    *,
    raise_app_exceptions: bool = True,
) -> Any:
    import httpx

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://eager.local") as client:
            return await client.request(method, target, headers=headers, content=body or None)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call())
    # Called from inside a running loop (an async handler enqueuing more work): a loop of its
    # own in a thread keeps the caller's loop free.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, call()).result()
