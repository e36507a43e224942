"""The emulator as a child process on free loopback ports, for tests and demos."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

__all__ = ["EmulatorProcess"]

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
        #: host:port of the HTTP side (OIDC discovery, admin calls, the REST API).
        self.http_target = ""
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
                self.http_target = self.http_url.removeprefix("http://")
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

    def reset(self, queue: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Empty the emulator without a restart (``POST /admin/reset``), between tests that
        share it: with no ``queue``, every queue, task, tombstone (names taken by deleted or
        finished tasks) and job goes, and the ``--config`` queues are declared again; with a
        queue's full name, that queue's tasks and the names they keep taken. The emulator's
        clock is left where it is.

        :raises ValueError: ``queue`` is not a queue name, or not a queue of the emulator.
        """
        body = json.dumps({} if queue is None else {"queue": queue}).encode()
        request = urllib.request.Request(
            f"{self.http_url}/admin/reset",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            reason = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise ValueError(f"the emulator refused the reset: {reason}") from None
        return answer

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def tasks_client(self, transport: Literal["grpc", "rest"] = "grpc") -> Any:
        """A sync ``tasks_v2.CloudTasksClient`` with no credentials: on an insecure gRPC
        channel, or REST on the HTTP port."""
        from google.cloud import tasks_v2
        from google.cloud.tasks_v2.services.cloud_tasks.transports import (
            CloudTasksGrpcTransport,
        )

        return self._client(tasks_v2.CloudTasksClient, CloudTasksGrpcTransport, transport)

    def scheduler_client(self, transport: Literal["grpc", "rest"] = "grpc") -> Any:
        """A sync ``scheduler_v1.CloudSchedulerClient``, as :meth:`tasks_client`."""
        from google.cloud import scheduler_v1
        from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
            CloudSchedulerGrpcTransport,
        )

        return self._client(
            scheduler_v1.CloudSchedulerClient, CloudSchedulerGrpcTransport, transport
        )

    def _client(self, client: Any, grpc_transport: Any, transport: str) -> Any:
        if transport not in ("grpc", "rest"):
            raise ValueError(f"transport must be 'grpc' or 'rest', not {transport!r}")
        if transport == "rest":
            from google.auth.credentials import AnonymousCredentials

            return client(
                transport="rest",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.http_url},
            )
        import grpc

        return client(transport=grpc_transport(channel=grpc.insecure_channel(self.grpc_target)))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _forward(stream: Any, lines: queue.Queue[str]) -> None:
    with stream:
        for line in stream:
            lines.put(line)
    lines.put("")


def _collect(stream: Any, lines: list[str]) -> None:
    with stream:
        for line in stream:
            lines.append(line)
