"""Helpers for tests of apps built with the kit (and of the kit itself).

- :class:`EmulatorProcess` starts ``python -m cloudtasks_kit.emulator`` on free loopback
  ports and stops it; :meth:`EmulatorProcess.tasks_client` gives an official client for it.
- :class:`BackgroundServer` serves an ASGI app (a worker) with uvicorn on a free loopback
  port in a thread.
- :class:`EagerTasksClient` stands in for the Cloud Tasks client in a container: it records
  each task and runs it through the app's ASGI interface at once, like Celery's eager mode.

The pytest fixtures built on these live in :mod:`cloudtasks_kit.pytest_plugin`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = [
    "AsyncEagerTasksClient",
    "BackgroundServer",
    "EagerTaskFailed",
    "EagerTasksClient",
    "EmulatorProcess",
]

_READY = re.compile(r"emulator ready grpc=(?P<grpc>\S+) http=(?P<http>\S+)")


class EmulatorProcess:
    """The emulator as a child process; ``kill()`` is a real ``kill -9`` for crash tests."""

    def __init__(
        self,
        *,
        data: str | Path | None = None,
        args: Sequence[str] = (),
        port: int = 0,
        http_port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data = Path(data) if data is not None else None
        self.args = list(args)
        self.port = port
        self.http_port = http_port
        self.env = env
        self.grpc_target = ""
        self.http_url = ""
        self.log_lines: list[str] = []
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> Self:
        command = [sys.executable, "-m", "cloudtasks_kit.emulator", "--port", str(self.port)]
        if self.http_port is not None:
            command += ["--http-port", str(self.http_port)]
        if self.data is not None:
            command += ["--data", str(self.data)]
        command += self.args
        environment = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"}
        process = self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        ready: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        assert process.stderr is not None
        threading.Thread(target=_forward, args=(process.stdout, ready), daemon=True).start()
        threading.Thread(
            target=_collect, args=(process.stderr, self.log_lines), daemon=True
        ).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = ready.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise TimeoutError(
                    f"emulator not ready after {timeout}s: {''.join(self.log_lines)[-2000:]}"
                ) from None
            if line == "":
                raise RuntimeError(
                    f"emulator exited with {process.wait()}: {''.join(self.log_lines)[-2000:]}"
                )
            match = _READY.search(line)
            if match:
                self.grpc_target = match["grpc"]
                self.http_url = match["http"]
                self.port = int(self.grpc_target.rsplit(":", 1)[1])
                self.http_port = int(self.http_url.rsplit(":", 1)[1])
                return self

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: the emulator's clean shutdown."""
        process = self._process
        if process is None or process.poll() is not None:
            return process.returncode if process else 0
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def tasks_client(self) -> Any:
        """A sync ``tasks_v2.CloudTasksClient`` on an insecure channel: no credentials."""
        import grpc
        from google.cloud import tasks_v2
        from google.cloud.tasks_v2.services.cloud_tasks.transports import (
            CloudTasksGrpcTransport,
        )

        channel = grpc.insecure_channel(self.grpc_target)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class BackgroundServer:
    """Serve an ASGI app with uvicorn on a free loopback port, in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the background server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


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
        created.http_request.headers["User-Agent"] = "Google-Cloud-Tasks"
        self.tasks.append(created)
        if self.app is not None:
            self._run(created, request.parent)
        return created

    def _run(self, task: Any, queue: str) -> None:
        http = task.http_request
        headers = dict(http.headers)
        headers.update(
            {
                "X-CloudTasks-QueueName": queue.rsplit("/", 1)[1],
                "X-CloudTasks-TaskName": task.name.rsplit("/", 1)[1],
                "X-CloudTasks-TaskRetryCount": "0",
                "X-CloudTasks-TaskExecutionCount": "0",
                "X-CloudTasks-TaskETA": f"{task.schedule_time.timestamp():.6f}",
            }
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


def _forward(stream: Any, lines: queue.Queue[str]) -> None:
    with stream:
        for line in stream:
            lines.put(line)
    lines.put("")


def _collect(stream: Any, lines: list[str]) -> None:
    with stream:
        for line in stream:
            lines.append(line)
