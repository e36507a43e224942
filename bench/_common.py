"""Shared pieces of the benchmarks: the worker, child processes, clients, statistics, output.

Absolute times on a shared machine are noise, so every benchmark compares the emulator with a
baseline measured in the same run and reports the ratio; the absolute numbers are printed too,
as context only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "PROJECT_LOCATION",
    "TASK_BODY",
    "TASK_HEADERS",
    "Figure",
    "Worker",
    "WorkerHandle",
    "async_tasks_client",
    "bench_arguments",
    "child_main",
    "child_process",
    "create_queue",
    "emulator_pid",
    "http_task",
    "median_ratio",
    "percentile",
    "print_figures",
    "rss_mb",
    "run_bounded",
    "serve_worker",
    "worker_process",
]

PROJECT_LOCATION = "projects/bench/locations/local"
TASK_BODY = b'{"benchmark": true, "payload": "' + b"x" * 200 + b'"}'
TASK_HEADERS = {"Content-Type": "application/json"}

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# -- figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One reported number. ``passed`` is None for context (baselines, absolute numbers)."""

    bench: str
    name: str
    value: str
    target: str = ""
    passed: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.passed is None else ("PASS" if self.passed else "MISS")


def print_figures(figures: Sequence[Figure]) -> None:
    width = max((len(f.name) for f in figures), default=10)
    for figure in figures:
        target = f"target {figure.target}" if figure.target else "(context)"
        print(
            f"  {figure.bench:<18} {figure.name:<{width}}  {figure.value:>14}  "
            f"{target:<20} {figure.verdict}",
            flush=True,
        )


def bench_arguments(description: str, default_n: int, quick_n: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=None, help=f"size (default {default_n})")
    parser.add_argument(
        "--quick", action="store_true", help=f"a fast smoke run (n={quick_n}, fewer rounds)"
    )
    args = parser.parse_args()
    if args.n is None:
        args.n = quick_n if args.quick else default_n
    return args


