"""An emulator for the console's tests, the official clients on it, and queues made for one
test each."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from google.cloud import tasks_v2

from cloudtasks_kit.testing import EmulatorProcess

PARENT = "projects/console-project/locations/us-central1"
EMULATOR_ARGS = ["--min-dispatch-deadline", "0.5", "--min-attempt-deadline", "0.5"]


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(args=EMULATOR_ARGS) as process:
        yield process


@pytest.fixture(scope="session")
def client(emulator: EmulatorProcess) -> Any:
    return emulator.tasks_client()


@pytest.fixture(scope="session")
def jobs(emulator: EmulatorProcess) -> Any:
    return emulator.scheduler_client()


QueueFactory = Callable[..., str]


@pytest.fixture
def make_queue(client: Any) -> QueueFactory:
    """A new queue; a failed attempt is retried after ``backoff`` seconds (an hour: never,
    while the test runs)."""

    def make(*, backoff: float = 3600.0, max_attempts: int = 100) -> str:
        name = f"{PARENT}/queues/q-{uuid.uuid4().hex[:10]}"
        client.create_queue(
            parent=PARENT,
            queue=tasks_v2.Queue(
                name=name,
                retry_config=tasks_v2.RetryConfig(
                    max_attempts=max_attempts,
                    min_backoff=timedelta(seconds=backoff),
                    max_backoff=timedelta(seconds=backoff),
                ),
            ),
        )
        return name

    return make


def later_task(
    url: str,
    *,
    name: str | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    in_seconds: float = 3600.0,
    oidc: tasks_v2.OidcToken | None = None,
) -> tasks_v2.Task:
    """An HTTP task due ``in_seconds`` from now (an hour: it waits for a "run now")."""
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    stamp.FromNanoseconds(stamp.ToNanoseconds() + int(in_seconds * 1e9))
    task = tasks_v2.Task(
        schedule_time=stamp,
        http_request=tasks_v2.HttpRequest(
            url=url, headers=headers or {}, body=body, oidc_token=oidc
        ),
    )
    if name is not None:
        task.name = name
    return task
