"""Test doubles that are real servers (a scriptable recording worker, raw TCP misbehavers), and
the untyped spellings of the typed accessors for calls that are wrong on purpose."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cloudtasks_kit import Delayer, ScheduledJob, delayer, scheduled_job

with warnings.catch_warnings():
    # Starlette prefers httpx2 and warns on import when it finds httpx, which the dev extras pin.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient as TestClient  # shared by the tests


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.time() on arrival
    # Every header line as it arrived (names as sent, values UTF-8), duplicates included.
    raw_headers: tuple[tuple[str, str], ...] = ()

    def header_lines(self, name: str) -> list[str]:
        """The values of every line of header ``name`` (any case) the request carried."""
        return [value for key, value in self.raw_headers if key.lower() == name.lower()]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # When set, the handler waits for it (a slow task whose end the test controls).
    gate: threading.Event | None = None
    body: bytes = b""


class RecordingWorker:
    """Records every request per path and answers with scripted replies (200 once exhausted)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.received: dict[str, list[Received]] = defaultdict(list)
        self._scripts: dict[str, list[Reply]] = defaultdict(list)
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._handle,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                )
            ]
        )

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[path].extend(replies)

    def count(self, path: str) -> int:
        with self._lock:
            return len(self.received[path])

    def wait_for(self, path: str, count: int, timeout: float = 20.0) -> list[Received]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.received[path]) >= count, timeout):
                raise AssertionError(
                    f"{path}: expected {count} requests within {timeout}s, "
                    f"got {len(self.received[path])}"
                )
            return list(self.received[path])

    def wait_for_prefix(self, prefix: str, timeout: float = 20.0) -> list[Received]:
        """The requests received so far on paths starting with ``prefix``, once there is one."""

        def found() -> list[Received]:
            return [
                r for path, got in self.received.items() if path.startswith(prefix) for r in got
            ]

        with self._lock:
            if not self._lock.wait_for(found, timeout):
                raise AssertionError(f"no request on {prefix}* within {timeout}s")
            return found()

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        with self._lock:
            self.received[path].append(
                Received(
                    request.method,
                    path,
                    request.url.query,
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    time.time(),
                    tuple(
                        (key.decode("latin-1"), value.decode("utf-8", "replace"))
                        for key, value in request.headers.raw
                    ),
                )
            )
            self.in_flight[path] += 1
            self.max_in_flight[path] = max(self.max_in_flight[path], self.in_flight[path])
            script = self._scripts[path]
            reply = script.pop(0) if script else Reply()
            self._lock.notify_all()
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.gate is not None:
                await asyncio.get_running_loop().run_in_executor(None, reply.gate.wait, 30)
            return Response(reply.body, status_code=reply.status, headers=reply.headers)
        finally:
            with self._lock:
                self.in_flight[path] -= 1


class MisbehavingServer:
    """A TCP server that answers garbage instead of HTTP, or resets the connection."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._lock = threading.Condition()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with outer._lock:
                    outer.connections += 1
                    outer._lock.notify_all()
                connection: socket.socket = self.request
                connection.recv(65536)
                if outer.mode == "garbage":
                    connection.sendall(b"this is not HTTP\r\n\r\n\x00\xff")
                else:  # reset: linger 0 turns close() into an RST
                    connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                connection.close()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/task"

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self.connections >= count, timeout):
                raise AssertionError(f"expected {count} connections, got {self.connections}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def wait_until(predicate: object, timeout: float = 20.0, interval: float = 0.02) -> None:
    """Poll a condition that has no event to wait on (state inside another process)."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class Inbox:
    """What task handlers received, per handler; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._items: dict[str, list[Any]] = defaultdict(list)

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key].append(value)
            self._lock.notify_all()

    def wait_for(self, key: str, count: int = 1, timeout: float = 20.0) -> list[Any]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._items[key]) >= count, timeout):
                raise AssertionError(
                    f"{key}: expected {count} calls within {timeout}s, got {len(self._items[key])}"
                )
            return list(self._items[key])

    def get(self, key: str) -> list[Any]:
        with self._lock:
            return list(self._items[key])

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def emulator_rpcs(http_url: str) -> dict[str, int]:
    """How many calls of each RPC the emulator has answered (its admin endpoint)."""
    import httpx

    rpcs: dict[str, int] = httpx.get(f"{http_url}/admin/stats", timeout=10).json()["rpcs"]
    return rpcs


def untyped(endpoint: Callable[..., Any]) -> Delayer[...]:
    """``delayer(endpoint)`` without static checking of the call: for arguments that are wrong
    on purpose, or that only the runtime binder knows (a dependency's own parameters, a dict
    for a model)."""
    return delayer(endpoint)


def untyped_job(endpoint: Callable[..., Any], **spec: Any) -> ScheduledJob[...]:
    """``scheduled_job(endpoint, ...)`` without static checking of ``.schedule()``."""
    job: ScheduledJob[...] = scheduled_job(endpoint, **spec)
    return job


def synced_project(
    emulator: Any, folder: Any, monkeypatch: Any, prefix: str, base_yaml: str, *, location: str
) -> str:
    """A project of its own on the shared ``emulator``: run from ``folder``, its settings there
    (``base_yaml`` as base.yaml, an empty dev.yaml, ``CLOUDTASKS_ENV=dev``), its queues synced
    with ``cloudtasks-kit queues sync``. The project id."""
    import uuid

    from cloudtasks_kit.cli import main

    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    monkeypatch.chdir(folder)
    monkeypatch.setenv("CLOUDTASKS_CONFIG_DIR", str(folder))
    monkeypatch.setenv("CLOUDTASKS_ENV", "dev")
    monkeypatch.setenv("CLOUDTASKS_PROJECT", name)
    monkeypatch.setenv("CLOUDTASKS_LOCATION", location)
    monkeypatch.setenv("CLOUDTASKS_EMULATOR_HOST", emulator.grpc_target)
    (folder / "base.yaml").write_text(base_yaml)
    (folder / "dev.yaml").write_text("")  # CLOUDTASKS_ENV=dev names it: it must exist
    assert main(["queues", "sync"]) == 0
    return name