# -- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), ``p`` in [0, 100]."""
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median_ratio(pairs: Sequence[tuple[float, float]]) -> float:
    """Median over rounds of measured / baseline."""
    return statistics.median(measured / baseline for measured, baseline in pairs)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc/PID/status (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


# -- child processes ----------------------------------------------------------------------


@contextlib.contextmanager
def child_process(entry: str, *args: str) -> Iterator[tuple[int, int]]:
    """Run ``entry`` ("module:function") as ``function(announce, *args)`` in a new Python
    process; yield (pid, port) once it calls ``announce(port)``; terminate it on exit."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-c", "from bench._common import child_main; child_main()"]
    process = subprocess.Popen(
        [*command, entry, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("port="):
            raise RuntimeError(f"{entry} did not start (exit code {process.wait(10)})")
        yield process.pid, int(line.split("=", 1)[1])
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child_main() -> None:
    """The child side of :func:`child_process`."""
    import importlib

    entry, *args = sys.argv[1:]
    module, function = entry.split(":")
    target = getattr(importlib.import_module(module), function)

    def announce(port: int) -> None:
        print(f"port={port}", flush=True)

    target(announce, *args)


def listening_socket(*, nodelay: bool = False) -> socket.socket:
    """A loopback socket already listening, for a uvicorn server to serve on.

    :param nodelay: create it with ``IPPROTO_TCP``, so that asyncio turns Nagle's algorithm
        off on each accepted connection (it only does so for sockets whose protocol is TCP,
        and a socket made with the default protocol 0 is not). Without it, uvicorn's response
        body, written after its headers, can wait for the client's delayed ACK (~40 ms) on a
        connection with one request in flight.
    """
    protocol = socket.IPPROTO_TCP if nodelay else 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before the server runs: early connections wait in the backlog.
    sock.listen(2048)
    return sock


# -- the worker ---------------------------------------------------------------------------


class Worker:
    """A minimal raw-ASGI worker. Any POST is a task: it records ``time.time()`` on arrival
    and the ``X-CloudTasks-TaskETA`` header, then answers 200 with no body.

    Control paths (GET): ``/_count``, ``/_wait?n=K&timeout=S`` (long poll until K tasks
    arrived; answers the count and the last arrival time), ``/_results`` (arrivals and ETAs),
    and POST ``/_reset``.
    """

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.etas: list[float] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        arrived = time.time()
        path: str = scope["path"]
        if scope["method"] == "POST" and not path.startswith("/_"):
            eta = float("nan")
            for key, value in scope["headers"]:
                if key == b"x-cloudtasks-tasketa":
                    eta = float(value)
                    break
            await _drain(receive)
            self.arrivals.append(arrived)
            self.etas.append(eta)
            self._notify()
            await _answer(send, 200, b"")
        elif path == "/_count":
            await _answer_json(send, {"count": len(self.arrivals)})
        elif path == "/_wait":
            query = dict(
                part.split("=", 1) for part in scope["query_string"].decode().split("&") if part
            )
            wanted, timeout = int(query["n"]), float(query.get("timeout", "60"))
            if len(self.arrivals) < wanted:
                future = asyncio.get_running_loop().create_future()
                self._waiters.append((wanted, future))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(future, timeout)
            count = len(self.arrivals)
            last = self.arrivals[wanted - 1] if 0 < wanted <= count else None
            await _answer_json(send, {"count": count, "at": last})
        elif path == "/_results":
            await _answer_json(send, {"arrivals": self.arrivals, "etas": self.etas})
        elif path == "/_reset":
            await _drain(receive)
            self.arrivals, self.etas = [], []
            await _answer_json(send, {"count": 0})
        else:
            await _answer(send, 404, b"")

    def _notify(self) -> None:
        if not self._waiters:
            return
        count = len(self.arrivals)
        keep = []
        for wanted, future in self._waiters:
            if count >= wanted:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((wanted, future))
        self._waiters = keep


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _answer(send: Send, status: int, body: bytes, kind: bytes = b"text/plain") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _answer_json(send: Send, payload: object) -> None:
    await _answer(send, 200, json.dumps(payload).encode(), b"application/json")


def serve_worker(announce: Callable[[int], None]) -> None:
    import uvicorn

    sock = listening_socket()
    announce(sock.getsockname()[1])
    config = uvicorn.Config(
        Worker(), log_level="warning", access_log=False, lifespan="off", backlog=2048
    )
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class WorkerHandle:
    """The parent's view of a worker process; control calls use their own short client."""

    url: str
    pid: int = 0

    @property
    def task_url(self) -> str:
        return f"{self.url}/task"

    def _get(self, path: str, timeout: float = 30.0) -> Any:
        import httpx

        with httpx.Client(trust_env=False, timeout=timeout + 5) as client:
            response = client.get(self.url + path)
            response.raise_for_status()
            return response.json()

    def reset(self) -> None:
        import httpx

        with httpx.Client(trust_env=False) as client:
            client.post(self.url + "/_reset").raise_for_status()

    def count(self) -> int:
        return int(self._get("/_count")["count"])

    async def wait_for_async(self, client: Any, n: int, limit: float) -> float:
        """Wait (on an ``httpx.AsyncClient`` the caller keeps open) until the worker has
        received ``n`` tasks, at most ``limit`` seconds; return the n-th arrival time."""
        response = await client.get(f"{self.url}/_wait?n={n}&timeout={limit}", timeout=limit + 5)
        answer = response.json()
        if answer["at"] is None:
            raise TimeoutError(f"worker saw {answer['count']} of {n} tasks after {limit}s")
        return float(answer["at"])

    def results(self) -> tuple[list[float], list[float]]:
        answer = self._get("/_results")
        return list(answer["arrivals"]), list(answer["etas"])


@contextlib.contextmanager
def worker_process() -> Iterator[WorkerHandle]:
    """The worker served by uvicorn in its own process (no GIL shared with the measuring)."""
    with child_process("bench._common:serve_worker") as (pid, port):
        handle = WorkerHandle(f"http://127.0.0.1:{port}", pid)
        deadline = time.monotonic() + 30
        while True:
            try:
                handle.count()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield handle


# -- clients ------------------------------------------------------------------------------


def async_tasks_client(target: str) -> Any:
    """The official async client on an insecure channel; create it inside a running loop."""
    import grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import (
        CloudTasksGrpcAsyncIOTransport,
    )

    channel = grpc.aio.insecure_channel(target)
    return tasks_v2.CloudTasksAsyncClient(transport=CloudTasksGrpcAsyncIOTransport(channel=channel))


def http_task(url: str, schedule_time: float | None = None) -> Any:
    """A task POSTing the benchmark body to ``url``; due now unless ``schedule_time``."""
    from google.cloud import tasks_v2
    from google.protobuf import timestamp_pb2

    task = tasks_v2.Task(
        http_request=tasks_v2.HttpRequest(
            url=url,
            http_method=tasks_v2.HttpMethod.POST,
            headers=TASK_HEADERS,
            body=TASK_BODY,
        )
    )
    if schedule_time is not None:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromNanoseconds(int(schedule_time * 1e9))
        task.schedule_time = stamp
    return task


async def create_queue(
    client: Any,
    queue_id: str,
    *,
    concurrency: int = 64,
    rate: float = 500.0,
    burst: int = 100,
    paused: bool = False,
) -> str:
    from google.cloud import tasks_v2

    name = f"{PROJECT_LOCATION}/queues/{queue_id}"
    queue = tasks_v2.Queue(
        name=name,
        rate_limits=tasks_v2.RateLimits(
            max_dispatches_per_second=rate,
            max_burst_size=burst,
            max_concurrent_dispatches=concurrency,
        ),
        retry_config=tasks_v2.RetryConfig(max_attempts=3),
    )
    await client.create_queue(parent=PROJECT_LOCATION, queue=queue)
    if paused:
        await client.pause_queue(name=name)
    return name


async def run_bounded(
    count: int, concurrency: int, call: Callable[[int], Awaitable[object]]
) -> None:
    """``call(i)`` for i in range(count), at most ``concurrency`` in flight."""
    indexes = iter(range(count))

    async def lane() -> None:
        for index in indexes:
            await call(index)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, count)):
            group.create_task(lane())


def emulator_pid(emulator: Any) -> int:
    # EmulatorProcess does not expose its pid; the Popen object is private but stable.
    process = emulator._process
    assert process is not None
    return int(process.pid)
