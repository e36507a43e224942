from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, timestamp_pb2

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.clients import TRANSPORTS, Transport

PARENT = "projects/test-project/locations/us-central1"

# Small backoffs keep retry tests fast; deadlines below Google's 15 s floor need the flag.
EMULATOR_ARGS = ["--min-dispatch-deadline", "0.5", "--log-level", "INFO"]


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(args=EMULATOR_ARGS) as process:
        yield process


@pytest.fixture(scope="session", params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Transport:
    """Each test that uses the client runs over gRPC and over REST."""
    name: Transport = request.param
    return name


@pytest.fixture(scope="session")
def client(emulator: EmulatorProcess, transport: Transport) -> Any:
    return emulator.tasks_client(transport)


QueueFactory = Callable[..., str]


@pytest.fixture
def make_queue(client: Any) -> QueueFactory:
    def make(
        *,
        max_attempts: int = 5,
        min_backoff: float = 0.05,
        max_backoff: float = 0.5,
        max_doublings: int = 3,
        max_retry_duration: float = 0.0,
        rate: float = 500.0,
        burst: int = 100,
        concurrency: int = 1000,
        paused: bool = False,
    ) -> str:
        name = f"{PARENT}/queues/q-{uuid.uuid4().hex[:12]}"
        queue = tasks_v2.Queue(
            name=name,
            rate_limits=tasks_v2.RateLimits(
                max_dispatches_per_second=rate,
                max_burst_size=burst,
                max_concurrent_dispatches=concurrency,
            ),
            retry_config=tasks_v2.RetryConfig(
                max_attempts=max_attempts,
                min_backoff=timedelta(seconds=min_backoff),
                max_backoff=timedelta(seconds=max_backoff),
                max_doublings=max_doublings,
                max_retry_duration=timedelta(seconds=max_retry_duration),
            ),
        )
        client.create_queue(parent=PARENT, queue=queue)
        if paused:
            client.pause_queue(name=name)
        return name

    return make


def http_task(
    url: str,
    *,
    body: bytes = b"",
    method: str = "POST",
    headers: dict[str, str] | None = None,
    name: str | None = None,
    schedule_in: float | None = None,
    deadline: float | None = None,
    oidc: tasks_v2.OidcToken | None = None,
) -> tasks_v2.Task:
    task = tasks_v2.Task(
        http_request=tasks_v2.HttpRequest(
            url=url, http_method=method, headers=headers or {}, body=body, oidc_token=oidc
        )
    )
    if name is not None:
        task.name = name
    if schedule_in is not None:
        stamp = timestamp_pb2.Timestamp()
        stamp.GetCurrentTime()
        stamp.FromNanoseconds(stamp.ToNanoseconds() + int(schedule_in * 1e9))
        task.schedule_time = stamp
    if deadline is not None:
        task.dispatch_deadline = duration_pb2.Duration(
            seconds=int(deadline), nanos=int((deadline % 1) * 1e9)
        )
    return task
